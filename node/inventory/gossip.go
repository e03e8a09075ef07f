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

// maxFullPushesPerFlush is the most items the flusher pushes to one session that takes
// them only in full (a witnet-rust peer, see relayInFull) at a time. They cannot be
// announced instead, so beyond it they are dropped for that session (counted in
// Stats.RelayDropped): a quarter of the send queue's messages, so that a burst never ends
// the session as a slow peer.
const maxFullPushesPerFlush = session.DefaultSendQueueSize / 4

// outbound is an item queued for one session by gossip: announced, or, when push is
// set, sent in full (see sendQueued). full says the session takes it only in full.
type outbound struct {
	entry *pb.InventoryEntry
	push  *pb.Message // the item's message when it may be pushed; nil: announce only
	full  bool        // push, never announce (relayInFull)
}

// relayInFull reports whether c relays as witnet-rust does, which decides how it gets
// items (PROTOCOL.md 7.5): a witnet-rust node requests only the Block entries of an
// announcement, and spreads transactions, block candidates and superblock votes by
// sending them whole. So a plain-TCP session gets those three pushed in full, blocks the
// engine fetched announced, and superblocks not at all (a witnet-rust node asks for a
// superblock only while it synchronizes, by request).
func relayInFull(c conn) bool { return c.Peer().Transport == session.TransportTCP }

// relayFor returns what c gets of an item of kind k named by entry; candidate marks a
// block nobody asked for (a candidate), msg is the item's message when it may be pushed
// to a libp2p session and whole is the item's message (nil if unknown). ok is false when
// c gets nothing.
func relayFor(c conn, k protocol.Kind, entry *pb.InventoryEntry, candidate bool, msg, whole *pb.Message) (outbound, bool) {
	if !relayInFull(c) {
		return outbound{entry: entry, push: msg}, true
	}
	switch {
	case whole != nil && (k == protocol.KindTransaction || k == protocol.KindBlock && candidate):
		return outbound{entry: entry, push: whole, full: true}, true
	case k == protocol.KindBlock:
		return outbound{entry: entry}, true
	}
	return outbound{}, false
}

// gossip hands it (of size encoded bytes) to every session not in skip, as relayFor says
// for that session: announced, or pushed in full when origin is set (the node's own
// item, which no neighbour can hold) and it is small. Both are queued for the flusher. A
// vote, which no entry can name, is pushed at once from the caller's goroutine.
// candidate marks a block nobody asked for.
func (e *Engine) gossip(it Item, key entryKey, cmd *pb.Message_Command, size int, skip []session.Key, origin, candidate bool) {
	entry := it.Entry()
	var msg, whole *pb.Message
	if cmd != nil {
		whole = &pb.Message{Magic: uint32(e.cfg.Magic), Kind: cmd}
		if entry == nil || origin && len(it.Raw) <= e.cfg.PushMaxSize {
			msg = whole
		}
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
			if o, ok := relayFor(c, it.Kind, entry, candidate, msg, whole); ok {
				e.pending[c] = append(e.pending[c], o)
			}
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
// flooded. Items c takes only in full are pushed, at most maxFullPushesPerFlush of them.
// All announcements go in one InventoryAnnouncement (split at the entry limit).
func (e *Engine) sendQueued(c conn, queued []outbound) {
	pushes, full := 0, 0
	for _, o := range queued {
		if o.push != nil && !o.full {
			pushes++
		}
	}
	entries := make([]*pb.InventoryEntry, 0, len(queued))
	for _, o := range queued {
		switch {
		case o.full && full >= maxFullPushesPerFlush:
			e.stats.relayDropped.Add(1)
			log.Debugw("item not pushed: too many for one flush", "peer", c.Peer(), "transport", c.Peer().Transport, "bound", maxFullPushesPerFlush)
			continue
		case o.full:
			full++
		case o.push == nil || pushes > maxPushesPerFlush:
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
