package peers

import (
	"net/netip"
	"slices"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

// Outcome says what Failed did with a failed dial.
type Outcome uint8

// Outcomes of Failed, weakest first.
const (
	// OutcomeUnknown: the address is not in the book (any more); nothing changed.
	OutcomeUnknown Outcome = iota
	// OutcomeCounted: a third-party or operator-added address; its failure was counted
	// and it is not offered again before its retry delay.
	OutcomeCounted
	// OutcomeRemoved: a third-party address that failed too often was removed.
	OutcomeRemoved
	// OutcomeIced: an address the peer attested itself (or that we reached it at) failed:
	// the peer was iced.
	OutcomeIced
)

// String returns the outcome's snake_case name (a metric label value).
func (o Outcome) String() string {
	switch o {
	case OutcomeCounted:
		return "counted"
	case OutcomeRemoved:
		return "removed"
	case OutcomeIced:
		return "iced"
	}
	return "unknown"
}

// feelerScan bounds how many new slots FeelerCandidate looks at, from a random one on, to
// find one that is not waiting for its retry delay (or otherwise skipped).
const feelerScan = 64

// retryDelay is how long an address waits after its n-th failure in a row.
func retryDelay(n uint8) int64 {
	d := RetryDelay
	for i := uint8(1); i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return int64(min(d, MaxRetryDelay) / time.Second)
}

// waiting reports whether m is within the retry delay of its last failure.
func (m meta) waiting(now int64) bool {
	return m.attempts > 0 && now-m.lastTry < retryDelay(m.attempts)
}

// terrible reports whether a third-party address failed too often to keep (Bitcoin Core's
// IsTerrible without its time rules).
func (m meta) terrible() bool {
	return (m.attempts >= MaxFailures && m.lastSuccess == 0) || m.attempts >= MaxFailuresAfterSuccess
}

// failedOnce returns m after one more failure at now.
func (m meta) failedOnce(now int64) meta {
	if m.attempts < 255 {
		m.attempts++
	}
	m.lastTry = now
	return m
}

// dialled reports whether a dial of a used e's address: the same legacy IP:port, or a
// multiaddr in common.
func dialled(e *entry, a Addr) bool {
	if a.IsLegacy() || e.addr.IsLegacy() {
		return a.Legacy == e.addr.Legacy && a.ID == e.addr.ID
	}
	return slices.ContainsFunc(a.Addrs, func(m ma.Multiaddr) bool { return ma.Contains(e.addr.Addrs, m) })
}

// Failed records that a dial of a failed (no connection, wrong peer ID, no session), a
// being an entry the book handed out (RandomForBootstrap, FeelerCandidate, Added,
// Anchors). Only a peer's own failure ices it: when the address failed is one it attested
// itself (its Version sender address, its own entry in its Peers reply) or one we reached
// it at (tried), the peer is iced and leaves tried, as witnet-rust ices an address whose
// connect fails; as witnet-rust's ice of a socket address never stops the peer from
// connecting to us, this ice only stops us dialling it (RefusesInbound). An address a
// third party told us about only has its failure counted: it
// is not offered again before its retry delay, and after MaxFailures failures
// (MaxFailuresAfterSuccess once it worked) it is removed. An operator-added entry is only
// counted. So a third party cannot get an honest peer iced by announcing a wrong address
// for it.
func (b *Book) Failed(a Addr) (Outcome, error) {
	k := a.Key()
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	b.stats.FailedDials++
	out := OutcomeUnknown
	b.begin()
	if ad := b.added[k]; ad != nil {
		up := *ad
		up.meta = up.failedOnce(now)
		b.setAdded(k, &up)
		out = OutcomeCounted
	}
	if r := b.refs[k]; r != nil && r.inTried {
		if e := b.triedT.get(r.tried); dialled(e, a) {
			b.setSlot(whichTried, r.tried, nil)
			b.iceLocked(k, now, e.addr, netip.Addr{}, true) // a failed dial does not count towards escalation
			out = OutcomeIced
		}
	}
	if r := b.refs[k]; r != nil && out != OutcomeIced {
		for _, i := range slices.Clone(r.news) {
			e := b.newT.get(i)
			if !dialled(e, a) {
				continue
			}
			if e.attested {
				b.iceLocked(k, now, e.addr, netip.Addr{}, true)
				out = OutcomeIced
				break
			}
			up := *e
			up.meta = up.failedOnce(now)
			if up.terrible() {
				b.setSlot(whichNew, i, nil)
				out = max(out, OutcomeRemoved)
			} else {
				b.setSlot(whichNew, i, &up)
				out = max(out, OutcomeCounted)
			}
		}
	}
	switch out {
	case OutcomeIced:
		b.stats.Iced++
	case OutcomeRemoved:
		b.stats.Removed++
	}
	if err := b.commit(); err != nil {
		return OutcomeUnknown, err
	}
	log.Debugw("dial failure recorded", "peer", k, "outcome", out)
	return out, nil
}

// RandomForBootstrap picks up to n distinct peers to dial (PROTOCOL.md 9.3): with m = min(n,
// eligible new + eligible tried), the number taken from new is the sum of m fair coin
// flips, clamped to [m − tried, new], the rest come from tried, each side sampled without
// replacement. Eligible means not iced, not in an iced prefix, not Config.Self, not
// waiting for the retry delay of a failed dial, and not excluded by exclude (may be nil;
// it gets the book's entry, which it must neither modify nor keep). A peer in both buckets
// counts as tried; a peer in several new slots counts once. exclude runs with the book
// locked and must not call back into it.
func (b *Book) RandomForBootstrap(n int, exclude func(Addr) bool) []Addr {
	if n <= 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	eligible := func(e *entry) bool {
		k := e.addr.Key()
		return !b.isSelf(k) && !b.iced(k, now) && !e.waiting(now) && !b.netIced(e.ep.Addr(), now) &&
			(exclude == nil || !exclude(e.addr))
	}
	// A peer occupies at most one tried slot, so tried needs no de-duplication. In new, a
	// peer is considered only at its first new slot, and not at all when it is in tried.
	tried := make([]*entry, 0, b.triedT.len())
	for _, i := range b.triedT.occupied {
		if e := b.triedT.get(i); eligible(e) {
			tried = append(tried, e)
		}
	}
	fresh := make([]*entry, 0, b.newT.len())
	for _, i := range b.newT.occupied {
		e := b.newT.get(i)
		if r := b.refs[e.addr.Key()]; r.inTried || r.news[0] != i {
			continue
		}
		if eligible(e) {
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
// feeler, if any. It looks at a random entry of new (skipping, for up to 64 entries from
// there, entries waiting for a retry delay, in an iced prefix or excluded by exclude,
// which is as for RandomForBootstrap). If that peer is iced it is dropped and ok is false. If its tried
// slot is empty, the peer is the candidate and stays in new until the feeler succeeds
// (AddTried) or fails (Failed). If the slot's occupant was written at least
// Config.UpdatePeriod ago, the occupant is returned instead (to be re-tested: AddTried
// refreshes it, Failed ices it) and the new peer is dropped. If the occupant is fresh,
// the new peer is dropped and ok is false.
func (b *Book) FeelerCandidate(exclude func(Addr) bool) (addr Addr, ok bool, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.newT.len() == 0 {
		return Addr{}, false, nil
	}
	now := b.now()
	skip := func(e *entry) bool {
		return e.waiting(now) || b.netIced(e.ep.Addr(), now) || (exclude != nil && exclude(e.addr))
	}
	b.begin()
	start := b.rng.IntN(b.newT.len())
	for i := range min(feelerScan, b.newT.len()) {
		idx := b.newT.occupied[(start+i)%b.newT.len()]
		e := b.newT.get(idx)
		if b.iced(e.addr.Key(), now) {
			b.setSlot(whichNew, idx, nil) // it returns to new when it melts
			break
		}
		if skip(e) {
			continue
		}
		occ := b.triedT.get(triedIndex(&b.sk, e.ep))
		switch {
		case occ == nil:
			addr, ok = copyAddr(e.addr), true
		case now-occ.ts >= int64(b.cfg.UpdatePeriod/time.Second):
			if skip(occ) {
				continue
			}
			b.setSlot(whichNew, idx, nil)
			addr, ok = copyAddr(occ.addr), true
		default:
			b.setSlot(whichNew, idx, nil)
		}
		break
	}
	if err := b.commit(); err != nil {
		return Addr{}, false, err
	}
	return addr, ok, nil
}
