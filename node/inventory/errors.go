package inventory

import (
	"errors"
	"fmt"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// Sentinel errors of the inventory package.
var (
	// ErrNotFound is returned when the store holds no item for a hash or index.
	ErrNotFound = errors.New("inventory: item not found")
	// ErrClosed is returned by an Engine or Store used after Close.
	ErrClosed = errors.New("inventory: closed")
	// ErrNotDelivered closes a session whose peer announced items, was asked for them and
	// did not deliver them within the blocks timeout.
	ErrNotDelivered = errors.New("inventory: announced items not delivered within the blocks timeout")
)

// ItemError reports an item refused before it reached the store: it did not decode, it was
// not of an inventory kind, or it was larger than the configured limit. Such an item is
// never stored and never gossiped.
type ItemError struct {
	Kind   protocol.Kind // the kind the item claimed to be (KindNone if unknown)
	Reason string        // short machine-friendly reason: "undecodable", "wrong kind", "oversized", "empty", "superblock votes full"
	Err    error         // the underlying error, if any
}

// Error implements error.
func (e *ItemError) Error() string {
	s := fmt.Sprintf("inventory: bad %s item: %s", kindLabel(e.Kind), e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ItemError) Unwrap() error { return e.Err }

// Reasons carried by ItemError.Reason.
const (
	ReasonUndecodable = "undecodable"
	ReasonWrongKind   = "wrong kind"
	ReasonOversized   = "oversized"
	ReasonEmpty       = "empty"
	ReasonVotesFull   = "superblock votes full"
)
