package protocol

import (
	"errors"
	"fmt"
	"strings"
)

// ProtocolVersion is a Witnet protocol version. It matters on the wire only for block
// hashing (PROTOCOL.md 11.1): every version sends the same message schema. The zero value is
// V1_7, the original protocol, which is also what witnet-rust assumes when it knows nothing
// better.
type ProtocolVersion uint8

// Protocol versions in activation order.
const (
	// V1_7 is the original protocol: block headers are hashed in the legacy form with six
	// merkle roots.
	V1_7 ProtocolVersion = iota
	// V1_8 is the transitional protocol that enabled staking; headers carry eight roots.
	V1_8
	// V2_0 is Witnet 2.0 (20-second epochs).
	V2_0
	// V2_1 is declared by witnet-rust but has no activation epoch on any network yet.
	V2_1

	numProtocolVersions
)

// ErrUnknownProtocolVersion is returned (wrapped) for a protocol version this package does
// not know, whether parsed from text or passed as a value out of range.
var ErrUnknownProtocolVersion = errors.New("protocol: unknown protocol version")

var protocolVersionNames = [numProtocolVersions]string{"v1.7", "v1.8", "v2.0", "v2.1"}

// String returns the version as "v1.7", "v1.8", "v2.0" or "v2.1".
func (v ProtocolVersion) String() string {
	if v < numProtocolVersions {
		return protocolVersionNames[v]
	}
	return fmt.Sprintf("ProtocolVersion(%d)", uint8(v))
}

// Valid reports whether v is one of the known versions.
func (v ProtocolVersion) Valid() bool { return v < numProtocolVersions }

// ParseProtocolVersion parses a version written as "v1.7", "1.7" or "V1_7" (the
// witnet-rust and test-vector spelling); case and the separator ('.' or '_') do not matter.
func ParseProtocolVersion(s string) (ProtocolVersion, error) {
	norm := strings.TrimSpace(s)
	norm = strings.TrimPrefix(strings.TrimPrefix(norm, "v"), "V")
	norm = strings.ReplaceAll(norm, "_", ".")
	for v, name := range protocolVersionNames {
		if norm == name[1:] {
			return ProtocolVersion(v), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownProtocolVersion, s)
}

// MarshalText writes the version as String does, so configuration files and JSON carry
// "v2.0" rather than a number.
func (v ProtocolVersion) MarshalText() ([]byte, error) {
	if !v.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownProtocolVersion, uint8(v))
	}
	return []byte(v.String()), nil
}

// UnmarshalText accepts every form ParseProtocolVersion accepts.
func (v *ProtocolVersion) UnmarshalText(text []byte) error {
	parsed, err := ParseProtocolVersion(string(text))
	if err != nil {
		return err
	}
	*v = parsed
	return nil
}

// VersionActivations holds the first epoch of each protocol version after V1_7 on one
// network. Zero means the version is never activated. A version applies from its
// activation epoch inclusive, as in witnet-rust's versions map.
type VersionActivations struct {
	V1_8 uint32 // first epoch of V1.8 (staking), 0 = never
	V2_0 uint32 // first epoch of V2.0, 0 = never
	V2_1 uint32 // first epoch of V2.1, 0 = never
}

// Activation epochs of the public networks (PROTOCOL.md 7.7).
var (
	// MainnetActivations: V1.8 from epoch 3 048 960, V2.0 from epoch 3 108 950.
	MainnetActivations = VersionActivations{V1_8: 3_048_960, V2_0: 3_108_950}
	// TestnetActivations: V1.8 from epoch 15, V2.0 from epoch 60.
	TestnetActivations = VersionActivations{V1_8: 15, V2_0: 60}
)

// VersionAt returns the protocol version in force at epoch. Like witnet-rust's versions
// map, it picks the version whose activation epoch is the latest one not after epoch (a
// later version wins a tie); V1_7 applies when no activation has been reached.
func (a VersionActivations) VersionAt(epoch uint32) ProtocolVersion {
	version, from := V1_7, uint32(0)
	for _, act := range [...]struct {
		v     ProtocolVersion
		epoch uint32
	}{{V1_8, a.V1_8}, {V2_0, a.V2_0}, {V2_1, a.V2_1}} {
		if act.epoch != 0 && act.epoch <= epoch && act.epoch >= from {
			version, from = act.v, act.epoch
		}
	}
	return version
}
