package inventory

import (
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// fetch is an announced item the engine wants: asked from one peer, or waiting for an
// announcer with room for one more request (asked is then zero and next is not empty).
type fetch struct {
	key  entryKey
	kind protocol.Kind
	// asked is the peer the item was last requested from; zero when nobody was asked yet,
	// or when the session did not say who announced it.
	asked    session.Key
	deadline time.Time // when asked is late; zero while nobody was asked
	// next are the other peers that announced the item, to be asked in turn. Each
	// membership counts towards its peer's tracked entries (peers.go).
	next []session.Key
	// holders are every peer known to hold the item (a handful: the announcers); they
	// are not announced it again.
	holders []session.Key
}

// entry returns the inventory entry that names f's item. The fetch keeps no entry of
// the announcement it came from: the direct decoder allocates an announcement's entries
// together, so keeping one would keep them all.
func (f *fetch) entry() *pb.InventoryEntry {
	return Item{Kind: f.kind, Hash: f.key.hash, Epoch: f.key.index}.Entry()
}

// waiting reports whether nobody was asked for f's item yet.
func (f *fetch) waiting() bool { return f.asked.IsZero() && len(f.next) > 0 }

// Missing implements session.Inventory for a session that does not say who announced
// the entries: it returns the entries that are neither held nor already requested, and
// marks them requested.
func (e *Engine) Missing(entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	out, _ := e.missing(nil, entries, 0)
	return out
}

// MissingFrom implements session.AnnouncedBy: it returns the entries of an announcement
// by from to request from it, at most maxBlocks block entries (0: no limit), and records
// exactly those as requested from and owed by from. Later announcers of the same items
// are asked in turn if it does not deliver, and a peer that announced an item is never
// announced it back. Announced entries are tracked within the bounds of Config
// (MaxInFlightPerPeer, MaxAnnouncedPerPeer, MaxTrackedBytes): an entry beyond the peer's
// in-flight bound waits to be requested from it as it delivers; one beyond its
// announcement bound is ignored, and the announcement then returns
// session.OffenceAnnouncementOverflow for the session to score.
func (e *Engine) MissingFrom(from *session.Session, entries []*pb.InventoryEntry, maxBlocks int) ([]*pb.InventoryEntry, session.Offence) {
	if from == nil { // a nil *Session must not become a non-nil conn
		return e.missing(nil, entries, maxBlocks)
	}
	return e.missing(from, entries, maxBlocks)
}

func (e *Engine) missing(from conn, entries []*pb.InventoryEntry, maxBlocks int) ([]*pb.InventoryEntry, session.Offence) {
	var id session.Key
	if from != nil {
		id = from.Key()
	}
	e.stats.announcedIn.Add(uint64(len(entries)))
	// Entries unknown in memory are looked up on disk before the engine lock is taken: a
	// bbolt read can wait for the writer's commit to remap the file, and the relay must
	// not wait for the disk.
	keys := make([]entryKey, len(entries))
	kinds := make([]protocol.Kind, len(entries))
	var unknown []entryKey
	e.mu.Lock()
	for i, en := range entries {
		key, kind, ok := keyOfEntry(en)
		if !ok {
			kind = protocol.KindNone
		}
		keys[i], kinds[i] = key, kind
		if ok && e.inflight[key] == nil && !e.seen.has(key) && e.unwritten[key] == nil {
			unknown = append(unknown, key)
		}
	}
	e.mu.Unlock()
	onDisk := e.onDiskAll(unknown)
	now := e.clock.Now()
	var (
		out      []*pb.InventoryEntry
		blocks   int
		overflow bool
	)
	e.mu.Lock()
	defer e.mu.Unlock()
	var ps *peerState
	if !id.IsZero() {
		ps = e.peerLocked(id)
	}
	for i, en := range entries {
		key, kind := keys[i], kinds[i]
		if kind == protocol.KindNone {
			continue
		}
		if kind == protocol.KindBlock && maxBlocks > 0 && blocks == maxBlocks {
			continue // neither requested nor recorded: the block batch is full
		}
		f := e.inflight[key]
		if f == nil && (e.seen.has(key) || e.unwritten[key] != nil || onDisk[key]) {
			// An entry that was in flight during the first pass and got delivered since
			// is in seen now; onDisk only answers for entries that were unknown then.
			e.stats.dupAnnouncements.Add(1)
			continue
		}
		if ps == nil { // no announcer to track: ask whoever calls
			if f != nil {
				e.stats.dupAnnouncements.Add(1)
				continue
			}
			e.inflight[key] = &fetch{key: key, kind: kind, deadline: now.Add(e.cfg.RequestTimeout)}
			out = append(out, en)
			continue
		}
		if f != nil {
			if !containsID(f.holders, id) && len(f.holders) < maxHolders {
				f.holders = append(f.holders, id)
			}
			if id == f.asked || containsID(f.next, id) {
				e.stats.dupAnnouncements.Add(1)
				continue
			}
		}
		if !e.canTrackLocked(ps) {
			overflow = overflow || ps.tracked() >= e.cfg.MaxAnnouncedPerPeer
			e.stats.announcedIgnored.Add(1)
			continue
		}
		known := f != nil
		if f == nil {
			f = &fetch{key: key, kind: kind, holders: []session.Key{id}}
			e.inflight[key] = f
		}
		// Ask this peer now if nobody is asked (or the asked peer is late) and it has room
		// for another request; else it waits its turn.
		if (f.asked.IsZero() || !now.Before(f.deadline)) && ps.inFlight() < e.cfg.MaxInFlightPerPeer {
			e.askLocked(f, id, ps, now)
			out = append(out, en)
			if kind == protocol.KindBlock {
				blocks++
			}
			continue
		}
		if known {
			e.stats.dupAnnouncements.Add(1)
		}
		e.addNextLocked(f, id, ps)
	}
	e.stats.requestedOut.Add(uint64(len(out)))
	if overflow {
		e.stats.announcementOverflows.Add(1)
		return out, session.OffenceAnnouncementOverflow
	}
	return out, session.OffenceNone
}

// maxHolders bounds the peers remembered as holding one item being fetched.
const maxHolders = 16

func containsID(ids []session.Key, id session.Key) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// askLocked records that f's item is requested from id now (its request is the caller's
// to send).
func (e *Engine) askLocked(f *fetch, id session.Key, ps *peerState, now time.Time) {
	f.asked, f.deadline = id, now.Add(e.cfg.RequestTimeout)
	e.oweLocked(ps, f.key, now)
}

// armSweep schedules the next sweep; e.mu must be held.
func (e *Engine) armSweep() {
	if e.closed {
		return
	}
	every := max(e.cfg.RequestTimeout/2, 10*time.Millisecond)
	e.sweep = e.clock.AfterFunc(every, e.sweepOnce)
}

// sweepOnce asks the next announcer with room for every item whose asked peer is late or
// that nobody was asked for yet, forgets items nobody else announced, and ices and drops
// peers that owe an item for longer than the blocks timeout.
func (e *Engine) sweepOnce() {
	now := e.clock.Now()
	requests := make(map[conn][]*pb.InventoryEntry)
	var late []conn
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	for key, f := range e.inflight {
		if !f.asked.IsZero() && now.Before(f.deadline) {
			continue
		}
		c, ps := e.nextAnnouncerLocked(f)
		if c == nil {
			if len(f.next) == 0 {
				e.dropFetchLocked(key, f)
			}
			continue
		}
		e.askLocked(f, c.Key(), ps, now)
		requests[c] = append(requests[c], f.entry())
	}
	for id, ps := range e.peers {
		for _, since := range ps.owed {
			if now.Sub(since) >= e.cfg.BlocksTimeout {
				if c := e.connOfLocked(id); c != nil {
					late = append(late, c)
				}
				e.clearOwedLocked(ps)
				break
			}
		}
	}
	e.armSweep()
	e.mu.Unlock()

	for c, entries := range requests {
		e.request(c, entries)
	}
	for _, c := range late {
		log.Infow("peer did not deliver announced items in time; icing it", "peer", c.Peer(), "timeout", e.cfg.BlocksTimeout)
		e.stats.iced.Add(1)
		if e.cfg.Ice != nil {
			e.cfg.Ice(c.Peer())
		}
		c.Close(ErrNotDelivered)
	}
}

// nextAnnouncerLocked takes from f.next the first peer that still has a session and room
// for another request, and returns that session and the peer's state. Peers without a
// session are forgotten; peers without room stay for a later sweep. It returns a nil conn
// when no announcer can be asked now.
func (e *Engine) nextAnnouncerLocked(f *fetch) (conn, *peerState) {
	for i := 0; i < len(f.next); {
		id := f.next[i]
		c := e.connOfLocked(id)
		if c == nil {
			e.removeNextLocked(f, i)
			continue
		}
		ps := e.peerLocked(id)
		if ps.inFlight() >= e.cfg.MaxInFlightPerPeer {
			i++
			continue
		}
		e.removeNextLocked(f, i)
		return c, ps
	}
	return nil, nil
}

// request sends c InventoryRequests for entries, split at the protocol's entry limit.
func (e *Engine) request(c conn, entries []*pb.InventoryEntry) {
	for len(entries) > 0 {
		n := min(len(entries), protocol.MaxInventoryEntries)
		m, err := protocol.NewInventoryRequest(e.cfg.Magic, entries[:n])
		if err == nil {
			err = c.Send(m)
		}
		if err == nil {
			e.stats.requestedOut.Add(uint64(n))
		}
		entries = entries[n:]
	}
}
