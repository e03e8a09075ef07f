package protocol

import (
	"errors"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Canonical encoding (WIRE.md section 2). witnet-rust builds its protobuf structs from
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
		_ = walkCanonical(r, true, false) // cannot fail without validation
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
// validate it also applies the item checks (validateItem) and returns their *ItemError.
func canonicalForm(m protoreflect.Message, validate bool) (protoreflect.Message, error) {
	if m.IsValid() {
		err := walkCanonical(m, false, validate)
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, errNotCanonical) {
			return nil, err
		}
	}
	c := cloneForCanonical(m)
	if err := walkCanonical(c, true, validate); err != nil {
		return nil, err
	}
	return c, nil
}

// walkCanonical visits m and everything below it. With fix it brings m into canonical
// form in place; without it, it only reports errNotCanonical at the first thing that
// would change. With validate it returns an *ItemError (its Field naming the path from m)
// for the first value witnet-rust could not represent.
func walkCanonical(m protoreflect.Message, fix, validate bool) error {
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
	if validate {
		if err := validateItem(m); err != nil {
			return err
		}
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil || !m.Has(fd) {
				continue
			}
			if err := walkMapValues(m, fd, fix, validate); err != nil {
				return err
			}
		case fd.Message() == nil:
			// Scalars, bytes and strings are written as proto3 writes them.
		case fd.IsList():
			// Has is false for an empty list; asking first saves allocating a reflection
			// view of every empty list.
			if !m.Has(fd) {
				continue
			}
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				elem := list.Get(j).Message()
				if !elem.IsValid() {
					if !fix {
						return errNotCanonical
					}
					mutable := m.Mutable(fd).List()
					fresh := mutable.NewElement()
					mutable.Set(j, fresh)
					elem = fresh.Message()
				}
				if err := walkCanonical(elem, fix, validate); err != nil {
					return prefixField(err, fd, j)
				}
			}
		default:
			if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && m.WhichOneof(od) != fd {
				continue // an unset oneof stays unset; validation reports it when it matters
			}
			sub := m.Get(fd).Message()
			if !sub.IsValid() {
				if !fix {
					return errNotCanonical
				}
				sub = m.Mutable(fd).Message()
			}
			if err := walkCanonical(sub, fix, validate); err != nil {
				return prefixField(err, fd, -1)
			}
		}
	}
	return nil
}

// walkMapValues applies walkCanonical to the message values of a map field. The Witnet
// schema has no maps; this keeps Canonicalize correct for any message it is given.
func walkMapValues(m protoreflect.Message, fd protoreflect.FieldDescriptor, fix, validate bool) error {
	var err error
	mp := m.Get(fd).Map()
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		sub := v.Message()
		if !sub.IsValid() {
			if !fix {
				err = errNotCanonical
				return false
			}
			mutable := m.Mutable(fd).Map()
			fresh := mutable.NewValue()
			mutable.Set(k, fresh)
			sub = fresh.Message()
		}
		if err = walkCanonical(sub, fix, validate); err != nil {
			err = prefixField(err, fd, -1)
			return false
		}
		return true
	})
	return err
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
	return &pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{Hash: make([]byte, itemPKHLen)}}
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
