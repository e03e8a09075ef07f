package inventory

import (
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Bounds of what the engine tracks for the peers' announcements (Config fields of the same
// names). A peer that announces and never delivers can make the engine hold at most
// MaxAnnouncedPerPeer entries for it, all peers together at most MaxTrackedBytes.
const (
	// DefaultMaxAnnouncedPerPeer is how many announced entries the engine tracks for one
	// peer: requested from it and not delivered, or waiting to be requested from it.
	// Bitcoin Core tracks at most 5,000 transaction announcements per peer
	// (MAX_PEER_TX_ANNOUNCEMENTS).
	DefaultMaxAnnouncedPerPeer = 5000
	// DefaultMaxInFlightPerPeer is how many entries may be requested from one peer and
	// not delivered yet. Bitcoin Core allows 100 transaction requests in flight
	// (MAX_PEER_TX_REQUEST_IN_FLIGHT); a Witnet block sync requests a batch of 500 blocks
	// at once (requested_blocks_batch_limit), so the bound leaves room for a batch and as
	// many relayed items beside it.
	DefaultMaxInFlightPerPeer = 1000
	// DefaultMaxTrackedBytes bounds the memory of announcement tracking for all peers
	// together: about 150,000 entries (see trackedEntryCost), 30 peers at their
	// MaxAnnouncedPerPeer.
	DefaultMaxTrackedBytes = 64 << 20
	// trackedEntryCost is what one tracked entry costs at most, in bytes of heap: its
	// share of a fetch record, its map entries (inflight, owed) and its peer-list slots.
	// TestTrackedEntryCost measures it.
	trackedEntryCost = 448
)

// peerState is what the engine keeps per peer with a session: the entries it owes and
// how many others it is tracked for. e.mu guards it.
type peerState struct {
	// owed are the items requested from the peer and not delivered by it, with the time
	// of the first request: its requests in flight. Owing one for Config.BlocksTimeout
	// gets the peer iced.
	owed map[entryKey]time.Time
	// nexts counts the fetches whose next list holds the peer: items it announced that
	// another peer was asked for, or that wait for room among its own requests.
	nexts int
	// unsolicited is the peer's budget of item bytes it may send unasked.
	unsolicited session.TokenBucket
	// waiting are keys of fetches nobody was asked for yet that the peer announced while
	// it had MaxInFlightPerPeer requests out, asked from it as it delivers (oldest first).
	// A key may be stale (its item was delivered by another peer meanwhile); stale keys
	// are skipped.
	waiting []entryKey
}

// inFlight returns how many requests the peer has not answered.
func (ps *peerState) inFlight() int { return len(ps.owed) }

// tracked returns how many announced entries the engine tracks for the peer.
func (ps *peerState) tracked() int { return len(ps.owed) + ps.nexts }

// peerLocked returns the state of peer id, created if needed.
func (e *Engine) peerLocked(id session.Key) *peerState {
	ps := e.peers[id]
	if ps == nil {
		ps = &peerState{
			owed:        make(map[entryKey]time.Time),
			unsolicited: session.NewTokenBucket(e.cfg.UnsolicitedPeerRate, float64(e.cfg.UnsolicitedPeerBurst)),
		}
		e.peers[id] = ps
	}
	return ps
}

// canTrackLocked reports whether one more announced entry of ps may be tracked: below
// the peer's bound and the node-wide one.
func (e *Engine) canTrackLocked(ps *peerState) bool {
	return ps.tracked() < e.cfg.MaxAnnouncedPerPeer && e.tracked < e.maxTracked
}

// oweLocked records that the peer of ps was asked for key at now, unless it already owes it.
func (e *Engine) oweLocked(ps *peerState, key entryKey, now time.Time) {
	if _, ok := ps.owed[key]; !ok {
		ps.owed[key] = now
		e.tracked++
	}
}

// deliveredLocked records that the peer of ps delivered key, and reports whether it owed
// it.
func (e *Engine) deliveredLocked(ps *peerState, key entryKey) bool {
	if _, ok := ps.owed[key]; !ok {
		return false
	}
	delete(ps.owed, key)
	e.tracked--
	return true
}

// clearOwedLocked forgets every item the peer of ps owes.
func (e *Engine) clearOwedLocked(ps *peerState) {
	e.tracked -= len(ps.owed)
	clear(ps.owed)
}

// addNextLocked appends id, whose state is ps, to f's next announcers; if nobody was
// asked for f's item, id will be asked as soon as it has room (takeWaitingLocked).
func (e *Engine) addNextLocked(f *fetch, id session.Key, ps *peerState) {
	f.next = append(f.next, id)
	ps.nexts++
	e.tracked++
	if !f.asked.IsZero() {
		return
	}
	if len(ps.waiting) >= e.cfg.MaxAnnouncedPerPeer {
		e.compactWaitingLocked(ps, id)
	}
	if len(ps.waiting) < e.cfg.MaxAnnouncedPerPeer { // else the sweep asks it in time
		ps.waiting = append(ps.waiting, f.key)
	}
}

// removeNextLocked removes f.next[i].
func (e *Engine) removeNextLocked(f *fetch, i int) {
	id := f.next[i]
	f.next = append(f.next[:i], f.next[i+1:]...)
	if ps := e.peers[id]; ps != nil {
		ps.nexts--
		e.tracked--
	}
}

// dropFetchLocked forgets the fetch of key.
func (e *Engine) dropFetchLocked(key entryKey, f *fetch) {
	for len(f.next) > 0 {
		e.removeNextLocked(f, len(f.next)-1)
	}
	delete(e.inflight, key)
}

// waitsFor reports whether f is waiting for id to have room.
func (f *fetch) waitsFor(id session.Key) (int, bool) {
	if !f.waiting() {
		return 0, false
	}
	for i, x := range f.next {
		if x == id {
			return i, true
		}
	}
	return 0, false
}

// compactWaitingLocked drops the stale keys of ps.waiting (peer id).
func (e *Engine) compactWaitingLocked(ps *peerState, id session.Key) {
	kept := ps.waiting[:0]
	for _, k := range ps.waiting {
		if f := e.inflight[k]; f != nil {
			if _, ok := f.waitsFor(id); ok {
				kept = append(kept, k)
			}
		}
	}
	clear(ps.waiting[len(kept):])
	ps.waiting = kept
}

// takeWaitingLocked asks peer id, whose state is ps, for the items that wait for it, as
// many as its room for requests allows, and returns their entries for the caller to
// request.
func (e *Engine) takeWaitingLocked(ps *peerState, id session.Key, now time.Time) []*pb.InventoryEntry {
	var out []*pb.InventoryEntry
	for len(ps.waiting) > 0 && ps.inFlight() < e.cfg.MaxInFlightPerPeer {
		key := ps.waiting[0]
		ps.waiting = ps.waiting[1:]
		f := e.inflight[key]
		if f == nil {
			continue
		}
		i, ok := f.waitsFor(id)
		if !ok {
			continue
		}
		e.removeNextLocked(f, i)
		e.askLocked(f, id, ps, now)
		out = append(out, f.entry())
	}
	if len(ps.waiting) == 0 {
		ps.waiting = nil
	}
	return out
}

// removePeerLocked forgets peer id, whose last session ended: the items it owes, and its
// places in the fetches' next lists.
func (e *Engine) removePeerLocked(id session.Key) {
	ps := e.peers[id]
	if ps == nil {
		return
	}
	if ps.nexts > 0 {
		for _, f := range e.inflight {
			for i := len(f.next) - 1; i >= 0; i-- {
				if f.next[i] == id {
					e.removeNextLocked(f, i)
				}
			}
		}
	}
	e.clearOwedLocked(ps)
	delete(e.peers, id)
}
