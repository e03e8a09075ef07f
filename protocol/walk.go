package protocol

import (
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// One traversal of any protobuf value serves the checks and rewrites of this package:
// Canonicalize and CanonicalBytes (the canonical form, PROTOCOL.md section 2) and the item
// hashes (canonical form and decode rules in one pass, reported as an *ItemError). It is
// also the reference for the decode rules: Validate, which runs on every received
// message, applies the same rules with typed code (rules.go), and the tests hold the two
// to the same verdict, reported as a *DecodeError.

// canonMode says what a walk does about canonical form.
type canonMode uint8

const (
	// canonIgnore leaves the form alone. Validate uses it: a decoded value may lack
	// sub-messages, and an absent one is checked as an empty one.
	canonIgnore canonMode = iota
	// canonCheck stops with errNotCanonical at the first spot canonFix would change.
	canonCheck
	// canonFix brings the value into canonical form in place.
	canonFix
)

// walk visits m and everything below it, depth first in field-number order. canon says what
// it does about canonical form. With rules it also checks every message against the decode
// rules (checkRules) and every enum against its declared values, and stops at the first
// one broken with a *violation whose path leads from m to the value at fault. m may be an
// unset (read-only, empty) message unless canon is canonFix.
func walk(m protoreflect.Message, canon canonMode, rules bool) error {
	if canon != canonIgnore {
		if err := fixMessage(m, canon == canonFix); err != nil {
			return err
		}
	}
	if rules {
		v, done := checkRules(m)
		if v != nil {
			return v
		}
		if done && canon == canonIgnore {
			return nil
		}
	}
	// A walk that changes nothing and checks nothing about form only looks for broken
	// rules, which rule-free subtrees cannot hold.
	skipFree := canon == canonIgnore
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil || !m.Has(fd) {
				continue
			}
			if err := walkMapValues(m, fd, canon, rules); err != nil {
				return err
			}
		case fd.Enum() != nil:
			if rules {
				if v := checkEnum(m, fd); v != nil {
					return v
				}
			}
		case fd.Message() == nil:
			// Scalars, bytes and strings carry no rule and are written as proto3 writes them.
		case fd.IsList():
			// Has is false for an empty list; asking first saves allocating a reflection
			// view of every empty list.
			if !m.Has(fd) || skipFree && ruleFree[fd.Message()] {
				continue
			}
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				elem := list.Get(j).Message()
				if !elem.IsValid() && canon != canonIgnore {
					if canon == canonCheck {
						return errNotCanonical
					}
					mutable := m.Mutable(fd).List()
					fresh := mutable.NewElement()
					mutable.Set(j, fresh)
					elem = fresh.Message()
				}
				if err := walk(elem, canon, rules); err != nil {
					return within(err, fd, j)
				}
			}
		default:
			if od := fd.ContainingOneof(); od != nil && !od.IsSynthetic() && m.WhichOneof(od) != fd {
				continue // an unset oneof stays unset; checkRules reports it when rules apply
			}
			if skipFree && ruleFree[fd.Message()] {
				continue
			}
			sub := m.Get(fd).Message()
			if !sub.IsValid() && canon != canonIgnore {
				if canon == canonCheck {
					return errNotCanonical
				}
				sub = m.Mutable(fd).Message()
			}
			if err := walk(sub, canon, rules); err != nil {
				return within(err, fd, -1)
			}
		}
	}
	return nil
}

// walkMapValues walks the message values of a map field. The Witnet schema has no maps;
// this keeps Canonicalize correct for any message it is given.
func walkMapValues(m protoreflect.Message, fd protoreflect.FieldDescriptor, canon canonMode, rules bool) error {
	var err error
	mp := m.Get(fd).Map()
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		sub := v.Message()
		if !sub.IsValid() && canon != canonIgnore {
			if canon == canonCheck {
				err = errNotCanonical
				return false
			}
			mutable := m.Mutable(fd).Map()
			fresh := mutable.NewValue()
			mutable.Set(k, fresh)
			sub = fresh.Message()
		}
		if err = walk(sub, canon, rules); err != nil {
			err = within(err, fd, -1)
			return false
		}
		return true
	})
	return err
}

// violation is the first decode rule a walk found broken. It is built where the rule
// fails, and each level of the walk adds its field to path on the way back up, so a valid
// value costs no path bookkeeping at all.
type violation struct {
	reason DecodeReason
	// path holds the fields from the walk's root down to the message at fault, innermost
	// first.
	path []pathElem
	// at is the field or oneof at fault inside that message.
	at pathElem
	// whole is set when the message at fault is itself the bad value (a Hash,
	// PublicKeyHash, PublicKey or Address, whose only field is at): an *ItemError names
	// the message, a *DecodeError the field inside it.
	whole bool
	// detail says what was found, e.g. "hash is 31 bytes, want 32".
	detail string
	// err is the underlying error (an *AddressError), or nil.
	err error
}

// pathElem is one step of a field path; index is -1 for a singular field.
type pathElem struct {
	name  protoreflect.Name
	index int
}

// within records, on the way up, that err happened inside field fd (its element idx when
// idx >= 0). Errors other than a *violation pass through.
func within(err error, fd protoreflect.FieldDescriptor, idx int) error {
	if v, ok := err.(*violation); ok {
		v.path = append(v.path, pathElem{name: fd.Name(), index: idx})
	}
	return err
}

// field renders the path of the value at fault from the walk's root, prefixed by prefix
// (when not empty) and ending in v.at unless v.whole and item.
func (v *violation) field(prefix string, item bool) string {
	var sb strings.Builder
	elem := func(p pathElem) {
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(string(p.name))
		if p.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(p.index))
			sb.WriteByte(']')
		}
	}
	sb.WriteString(prefix)
	for i := len(v.path) - 1; i >= 0; i-- {
		elem(v.path[i])
	}
	if !v.whole || !item {
		elem(v.at)
	}
	return sb.String()
}

// decodeError is v as Validate reports it, its Field the path from the Message root.
func (v *violation) decodeError() *DecodeError {
	return &DecodeError{Reason: v.reason, Field: v.field("", false), Detail: v.detail, Err: v.err}
}

// itemError is v as the item hashes report it: item names what was hashed and prefix the
// walked value's own field inside it ("" when the walk started at the item).
func (v *violation) itemError(item, prefix string) *ItemError {
	reason := v.detail
	if v.err != nil {
		if reason != "" {
			reason += ": "
		}
		reason += v.err.Error()
	}
	return &ItemError{Item: item, Field: v.field(prefix, true), Reason: reason}
}

// Error implements error, so that a violation can travel up the walk; callers turn it into
// a *DecodeError or an *ItemError before it leaves the package.
func (v *violation) Error() string { return v.decodeError().Error() }
