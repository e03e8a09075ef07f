package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// TestHasUnknownMatchesReflection checks the direct read of unknown fields against
// protobuf's own accessor for every message type the encoder writes: without unknown
// fields, with some, and for a typed nil. It also fails if a type lost its direct read
// (a protobuf-go upgrade that changed the generated structs), which would only be slower.
func TestHasUnknownMatchesReflection(t *testing.T) {
	cases := []struct {
		msg proto.Message
		at  unknownAt
	}{
		{&pb.Message{}, unknownMessage},
		{&pb.Message_Command{}, unknownMessage_Command},
		{&pb.Verack{}, unknownVerack},
		{&pb.GetPeers{}, unknownGetPeers},
		{&pb.InventoryAnnouncement{}, unknownInventoryAnnouncement},
		{&pb.InventoryRequest{}, unknownInventoryRequest},
		{&pb.InventoryEntry{}, unknownInventoryEntry},
		{&pb.Hash{}, unknownHash},
		{&pb.LastBeacon{}, unknownLastBeacon},
		{&pb.CheckpointBeacon{}, unknownCheckpointBeacon},
		{&pb.Version{}, unknownVersion},
		{&pb.Address{}, unknownAddress},
		{&pb.Transaction{}, unknownTransaction},
		{&pb.VTTransaction{}, unknownVTTransaction},
		{&pb.VTTransactionBody{}, unknownVTTransactionBody},
		{&pb.Input{}, unknownInput},
		{&pb.OutputPointer{}, unknownOutputPointer},
		{&pb.ValueTransferOutput{}, unknownValueTransferOutput},
		{&pb.PublicKeyHash{}, unknownPublicKeyHash},
		{&pb.KeyedSignature{}, unknownKeyedSignature},
		{&pb.Signature{}, unknownSignature},
		{&pb.Secp256K1Signature{}, unknownSecp256K1Signature},
		{&pb.PublicKey{}, unknownPublicKey},
	}
	unknown := protowire.AppendVarint(protowire.AppendTag(nil, 999, protowire.VarintType), 7)
	for _, c := range cases {
		name := string(c.msg.ProtoReflect().Descriptor().FullName())
		t.Run(name, func(t *testing.T) {
			require.True(t, c.at.ok, "no direct read of unknown fields")
			m := c.msg
			require.False(t, hasUnknown(m))
			require.Equal(t, len(m.ProtoReflect().GetUnknown()) != 0, hasUnknown(m))
			m.ProtoReflect().SetUnknown(unknown)
			require.True(t, hasUnknown(m))
			require.Equal(t, len(m.ProtoReflect().GetUnknown()) != 0, hasUnknown(m))
			typedNil := m.ProtoReflect().Type().Zero().Interface()
			require.False(t, hasUnknown(typedNil))
		})
	}
	// A type outside the list takes the reflective way.
	other := &pb.Block{}
	require.False(t, hasUnknown(other))
	other.ProtoReflect().SetUnknown(unknown)
	require.True(t, hasUnknown(other))
}
