package peers

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/peer"
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

// IceRecord is one entry of the ice bucket.
type IceRecord struct {
	// Addr is the iced peer with the addresses the book knew for it when it was iced
	// (possibly none); they are re-added to new when it melts.
	Addr Addr
	// Since is when the peer was iced (whole seconds).
	Since time.Time
}

// iceRecord is the in-memory form of IceRecord.
type iceRecord struct {
	addr  Addr
	since int64
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
	ice          map[peer.ID]*iceRecord
	refs         map[peer.ID]*refs
	batch        []change // mutations since begin, while recording
	recording    bool
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
		ice:          make(map[peer.ID]*iceRecord),
		refs:         make(map[peer.ID]*refs),
	}
	if err := b.load(); err != nil {
		return nil, fmt.Errorf("peers: open: %w", err)
	}
	log.Debugw("address book loaded", "new", b.newT.len(), "tried", b.triedT.len(), "ice", len(b.ice))
	return b, nil
}

// now is the current time in whole Unix seconds.
func (b *Book) now() int64 { return b.cfg.Now().Unix() }

// icePeriod is the ice period in force, in seconds. Callers hold b.mu.
func (b *Book) icePeriod() int64 {
	if b.bootstrapped {
		return int64(b.cfg.IcePeriod / time.Second)
	}
	return int64(b.cfg.IcePeriodBeforeBootstrap / time.Second)
}

// iced reports whether id is iced at now: iced while now − since ≤ period. Callers hold b.mu.
func (b *Book) iced(id peer.ID, now int64) bool {
	r := b.ice[id]
	return r != nil && now-r.since <= b.icePeriod()
}

// table returns the table of kind (whichNew or whichTried).
func (b *Book) table(kind which) *table {
	if kind == whichTried {
		return b.triedT
	}
	return b.newT
}

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
		b.unref(kind, idx, old.addr.ID)
	}
	t.set(idx, e)
	if e != nil {
		r := b.refs[e.addr.ID]
		if r == nil {
			r = &refs{}
			b.refs[e.addr.ID] = r
		}
		if kind == whichTried {
			r.tried, r.inTried = idx, true
		} else {
			r.news = append(r.news, idx)
		}
	}
}

// unref forgets that id sits in slot idx of kind.
func (b *Book) unref(kind which, idx uint16, id peer.ID) {
	r := b.refs[id]
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
		delete(b.refs, id)
	}
}

// setIce writes (or with nil, removes) an ice record, recording the change while a batch
// is open. Callers hold b.mu.
func (b *Book) setIce(id peer.ID, r *iceRecord) {
	old := b.ice[id]
	if old == r {
		return
	}
	if b.recording {
		b.batch = append(b.batch, change{kind: whichIce, id: id, oldIce: old})
	}
	if r == nil {
		delete(b.ice, id)
	} else {
		b.ice[id] = r
	}
}

// known returns the addresses the tables hold for id, preferring tried.
func (b *Book) known(id peer.ID) (Addr, Bucket, bool) {
	r := b.refs[id]
	switch {
	case r == nil:
		return Addr{}, BucketNone, false
	case r.inTried:
		return b.triedT.get(r.tried).addr, BucketTried, true
	default:
		return b.newT.get(r.news[0]).addr, BucketNew, true
	}
}

// dropMelted removes id's ice record when it has melted, so that a peer that is no longer
// iced does not keep a stale record. Callers hold b.mu inside a batch.
func (b *Book) dropMelted(id peer.ID, now int64) {
	if r := b.ice[id]; r != nil && now-r.since > b.icePeriod() {
		b.setIce(id, nil)
	}
}

// insertNew applies the add-to-new rules to one sanitized entry. Callers hold b.mu inside
// a batch.
func (b *Book) insertNew(a Addr, ep, src netip.AddrPort, now int64) bool {
	if ep.Addr().IsUnspecified() || (b.cfg.Self != "" && a.ID == b.cfg.Self) || b.iced(a.ID, now) {
		return false
	}
	b.dropMelted(a.ID, now)
	r := b.refs[a.ID]
	if r != nil && r.inTried {
		// Already known good; the tried entry is the better information.
		return false
	}
	idx := newIndex(&b.sk, ep, src)
	if r != nil && len(r.news) >= maxNewRefs && !slices.Contains(r.news, idx) {
		return false
	}
	b.setSlot(whichNew, idx, &entry{addr: a, ep: ep, ts: now})
	return true
}

// AddNew adds peers to the new bucket (PROTOCOL.md 9.3) and returns how many were written.
//
// src is the peer that announced them; its endpoint picks the buckets, so one source can
// only reach a bounded part of the table. A nil src means the addresses come from the local
// operator (config, JSON-RPC addPeers): each is first removed from the ice bucket and is
// its own source.
//
// Skipped without error: unspecified IPs, Config.Self, iced peers, peers already in tried,
// and peers already holding the most new slots allowed. Entries that cannot be indexed are
// skipped and reported in the returned error (errors.Join of *AddrError) while the rest
// are still added. If src has no IP endpoint nothing is added and an *AddrError is
// returned. A database failure adds nothing and returns the error.
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
	var errs []error
	b.begin()
	for _, a := range addrs {
		clean, ep, err := sanitize(a)
		if err != nil {
			if !errors.Is(err, errUnspecified) {
				errs = append(errs, err)
			}
			continue
		}
		from := srcEP
		if src == nil {
			from = ep
			b.setIce(clean.ID, nil)
		}
		if b.insertNew(clean, ep, from, now) {
			added++
		}
	}
	if err := b.commit(); err != nil {
		return 0, err
	}
	if added > 0 {
		log.Debugw("added to new", "added", added, "offered", len(addrs), "src", srcID(src))
	}
	return added, errors.Join(errs...)
}

func srcID(src *Addr) string {
	if src == nil {
		return "local"
	}
	return src.ID.String()
}

// AddTried records a peer we completed a handshake with (outbound consolidation, feeler
// success) in its tried slot, and reports whether it was written.
//
// Nothing is written for unspecified IPs, Config.Self, iced peers, or when the slot was
// written less than Config.UpdatePeriod ago (even by this same peer). When written, the
// peer leaves the new bucket, and if it sat in another tried slot (its address changed)
// that slot is emptied: a peer occupies at most one tried slot.
func (b *Book) AddTried(a Addr) (bool, error) {
	clean, ep, err := sanitize(a)
	if errors.Is(err, errUnspecified) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if (b.cfg.Self != "" && clean.ID == b.cfg.Self) || b.iced(clean.ID, now) {
		return false, nil
	}
	idx := triedIndex(&b.sk, ep)
	if occ := b.triedT.get(idx); occ != nil && now-occ.ts < int64(b.cfg.UpdatePeriod/time.Second) {
		return false, nil
	}
	b.begin()
	b.dropMelted(clean.ID, now)
	if r := b.refs[clean.ID]; r != nil {
		if r.inTried && r.tried != idx {
			b.setSlot(whichTried, r.tried, nil)
		}
		for _, i := range slices.Clone(r.news) {
			b.setSlot(whichNew, i, nil)
		}
	}
	b.setSlot(whichTried, idx, &entry{addr: clean, ep: ep, ts: now})
	if err := b.commit(); err != nil {
		return false, err
	}
	log.Debugw("added to tried", "peer", clean.ID, "slot", idx)
	return true, nil
}

// iceLocked ices id at now, remembering the addresses the book knows for it (or fallback
// when the tables hold none). Callers hold b.mu inside a batch.
func (b *Book) iceLocked(id peer.ID, now int64, fallback Addr) {
	a, _, ok := b.known(id)
	if !ok {
		a = fallback
		if a.ID == "" {
			if old := b.ice[id]; old != nil {
				a = old.addr
			} else {
				a = Addr{ID: id}
			}
		}
	}
	b.setIce(id, &iceRecord{addr: Addr{ID: id, Addrs: slices.Clone(a.Addrs)}, since: now})
}

// RemoveTried removes id from the tried bucket and reports whether it was there. With ice
// set, id is also iced, whether or not it was in tried (PROTOCOL.md 9.3).
func (b *Book) RemoveTried(id peer.ID, ice bool) (bool, error) {
	if ice {
		if err := validID(id); err != nil {
			return false, err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.begin()
	var removed Addr
	if r := b.refs[id]; r != nil && r.inTried {
		removed = b.triedT.get(r.tried).addr
		b.setSlot(whichTried, r.tried, nil)
	}
	if ice {
		b.iceLocked(id, now, removed)
	}
	if err := b.commit(); err != nil {
		return false, err
	}
	log.Debugw("removed from tried", "peer", id, "removed", removed.ID != "", "iced", ice)
	return removed.ID != "", nil
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
	b.iceLocked(id, b.now(), Addr{})
	if err := b.commit(); err != nil {
		return err
	}
	log.Debugw("iced", "peer", id, "period", b.icePeriod())
	return nil
}

// IsIced reports whether id is iced now: from the moment it was iced until the ice period
// in force has fully elapsed (iced at 0 with period 1000: iced at 1000, melted at 1001).
// It does not modify the book.
func (b *Book) IsIced(id peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.iced(id, b.now())
}

// Melt removes every melted peer from the ice bucket and re-adds those with a usable
// address to new (as their own source). It returns how many peers left the ice bucket.
// The node calls it every MeltInterval.
func (b *Book) Melt() (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.begin()
	var ids []peer.ID
	for id := range b.ice {
		if !b.iced(id, now) {
			ids = append(ids, id)
		}
	}
	// Sorted so that slot collisions among re-added peers resolve the same way every run.
	slices.Sort(ids)
	readded := 0
	for _, id := range ids {
		r := b.ice[id]
		b.setIce(id, nil)
		if clean, ep, err := sanitize(r.addr); err == nil && b.insertNew(clean, ep, ep, now) {
			readded++
		}
	}
	if err := b.commit(); err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		log.Debugw("melted", "melted", len(ids), "readded", readded)
	}
	return len(ids), nil
}

// RandomForBootstrap picks up to n distinct peers to dial (PROTOCOL.md 9.3): with m = min(n,
// eligible new + eligible tried), the number taken from new is the sum of m fair coin
// flips, clamped to [m − tried, new], the rest come from tried, each side sampled without
// replacement. Eligible means not iced, not Config.Self, and not excluded by exclude (may
// be nil). A peer in both buckets counts as tried; a peer in several new slots counts
// once. exclude runs with the book locked and must not call back into it.
func (b *Book) RandomForBootstrap(n int, exclude func(peer.ID) bool) []Addr {
	if n <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	eligible := func(id peer.ID) bool {
		return (b.cfg.Self == "" || id != b.cfg.Self) && !b.iced(id, now) && (exclude == nil || !exclude(id))
	}
	// A peer occupies at most one tried slot, so tried needs no de-duplication. In new, a
	// peer is considered only at its first new slot, and not at all when it is in tried.
	tried := make([]*entry, 0, b.triedT.len())
	for _, i := range b.triedT.occupied {
		if e := b.triedT.get(i); eligible(e.addr.ID) {
			tried = append(tried, e)
		}
	}
	fresh := make([]*entry, 0, b.newT.len())
	for _, i := range b.newT.occupied {
		e := b.newT.get(i)
		if r := b.refs[e.addr.ID]; r.inTried || r.news[0] != i {
			continue
		}
		if eligible(e.addr.ID) {
			fresh = append(fresh, e)
		}
	}

	m := min(n, len(fresh)+len(tried))
	fromNew := 0
	for range m {
		fromNew += int(b.rng.Uint64() & 1)
	}
	fromNew = max(fromNew, m-len(tried))
	fromNew = min(fromNew, len(fresh))

	out := make([]Addr, 0, m)
	out = b.sample(out, fresh, fromNew)
	return b.sample(out, tried, m-fromNew)
}

// sample appends k entries of es chosen without replacement (a partial Fisher-Yates
// shuffle of es, which the caller owns).
func (b *Book) sample(out []Addr, es []*entry, k int) []Addr {
	for i := range k {
		j := i + b.rng.IntN(len(es)-i)
		es[i], es[j] = es[j], es[i]
		out = append(out, copyAddr(es[i].addr))
	}
	return out
}

// FeelerCandidate applies the feeler rule (PROTOCOL.md 9.3) and returns the peer to dial as a
// feeler, if any. It takes a random entry out of new. If that peer's tried slot is empty,
// the peer is the candidate. If the slot's occupant was written at least
// Config.UpdatePeriod ago, the occupant is taken out of tried and returned instead (to be
// re-tested; the caller re-adds it with AddTried on success) and the new peer is dropped.
// If the occupant is fresh, or the new peer is iced, the new peer is dropped and ok is
// false. The caller calls AddTried when the feeler handshake succeeds.
func (b *Book) FeelerCandidate() (addr Addr, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.newT.len() == 0 {
		return Addr{}, false, nil
	}
	now := b.now()
	b.begin()
	idx := b.newT.random(b.rng)
	e := b.newT.get(idx)
	b.setSlot(whichNew, idx, nil)
	tidx := triedIndex(&b.sk, e.ep)
	occ := b.triedT.get(tidx)
	switch {
	case b.iced(e.addr.ID, now):
		// Dropped: it returns to new when it melts.
	case occ == nil:
		addr, ok = copyAddr(e.addr), true
	case now-occ.ts >= int64(b.cfg.UpdatePeriod/time.Second):
		b.setSlot(whichTried, tidx, nil)
		addr, ok = copyAddr(occ.addr), true
	}
	if err := b.commit(); err != nil {
		return Addr{}, false, err
	}
	return addr, ok, nil
}

// validID checks that id is a well-formed peer ID (it will be stored as a key).
func validID(id peer.ID) error {
	if _, err := peer.IDFromBytes([]byte(id)); err != nil {
		return &AddrError{ID: id, Err: ErrInvalidPeerID}
	}
	return nil
}

// copyAddr returns a with its own address slice, so callers cannot alter the book.
func copyAddr(a Addr) Addr { return Addr{ID: a.ID, Addrs: slices.Clone(a.Addrs)} }

// list copies the entries of t in slot order.
func list(t *table) []Addr {
	idx := slices.Clone(t.occupied)
	slices.Sort(idx)
	out := make([]Addr, len(idx))
	for k, i := range idx {
		out[k] = copyAddr(t.get(i).addr)
	}
	return out
}

// Tried returns every peer in the tried bucket, in slot order: the GetPeers reply.
func (b *Book) Tried() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return list(b.triedT)
}

// New returns every entry of the new bucket, in slot order. A peer announced by sources of
// different groups may appear more than once.
func (b *Book) New() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	return list(b.newT)
}

// Iced returns the ice bucket, oldest first. It includes melted peers that Melt has not
// yet swept.
func (b *Book) Iced() []IceRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]IceRecord, 0, len(b.ice))
	for _, r := range b.ice {
		out = append(out, IceRecord{Addr: copyAddr(r.addr), Since: time.Unix(r.since, 0)})
	}
	slices.SortFunc(out, func(x, y IceRecord) int {
		return cmp.Or(x.Since.Compare(y.Since), cmp.Compare(x.Addr.ID, y.Addr.ID))
	})
	return out
}

// Counts returns the number of occupied new slots, occupied tried slots and ice records.
func (b *Book) Counts() (newN, triedN, icedN int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.newT.len(), b.triedT.len(), len(b.ice)
}

// Lookup finds id in the book, preferring tried, then new, then ice.
func (b *Book) Lookup(id peer.ID) (Addr, Bucket, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a, where, ok := b.known(id); ok {
		return copyAddr(a), where, true
	}
	if r := b.ice[id]; r != nil {
		return copyAddr(r.addr), BucketIce, true
	}
	return Addr{}, BucketNone, false
}

// Clear empties the new and tried buckets (JSON-RPC clearPeers). The ice bucket and the
// index key are kept.
func (b *Book) Clear() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketNew, bucketTried} {
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
