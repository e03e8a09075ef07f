package protocol

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Evaluation of vtprotobuf (issue 10): its MarshalVT/UnmarshalVT against this package's
// codec. TestVTProtoVectors shows it writes and reads every message vector; the other
// tests pin the places where it does not do what proto.Marshal / proto.Unmarshal (and
// so Marshal / Unmarshal) do.

func TestVTProtoVectors(t *testing.T) {
	f := loadVectors(t, "messages.json")
	for _, v := range f.vectorsOf(t, "message") {
		t.Run(v.Name, func(t *testing.T) {
			in := newVectorObject(t, v.Name+".input", v.Input)
			exp := newVectorObject(t, v.Name+".expected", v.Expected)
			want := exp.hex("bytes", int(exp.u32("length")))
			msg := vectorTo[*pb.Message](t, f, in.get("message"))
			got, err := msg.MarshalVT()
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got))
			dec := new(pb.Message)
			require.NoError(t, dec.UnmarshalVT(want))
			require.True(t, proto.Equal(msg, dec))
		})
	}
}

// TestVTProtoMarshalDiffers: the Go shapes on which MarshalVT departs from proto.Marshal.
func TestVTProtoMarshalDiffers(t *testing.T) {
	// A oneof member holding a nil message: proto.Marshal writes it empty (12 00, the
	// Verack command), MarshalVT leaves it out (an empty Command, which a peer refuses).
	nilVerack := &pb.Message{Magic: uint32(Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Verack{}}}
	vt, err := nilVerack.MarshalVT()
	require.NoError(t, err)
	require.Equal(t, "08cc531200", hex.EncodeToString(vt))
	require.Equal(t, "08cc5312021200", hex.EncodeToString(mustMarshalRaw(t, nilVerack)))
	// The same deeper down, on a value Validate accepts: a signature whose Secp256k1 member
	// holds nil.
	tx := valueTransfer()
	sig := tx.GetKind().GetTransaction().GetValueTransfer().GetSignatures()[0].GetSignature()
	sig.Kind = &pb.Signature_Secp256K1{}
	require.NoError(t, Validate(tx))
	vt, err = tx.MarshalVT()
	require.NoError(t, err)
	require.NotEqual(t, mustMarshalRaw(t, tx), vt)

	// A typed nil oneof wrapper: proto.Marshal writes the oneof as unset, MarshalVT panics.
	typedNil := &pb.Message{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Verack)(nil)}}
	require.Panics(t, func() { _, _ = typedNil.MarshalVT() })
	_, err = proto.Marshal(typedNil)
	require.NoError(t, err)

	// A string that is not UTF-8: proto.Marshal refuses it, MarshalVT writes it.
	v := exampleVersion()
	v.GetKind().GetVersion().UserAgent = "\xff"
	_, err = v.MarshalVT()
	require.NoError(t, err)
	_, err = proto.Marshal(v)
	require.Error(t, err)
}

// TestVTProtoUnmarshalDiffers: the payloads on which UnmarshalVT departs from
// proto.Unmarshal with DiscardUnknown (Unmarshal's general path).
func TestVTProtoUnmarshalDiffers(t *testing.T) {
	// A known field with another wire type: protobuf-go keeps it as an unknown field (and
	// so drops it), UnmarshalVT refuses the message. Here the Verack member as a varint.
	wrongType, _ := hex.DecodeString("08cc5312021000")
	require.Error(t, new(pb.Message).UnmarshalVT(wrongType))
	require.NoError(t, unmarshalOpts.Unmarshal(wrongType, new(pb.Message)))

	// Unknown fields: UnmarshalVT has no DiscardUnknown; it keeps them, and so would a
	// re-encoded (relayed) message.
	unknown, _ := hex.DecodeString("08cc5312021200" + "f006" + "07") // field 110 = 7
	m := new(pb.Message)
	require.NoError(t, m.UnmarshalVT(unknown))
	require.NotEmpty(t, m.ProtoReflect().GetUnknown())
	p := new(pb.Message)
	require.NoError(t, unmarshalOpts.Unmarshal(unknown, p))
	require.Empty(t, p.ProtoReflect().GetUnknown())

	// A group whose end tag names another field: protobuf-go refuses it, UnmarshalVT
	// skips it as an unknown field.
	badGroup, _ := hex.DecodeString("08cc5312021200" + "6b" + "d401") // start group 13, end group 26
	require.NoError(t, new(pb.Message).UnmarshalVT(badGroup))
	require.Error(t, unmarshalOpts.Unmarshal(badGroup, new(pb.Message)))

	// A string that is not UTF-8: protobuf-go refuses it, UnmarshalVT keeps it.
	b, _ := hex.DecodeString("08cc5312060a043202fffe") // Version{user_agent: ff fe}
	require.NoError(t, new(pb.Message).UnmarshalVT(b))
	require.Error(t, unmarshalOpts.Unmarshal(b, new(pb.Message)))
}

// dropUnknown clears the unknown fields of m and every message below it, through
// protoreflect: what UnmarshalVT would need to match DiscardUnknown.
func dropUnknown(m protoreflect.Message) {
	m.SetUnknown(nil)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				dropUnknown(v.List().Get(i).Message())
			}
		case fd.Message() != nil:
			dropUnknown(v.Message())
		}
		return true
	})
}
