package inventory

import (
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// maxPushesPerFlush is the most items the flusher pushes to one session at a time; when
// more are queued for it (a burst), they are announced instead, so that a burst costs one
// body per node and few messages, and cannot overflow a send queue.
const maxPushesPerFlush = 8

// outbound is an item queued for one session by gossip: announced, or, when push is
// set, sent in full (see sendQueued).
type outbound struct {
	entry *pb.InventoryEntry
	push  *pb.Message // the item's message when it may be pushed; nil: announce only
}

// gossip hands it (of size encoded bytes) to every session not in skip: announced, or pushed in full when
// origin is set (the node's own item, which no neighbour can hold) and it is small. Both
// are queued for the flusher. A vote, which no entry can name, is pushed at once from
// the caller's goroutine.
func (e *Engine) gossip(it Item, key entryKey, cmd *pb.Message_Command, size int, skip []session.Key, origin bool) {
	entry := it.Entry()
	var msg *pb.Message
	if cmd != nil && (entry == nil || origin && len(it.Raw) <= e.cfg.PushMaxSize) {
		msg = &pb.Message{Magic: uint32(e.cfg.Magic), Kind: cmd}
	}
	e.mu.Lock()
	if cmd != nil {
		e.cache.put(key, cmd, size)
	}
	var targets []conn
	for c := range e.sessions {
		if !containsID(skip, c.Key()) {
			targets = append(targets, c)
		}
	}
	if entry != nil {
		for _, c := range targets {
			e.pending[c] = append(e.pending[c], outbound{entry: entry, push: msg})
		}
	}
	e.mu.Unlock()
	if entry != nil {
		select {
		case e.kick <- struct{}{}:
		default:
		}
		return
	}
	if msg == nil {
		var err error
		if cmd, err = it.Command(); err != nil {
			log.Warnw("cannot push item", "hash", it.Hash, "err", err)
			return
		}
		msg = &pb.Message{Magic: uint32(e.cfg.Magic), Kind: cmd}
	}
	for _, c := range targets {
		if c.SendInventoryItem(msg) == nil {
			e.stats.pushedOut.Add(1)
		}
	}
}

// flushLoop sends what gossip queued (see sendQueued), as soon as it is queued: under
// load, what is queued while the flusher is busy goes out together at its next round.
func (e *Engine) flushLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.kick:
		}
		e.mu.Lock()
		batch := e.pending
		e.pending = make(map[conn][]outbound, len(batch))
		e.mu.Unlock()
		for c, queued := range batch {
			e.sendQueued(c, queued)
		}
	}
}

// sendQueued sends c the items queued for it. Items marked for a push are pushed when at
// most maxPushesPerFlush are queued (the item costs one message and one trip instead of
// an announcement, a request and the item); beyond that (a burst) they are announced
// with the rest, so that each node still receives one body and c's send queue is not
// flooded. All announcements go in one InventoryAnnouncement (split at the entry limit).
func (e *Engine) sendQueued(c conn, queued []outbound) {
	pushes := 0
	for _, o := range queued {
		if o.push != nil {
			pushes++
		}
	}
	entries := make([]*pb.InventoryEntry, 0, len(queued))
	for _, o := range queued {
		if o.push == nil || pushes > maxPushesPerFlush {
			entries = append(entries, o.entry)
			continue
		}
		if err := c.SendInventoryItem(o.push); err != nil {
			log.Debugw("item not pushed", "peer", c.Peer(), "err", err)
		} else {
			e.stats.pushedOut.Add(1)
		}
	}
	for len(entries) > 0 {
		n := min(len(entries), protocol.MaxInventoryEntries)
		if err := c.AnnounceItems(entries[:n]); err != nil {
			log.Debugw("announcement not sent", "peer", c.Peer(), "err", err)
		} else {
			e.stats.announcedOut.Add(uint64(n))
			e.stats.announcementsOut.Add(1)
		}
		entries = entries[n:]
	}
}
