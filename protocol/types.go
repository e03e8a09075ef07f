package protocol

import (
	"encoding/hex"
	"fmt"
)

// Network constants that every Witnet node puts on the wire.
const (
	// Magic is the network id carried by every Message (hard-coded to 10700 by witnet-rust
	// for every environment).
	Magic uint16 = 10700
	// HandshakeVersion is the value of Version.version; it is sent but never negotiated.
	HandshakeVersion uint32 = 1
	// Capabilities is the value of Version.capabilities.
	Capabilities uint64 = 1
	// SoftwareVersion is this implementation's version, sent in the user agent.
	SoftwareVersion = "0.1.0"
)

// UserAgent is the Version.user_agent this implementation sends.
func UserAgent() string { return "witnet-p2p " + SoftwareVersion }

// HashSize is the size of every Witnet hash (SHA-256).
const HashSize = 32

// Hash is a SHA-256 digest: block hashes, transaction hashes, superblock hashes, merkle
// roots. It prints as 64 lowercase hex characters in byte order (no reversal).
type Hash [HashSize]byte

// String returns the hash as 64 lowercase hex characters.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether every byte of h is zero.
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash parses 64 hex characters into a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("protocol: hash must be %d hex characters, got %d", 2*HashSize, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("protocol: hash is not hex: %w", err)
	}
	return h, nil
}

// HashFromBytes copies a 32-byte slice into a Hash.
func HashFromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != HashSize {
		return h, fmt.Errorf("protocol: hash must be %d bytes, got %d", HashSize, len(b))
	}
	copy(h[:], b)
	return h, nil
}

// Kind names the command a Message carries. The values are the field numbers of the
// Message.Command oneof, so KindNone (0) means "no command".
type Kind uint8

// Command kinds, numbered as on the wire.
const (
	KindNone Kind = iota
	KindVersion
	KindVerack
	KindGetPeers
	KindPeers
	KindBlock
	KindInventoryAnnouncement
	KindInventoryRequest
	KindLastBeacon
	KindTransaction
	KindSuperBlockVote
	KindSuperBlock

	// NumKinds is one more than the largest kind, for arrays indexed by Kind.
	NumKinds
)

var kindNames = [NumKinds]string{
	"None", "Version", "Verack", "GetPeers", "Peers", "Block", "InventoryAnnouncement",
	"InventoryRequest", "LastBeacon", "Transaction", "SuperBlockVote", "SuperBlock",
}

// String returns the command's name as in the schema (e.g. "InventoryAnnouncement").
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}
