package session

import (
	"sync"
	"sync/atomic"
)

// DefaultNodeSendBytes is the default bound of a node's SendBudget: the bytes all its
// sessions together hold queued for their peers before serving requests pauses.
const DefaultNodeSendBytes = 64 << 20

// SendBudget bounds the bytes that all the sessions of a node hold in their send queues
// (Config.SendBudget). Each session bounds its own queue (Budgets.SendQueueBytes) and
// serves requested items only while its queue holds less than Budgets.ServeQueueBytes;
// the SendBudget adds a node-wide bound on top: while the sessions together hold more
// than it allows, they serve no more requested items (they wait for other sessions'
// writes to drain), so many peers asking at once cannot make the node hold more than
// about this much. The node's own messages (gossip, replies) are counted but never held
// back: each session's bounds limit them. A SendBudget is safe for concurrent use; share
// one per node.
type SendBudget struct {
	limit   int64
	used    atomic.Int64
	waiting atomic.Bool // a session waits for freed (checked by release without the lock)

	mu    sync.Mutex
	freed chan struct{} // closed when bytes are released while sessions wait; then replaced
}

// NewSendBudget returns a budget of limit bytes, or nil (no node-wide bound) when limit
// is not positive.
func NewSendBudget(limit int) *SendBudget {
	if limit <= 0 {
		return nil
	}
	return &SendBudget{limit: int64(limit)}
}

// Queued returns the bytes the sessions hold queued now.
func (b *SendBudget) Queued() int64 {
	if b == nil {
		return 0
	}
	return b.used.Load()
}

// Limit returns the budget's bound in bytes.
func (b *SendBudget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

func (b *SendBudget) add(n int) {
	if b != nil && n != 0 {
		b.used.Add(int64(n))
	}
}

// release gives n bytes back, waking the sessions that wait for room.
func (b *SendBudget) release(n int) {
	if b == nil || n == 0 {
		return
	}
	if b.used.Add(-int64(n)) >= b.limit || !b.waiting.Load() {
		return
	}
	b.mu.Lock()
	if b.freed != nil {
		close(b.freed)
		b.freed = nil
	}
	b.waiting.Store(false)
	b.mu.Unlock()
}

// full returns nil while the sessions hold less than the limit, else a channel that is
// closed once some bytes are released.
func (b *SendBudget) full() <-chan struct{} {
	if b == nil || b.used.Load() < b.limit {
		return nil
	}
	b.mu.Lock()
	if b.freed == nil {
		b.freed = make(chan struct{})
	}
	ch := b.freed
	b.waiting.Store(true)
	b.mu.Unlock()
	// A release between the first check and waiting being set did not see the waiter.
	if b.used.Load() < b.limit {
		return nil
	}
	return ch
}
