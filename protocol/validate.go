package protocol

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Limits on repeated fields, checked before the protobuf parse allocates anything (see
// precheck) and again by Validate. witnet-rust has no such limits; these are set well above
// anything it sends, so only a hostile or broken peer reaches them.
const (
	// MaxPeersPerMessage bounds a Peers command. witnet-rust answers GetPeers with its whole
	// tried bucket, which has 4096 slots (WIRE.md 9.1); twice that leaves room for a larger
	// address book on our side while keeping one message under ~0.5 MB of multiaddrs.
	MaxPeersPerMessage = 8192
	// MaxInventoryEntries bounds an InventoryAnnouncement or InventoryRequest. witnet-rust
	// announces at most 500 blocks (MAX_BLOCKS_SYNC) and requests a prefix of what it was
	// announced, so 500 is the largest list it produces; 10,000 entries (~380 KB on the wire)
	// is 20 times that, and still bounds what one message makes us allocate and look up.
	MaxInventoryEntries = 10000
)

// Full names of the schema messages that carry a validation rule.
const (
	nameMessage   protoreflect.FullName = "witnet.Message"
	nameHash      protoreflect.FullName = "witnet.Hash"
	namePKH       protoreflect.FullName = "witnet.PublicKeyHash"
	namePublicKey protoreflect.FullName = "witnet.PublicKey"
	nameAddress   protoreflect.FullName = "witnet.Address"
	nameDROutput  protoreflect.FullName = "witnet.DataRequestOutput"
)

// Field numbers and bounds of the scalar rules.
const (
	fieldMagic     protoreflect.FieldNumber = 1 // Message.magic
	fieldWitnesses protoreflect.FieldNumber = 3 // DataRequestOutput.witnesses
	maxMagic                                = math.MaxUint16
	maxWitnesses                            = math.MaxUint16
	pkhLen                                  = 20
	publicKeyLen                            = 33
)

// checked records, per message type, whether anything in its subtree carries a rule
// (a length, a oneof that must be set, an enum, a bound). Types for which it is false
// (Bn256PublicKey, StringPair, RADFilter, Verack...) are not walked. Built once at init from
// the compiled schema; read-only afterwards.
var checked = map[protoreflect.FullName]bool{}

func init() {
	msgs := pb.File_witnet_proto.Messages()
	var visit func(md protoreflect.MessageDescriptor) bool
	visiting := map[protoreflect.FullName]bool{}
	visit = func(md protoreflect.MessageDescriptor) bool {
		if v, ok := checked[md.FullName()]; ok {
			return v
		}
		if visiting[md.FullName()] {
			return false // recursion guard; the schema has no recursive types
		}
		visiting[md.FullName()] = true
		need := hasOwnRule(md)
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.Enum() != nil {
				need = true
			}
			if sub := fd.Message(); sub != nil && visit(sub) {
				need = true
			}
		}
		checked[md.FullName()] = need
		return need
	}
	var all func(ms protoreflect.MessageDescriptors)
	all = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			visit(ms.Get(i))
			all(ms.Get(i).Messages())
		}
	}
	all(msgs)
}

func hasOwnRule(md protoreflect.MessageDescriptor) bool {
	switch md.FullName() {
	case nameMessage, nameHash, namePKH, namePublicKey, nameAddress, nameDROutput:
		return true
	}
	return md.Oneofs().Len() > 0
}

// Validate applies witnet-rust's decode-time rules (WIRE.md section 2) and the local limits
// to m: magic fits in 16 bits; the command, every transaction, inventory entry, signature
// and hash oneof is set; every Hash is 32 bytes, PublicKeyHash 20, PublicKey 33; every
// Address is a legacy 6/18-byte value or a multiaddr ending in /p2p/<id>; witnesses fits in
// 16 bits; RADType is a declared value; Peers and inventory lists are within their limits.
// An unset singular sub-message is checked as an empty one, exactly as witnet-rust reads
// it, so an absent Hash fails while an absent Bn256PublicKey does not. The error is a
// *DecodeError.
func Validate(m *pb.Message) error {
	if m == nil {
		return &DecodeError{Reason: ReasonOneofUnset, Field: "kind"}
	}
	if err := checkLimits(m); err != nil {
		return err
	}
	v := validator{path: make([]pathElem, 0, 16)}
	return v.message(m.ProtoReflect())
}

func checkLimits(m *pb.Message) error {
	cmd := m.GetKind()
	if n := len(cmd.GetPeers_().GetPeers()); n > MaxPeersPerMessage {
		return tooManyPeers(n)
	}
	if n := len(cmd.GetInventoryAnnouncement().GetInventory()); n > MaxInventoryEntries {
		return tooManyEntries(n)
	}
	if n := len(cmd.GetInventoryRequest().GetInventory()); n > MaxInventoryEntries {
		return tooManyEntries(n)
	}
	return nil
}

func tooManyPeers(n int) error {
	return &DecodeError{Reason: ReasonTooManyPeers, Field: "kind.Peers.peers",
		Detail: fmt.Sprintf("%d > %d", n, MaxPeersPerMessage), Err: ErrTooManyPeers}
}

func tooManyEntries(n int) error {
	return &DecodeError{Reason: ReasonTooManyEntries, Field: "kind",
		Detail: fmt.Sprintf("%d > %d", n, MaxInventoryEntries), Err: ErrTooManyEntries}
}

// pathElem is one step of a field path; index is -1 for a singular field.
type pathElem struct {
	name  protoreflect.Name
	index int
}

type validator struct {
	path []pathElem
}

func (v *validator) push(fd protoreflect.FieldDescriptor, index int) {
	v.path = append(v.path, pathElem{name: fd.Name(), index: index})
}

func (v *validator) pop() { v.path = v.path[:len(v.path)-1] }

// fail builds the DecodeError; the path is rendered only here, so a valid message costs no
// string work.
func (v *validator) fail(reason DecodeReason, detail string, err error) *DecodeError {
	var sb strings.Builder
	for i, p := range v.path {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(string(p.name))
		if p.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(p.index))
			sb.WriteByte(']')
		}
	}
	return &DecodeError{Reason: reason, Field: sb.String(), Detail: detail, Err: err}
}

func (v *validator) failField(fd protoreflect.FieldDescriptor, reason DecodeReason, detail string, err error) *DecodeError {
	v.push(fd, -1)
	defer v.pop()
	return v.fail(reason, detail, err)
}

func (v *validator) failOneof(od protoreflect.OneofDescriptor, md protoreflect.MessageDescriptor) *DecodeError {
	v.path = append(v.path, pathElem{name: od.Name(), index: -1})
	defer v.pop()
	return v.fail(ReasonOneofUnset, string(md.Name())+" "+string(od.Name())+" not set", nil)
}

// message validates m, which may be an unset (read-only, empty) message.
func (v *validator) message(m protoreflect.Message) error {
	md := m.Descriptor()
	fields := md.Fields()
	switch md.FullName() {
	case nameHash:
		fd := fields.Get(0) // SHA256
		if od := fd.ContainingOneof(); m.WhichOneof(od) == nil {
			return v.failOneof(od, md)
		}
		if n := len(m.Get(fd).Bytes()); n != HashSize {
			return v.failField(fd, ReasonHashLength, fmt.Sprintf("%d bytes, want %d", n, HashSize), nil)
		}
		return nil
	case namePKH:
		fd := fields.Get(0)
		if n := len(m.Get(fd).Bytes()); n != pkhLen {
			return v.failField(fd, ReasonPKHLength, fmt.Sprintf("%d bytes, want %d", n, pkhLen), nil)
		}
		return nil
	case namePublicKey:
		fd := fields.Get(0)
		if n := len(m.Get(fd).Bytes()); n != publicKeyLen {
			return v.failField(fd, ReasonPublicKeyLength, fmt.Sprintf("%d bytes, want %d", n, publicKeyLen), nil)
		}
		return nil
	case nameAddress:
		fd := fields.Get(0)
		if _, err := ParseAddress(m.Get(fd).Bytes()); err != nil {
			return v.failField(fd, ReasonAddress, "", err)
		}
		return nil
	case nameMessage:
		fd := fields.ByNumber(fieldMagic)
		if magic := m.Get(fd).Uint(); magic > maxMagic {
			return v.failField(fd, ReasonMagic, fmt.Sprintf("%d does not fit in 16 bits", magic), nil)
		}
	case nameDROutput:
		fd := fields.ByNumber(fieldWitnesses)
		if w := m.Get(fd).Uint(); w > maxWitnesses {
			return v.failField(fd, ReasonWitnesses, fmt.Sprintf("%d does not fit in 16 bits", w), nil)
		}
	}

	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if m.WhichOneof(od) == nil {
			return v.failOneof(od, md)
		}
	}

	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && m.WhichOneof(od) != fd {
			continue // only the member that is set is checked
		}
		if ed := fd.Enum(); ed != nil {
			if err := v.enum(m, fd, ed); err != nil {
				return err
			}
			continue
		}
		sub := fd.Message()
		if sub == nil || !checked[sub.FullName()] {
			continue
		}
		if fd.IsList() {
			list := m.Get(fd).List()
			for j := 0; j < list.Len(); j++ {
				v.push(fd, j)
				err := v.message(list.Get(j).Message())
				v.pop()
				if err != nil {
					return err
				}
			}
			continue
		}
		v.push(fd, -1)
		err := v.message(m.Get(fd).Message())
		v.pop()
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) enum(m protoreflect.Message, fd protoreflect.FieldDescriptor, ed protoreflect.EnumDescriptor) error {
	check := func(n protoreflect.EnumNumber, index int) error {
		if ed.Values().ByNumber(n) != nil {
			return nil
		}
		v.push(fd, index)
		defer v.pop()
		return v.fail(ReasonEnum, fmt.Sprintf("%s value %d not declared", ed.Name(), n), nil)
	}
	if fd.IsList() {
		list := m.Get(fd).List()
		for j := 0; j < list.Len(); j++ {
			if err := check(list.Get(j).Enum(), j); err != nil {
				return err
			}
		}
		return nil
	}
	return check(m.Get(fd).Enum(), -1)
}
