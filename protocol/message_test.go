package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// exampleBlockMessage returns the messages.json block_example wrapped in a Block message.
func exampleBlockMessage(t testing.TB) *pb.Message {
	t.Helper()
	return NewBlock(1, exampleBlock(t))
}

func exampleVersion() *pb.Message {
	return NewVersion(VersionParams{
		Magic:     Magic,
		Timestamp: 1_742_568_750,
		Sender:    LegacyAddress(netip.MustParseAddrPort("203.0.113.7:21337")),
		Receiver:  LegacyAddress(netip.MustParseAddrPort("198.51.100.2:50123")),
		Nonce:     0x0123456789abcdef,
		Beacon: NewLastBeaconPB(NewCheckpointBeacon(3_200_000, Hash{1, 2, 3}),
			NewCheckpointBeacon(320_000, Hash{4, 5, 6})),
	})
}

// mustMarshalRaw encodes m with plain proto.Marshal, bypassing every check, to build
// invalid payloads.
func mustMarshalRaw(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	require.NoError(t, err)
	return b
}

func TestVerackBytes(t *testing.T) {
	b, err := Marshal(NewVerack(Magic))
	require.NoError(t, err)
	// 08 cc 53: magic 10700; 12 02: the Command; 12 00: the empty Verack member.
	require.Equal(t, "08cc5312021200", hex.EncodeToString(b))
	require.True(t, bytes.HasSuffix(b, []byte{0x12, 0x00}))

	// A Verack member holding nil is written the same way.
	nilVerack := &pb.Message{Magic: uint32(Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Verack{}}}
	b2, err := Marshal(nilVerack)
	require.NoError(t, err)
	require.Equal(t, b, b2)
}

func TestMarshalRefusesNoCommand(t *testing.T) {
	for name, m := range map[string]*pb.Message{
		"nil":        nil,
		"no kind":    {Magic: 1},
		"empty kind": {Magic: 1, Kind: &pb.Message_Command{}},
	} {
		_, err := Marshal(m)
		require.ErrorIs(t, err, ErrNoCommand, name)
	}
}

func TestKindOf(t *testing.T) {
	inv, err := NewInventoryAnnouncement(Magic, []*pb.InventoryEntry{SuperBlockEntry(1)})
	require.NoError(t, err)
	req, err := NewInventoryRequest(Magic, []*pb.InventoryEntry{SuperBlockEntry(1)})
	require.NoError(t, err)
	tests := []struct {
		m    *pb.Message
		want Kind
	}{
		{nil, KindNone},
		{&pb.Message{}, KindNone},
		{exampleVersion(), KindVersion},
		{NewVerack(Magic), KindVerack},
		{NewGetPeers(Magic), KindGetPeers},
		{NewPeers(Magic, nil), KindPeers},
		{exampleBlockMessage(t), KindBlock},
		{inv, KindInventoryAnnouncement},
		{req, KindInventoryRequest},
		{NewLastBeacon(Magic, nil), KindLastBeacon},
		{NewTransaction(Magic, exampleTransaction(t)), KindTransaction},
		{NewSuperBlockVote(Magic, &pb.SuperBlockVote{}), KindSuperBlockVote},
		{NewSuperBlock(Magic, &pb.SuperBlock{}), KindSuperBlock},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, KindOf(tt.m), "%v", tt.want)
	}
}

// TestUnmarshalRejects checks that every rule of PROTOCOL.md section 2 yields a *DecodeError
// with the expected reason and field path.
func TestUnmarshalRejects(t *testing.T) {
	block := func(edit func(b *pb.Block)) []byte {
		m := exampleBlockMessage(t)
		edit(m.GetKind().GetBlock())
		return mustMarshalRaw(t, m)
	}
	version := func(edit func(v *pb.Version)) []byte {
		m := exampleVersion()
		edit(m.GetKind().GetVersion())
		return mustMarshalRaw(t, m)
	}
	tx := func(edit func(tx *pb.Transaction)) []byte {
		m := NewTransaction(Magic, exampleTransaction(t))
		edit(m.GetKind().GetTransaction())
		return mustMarshalRaw(t, m)
	}
	drOutput := func(b *pb.Block) *pb.DataRequestOutput {
		return b.GetTxns().GetDataRequestTxns()[0].GetBody().GetDrOutput()
	}
	shortHash := &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: make([]byte, 31)}}

	tests := []struct {
		name   string
		in     []byte
		reason DecodeReason
		field  string
	}{
		{"empty payload", nil, ReasonEmpty, ""},
		{"zero-length slice", []byte{}, ReasonEmpty, ""},
		{"not protobuf", []byte{0xff, 0xff, 0xff}, ReasonMalformed, ""},
		{"truncated", mustMarshalRaw(t, exampleVersion())[:20], ReasonMalformed, ""},
		{"magic above u16", mustMarshalRaw(t, &pb.Message{Magic: 65536, Kind: NewGetPeers(0).Kind}), ReasonMagic, "magic"},
		{"no command", mustMarshalRaw(t, &pb.Message{Magic: 1}), ReasonOneofUnset, "kind.kind"},
		{"empty command", []byte{0x12, 0x00}, ReasonOneofUnset, "kind.kind"},
		{"sender address 5 bytes", version(func(v *pb.Version) { v.SenderAddress.Address = make([]byte, 5) }),
			ReasonAddress, "kind.Version.sender_address.address"},
		{"receiver address missing", version(func(v *pb.Version) { v.ReceiverAddress = nil }),
			ReasonAddress, "kind.Version.receiver_address.address"},
		{"beacon hash 31 bytes", version(func(v *pb.Version) { v.Beacon.HighestBlockCheckpoint.HashPrevBlock = shortHash }),
			ReasonHashLength, "kind.Version.beacon.highest_block_checkpoint.hash_prev_block.SHA256"},
		{"beacon missing", version(func(v *pb.Version) { v.Beacon = nil }),
			ReasonOneofUnset, "kind.Version.beacon.highest_block_checkpoint.hash_prev_block.kind"},
		{"hash kind unset", version(func(v *pb.Version) { v.Beacon.HighestSuperblockCheckpoint.HashPrevBlock = &pb.Hash{} }),
			ReasonOneofUnset, "kind.Version.beacon.highest_superblock_checkpoint.hash_prev_block.kind"},
		{"peer address 7 bytes", mustMarshalRaw(t, NewPeers(Magic, [][]byte{make([]byte, 6), make([]byte, 7)})),
			ReasonAddress, "kind.Peers.peers[1].address"},
		{"inventory entry without kind", mustMarshalRaw(t, &pb.Message{Kind: &pb.Message_Command{Kind: &pb.Message_Command_InventoryRequest{
			InventoryRequest: &pb.InventoryRequest{Inventory: []*pb.InventoryEntry{BlockEntry(Hash{}), {}}}}}}),
			ReasonOneofUnset, "kind.InventoryRequest.inventory[1].kind"},
		{"inventory block hash 33 bytes", mustMarshalRaw(t, &pb.Message{Kind: &pb.Message_Command{Kind: &pb.Message_Command_InventoryAnnouncement{
			InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: []*pb.InventoryEntry{
				{Kind: &pb.InventoryEntry_Block{Block: &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: make([]byte, 33)}}}}}}}}}),
			ReasonHashLength, "kind.InventoryAnnouncement.inventory[0].Block.SHA256"},
		{"block mint hash missing", block(func(b *pb.Block) { b.BlockHeader.MerkleRoots.MintHash = nil }),
			ReasonOneofUnset, "kind.Block.block_header.merkle_roots.mint_hash.kind"},
		{"block one legacy root missing", block(func(b *pb.Block) { b.BlockHeader.MerkleRoots.UnstakeHashMerkleRoot = nil }),
			ReasonOneofUnset, "kind.Block.block_header.merkle_roots.unstake_hash_merkle_root.kind"},
		{"vrf public key 32 bytes", block(func(b *pb.Block) { b.BlockHeader.Proof.Proof.PublicKey.PublicKey = make([]byte, 32) }),
			ReasonPublicKeyLength, "kind.Block.block_header.proof.proof.public_key.public_key"},
		{"block signature kind unset", block(func(b *pb.Block) { b.BlockSig.Signature = &pb.Signature{} }),
			ReasonOneofUnset, "kind.Block.block_sig.signature.kind"},
		{"output pkh 19 bytes", block(func(b *pb.Block) {
			b.Txns.DataRequestTxns[0].Body.Outputs[0].Pkh.Hash = make([]byte, 19)
		}), ReasonPKHLength, "kind.Block.txns.data_request_txns[0].body.outputs[0].pkh.hash"},
		{"witnesses above u16", block(func(b *pb.Block) { drOutput(b).Witnesses = 65536 }),
			ReasonWitnesses, "kind.Block.txns.data_request_txns[0].body.dr_output.witnesses"},
		{"RADType 5", block(func(b *pb.Block) { drOutput(b).DataRequest.Retrieve[1].Kind = 5 }),
			ReasonEnum, "kind.Block.txns.data_request_txns[0].body.dr_output.data_request.retrieve[1].kind"},
		{"transaction kind unset", tx(func(tx *pb.Transaction) { tx.Kind = nil }),
			ReasonOneofUnset, "kind.Transaction.kind"},
		{"transaction input hash missing", tx(func(tx *pb.Transaction) {
			tx.GetDataRequest().Body.Inputs[0].OutputPointer = nil
		}), ReasonOneofUnset, "kind.Transaction.DataRequest.body.inputs[0].output_pointer.transaction_id.kind"},
		{"superblock vote hash missing", mustMarshalRaw(t, NewSuperBlockVote(Magic, &pb.SuperBlockVote{})),
			ReasonOneofUnset, "kind.SuperBlockVote.secp256k1_signature.signature.kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Unmarshal(tt.in)
			require.Nil(t, m)
			require.ErrorIs(t, err, ErrDecode)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Equal(t, tt.reason, de.Reason, "%v", err)
			require.Equal(t, tt.field, de.Field, "%v", err)
			require.NotEmpty(t, de.Error())
		})
	}
}

func TestValidateNil(t *testing.T) {
	require.ErrorIs(t, Validate(nil), ErrDecode)
	// A set command member holding nil reads as the empty command, as on the wire.
	err := Validate(&pb.Message{Kind: &pb.Message_Command{Kind: &pb.Message_Command_Version{}}})
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, "kind.Version.sender_address.address", de.Field)
	require.NoError(t, Validate(&pb.Message{Kind: &pb.Message_Command{Kind: &pb.Message_Command_GetPeers{}}}))
}

// TestUnmarshalAcceptsEmptyOptionalMessages checks the other side of "absent reads as
// empty": sub-messages with no rule (a BN256 key, a Verack) may be left out by the peer.
func TestUnmarshalAcceptsEmptyOptionalMessages(t *testing.T) {
	m := exampleBlockMessage(t)
	m.GetKind().GetBlock().GetBlockHeader().Bn256PublicKey = nil
	got, err := Unmarshal(mustMarshalRaw(t, m))
	require.NoError(t, err)
	require.Nil(t, got.GetKind().GetBlock().GetBlockHeader().GetBn256PublicKey())

	// Unknown fields are dropped: the re-encoding is canonical.
	b := mustMarshalRaw(t, NewGetPeers(Magic))
	b = protowire.AppendTag(b, 99, protowire.VarintType)
	b = protowire.AppendVarint(b, 7)
	got, err = Unmarshal(b)
	require.NoError(t, err)
	re, err := Marshal(got)
	require.NoError(t, err)
	require.Equal(t, mustMarshalRaw(t, NewGetPeers(Magic)), re)
}

// legacyBlockBytes encodes m's block as a V1.7 LegacyMessage: merkle roots 1-6 only, no
// stake or unstake transaction lists.
func legacyBlockBytes(t testing.TB, m *pb.Message) []byte {
	t.Helper()
	blk := proto.Clone(m.GetKind().GetBlock()).(*pb.Block)
	blk.BlockHeader.MerkleRoots.StakeHashMerkleRoot = nil
	blk.BlockHeader.MerkleRoots.UnstakeHashMerkleRoot = nil
	blk.Txns.StakeTxns, blk.Txns.UnstakeTxns = nil, nil
	legacy := new(pb.LegacyBlock)
	// LegacyBlock is a field-number subset of Block, so the bytes carry over.
	require.NoError(t, proto.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(mustMarshalRaw(t, blk), legacy))
	require.Empty(t, legacy.ProtoReflect().GetUnknown())
	return mustMarshalRaw(t, &pb.LegacyMessage{Magic: m.GetMagic(), Kind: &pb.LegacyMessage_LegacyCommand{
		Kind: &pb.LegacyMessage_LegacyCommand_Block{Block: legacy},
	}})
}

func TestUnmarshalLegacyBlock(t *testing.T) {
	f := loadVectors(t, "messages.json")
	var current []byte
	for _, v := range f.vectorsOf(t, "message") {
		if v.Name == "message_block_example_v1_8" {
			current = newVectorObject(t, v.Name, v.Expected).hex("bytes", -1)
		}
	}
	require.NotNil(t, current)
	want := exampleBlockMessage(t)

	legacy := legacyBlockBytes(t, want)
	// Two Hash fields of 36 bytes each (tag, length, 34-byte Hash body) are missing; every
	// enclosing length still takes two varint bytes.
	require.Equal(t, len(current)-2*36, len(legacy))

	got, err := Unmarshal(legacy)
	require.NoError(t, err)
	// block_example's stake and unstake roots are zeros, so the filled V1.7 form is exactly
	// the current-schema vector.
	require.True(t, proto.Equal(want, got))
	re, err := Marshal(got)
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString(current), hex.EncodeToString(re))

	// The fallback does not hide other failures.
	bad := proto.Clone(want).(*pb.Message)
	bad.GetKind().GetBlock().BlockHeader.Beacon.HashPrevBlock = nil
	_, err = Unmarshal(legacyBlockBytes(t, bad))
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.Equal(t, "kind.Block.block_header.beacon.hash_prev_block.kind", de.Field)
}

func TestLimits(t *testing.T) {
	addr := LegacyAddress(netip.MustParseAddrPort("10.0.0.1:21337"))
	peers := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = addr
		}
		return out
	}
	entries := func(n int) []*pb.InventoryEntry {
		out := make([]*pb.InventoryEntry, n)
		for i := range out {
			out[i] = BlockEntry(Hash{byte(i)})
		}
		return out
	}

	// At the limit: accepted.
	_, err := Unmarshal(mustMarshalRaw(t, NewPeers(Magic, peers(MaxPeersPerMessage))))
	require.NoError(t, err)
	inv, err := NewInventoryAnnouncement(Magic, entries(MaxInventoryEntries))
	require.NoError(t, err)
	_, err = Unmarshal(mustMarshalRaw(t, inv))
	require.NoError(t, err)

	// Above it: refused by Unmarshal (before parsing) and by Validate.
	over := NewPeers(Magic, peers(MaxPeersPerMessage+1))
	_, err = Unmarshal(mustMarshalRaw(t, over))
	require.ErrorIs(t, err, ErrTooManyPeers)
	require.ErrorIs(t, err, ErrDecode)
	require.ErrorIs(t, Validate(over), ErrTooManyPeers)

	for _, kind := range []string{"announcement", "request"} {
		var cmd pb.Message_Command
		if kind == "announcement" {
			cmd.Kind = &pb.Message_Command_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: entries(MaxInventoryEntries + 1)}}
		} else {
			cmd.Kind = &pb.Message_Command_InventoryRequest{InventoryRequest: &pb.InventoryRequest{Inventory: entries(MaxInventoryEntries + 1)}}
		}
		m := &pb.Message{Magic: uint32(Magic), Kind: &cmd}
		_, err = Unmarshal(mustMarshalRaw(t, m))
		require.ErrorIs(t, err, ErrTooManyEntries, kind)
		var de *DecodeError
		require.ErrorAs(t, err, &de)
		require.Equal(t, ReasonTooManyEntries, de.Reason)
		require.Contains(t, de.Field, "inventory")
		require.ErrorIs(t, Validate(m), ErrTooManyEntries, kind)
	}

	// The count runs before the protobuf parse: an oversized list followed by garbage is
	// reported as too long, not as malformed.
	b := mustMarshalRaw(t, over)
	b = append(b, 0xff, 0xff)
	_, err = Unmarshal(b)
	require.ErrorIs(t, err, ErrTooManyPeers)

	// Repeated occurrences of the same command field are merged by protobuf, so the counts
	// add up across them.
	half := mustMarshalRaw(t, NewPeers(Magic, peers(MaxPeersPerMessage/2+1)))
	cmdHalf := half[3:] // drop "08 cc 53"
	twice := append(append([]byte{0x08, 0xcc, 0x53}, cmdHalf...), cmdHalf...)
	_, err = Unmarshal(twice)
	require.ErrorIs(t, err, ErrTooManyPeers)
}

// TestUserAgentLimit: a Version's user agent may be MaxUserAgentLength bytes long, not one
// more, through the direct decoder and the general one alike.
func TestUserAgentLimit(t *testing.T) {
	for _, n := range []int{MaxUserAgentLength, MaxUserAgentLength + 1, 8 << 20} {
		m := exampleVersion()
		m.GetKind().GetVersion().UserAgent = strings.Repeat("a", n)
		b := mustMarshalRaw(t, m)
		for name, decode := range map[string]func([]byte) (*pb.Message, error){"Unmarshal": Unmarshal, "general": unmarshalGeneral} {
			_, err := decode(b)
			if n <= MaxUserAgentLength {
				require.NoError(t, err, name)
				continue
			}
			require.ErrorIs(t, err, ErrUserAgentTooLong, "%s, %d bytes", name, n)
			var de *DecodeError
			require.ErrorAs(t, err, &de)
			require.Equal(t, ReasonUserAgentLength, de.Reason)
			require.Equal(t, "kind.Version.user_agent", de.Field)
			require.Contains(t, de.Error(), "> 256")
		}
	}
}

func TestDecodeErrorText(t *testing.T) {
	err := &DecodeError{Reason: ReasonHashLength, Field: "kind.Block", Detail: "31 bytes", Err: errors.New("x")}
	require.Equal(t, "protocol: decode: hash_length at kind.Block: 31 bytes: x", err.Error())
	require.Equal(t, "DecodeReason(200)", DecodeReason(200).String())
	for r := ReasonEmpty; r <= ReasonUserAgentLength; r++ {
		require.NotContains(t, r.String(), "DecodeReason", "reason %d has no name", r)
	}
}

// fuzzSeeds are the valid payloads every fuzz run starts from (the committed corpus in
// testdata/fuzz/FuzzUnmarshal adds mutated ones).
func fuzzSeeds(t testing.TB) [][]byte {
	f := loadVectors(t, "messages.json")
	var seeds [][]byte
	for _, v := range f.vectorsOf(t, "message") {
		seeds = append(seeds, newVectorObject(t, v.Name, v.Expected).hex("bytes", -1))
	}
	inv, err := NewInventoryRequest(Magic, []*pb.InventoryEntry{TxEntry(Hash{9}), SuperBlockEntry(0)})
	require.NoError(t, err)
	for _, m := range []*pb.Message{exampleVersion(), NewVerack(Magic), inv, NewLastBeacon(Magic, nil)} {
		seeds = append(seeds, mustMarshalRaw(t, m))
	}
	return append(seeds, legacyBlockBytes(t, exampleBlockMessage(t)))
}

// FuzzUnmarshal checks that Unmarshal never panics, fails only with a *DecodeError, and
// that whatever it accepts re-encodes to bytes it accepts again as the same message.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrDecode) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		if KindOf(m) == KindNone {
			t.Fatal("accepted a message without a command")
		}
		re, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of an accepted message: %v", err)
		}
		m2, err := Unmarshal(re)
		if err != nil {
			t.Fatalf("re-encoding %x not accepted: %v", re, err)
		}
		if !proto.Equal(m, m2) {
			t.Fatalf("unstable round trip:\n%v\n%v", m, m2)
		}
		re2, err := Marshal(m2)
		if err != nil || !bytes.Equal(re, re2) {
			t.Fatalf("second encoding differs: %x vs %x (%v)", re, re2, err)
		}
	})
}

func benchMarshal(b *testing.B, m *pb.Message) {
	b.ReportAllocs()
	out, err := Marshal(m)
	require.NoError(b, err)
	b.SetBytes(int64(len(out)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func benchUnmarshal(b *testing.B, m *pb.Message) {
	b.ReportAllocs()
	in, err := Marshal(m)
	require.NoError(b, err)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Unmarshal(in); err != nil {
			b.Fatal(err)
		}
	}
}

// benchValidate measures Validate alone (Unmarshal = protobuf parse + Validate).
func benchValidate(b *testing.B, m *pb.Message) {
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(m); err != nil {
			b.Fatal(err)
		}
	}
}

func inventory16(b *testing.B) *pb.Message {
	entries := make([]*pb.InventoryEntry, 16)
	for i := range entries {
		entries[i] = BlockEntry(Hash{byte(i), 0xaa})
	}
	m, err := NewInventoryAnnouncement(Magic, entries)
	require.NoError(b, err)
	return m
}

// inventory2 is the typical gossip announcement: two transaction hashes.
func inventory2(b *testing.B) *pb.Message {
	m, err := NewInventoryAnnouncement(Magic, []*pb.InventoryEntry{TxEntry(Hash{1, 0xaa}), TxEntry(Hash{2, 0xbb})})
	require.NoError(b, err)
	return m
}

// lastBeacon is the ~100-byte message of the session throughput benchmark.
func lastBeacon() *pb.Message {
	return NewLastBeacon(Magic, NewLastBeaconPB(NewCheckpointBeacon(3_200_000, Hash{0xaa, 1, 2, 3}),
		NewCheckpointBeacon(160_000, Hash{0xbb, 4, 5, 6})))
}

// valueTransfer is a value transfer of two inputs and two outputs signed once, ~330
// bytes on the wire: the usual transaction a node relays.
func valueTransfer() *pb.Message {
	input := func(b byte) *pb.Input {
		return &pb.Input{OutputPointer: &pb.OutputPointer{TransactionId: NewHashPB(Hash{b, 0x11}), OutputIndex: uint32(b)}}
	}
	output := func(b byte, value uint64) *pb.ValueTransferOutput {
		pkh := make([]byte, pkhLen)
		pkh[0] = b
		return &pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{Hash: pkh}, Value: value}
	}
	der := bytes.Repeat([]byte{0x30}, 71)
	key := append([]byte{0x02}, bytes.Repeat([]byte{0x5a}, 32)...)
	return NewTransaction(Magic, &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{
		Body: &pb.VTTransactionBody{
			Inputs:  []*pb.Input{input(1), input(2)},
			Outputs: []*pb.ValueTransferOutput{output(3, 1_000_000_000), output(4, 123_456_789)},
		},
		Signatures: []*pb.KeyedSignature{{
			Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: der}}},
			PublicKey: &pb.PublicKey{PublicKey: key},
		}},
	}}})
}

// benchMessages are the messages BenchmarkMessage measures: the hot small kinds of a
// running session, then the large ones.
var benchMessages = []struct {
	name string
	m    func(b *testing.B) *pb.Message
}{
	{"Verack", func(*testing.B) *pb.Message { return NewVerack(Magic) }},
	{"GetPeers", func(*testing.B) *pb.Message { return NewGetPeers(Magic) }},
	{"LastBeacon", func(*testing.B) *pb.Message { return lastBeacon() }},
	{"Inventory2", inventory2},
	{"Version", func(*testing.B) *pb.Message { return exampleVersion() }},
	{"ValueTransfer", func(*testing.B) *pb.Message { return valueTransfer() }},
	{"Transaction", func(b *testing.B) *pb.Message { return NewTransaction(Magic, exampleTransaction(b)) }},
	{"Inventory16", inventory16},
	{"BlockExample", func(b *testing.B) *pb.Message { return exampleBlockMessage(b) }},
}

func BenchmarkMessage(b *testing.B) {
	cases := benchMessages
	for _, c := range cases {
		b.Run(fmt.Sprintf("Marshal/%s", c.name), func(b *testing.B) { benchMarshal(b, c.m(b)) })
		b.Run(fmt.Sprintf("Unmarshal/%s", c.name), func(b *testing.B) { benchUnmarshal(b, c.m(b)) })
		b.Run(fmt.Sprintf("Validate/%s", c.name), func(b *testing.B) { benchValidate(b, c.m(b)) })
	}
}
