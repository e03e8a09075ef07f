package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// TestRulesShared: Validate and the item hashes apply the same rules through the same walk,
// so one broken value gives a *DecodeError and an *ItemError that agree on reason and place:
// the decode path is the command's path to the item, then the item path, then (for a Hash,
// PublicKeyHash or PublicKey at fault) the field inside the value.
func TestRulesShared(t *testing.T) {
	block := func(edit func(b *pb.Block)) *pb.Block {
		b := proto.Clone(exampleBlockMessage(t).GetKind().GetBlock()).(*pb.Block)
		edit(b)
		return b
	}
	dr := func(edit func(b *pb.DRTransactionBody)) *pb.Transaction {
		tx := exampleTransaction(t)
		edit(tx.GetDataRequest().GetBody())
		return tx
	}
	const (
		header = "kind.Block.block_header."
		drBody = "kind.Transaction.DataRequest.body."
	)
	tests := []struct {
		name     string
		block    *pb.Block       // hashed as a block (its header), or
		tx       *pb.Transaction // hashed as a transaction
		reason   DecodeReason
		decode   string // DecodeError.Field
		item     string // ItemError.Field
		itemName string // ItemError.Item
	}{
		{"hash unset", block(func(b *pb.Block) { b.BlockHeader.Beacon.HashPrevBlock = &pb.Hash{} }),
			nil, ReasonOneofUnset, header + "beacon.hash_prev_block.kind", "beacon.hash_prev_block", "block header"},
		{"hash oneof wrapper nil", block(func(b *pb.Block) {
			b.BlockHeader.Beacon.HashPrevBlock = &pb.Hash{Kind: (*pb.Hash_SHA256)(nil)}
		}), nil, ReasonOneofUnset, header + "beacon.hash_prev_block.kind", "beacon.hash_prev_block", "block header"},
		{"hash 31 bytes", block(func(b *pb.Block) {
			b.BlockHeader.MerkleRoots.TallyHashMerkleRoot = &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: make([]byte, 31)}}
		}), nil, ReasonHashLength, header + "merkle_roots.tally_hash_merkle_root.SHA256", "merkle_roots.tally_hash_merkle_root", "block header"},
		{"public key 32 bytes", block(func(b *pb.Block) { b.BlockHeader.Proof.Proof.PublicKey.PublicKey = make([]byte, 32) }),
			nil, ReasonPublicKeyLength, header + "proof.proof.public_key.public_key", "proof.proof.public_key", "block header"},
		{"pkh absent", nil, dr(func(b *pb.DRTransactionBody) { b.Outputs = []*pb.ValueTransferOutput{{Value: 1}} }),
			ReasonPKHLength, drBody + "outputs[0].pkh.hash", "body.outputs[0].pkh", "DataRequest transaction"},
		{"witnesses above u16", nil, dr(func(b *pb.DRTransactionBody) { b.DrOutput.Witnesses = 1 << 16 }),
			ReasonWitnesses, drBody + "dr_output.witnesses", "body.dr_output.witnesses", "DataRequest transaction"},
		{"RADType undeclared", nil, dr(func(b *pb.DRTransactionBody) { b.DrOutput.DataRequest.Retrieve[1].Kind = 5 }),
			ReasonEnum, drBody + "dr_output.data_request.retrieve[1].kind", "body.dr_output.data_request.retrieve[1].kind", "DataRequest transaction"},
		{"input hash unset", nil, dr(func(b *pb.DRTransactionBody) { b.Inputs[0].OutputPointer.TransactionId = &pb.Hash{} }),
			ReasonOneofUnset, drBody + "inputs[0].output_pointer.transaction_id.kind",
			"body.inputs[0].output_pointer.transaction_id", "DataRequest transaction"},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				m   *pb.Message
				err error
			)
			if tt.block != nil {
				m = &pb.Message{Magic: uint32(Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Block{Block: tt.block}}}
				_, err = BlockHash(tt.block, V2_0)
			} else {
				m = &pb.Message{Magic: uint32(Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Transaction{Transaction: tt.tx}}}
				_, err = TransactionHash(tt.tx)
			}
			var ie *ItemError
			require.ErrorAs(t, err, &ie)
			require.ErrorIs(t, err, ErrInvalidItem)
			require.Equal(t, tt.itemName, ie.Item)
			require.Equal(t, tt.item, ie.Field, "%v", err)
			require.NotEmpty(t, ie.Reason)

			var de *DecodeError
			require.ErrorAs(t, Validate(m), &de)
			require.Equal(t, tt.reason, de.Reason, "%v", de)
			require.Equal(t, tt.decode, de.Field, "%v", de)
			require.NotEmpty(t, de.Detail)
			require.Equal(t, ie.Reason, de.Detail, "one text for one broken rule")
		})
	}
}

// TestViolationField: the two renderings of a violation's path, with and without the field
// inside a value type.
func TestViolationField(t *testing.T) {
	v := &violation{
		reason: ReasonHashLength,
		path:   []pathElem{{"c", -1}, {"b", 2}, {"a", -1}},
		at:     pathElem{"SHA256", -1},
		whole:  true,
		detail: "hash is 1 bytes, want 32",
	}
	require.Equal(t, "a.b[2].c.SHA256", v.decodeError().Field)
	ie := v.itemError("block header", "body")
	require.Equal(t, "body.a.b[2].c", ie.Field)
	require.Equal(t, "protocol: invalid block header: body.a.b[2].c: hash is 1 bytes, want 32", ie.Error())
	require.Equal(t, "protocol: decode: hash_length at a.b[2].c.SHA256: hash is 1 bytes, want 32", v.Error())

	v.whole = false
	v.at = pathElem{"witnesses", -1}
	require.Equal(t, "a.b[2].c.witnesses", v.itemError("x", "").Field)

	// A violation at the walk's root.
	root := &violation{reason: ReasonOneofUnset, at: pathElem{"kind", -1}, whole: true}
	require.Equal(t, "kind", root.decodeError().Field)
	require.Equal(t, "", root.itemError("x", "").Field)
	require.Equal(t, "body", root.itemError("x", "body").Field)
}

// TestRuleFree: the types a read-only walk skips hold no rule anywhere below them, and the
// types that carry one (directly or below) are never skipped.
func TestRuleFree(t *testing.T) {
	desc := func(m proto.Message) protoreflect.MessageDescriptor { return m.ProtoReflect().Descriptor() }
	for _, m := range []proto.Message{&pb.Bn256PublicKey{}, &pb.Verack{}, &pb.GetPeers{}, &pb.StringPair{}} {
		require.True(t, ruleFree[desc(m)], "%s", desc(m).FullName())
	}
	for _, m := range []proto.Message{
		&pb.Hash{}, &pb.PublicKeyHash{}, &pb.PublicKey{}, &pb.Address{}, &pb.InventoryEntry{}, // typed rules
		&pb.Signature{}, // a oneof
		&pb.DataRequestOutput_RADRequest_RADRetrieve{}, // an enum
		&pb.Message{}, &pb.Block{}, &pb.CheckpointBeacon{}, &pb.Peers{}, // rules below
	} {
		require.False(t, ruleFree[desc(m)], "%s", desc(m).FullName())
	}
	// Every skipped type passes the rules as an empty message, as it must when absent.
	for md := range ruleFree {
		m, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName())
		require.NoError(t, err)
		require.NoError(t, walk(m.New(), canonFix, true), "%s", md.FullName())
	}
}
