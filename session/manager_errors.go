package session

import (
	"errors"
	"fmt"
)

// Errors of the sessions manager's bookkeeping (PROTOCOL.md section 8.2). Register,
// Consolidate and SetConsensus wrap them with the peer and direction; test with errors.Is.
var (
	// ErrMaxPeersReached: the collection the session would enter is at its limit. It is
	// checked before every other condition, as in witnet-rust.
	ErrMaxPeersReached = errors.New("session manager: max peers reached")
	// ErrAddressAlreadyRegistered: the peer already has a registered session in that
	// direction (at most one per peer and direction).
	ErrAddressAlreadyRegistered = errors.New("session manager: peer already registered")
	// ErrAddressNotFound: the session is not in the collection the operation needs (for
	// Consolidate: the unconsolidated collection of its direction).
	ErrAddressNotFound = errors.New("session manager: peer not registered")
	// ErrNotOutboundConsolidated: SetConsensus named a peer that has no consolidated
	// Outbound session.
	ErrNotOutboundConsolidated = errors.New("session manager: not an outbound consolidated peer")
	// ErrNotExpectedFeeler: a Feeler session was handed to a collection operation;
	// feelers are never registered.
	ErrNotExpectedFeeler = errors.New("session manager: feeler sessions are not registered")
	// ErrNoSessions: Anycast found no session to send to.
	ErrNoSessions = errors.New("session manager: no eligible session")
	// ErrManagerClosed: the manager was closed; it registers nothing more.
	ErrManagerClosed = errors.New("session manager: closed")
	// ErrPeerIced: an inbound session of a peer that is iced (ManagerConfig.Iced).
	ErrPeerIced = errors.New("session manager: peer is iced")
	// ErrSameRange is the sentinel matched by a *SameRangeError.
	ErrSameRange = errors.New("session manager: an inbound session in the same network range is already registered")
)

// SameRangeError refuses an inbound session whose remote IP lies in a network range
// (PROTOCOL.md 8.3) that already holds a registered inbound session. witnet-rust declares this
// error (AddressInSameRangeAlreadyRegistered) but only drops the connection; here Register
// returns it when two connections of one range race past the connection gater.
type SameRangeError struct {
	// Range is the network range both peers share.
	Range Range
}

// Error names the shared range.
func (e *SameRangeError) Error() string {
	return fmt.Sprintf("%v: %v", ErrSameRange, e.Range)
}

// Is matches ErrSameRange.
func (e *SameRangeError) Is(target error) bool { return target == ErrSameRange }
