package session

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/witnet-p2p/witnet-p2p/codec"
)

// Node-wide receive budget defaults (NewReceiveBudget).
const (
	// DefaultNodeMessageRate is how many messages per second all consolidated sessions of
	// a node together are served: a sixth of what two cores decode and dispatch (about
	// 300 000 LastBeacons per second, RELIABILITY.md), and far above what the Witnet
	// network sends a healthy peer.
	DefaultNodeMessageRate = 50_000
	// DefaultNodeByteRate is how many received frame bytes per second all consolidated
	// sessions together are served: enough for block download at full speed.
	DefaultNodeByteRate = 64 << 20
	// receiveBurst is how far ahead of the budget's pace the sessions may run, so that a
	// quiet node serves a burst at once.
	receiveBurst = 100 * time.Millisecond
)

// ReceiveBudget is a budget of received messages and bytes shared by every consolidated
// session of a node (Config.ReceiveBudget). Each session's own budgets stop one peer from
// flooding; they do not stop many peers from flooding together, each within its budget,
// until the node spends all its CPU on them and new peers time out in the handshake.
// With a ReceiveBudget, a consolidated session waits for its share before it reads the
// next frame: the peer's writes then back up in the stream's flow control instead of in
// our CPU. Sessions still in the handshake never wait, so new peers get in.
//
// Sessions are served in the order they ask, one message at a time, so every busy peer
// gets about the same share and a quiet peer waits at most about one message per busy
// peer. A ReceiveBudget is safe for concurrent use; share one per node.
type ReceiveBudget struct {
	msgCost, byteCost float64 // nanoseconds of the budget's timeline per message and per byte
	burst             int64   // nanoseconds the timeline may run ahead of now without a wait

	mu   sync.Mutex
	next int64 // when, in Unix nanoseconds, the budget is paid up: the theoretical arrival time

	delayed   atomic.Uint64 // frames whose session had to wait
	delayedNs atomic.Int64  // total time they waited
}

// NewReceiveBudget returns a budget of messageRate messages and byteRate frame bytes per
// second: a message costs 1/messageRate seconds of the budget plus its size/byteRate, so
// small messages are bounded by the first rate and large ones by the second. A rate <= 0
// drops that term. It returns nil (no budget) when both rates are <= 0.
func NewReceiveBudget(messageRate, byteRate float64) *ReceiveBudget {
	if messageRate <= 0 && byteRate <= 0 {
		return nil
	}
	b := &ReceiveBudget{burst: int64(receiveBurst)}
	if messageRate > 0 {
		b.msgCost = float64(time.Second) / messageRate
	}
	if byteRate > 0 {
		b.byteCost = float64(time.Second) / byteRate
	}
	return b
}

// Delayed returns how many frames waited for the budget so far, and how long in total:
// a budget that never delays anything is idle.
func (b *ReceiveBudget) Delayed() (frames uint64, total time.Duration) {
	return b.delayed.Load(), time.Duration(b.delayedNs.Load())
}

// reserve charges one message of size bytes at now and returns how long its session
// must wait before handling it (0: at once).
func (b *ReceiveBudget) reserve(now time.Time, size int) time.Duration {
	cost := int64(b.msgCost + b.byteCost*float64(size))
	t := now.UnixNano()
	b.mu.Lock()
	next := max(b.next, t) + cost
	b.next = next
	b.mu.Unlock()
	if wait := next - t - b.burst; wait > 0 {
		return time.Duration(wait)
	}
	return 0
}

// awaitBudget makes a consolidated session wait for the receive budget's share of a
// frame with size payload bytes, before handling it. It reports whether it waited (the
// caller's notion of now is then stale) and, as ok, whether the session is still running.
// The budget paces on the real clock, whatever Config.Clock is: it is a rate, not a
// protocol timeout.
func (s *Session) awaitBudget(size int) (waited, ok bool) {
	b := s.cfg.ReceiveBudget
	if b == nil || s.Status() != Consolidated {
		return false, true
	}
	d := b.reserve(time.Now(), codec.HeaderSize+size)
	if d <= 0 {
		return false, true
	}
	b.delayed.Add(1)
	b.delayedNs.Add(int64(d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true, true
	case <-s.closing:
		return true, false
	}
}
