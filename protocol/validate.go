package protocol

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Limits on repeated fields, checked before the protobuf parse allocates anything (see
// precheck) and again by Validate. witnet-rust has no such limits; these are set well above
// anything it sends, so only a hostile or broken peer reaches them.
const (
	// MaxPeersPerMessage bounds a Peers command. witnet-rust answers GetPeers with its whole
	// tried bucket, which has 4096 slots (PROTOCOL.md 9.1); twice that leaves room for a larger
	// address book on our side while keeping one message under ~0.5 MB of multiaddrs.
	MaxPeersPerMessage = 8192
	// MaxInventoryEntries bounds an InventoryAnnouncement or InventoryRequest. witnet-rust
	// announces at most 500 blocks (MAX_BLOCKS_SYNC) and requests a prefix of what it was
	// announced, so 500 is the largest list it produces; 10,000 entries (~380 KB on the wire)
	// is 20 times that, and still bounds what one message makes us allocate and look up.
	MaxInventoryEntries = 10000
	// MaxUserAgentLength bounds Version.user_agent, in bytes: Bitcoin Core's
	// MAX_SUBVERSION_LENGTH. witnet-rust sends "witnet-rust <version>" and reads nothing of
	// it; a longer agent is refused (ReasonUserAgentLength), as Core disconnects a peer
	// whose agent is too long, rather than truncated: nothing honest sends one.
	MaxUserAgentLength = 256
)

// Sizes and bounds fixed by witnet-rust's types (PROTOCOL.md section 2, decoding rules); a Hash
// is HashSize bytes.
const (
	pkhLen       = 20             // PublicKeyHash.hash
	publicKeyLen = 33             // PublicKey.public_key: prefix byte + 32 bytes
	maxMagic     = math.MaxUint16 // Message.magic is a u16
	maxWitnesses = math.MaxUint16 // DataRequestOutput.witnesses is a u16
)

// Validate applies witnet-rust's decode-time rules (PROTOCOL.md section 2) and the local limits
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
	if v := checkMessage(m); v != nil {
		return v.decodeError()
	}
	return nil
}

// checkLimits checks the list limits and the user agent's length. It switches on the oneof itself rather than calling
// the generated getters, which dereference a oneof wrapper that is a nil pointer.
func checkLimits(m *pb.Message) error {
	switch k := m.GetKind().GetKind().(type) {
	case *pb.Message_Command_Peers_:
		if k == nil {
			break
		}
		if n := len(k.Peers_.GetPeers()); n > MaxPeersPerMessage {
			return tooManyPeers(n)
		}
	case *pb.Message_Command_InventoryAnnouncement:
		if k == nil {
			break
		}
		if n := len(k.InventoryAnnouncement.GetInventory()); n > MaxInventoryEntries {
			return tooManyEntries(fieldAnnouncement, n)
		}
	case *pb.Message_Command_InventoryRequest:
		if k == nil {
			break
		}
		if n := len(k.InventoryRequest.GetInventory()); n > MaxInventoryEntries {
			return tooManyEntries(fieldRequest, n)
		}
	case *pb.Message_Command_Version:
		if k == nil {
			break
		}
		if n := len(k.Version.GetUserAgent()); n > MaxUserAgentLength {
			return &DecodeError{Reason: ReasonUserAgentLength, Field: fieldUserAgent,
				Detail: fmt.Sprintf("%d bytes > %d", n, MaxUserAgentLength), Err: ErrUserAgentTooLong}
		}
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
	fieldUserAgent    = "kind.Version.user_agent"
)

func tooManyEntries(field string, n int) error {
	return &DecodeError{Reason: ReasonTooManyEntries, Field: field,
		Detail: fmt.Sprintf("%d > %d", n, MaxInventoryEntries), Err: ErrTooManyEntries}
}

// ruleFree holds the message types of the schema with no decode rule anywhere in their
// subtree (Bn256PublicKey, StringPair, RADFilter, Verack...), so that a read-only walk
// need not enter them. Built once at init, read-only afterwards; a type absent from it is
// walked.
var ruleFree = map[protoreflect.MessageDescriptor]bool{}

// typedRules lists the types checkRules has a typed case for.
var typedRules = []proto.Message{
	(*pb.Hash)(nil), (*pb.PublicKeyHash)(nil), (*pb.PublicKey)(nil), (*pb.Address)(nil),
	(*pb.InventoryEntry)(nil), (*pb.Message)(nil), (*pb.DataRequestOutput)(nil),
}

func init() {
	ruled := map[protoreflect.MessageDescriptor]bool{}
	for _, m := range typedRules {
		ruled[m.ProtoReflect().Descriptor()] = true
	}
	seen := map[protoreflect.MessageDescriptor]bool{}
	var free func(md protoreflect.MessageDescriptor) bool
	free = func(md protoreflect.MessageDescriptor) bool {
		if seen[md] {
			return ruleFree[md] // false for a type still being visited: the schema has no recursion
		}
		seen[md] = true
		if ruled[md] || md.Oneofs().Len() > 0 {
			return false
		}
		fields := md.Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if fd.Enum() != nil {
				return false
			}
			if sub := fd.Message(); sub != nil && !free(sub) {
				return false
			}
		}
		ruleFree[md] = true
		return true
	}
	var all func(ms protoreflect.MessageDescriptors)
	all = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			free(ms.Get(i))
			all(ms.Get(i).Messages())
		}
	}
	all(pb.File_witnet_proto.Messages())
}

// checkRules checks the decode rules that belong to m itself, not to its children: the
// sizes of the value types (Hash, PublicKeyHash, PublicKey, Address), the 16-bit magic and
// witness count, and every oneof set. m may be an unset (read-only, empty) message. The
// value types and InventoryEntry, which make up most of a message, are checked by typed
// code, which also covers everything below them: then done is true and a read-only walk
// need not descend.
func checkRules(m protoreflect.Message) (v *violation, done bool) {
	switch x := m.Interface().(type) {
	case *pb.Hash:
		return checkHash(x), true
	case *pb.PublicKeyHash:
		return checkPKH(x), true
	case *pb.PublicKey:
		return checkPublicKey(x), true
	case *pb.Address:
		return checkAddress(x), true
	case *pb.InventoryEntry:
		return checkInventoryEntry(x), true
	case *pb.Message:
		if v := checkMagic(x.GetMagic()); v != nil {
			return v, false
		}
	case *pb.DataRequestOutput:
		if v := checkWitnesses(x.GetWitnesses()); v != nil {
			return v, false
		}
	}
	md := m.Descriptor()
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if od := oneofs.Get(i); !od.IsSynthetic() && m.WhichOneof(od) == nil {
			return oneofUnset(md.Name(), od.Name(), false), false
		}
	}
	return nil, false
}

func checkMagic(magic uint32) *violation {
	if magic > maxMagic {
		return &violation{reason: ReasonMagic, at: pathElem{"magic", -1},
			detail: fmt.Sprintf("magic %d does not fit in 16 bits", magic)}
	}
	return nil
}

func checkWitnesses(w uint32) *violation {
	if w > maxWitnesses {
		return &violation{reason: ReasonWitnesses, at: pathElem{"witnesses", -1},
			detail: fmt.Sprintf("%d witnesses, at most %d", w, maxWitnesses)}
	}
	return nil
}

func checkPKH(x *pb.PublicKeyHash) *violation {
	if n := len(x.GetHash()); n != pkhLen {
		return &violation{reason: ReasonPKHLength, at: pathElem{"hash", -1}, whole: true,
			detail: fmt.Sprintf("public key hash is %d bytes, want %d", n, pkhLen)}
	}
	return nil
}

func checkPublicKey(x *pb.PublicKey) *violation {
	if n := len(x.GetPublicKey()); n != publicKeyLen {
		return &violation{reason: ReasonPublicKeyLength, at: pathElem{"public_key", -1}, whole: true,
			detail: fmt.Sprintf("public key is %d bytes, want %d", n, publicKeyLen)}
	}
	return nil
}

func checkAddress(x *pb.Address) *violation {
	if _, err := ParseAddress(x.GetAddress()); err != nil {
		return &violation{reason: ReasonAddress, at: pathElem{"address", -1}, whole: true, err: err}
	}
	return nil
}

// checkRADType checks a RADRetrieve kind (element index of a list, or -1) the way
// checkEnum checks any enum: only declared values pass.
func checkRADType(k pb.DataRequestOutput_RADRequest_RADType, index int) *violation {
	if _, ok := pb.DataRequestOutput_RADRequest_RADType_name[int32(k)]; ok {
		return nil
	}
	return &violation{reason: ReasonEnum, at: pathElem{"kind", index},
		detail: fmt.Sprintf("RADType value %d not declared", k)}
}

func oneofUnset(msg, oneof protoreflect.Name, whole bool) *violation {
	return &violation{reason: ReasonOneofUnset, at: pathElem{oneof, -1}, whole: whole,
		detail: string(msg) + " " + string(oneof) + " not set"}
}

// checkHash checks a Hash: its oneof is set and holds 32 bytes. A oneof wrapper that is a
// nil pointer counts as unset (the generated getter would dereference it).
func checkHash(h *pb.Hash) *violation {
	k, ok := h.GetKind().(*pb.Hash_SHA256)
	if !ok || k == nil {
		return oneofUnset("Hash", "kind", true)
	}
	if n := len(k.SHA256); n != HashSize {
		return &violation{reason: ReasonHashLength, at: pathElem{"SHA256", -1}, whole: true,
			detail: fmt.Sprintf("hash is %d bytes, want %d", n, HashSize)}
	}
	return nil
}

// checkInventoryEntry checks an InventoryEntry: its oneof is set, and a block or
// transaction entry holds a valid Hash.
func checkInventoryEntry(e *pb.InventoryEntry) *violation {
	var (
		member protoreflect.Name
		h      *pb.Hash
	)
	switch k := e.GetKind().(type) {
	case *pb.InventoryEntry_Block:
		if k != nil {
			member, h = "Block", k.Block
		}
	case *pb.InventoryEntry_Tx:
		if k != nil {
			member, h = "Tx", k.Tx
		}
	case *pb.InventoryEntry_SuperBlock:
		if k != nil {
			return nil
		}
	}
	if member == "" {
		return oneofUnset("InventoryEntry", "kind", false)
	}
	v := checkHash(h)
	if v != nil {
		v.path = append(v.path, pathElem{name: member, index: -1})
	}
	return v
}

// checkEnum checks that the enum field fd of m (every element, for a list) holds a value
// the schema declares: witnet-rust's decoder refuses any other (PROTOCOL.md 13.14), which for
// this schema means a RADType above 4.
func checkEnum(m protoreflect.Message, fd protoreflect.FieldDescriptor) *violation {
	values := fd.Enum().Values()
	check := func(n protoreflect.EnumNumber, index int) *violation {
		if values.ByNumber(n) != nil {
			return nil
		}
		return &violation{reason: ReasonEnum, at: pathElem{fd.Name(), index},
			detail: fmt.Sprintf("%s value %d not declared", fd.Enum().Name(), n)}
	}
	if !fd.IsList() {
		return check(m.Get(fd).Enum(), -1)
	}
	if !m.Has(fd) {
		return nil
	}
	list := m.Get(fd).List()
	for j := 0; j < list.Len(); j++ {
		if v := check(list.Get(j).Enum(), j); v != nil {
			return v
		}
	}
	return nil
}
