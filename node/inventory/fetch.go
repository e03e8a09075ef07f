package inventory

import (
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// fetch is an announced item we asked one peer for.
type fetch struct {
	entry    *pb.InventoryEntry
	kind     protocol.Kind
	asked    session.Key // zero when the session did not say who announced it
	deadline time.Time
	// next are the other peers that announced the item, to be asked in turn.
	next []session.Key
	// holders are every peer known to hold the item (a handful: the announcers); they
	// are not announced it again.
	holders []session.Key
}

// Missing implements session.Inventory for a session that does not say who announced
// the entries: it returns the entries that are neither held nor already requested, and
// marks them requested.
func (e *Engine) Missing(entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	return e.missing(nil, entries)
}

// MissingFrom is Missing for entries announced by from: from is the peer asked for them,
// later announcers of the same items are asked in turn if it does not deliver, and a
// peer that announced an item is never announced it back.
func (e *Engine) MissingFrom(from *session.Session, entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	if from == nil { // a nil *Session must not become a non-nil conn
		return e.missing(nil, entries)
	}
	return e.missing(from, entries)
}

func (e *Engine) missing(from conn, entries []*pb.InventoryEntry) []*pb.InventoryEntry {
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
	var out []*pb.InventoryEntry
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, en := range entries {
		key, kind := keys[i], kinds[i]
		if kind == protocol.KindNone {
			continue
		}
		if f := e.inflight[key]; f != nil {
			if !id.IsZero() && !containsID(f.holders, id) {
				f.holders = append(f.holders, id)
			}
			if id.IsZero() || id == f.asked || containsID(f.next, id) {
				e.stats.dupAnnouncements.Add(1)
				continue
			}
			if now.Before(f.deadline) {
				f.next = append(f.next, id)
				e.stats.dupAnnouncements.Add(1)
				continue
			}
			// The asked peer is late: ask this one now.
			f.asked, f.deadline = id, now.Add(e.cfg.RequestTimeout)
			e.oweLocked(id, key, now)
			out = append(out, en)
			continue
		}
		// An entry that was in flight during the first pass and got delivered since is in
		// seen now; onDisk only answers for entries that were unknown then.
		if e.seen.has(key) || e.unwritten[key] != nil || onDisk[key] {
			e.stats.dupAnnouncements.Add(1)
			continue
		}
		f := &fetch{entry: en, kind: kind, asked: id, deadline: now.Add(e.cfg.RequestTimeout)}
		if !id.IsZero() {
			f.holders = []session.Key{id}
			e.oweLocked(id, key, now)
		}
		e.inflight[key] = f
		out = append(out, en)
	}
	e.stats.requestedOut.Add(uint64(len(out)))
	return out
}

func containsID(ids []session.Key, id session.Key) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (e *Engine) oweLocked(id session.Key, key entryKey, now time.Time) {
	m := e.owed[id]
	if m == nil {
		m = make(map[entryKey]time.Time)
		e.owed[id] = m
	}
	if _, ok := m[key]; !ok {
		m[key] = now
	}
}

// armSweep schedules the next sweep; e.mu must be held.
func (e *Engine) armSweep() {
	if e.closed {
		return
	}
	every := max(e.cfg.RequestTimeout/2, 10*time.Millisecond)
	e.sweep = e.clock.AfterFunc(every, e.sweepOnce)
}

// sweepOnce asks the next announcer for every item whose asked peer is late, forgets
// items nobody else announced, and ices and drops peers that owe an item for longer than
// the blocks timeout.
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
		if now.Before(f.deadline) {
			continue
		}
		var next conn
		for len(f.next) > 0 && next == nil {
			next = e.connOfLocked(f.next[0])
			f.next = f.next[1:]
		}
		if next == nil {
			delete(e.inflight, key)
			continue
		}
		f.asked, f.deadline = next.Key(), now.Add(e.cfg.RequestTimeout)
		e.oweLocked(next.Key(), key, now)
		requests[next] = append(requests[next], f.entry)
	}
	for id, items := range e.owed {
		for _, since := range items {
			if now.Sub(since) >= e.cfg.BlocksTimeout {
				if c := e.connOfLocked(id); c != nil {
					late = append(late, c)
				}
				delete(e.owed, id)
				break
			}
		}
	}
	e.armSweep()
	e.mu.Unlock()

	for c, entries := range requests {
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
	for _, c := range late {
		log.Infow("peer did not deliver announced items in time; icing it", "peer", c.Peer(), "timeout", e.cfg.BlocksTimeout)
		e.stats.iced.Add(1)
		if e.cfg.Ice != nil {
			e.cfg.Ice(c.Peer())
		}
		c.Close(ErrNotDelivered)
	}
}
