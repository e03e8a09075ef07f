package peers

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

// MaxAnchors bounds the anchors kept (the dialer keeps two).
const MaxAnchors = 8

// setAdded writes (or with nil, removes) an operator-added entry, recording the change
// while a batch is open. Callers hold b.mu.
func (b *Book) setAdded(k Key, e *entry) {
	old := b.added[k]
	if old == e {
		return
	}
	if b.recording {
		b.batch = append(b.batch, change{kind: whichAdded, key: k, oldEnt: old})
	}
	if e == nil {
		delete(b.added, k)
	} else {
		b.added[k] = e
	}
}

// AddLocal adds operator-given peers (JSON-RPC addPeers) and returns how many were taken.
// Each goes to the operator-added table, a small protected table like Bitcoin Core's added
// nodes: persisted, bounded by Config.MaxAdded, never overwritten or evicted by gossip and
// never dropped for failing (Failed only counts), emptied only by Clear. It is also
// melted from ice and put in the new bucket as AddNew with a nil source does. The dialer
// dials added peers before the book's others.
//
// Entries that cannot be stored are reported in the returned error (errors.Join of
// *AddrError, ErrAddedFull among them) while the rest are still taken. A database failure
// takes nothing and returns the error.
func (b *Book) AddLocal(addrs []Addr) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var errs []error
	taken := 0
	b.begin()
	for _, a := range addrs {
		c, err := sanitize(a, nil)
		if err != nil {
			if !errors.Is(err, errUnspecified) {
				errs = append(errs, err)
			}
			continue
		}
		k := c.addr.Key()
		if b.isSelf(k) {
			continue
		}
		if _, had := b.added[k]; !had && len(b.added) >= b.cfg.MaxAdded {
			errs = append(errs, &AddrError{ID: k.ID, Legacy: k.Legacy, Err: fmt.Errorf("%w (%d entries)", ErrAddedFull, b.cfg.MaxAdded)})
			continue
		}
		b.setAdded(k, &entry{addr: c.addr, ep: c.ep, ts: now, meta: meta{relayed: c.relayed}})
		b.setIce(k, nil)
		b.insertNew(c, c.ep, now, false)
		taken++
	}
	if err := b.commit(); err != nil {
		return 0, err
	}
	log.Debugw("operator-added peers", "taken", taken, "offered", len(addrs), "table", len(b.added))
	return taken, errors.Join(errs...)
}

// Added returns the operator-added table, the peers whose dial failed least recently (or
// never) first. Iced peers are listed too: the operator's choice outranks the ice.
func (b *Book) Added() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	es := make([]*entry, 0, len(b.added))
	for _, e := range b.added {
		es = append(es, e)
	}
	slices.SortFunc(es, func(x, y *entry) int {
		return cmp.Or(cmp.Compare(x.lastTry, y.lastTry), cmp.Compare(x.addr.Key().String(), y.addr.Key().String()))
	})
	out := make([]Addr, len(es))
	for i, e := range es {
		out[i] = copyAddr(e.addr)
	}
	return out
}

// SetAnchors replaces the anchors: the outbound peers the node dials first after a restart
// (Bitcoin Core's anchors.dat), at most MaxAnchors. They are written at once, unless they
// did not change.
func (b *Book) SetAnchors(as []Addr) error {
	cleaned := make([]Addr, 0, min(len(as), MaxAnchors))
	for _, a := range as {
		if len(cleaned) == MaxAnchors {
			break
		}
		if c, err := sanitize(a, nil); err == nil {
			cleaned = append(cleaned, c.addr)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if slices.EqualFunc(cleaned, b.anchors, sameAddr) {
		return nil
	}
	val := encodeAnchors(cleaned, b.now())
	if err := b.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyAnchors, val) }); err != nil {
		return fmt.Errorf("peers: persist: %w", err)
	}
	b.anchors = cleaned
	log.Debugw("anchors saved", "anchors", len(cleaned))
	return nil
}

// Anchors returns the anchors saved by SetAnchors.
func (b *Book) Anchors() []Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Addr, len(b.anchors))
	for i, a := range b.anchors {
		out[i] = copyAddr(a)
	}
	return out
}
