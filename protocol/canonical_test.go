package protocol

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// TestCanonicalBytesForms checks rules 3, 4 and 7 of PROTOCOL.md section 2 on small values
// whose canonical bytes are written out here.
func TestCanonicalBytesForms(t *testing.T) {
	// An empty Block: every singular sub-message written, unset oneofs (Hash, Signature)
	// left empty rather than invented.
	emptyRoots := func() []byte {
		var b []byte
		for i := 1; i <= 8; i++ {
			b = pwMsg(b, protowire.Number(i), nil)
		}
		return b
	}()
	header := pwMsg(nil, 2, pwMsg(nil, 2, nil))                  // beacon { hash_prev_block {} }
	header = pwMsg(header, 3, emptyRoots)                        // merkle_roots
	header = pwMsg(header, 4, pwMsg(nil, 1, pwMsg(nil, 2, nil))) // proof { proof { public_key {} } }
	header = pwMsg(header, 5, nil)                               // bn256_public_key
	block := pwMsg(nil, 1, header)                               //
	block = pwMsg(block, 2, pwMsg(pwMsg(nil, 1, nil), 2, nil))   // block_sig { signature {} public_key {} }
	block = pwMsg(block, 3, pwMsg(nil, 1, nil))                  // txns { mint {} }

	stakeBody := pwMsg(nil, 2, pwMsg(pwMsg(nil, 2, pwMsg(pwMsg(nil, 1, nil), 2, nil)), 3, pwMsg(pwMsg(nil, 1, nil), 2, nil)))
	stakeBody = append(stakeBody, 0x1a, 0x18, 0x0a, 0x16, 0x0a, 0x14)
	stakeBody = append(stakeBody, make([]byte, 20)...)

	tests := []struct {
		name string
		m    proto.Message
		want []byte
	}{
		{"empty block", &pb.Block{}, block},
		{"verack", &pb.Message{Magic: 10700, Kind: &pb.Message_Command{Kind: &pb.Message_Command_Verack{}}},
			[]byte{0x08, 0xcc, 0x53, 0x12, 0x02, 0x12, 0x00}},
		{"verack member holding nil", &pb.Message{Magic: 1, Kind: &pb.Message_Command{Kind: &pb.Message_Command_Verack{Verack: nil}}},
			[]byte{0x08, 0x01, 0x12, 0x02, 0x12, 0x00}},
		{"message without command", &pb.Message{}, []byte{0x12, 0x00}},
		{"superblock entry 0", &pb.InventoryEntry{Kind: &pb.InventoryEntry_SuperBlock{SuperBlock: 0}}, []byte{0x18, 0x00}},
		{"block entry without hash", &pb.InventoryEntry{Kind: &pb.InventoryEntry_Block{}}, []byte{0x0a, 0x00}},
		{"unset hash", &pb.Hash{}, nil},
		{"nil list element", &pb.VTTransactionBody{Inputs: []*pb.Input{nil}},
			pwMsg(nil, 1, pwMsg(nil, 1, pwMsg(nil, 1, nil)))},
		{"stake body without change", &pb.StakeTransactionBody{}, stakeBody},
		{"stake body with empty change", &pb.StakeTransactionBody{Change: &pb.ValueTransferOutput{}}, stakeBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.m)
			got, err := CanonicalBytes(tc.m)
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(tc.want), hex.EncodeToString(got))
			require.True(t, proto.Equal(before, tc.m), "CanonicalBytes modified its argument")

			// Canonicalize in place gives the same bytes through a plain Marshal, and is
			// idempotent.
			Canonicalize(tc.m)
			plain, err := proto.Marshal(tc.m)
			require.NoError(t, err)
			require.Equal(t, got, plain)
			Canonicalize(tc.m)
			again, err := proto.Marshal(tc.m)
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

// TestCanonicalizeKeepsOneofsUnset: filling stops at unset oneofs (no member is invented)
// and enters a set member.
func TestCanonicalizeKeepsOneofsUnset(t *testing.T) {
	b := &pb.Block{}
	Canonicalize(b)
	require.NotNil(t, b.GetBlockHeader().GetMerkleRoots().GetUnstakeHashMerkleRoot())
	require.Nil(t, b.GetBlockHeader().GetBeacon().GetHashPrevBlock().GetKind())
	require.Nil(t, b.GetBlockSig().GetSignature().GetKind())
	require.NotNil(t, b.GetTxns().GetMint())

	tx := &pb.Transaction{}
	Canonicalize(tx)
	require.Nil(t, tx.GetKind())

	tx = &pb.Transaction{Kind: &pb.Transaction_Commit{}}
	Canonicalize(tx)
	require.NotNil(t, tx.GetCommit().GetBody().GetProof().GetProof().GetPublicKey())
	require.Nil(t, tx.GetCommit().GetBody().GetDrPointer().GetKind())
}

// TestCanonicalNil: nil messages neither panic nor encode as something else.
func TestCanonicalNil(t *testing.T) {
	require.NotPanics(t, func() {
		Canonicalize(nil)
		Canonicalize((*pb.Block)(nil))
	})
	_, err := CanonicalBytes(nil)
	require.Error(t, err)
	got, err := CanonicalBytes((*pb.Message)(nil))
	require.NoError(t, err)
	want, err := CanonicalBytes(&pb.Message{})
	require.NoError(t, err)
	require.Equal(t, want, got)
}

// TestCanonicalUnknownFields: unknown fields at any depth are dropped from the canonical
// bytes and from hashes, the caller's value keeps them, and Canonicalize removes them.
func TestCanonicalUnknownFields(t *testing.T) {
	tx := exampleTransaction(t)
	clean, err := CanonicalBytes(tx)
	require.NoError(t, err)
	wantHash, err := TransactionHash(tx)
	require.NoError(t, err)
	require.Equal(t, "9221b651aaef0f6d75a175958825775ed0add54102a431a27e485052478e0f9b", wantHash.String())

	extra := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7)
	dirty := proto.Clone(tx).(*pb.Transaction)
	dr := dirty.GetDataRequest()
	for _, m := range []proto.Message{dirty, dr, dr.GetBody(), dr.GetBody().GetDrOutput(),
		dr.GetBody().GetDrOutput().GetDataRequest().GetRetrieve()[1], dr.GetBody().GetInputs()[0].GetOutputPointer().GetTransactionId()} {
		m.ProtoReflect().SetUnknown(extra)
	}
	got, err := CanonicalBytes(dirty)
	require.NoError(t, err)
	require.Equal(t, clean, got)
	h, err := TransactionHash(dirty)
	require.NoError(t, err)
	require.Equal(t, wantHash, h)
	require.Equal(t, []byte(extra), []byte(dr.GetBody().ProtoReflect().GetUnknown()), "the caller's value was modified")

	// The same through the wire: bytes with an unknown field appended to the body decode
	// (keeping it) and still hash canonically.
	raw, err := proto.Marshal(dirty)
	require.NoError(t, err)
	require.NotEqual(t, clean, raw)
	decoded := new(pb.Transaction)
	require.NoError(t, proto.Unmarshal(raw, decoded))
	h, err = TransactionHash(decoded)
	require.NoError(t, err)
	require.Equal(t, wantHash, h)

	Canonicalize(dirty)
	require.Empty(t, dr.GetBody().ProtoReflect().GetUnknown())
	plain, err := proto.Marshal(dirty)
	require.NoError(t, err)
	require.Equal(t, clean, plain)

	// Unknown fields on a block header do not change its hash either.
	block := exampleBlock(t)
	block.BlockHeader.ProtoReflect().SetUnknown(extra)
	block.BlockHeader.Beacon.ProtoReflect().SetUnknown(extra)
	for _, tc := range []struct {
		v    ProtocolVersion
		want string
	}{{V1_7, "70e15ac70bb00f49c7a593b2423f722dca187bbae53dc2f22647063b17608c01"}, {V2_0, "29ef68357a5c861b9dbe043d351a28472ca450edcda25de4c9b80a4560a28c0f"}} {
		h, err := BlockHash(block, tc.v)
		require.NoError(t, err)
		require.Equal(t, tc.want, h.String())
	}
}

// TestHashIgnoresOmittedEmptySubMessages: a sub-message a peer left out because it was
// empty hashes like the written empty one, whether left nil in Go or missing from the
// bytes.
func TestHashIgnoresOmittedEmptySubMessages(t *testing.T) {
	block := exampleBlock(t)
	sparse := proto.Clone(block).(*pb.Block)
	sparse.BlockHeader.Bn256PublicKey = nil
	sparse.BlockHeader.Proof.Proof.Proof = nil
	for _, v := range []ProtocolVersion{V1_7, V2_0} {
		want, err := BlockHash(block, v)
		require.NoError(t, err)
		got, err := BlockHash(sparse, v)
		require.NoError(t, err)
		require.Equal(t, want, got, v)
	}
	require.Nil(t, sparse.BlockHeader.Bn256PublicKey, "hashing modified the block")

	tx := exampleTransaction(t)
	sparseTx := proto.Clone(tx).(*pb.Transaction)
	rad := sparseTx.GetDataRequest().GetBody().GetDrOutput().GetDataRequest()
	rad.Aggregate, rad.Tally = nil, nil
	// Plain Marshal leaves them out (this is what a careless peer sends) ...
	full, err := proto.Marshal(tx)
	require.NoError(t, err)
	short, err := proto.Marshal(sparseTx)
	require.NoError(t, err)
	require.Equal(t, len(full)-4, len(short), "aggregate and tally (1a 00, 22 00) left out")
	// ... and the hash of the decoded short form is still the canonical one.
	decoded := new(pb.Transaction)
	require.NoError(t, proto.Unmarshal(short, decoded))
	for _, m := range []*pb.Transaction{sparseTx, decoded} {
		h, err := TransactionHash(m)
		require.NoError(t, err)
		require.Equal(t, "9221b651aaef0f6d75a175958825775ed0add54102a431a27e485052478e0f9b", h.String())
	}

	commit := &pb.CommitTransaction{Body: &pb.CommitTransactionBody{DrPointer: hashPB(tvH1), Commitment: hashPB(tvH2),
		Proof: &pb.DataRequestEligibilityClaim{Proof: &pb.VrfProof{PublicKey: &pb.PublicKey{PublicKey: tvPK}}}}}
	withKey := proto.Clone(commit).(*pb.CommitTransaction)
	withKey.Body.Bn256PublicKey = &pb.Bn256PublicKey{}
	h1, err := CommitTransactionHash(commit)
	require.NoError(t, err)
	h2, err := CommitTransactionHash(withKey)
	require.NoError(t, err)
	require.Equal(t, h1, h2)
}

// TestCanonicalBlockMessageVector: the fixture block with its empty sub-messages left nil
// canonicalizes to the Block message bytes of messages.json (witnet-rust's block vector).
func TestCanonicalBlockMessageVector(t *testing.T) {
	f := loadVectors(t, "messages.json")
	var vecs int
	for _, v := range f.vectorsOf(t, "message") {
		if v.Name != "message_block_example_v1_8" && v.Name != "message_block_example_v2_0" {
			continue
		}
		vecs++
		m := vectorTo[*pb.Message](t, f, newVectorObject(t, v.Name+".input", v.Input).get("message"))
		block := m.GetKind().GetBlock()
		require.NotNil(t, block, v.Name)
		block.BlockHeader.Bn256PublicKey = nil
		block.BlockSig.Signature.GetSecp256K1().Der = nil
		block.Txns.Mint = nil
		rad := block.Txns.DataRequestTxns[0].Body.DrOutput.DataRequest
		rad.Aggregate, rad.Tally = nil, nil
		got, err := CanonicalBytes(m)
		require.NoError(t, err)
		want := newVectorObject(t, v.Name+".expected", v.Expected).hex("bytes", -1)
		require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got), v.Name)
	}
	require.Equal(t, 2, vecs)
}

// TestCanonicalFastPath: a value that is already canonical (as everything decoded from a
// witnet-rust peer is) is recognised as such, so hashing needs no copy.
func TestCanonicalFastPath(t *testing.T) {
	raw, err := hex.DecodeString("0ad9010a630a260a240a220a20aa27cffcdc685c99c030e67a4d65b49803870f4277a7620e83b2e55fc6ed5bc2121a0a160a14153f9050e14523266b9e500bb667e1ae4ad188421001121d0a160a141de42db8d29472378197eaf88b9dfeba4ec0bf5e10b18be80312720a4b0a490a47304502210081ffe5c085a8aa95b71b91ba987f97265054b58a742bcebcc1a3a2bba21f4e3202206d7d82b5519b82063b6aeb962ec2fde7fc602c870cbbf150750f652dddaf28fa12230a2102fe4a2f859572fed6076fceb66ea8f56daac889616c72e5c2cd1ade5a0784fb2f")
	require.NoError(t, err)
	tx := new(pb.Transaction)
	require.NoError(t, proto.Unmarshal(raw, tx))
	require.NoError(t, walk(tx.ProtoReflect(), canonCheck, true))
	c, err := canonicalForm(tx.ProtoReflect(), true)
	require.NoError(t, err)
	require.Same(t, tx, c.Interface())

	tx.GetValueTransfer().Signatures = append(tx.GetValueTransfer().Signatures, nil)
	require.ErrorIs(t, walk(tx.ProtoReflect(), canonCheck, false), errNotCanonical)
	c, err = canonicalForm(tx.ProtoReflect(), false)
	require.NoError(t, err)
	require.NotSame(t, tx, c.Interface())
	require.Nil(t, tx.GetValueTransfer().Signatures[1], "the caller's value was modified")
}

// TestCanonicalMaps: the Witnet schema has no maps, but Canonicalize handles them for any
// message it is given (structpb.Struct is a map of messages).
func TestCanonicalMaps(t *testing.T) {
	extra := protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1)
	s := &structpb.Struct{Fields: map[string]*structpb.Value{"a": nil, "b": structpb.NewBoolValue(true)}}
	s.Fields["b"].ProtoReflect().SetUnknown(extra)
	clean := &structpb.Struct{Fields: map[string]*structpb.Value{"a": {}, "b": structpb.NewBoolValue(true)}}
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(clean)
	require.NoError(t, err)

	got, err := CanonicalBytes(s)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Nil(t, s.Fields["a"], "CanonicalBytes modified its argument")
	require.NotEmpty(t, s.Fields["b"].ProtoReflect().GetUnknown())

	Canonicalize(s)
	require.NotNil(t, s.Fields["a"])
	require.Empty(t, s.Fields["b"].ProtoReflect().GetUnknown())
	require.True(t, proto.Equal(clean, s))
	require.True(t, bytes.Equal(want, got))
}
