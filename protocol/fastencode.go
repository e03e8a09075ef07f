package protocol

import (
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// A direct encoder for the hot commands (those fastdecode.go reads; of transactions, value
// transfers only). proto.Marshal sizes and then writes every message, finding each oneof
// member's coder through a map keyed by its Go type; this encoder writes the same bytes in
// one pass. It reads the generated structs through their exported fields and getters only,
// and asks protobuf's public API for unknown fields.
//
// It follows the proto3 rules the generated code follows: fields in field-number order,
// a scalar only when it is not zero, a singular sub-message whenever its pointer is not
// nil (empty or not), a oneof member whenever its wrapper is set, even when it holds zero
// or a nil message. It declines, and Marshal takes proto.Marshal, for any message with
// unknown fields, a oneof wrapper that is a nil pointer, a nil list element or a user
// agent that is not UTF-8 (which proto.Marshal refuses): shapes no builder makes, whose
// bytes are left to the library. TestFastEncodeMatchesProto compares the two.

// fastKinds are the commands the direct encoder (and decoder) handle.
var fastKinds = [NumKinds]bool{
	KindVersion: true, KindVerack: true, KindGetPeers: true, KindInventoryAnnouncement: true,
	KindInventoryRequest: true, KindLastBeacon: true, KindTransaction: true,
}

// tryFast reports whether the direct encoder may take m, of kind k: its kind is one it
// handles and, for a transaction, a value transfer. The encoder can still decline.
func tryFast(m *pb.Message, k Kind) bool {
	if k != KindTransaction {
		return fastKinds[k]
	}
	w, _ := m.GetKind().GetKind().(*pb.Message_Command_Transaction)
	if w == nil {
		return false
	}
	_, vt := w.Transaction.GetKind().(*pb.Transaction_ValueTransfer)
	return vt
}

// hasUnknown reports whether m carries unknown fields, which proto.Marshal would write
// (the encoder then declines). It asks protobuf's public reflection API; m must not be a
// typed nil (every caller checks its pointer first).
func hasUnknown(m proto.Message) bool {
	return len(m.ProtoReflect().GetUnknown()) != 0
}

// openField appends tag and a one-byte length placeholder and returns where the field's
// body starts.
func openField(b []byte, tag byte) ([]byte, int) {
	b = append(b, tag, 0)
	return b, len(b)
}

// closeField fills in the length of the body written since start, moving the body up
// when the length takes more than one byte.
func closeField(b []byte, start int) []byte {
	n := len(b) - start
	if n < 0x80 {
		b[start-1] = byte(n)
		return b
	}
	k := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, k-1)...)
	copy(b[start+k-1:], b[start:start+n])
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// appendFast appends the encoding of m, a message of kind k, to b and reports whether it
// did; when it did not, what it appended is to be dropped.
func appendFast(b []byte, m *pb.Message, k Kind) ([]byte, bool) {
	cmd := m.GetKind()
	if hasUnknown(m) || hasUnknown(cmd) {
		return b, false
	}
	if magic := m.GetMagic(); magic != 0 {
		b = protowire.AppendVarint(append(b, tagVarint1), uint64(magic))
	}
	b, cmdStart := openField(b, tagBytes2)
	ok := false
	switch k {
	case KindVerack:
		if w, _ := cmd.GetKind().(*pb.Message_Command_Verack); w != nil && (w.Verack == nil || !hasUnknown(w.Verack)) {
			b, ok = append(b, byte(KindVerack)<<3|byte(protowire.BytesType), 0), true
		}
	case KindGetPeers:
		if w, _ := cmd.GetKind().(*pb.Message_Command_GetPeers); w != nil && (w.GetPeers == nil || !hasUnknown(w.GetPeers)) {
			b, ok = append(b, byte(KindGetPeers)<<3|byte(protowire.BytesType), 0), true
		}
	case KindLastBeacon:
		if w, _ := cmd.GetKind().(*pb.Message_Command_LastBeacon); w != nil {
			b, ok = appendLastBeaconField(b, byte(KindLastBeacon)<<3|byte(protowire.BytesType), w.LastBeacon)
		}
	case KindInventoryAnnouncement:
		if w, _ := cmd.GetKind().(*pb.Message_Command_InventoryAnnouncement); w != nil && (w.InventoryAnnouncement == nil || !hasUnknown(w.InventoryAnnouncement)) {
			b, ok = appendEntriesField(b, byte(KindInventoryAnnouncement)<<3|byte(protowire.BytesType), w.InventoryAnnouncement.GetInventory())
		}
	case KindInventoryRequest:
		if w, _ := cmd.GetKind().(*pb.Message_Command_InventoryRequest); w != nil && (w.InventoryRequest == nil || !hasUnknown(w.InventoryRequest)) {
			b, ok = appendEntriesField(b, byte(KindInventoryRequest)<<3|byte(protowire.BytesType), w.InventoryRequest.GetInventory())
		}
	case KindVersion:
		if w, _ := cmd.GetKind().(*pb.Message_Command_Version); w != nil {
			b, ok = appendVersionField(b, w.Version)
		}
	case KindTransaction:
		if w, _ := cmd.GetKind().(*pb.Message_Command_Transaction); w != nil {
			b, ok = appendTransactionField(b, w.Transaction)
		}
	}
	if !ok {
		return b, false
	}
	return closeField(b, cmdStart), true
}

// appendHashField appends a Hash field with tag tag (h may be nil: an empty body).
func appendHashField(b []byte, tag byte, h *pb.Hash) ([]byte, bool) {
	b, start := openField(b, tag)
	switch k := h.GetKind().(type) {
	case nil:
	case *pb.Hash_SHA256:
		if k == nil {
			return b, false
		}
		b = protowire.AppendBytes(append(b, tagBytes1), k.SHA256)
	}
	if h != nil && hasUnknown(h) {
		return b, false
	}
	return closeField(b, start), true
}

// appendLastBeaconField appends a LastBeacon field with tag tag (lb may be nil).
func appendLastBeaconField(b []byte, tag byte, lb *pb.LastBeacon) ([]byte, bool) {
	if lb != nil && hasUnknown(lb) {
		return b, false
	}
	b, start := openField(b, tag)
	ok := true
	for i, cp := range [2]*pb.CheckpointBeacon{lb.GetHighestBlockCheckpoint(), lb.GetHighestSuperblockCheckpoint()} {
		if cp == nil {
			continue
		}
		if hasUnknown(cp) {
			return b, false
		}
		var cpStart int
		b, cpStart = openField(b, byte(i+1)<<3|byte(protowire.BytesType))
		if c := cp.GetCheckpoint(); c != 0 {
			b = protowire.AppendFixed32(append(b, tagFixed32), c)
		}
		if h := cp.GetHashPrevBlock(); h != nil {
			if b, ok = appendHashField(b, tagBytes2, h); !ok {
				return b, false
			}
		}
		b = closeField(b, cpStart)
	}
	return closeField(b, start), true
}

// appendEntriesField appends an InventoryAnnouncement or InventoryRequest field with tag
// tag holding list.
func appendEntriesField(b []byte, tag byte, list []*pb.InventoryEntry) ([]byte, bool) {
	b, start := openField(b, tag)
	ok := true
	for _, e := range list {
		if e == nil || hasUnknown(e) {
			return b, false
		}
		var eStart int
		b, eStart = openField(b, tagBytes1)
		switch k := e.GetKind().(type) {
		case nil:
		case *pb.InventoryEntry_Block:
			if k == nil {
				return b, false
			}
			b, ok = appendHashField(b, tagBytes1, k.Block)
		case *pb.InventoryEntry_Tx:
			if k == nil {
				return b, false
			}
			b, ok = appendHashField(b, tagBytes2, k.Tx)
		case *pb.InventoryEntry_SuperBlock:
			if k == nil {
				return b, false
			}
			b = protowire.AppendVarint(append(b, tagVarint3), uint64(k.SuperBlock))
		}
		if !ok {
			return b, false
		}
		b = closeField(b, eStart)
	}
	return closeField(b, start), true
}

// appendVersionField appends the Version member of a Command (v may be nil).
func appendVersionField(b []byte, v *pb.Version) ([]byte, bool) {
	if v != nil && hasUnknown(v) {
		return b, false
	}
	b, start := openField(b, byte(KindVersion)<<3|byte(protowire.BytesType))
	if x := v.GetVersion(); x != 0 {
		b = protowire.AppendVarint(append(b, tagVarint1), uint64(x))
	}
	if x := v.GetTimestamp(); x != 0 {
		b = protowire.AppendVarint(append(b, tagVarint2), uint64(x))
	}
	if x := v.GetCapabilities(); x != 0 {
		b = protowire.AppendFixed64(append(b, tagFixed64), x)
	}
	for _, f := range [2]struct {
		tag  byte
		addr *pb.Address
	}{{tagSender, v.GetSenderAddress()}, {tagReceiver, v.GetReceiverAddress()}} {
		if f.addr == nil {
			continue
		}
		if hasUnknown(f.addr) {
			return b, false
		}
		var aStart int
		b, aStart = openField(b, f.tag)
		if a := f.addr.GetAddress(); len(a) != 0 {
			b = protowire.AppendBytes(append(b, tagBytes1), a)
		}
		b = closeField(b, aStart)
	}
	if ua := v.GetUserAgent(); ua != "" {
		if !utf8.ValidString(ua) {
			return b, false
		}
		b = protowire.AppendString(append(b, tagAgent), ua)
	}
	if x := v.GetNonce(); x != 0 {
		b = protowire.AppendFixed64(append(b, tagNonce), x)
	}
	if lb := v.GetBeacon(); lb != nil {
		var ok bool
		if b, ok = appendLastBeaconField(b, tagBeacon, lb); !ok {
			return b, false
		}
	}
	return closeField(b, start), true
}

// maxPooledScratch bounds the buffers Marshal keeps for reuse, so that one large
// message does not pin its buffer.
const maxPooledScratch = 16 << 10

// scratch holds encoding buffers for Marshal, which copies the result out at its exact
// size.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// marshalFast is Marshal through the direct encoder, or ok false.
func marshalFast(m *pb.Message, k Kind) (out []byte, ok bool) {
	bp := scratch.Get().(*[]byte)
	b, ok := appendFast((*bp)[:0], m, k)
	if ok {
		out = make([]byte, len(b))
		copy(out, b)
	}
	if cap(b) <= maxPooledScratch {
		*bp = b[:0]
		scratch.Put(bp)
	}
	return out, ok
}

// appendTransactionField appends the Transaction member of a Command when it holds a
// value transfer (tx may be nil only for the general path: it declines).
func appendTransactionField(b []byte, tx *pb.Transaction) ([]byte, bool) {
	if tx == nil || hasUnknown(tx) {
		return b, false
	}
	w, _ := tx.GetKind().(*pb.Transaction_ValueTransfer)
	if w == nil {
		return b, false
	}
	vt := w.ValueTransfer
	if vt != nil && hasUnknown(vt) {
		return b, false
	}
	b, start := openField(b, byte(KindTransaction)<<3|byte(protowire.BytesType))
	b, vwStart := openField(b, tagBytes1)
	if body := vt.GetBody(); body != nil {
		if hasUnknown(body) {
			return b, false
		}
		var bodyStart int
		b, bodyStart = openField(b, tagBytes1)
		for _, in := range body.GetInputs() {
			var ok bool
			if b, ok = appendInput(b, in); !ok {
				return b, false
			}
		}
		for _, out := range body.GetOutputs() {
			var ok bool
			if b, ok = appendOutput(b, tagBytes2, out); !ok {
				return b, false
			}
		}
		b = closeField(b, bodyStart)
	}
	for _, ks := range vt.GetSignatures() {
		var ok bool
		if b, ok = appendKeyedSignature(b, tagBytes2, ks); !ok {
			return b, false
		}
	}
	b = closeField(b, vwStart)
	return closeField(b, start), true
}

// appendInput appends an inputs element.
func appendInput(b []byte, in *pb.Input) ([]byte, bool) {
	if in == nil || hasUnknown(in) {
		return b, false
	}
	b, start := openField(b, tagBytes1)
	if ptr := in.GetOutputPointer(); ptr != nil {
		if hasUnknown(ptr) {
			return b, false
		}
		var ptrStart int
		b, ptrStart = openField(b, tagBytes1)
		if id := ptr.GetTransactionId(); id != nil {
			var ok bool
			if b, ok = appendHashField(b, tagBytes1, id); !ok {
				return b, false
			}
		}
		if x := ptr.GetOutputIndex(); x != 0 {
			b = protowire.AppendVarint(append(b, tagVarint2), uint64(x))
		}
		b = closeField(b, ptrStart)
	}
	return closeField(b, start), true
}

// appendOutput appends a ValueTransferOutput field with tag tag.
func appendOutput(b []byte, tag byte, out *pb.ValueTransferOutput) ([]byte, bool) {
	if out == nil || hasUnknown(out) {
		return b, false
	}
	b, start := openField(b, tag)
	if pkh := out.GetPkh(); pkh != nil {
		if hasUnknown(pkh) {
			return b, false
		}
		var pkhStart int
		b, pkhStart = openField(b, tagBytes1)
		if h := pkh.GetHash(); len(h) != 0 {
			b = protowire.AppendBytes(append(b, tagBytes1), h)
		}
		b = closeField(b, pkhStart)
	}
	if x := out.GetValue(); x != 0 {
		b = protowire.AppendVarint(append(b, tagVarint2), x)
	}
	if x := out.GetTimeLock(); x != 0 {
		b = protowire.AppendVarint(append(b, tagVarint3), x)
	}
	return closeField(b, start), true
}

// appendKeyedSignature appends a KeyedSignature field with tag tag.
func appendKeyedSignature(b []byte, tag byte, ks *pb.KeyedSignature) ([]byte, bool) {
	if ks == nil || hasUnknown(ks) {
		return b, false
	}
	b, start := openField(b, tag)
	if sig := ks.GetSignature(); sig != nil {
		if hasUnknown(sig) {
			return b, false
		}
		var sigStart int
		b, sigStart = openField(b, tagBytes1)
		switch k := sig.GetKind().(type) {
		case nil:
		case *pb.Signature_Secp256K1:
			if k == nil || k.Secp256K1 != nil && hasUnknown(k.Secp256K1) {
				return b, false
			}
			var secpStart int
			b, secpStart = openField(b, tagBytes1)
			if der := k.Secp256K1.GetDer(); len(der) != 0 {
				b = protowire.AppendBytes(append(b, tagBytes1), der)
			}
			b = closeField(b, secpStart)
		}
		b = closeField(b, sigStart)
	}
	if pk := ks.GetPublicKey(); pk != nil {
		if hasUnknown(pk) {
			return b, false
		}
		var pkStart int
		b, pkStart = openField(b, tagBytes2)
		if key := pk.GetPublicKey(); len(key) != 0 {
			b = protowire.AppendBytes(append(b, tagBytes1), key)
		}
		b = closeField(b, pkStart)
	}
	return closeField(b, start), true
}
