package session

import (
	"sync"
	"sync/atomic"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Serving InventoryRequests (PROTOCOL.md 7.5) within bounds, as Bitcoin Core serves getdata
// only while the peer's send buffer is under a byte limit: requested items are queued
// only while the send queue holds fewer than Budgets.ServeQueueBytes (and the node's
// SendBudget has room); the rest of a request waits in the session's serve backlog and is
// served by the writer as it drains the queue. A peer that reads slowly, however steadily,
// then holds at most about ServeQueueBytes of our memory, and one whose backlog grows
// beyond Budgets.MaxServeBacklog entries is dropped (OffenceServeBacklog). The reader
// serves what fits at once, so a small request costs no hand-over; it never waits for the
// writer, so a peer that asks for much while we ask it for much cannot deadlock the two
// sessions.

// wantedItem is one entry of a request waiting in the backlog, kept apart from the
// decoded request so that the request's memory can go.
type wantedItem struct {
	hash  protocol.Hash
	index uint32
	kind  protocol.Kind
}

func (w wantedItem) entry() *pb.InventoryEntry {
	switch w.kind {
	case protocol.KindBlock:
		return protocol.BlockEntry(w.hash)
	case protocol.KindTransaction:
		return protocol.TxEntry(w.hash)
	}
	return protocol.SuperBlockEntry(w.index)
}

// wantedOf compacts entries for the backlog; an entry without a kind (protocol.Unmarshal
// refuses those) is kept as a superblock entry the inventory will not hold, which ends the
// request there as any missing item does.
func wantedOf(entries []*pb.InventoryEntry) []wantedItem {
	out := make([]wantedItem, len(entries))
	for i, e := range entries {
		switch k := e.GetKind().(type) {
		case *pb.InventoryEntry_Block:
			out[i].kind = protocol.KindBlock
			copy(out[i].hash[:], k.Block.GetSHA256())
		case *pb.InventoryEntry_Tx:
			out[i].kind = protocol.KindTransaction
			copy(out[i].hash[:], k.Tx.GetSHA256())
		case *pb.InventoryEntry_SuperBlock:
			out[i].kind, out[i].index = protocol.KindSuperBlock, k.SuperBlock
		default:
			out[i].kind, out[i].index = protocol.KindSuperBlock, ^uint32(0)
		}
	}
	return out
}

// serveJob is one request being served: its entries (the decoded request's while the
// reader serves it at once, compact ones once it waits), the next one to serve, and the
// votes that follow it when it served a block of our beacon epoch.
type serveJob struct {
	entries []*pb.InventoryEntry
	items   []wantedItem
	next    int
	beacon  bool                 // a block of the beacon epoch was served: votes follow
	votes   []*pb.SuperBlockVote // the votes still to send, once the entries are done
}

func (j *serveJob) len() int { return len(j.entries) + len(j.items) }

func (j *serveJob) at(i int) *pb.InventoryEntry {
	if j.entries != nil {
		return j.entries[i]
	}
	return j.items[i].entry()
}

// compact replaces the decoded entries still to serve by compact ones.
func (j *serveJob) compact() {
	if j.entries == nil {
		return
	}
	j.items = wantedOf(j.entries[j.next:])
	j.entries, j.next = nil, 0
}

// serving is a session's serve backlog. The reader adds requests; the reader and the
// writer serve them, one at a time (mu).
type serving struct {
	mu      sync.Mutex
	jobs    []serveJob
	backlog int         // entries of jobs not served yet
	pending atomic.Bool // jobs is not empty: the writer serves after each write
}

// serveRequest starts serving a request (on the reader): what fits now is queued at once,
// the rest waits in the backlog for the writer. A backlog beyond MaxServeBacklog entries
// is an offence that ends the session.
func (s *Session) serveRequest(r *pb.InventoryRequest) error {
	entries := r.GetInventory()
	if len(entries) == 0 {
		return nil
	}
	sv := &s.serving
	sv.mu.Lock()
	sv.jobs = append(sv.jobs, serveJob{entries: entries})
	sv.backlog += len(entries)
	var err error
	if len(sv.jobs) == 1 {
		_, err = s.serveLocked()
	}
	if len(sv.jobs) > 0 {
		// Whatever is left waits: keep no decoded request, and tell the writer.
		sv.jobs[len(sv.jobs)-1].compact()
		sv.pending.Store(true)
	}
	over := sv.backlog > s.cfg.MaxServeBacklog
	backlog := sv.backlog
	sv.mu.Unlock()
	if err != nil {
		return err
	}
	if over {
		s.log.Infow("inventory request refused: request backlog too long", "backlog", backlog, "limit", s.cfg.MaxServeBacklog)
		return s.offend(s.cfg.Clock.Now(), OffenceServeBacklog)
	}
	if sv.pending.Load() {
		s.queue.signalWake()
	}
	return nil
}

// serve serves the backlog as far as the bounds allow now (on the writer). It returns a
// channel to wait on when the node's SendBudget is full (nil otherwise), and the error
// that ends the session, if any.
func (s *Session) serve() (<-chan struct{}, error) {
	sv := &s.serving
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return s.serveLocked()
}

// serveLocked queues requested items, in request order, while the session's queue and
// the node's budget have room: a request stops at the first item the inventory does not
// hold (PROTOCOL.md 7.5), and one that served a block of our beacon epoch at the session's
// creation is followed by the superblock votes we hold. sv.mu is held.
func (s *Session) serveLocked() (<-chan struct{}, error) {
	sv := &s.serving
	for len(sv.jobs) > 0 {
		select {
		case <-s.closing:
			return nil, nil
		default:
		}
		if !s.queue.roomToServe(s.cfg.ServeQueueBytes) {
			return nil, nil // the writer serves again once it has written
		}
		if wait := s.cfg.SendBudget.full(); wait != nil {
			return wait, nil
		}
		j := &sv.jobs[0]
		switch {
		case j.next < j.len():
			e := j.at(j.next)
			cmd, ok := s.cfg.Inventory.Item(e)
			if !ok {
				if rest := j.len() - j.next; rest > 1 {
					s.log.Debugw("inventory request: item not held, rest skipped", "skipped", rest)
				}
				sv.backlog -= j.len() - j.next
				j.next = j.len()
				continue
			}
			m := &pb.Message{Magic: uint32(s.cfg.Magic), Kind: cmd}
			queued, err := s.queue.offer(m, protocol.KindOf(m), s.cfg.MaxFrameSize)
			if err != nil {
				return nil, withCause(ReasonEncode, err)
			}
			if !queued {
				return nil, nil // the node's own messages took the room; next time
			}
			j.next++
			sv.backlog--
			if b := cmd.GetBlock(); b != nil && blockEpoch(b) == s.blocks.beaconEpoch {
				j.beacon = true
			}
		case j.beacon:
			j.beacon = false
			j.votes = s.votesToSend()
		case len(j.votes) > 0:
			m := &pb.Message{Magic: uint32(s.cfg.Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_SuperBlockVote{SuperBlockVote: j.votes[0]}}}
			queued, err := s.queue.offer(m, protocol.KindSuperBlockVote, s.cfg.MaxFrameSize)
			if err != nil {
				return nil, withCause(ReasonEncode, err)
			}
			if !queued {
				return nil, nil
			}
			j.votes[0] = nil
			j.votes = j.votes[1:]
		default:
			// Shift rather than reslice, so that the slice keeps its room: a session that
			// serves one request at a time allocates its job list once.
			n := copy(sv.jobs, sv.jobs[1:])
			sv.jobs[n] = serveJob{}
			sv.jobs = sv.jobs[:n]
		}
	}
	sv.pending.Store(false)
	return nil, nil
}

// dropBacklog forgets what is left to serve when the session ends.
func (s *Session) dropBacklog() {
	sv := &s.serving
	sv.mu.Lock()
	clear(sv.jobs)
	sv.jobs, sv.backlog = sv.jobs[:0], 0
	sv.pending.Store(false)
	sv.mu.Unlock()
}
