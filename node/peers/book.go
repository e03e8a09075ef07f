package peers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.etcd.io/bbolt"
)

var log = logging.Logger("witnet/peers")

// Bucket names the part of the book an entry is in.
type Bucket uint8

// The buckets of the book.
const (
	// BucketNone means the peer is not in the book.
	BucketNone Bucket = iota
	// BucketNew holds peers heard about but not yet tried.
	BucketNew
	// BucketTried holds peers we completed a handshake with.
	BucketTried
	// BucketIce holds peers we refuse to talk to for a while.
	BucketIce
)

// String returns the bucket's lower-case name.
func (b Bucket) String() string {
	switch b {
	case BucketNone:
		return "none"
	case BucketNew:
		return "new"
	case BucketTried:
		return "tried"
	case BucketIce:
		return "ice"
	}
	return fmt.Sprintf("Bucket(%d)", uint8(b))
}

// entry is what a new or tried slot (or the added table) holds. Entries are never
// modified once stored: a change stores a new entry, so a failed commit can restore the
// old one.
type entry struct {
	addr Addr
	ep   netip.AddrPort // index endpoint of addr (a relay's for a relayed entry), cached
	ts   int64          // Unix seconds when the slot was written: when we last heard of it
	meta
}

// meta is what the book knows about an entry beyond its address.
type meta struct {
	// attested: the address comes from the peer itself (its Version sender address, or
	// its own entry in its Peers reply) or we reached the peer there. Only a failed dial
	// of an attested address ices the peer; others are counted and eventually dropped.
	attested bool
	// relayed: the entry is reachable only through a relay (p2p-circuit addresses).
	relayed bool
	// attempts counts failed dials since the last success; lastTry is the last failure
	// and lastSuccess the last completed handshake (0: never), in Unix seconds.
	attempts    uint8
	lastTry     int64
	lastSuccess int64
}

// refs says where one peer sits in the tables.
type refs struct {
	tried   uint16
	inTried bool
	news    []uint16
}

// Book is the address book. It is safe for concurrent use; every method takes one mutex,
// and every mutating method has written its changes to the database when it returns.
type Book struct {
	db  *bbolt.DB // immutable
	cfg Config    // immutable after Open

	mu           sync.Mutex // guards everything below
	sk           secret
	bootstrapped bool
	rng          *rand.Rand
	newT         *table
	triedT       *table
	refs         map[Key]*refs
	ice          iceTable
	nets         map[netip.Prefix]int64 // escalated prefixes: when they were iced
	added        map[Key]*entry         // operator-added table
	anchors      []Addr
	limiter      limiter
	stats        Stats
	batch        []change // mutations since begin, while recording
	recording    bool
}

// Stats counts what the book refused or dropped since Open.
type Stats struct {
	// OutOfScope counts gossiped addresses refused by Config.Policy.
	OutOfScope uint64
	// RateLimited counts gossiped addresses dropped by the per-source token bucket.
	RateLimited uint64
	// NotSelf counts self-announced addresses that named another peer (or another IP).
	NotSelf uint64
	// FailedDials counts failed dials reported with Failed; Removed how many of them
	// dropped an address and Iced how many iced its peer.
	FailedDials, Removed, Iced uint64
	// IceEvicted counts ice records evicted by the bounds of the ice bucket.
	IceEvicted uint64
	// Escalations counts prefixes iced by escalation.
	Escalations uint64
}

// Open loads the book stored in db, creating its buckets (and the secret index key sk) on
// first use. The caller owns db and closes it after its last use of the book.
func Open(db *bbolt.DB, cfg Config) (*Book, error) {
	if db == nil {
		return nil, errors.New("peers: nil database")
	}
	cfg = cfg.withDefaults()
	b := &Book{
		db:           db,
		cfg:          cfg,
		bootstrapped: cfg.Bootstrapped,
		rng:          rand.New(cfg.Rand),
		newT:         newTable(NewCapacity),
		triedT:       newTable(TriedCapacity),
		refs:         make(map[Key]*refs),
		ice:          newIceTable(),
		nets:         make(map[netip.Prefix]int64),
		added:        make(map[Key]*entry),
		limiter:      limiter{buckets: map[Key]*tokenBucket{}},
	}
	if err := b.load(); err != nil {
		return nil, fmt.Errorf("peers: open: %w", err)
	}
	log.Debugw("address book loaded", "new", b.newT.len(), "tried", b.triedT.len(), "ice", b.ice.len(),
		"iced_nets", len(b.nets), "added", len(b.added), "anchors", len(b.anchors))
	return b, nil
}

// now is the current time in whole Unix seconds.
func (b *Book) now() int64 { return b.cfg.Now().Unix() }

// table returns the table of kind (whichNew or whichTried).
func (b *Book) table(kind which) *table {
	if kind == whichTried {
		return b.triedT
	}
	return b.newT
}

// isSelf reports whether k is the local peer.
func (b *Book) isSelf(k Key) bool { return b.cfg.Self != "" && k.ID == b.cfg.Self }

// setSlot writes (or with a nil e, empties) a slot, keeping refs in step and recording the
// change while a batch is open. Callers hold b.mu.
func (b *Book) setSlot(kind which, idx uint16, e *entry) {
	t := b.table(kind)
	old := t.get(idx)
	if old == e {
		return
	}
	if b.recording {
		b.batch = append(b.batch, change{kind: kind, idx: idx, oldEnt: old})
	}
	if old != nil {
		b.unref(kind, idx, old.addr.Key())
	}
	t.set(idx, e)
	if e != nil {
		k := e.addr.Key()
		r := b.refs[k]
		if r == nil {
			r = &refs{}
			b.refs[k] = r
		}
		if kind == whichTried {
			r.tried, r.inTried = idx, true
		} else {
			r.news = append(r.news, idx)
		}
	}
}

// unref forgets that k sits in slot idx of kind.
func (b *Book) unref(kind which, idx uint16, k Key) {
	r := b.refs[k]
	if r == nil {
		return
	}
	if kind == whichTried {
		if r.inTried && r.tried == idx {
			r.inTried = false
		}
	} else if i := slices.Index(r.news, idx); i >= 0 {
		r.news = slices.Delete(r.news, i, i+1)
	}
	if !r.inTried && len(r.news) == 0 {
		delete(b.refs, k)
	}
}

// known returns the entry the tables hold for k, preferring tried.
func (b *Book) known(k Key) (*entry, Bucket) {
	r := b.refs[k]
	switch {
	case r == nil:
		return nil, BucketNone
	case r.inTried:
		return b.triedT.get(r.tried), BucketTried
	default:
		return b.newT.get(r.news[0]), BucketNew
	}
}

// insertNew applies the add-to-new rules to one sanitized entry, heard of from src.
// Callers hold b.mu inside a batch.
func (b *Book) insertNew(c clean, src netip.AddrPort, now int64, attested bool) bool {
	k := c.addr.Key()
	if b.isSelf(k) || b.iced(k, now) || b.netIced(c.ep.Addr(), now) {
		return false
	}
	b.dropMelted(k, now)
	r := b.refs[k]
	if r != nil && r.inTried {
		// Already known good; the tried entry is the better information.
		return false
	}
	idx := newIndex(&b.sk, c.ep, src)
	if r != nil && len(r.news) >= maxNewRefs && !slices.Contains(r.news, idx) {
		return false
	}
	e := &entry{addr: c.addr, ep: c.ep, ts: now, meta: meta{attested: attested, relayed: c.relayed}}
	if old := b.newT.get(idx); old != nil && sameAddr(old.addr, c.addr) {
		// Heard of again: keep what dialling it taught us, and its attestation.
		e.meta = old.meta
		e.attested = old.attested || attested
	}
	b.setSlot(whichNew, idx, e)
	return true
}

// AddNew adds peers to the new bucket (PROTOCOL.md 9.3) and returns how many were written.
//
// src is the peer that announced them; its endpoint picks the buckets, so one source can
// only reach a bounded part of the table. Gossip from src is limited: at most the
// source's token bucket (Config.AddrRate, Config.AddrBurst) of entries are processed, each
// multiaddr (or legacy address) must be one Config.Policy accepts from src's IP, and
// non-IP (DNS) multiaddrs are dropped. An entry is attested (see Failed) only when it is
// src's own. A nil src means the addresses come from the local configuration: each is
// first removed from the ice bucket and is its own source.
//
// Skipped without error: unspecified IPs, Config.Self, iced peers and prefixes, peers
// already in tried, peers already holding the most new slots allowed, and addresses out
// of scope or over the rate. Entries that cannot be indexed are skipped and reported in
// the returned error (errors.Join of *AddrError) while the rest are still added. If src
// has no IP endpoint nothing is added and an *AddrError is returned. A database failure
// adds nothing and returns the error.
func (b *Book) AddNew(addrs []Addr, src *Addr) (added int, err error) {
	var srcEP netip.AddrPort
	if src != nil {
		if srcEP, err = src.Endpoint(); err != nil {
			return 0, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	allowed := len(addrs)
	if src != nil {
		allowed = b.limiter.take(src.Key(), len(addrs), now, b.cfg.AddrRate, b.cfg.AddrBurst)
		b.stats.RateLimited += uint64(len(addrs) - allowed)
	}
	var errs []error
	b.begin()
	for _, a := range addrs[:allowed] {
		var c clean
		var ok bool
		if src == nil {
			c, err = sanitize(a, nil)
			ok = err == nil
			if ok {
				b.setIce(c.addr.Key(), nil)
			}
			srcEP = c.ep
		} else {
			c, ok, err = b.sanitizeGossip(a, srcEP.Addr())
		}
		if err != nil && !errors.Is(err, errUnspecified) {
			errs = append(errs, err)
		}
		if ok && b.insertNew(c, srcEP, now, src != nil && a.ID != "" && a.ID == src.ID) {
			added++
		}
	}
	if err := b.commit(); err != nil {
		return 0, err
	}
	if added > 0 {
		log.Debugw("added to new", "added", added, "offered", len(addrs), "src", srcName(src))
	}
	return added, errors.Join(errs...)
}

// sanitizeGossip sanitizes an entry heard of from a peer at srcIP, applying the address
// policy; ok is false when nothing is left (with err set only when the entry itself was
// bad, not when the policy refused it).
func (b *Book) sanitizeGossip(a Addr, srcIP netip.Addr) (c clean, ok bool, err error) {
	outOfScope := 0
	keep := func(m ma.Multiaddr) bool {
		ip, isIP := leadingIP(m)
		if isIP && !b.cfg.Policy.Accepts(ip, srcIP) {
			outOfScope++
		}
		return isIP && b.cfg.Policy.Accepts(ip, srcIP)
	}
	c, err = sanitize(a, keep)
	if err == nil && a.IsLegacy() && !b.cfg.Policy.Accepts(c.ep.Addr(), srcIP) {
		outOfScope, err = 1, &AddrError{Legacy: c.ep, Err: ErrNoIPAddr}
	}
	b.stats.OutOfScope += uint64(outOfScope)
	if err != nil && outOfScope > 0 {
		return clean{}, false, nil // every usable address was out of scope: dropped, not an error
	}
	return c, err == nil, err
}

// AddSelf adds the address a peer announced for itself (its Version sender address) to
// the new bucket as an attested entry, and reports whether it was written. src is the
// session's peer: a libp2p entry must carry src's peer ID, a legacy entry src's IP (its
// port is the peer's listening port, not the connection's); anything else is a peer
// planting another's address, refused with an *AddrError wrapping ErrNotSelf. The rate
// limit and the address policy apply as for AddNew.
func (b *Book) AddSelf(a Addr, src Addr) (bool, error) {
	srcEP, err := src.Endpoint()
	if err != nil {
		return false, err
	}
	mine := (a.ID != "" && a.ID == src.ID) || (a.IsLegacy() && src.ID == "" && a.Legacy.Addr().Unmap() == srcEP.Addr().Unmap())
	b.mu.Lock()
	defer b.mu.Unlock()
	if !mine {
		b.stats.NotSelf++
		return false, &AddrError{ID: a.ID, Legacy: a.Legacy, Err: ErrNotSelf}
	}
	now := b.now()
	if b.limiter.take(src.Key(), 1, now, b.cfg.AddrRate, b.cfg.AddrBurst) == 0 {
		b.stats.RateLimited++
		return false, nil
	}
	c, ok, err := b.sanitizeGossip(a, srcEP.Addr())
	if !ok {
		if errors.Is(err, errUnspecified) {
			err = nil
		}
		return false, err
	}
	b.begin()
	if r := b.ice.m[c.addr.Key()]; r != nil && r.unreachable {
		b.setIce(c.addr.Key(), nil) // it connected to us: up again, at the address it gives
	}
	written := b.insertNew(c, srcEP, now, true)
	if err := b.commit(); err != nil {
		return false, err
	}
	return written, nil
}

func srcName(src *Addr) string {
	if src == nil {
		return "local"
	}
	return src.Key().String()
}

// AddTried records a peer we completed a handshake with (outbound consolidation, feeler
// success) in its tried slot, and reports whether it was written. The caller must have
// reached the peer at the address itself (a connection it dialled): a tried address is
// attested, and spreads to other peers in Peers replies.
//
// Nothing is written for unspecified IPs, Config.Self, iced peers, or when the slot was
// written less than Config.UpdatePeriod ago (even by this same peer). When written, the
// peer leaves the new bucket, and if it sat in another tried slot (its address changed)
// that slot is emptied: a peer occupies at most one tried slot. An operator-added entry of
// the peer has its failure count reset either way.
func (b *Book) AddTried(a Addr) (bool, error) {
	c, err := sanitize(a, nil)
	if errors.Is(err, errUnspecified) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	k := c.addr.Key()
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.isSelf(k) || b.iced(k, now) {
		return false, nil
	}
	b.begin()
	if ad := b.added[k]; ad != nil && (ad.attempts > 0 || ad.lastSuccess != now) {
		up := *ad
		up.attempts, up.lastSuccess = 0, now
		b.setAdded(k, &up)
	}
	idx := triedIndex(&b.sk, c.ep)
	written := false
	if occ := b.triedT.get(idx); occ == nil || now-occ.ts >= int64(b.cfg.UpdatePeriod/time.Second) {
		b.dropMelted(k, now)
		if r := b.refs[k]; r != nil {
			if r.inTried && r.tried != idx {
				b.setSlot(whichTried, r.tried, nil)
			}
			for _, i := range slices.Clone(r.news) {
				b.setSlot(whichNew, i, nil)
			}
		}
		b.setSlot(whichTried, idx, &entry{addr: c.addr, ep: c.ep, ts: now,
			meta: meta{attested: true, relayed: c.relayed, lastSuccess: now}})
		written = true
	}
	if err := b.commit(); err != nil {
		return false, err
	}
	if written {
		log.Debugw("added to tried", "peer", k, "slot", idx)
	}
	return written, nil
}

// listTable copies the entries of t in slot order.
func listTable(t *table) []Addr {
	idx := slices.Clone(t.occupied)
	slices.Sort(idx)
	out := make([]Addr, len(idx))
	for k, i := range idx {
		out[k] = copyAddr(t.get(i).addr)
	}
	return out
}

// Tried returns every peer in the tried bucket, in slot order.
func (b *Book) Tried() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return listTable(b.triedT)
}

// New returns every entry of the new bucket, in slot order. A peer announced by sources of
// different groups may appear more than once.
func (b *Book) New() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return listTable(b.newT)
}

// Shared returns what the node tells peers in a Peers reply: every entry of the tried
// bucket (witnet-rust's reply), then the addresses peers announced for themselves (their
// Version sender address, relay addresses included) within Config.AnnounceTTL, each peer
// once. The second part is what spreads the addresses of peers that connected to us: on
// libp2p our sessions with them run over their connections, which prove nothing about
// their addresses, so they may never reach tried here; and a private peer's relay address
// cannot be proven by a direct dial at all. Addresses a third party told us of are never
// shared before we reached them.
func (b *Book) Shared() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := listTable(b.triedT)
	ttl := int64(b.cfg.AnnounceTTL / time.Second)
	now := b.now()
	for _, i := range b.newT.occupied {
		e := b.newT.get(i)
		k := e.addr.Key()
		if e.attested && now-e.ts <= ttl && b.refs[k].news[0] == i && !b.iced(k, now) && !b.netIced(e.ep.Addr(), now) {
			out = append(out, copyAddr(e.addr))
		}
	}
	return out
}

// Counts returns the number of occupied new slots, occupied tried slots and ice records.
func (b *Book) Counts() (newN, triedN, icedN int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.newT.len(), b.triedT.len(), b.ice.len()
}

// Stats returns the book's counters.
func (b *Book) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stats
}

// Lookup finds id in the book, preferring tried, then new, then ice.
func (b *Book) Lookup(id peer.ID) (Addr, Bucket, bool) { return b.LookupKey(Key{ID: id}) }

// LookupKey finds k in the book, preferring tried, then new, then ice.
func (b *Book) LookupKey(k Key) (Addr, Bucket, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, where := b.known(k); e != nil {
		return copyAddr(e.addr), where, true
	}
	if r := b.ice.m[k]; r != nil {
		return copyAddr(r.addr), BucketIce, true
	}
	return Addr{}, BucketNone, false
}

// Clear empties the new and tried buckets and the operator-added table (JSON-RPC
// clearPeers). The ice bucket, the iced prefixes and the index key are kept.
func (b *Book) Clear() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketNew, bucketTried, bucketAdded} {
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bbolt.ErrBucketNotFound) {
				return err
			}
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("peers: persist: %w", err)
	}
	b.newT.clear()
	b.triedT.clear()
	clear(b.refs)
	clear(b.added)
	log.Infow("address book cleared")
	return nil
}

// SetBootstrapped tells the book whether the chain is bootstrapped, which selects the ice
// period (Config.IcePeriod or Config.IcePeriodBeforeBootstrap) and MeltInterval. It is not
// persisted: the node sets it after every start.
func (b *Book) SetBootstrapped(v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bootstrapped = v
}

// IcePeriod returns the ice period in force.
func (b *Book) IcePeriod() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return time.Duration(b.icePeriod()) * time.Second
}

// MeltInterval returns how often the node should call Melt: MeltPeriod once bootstrapped,
// MeltPeriodBeforeBootstrap before.
func (b *Book) MeltInterval() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bootstrapped {
		return MeltPeriod
	}
	return MeltPeriodBeforeBootstrap
}
