package peers

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
)

var (
	// ErrNoIPAddr means an entry has no multiaddr made of an IPv4 or IPv6 address followed
	// by a TCP or UDP port, so it cannot be placed in the tables (their index functions
	// need an IP address and a port).
	ErrNoIPAddr = errors.New("peers: no IP multiaddr with a TCP or UDP port")

	// ErrNoPeerID means a multiaddr given to AddrFromP2P does not end in /p2p/<peer id>.
	ErrNoPeerID = errors.New("peers: multiaddr has no /p2p/<peer id> component")

	// ErrInvalidPeerID means an entry's peer ID is empty or not a valid multihash.
	ErrInvalidPeerID = errors.New("peers: invalid peer ID")

	// ErrMalformedRecord means a stored record could not be decoded. Open logs and skips
	// such records; the error only shows up in logs.
	ErrMalformedRecord = errors.New("peers: malformed stored record")

	// ErrNotSelf means a peer announced, as its own, an address of another peer (another
	// peer ID, or for a legacy peer another IP than its connection's).
	ErrNotSelf = errors.New("peers: self-announced address names another peer")

	// ErrAddedFull means the operator-added table holds Config.MaxAdded entries already.
	ErrAddedFull = errors.New("peers: operator-added table is full")

	// ErrUnsupportedSchema means the database was written by a newer, incompatible
	// version of this package.
	ErrUnsupportedSchema = errors.New("peers: unsupported stored schema version")
)

// AddrError reports why one entry was refused. Err is one of the sentinels above
// (ErrNoIPAddr, ErrNoPeerID, ErrInvalidPeerID, ErrNotSelf), so callers can use errors.Is.
type AddrError struct {
	// ID is the entry's peer ID (may be empty when the ID itself was the problem, and
	// for a legacy entry).
	ID peer.ID
	// Legacy is a legacy entry's IP:port.
	Legacy netip.AddrPort
	// Err is the reason.
	Err error
}

// Error implements error.
func (e *AddrError) Error() string {
	switch {
	case e.ID != "":
		return fmt.Sprintf("%v (peer %s)", e.Err, e.ID)
	case e.Legacy.IsValid():
		return fmt.Sprintf("%v (peer %s)", e.Err, e.Legacy)
	}
	return e.Err.Error()
}

// Unwrap returns the reason, for errors.Is and errors.As.
func (e *AddrError) Unwrap() error { return e.Err }
