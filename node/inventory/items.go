package inventory

import (
	"fmt"
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Received implements session.Inventory: an item that arrived on a consolidated session.
// A new item is accepted, announced to every other session (pushed, for a vote) and
// committed to the store by the engine's writer; an item already known is dropped. An
// item nobody asked the peer for (pushed, not owed, or undecodable) is charged to the
// peer's budget of unsolicited bytes and to the node's: beyond the peer's, the item is
// dropped and the session scores session.OffenceUnsolicitedBudget; beyond the node's, it
// is dropped. Such an item is otherwise accepted, as witnet-rust accepts pushed
// transactions and block candidates, except that an unsolicited block (a candidate) is
// relayed from memory and never stored, and a vote whose superblock index already has
// StoreConfig.MaxVotesPerIndex votes is dropped.
func (e *Engine) Received(from *session.Session, m *pb.Message) session.Offence {
	return e.received(from, m)
}

func (e *Engine) received(from conn, m *pb.Message) session.Offence {
	e.stats.received.Add(1)
	id := from.Key()
	now := e.clock.Now()
	// Only the key now: the writer computes the canonical encoding (Item.Raw) later.
	it, size, err := e.cfg.Decoder.identify(m)
	if err != nil {
		e.stats.invalid.Add(1)
		log.Debugw("dropping invalid item", "peer", id, "err", err)
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.chargeUnsolicitedLocked(e.peerLocked(id), id, max(size, 1), now)
	}
	key := keyOfItem(it)
	skip := []session.Key{id}
	e.mu.Lock()
	// Solicited: the peer owes the item (asked for it, even if it is late), or a session
	// that does not name announcers asked for it.
	f := e.inflight[key]
	solicited := f != nil && f.asked.IsZero() && len(f.holders) == 0
	ps := e.peerLocked(id)
	solicited = e.deliveredLocked(ps, key) || solicited
	more := e.takeWaitingLocked(ps, id, now) // items waiting for room among its requests
	if !solicited {
		e.stats.unsolicited.Add(1)
		if o := e.chargeUnsolicitedLocked(ps, id, size, now); o != session.OffenceNone || !e.unsolicited.Take(now, float64(size)) {
			e.mu.Unlock()
			e.request(from, more)
			if o == session.OffenceNone {
				e.stats.unsolicitedDropped.Add(1)
			}
			return o
		}
	}
	if e.seen.has(key) {
		e.mu.Unlock()
		e.request(from, more)
		e.stats.duplicates.Add(1)
		return session.OffenceNone
	}
	if f != nil {
		for _, h := range f.holders {
			if h != id {
				skip = append(skip, h)
			}
		}
		e.dropFetchLocked(key, f)
	}
	// Mark the item seen at once, so copies arriving meanwhile on other sessions are
	// dropped and announcements of it are not answered.
	e.seen.add(key)
	e.mu.Unlock()
	e.request(from, more)
	// The seen set is memory-only, so an item stored before a restart is looked up on
	// disk; one we requested was looked up when it was announced.
	if f == nil && e.onDisk(key) {
		e.stats.duplicates.Add(1)
		return session.OffenceNone
	}
	if it.Kind == protocol.KindSuperBlockVote && !e.store.voteRoom(it.Epoch) {
		e.stats.votesRefused.Add(1)
		return session.OffenceNone
	}
	if !solicited && it.Kind == protocol.KindBlock {
		// A block candidate: relayed (and served) from memory, never stored, so that
		// blocks nobody asked for cannot fill the disk.
		e.newItemFrom(from)
		e.gossip(it, key, m.GetKind(), size, skip, false, true)
		return session.OffenceNone
	}
	if !e.accept(key, it, m.GetKind(), size, nil) {
		return session.OffenceNone
	}
	e.newItemFrom(from)
	if e.cfg.OnNew != nil {
		e.cfg.OnNew(it)
	}
	e.gossip(it, key, m.GetKind(), size, skip, false, false)
	return session.OffenceNone
}

// newItemFrom counts an item new to us and tells the session it came on (a
// session.Session records it: inbound eviction protects peers that relay new items).
func (e *Engine) newItemFrom(from conn) {
	e.stats.receivedNew.Add(1)
	if r, ok := from.(interface{ NewItemReceived() }); ok {
		r.NewItemReceived()
	}
}

// chargeUnsolicitedLocked charges size bytes the peer id (state ps) sent unasked to its
// budget, and returns the offence when it is exhausted.
func (e *Engine) chargeUnsolicitedLocked(ps *peerState, id session.Key, size int, now time.Time) session.Offence {
	if ps.unsolicited.Take(now, float64(size)) {
		return session.OffenceNone
	}
	e.stats.unsolicitedOverBudget.Add(1)
	log.Infow("peer sent too many unsolicited items", "peer", id, "bytes", size,
		"rate", e.cfg.UnsolicitedPeerRate, "burst", e.cfg.UnsolicitedPeerBurst)
	return session.OffenceUnsolicitedBudget
}

// Submit decodes raw as an item of kind k and, if it is new, gossips it to every
// consolidated session (pushed in full if small, see Config.PushMaxSize; else announced)
// and stores it. It returns once the item is committed, with the
// item and whether it was new. Bad items are refused with an *ItemError and neither
// stored nor gossiped.
func (e *Engine) Submit(k protocol.Kind, raw []byte) (Item, bool, error) {
	it, cmd, err := e.cfg.Decoder.Decode(k, raw)
	if err != nil {
		return Item{}, false, err
	}
	key := keyOfItem(it)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return Item{}, false, ErrClosed
	}
	if e.seen.has(key) {
		e.mu.Unlock()
		return it, false, nil
	}
	e.seen.add(key)
	var skip []session.Key
	f := e.inflight[key]
	if f != nil {
		skip = f.holders
		e.dropFetchLocked(key, f)
	}
	e.mu.Unlock()
	if e.onDisk(key) {
		return it, false, nil
	}
	if it.Kind == protocol.KindSuperBlockVote && !e.store.voteRoom(it.Epoch) {
		e.mu.Lock()
		e.seen.remove(key)
		e.mu.Unlock()
		return Item{}, false, &ItemError{Kind: k, Reason: ReasonVotesFull,
			Err: fmt.Errorf("superblock %d already has %d votes", it.Epoch, e.store.cfg.votesPerIndex())}
	}
	done := make(chan error, 1)
	if !e.accept(key, it, cmd, len(it.Raw), done) {
		return Item{}, false, ErrClosed
	}
	if e.cfg.OnNew != nil {
		e.cfg.OnNew(it)
	}
	// An item that peers announced to us is not ours alone: announce it, do not push.
	e.gossip(it, key, cmd, len(it.Raw), skip, f == nil, false)
	if err := <-done; err != nil {
		return Item{}, false, err
	}
	e.stats.submitted.Add(1)
	return it, true, nil
}

// Item implements session.Inventory: it returns the command carrying the item that en
// names, if the engine holds one of the entry's kind (in memory or in the store).
func (e *Engine) Item(en *pb.InventoryEntry) (*pb.Message_Command, bool) {
	e.stats.requestedIn.Add(1)
	key, kind, ok := keyOfEntry(en)
	if !ok {
		return nil, false
	}
	e.mu.Lock()
	cmd := e.cache.get(key)
	if w := e.unwritten[key]; cmd == nil && w != nil {
		cmd = w.cmd
	}
	e.mu.Unlock()
	if cmd != nil {
		// The cache is keyed like the store, by hash: a Tx entry must not get a block.
		if protocol.KindOf(&pb.Message{Kind: cmd}) != kind {
			return nil, false
		}
		return cmd, true
	}
	var (
		it  Item
		err error
	)
	if key.superblock {
		it, err = e.store.SuperBlock(key.index)
	} else {
		it, err = e.store.Get(key.hash)
	}
	if err != nil || it.Kind != kind {
		return nil, false
	}
	cmd, err = it.Command()
	if err != nil {
		log.Warnw("stored item does not decode", "hash", it.Hash, "kind", kindLabel(it.Kind), "err", err)
		return nil, false
	}
	e.mu.Lock()
	e.cache.put(key, cmd, len(it.Raw))
	e.mu.Unlock()
	return cmd, true
}

// Get returns the item with hash h, or ErrNotFound: an accepted item as soon as it is
// accepted, before its commit, then the stored one.
func (e *Engine) Get(h protocol.Hash) (Item, error) {
	e.mu.Lock()
	w := e.unwrittenHash[h]
	var it Item
	if w != nil {
		it = w.it
	}
	e.mu.Unlock()
	if w == nil {
		return e.store.Get(h)
	}
	if it.Raw == nil { // received from a peer, not encoded by the writer yet
		raw, err := e.cfg.Decoder.canonical(it.Kind, w.cmd)
		if err != nil {
			return Item{}, ErrNotFound
		}
		it.Raw = raw
	}
	return it, nil
}

// onDiskAll returns the keys the store holds among keys (nil if none), looked up in one
// read transaction.
func (e *Engine) onDiskAll(keys []entryKey) map[entryKey]bool {
	if len(keys) == 0 {
		return nil
	}
	held, err := e.store.hasKeys(keys)
	if err != nil {
		log.Warnw("cannot look up announced items; assuming they are not stored", "err", err)
	}
	return held
}

// onDisk reports whether the store holds the item key names.
func (e *Engine) onDisk(key entryKey) bool {
	if key.superblock {
		_, err := e.store.SuperBlock(key.index)
		return err == nil
	}
	ok, _ := e.store.Has(key.hash)
	return ok
}
