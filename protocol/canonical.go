package protocol

import (
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Canonical encoding (PROTOCOL.md section 2). witnet-rust builds its protobuf structs from
// Rust values, so every singular sub-message is present (rule 3), a set oneof member is
// written even when empty (rule 4), an absent Option<T> is written as T's default
// (rule 7) and nothing unknown survives. Go's generated code already writes fields in
// field-number order, so making those four things true of the Go value is enough for
// proto.Marshal to produce witnet-rust's bytes.

// canonicalMarshal is the one set of marshal options used for canonical bytes. Deterministic
// only matters for maps (the schema has none); it is set so that no future field changes
// that silently.
var canonicalMarshal = proto.MarshalOptions{Deterministic: true}

// errNotCanonical is returned by a read-only walk at the first spot that needs fixing.
var errNotCanonical = errors.New("protocol: message is not in canonical form")

// Canonicalize rewrites m in place into the form witnet-rust encodes: every unset singular
// message field (and every nil element of a repeated message field) becomes an empty
// message, unknown fields are dropped at every level, and an absent stake change output
// becomes the default output (20-zero-byte PKH, value 0, time lock 0). Unset oneofs stay
// unset; a set oneof member holding a nil message gets an empty one. After Canonicalize,
// a deterministic proto.Marshal of m gives the bytes witnet-rust writes for the same value.
// A nil m is left alone.
func Canonicalize(m proto.Message) {
	if m == nil {
		return
	}
	if r := m.ProtoReflect(); r.IsValid() {
		_ = walk(r, canonFix, false) // cannot fail without rules
	}
}

// CanonicalBytes returns the canonical encoding of m (see Canonicalize) without touching
// m: a value that is already canonical is marshalled as it is, anything else is copied
// first. A nil m (or a typed nil) encodes as the canonical empty message of its type.
func CanonicalBytes(m proto.Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("protocol: CanonicalBytes of a nil message")
	}
	c, err := canonicalForm(m.ProtoReflect(), false)
	if err != nil {
		return nil, err
	}
	return canonicalMarshal.Marshal(c.Interface())
}

// canonicalForm returns m itself when it is already canonical, else a canonical copy; with
// rules it also checks the decode rules on the way and returns the first *violation.
func canonicalForm(m protoreflect.Message, rules bool) (protoreflect.Message, error) {
	if m.IsValid() {
		err := walk(m, canonCheck, rules)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, errNotCanonical) {
			return nil, err
		}
	}
	c := cloneForCanonical(m)
	if err := walk(c, canonFix, rules); err != nil {
		return nil, err
	}
	return c, nil
}

// fixMessage makes m itself (not its children) canonical: it drops unknown fields and
// writes a stake body's absent change output as the default output. Without fix it changes
// nothing and reports errNotCanonical where it would.
func fixMessage(m protoreflect.Message, fix bool) error {
	if len(m.GetUnknown()) != 0 {
		if !fix {
			return errNotCanonical
		}
		m.SetUnknown(nil)
	}
	if sb, ok := m.Interface().(*pb.StakeTransactionBody); ok && stakeChangeAbsent(sb.GetChange()) {
		if !fix {
			return errNotCanonical
		}
		sb.Change = defaultValueTransferOutput()
	}
	return nil
}

// stakeChangeAbsent reports whether a stake body's change output stands for Rust's None:
// no message at all, or one with no PKH bytes and zero amounts. (A present change always
// has a 20-byte PKH, so nothing meaningful is lost.)
func stakeChangeAbsent(c *pb.ValueTransferOutput) bool {
	return c == nil || (len(c.GetPkh().GetHash()) == 0 && c.GetValue() == 0 && c.GetTimeLock() == 0)
}

// defaultValueTransferOutput is witnet-rust's ValueTransferOutput::default(): zero PKH,
// zero value, zero time lock. It encodes as 0a 16 0a 14 followed by 20 zero bytes.
func defaultValueTransferOutput() *pb.ValueTransferOutput {
	return &pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{Hash: make([]byte, pkhLen)}}
}

// cloneForCanonical returns a deep copy of m to canonicalize, or a new empty message of
// m's type when m is nil. proto.Clone turns nil elements of repeated fields and nil
// members of set oneofs into empty messages, as proto.Marshal encodes them.
func cloneForCanonical(m protoreflect.Message) protoreflect.Message {
	if !m.IsValid() {
		return m.Type().New()
	}
	return proto.Clone(m.Interface()).ProtoReflect()
}
