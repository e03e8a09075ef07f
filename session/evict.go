package session

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// Inbound eviction. witnet-rust refuses an inbound peer once the inbound sessions fill
// inbound_limit, and never evicts one, so idle peers that took every slot first keep every
// newcomer out for good. When the slots are full, the manager evicts an inbound session
// as Bitcoin Core's AttemptToEvictConnection does: it protects the peers an attacker finds
// hardest to imitate — a few distinct network groups chosen by a secret key, the lowest
// handshake round trips, the peers that recently relayed new items, then the
// longest-connected half of the rest — and evicts, from the network group that holds the
// most of what remains, its youngest session. An attacker holding many slots from few
// network groups is evicted first; to keep a slot it has to relay new items or come from
// many network groups.

// What eviction protects (Bitcoin Core's numbers).
const (
	// evictProtectNetgroups is how many network groups keep one peer each: those whose
	// keyed hash is highest, so an attacker cannot tell which groups to come from.
	evictProtectNetgroups = 4
	// evictProtectRTT is how many peers with the lowest handshake round trip are kept.
	evictProtectRTT = 8
	// evictProtectRelay is how many peers that most recently relayed a new item are kept.
	evictProtectRelay = 4
)

// Netgroup prefix lengths: an IPv4 /16 or an IPv6 /32, as Bitcoin Core groups addresses.
const (
	netgroupBits4 = 16
	netgroupBits6 = 32
)

// netgroupOf returns the network group of ip; an unknown IP is a group of its own (the
// zero Prefix).
func netgroupOf(ip netip.Addr) netip.Prefix {
	if !ip.IsValid() {
		return netip.Prefix{}
	}
	ip = ip.Unmap()
	bits := netgroupBits4
	if ip.Is6() {
		bits = netgroupBits6
	}
	p, _ := ip.Prefix(bits)
	return p
}

// usage is what a session records for eviction: how long its handshake took and when
// the peer last relayed an item that was new to us.
type usage struct {
	versionSent time.Time    // owned by the reader (and Start, before it)
	rtt         atomic.Int64 // time.Duration from our Version to the completing message
	lastNewItem atomic.Int64 // clock UnixNano of the last new item; 0: none
}

// handshakeDone records the handshake round trip at now, when the bytes of the message
// that completes the handshake were read. A message read no later than our Version was
// sent (a Verack pipelined behind the peer's Version, before it could have seen ours)
// gives no round trip, so a peer cannot buy the protection of a low one.
func (s *Session) handshakeDone(now time.Time) {
	if sent := s.usage.versionSent; !sent.IsZero() && now.After(sent) {
		s.usage.rtt.Store(int64(now.Sub(sent)))
	}
}

// HandshakeRTT returns the time from our Version to the message that completed the
// handshake (the peer's Verack on an inbound session, its Version and Verack on an
// outbound one), or 0 before the handshake completed.
func (s *Session) HandshakeRTT() time.Duration { return time.Duration(s.usage.rtt.Load()) }

// NewItemReceived records that the peer just relayed an item that was new to us (the
// inventory calls it). Eviction protects the peers that did so most recently.
func (s *Session) NewItemReceived() { s.usage.lastNewItem.Store(s.cfg.Clock.Now().UnixNano()) }

// LastNewItem returns when the peer last relayed an item new to us, or the zero Time.
func (s *Session) LastNewItem() time.Time {
	if ns := s.usage.lastNewItem.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// evictCandidate is an inbound session as eviction sees it.
type evictCandidate struct {
	e       *entry
	group   netip.Prefix
	keyed   uint64        // the group's keyed hash
	rtt     time.Duration // 0: unknown (handshake not complete)
	lastNew int64         // UnixNano; 0: never
}

// keyedGroup hashes a network group with the manager's eviction key.
func keyedGroup(key uint64, g netip.Prefix) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], key)
	h.Write(b[:])
	a := g.Addr().AsSlice()
	h.Write(a)
	h.Write([]byte{byte(g.Bits())})
	return h.Sum64()
}

// newEvictionKey returns key, or a random key for 0.
func newEvictionKey(key uint64) uint64 {
	for key == 0 {
		key = rand.Uint64()
	}
	return key
}

// olderFirst orders candidates by registration, oldest first, then by peer ID, so that
// every choice is deterministic.
func olderFirst(a, b evictCandidate) int {
	if c := a.e.since.Compare(b.e.since); c != 0 {
		return c
	}
	return cmp.Compare(a.e.s.Key().String(), b.e.s.Key().String())
}

// evictionVictimLocked picks the inbound session of transport tr to evict, or nil when
// every one is protected. m.mu is held.
func (m *Manager) evictionVictimLocked(tr Transport) *entry {
	c := &m.dirs[Inbound]
	cands := make([]evictCandidate, 0, c.total(tr))
	for _, coll := range [...]map[Key]*entry{c.uncons, c.cons} {
		for _, e := range coll {
			if e.tr != tr {
				continue
			}
			g := netgroupOf(e.s.Peer().IP)
			cands = append(cands, evictCandidate{
				e: e, group: g, keyed: keyedGroup(m.evictKey, g),
				rtt: e.s.HandshakeRTT(), lastNew: e.s.usage.lastNewItem.Load(),
			})
		}
	}
	return selectVictim(cands)
}

// selectVictim applies the protections in turn and picks the victim among the rest.
func selectVictim(cands []evictCandidate) *entry {
	slices.SortFunc(cands, olderFirst)
	cands = protectNetgroups(cands)
	// Lowest handshake round trip, among the peers that completed one.
	cands = protectBest(cands, evictProtectRTT, func(c evictCandidate) bool { return c.rtt > 0 },
		func(a, b evictCandidate) int { return cmp.Compare(a.rtt, b.rtt) })
	// Most recent new item relayed.
	cands = protectBest(cands, evictProtectRelay, func(c evictCandidate) bool { return c.lastNew != 0 },
		func(a, b evictCandidate) int { return cmp.Compare(b.lastNew, a.lastNew) })
	// The longest-connected half of the rest (cands is oldest first).
	cands = cands[len(cands)/2:]
	if len(cands) == 0 {
		return nil
	}
	// The group holding the most of the rest; a tie goes to the group with the youngest
	// session. Its youngest session goes.
	count := map[netip.Prefix]int{}
	youngest := map[netip.Prefix]evictCandidate{}
	for _, c := range cands { // oldest first: the last one seen is the youngest
		count[c.group]++
		youngest[c.group] = c
	}
	var victim *evictCandidate
	for _, c := range youngest {
		if victim == nil || count[c.group] > count[victim.group] ||
			(count[c.group] == count[victim.group] && olderFirst(c, *victim) > 0) {
			victim = &c
		}
	}
	return victim.e
}

// protectNetgroups removes from cands (oldest first) the oldest peer of each of the
// evictProtectNetgroups network groups with the highest keyed hash.
func protectNetgroups(cands []evictCandidate) []evictCandidate {
	byKey := slices.Clone(cands)
	slices.SortStableFunc(byKey, func(a, b evictCandidate) int { return cmp.Compare(b.keyed, a.keyed) })
	protected := map[*entry]bool{}
	seen := map[netip.Prefix]bool{}
	for _, c := range byKey {
		if len(seen) == evictProtectNetgroups {
			break
		}
		if !seen[c.group] {
			seen[c.group] = true
			protected[c.e] = true
		}
	}
	return unprotected(cands, protected)
}

// protectBest removes from cands (oldest first) the n best by better among those that
// qualify, keeping the order of the rest.
func protectBest(cands []evictCandidate, n int, qualifies func(evictCandidate) bool, better func(a, b evictCandidate) int) []evictCandidate {
	var ranked []evictCandidate
	for _, c := range cands {
		if qualifies(c) {
			ranked = append(ranked, c)
		}
	}
	slices.SortStableFunc(ranked, better)
	protected := map[*entry]bool{}
	for _, c := range ranked[:min(n, len(ranked))] {
		protected[c.e] = true
	}
	return unprotected(cands, protected)
}

// unprotected returns the candidates not in protected, in order.
func unprotected(cands []evictCandidate, protected map[*entry]bool) []evictCandidate {
	out := cands[:0:0]
	for _, c := range cands {
		if !protected[c.e] {
			out = append(out, c)
		}
	}
	return out
}

// EvictedError is the cause of a ReasonEvicted end: the newcomer the session made room
// for.
type EvictedError struct {
	// By is the peer whose inbound session took the slot.
	By Key
}

// Error names the newcomer.
func (e *EvictedError) Error() string {
	return fmt.Sprintf("inbound slots full: made room for %s", e.By)
}

// Evictions returns how many inbound sessions were evicted to make room for newcomers.
func (m *Manager) Evictions() int64 { return m.evictions.Load() }

// evictLocked removes victim to make room for the newcomer s and returns the entry to
// close once the lock is released (see closeEvicted). m.mu is held.
func (m *Manager) evictLocked(victim *entry, s *Session) *entry {
	m.removeLocked(victim)
	m.evictions.Add(1)
	vp := victim.s.Peer()
	mlog.Infow("inbound session evicted", "peer", vp, "dir", Inbound, "transport", vp.Transport, "ip", vp.IP,
		"netgroup", netgroupOf(vp.IP), "status", victim.s.Status(), "since", victim.since,
		"handshake_rtt", victim.s.HandshakeRTT(), "last_new_item", victim.s.LastNewItem(),
		"newcomer", s.Key(), "newcomer_ip", s.Peer().IP)
	return victim
}

// closeEvicted ends an evicted session, outside the manager's lock.
func (m *Manager) closeEvicted(victim *entry, by *Session) {
	// Wrapped so that Close keeps the Reason (a closeError would become a local close).
	m.afterRemoval([]*entry{victim}, fmt.Errorf("%w: %w", ReasonEvicted, &EvictedError{By: by.Key()}), false)
}
