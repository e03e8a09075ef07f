package protocol

// Tests of the item hashes (hash.go) against testdata/hashes.json (read with the converter
// of vectors_test.go) and against preimages built independently with protowire.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// hashPB wraps raw bytes as a pb.Hash without checking them (tests build bad ones too).
func hashPB(b []byte) *pb.Hash { return &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: b}} }

// ---- vectors ----

// TestHashVectors runs every vector of testdata/hashes.json and fails if one has a
// category it does not know, so a new vector cannot be skipped silently.
func TestHashVectors(t *testing.T) {
	f := loadVectors(t, "hashes.json")
	ran := map[string]int{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			in := newVectorObject(t, v.Name+".input", v.Input)
			want := newVectorObject(t, v.Name+".expected", v.Expected)
			switch v.Category {
			case "block_hash":
				runBlockHashVector(t, f, in, want)
			case "transaction_hash":
				runTransactionHashVector(t, f, in, want)
			case "superblock_hash":
				got, err := SuperBlockHash(vectorTo[*pb.SuperBlock](t, f, in.get("superblock")))
				require.NoError(t, err)
				require.Equal(t, want.str("hash"), got.String())
			case "merkle_root":
				var hexLeaves []string
				in.decode("leaves", &hexLeaves)
				var leaves []Hash
				for _, s := range hexLeaves {
					h, err := ParseHash(s)
					require.NoError(t, err)
					leaves = append(leaves, h)
				}
				require.Equal(t, want.str("root"), MerkleRoot(leaves).String())
			case "superblock_vote_message":
				h, err := ParseHash(in.str("superblock_hash"))
				require.NoError(t, err)
				got := SuperBlockVoteBn256Message(in.u32("superblock_index"), h)
				require.Equal(t, want.str("message"), hex.EncodeToString(got))
			default:
				t.Fatalf("unknown category %q", v.Category)
			}
			in.done()
			want.done()
			ran[v.Category]++
		})
	}
	require.Equal(t, map[string]int{
		"block_hash": 2, "transaction_hash": 3, "superblock_hash": 4, "merkle_root": 2,
		"superblock_vote_message": 1,
	}, ran, "vectors run per category")
}

func runBlockHashVector(t *testing.T, f *vectorFile, in, want *vectorObject) {
	block := vectorTo[*pb.Block](t, f, in.get("block"))
	v, err := ParseProtocolVersion(in.str("protocol_version"))
	require.NoError(t, err)
	got, err := BlockHash(block, v)
	require.NoError(t, err)
	require.Equal(t, want.str("hash"), got.String())

	// The hashed bytes: their length is part of the vector, and their SHA-256 is the hash.
	pre := blockPreimage(t, block.GetBlockHeader(), v)
	require.Len(t, pre, int(want.u32("hashed_bytes_length")))
	require.Equal(t, Hash(sha256.Sum256(pre)), got)
}

// blockPreimage returns the bytes BlockHash hashes for version v.
func blockPreimage(t testing.TB, h *pb.Block_BlockHeader, v ProtocolVersion) []byte {
	t.Helper()
	var m proto.Message = h
	if v == V1_7 {
		m = legacyHeader(h)
	}
	b, err := CanonicalBytes(m)
	require.NoError(t, err)
	return b
}

func runTransactionHashVector(t *testing.T, f *vectorFile, in, want *vectorObject) {
	var tx *pb.Transaction
	if in.has("transaction_bytes") {
		raw := in.hex("transaction_bytes", -1)
		tx = new(pb.Transaction)
		require.NoError(t, proto.Unmarshal(raw, tx))
		require.Empty(t, tx.ProtoReflect().GetUnknown())
		kind := tx.ProtoReflect().WhichOneof(tx.ProtoReflect().Descriptor().Oneofs().ByName("kind"))
		require.NotNil(t, kind)
		require.Equal(t, in.str("kind"), string(kind.Name()))
		// Re-encoding the decoded value gives the same bytes, both plainly and canonically.
		again, err := proto.Marshal(tx)
		require.NoError(t, err)
		require.Equal(t, raw, again)
		again, err = CanonicalBytes(tx)
		require.NoError(t, err)
		require.Equal(t, raw, again)
	} else {
		tx = vectorTo[*pb.Transaction](t, f, in.get("transaction"))
	}
	got, err := TransactionHash(tx)
	require.NoError(t, err)
	require.Equal(t, want.str("hash"), got.String())
}

// TestBlockHashVersions checks the version rules around the fixture block: V1.8 and V2.1
// hash like V2.0 (PROTOCOL.md 11.1 gives the V1.8 hash too), the V2.0 preimage is the V1.7
// one plus the two extra roots, BlockHashAt follows the block's epoch, and stake/unstake
// roots do not matter to V1.7.
func TestBlockHashVersions(t *testing.T) {
	block := exampleBlock(t)
	const (
		v17 = "70e15ac70bb00f49c7a593b2423f722dca187bbae53dc2f22647063b17608c01"
		v20 = "29ef68357a5c861b9dbe043d351a28472ca450edcda25de4c9b80a4560a28c0f"
	)
	for _, tc := range []struct {
		v    ProtocolVersion
		want string
	}{{V1_7, v17}, {V1_8, v20}, {V2_0, v20}, {V2_1, v20}} {
		got, err := BlockHash(block, tc.v)
		require.NoError(t, err, tc.v)
		require.Equal(t, tc.want, got.String(), tc.v)
		got, err = BlockHeaderHash(block.GetBlockHeader(), tc.v)
		require.NoError(t, err, tc.v)
		require.Equal(t, tc.want, got.String(), tc.v)
	}

	// The preimages built by hand: header fields 2..5 with 6 or 8 roots of 32 zero bytes.
	zero := make([]byte, HashSize)
	roots := func(n int) []byte {
		var b []byte
		for i := 1; i <= n; i++ {
			b = pwHash(b, protowire.Number(i), zero)
		}
		return b
	}
	header := func(nroots int) []byte {
		var b []byte
		b = pwMsg(b, 2, pwHash(nil, 2, zero)) // beacon: checkpoint 0, hash_prev_block
		b = pwMsg(b, 3, roots(nroots))
		b = pwMsg(b, 4, pwMsg(nil, 1, pwMsg(nil, 2, pwBytes(nil, 1, make([]byte, publicKeyLen)))))
		return pwMsg(b, 5, nil) // bn256_public_key: none, still written
	}
	require.Equal(t, header(6), blockPreimage(t, block.GetBlockHeader(), V1_7))
	require.Equal(t, header(8), blockPreimage(t, block.GetBlockHeader(), V2_0))

	// V1.7 ignores roots 7 and 8, V2.0 does not.
	changed := proto.Clone(block).(*pb.Block)
	changed.BlockHeader.MerkleRoots.UnstakeHashMerkleRoot = hashPB(bytes.Repeat([]byte{1}, HashSize))
	got, err := BlockHash(changed, V1_7)
	require.NoError(t, err)
	require.Equal(t, v17, got.String())
	got, err = BlockHash(changed, V2_0)
	require.NoError(t, err)
	require.NotEqual(t, v20, got.String())

	// BlockHashAt takes the version from the block's own checkpoint.
	acts := VersionActivations{V1_8: 10, V2_0: 20}
	for _, epoch := range []uint32{0, 9, 10, 19, 20, 1 << 31} {
		b := proto.Clone(block).(*pb.Block)
		b.BlockHeader.Beacon.Checkpoint = epoch
		at, err := BlockHashAt(b, acts)
		require.NoError(t, err)
		direct, err := BlockHash(b, acts.VersionAt(epoch))
		require.NoError(t, err)
		require.Equal(t, direct, at, "epoch %d", epoch)
	}
	at, err := BlockHashAt(block, MainnetActivations) // epoch 0: V1.7
	require.NoError(t, err)
	require.Equal(t, v17, at.String())

	_, err = BlockHash(block, ProtocolVersion(200))
	require.ErrorIs(t, err, ErrUnknownProtocolVersion)
}

// TestSuperBlockVoteMessages checks both signing messages against their definitions
// (PROTOCOL.md 4.4), built here byte by byte.
func TestSuperBlockVoteMessages(t *testing.T) {
	h := Hash(sha256.Sum256([]byte("superblock")))
	sig := []byte{0x0a, 0x0b, 0x0c}
	for _, index := range []uint32{0, 1, 0x01020304, 1<<32 - 1} {
		want := append([]byte{byte(index >> 24), byte(index >> 16), byte(index >> 8), byte(index)}, h[:]...)
		require.Equal(t, want, SuperBlockVoteBn256Message(index, h))
		require.Equal(t, Hash(sha256.Sum256(append(want, sig...))), SuperBlockVoteSecp256k1Message(index, h, sig))
	}
	require.Equal(t, Hash(sha256.Sum256(SuperBlockVoteBn256Message(7, h))), SuperBlockVoteSecp256k1Message(7, h, nil))
}

// TestSuperBlockHashLayout checks the 168-byte layout with distinct values in every slot.
func TestSuperBlockHashLayout(t *testing.T) {
	fill := func(b byte) []byte { return bytes.Repeat([]byte{b}, HashSize) }
	sb := &pb.SuperBlock{
		SigningCommitteeLength:        0x11223344,
		ArsRoot:                       hashPB(fill(0xa1)),
		DataRequestRoot:               hashPB(fill(0xa2)),
		Index:                         0x55667788,
		LastBlock:                     hashPB(fill(0xa3)),
		LastBlockInPreviousSuperblock: hashPB(fill(0xa4)),
		TallyRoot:                     hashPB(fill(0xa5)),
	}
	var pre []byte
	pre = append(pre, 0x11, 0x22, 0x33, 0x44)
	pre = append(pre, fill(0xa1)...)
	pre = append(pre, fill(0xa2)...)
	pre = append(pre, 0x55, 0x66, 0x77, 0x88)
	pre = append(pre, fill(0xa3)...)
	pre = append(pre, fill(0xa4)...)
	pre = append(pre, fill(0xa5)...)
	require.Len(t, pre, 168)
	got, err := SuperBlockHash(sb)
	require.NoError(t, err)
	require.Equal(t, Hash(sha256.Sum256(pre)), got)
}

// ---- every transaction kind against a preimage built with protowire ----

// pw* append protobuf fields the way PROTOCOL.md section 2 says witnet-rust writes them,
// independently of the generated code: zero scalars and empty bytes are left out,
// sub-messages are always written.
func pwMsg(b []byte, num protowire.Number, body []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, body)
}

func pwBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return pwMsg(b, num, v)
}

func pwVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func pwFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}

// pwHash appends a Hash field: <tag> 22 0a 20 + 32 bytes.
func pwHash(b []byte, num protowire.Number, h []byte) []byte {
	return pwMsg(b, num, pwBytes(nil, 1, h))
}

// pwOutput is a ValueTransferOutput body.
func pwOutput(pkh []byte, value, timeLock uint64) []byte {
	b := pwMsg(nil, 1, pwBytes(nil, 1, pkh))
	b = pwVarint(b, 2, value)
	return pwVarint(b, 3, timeLock)
}

// pwInput is an Input body.
func pwInput(txID []byte, index uint32) []byte {
	return pwMsg(nil, 1, pwVarint(pwHash(nil, 1, txID), 2, uint64(index)))
}

// pwKeyedSignature is a KeyedSignature body.
func pwKeyedSignature(der, pk []byte) []byte {
	b := pwMsg(nil, 1, pwMsg(nil, 1, pwBytes(nil, 1, der)))
	return pwMsg(b, 2, pwBytes(nil, 1, pk))
}

// Test values: recognisable bytes of the right sizes.
var (
	tvH1  = bytes.Repeat([]byte{0x11}, HashSize)
	tvH2  = bytes.Repeat([]byte{0x22}, HashSize)
	tvH3  = bytes.Repeat([]byte{0x33}, HashSize)
	tvP1  = bytes.Repeat([]byte{0x44}, pkhLen)
	tvP2  = bytes.Repeat([]byte{0x55}, pkhLen)
	tvPK  = append([]byte{0x02}, bytes.Repeat([]byte{0x66}, 32)...)
	tvDER = []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02}
)

func tvOutput(pkh []byte, value, timeLock uint64) *pb.ValueTransferOutput {
	return &pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{Hash: pkh}, Value: value, TimeLock: timeLock}
}

func tvInput(txID []byte, index uint32) *pb.Input {
	return &pb.Input{OutputPointer: &pb.OutputPointer{TransactionId: hashPB(txID), OutputIndex: index}}
}

func tvSignature(der, pk []byte) *pb.KeyedSignature {
	return &pb.KeyedSignature{
		Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: der}}},
		PublicKey: &pb.PublicKey{PublicKey: pk},
	}
}

func tvSignatures() []*pb.KeyedSignature { return []*pb.KeyedSignature{tvSignature(tvDER, tvPK)} }

// shaBytes is sha as a byte slice, for nesting.
func shaBytes(parts ...[]byte) []byte {
	h := sha(parts...)
	return h[:]
}

// sha is SHA-256 over the concatenation of parts.
func sha(parts ...[]byte) Hash {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// TestTransactionHashKinds hashes a small example of every kind, through TransactionHash
// and through the per-kind function, and compares with SHA-256 of a preimage built here
// from PROTOCOL.md 11.2 (two-part hashes for data requests and tallies). The examples leave
// optional sub-messages nil and carry signatures, neither of which may change the hash.
func TestTransactionHashKinds(t *testing.T) {
	drOutput := &pb.DataRequestOutput{
		DataRequest: &pb.DataRequestOutput_RADRequest{
			Retrieve: []*pb.DataRequestOutput_RADRequest_RADRetrieve{{
				Kind:    pb.DataRequestOutput_RADRequest_HttpGet,
				Url:     "https://example.com/x",
				Script:  []byte{0x80},
				Headers: []*pb.StringPair{{Left: "a", Right: "b"}},
			}},
			Tally: &pb.DataRequestOutput_RADRequest_RADTally{Reducer: 2},
			// Aggregate left nil: written as an empty message.
		},
		WitnessReward: 1000,
		Witnesses:     3,
		Collateral:    1 << 40,
	}
	radPre := pwVarint(nil, 1, 1)
	radPre = pwBytes(radPre, 2, []byte("https://example.com/x"))
	radPre = pwBytes(radPre, 3, []byte{0x80})
	radPre = pwMsg(radPre, 5, pwBytes(pwBytes(nil, 1, []byte("a")), 2, []byte("b")))
	drOutputPre := pwMsg(nil, 1, pwMsg(pwMsg(pwMsg(nil, 2, radPre), 3, nil), 4, pwVarint(nil, 2, 2)))
	drOutputPre = pwVarint(drOutputPre, 2, 1000)
	drOutputPre = pwVarint(drOutputPre, 3, 3)
	drOutputPre = pwVarint(drOutputPre, 6, 1<<40)
	drBodyPre := pwMsg(nil, 1, pwInput(tvH1, 1))
	drBodyPre = pwMsg(drBodyPre, 2, pwOutput(tvP1, 7, 0))
	drBodyPre = pwMsg(drBodyPre, 3, drOutputPre)

	tallyPre := pwHash(nil, 1, tvH2)
	tallyPre = pwBytes(tallyPre, 2, []byte{0xd8, 0x27, 0x01})
	tallyPre = pwMsg(tallyPre, 3, pwOutput(tvP1, 5, 0))
	tallyPre = pwMsg(tallyPre, 3, pwOutput(tvP2, 6, 99))
	tallyPre = pwMsg(tallyPre, 4, pwBytes(nil, 1, tvP2))
	tallyPre = pwMsg(tallyPre, 5, pwBytes(nil, 1, tvP1))

	commitPre := pwHash(nil, 1, tvH1)
	commitPre = pwHash(commitPre, 2, tvH2)
	commitPre = pwMsg(commitPre, 3, pwMsg(nil, 1, pwMsg(pwBytes(nil, 1, []byte{9, 9}), 2, pwBytes(nil, 1, tvPK))))
	commitPre = pwMsg(commitPre, 4, pwInput(tvH3, 0))
	commitPre = pwMsg(commitPre, 5, pwOutput(tvP1, 42, 0))
	commitPre = pwMsg(commitPre, 6, nil) // no BN256 key: still written

	stakeOutputPre := pwVarint(nil, 1, 10_000)
	stakeOutputPre = pwMsg(stakeOutputPre, 2, pwMsg(pwMsg(nil, 1, pwBytes(nil, 1, tvP1)), 2, pwBytes(nil, 1, tvP2)))
	stakeOutputPre = pwMsg(stakeOutputPre, 3, pwKeyedSignature(tvDER, tvPK))
	stakeBase := pwMsg(pwMsg(nil, 1, pwInput(tvH1, 3)), 2, stakeOutputPre)
	// Absent change: a default ValueTransferOutput, exactly 1a 18 0a 16 0a 14 + 20 zeros.
	stakeNoChangePre := append(append(append([]byte{}, stakeBase...), 0x1a, 0x18, 0x0a, 0x16, 0x0a, 0x14), make([]byte, 20)...)
	stakeChangePre := pwMsg(append([]byte{}, stakeBase...), 3, pwOutput(tvP2, 1, 0))

	stakeBody := func(change *pb.ValueTransferOutput) *pb.StakeTransactionBody {
		return &pb.StakeTransactionBody{
			Inputs: []*pb.Input{tvInput(tvH1, 3)},
			Output: &pb.StakeOutput{
				Value:         10_000,
				Key:           &pb.StakeKey{Validator: &pb.PublicKeyHash{Hash: tvP1}, Withdrawer: &pb.PublicKeyHash{Hash: tvP2}},
				Authorization: tvSignature(tvDER, tvPK),
			},
			Change: change,
		}
	}

	tests := []struct {
		name   string
		tx     *pb.Transaction
		direct func() (Hash, error)
		want   Hash
	}{
		{
			name: "ValueTransfer",
			tx: &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{
				Body: &pb.VTTransactionBody{
					Inputs:  []*pb.Input{tvInput(tvH1, 0), tvInput(tvH2, 300)},
					Outputs: []*pb.ValueTransferOutput{tvOutput(tvP1, 1, 0), tvOutput(tvP2, 0, 1_700_000_000)},
				},
				Signatures: tvSignatures(),
			}}},
			want: sha(pwMsg(pwMsg(pwMsg(pwMsg(nil, 1, pwInput(tvH1, 0)), 1, pwInput(tvH2, 300)),
				2, pwOutput(tvP1, 1, 0)), 2, pwOutput(tvP2, 0, 1_700_000_000))),
		},
		{
			name: "ValueTransfer empty body",
			tx:   &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{}}},
			want: sha(nil),
		},
		{
			name: "DataRequest",
			tx: &pb.Transaction{Kind: &pb.Transaction_DataRequest{DataRequest: &pb.DRTransaction{
				Body: &pb.DRTransactionBody{
					Inputs:   []*pb.Input{tvInput(tvH1, 1)},
					Outputs:  []*pb.ValueTransferOutput{tvOutput(tvP1, 7, 0)},
					DrOutput: drOutput,
				},
				Signatures: tvSignatures(),
			}}},
			want: sha(shaBytes(drOutputPre), shaBytes(drBodyPre)),
		},
		{
			name: "Commit",
			tx: &pb.Transaction{Kind: &pb.Transaction_Commit{Commit: &pb.CommitTransaction{
				Body: &pb.CommitTransactionBody{
					DrPointer:  hashPB(tvH1),
					Commitment: hashPB(tvH2),
					Proof:      &pb.DataRequestEligibilityClaim{Proof: &pb.VrfProof{Proof: []byte{9, 9}, PublicKey: &pb.PublicKey{PublicKey: tvPK}}},
					Collateral: []*pb.Input{tvInput(tvH3, 0)},
					Outputs:    []*pb.ValueTransferOutput{tvOutput(tvP1, 42, 0)},
				},
				Signatures: tvSignatures(),
			}}},
			want: sha(commitPre),
		},
		{
			name: "Reveal",
			tx: &pb.Transaction{Kind: &pb.Transaction_Reveal{Reveal: &pb.RevealTransaction{
				Body:       &pb.RevealTransactionBody{DrPointer: hashPB(tvH3), Reveal: []byte{0x18, 0x2a}, Pkh: &pb.PublicKeyHash{Hash: tvP1}},
				Signatures: tvSignatures(),
			}}},
			want: sha(pwMsg(pwBytes(pwHash(nil, 1, tvH3), 2, []byte{0x18, 0x2a}), 3, pwBytes(nil, 1, tvP1))),
		},
		{
			name: "Tally",
			tx: &pb.Transaction{Kind: &pb.Transaction_Tally{Tally: &pb.TallyTransaction{
				DrPointer:       hashPB(tvH2),
				Tally:           []byte{0xd8, 0x27, 0x01},
				Outputs:         []*pb.ValueTransferOutput{tvOutput(tvP1, 5, 0), tvOutput(tvP2, 6, 99)},
				OutOfConsensus:  []*pb.PublicKeyHash{{Hash: tvP2}},
				ErrorCommitters: []*pb.PublicKeyHash{{Hash: tvP1}},
			}}},
			want: sha(shaBytes(tvH2, []byte{0xd8, 0x27, 0x01}), shaBytes(tallyPre)),
		},
		{
			name: "Mint",
			tx: &pb.Transaction{Kind: &pb.Transaction_Mint{Mint: &pb.MintTransaction{
				Epoch:   3_108_950,
				Outputs: []*pb.ValueTransferOutput{tvOutput(tvP1, 250_000_000_000, 0), tvOutput(tvP2, 1, 0)},
			}}},
			want: sha(pwMsg(pwMsg(pwFixed32(nil, 1, 3_108_950), 2, pwOutput(tvP1, 250_000_000_000, 0)), 2, pwOutput(tvP2, 1, 0))),
		},
		{
			name: "Mint epoch 0",
			tx:   &pb.Transaction{Kind: &pb.Transaction_Mint{Mint: &pb.MintTransaction{}}},
			want: sha(nil),
		},
		{
			name: "Stake without change",
			tx: &pb.Transaction{Kind: &pb.Transaction_Stake{Stake: &pb.StakeTransaction{
				Body: stakeBody(nil), Signatures: tvSignatures(),
			}}},
			want: sha(stakeNoChangePre),
		},
		{
			name: "Stake with empty change",
			tx: &pb.Transaction{Kind: &pb.Transaction_Stake{Stake: &pb.StakeTransaction{
				Body: stakeBody(&pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{}}),
			}}},
			want: sha(stakeNoChangePre),
		},
		{
			name: "Stake with change",
			tx: &pb.Transaction{Kind: &pb.Transaction_Stake{Stake: &pb.StakeTransaction{
				Body: stakeBody(tvOutput(tvP2, 1, 0)), Signatures: tvSignatures(),
			}}},
			want: sha(stakeChangePre),
		},
		{
			name: "Unstake",
			tx: &pb.Transaction{Kind: &pb.Transaction_Unstake{Unstake: &pb.UnstakeTransaction{
				Body: &pb.UnstakeTransactionBody{
					Operator:   &pb.PublicKeyHash{Hash: tvP1},
					Withdrawal: tvOutput(tvP2, 500, 1_800_000_000),
					Fee:        3,
					Nonce:      4,
				},
				Signature: tvSignature(tvDER, tvPK),
			}}},
			want: sha(pwVarint(pwVarint(pwMsg(pwMsg(nil, 1, pwBytes(nil, 1, tvP1)), 2, pwOutput(tvP2, 500, 1_800_000_000)), 3, 3), 4, 4)),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := proto.Clone(tc.tx)
			got, err := TransactionHash(tc.tx)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			direct, err := kindHash(tc.tx)
			require.NoError(t, err)
			require.Equal(t, got, direct)
			require.True(t, proto.Equal(before, tc.tx), "hashing modified the transaction")
		})
	}

	// Signatures never count, except the stake authorization inside the body.
	a := &pb.VTTransaction{Body: &pb.VTTransactionBody{Outputs: []*pb.ValueTransferOutput{tvOutput(tvP1, 1, 0)}}}
	b := proto.Clone(a).(*pb.VTTransaction)
	b.Signatures = tvSignatures()
	ha, err := VTTransactionHash(a)
	require.NoError(t, err)
	hb, err := VTTransactionHash(b)
	require.NoError(t, err)
	require.Equal(t, ha, hb)
	s1, err := StakeTransactionHash(&pb.StakeTransaction{Body: stakeBody(nil)})
	require.NoError(t, err)
	other := stakeBody(nil)
	other.Output.Authorization = tvSignature([]byte{1}, tvPK)
	s2, err := StakeTransactionHash(&pb.StakeTransaction{Body: other})
	require.NoError(t, err)
	require.NotEqual(t, s1, s2)
}

// kindHash calls the per-kind hash function for tx's kind.
func kindHash(tx *pb.Transaction) (Hash, error) {
	switch k := tx.GetKind().(type) {
	case *pb.Transaction_ValueTransfer:
		return VTTransactionHash(k.ValueTransfer)
	case *pb.Transaction_DataRequest:
		return DRTransactionHash(k.DataRequest)
	case *pb.Transaction_Commit:
		return CommitTransactionHash(k.Commit)
	case *pb.Transaction_Reveal:
		return RevealTransactionHash(k.Reveal)
	case *pb.Transaction_Tally:
		return TallyTransactionHash(k.Tally)
	case *pb.Transaction_Mint:
		return MintTransactionHash(k.Mint)
	case *pb.Transaction_Stake:
		return StakeTransactionHash(k.Stake)
	case *pb.Transaction_Unstake:
		return UnstakeTransactionHash(k.Unstake)
	}
	return Hash{}, errors.New("no kind")
}

// TestProofOfInclusionParts checks the two halves of the DR and tally hashes separately,
// on the data request vector of hashes.json (whose full hash the vector pins).
func TestProofOfInclusionParts(t *testing.T) {
	dr := exampleTransaction(t).GetDataRequest()
	data, rest, err := drProofOfInclusion(dr)
	require.NoError(t, err)
	drOut, err := CanonicalBytes(dr.GetBody().GetDrOutput())
	require.NoError(t, err)
	body, err := CanonicalBytes(dr.GetBody())
	require.NoError(t, err)
	require.Equal(t, sha(drOut), data)
	require.Equal(t, sha(body), rest)
	require.True(t, bytes.HasSuffix(body, drOut), "dr_output is the last field of the body")
	require.Equal(t, "9221b651aaef0f6d75a175958825775ed0add54102a431a27e485052478e0f9b", sha(data[:], rest[:]).String())

	tally := &pb.TallyTransaction{DrPointer: hashPB(tvH1), Tally: []byte{1, 2, 3}}
	data, rest, err = tallyProofOfInclusion(tally)
	require.NoError(t, err)
	require.Equal(t, sha(tvH1, []byte{1, 2, 3}), data)
	require.Equal(t, sha(pwBytes(pwHash(nil, 1, tvH1), 2, []byte{1, 2, 3})), rest)
}

// ---- invalid items ----

// TestInvalidItems: anything witnet-rust could not represent gives an *ItemError naming
// the field, never a panic and never a hash.
func TestInvalidItems(t *testing.T) {
	goodBlock := func() *pb.Block { return exampleBlock(t) }
	goodDR := func() *pb.DRTransaction {
		return exampleTransaction(t).GetDataRequest()
	}
	goodSB := func() *pb.SuperBlock {
		return &pb.SuperBlock{ArsRoot: hashPB(tvH1), DataRequestRoot: hashPB(tvH1), LastBlock: hashPB(tvH1),
			LastBlockInPreviousSuperblock: hashPB(tvH1), TallyRoot: hashPB(tvH1)}
	}
	tests := []struct {
		name  string
		hash  func() (Hash, error)
		field string // expected ItemError.Field
	}{
		{"nil block", func() (Hash, error) { return BlockHash(nil, V2_0) }, ""},
		{"block without header", func() (Hash, error) { return BlockHash(&pb.Block{}, V2_0) }, "beacon.hash_prev_block"},
		{"block header nil hash", func() (Hash, error) {
			b := goodBlock()
			b.BlockHeader.MerkleRoots.TallyHashMerkleRoot = nil
			return BlockHash(b, V1_7)
		}, "merkle_roots.tally_hash_merkle_root"},
		{"block header short hash", func() (Hash, error) {
			b := goodBlock()
			b.BlockHeader.MerkleRoots.StakeHashMerkleRoot = hashPB(tvH1[:31])
			return BlockHash(b, V2_0)
		}, "merkle_roots.stake_hash_merkle_root"},
		{"block header no merkle roots", func() (Hash, error) {
			b := goodBlock()
			b.BlockHeader.MerkleRoots = nil
			return BlockHash(b, V1_7)
		}, "merkle_roots.mint_hash"},
		{"block header empty VRF key", func() (Hash, error) {
			b := goodBlock()
			b.BlockHeader.Proof.Proof.PublicKey = nil
			return BlockHash(b, V2_0)
		}, "proof.proof.public_key"},
		{"hash oneof with nil wrapper", func() (Hash, error) {
			b := goodBlock()
			b.BlockHeader.Beacon.HashPrevBlock = &pb.Hash{Kind: (*pb.Hash_SHA256)(nil)}
			return BlockHash(b, V2_0)
		}, "beacon.hash_prev_block"},
		{"nil transaction", func() (Hash, error) { return TransactionHash(nil) }, "kind"},
		{"transaction kind unset", func() (Hash, error) { return TransactionHash(&pb.Transaction{}) }, "kind"},
		{"transaction kind nil wrapper", func() (Hash, error) {
			return TransactionHash(&pb.Transaction{Kind: (*pb.Transaction_Commit)(nil)})
		}, "kind"},
		{"commit nil dr_pointer", func() (Hash, error) { return CommitTransactionHash(&pb.CommitTransaction{}) }, "body.dr_pointer"},
		{"reveal short pkh", func() (Hash, error) {
			return RevealTransactionHash(&pb.RevealTransaction{Body: &pb.RevealTransactionBody{
				DrPointer: hashPB(tvH1), Pkh: &pb.PublicKeyHash{Hash: tvP1[:19]}}})
		}, "body.pkh"},
		{"tally nil pointer", func() (Hash, error) { return TallyTransactionHash(nil) }, "dr_pointer"},
		{"tally bad out_of_consensus", func() (Hash, error) {
			return TallyTransactionHash(&pb.TallyTransaction{DrPointer: hashPB(tvH1),
				OutOfConsensus: []*pb.PublicKeyHash{{Hash: tvP1}, {}}})
		}, "out_of_consensus[1]"},
		{"mint output without pkh", func() (Hash, error) {
			return MintTransactionHash(&pb.MintTransaction{Outputs: []*pb.ValueTransferOutput{{Value: 1}}})
		}, "outputs[0].pkh"},
		{"mint nil output", func() (Hash, error) {
			return MintTransactionHash(&pb.MintTransaction{Outputs: []*pb.ValueTransferOutput{nil}})
		}, "outputs[0].pkh"},
		{"dr input without pointer", func() (Hash, error) {
			dr := goodDR()
			dr.Body.Inputs[0].OutputPointer.TransactionId = &pb.Hash{}
			return DRTransactionHash(dr)
		}, "body.inputs[0].output_pointer.transaction_id"},
		{"dr too many witnesses", func() (Hash, error) {
			dr := goodDR()
			dr.Body.DrOutput.Witnesses = 1 << 16
			return DRTransactionHash(dr)
		}, "body.dr_output.witnesses"},
		{"dr undeclared RADType", func() (Hash, error) {
			dr := goodDR()
			dr.Body.DrOutput.DataRequest.Retrieve[1].Kind = 9
			return DRTransactionHash(dr)
		}, "body.dr_output.data_request.retrieve[1].kind"},
		{"dr url not UTF-8", func() (Hash, error) {
			dr := goodDR()
			dr.Body.DrOutput.DataRequest.Retrieve[0].Url = "\xff"
			return DRTransactionHash(dr)
		}, ""},
		{"stake authorization without signature", func() (Hash, error) {
			return StakeTransactionHash(&pb.StakeTransaction{Body: &pb.StakeTransactionBody{
				Output: &pb.StakeOutput{Key: &pb.StakeKey{Validator: &pb.PublicKeyHash{Hash: tvP1}, Withdrawer: &pb.PublicKeyHash{Hash: tvP1}},
					Authorization: &pb.KeyedSignature{PublicKey: &pb.PublicKey{PublicKey: tvPK}}}}})
		}, "body.output.authorization.signature.kind"},
		{"stake change with value but no pkh", func() (Hash, error) {
			return StakeTransactionHash(&pb.StakeTransaction{Body: &pb.StakeTransactionBody{
				Output: &pb.StakeOutput{Key: &pb.StakeKey{Validator: &pb.PublicKeyHash{Hash: tvP1}, Withdrawer: &pb.PublicKeyHash{Hash: tvP1}},
					Authorization: tvSignature(nil, tvPK)},
				Change: &pb.ValueTransferOutput{Value: 5}}})
		}, "body.change.pkh"},
		{"unstake without operator", func() (Hash, error) {
			return UnstakeTransactionHash(&pb.UnstakeTransaction{})
		}, "body.operator"},
		{"nil superblock", func() (Hash, error) { return SuperBlockHash(nil) }, ""},
		{"superblock nil root", func() (Hash, error) {
			sb := goodSB()
			sb.TallyRoot = nil
			return SuperBlockHash(sb)
		}, "tally_root"},
		{"superblock long root", func() (Hash, error) {
			sb := goodSB()
			sb.LastBlock = hashPB(append(tvH1, 0))
			return SuperBlockHash(sb)
		}, "last_block"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := tc.hash()
			require.ErrorIs(t, err, ErrInvalidItem)
			require.Equal(t, Hash{}, h)
			var ie *ItemError
			require.ErrorAs(t, err, &ie)
			require.Equal(t, tc.field, ie.Field, ie.Error())
			require.NotEmpty(t, ie.Item)
			require.NotEmpty(t, ie.Reason)
		})
	}

	// The good versions of the items above do hash.
	_, err := BlockHash(goodBlock(), V2_0)
	require.NoError(t, err)
	_, err = DRTransactionHash(goodDR())
	require.NoError(t, err)
	_, err = SuperBlockHash(goodSB())
	require.NoError(t, err)
}

// TestHashConcurrent: hashing reads the caller's value and shares pooled buffers, so the
// same items hashed from several goroutines must agree (run with -race).
func TestHashConcurrent(t *testing.T) {
	block := exampleBlock(t)
	tx := exampleTransaction(t)
	sparse := proto.Clone(tx).(*pb.Transaction)
	sparse.GetDataRequest().Body.DrOutput.DataRequest.Tally = nil
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				b, err := BlockHash(block, V2_0)
				if err == nil && b.String() != "29ef68357a5c861b9dbe043d351a28472ca450edcda25de4c9b80a4560a28c0f" {
					err = errors.New("block hash " + b.String())
				}
				for _, m := range []*pb.Transaction{tx, sparse} {
					h, terr := TransactionHash(m)
					if err == nil && terr == nil && h.String() != "9221b651aaef0f6d75a175958825775ed0add54102a431a27e485052478e0f9b" {
						terr = errors.New("transaction hash " + h.String())
					}
					if err == nil {
						err = terr
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// ---- benchmarks ----

func BenchmarkBlockHash(b *testing.B) {
	block := exampleBlock(b)
	for _, v := range []ProtocolVersion{V1_7, V2_0} {
		b.Run(v.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := BlockHash(block, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTransactionHash(b *testing.B) {
	tx := exampleTransaction(b)
	b.Run("DataRequest", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := TransactionHash(tx); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same transaction with nil sub-messages: the copy-and-fill path.
	sparse := proto.Clone(tx).(*pb.Transaction)
	sparse.GetDataRequest().Body.DrOutput.DataRequest.Aggregate = nil
	b.Run("DataRequest/sparse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := TransactionHash(sparse); err != nil {
				b.Fatal(err)
			}
		}
	})
}
