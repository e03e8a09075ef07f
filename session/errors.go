package session

import (
	"errors"
	"io"
	"strconv"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// Reason says why a session ended. It is an error, so Session.Err can return it directly
// (possibly wrapped with its cause: use errors.Is(err, ReasonX) or ReasonOf(err)).
type Reason uint8

// Disconnect reasons. Each comment says whether the session ices the peer's address when
// it ends for that reason (PROTOCOL.md section 7.3); Reason.Ices gives the same answer.
const (
	// ReasonNone is the zero value; no session ends with it.
	ReasonNone Reason = iota
	// ReasonLocalClose: Close was called (by the node or the manager). No ice.
	ReasonLocalClose
	// ReasonRemoteClosed: the peer closed the stream (clean EOF). No ice.
	ReasonRemoteClosed
	// ReasonConnection: reading or writing the stream failed. No ice.
	ReasonConnection
	// ReasonDecode: a frame was too large, truncated, or its payload did not decode as a
	// Message. Ice.
	ReasonDecode
	// ReasonBadMagic: a message carried another network's magic. Ice.
	ReasonBadMagic
	// ReasonTimestamp: the Version timestamp drifted more than allowed. Ice.
	ReasonTimestamp
	// ReasonBeacon: the peer's Version beacon is incompatible with ours (its block epoch is
	// in our future, its superblock is older than ours or forks from it). Ice.
	ReasonBeacon
	// ReasonBeaconSuperblockEpoch: the same superblock mismatch as ReasonBeacon, seen in a
	// superblock-update epoch (epoch a multiple of the superblock period), where it is
	// expected to be transient. No ice.
	ReasonBeaconSuperblockEpoch
	// ReasonHandshakeTimeout: the session did not consolidate in time. Ice only for an
	// Outbound session.
	ReasonHandshakeTimeout
	// ReasonSelfConnection: the peer's Version carried a nonce we sent: we are talking to
	// ourselves. No ice.
	ReasonSelfConnection
	// ReasonRegisterRefused: the manager refused to register the session (limit reached,
	// peer already registered). No ice.
	ReasonRegisterRefused
	// ReasonConsolidateRefused: the manager refused to consolidate the session. Ice.
	ReasonConsolidateRefused
	// ReasonUnsolicitedPeers: a Peers message arrived while no GetPeers of ours was
	// outstanding. Ice.
	ReasonUnsolicitedPeers
	// ReasonSlowPeer: the peer does not read: the send queue overflowed, or one write
	// blocked for Config.WriteTimeout. No ice.
	ReasonSlowPeer
	// ReasonFeelerDone: a Feeler completed its handshake and closed as planned. No ice.
	ReasonFeelerDone
	// ReasonEncode: a reply could not be encoded, or exceeded the frame limit (for
	// example an inventory item too large to serve). No ice.
	ReasonEncode
	// ReasonMisbehaviour: the peer's misbehaviour score reached the threshold (see
	// Offence; the cause is a *MisbehaviourError). Ice.
	ReasonMisbehaviour
	// ReasonEvicted: an inbound session made room for a newcomer when every inbound slot
	// was taken (see ManagerConfig.NoEviction). No ice.
	ReasonEvicted
	// ReasonConnectionClosed: the libp2p connection carrying the session closed under it
	// (the peer left, or the network dropped the connection) before the stream itself
	// ended. Not an error of the session's; no ice.
	ReasonConnectionClosed

	numReasons
)

var reasonNames = [numReasons]string{
	ReasonNone:                  "no reason",
	ReasonLocalClose:            "closed locally",
	ReasonRemoteClosed:          "closed by peer",
	ReasonConnection:            "connection error",
	ReasonDecode:                "undecodable message",
	ReasonBadMagic:              "wrong network magic",
	ReasonTimestamp:             "version timestamp out of range",
	ReasonBeacon:                "incompatible beacon",
	ReasonBeaconSuperblockEpoch: "incompatible beacon in a superblock-update epoch",
	ReasonHandshakeTimeout:      "handshake timeout",
	ReasonSelfConnection:        "connected to self",
	ReasonRegisterRefused:       "registration refused",
	ReasonConsolidateRefused:    "consolidation refused",
	ReasonUnsolicitedPeers:      "unsolicited peers message",
	ReasonSlowPeer:              "send queue full",
	ReasonFeelerDone:            "feeler done",
	ReasonEncode:                "message encoding failed",
	ReasonMisbehaviour:          "misbehaviour",
	ReasonConnectionClosed:      "connection closed",
	ReasonEvicted:               "evicted",
}

// reasonLabels are the reasons' metric label values: snake_case identifiers, stable
// across releases (dashboards and alerts select on them).
var reasonLabels = [numReasons]string{
	ReasonNone:                  "none",
	ReasonLocalClose:            "local_close",
	ReasonRemoteClosed:          "remote_close",
	ReasonConnection:            "connection_error",
	ReasonDecode:                "undecodable_message",
	ReasonBadMagic:              "wrong_magic",
	ReasonTimestamp:             "timestamp_out_of_range",
	ReasonBeacon:                "incompatible_beacon",
	ReasonBeaconSuperblockEpoch: "incompatible_beacon_superblock_epoch",
	ReasonHandshakeTimeout:      "handshake_timeout",
	ReasonSelfConnection:        "self_connection",
	ReasonRegisterRefused:       "registration_refused",
	ReasonConsolidateRefused:    "consolidation_refused",
	ReasonUnsolicitedPeers:      "unsolicited_peers",
	ReasonSlowPeer:              "slow_peer",
	ReasonFeelerDone:            "feeler_done",
	ReasonEncode:                "encode_failed",
	ReasonMisbehaviour:          "misbehaviour",
	ReasonConnectionClosed:      "connection_closed",
	ReasonEvicted:               "evicted",
}

// Reasons returns every reason a session can end with (all but ReasonNone), in order.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Label returns the reason as a metric label value: a snake_case identifier such as
// "feeler_done".
func (r Reason) Label() string {
	if r < numReasons && reasonLabels[r] != "" {
		return reasonLabels[r]
	}
	return "reason_" + strconv.FormatUint(uint64(r), 10)
}

// Error returns the reason's description.
func (r Reason) Error() string {
	if r < numReasons {
		return "session: " + reasonNames[r]
	}
	return "session: reason(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// String returns the reason's short description, for logs (Label is for metrics).
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason(" + strconv.FormatUint(uint64(r), 10) + ")"
}

// Ices reports whether a session of type t that ends for reason r ices the peer.
func (r Reason) Ices(t Type) bool {
	switch r {
	case ReasonDecode, ReasonBadMagic, ReasonTimestamp, ReasonBeacon,
		ReasonConsolidateRefused, ReasonUnsolicitedPeers, ReasonMisbehaviour:
		return true
	case ReasonHandshakeTimeout:
		return t == Outbound
	}
	return false
}

// closeError is a Reason with the error that caused it.
type closeError struct {
	reason Reason
	cause  error
}

func (e *closeError) Error() string { return e.reason.Error() + ": " + e.cause.Error() }
func (e *closeError) Unwrap() error { return e.cause }
func (e *closeError) Is(target error) bool {
	r, ok := target.(Reason)
	return ok && r == e.reason
}

// withCause wraps r with cause; a nil cause yields r itself.
func withCause(r Reason, cause error) error {
	if cause == nil {
		return r
	}
	return &closeError{reason: r, cause: cause}
}

// closedByPeer reports whether a stream error means the peer ended the session cleanly:
// the end of the stream, or the connection closed underneath it without an error (a TCP
// FIN seen by the muxer, a QUIC or muxer close with the "no error" code). A reset, a
// broken connection or a timeout is not clean.
func closedByPeer(err error) bool {
	if errors.Is(err, io.EOF) {
		return true
	}
	var ce *network.ConnError
	return errors.As(err, &ce) && ce.Remote && ce.ErrorCode == 0
}

// ReasonOf extracts the Reason from an error returned by Session.Err (or passed to
// Close). It returns ReasonNone for nil and ReasonLocalClose for errors carrying no
// Reason.
func ReasonOf(err error) Reason {
	if err == nil {
		return ReasonNone
	}
	var ce *closeError
	if errors.As(err, &ce) {
		return ce.reason
	}
	var r Reason
	if errors.As(err, &r) {
		return r
	}
	return ReasonLocalClose
}

// Sentinel errors returned by the Session's sending methods.
var (
	// ErrClosed is returned when sending on a session that has ended.
	ErrClosed = errors.New("session: closed")
	// ErrNotConsolidated is returned by the seed API (GetPeers, AnnounceItems, ...) before
	// the handshake completed: witnet peers ignore those messages in that state.
	ErrNotConsolidated = errors.New("session: not consolidated")
	// ErrEmptyInventory is returned by AnnounceItems given no entries (witnet-rust never
	// sends an empty announcement). It is protocol.ErrEmptyInventory, the error of the
	// inventory builders, under the name session's callers know.
	ErrEmptyInventory = protocol.ErrEmptyInventory
	// ErrNotItem is returned by SendInventoryItem for a message that is not a Block,
	// Transaction, SuperBlock or SuperBlockVote.
	ErrNotItem = errors.New("session: not an inventory item message")
)
