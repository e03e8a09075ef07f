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

// msgPlan lists what the validator must look at in one message type: its oneofs (each
// must be set) and the fields whose subtree carries a rule (a length, a oneof, an enum, a
// bound). Fields of types with no rule anywhere below them (Bn256PublicKey, StringPair,
// RADFilter, Verack...) are left out, so they are never walked.
type msgPlan struct {
	oneofs []protoreflect.OneofDescriptor
	fields []fieldPlan
}

type fieldPlan struct {
	fd    protoreflect.FieldDescriptor
	oneof protoreflect.OneofDescriptor   // non-nil for a oneof member: checked only when set
	enum  protoreflect.EnumDescriptor    // non-nil for an enum field
	sub   protoreflect.MessageDescriptor // non-nil for a message field
}

// plans holds a msgPlan for every message type of the schema that needs one; a type
// absent from it needs no check. Built once at init from the compiled schema, read-only
// afterwards.
var plans = map[protoreflect.MessageDescriptor]*msgPlan{}

// Descriptors of the leaf types checked by typed code (for their field names in paths).
var (
	hashSHA256FD   = (*pb.Hash)(nil).ProtoReflect().Descriptor().Fields().ByNumber(1)
	hashOneof      = hashSHA256FD.ContainingOneof()
	pkhHashFD      = (*pb.PublicKeyHash)(nil).ProtoReflect().Descriptor().Fields().ByNumber(1)
	publicKeyFD    = (*pb.PublicKey)(nil).ProtoReflect().Descriptor().Fields().ByNumber(1)
	addressFD      = (*pb.Address)(nil).ProtoReflect().Descriptor().Fields().ByNumber(1)
	invEntryDesc   = (*pb.InventoryEntry)(nil).ProtoReflect().Descriptor()
	invEntryBlock  = invEntryDesc.Fields().ByNumber(1)
	invEntryTx     = invEntryDesc.Fields().ByNumber(2)
	invEntryOneof  = invEntryBlock.ContainingOneof()
	hashDescriptor = hashSHA256FD.ContainingMessage()
)

func init() {
	visiting := map[protoreflect.MessageDescriptor]bool{}
	done := map[protoreflect.MessageDescriptor]bool{}
	var visit func(md protoreflect.MessageDescriptor) bool
	visit = func(md protoreflect.MessageDescriptor) bool {
		if done[md] {
			return plans[md] != nil
		}
		if visiting[md] {
			return false // recursion guard; the schema has no recursive types
		}
		visiting[md] = true
		p := &msgPlan{}
		oneofs := md.Oneofs()
		for i := 0; i < oneofs.Len(); i++ {
			p.oneofs = append(p.oneofs, oneofs.Get(i))
		}
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			fp := fieldPlan{fd: fd, oneof: fd.ContainingOneof(), enum: fd.Enum()}
			if sub := fd.Message(); sub != nil && visit(sub) {
				fp.sub = sub
			}
			if fp.enum != nil || fp.sub != nil {
				p.fields = append(p.fields, fp)
			}
		}
		done[md] = true
		if hasOwnRule(md) || len(p.fields) > 0 {
			plans[md] = p
			return true
		}
		return false
	}
	var all func(ms protoreflect.MessageDescriptors)
	all = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			visit(ms.Get(i))
			all(ms.Get(i).Messages())
		}
	}
	all(pb.File_witnet_proto.Messages())
}

// hasOwnRule reports whether md itself carries a rule (besides what its fields hold).
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
	v := validator{path: make([]pathElem, 0, 16)} // deeper than any path of the schema
	return v.message(m.ProtoReflect())
}

func checkLimits(m *pb.Message) error {
	cmd := m.GetKind()
	if n := len(cmd.GetPeers_().GetPeers()); n > MaxPeersPerMessage {
		return tooManyPeers(n)
	}
	if n := len(cmd.GetInventoryAnnouncement().GetInventory()); n > MaxInventoryEntries {
		return tooManyEntries(fieldAnnouncement, n)
	}
	if n := len(cmd.GetInventoryRequest().GetInventory()); n > MaxInventoryEntries {
		return tooManyEntries(fieldRequest, n)
	}
	return nil
}

func tooManyPeers(n int) error {
	return &DecodeError{Reason: ReasonTooManyPeers, Field: fieldPeers,
		Detail: fmt.Sprintf("%d > %d", n, MaxPeersPerMessage), Err: ErrTooManyPeers}
}

// Field paths of the limited lists, as Validate would render them.
const (
	fieldPeers        = "kind.Peers.peers"
	fieldAnnouncement = "kind.InventoryAnnouncement.inventory"
	fieldRequest      = "kind.InventoryRequest.inventory"
)

func tooManyEntries(field string, n int) error {
	return &DecodeError{Reason: ReasonTooManyEntries, Field: field,
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

// message validates m, which may be an unset (read-only, empty) message. The leaf types
// that make up most of a message (Hash, PublicKeyHash, PublicKey, Address, InventoryEntry)
// are checked by typed code; everything else by the schema walk.
func (v *validator) message(m protoreflect.Message) error {
	switch x := m.Interface().(type) {
	case *pb.Hash:
		return v.hash(x)
	case *pb.PublicKeyHash:
		if n := len(x.GetHash()); n != pkhLen {
			return v.failField(pkhHashFD, ReasonPKHLength, fmt.Sprintf("%d bytes, want %d", n, pkhLen), nil)
		}
		return nil
	case *pb.PublicKey:
		if n := len(x.GetPublicKey()); n != publicKeyLen {
			return v.failField(publicKeyFD, ReasonPublicKeyLength, fmt.Sprintf("%d bytes, want %d", n, publicKeyLen), nil)
		}
		return nil
	case *pb.Address:
		if _, err := ParseAddress(x.GetAddress()); err != nil {
			return v.failField(addressFD, ReasonAddress, "", err)
		}
		return nil
	case *pb.InventoryEntry:
		return v.inventoryEntry(x)
	case *pb.Message:
		if magic := x.GetMagic(); magic > maxMagic {
			return v.failField(m.Descriptor().Fields().ByNumber(fieldMagic), ReasonMagic,
				fmt.Sprintf("%d does not fit in 16 bits", magic), nil)
		}
	case *pb.DataRequestOutput:
		if w := x.GetWitnesses(); w > maxWitnesses {
			return v.failField(m.Descriptor().Fields().ByNumber(fieldWitnesses), ReasonWitnesses,
				fmt.Sprintf("%d does not fit in 16 bits", w), nil)
		}
	}

	md := m.Descriptor()
	p := plans[md]
	if p == nil {
		return nil
	}
	for _, od := range p.oneofs {
		if m.WhichOneof(od) == nil {
			return v.failOneof(od, md)
		}
	}
	for _, f := range p.fields {
		if f.oneof != nil && m.WhichOneof(f.oneof) != f.fd {
			continue // only the member that is set is checked
		}
		if f.enum != nil {
			if err := v.enum(m, f.fd, f.enum); err != nil {
				return err
			}
			continue
		}
		if f.fd.IsList() {
			list := m.Get(f.fd).List()
			for j := 0; j < list.Len(); j++ {
				v.push(f.fd, j)
				err := v.message(list.Get(j).Message())
				v.pop()
				if err != nil {
					return err
				}
			}
			continue
		}
		v.push(f.fd, -1)
		err := v.message(m.Get(f.fd).Message())
		v.pop()
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) hash(h *pb.Hash) error {
	if h.GetKind() == nil {
		return v.failOneof(hashOneof, hashDescriptor)
	}
	if n := len(h.GetSHA256()); n != HashSize {
		return v.failField(hashSHA256FD, ReasonHashLength, fmt.Sprintf("%d bytes, want %d", n, HashSize), nil)
	}
	return nil
}

func (v *validator) inventoryEntry(e *pb.InventoryEntry) error {
	var (
		fd protoreflect.FieldDescriptor
		h  *pb.Hash
	)
	switch k := e.GetKind().(type) {
	case *pb.InventoryEntry_Block:
		fd, h = invEntryBlock, k.Block
	case *pb.InventoryEntry_Tx:
		fd, h = invEntryTx, k.Tx
	case *pb.InventoryEntry_SuperBlock:
		return nil
	default:
		return v.failOneof(invEntryOneof, invEntryDesc)
	}
	v.push(fd, -1)
	defer v.pop()
	return v.hash(h)
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
