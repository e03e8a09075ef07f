package node

import "errors"

// Sentinel errors. The data directory's (a locked directory, a bad identity key) are
// datadir's.
var (
	// ErrClosed: the node has been closed.
	ErrClosed = errors.New("node: closed")
)
