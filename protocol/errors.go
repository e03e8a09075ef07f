package protocol

import (
	"errors"
	"fmt"
)

// Sentinel errors of package protocol. Decode failures are always a *DecodeError, which
// matches ErrDecode with errors.Is and unwraps to the more specific sentinel when there is one.
var (
	// ErrDecode matches every *DecodeError: the payload is not a valid Message and the peer
	// that sent it is to be iced (PROTOCOL.md 7.3).
	ErrDecode = errors.New("protocol: message does not decode")
	// ErrTooManyPeers is wrapped by a DecodeError for a Peers command listing more than
	// MaxPeersPerMessage addresses.
	ErrTooManyPeers = errors.New("protocol: too many peers in one message")
	// ErrTooManyEntries is wrapped by a DecodeError (and returned by the inventory builders)
	// for an inventory list longer than MaxInventoryEntries.
	ErrTooManyEntries = errors.New("protocol: too many inventory entries in one message")
	// ErrEmptyInventory is returned by NewInventoryAnnouncement and NewInventoryRequest for an
	// empty list: witnet-rust never sends one, and neither do we.
	ErrEmptyInventory = errors.New("protocol: empty inventory list")
	// ErrInvalidEntry is returned by the inventory builders for a nil entry or an entry whose
	// kind is not set.
	ErrInvalidEntry = errors.New("protocol: invalid inventory entry")
	// ErrNoCommand is returned by Marshal for a nil Message or a Message without a command:
	// no peer would accept its bytes.
	ErrNoCommand = errors.New("protocol: message has no command")
	// ErrUserAgentTooLong is wrapped by a DecodeError for a Version whose user_agent is
	// longer than MaxUserAgentLength bytes.
	ErrUserAgentTooLong = errors.New("protocol: user agent too long")
	// ErrInvalidAddress matches every *AddressError.
	ErrInvalidAddress = errors.New("protocol: invalid address")
)

// DecodeReason classifies a decode failure. Its String form is short and stable, so it can
// label a metric.
type DecodeReason uint8

// Decode failure reasons, one per rule of PROTOCOL.md section 2 plus the local limits.
const (
	// ReasonEmpty: the payload has no bytes.
	ReasonEmpty DecodeReason = iota + 1
	// ReasonMalformed: the bytes are not a protobuf Message.
	ReasonMalformed
	// ReasonMagic: magic does not fit in 16 bits.
	ReasonMagic
	// ReasonOneofUnset: a oneof that must be set (command, transaction kind, inventory
	// entry kind, signature kind, hash kind) is not.
	ReasonOneofUnset
	// ReasonHashLength: a Hash is not exactly 32 bytes.
	ReasonHashLength
	// ReasonPKHLength: a PublicKeyHash is not exactly 20 bytes.
	ReasonPKHLength
	// ReasonPublicKeyLength: a PublicKey is not exactly 33 bytes.
	ReasonPublicKeyLength
	// ReasonAddress: an Address is neither 6 nor 18 bytes nor a multiaddr ending in /p2p/<id>.
	ReasonAddress
	// ReasonWitnesses: DataRequestOutput.witnesses does not fit in 16 bits.
	ReasonWitnesses
	// ReasonEnum: an enum holds a value the schema does not declare (RADType above 4).
	ReasonEnum
	// ReasonTooManyPeers: a Peers command is longer than MaxPeersPerMessage.
	ReasonTooManyPeers
	// ReasonTooManyEntries: an inventory command is longer than MaxInventoryEntries.
	ReasonTooManyEntries
	// ReasonUserAgentLength: a Version's user_agent is longer than MaxUserAgentLength.
	ReasonUserAgentLength
)

var decodeReasonNames = [...]string{
	ReasonEmpty:           "empty",
	ReasonMalformed:       "malformed",
	ReasonMagic:           "magic",
	ReasonOneofUnset:      "oneof_unset",
	ReasonHashLength:      "hash_length",
	ReasonPKHLength:       "pkh_length",
	ReasonPublicKeyLength: "public_key_length",
	ReasonAddress:         "address",
	ReasonWitnesses:       "witnesses",
	ReasonEnum:            "enum",
	ReasonTooManyPeers:    "too_many_peers",
	ReasonTooManyEntries:  "too_many_entries",
	ReasonUserAgentLength: "user_agent_length",
}

// String returns the reason as a short snake_case word.
func (r DecodeReason) String() string {
	if int(r) < len(decodeReasonNames) && decodeReasonNames[r] != "" {
		return decodeReasonNames[r]
	}
	return fmt.Sprintf("DecodeReason(%d)", uint8(r))
}

// DecodeError reports why a payload was rejected. Field is the path of the offending field
// from the Message root, in schema names (e.g. "kind.Peers.peers[2].address"); it is empty
// when the failure is not about one field.
type DecodeError struct {
	Reason DecodeReason
	Field  string
	// Detail says what was found, e.g. "31 bytes".
	Detail string
	// Err is the underlying error (protobuf parse error, *AddressError, or a sentinel such
	// as ErrTooManyPeers), or nil.
	Err error
}

// Error describes the failure in one line.
func (e *DecodeError) Error() string {
	s := "protocol: decode: " + e.Reason.String()
	if e.Field != "" {
		s += " at " + e.Field
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrDecode) true for every *DecodeError.
func (e *DecodeError) Is(target error) bool { return target == ErrDecode }

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// AddressError reports an Address.address value that is not one of the accepted forms.
type AddressError struct {
	// Len is the length of the rejected value in bytes.
	Len int
	// Reason says which rule failed.
	Reason string
	// Err is the underlying multiaddr or peer ID error, if any.
	Err error
}

// Error describes the failure in one line.
func (e *AddressError) Error() string {
	s := fmt.Sprintf("protocol: invalid address (%d bytes): %s", e.Len, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is makes errors.Is(err, ErrInvalidAddress) true for every *AddressError.
func (e *AddressError) Is(target error) bool { return target == ErrInvalidAddress }

// Unwrap returns the underlying error.
func (e *AddressError) Unwrap() error { return e.Err }
