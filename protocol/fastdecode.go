package protocol

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// A direct decoder for the commands a running session exchanges most: Verack, GetPeers,
// LastBeacon, InventoryAnnouncement, InventoryRequest, Version and value transfer
// Transactions. proto.Unmarshal builds oneof members through reflection and allocates
// every sub-message on its own, which made it most of a session's receive cost; this
// decoder fills the same values from a few allocations.
//
// It accepts only the strict form Marshal writes for a well-formed message of those
// kinds: fields in field-number order, each at most once and with its declared wire type,
// every Hash of 32 bytes, every Address non-empty, nothing unknown and nothing left over.
// Within that form a payload has exactly one meaning, and the decoder produces the value
// proto.Unmarshal produces (TestFastDecodeMatchesProto, FuzzFastDecode). For anything else
// it declines, and Unmarshal takes the general path, which also reports every error: the
// decoder never rejects a payload itself.

// Wire tags (field number << 3 | wire type) of the fields the decoder reads. Every field
// number involved is below 16, so each tag is one byte.
const (
	tagVarint1  = 1<<3 | byte(protowire.VarintType)
	tagVarint2  = 2<<3 | byte(protowire.VarintType)
	tagVarint3  = 3<<3 | byte(protowire.VarintType)
	tagFixed32  = 1<<3 | byte(protowire.Fixed32Type)
	tagFixed64  = 3<<3 | byte(protowire.Fixed64Type)
	tagNonce    = 7<<3 | byte(protowire.Fixed64Type)
	tagBytes1   = 1<<3 | byte(protowire.BytesType)
	tagBytes2   = 2<<3 | byte(protowire.BytesType)
	tagSender   = 4<<3 | byte(protowire.BytesType)
	tagReceiver = 5<<3 | byte(protowire.BytesType)
	tagAgent    = 6<<3 | byte(protowire.BytesType)
	tagBeacon   = 8<<3 | byte(protowire.BytesType)

	// hashBodyLen is an encoded Hash holding 32 bytes: tag, length, bytes.
	hashBodyLen = 2 + HashSize
)

// fastEnvelope is the part every decoded message has; it is allocated in one block with
// the command's own values.
type fastEnvelope struct {
	msg pb.Message
	cmd pb.Message_Command
}

// init links the envelope, whose command member the caller has set, and returns it.
func (e *fastEnvelope) init(magic uint32) *pb.Message {
	e.msg.Magic = magic
	e.msg.Kind = &e.cmd
	return &e.msg
}

// fastHash is a Hash with its oneof wrapper and bytes.
type fastHash struct {
	h   pb.Hash
	w   pb.Hash_SHA256
	sum [HashSize]byte
}

// decode fills f from an encoded Hash body and returns the Hash, or nil unless b is
// exactly one SHA256 field of 32 bytes.
func (f *fastHash) decode(b []byte) *pb.Hash {
	if len(b) != hashBodyLen || b[0] != tagBytes1 || b[1] != HashSize {
		return nil
	}
	copy(f.sum[:], b[2:])
	f.w.SHA256 = f.sum[:HashSize:HashSize]
	f.h.Kind = &f.w
	return &f.h
}

// fastBeacon is a LastBeacon with everything below it.
type fastBeacon struct {
	lb  pb.LastBeacon
	cp  [2]pb.CheckpointBeacon
	sum [2]fastHash
}

// decode fills f from an encoded LastBeacon body: both checkpoints present, in order.
func (f *fastBeacon) decode(b []byte) *pb.LastBeacon {
	first, b, ok := consumeField(b, tagBytes1)
	if !ok || !f.decodeCheckpoint(0, first) {
		return nil
	}
	second, b, ok := consumeField(b, tagBytes2)
	if !ok || len(b) != 0 || !f.decodeCheckpoint(1, second) {
		return nil
	}
	f.lb.HighestBlockCheckpoint = &f.cp[0]
	f.lb.HighestSuperblockCheckpoint = &f.cp[1]
	return &f.lb
}

// decodeCheckpoint fills checkpoint i from a CheckpointBeacon body: an optional fixed32
// checkpoint, then the Hash.
func (f *fastBeacon) decodeCheckpoint(i int, b []byte) bool {
	cp := &f.cp[i]
	if len(b) > 0 && b[0] == tagFixed32 {
		v, n := protowire.ConsumeFixed32(b[1:])
		if n < 0 {
			return false
		}
		cp.Checkpoint = v
		b = b[1+n:]
	}
	body, rest, ok := consumeField(b, tagBytes2)
	if !ok || len(rest) != 0 {
		return false
	}
	cp.HashPrevBlock = f.sum[i].decode(body)
	return cp.HashPrevBlock != nil
}

// consumeField reads a length-delimited field with the one-byte tag tag at the start of b
// and returns its body and what follows.
func consumeField(b []byte, tag byte) (body, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != tag {
		return nil, nil, false
	}
	v, n := protowire.ConsumeBytes(b[1:])
	if n < 0 {
		return nil, nil, false
	}
	return v, b[1+n:], true
}

// consumeVarint32 reads an optional varint field with tag tag whose value fits in 32 bits
// (protobuf would truncate a larger one; the general path handles that).
func consumeVarint32(b []byte, tag byte) (v uint32, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != tag {
		return 0, b, true
	}
	x, n := protowire.ConsumeVarint(b[1:])
	if n < 0 || x > math.MaxUint32 {
		return 0, nil, false
	}
	return uint32(x), b[1+n:], true
}

// decodeFast decodes b if it is in the strict form of a hot command (see above), and
// reports whether it did.
func decodeFast(b []byte) (*pb.Message, bool) {
	magic, b, ok := consumeVarint32(b, tagVarint1)
	if !ok {
		return nil, false
	}
	cmd, rest, ok := consumeField(b, tagBytes2)
	if !ok || len(rest) != 0 || len(cmd) == 0 {
		return nil, false
	}
	// The command is exactly one length-delimited member.
	num, typ, n := protowire.ConsumeTag(cmd)
	if n < 0 || typ != protowire.BytesType {
		return nil, false
	}
	body, n2 := protowire.ConsumeBytes(cmd[n:])
	if n2 < 0 || n+n2 != len(cmd) {
		return nil, false
	}
	if num >= protowire.Number(NumKinds) {
		return nil, false
	}
	var m *pb.Message
	switch Kind(num) {
	case KindVerack:
		if len(body) == 0 {
			e := new(struct {
				fastEnvelope
				w pb.Message_Command_Verack
				v pb.Verack
			})
			e.w.Verack = &e.v
			e.cmd.Kind = &e.w
			m = e.init(magic)
		}
	case KindGetPeers:
		if len(body) == 0 {
			e := new(struct {
				fastEnvelope
				w pb.Message_Command_GetPeers
				v pb.GetPeers
			})
			e.w.GetPeers = &e.v
			e.cmd.Kind = &e.w
			m = e.init(magic)
		}
	case KindLastBeacon:
		e := new(struct {
			fastEnvelope
			w pb.Message_Command_LastBeacon
			b fastBeacon
		})
		if e.w.LastBeacon = e.b.decode(body); e.w.LastBeacon != nil {
			e.cmd.Kind = &e.w
			m = e.init(magic)
		}
	case KindInventoryAnnouncement:
		e := new(struct {
			fastEnvelope
			w   pb.Message_Command_InventoryAnnouncement
			inv pb.InventoryAnnouncement
		})
		if list, ok := decodeFastEntries(body); ok {
			e.inv.Inventory = list
			e.w.InventoryAnnouncement = &e.inv
			e.cmd.Kind = &e.w
			m = e.init(magic)
		}
	case KindInventoryRequest:
		e := new(struct {
			fastEnvelope
			w   pb.Message_Command_InventoryRequest
			inv pb.InventoryRequest
		})
		if list, ok := decodeFastEntries(body); ok {
			e.inv.Inventory = list
			e.w.InventoryRequest = &e.inv
			e.cmd.Kind = &e.w
			m = e.init(magic)
		}
	case KindVersion:
		m = decodeFastVersion(magic, body)
	case KindTransaction:
		m = decodeFastTransaction(magic, body)
	}
	return m, m != nil
}

// fastEntry is one InventoryEntry with its possible oneof wrappers and hash.
type fastEntry struct {
	e   pb.InventoryEntry
	blk pb.InventoryEntry_Block
	tx  pb.InventoryEntry_Tx
	sb  pb.InventoryEntry_SuperBlock
	sum fastHash
}

// maxFastEntries bounds the inventory lists the direct decoder takes. Its entries share
// one allocation, so a consumer that keeps one entry (as an in-flight request does) keeps
// them all alive: the bound holds that to ~13 KB. Gossip announcements are far shorter;
// the long lists of a block sync take the general path, where each entry is its own
// allocation.
const maxFastEntries = 64

// decodeFastEntries decodes the entries of an InventoryAnnouncement or InventoryRequest
// body: at most maxFastEntries, each a block or transaction Hash or a superblock index. An
// empty body is an empty (nil) list, as protobuf decodes it.
func decodeFastEntries(b []byte) ([]*pb.InventoryEntry, bool) {
	n := 0
	for rest := b; len(rest) > 0; n++ {
		var ok bool
		if _, rest, ok = consumeField(rest, tagBytes1); !ok || n == maxFastEntries {
			return nil, false
		}
	}
	if n == 0 {
		return nil, true
	}
	list := make([]*pb.InventoryEntry, n)
	slots := make([]fastEntry, n)
	for i := range slots {
		var body []byte
		body, b, _ = consumeField(b, tagBytes1) // well-formed: counted above
		if !slots[i].decode(body) {
			return nil, false
		}
		list[i] = &slots[i].e
	}
	return list, true
}

// decode fills f from an InventoryEntry body holding exactly one member.
func (f *fastEntry) decode(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case tagBytes1, tagBytes2:
		body, rest, ok := consumeField(b, b[0])
		if !ok || len(rest) != 0 {
			return false
		}
		h := f.sum.decode(body)
		if h == nil {
			return false
		}
		if b[0] == tagBytes1 {
			f.blk.Block = h
			f.e.Kind = &f.blk
		} else {
			f.tx.Tx = h
			f.e.Kind = &f.tx
		}
		return true
	case tagVarint3:
		v, rest, ok := consumeVarint32(b, tagVarint3)
		if !ok || len(rest) != 0 {
			return false
		}
		f.sb.SuperBlock = v
		f.e.Kind = &f.sb
		return true
	}
	return false
}

// decodeFastVersion decodes a Version body: optional scalars, both addresses and the
// beacon present, an optional UTF-8 user agent.
func decodeFastVersion(magic uint32, b []byte) *pb.Message {
	e := new(struct {
		fastEnvelope
		w        pb.Message_Command_Version
		v        pb.Version
		from, to pb.Address
		beacon   fastBeacon
	})
	v := &e.v
	var ok bool
	if v.Version, b, ok = consumeVarint32(b, tagVarint1); !ok {
		return nil
	}
	if len(b) > 0 && b[0] == tagVarint2 {
		x, n := protowire.ConsumeVarint(b[1:])
		if n < 0 {
			return nil
		}
		v.Timestamp = int64(x)
		b = b[1+n:]
	}
	if len(b) > 0 && b[0] == tagFixed64 {
		x, n := protowire.ConsumeFixed64(b[1:])
		if n < 0 {
			return nil
		}
		v.Capabilities = x
		b = b[1+n:]
	}
	from, b, ok := consumeAddress(b, tagSender)
	if !ok {
		return nil
	}
	to, b, ok := consumeAddress(b, tagReceiver)
	if !ok {
		return nil
	}
	// Both addresses share one allocation, each slice capped at its own end.
	addrs := make([]byte, len(from)+len(to))
	copy(addrs, from)
	copy(addrs[len(from):], to)
	e.from.Address = addrs[:len(from):len(from)]
	e.to.Address = addrs[len(from):]
	v.SenderAddress, v.ReceiverAddress = &e.from, &e.to
	if len(b) > 0 && b[0] == tagAgent {
		ua, rest, ok := consumeField(b, tagAgent)
		if !ok || !utf8.Valid(ua) {
			return nil
		}
		v.UserAgent = string(ua)
		b = rest
	}
	if len(b) > 0 && b[0] == tagNonce {
		x, n := protowire.ConsumeFixed64(b[1:])
		if n < 0 {
			return nil
		}
		v.Nonce = x
		b = b[1+n:]
	}
	beacon, rest, ok := consumeField(b, tagBeacon)
	if !ok || len(rest) != 0 {
		return nil
	}
	if v.Beacon = e.beacon.decode(beacon); v.Beacon == nil {
		return nil
	}
	e.w.Version = v
	e.cmd.Kind = &e.w
	return e.init(magic)
}

// consumeAddress reads an Address field with tag tag whose body is exactly one non-empty
// address field, and returns the address bytes (not copied).
func consumeAddress(b []byte, tag byte) (addr, rest []byte, ok bool) {
	body, rest, ok := consumeField(b, tag)
	if !ok {
		return nil, nil, false
	}
	addr, tail, ok := consumeField(body, tagBytes1)
	if !ok || len(tail) != 0 || len(addr) == 0 {
		return nil, nil, false
	}
	return addr, rest, true
}

// ---- Value transfer transactions ----

// Lengths of the fixed-size values inside a value transfer, encoded with their tag and
// length byte.
const (
	pkhBodyLen       = 2 + pkhLen       // PublicKeyHash: 0a 14 + 20 bytes
	publicKeyBodyLen = 2 + publicKeyLen // PublicKey: 0a 21 + 33 bytes
)

// fastInput is one Input with everything below it.
type fastInput struct {
	in  pb.Input
	ptr pb.OutputPointer
	id  fastHash
}

// fastOutput is one ValueTransferOutput with its PublicKeyHash.
type fastOutput struct {
	out pb.ValueTransferOutput
	pkh pb.PublicKeyHash
	sum [pkhLen]byte
}

// fastSignature is one KeyedSignature with everything below it but the DER bytes.
type fastSignature struct {
	ks  pb.KeyedSignature
	sig pb.Signature
	w   pb.Signature_Secp256K1
	der pb.Secp256K1Signature
	pk  pb.PublicKey
	key [publicKeyLen]byte
}

// countRun counts the length-delimited fields with tag tag at the start of b and returns
// the count, the total length of their bodies, and what follows them.
func countRun(b []byte, tag byte) (n, bodies int, rest []byte, ok bool) {
	for len(b) > 0 && b[0] == tag {
		body, r, ok := consumeField(b, tag)
		if !ok {
			return 0, 0, nil, false
		}
		n++
		bodies += len(body)
		b = r
	}
	return n, bodies, b, true
}

// decodeFastTransaction decodes a Transaction body holding a value transfer: a
// VTTransaction whose body lists inputs, then outputs, followed by its signatures. Every
// input names a 32-byte transaction hash, every output a 20-byte PKH, every signature a
// DER signature and a 33-byte public key. Other transaction kinds are left to
// the general path.
func decodeFastTransaction(magic uint32, b []byte) *pb.Message {
	vt, rest, ok := consumeField(b, tagBytes1) // Transaction.ValueTransfer
	if !ok || len(rest) != 0 {
		return nil
	}
	body, sigs, ok := consumeField(vt, tagBytes1) // VTTransaction.body
	if !ok {
		return nil
	}
	nIn, _, outs, ok := countRun(body, tagBytes1)
	if !ok {
		return nil
	}
	nOut, _, tail, ok := countRun(outs, tagBytes2)
	if !ok || len(tail) != 0 {
		return nil
	}
	nSig, sigBytes, tail, ok := countRun(sigs, tagBytes2)
	if !ok || len(tail) != 0 {
		return nil
	}
	e := new(struct {
		fastEnvelope
		w    pb.Message_Command_Transaction
		tx   pb.Transaction
		vw   pb.Transaction_ValueTransfer
		vt   pb.VTTransaction
		body pb.VTTransactionBody
	})
	if nIn > 0 {
		e.body.Inputs = make([]*pb.Input, nIn)
		slots := make([]fastInput, nIn)
		for i := range slots {
			var in []byte
			in, body, _ = consumeField(body, tagBytes1) // well-formed: counted above
			if !slots[i].decode(in) {
				return nil
			}
			e.body.Inputs[i] = &slots[i].in
		}
	}
	if nOut > 0 {
		e.body.Outputs = make([]*pb.ValueTransferOutput, nOut)
		slots := make([]fastOutput, nOut)
		for i := range slots {
			var out []byte
			out, outs, _ = consumeField(outs, tagBytes2)
			if !slots[i].decode(out) {
				return nil
			}
			e.body.Outputs[i] = &slots[i].out
		}
	}
	if nSig > 0 {
		e.vt.Signatures = make([]*pb.KeyedSignature, nSig)
		slots := make([]fastSignature, nSig)
		// Every DER signature shares one allocation, each slice capped at its own end;
		// the signature bodies' total length bounds theirs.
		ders := make([]byte, 0, sigBytes)
		for i := range slots {
			var sig []byte
			sig, sigs, _ = consumeField(sigs, tagBytes2)
			if ders, ok = slots[i].decode(sig, ders); !ok {
				return nil
			}
			e.vt.Signatures[i] = &slots[i].ks
		}
	}
	e.vt.Body = &e.body
	e.vw.ValueTransfer = &e.vt
	e.tx.Kind = &e.vw
	e.w.Transaction = &e.tx
	e.cmd.Kind = &e.w
	return e.init(magic)
}

// decode fills f from an Input body: exactly an OutputPointer holding a Hash and an
// optional output index.
func (f *fastInput) decode(b []byte) bool {
	ptr, rest, ok := consumeField(b, tagBytes1)
	if !ok || len(rest) != 0 {
		return false
	}
	id, ptr, ok := consumeField(ptr, tagBytes1)
	if !ok {
		return false
	}
	if f.ptr.OutputIndex, ptr, ok = consumeVarint32(ptr, tagVarint2); !ok || len(ptr) != 0 {
		return false
	}
	if f.ptr.TransactionId = f.id.decode(id); f.ptr.TransactionId == nil {
		return false
	}
	f.in.OutputPointer = &f.ptr
	return true
}

// decode fills f from a ValueTransferOutput body: a 20-byte PKH, then an optional value
// and time lock.
func (f *fastOutput) decode(b []byte) bool {
	pkh, b, ok := consumeField(b, tagBytes1)
	if !ok || len(pkh) != pkhBodyLen || pkh[0] != tagBytes1 || pkh[1] != pkhLen {
		return false
	}
	for _, dst := range [2]struct {
		tag byte
		v   *uint64
	}{{tagVarint2, &f.out.Value}, {tagVarint3, &f.out.TimeLock}} {
		if len(b) > 0 && b[0] == dst.tag {
			x, n := protowire.ConsumeVarint(b[1:])
			if n < 0 {
				return false
			}
			*dst.v = x
			b = b[1+n:]
		}
	}
	if len(b) != 0 {
		return false
	}
	copy(f.sum[:], pkh[2:])
	f.pkh.Hash = f.sum[:pkhLen:pkhLen]
	f.out.Pkh = &f.pkh
	return true
}

// decode fills f from a KeyedSignature body: a Signature holding a DER signature, then a
// 33-byte public key. The DER bytes are appended to ders, whose
// capacity the caller made large enough.
func (f *fastSignature) decode(b []byte, ders []byte) ([]byte, bool) {
	sig, b, ok := consumeField(b, tagBytes1)
	if !ok {
		return ders, false
	}
	secp, rest, ok := consumeField(sig, tagBytes1)
	if !ok || len(rest) != 0 {
		return ders, false
	}
	var der []byte
	if len(secp) > 0 {
		der, rest, ok = consumeField(secp, tagBytes1)
		if !ok || len(rest) != 0 {
			return ders, false
		}
	}
	pk, rest, ok := consumeField(b, tagBytes2)
	if !ok || len(rest) != 0 || len(pk) != publicKeyBodyLen || pk[0] != tagBytes1 || pk[1] != publicKeyLen {
		return ders, false
	}
	if len(der) > 0 { // an empty one decodes as nil, written or not
		start := len(ders)
		ders = append(ders, der...)
		f.der.Der = ders[start:len(ders):len(ders)]
	}
	copy(f.key[:], pk[2:])
	f.pk.PublicKey = f.key[:publicKeyLen:publicKeyLen]
	f.w.Secp256K1 = &f.der
	f.sig.Kind = &f.w
	f.ks.Signature = &f.sig
	f.ks.PublicKey = &f.pk
	return ders, true
}
