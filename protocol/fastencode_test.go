package protocol

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// marshalGeneral is Marshal through proto.Marshal only, the reference for the direct
// encoder.
func marshalGeneral(m *pb.Message) ([]byte, error) {
	if KindOf(m) == KindNone {
		return nil, ErrNoCommand
	}
	return canonicalMarshal.Marshal(m)
}

// checkFastEncode fails t unless Marshal and MarshalAppend give proto.Marshal's bytes for
// m (or fail when it fails), and reports whether the direct encoder took m.
func checkFastEncode(t testing.TB, m *pb.Message) bool {
	t.Helper()
	want, werr := marshalGeneral(m)
	if werr != nil {
		want = nil // proto.Marshal returns what it wrote before failing; Marshal returns nothing
	}
	got, gerr := Marshal(m)
	if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("Marshal: %x (%v), proto.Marshal: %x (%v)\nmessage: %v", got, gerr, want, werr, m)
	}
	prefix := []byte("prefix")
	dst := append(make([]byte, 0, 8), prefix...) // too small: MarshalAppend must grow it
	app, aerr := MarshalAppend(dst, m)
	if (aerr == nil) != (werr == nil) {
		t.Fatalf("MarshalAppend error %v, proto.Marshal error %v", aerr, werr)
	}
	if aerr == nil && !bytes.Equal(app, append(prefix, want...)) || aerr != nil && !bytes.Equal(app, prefix) {
		t.Fatalf("MarshalAppend: %x, want prefix then %x", app, want)
	}
	k := KindOf(m)
	if k == KindNone {
		return false
	}
	b, ok := appendFast(nil, m, k)
	if ok && !bytes.Equal(b, want) {
		t.Fatalf("direct encoder: %x, proto.Marshal: %x", b, want)
	}
	return ok
}

// addUnknown gives a random message of m's tree unknown fields.
func addUnknown(r *rand.Rand, m protoreflect.Message) {
	var all []protoreflect.Message
	var collect func(m protoreflect.Message)
	collect = func(m protoreflect.Message) {
		all = append(all, m)
		m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			switch {
			case fd.IsList() && fd.Message() != nil:
				for i := 0; i < v.List().Len(); i++ {
					if e := v.List().Get(i).Message(); e.IsValid() {
						collect(e)
					}
				}
			case !fd.IsList() && !fd.IsMap() && fd.Message() != nil && v.Message().IsValid():
				collect(v.Message())
			}
			return true
		})
	}
	collect(m)
	u := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), r.Uint64N(1000))
	all[r.IntN(len(all))].SetUnknown(u)
}

// TestFastEncodeMatchesProto: on builder messages and random ones of the hot kinds (with
// absent sub-messages, zero scalars, wrong lengths, Go-only shapes, unknown fields and
// invalid UTF-8), Marshal and MarshalAppend write exactly what proto.Marshal writes. The
// direct encoder must both take and decline some, or the test proves nothing.
func TestFastEncodeMatchesProto(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 5))
	g := newRuleGen(t, 6, 0.05)
	var took, declined int
	count := func(ok bool) {
		if ok {
			took++
		} else {
			declined++
		}
	}
	for i, m := range hotMessages(t, 3000, 3) {
		require.True(t, checkFastEncode(t, m) || Validate(m) != nil, "declined a valid %v", KindOf(m))
		switch i % 5 {
		case 1:
			g.breakGo(reflect.ValueOf(m), 0.1)
		case 2:
			addUnknown(r, m.ProtoReflect())
		case 3:
			if v := m.GetKind().GetVersion(); v != nil {
				v.UserAgent = string([]byte{'w', 0xff})
			}
		case 4:
			m.Magic = 0
		}
		count(checkFastEncode(t, m))
	}
	t.Logf("direct encoder took %d changed messages and declined %d", took, declined)
	require.NotZero(t, took)
	require.NotZero(t, declined)
}

// TestFastEncodeShapes: the proto3 presence rules, one shape at a time.
func TestFastEncodeShapes(t *testing.T) {
	cmd := func(k any) *pb.Message {
		c := &pb.Message_Command{}
		reflect.ValueOf(c).Elem().FieldByName("Kind").Set(reflect.ValueOf(k))
		return &pb.Message{Magic: uint32(Magic), Kind: c}
	}
	// rawTx wraps tx as it is (NewTransaction would canonicalize it).
	rawTx := func(tx *pb.Transaction) *pb.Message {
		return cmd(&pb.Message_Command_Transaction{Transaction: tx})
	}
	long := make([]*pb.InventoryEntry, 200) // bodies whose lengths take two and three bytes
	for i := range long {
		long[i] = TxEntry(Hash{byte(i)})
	}
	tests := []struct {
		name string
		m    *pb.Message
		take bool
	}{
		{"verack nil member", cmd(&pb.Message_Command_Verack{}), true},
		{"getpeers nil member", cmd(&pb.Message_Command_GetPeers{}), true},
		{"verack typed nil wrapper", cmd((*pb.Message_Command_Verack)(nil)), false},
		{"last beacon nil", cmd(&pb.Message_Command_LastBeacon{}), true},
		{"last beacon empty", cmd(&pb.Message_Command_LastBeacon{LastBeacon: &pb.LastBeacon{}}), true},
		{"checkpoint with nil hash", cmd(&pb.Message_Command_LastBeacon{LastBeacon: &pb.LastBeacon{
			HighestSuperblockCheckpoint: &pb.CheckpointBeacon{Checkpoint: 7}}}), true},
		{"empty checkpoints", cmd(&pb.Message_Command_LastBeacon{LastBeacon: &pb.LastBeacon{
			HighestBlockCheckpoint: &pb.CheckpointBeacon{}, HighestSuperblockCheckpoint: &pb.CheckpointBeacon{}}}), true},
		{"hash without kind", cmd(&pb.Message_Command_LastBeacon{LastBeacon: &pb.LastBeacon{
			HighestBlockCheckpoint: &pb.CheckpointBeacon{HashPrevBlock: &pb.Hash{}}}}), true},
		{"hash with empty bytes", cmd(&pb.Message_Command_LastBeacon{LastBeacon: &pb.LastBeacon{
			HighestBlockCheckpoint: &pb.CheckpointBeacon{HashPrevBlock: &pb.Hash{Kind: &pb.Hash_SHA256{}}}}}), true},
		{"hash typed nil wrapper", cmd(&pb.Message_Command_LastBeacon{LastBeacon: &pb.LastBeacon{
			HighestBlockCheckpoint: &pb.CheckpointBeacon{HashPrevBlock: &pb.Hash{Kind: (*pb.Hash_SHA256)(nil)}}}}), false},
		{"inventory nil", cmd(&pb.Message_Command_InventoryRequest{}), true},
		{"inventory nil element", cmd(&pb.Message_Command_InventoryRequest{InventoryRequest: &pb.InventoryRequest{
			Inventory: []*pb.InventoryEntry{nil}}}), false},
		{"entry without kind, entry with nil hash, superblock 0", cmd(&pb.Message_Command_InventoryAnnouncement{
			InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: []*pb.InventoryEntry{
				{}, {Kind: &pb.InventoryEntry_Block{}}, {Kind: &pb.InventoryEntry_Tx{}}, SuperBlockEntry(0)}}}), true},
		{"200 entries", cmd(&pb.Message_Command_InventoryAnnouncement{
			InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: long}}), true},
		{"version nil", cmd(&pb.Message_Command_Version{}), true},
		{"version empty addresses", cmd(&pb.Message_Command_Version{Version: &pb.Version{
			SenderAddress: &pb.Address{}, ReceiverAddress: &pb.Address{Address: []byte{}}, Timestamp: -5}}), true},
		{"version agent not UTF-8", cmd(&pb.Message_Command_Version{Version: &pb.Version{UserAgent: "\xff"}}), false},
		{"value transfer", valueTransfer(), true},
		{"value transfer nil", rawTx(&pb.Transaction{Kind: &pb.Transaction_ValueTransfer{}}), true},
		{"value transfer, empty values everywhere", rawTx(&pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{
			Body: &pb.VTTransactionBody{
				Inputs:  []*pb.Input{{}, {OutputPointer: &pb.OutputPointer{}}, {OutputPointer: &pb.OutputPointer{TransactionId: &pb.Hash{}}}},
				Outputs: []*pb.ValueTransferOutput{{}, {Pkh: &pb.PublicKeyHash{}}, {Pkh: &pb.PublicKeyHash{Hash: []byte{}}, TimeLock: 9}},
			},
			Signatures: []*pb.KeyedSignature{{}, {Signature: &pb.Signature{}, PublicKey: &pb.PublicKey{}},
				{Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{}}}, {Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{}}}}},
		}}}), true},
		{"value transfer nil input", rawTx(&pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{
			Body: &pb.VTTransactionBody{Inputs: []*pb.Input{nil}}}}}), false},
		{"value transfer nil signature", rawTx(&pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{
			Signatures: []*pb.KeyedSignature{nil}}}}), false},
		{"signature typed nil wrapper", rawTx(&pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{
			Signatures: []*pb.KeyedSignature{{Signature: &pb.Signature{Kind: (*pb.Signature_Secp256K1)(nil)}}}}}}), false},
		{"transaction without kind", rawTx(&pb.Transaction{}), false},
		{"transaction typed nil wrapper", rawTx(&pb.Transaction{Kind: (*pb.Transaction_ValueTransfer)(nil)}), false},
		{"mint", rawTx(&pb.Transaction{Kind: &pb.Transaction_Mint{Mint: &pb.MintTransaction{}}}), false},
		{"block", exampleBlockMessage(t), false},
		{"transaction", NewTransaction(Magic, exampleTransaction(t)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.take, checkFastEncode(t, tt.m))
		})
	}
	_, err := MarshalAppend(nil, &pb.Message{})
	require.True(t, errors.Is(err, ErrNoCommand))
}

// FuzzFastEncode: whatever proto.Unmarshal makes of the bytes, unknown fields kept, Marshal
// writes what proto.Marshal writes.
func FuzzFastEncode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(pb.Message)
		if proto.Unmarshal(b, m) != nil {
			return
		}
		checkFastEncode(t, m)
	})
}
