package peers

import (
	"cmp"
	"container/list"
	"net/netip"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// IceRecord is one entry of the ice bucket.
type IceRecord struct {
	// Addr is the iced peer with the addresses the book knew for it when it was iced
	// (possibly none); they are re-added to new when it melts.
	Addr Addr
	// Since is when the peer was iced (whole seconds).
	Since time.Time
	// IP is the address the peer misbehaved from, counted towards escalation; zero when
	// the peer was iced for another reason (a failed dial) or is a legacy peer.
	IP netip.Addr
	// Unreachable says the peer was iced because its own address failed to dial, not for
	// misbehaving: it is not dialled, but its inbound connections are welcome (see
	// RefusesInbound).
	Unreachable bool
}

// iceRecord is the in-memory form of IceRecord.
type iceRecord struct {
	addr        Addr
	since       int64
	ip          netip.Addr
	unreachable bool
	size        int           // stored bytes (key and record)
	elem        *list.Element // position in iceTable.order
}

// iceTable is the ice bucket: records by key, in the order they were iced, with their
// stored size and, for escalation, the number of records per network prefix.
type iceTable struct {
	m      map[Key]*iceRecord
	order  list.List // of Key, oldest since first
	bytes  int
	perNet map[netip.Prefix]int
}

func newIceTable() iceTable {
	return iceTable{m: map[Key]*iceRecord{}, perNet: map[netip.Prefix]int{}}
}

func (t *iceTable) len() int { return len(t.m) }

// icePeriod is the ice period in force, in seconds. Callers hold b.mu.
func (b *Book) icePeriod() int64 {
	if b.bootstrapped {
		return int64(b.cfg.IcePeriod / time.Second)
	}
	return int64(b.cfg.IcePeriodBeforeBootstrap / time.Second)
}

// iced reports whether k is iced at now: iced while now − since ≤ period. Callers hold b.mu.
func (b *Book) iced(k Key, now int64) bool {
	r := b.ice.m[k]
	return r != nil && now-r.since <= b.icePeriod()
}

// netOf returns the escalation prefix of ip, and false when ip is exempt (loopback
// without Config.EscalateLoopback) or invalid.
func (b *Book) netOf(ip netip.Addr) (netip.Prefix, bool) {
	ip = ip.Unmap()
	if !ip.IsValid() || (ip.IsLoopback() && !b.cfg.EscalateLoopback) {
		return netip.Prefix{}, false
	}
	return prefixOf(ip, b.cfg.EscalateBits4, b.cfg.EscalateBits6), true
}

// netIced reports whether ip lies in an escalated prefix at now. Callers hold b.mu.
func (b *Book) netIced(ip netip.Addr, now int64) bool {
	if len(b.nets) == 0 {
		return false
	}
	p, ok := b.netOf(ip)
	if !ok {
		return false
	}
	since, found := b.nets[p]
	return found && now-since <= b.icePeriod()
}

// setIce writes (or with nil, removes) an ice record, keeping the order, sizes and prefix
// counts in step and recording the change while a batch is open. Callers hold b.mu.
func (b *Book) setIce(k Key, r *iceRecord) {
	t := &b.ice
	old := t.m[k]
	if old == r {
		return
	}
	if b.recording {
		b.batch = append(b.batch, change{kind: whichIce, key: k, oldIce: old})
	}
	if old != nil {
		t.order.Remove(old.elem)
		t.bytes -= old.size
		if p, ok := b.netOf(old.ip); ok {
			if t.perNet[p]--; t.perNet[p] <= 0 {
				delete(t.perNet, p)
			}
		}
		delete(t.m, k)
	}
	if r == nil {
		return
	}
	// Records arrive in time order, so this walk is one step except after a rollback or
	// a clock that went back.
	at := t.order.Back()
	for at != nil && t.m[at.Value.(Key)].since > r.since {
		at = at.Prev()
	}
	if at == nil {
		r.elem = t.order.PushFront(k)
	} else {
		r.elem = t.order.InsertAfter(k, at)
	}
	r.size = iceRecordSize(k, r)
	t.bytes += r.size
	if p, ok := b.netOf(r.ip); ok {
		t.perNet[p]++
	}
	t.m[k] = r
}

// setNet writes (set) or removes (!set) an escalated prefix, recording the change while
// a batch is open. Callers hold b.mu.
func (b *Book) setNet(p netip.Prefix, since int64, set bool) {
	old, had := b.nets[p]
	if had == set && old == since {
		return
	}
	if b.recording {
		b.batch = append(b.batch, change{kind: whichNet, net: p, oldNet: old, oldNetSet: had})
	}
	if set {
		b.nets[p] = since
	} else {
		delete(b.nets, p)
	}
}

// dropMelted removes k's ice record when it has melted, so that a peer that is no longer
// iced does not keep a stale record. Callers hold b.mu inside a batch.
func (b *Book) dropMelted(k Key, now int64) {
	if r := b.ice.m[k]; r != nil && now-r.since > b.icePeriod() {
		b.setIce(k, nil)
	}
}

// iceLocked ices k at now, remembering the addresses the book knows for it (or fallback
// when the tables hold none), evicts the oldest records beyond the bounds, and escalates
// to ip's prefix once it holds Config.EscalateAfter iced peers. unreachable marks an ice
// for a failed dial; it never replaces an ice for misbehaviour still in force. Callers
// hold b.mu inside a batch.
func (b *Book) iceLocked(k Key, now int64, fallback Addr, ip netip.Addr, unreachable bool) {
	a := fallback
	if e, _ := b.known(k); e != nil {
		a = e.addr
	} else if a.Key() != k {
		if old := b.ice.m[k]; old != nil {
			a = old.addr
		} else {
			a = Addr{ID: k.ID, Legacy: k.Legacy}
		}
	}
	if k.IsLegacy() {
		ip = netip.Addr{} // a legacy peer is iced by IP:port only, never its whole IP
	}
	if old := b.ice.m[k]; unreachable && old != nil && !old.unreachable && b.iced(k, now) {
		unreachable, ip = false, old.ip
	}
	b.setIce(k, &iceRecord{addr: copyAddr(a), since: now, ip: ip, unreachable: unreachable})
	for b.ice.len() > b.cfg.MaxIced || b.ice.bytes > b.cfg.MaxIceBytes {
		oldest := b.ice.order.Front().Value.(Key)
		if oldest == k {
			break
		}
		b.setIce(oldest, nil)
		b.stats.IceEvicted++
	}
	p, ok := b.netOf(ip)
	if !ok || b.cfg.EscalateAfter <= 0 || b.ice.perNet[p] < b.cfg.EscalateAfter || b.netIced(ip, now) {
		return
	}
	if _, had := b.nets[p]; !had && len(b.nets) >= b.cfg.MaxIcedNets {
		b.evictOldestNet()
	}
	b.setNet(p, now, true)
	b.stats.Escalations++
	log.Infow("network prefix iced: too many peers iced from it", "prefix", p, "peers", b.ice.perNet[p],
		"period", time.Duration(b.icePeriod())*time.Second)
}

// evictOldestNet drops the escalated prefix iced longest ago. Callers hold b.mu.
func (b *Book) evictOldestNet() {
	var oldest netip.Prefix
	first := true
	for p, since := range b.nets {
		if first || since < b.nets[oldest] || (since == b.nets[oldest] && p.String() < oldest.String()) {
			oldest, first = p, false
		}
	}
	b.setNet(oldest, 0, false)
}

// RemoveTried removes id from the tried bucket and reports whether it was there. With ice
// set, id is also iced, whether or not it was in tried (PROTOCOL.md 9.3).
func (b *Book) RemoveTried(id peer.ID, ice bool) (bool, error) {
	if ice {
		if err := validID(id); err != nil {
			return false, err
		}
	}
	return b.removeTried(Key{ID: id}, ice, netip.Addr{})
}

// RemoveTriedKey is RemoveTried for any entry, legacy ones included, without icing.
func (b *Book) RemoveTriedKey(k Key) (bool, error) { return b.removeTried(k, false, netip.Addr{}) }

// removeTried implements RemoveTried and IceAt.
func (b *Book) removeTried(k Key, ice bool, ip netip.Addr) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.begin()
	var removed Addr
	if r := b.refs[k]; r != nil && r.inTried {
		removed = b.triedT.get(r.tried).addr
		b.setSlot(whichTried, r.tried, nil)
	}
	if ice {
		b.iceLocked(k, now, removed, ip, false)
	}
	if err := b.commit(); err != nil {
		return false, err
	}
	was := removed.Key() == k
	log.Debugw("removed from tried", "peer", k, "removed", was, "iced", ice)
	return was, nil
}

// Ice puts id in the ice bucket as of now (re-icing restarts the period). The peer's
// addresses are remembered so that Melt can return it to new; it is not removed from new
// or tried, but iced peers are never handed out by RandomForBootstrap or FeelerCandidate.
func (b *Book) Ice(id peer.ID) error {
	if err := validID(id); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.begin()
	b.iceLocked(Key{ID: id}, b.now(), Addr{}, netip.Addr{}, false)
	return b.commit()
}

// IceAt removes k from tried and ices it for misbehaving on a connection from ip, which
// counts towards escalation: once Config.EscalateAfter peers are iced from ip's prefix,
// the prefix is iced too (IsIcedAddr). A legacy peer is iced by its IP:port and never
// counts. ip may be the zero Addr.
func (b *Book) IceAt(k Key, ip netip.Addr) error {
	if k.ID != "" {
		if err := validID(k.ID); err != nil {
			return err
		}
	} else if !k.Legacy.IsValid() {
		return &AddrError{Err: ErrInvalidPeerID}
	}
	_, err := b.removeTried(k, true, ip)
	return err
}

// IsIced reports whether id is iced now: from the moment it was iced until the ice period
// in force has fully elapsed (iced at 0 with period 1000: iced at 1000, melted at 1001).
// It does not modify the book.
func (b *Book) IsIced(id peer.ID) bool { return b.IsIcedKey(Key{ID: id}) }

// RefusesInbound reports whether id's inbound connections and sessions are to be refused:
// it is iced for misbehaving (an ice for a failed dial of its address only stops us
// dialling it; a peer that connects to us is evidently up). It is the sessions manager's
// Iced hook.
func (b *Book) RefusesInbound(id peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.ice.m[Key{ID: id}]
	return r != nil && !r.unreachable && b.iced(Key{ID: id}, b.now())
}

// IsIcedKey is IsIced for any entry; a legacy peer is iced by its IP:port.
func (b *Book) IsIcedKey(k Key) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.iced(k, b.now())
}

// IsIcedAddr reports whether ip lies in a network prefix iced by escalation. It is the
// gater's check on every accepted connection, O(1).
func (b *Book) IsIcedAddr(ip netip.Addr) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.netIced(ip, b.now())
}

// IcedNets returns the prefixes iced by escalation, with when they were iced, including
// expired ones Melt has not swept yet.
func (b *Book) IcedNets() map[netip.Prefix]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[netip.Prefix]time.Time, len(b.nets))
	for p, since := range b.nets {
		out[p] = time.Unix(since, 0)
	}
	return out
}

// IceBytes returns the stored size of the ice bucket, bounded by Config.MaxIceBytes.
func (b *Book) IceBytes() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ice.bytes
}

// Melt removes every melted peer from the ice bucket and re-adds those with a usable
// address to new (as their own source), forgets expired iced prefixes, and drops relay
// addresses not heard of for Config.AnnounceTTL. It returns how many peers left the ice
// bucket. The node calls it every MeltInterval.
func (b *Book) Melt() (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.begin()
	var keys []Key
	for k := range b.ice.m {
		if !b.iced(k, now) {
			keys = append(keys, k)
		}
	}
	// Sorted so that slot collisions among re-added peers resolve the same way every run.
	slices.SortFunc(keys, func(x, y Key) int {
		return cmp.Or(cmp.Compare(x.ID, y.ID), x.Legacy.Compare(y.Legacy))
	})
	readded := 0
	for _, k := range keys {
		r := b.ice.m[k]
		b.setIce(k, nil)
		if c, err := sanitize(r.addr, nil); err == nil && b.insertNew(c, c.ep, now, false) {
			readded++
		}
	}
	for p, since := range b.nets {
		if now-since > b.icePeriod() {
			b.setNet(p, 0, false)
		}
	}
	ttl := int64(b.cfg.AnnounceTTL / time.Second)
	for _, i := range slices.Clone(b.newT.occupied) {
		if e := b.newT.get(i); e.relayed && now-max(e.ts, e.lastSuccess) > ttl {
			b.setSlot(whichNew, i, nil)
		}
	}
	if err := b.commit(); err != nil {
		return 0, err
	}
	if len(keys) > 0 {
		log.Debugw("melted", "melted", len(keys), "readded", readded)
	}
	return len(keys), nil
}

// Iced returns the ice bucket, oldest first. It includes melted peers that Melt has not
// yet swept.
func (b *Book) Iced() []IceRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]IceRecord, 0, b.ice.len())
	for _, r := range b.ice.m {
		out = append(out, IceRecord{Addr: copyAddr(r.addr), Since: time.Unix(r.since, 0), IP: r.ip, Unreachable: r.unreachable})
	}
	slices.SortFunc(out, func(x, y IceRecord) int {
		return cmp.Or(x.Since.Compare(y.Since), cmp.Compare(x.Addr.ID, y.Addr.ID), x.Addr.Legacy.Compare(y.Addr.Legacy))
	})
	return out
}
