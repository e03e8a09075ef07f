package node

import "fmt"

// WithSendBudget bounds the bytes all sessions together hold queued for their peers
// (session.SendBudget): while they hold that much, no session serves more requested items
// until the peers read (the node's own messages still go out, within each session's
// bounds, see session.Budgets.SendQueueBytes). 0 turns the node-wide bound off; each
// session's own bounds still apply. Default: session.DefaultNodeSendBytes (64 MiB).
func WithSendBudget(bytes int) Option {
	return func(c *config) error {
		if bytes < 0 {
			return fmt.Errorf("node: send budget %d bytes must not be negative", bytes)
		}
		c.sendBytes = bytes
		return nil
	}
}
