package inventory

import (
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// maxUnwritten and maxUnwrittenBytes bound the accepted items waiting for the writer, in
// items and in the heap they hold (decodedCost): beyond either, the goroutine accepting
// an item (a session's reader) waits for the writer to catch up, so a peer flooding us is
// slowed to the disk's pace instead of growing memory.
const (
	maxUnwritten      = 4096
	maxUnwrittenBytes = 64 << 20
)

// write is an accepted item waiting for the writer, or a barrier (barrier set, no item)
// whose done receives nil once every write queued before it is committed.
type write struct {
	key     entryKey
	it      Item
	cmd     *pb.Message_Command
	size    int // the item's encoded size
	barrier bool
	done    chan error // nil unless a caller waits for the commit
}

// accept queues a new item of size encoded bytes for the writer and serves it from memory until it is
// committed. done, if not nil, receives the commit's outcome. It reports false if the
// engine is closed (done then receives ErrClosed).
//
// The item is announced before its commit completes: a gossip hop then costs no disk
// flush, and a peer that requests it meanwhile is served from memory. Only Submit waits
// for the commit, so what the node acknowledges is durable. When more than maxUnwritten
// items wait for the writer, accept waits for it to catch up, so a peer flooding us is
// slowed to the disk's pace (its session's reader is the goroutine that waits) instead of
// growing memory.
func (e *Engine) accept(key entryKey, it Item, cmd *pb.Message_Command, size int, done chan error) bool {
	w := &write{key: key, it: it, cmd: cmd, size: size, done: done}
	e.mu.Lock()
	if e.closed {
		e.seen.remove(key)
		e.mu.Unlock()
		if done != nil {
			done <- ErrClosed
		}
		return false
	}
	e.unwritten[key] = w
	e.unwrittenHash[it.Hash] = w
	e.unwrittenCost += decodedCost(w.size)
	e.writes = append(e.writes, w)
	e.kickWriter()
	if done != nil {
		e.commitSoon()
	}
	for (len(e.unwritten) > maxUnwritten || e.unwrittenCost > maxUnwrittenBytes) && !e.closed {
		e.drained.Wait()
	}
	e.mu.Unlock()
	return true
}

// kickWriter wakes the writer goroutine.
func (e *Engine) kickWriter() {
	select {
	case e.writeKick <- struct{}{}:
	default:
	}
}

// commitSoon ends the writer's batching window: a caller waits for the commit.
func (e *Engine) commitSoon() {
	select {
	case e.commitNow <- struct{}{}:
	default:
	}
}

// flush returns once every item accepted before the call is committed (or failed to
// be), or at once if the engine is closed (Close commits what is queued).
func (e *Engine) flush() {
	done := make(chan error, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.writes = append(e.writes, &write{barrier: true, done: done})
	e.kickWriter()
	e.commitSoon()
	e.mu.Unlock()
	// Queued before Close: the writer's last round, on Close, passes the barrier.
	<-done
}

// writeLoop commits accepted items: everything queued since the last commit, and during
// the batching window (Config.CommitDelay) that the first of them opens, goes into one
// bbolt transaction, so a stream or a burst of items costs few disk flushes. A caller
// waiting for a commit (Submit, flush) closes the window at once. writeLoop is the only
// goroutine that commits. On Close it commits what is left.
func (e *Engine) writeLoop() {
	defer e.wg.Done()
	var window *time.Timer
	if e.cfg.CommitDelay > 0 {
		window = time.NewTimer(e.cfg.CommitDelay)
		window.Stop()
	}
	for {
		select {
		case <-e.ctx.Done():
			e.commitWrites()
			return
		case <-e.commitNow:
		case <-e.writeKick:
			if window != nil {
				window.Reset(e.cfg.CommitDelay)
				select {
				case <-window.C:
				case <-e.commitNow:
					window.Stop()
				case <-e.ctx.Done():
					window.Stop()
				}
			}
		}
		e.commitWrites()
	}
}

// commitWrites commits the queue, batch by batch, until it is empty. Only writeLoop
// calls it.
func (e *Engine) commitWrites() {
	for {
		e.mu.Lock()
		batch := e.writes
		e.writes = nil
		e.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		e.encode(batch)
		items := make([]Item, 0, len(batch))
		for _, w := range batch {
			if !w.barrier && w.it.Raw != nil {
				items = append(items, w.it)
			}
		}
		var (
			added []bool
			err   error
		)
		if len(items) > 0 {
			added, err = e.store.Put(items...)
		}
		e.mu.Lock()
		for _, w := range batch {
			if w.barrier {
				continue
			}
			if e.unwritten[w.key] == w {
				delete(e.unwritten, w.key)
				e.unwrittenCost -= decodedCost(w.size)
			}
			if e.unwrittenHash[w.it.Hash] == w {
				delete(e.unwrittenHash, w.it.Hash)
			}
			if err != nil {
				e.seen.remove(w.key) // let it be fetched again
			} else if w.cmd != nil {
				e.cache.put(w.key, w.cmd, w.size)
			}
		}
		e.drained.Broadcast()
		e.mu.Unlock()
		if err != nil {
			log.Errorw("cannot store items", "items", len(items), "err", err)
		}
		i := 0
		for _, w := range batch {
			if w.barrier {
				w.done <- nil
				continue
			}
			if w.it.Raw == nil { // did not encode (logged by encode)
				continue
			}
			if err == nil && added[i] {
				e.stats.stored[w.it.Kind].Add(1)
				if e.cfg.OnStored != nil {
					e.cfg.OnStored(w.it)
				}
			}
			i++
			if w.done != nil {
				w.done <- err
			}
		}
	}
}

// encode sets the canonical encoding (Item.Raw) of the batch's items received from peers,
// which the relay left out (see Decoder.identify). An item that does not encode, which
// only an item at its size limit can do, is left without one and is not stored. Only the
// writer calls it.
func (e *Engine) encode(batch []*write) {
	var raws map[*write][]byte
	for _, w := range batch {
		if w.barrier || w.it.Raw != nil {
			continue
		}
		raw, err := e.cfg.Decoder.canonical(w.it.Kind, w.cmd)
		if err != nil {
			e.stats.invalid.Add(1)
			log.Warnw("accepted item does not encode; not stored", "hash", w.it.Hash, "err", err)
			continue
		}
		if raws == nil {
			raws = make(map[*write][]byte)
		}
		raws[w] = raw
	}
	if raws == nil {
		return
	}
	e.mu.Lock() // Get and SuperBlockVotes read w.it under e.mu
	for w, raw := range raws {
		w.it.Raw = raw
	}
	e.mu.Unlock()
}
