package protocol

// Tests of the item hashes (hash.go) against testdata/hashes.json and against preimages
// built independently with protowire, plus test-only converters (hv*) from the JSON form
// of the hash vectors (testdata/VECTORS.md) to pb values. The converters are strict: a key
// they do not read fails the test, so a vector can never be half-read. (vectors_test.go
// has its own converters for the message vectors; the two sets can be merged.)

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// hvFile is one vectors file.
type hvFile struct {
	Fixtures map[string]struct {
		Value any `json:"value"`
	} `json:"fixtures"`
	Vectors []hvVector `json:"vectors"`
}

// hvVector is one vector; Input and Expected stay generic (numbers as json.Number).
type hvVector struct {
	Name     string         `json:"name"`
	Category string         `json:"category"`
	Input    map[string]any `json:"input"`
	Expected map[string]any `json:"expected"`
}

// hvLoad reads testdata/<name> with numbers kept exact.
func hvLoad(t testing.TB, name string) *hvFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var f hvFile
	require.NoError(t, dec.Decode(&f))
	return &f
}

// resolve replaces a {"$fixture": name} reference by the fixture's value.
func (f *hvFile) resolve(t testing.TB, v any) any {
	t.Helper()
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		if name, ok := m["$fixture"].(string); ok {
			fx, ok := f.Fixtures[name]
			require.Truef(t, ok, "unknown fixture %q", name)
			return fx.Value
		}
	}
	return v
}

// hvObj reads one JSON object and remembers which keys were read, so that done can fail
// on keys nobody converted.
type hvObj struct {
	t    testing.TB
	path string
	m    map[string]any
	used map[string]bool
}

func hvObject(t testing.TB, path string, v any) *hvObj {
	t.Helper()
	m, ok := v.(map[string]any)
	require.Truef(t, ok, "%s: want an object, got %T", path, v)
	return &hvObj{t: t, path: path, m: m, used: map[string]bool{}}
}

func (o *hvObj) get(key string) any {
	o.t.Helper()
	v, ok := o.m[key]
	require.Truef(o.t, ok, "%s: missing key %q", o.path, key)
	o.used[key] = true
	return v
}

// done fails the test if the object has keys that were never read.
func (o *hvObj) done() {
	o.t.Helper()
	var extra []string
	for k := range o.m {
		if !o.used[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	require.Emptyf(o.t, extra, "%s: keys not converted", o.path)
}

func (o *hvObj) obj(key string) *hvObj { return hvObject(o.t, o.path+"."+key, o.get(key)) }

func (o *hvObj) list(key string) []any {
	o.t.Helper()
	l, ok := o.get(key).([]any)
	require.Truef(o.t, ok, "%s.%s: want a list", o.path, key)
	return l
}

func (o *hvObj) uint(key string, bits int) uint64 {
	o.t.Helper()
	n, ok := o.get(key).(json.Number)
	require.Truef(o.t, ok, "%s.%s: want a number", o.path, key)
	u, err := strconv.ParseUint(n.String(), 10, bits)
	require.NoErrorf(o.t, err, "%s.%s", o.path, key)
	return u
}

func (o *hvObj) u32(key string) uint32 { return uint32(o.uint(key, 32)) }
func (o *hvObj) u64(key string) uint64 { return o.uint(key, 64) }

func (o *hvObj) str(key string) string {
	o.t.Helper()
	s, ok := o.get(key).(string)
	require.Truef(o.t, ok, "%s.%s: want a string", o.path, key)
	return s
}

// hex decodes a hex string; n ≥ 0 also checks its length in bytes.
func (o *hvObj) hex(key string, n int) []byte {
	o.t.Helper()
	b, err := hex.DecodeString(o.str(key))
	require.NoErrorf(o.t, err, "%s.%s", o.path, key)
	if n >= 0 {
		require.Lenf(o.t, b, n, "%s.%s", o.path, key)
	}
	return b
}

func (o *hvObj) hash(key string) *pb.Hash { return hvHash(o.hex(key, HashSize)) }

func (o *hvObj) pkh(key string) *pb.PublicKeyHash {
	return &pb.PublicKeyHash{Hash: o.hex(key, pkhLen)}
}

func (o *hvObj) publicKey(key string) *pb.PublicKey {
	return &pb.PublicKey{PublicKey: o.hex(key, publicKeyLen)}
}

// hvHash wraps raw bytes as a pb.Hash without checking them (tests build bad ones too).
func hvHash(b []byte) *pb.Hash { return &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: b}} }

// hvOneof returns the single member name and value of a oneof object.
func hvOneof(t testing.TB, path string, v any) (string, any) {
	t.Helper()
	m, ok := v.(map[string]any)
	require.Truef(t, ok && len(m) == 1, "%s: want a one-key object", path)
	for k, val := range m {
		return k, val
	}
	panic("unreachable")
}

func hvBlock(t testing.TB, v any) *pb.Block {
	t.Helper()
	o := hvObject(t, "block", v)
	defer o.done()
	h := o.obj("block_header")
	defer h.done()
	beacon := h.obj("beacon")
	defer beacon.done()
	roots := h.obj("merkle_roots")
	defer roots.done()
	claim := h.obj("proof")
	defer claim.done()
	vrf := claim.obj("proof")
	defer vrf.done()
	bn := h.obj("bn256_public_key")
	defer bn.done()
	txns := o.obj("txns")
	defer txns.done()
	return &pb.Block{
		BlockHeader: &pb.Block_BlockHeader{
			Signals: h.u32("signals"),
			Beacon: &pb.CheckpointBeacon{
				Checkpoint:    beacon.u32("checkpoint"),
				HashPrevBlock: beacon.hash("hash_prev_block"),
			},
			MerkleRoots: &pb.Block_BlockHeader_BlockMerkleRoots{
				MintHash:              roots.hash("mint_hash"),
				VtHashMerkleRoot:      roots.hash("vt_hash_merkle_root"),
				DrHashMerkleRoot:      roots.hash("dr_hash_merkle_root"),
				CommitHashMerkleRoot:  roots.hash("commit_hash_merkle_root"),
				RevealHashMerkleRoot:  roots.hash("reveal_hash_merkle_root"),
				TallyHashMerkleRoot:   roots.hash("tally_hash_merkle_root"),
				StakeHashMerkleRoot:   roots.hash("stake_hash_merkle_root"),
				UnstakeHashMerkleRoot: roots.hash("unstake_hash_merkle_root"),
			},
			Proof: &pb.BlockEligibilityClaim{Proof: &pb.VrfProof{
				Proof:     vrf.hex("proof", -1),
				PublicKey: vrf.publicKey("public_key"),
			}},
			Bn256PublicKey: &pb.Bn256PublicKey{PublicKey: bn.hex("public_key", -1)},
		},
		BlockSig: hvKeyedSignature(t, "block.block_sig", o.get("block_sig")),
		Txns:     hvBlockTransactions(t, txns),
	}
}

func hvBlockTransactions(t testing.TB, o *hvObj) *pb.Block_BlockTransactions {
	t.Helper()
	mint := o.obj("mint")
	defer mint.done()
	txns := &pb.Block_BlockTransactions{
		Mint: &pb.MintTransaction{Epoch: mint.u32("epoch"), Outputs: hvOutputs(t, mint, "outputs")},
	}
	for i, v := range o.list("value_transfer_txns") {
		txns.ValueTransferTxns = append(txns.ValueTransferTxns, hvVTTransaction(t, o.path+".value_transfer_txns["+strconv.Itoa(i)+"]", v))
	}
	for i, v := range o.list("data_request_txns") {
		txns.DataRequestTxns = append(txns.DataRequestTxns, hvDRTransaction(t, o.path+".data_request_txns["+strconv.Itoa(i)+"]", v))
	}
	// No hash vector has transactions of the other kinds; refuse rather than drop them.
	for _, key := range []string{"commit_txns", "reveal_txns", "tally_txns", "stake_txns", "unstake_txns"} {
		require.Emptyf(t, o.list(key), "%s.%s: not supported by this converter", o.path, key)
	}
	return txns
}

func hvTransaction(t testing.TB, v any) *pb.Transaction {
	t.Helper()
	kind, body := hvOneof(t, "transaction", v)
	switch kind {
	case "ValueTransfer":
		return &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: hvVTTransaction(t, "transaction.ValueTransfer", body)}}
	case "DataRequest":
		return &pb.Transaction{Kind: &pb.Transaction_DataRequest{DataRequest: hvDRTransaction(t, "transaction.DataRequest", body)}}
	}
	t.Fatalf("transaction: kind %q not supported by this converter", kind)
	return nil
}

func hvVTTransaction(t testing.TB, path string, v any) *pb.VTTransaction {
	t.Helper()
	o := hvObject(t, path, v)
	defer o.done()
	body := o.obj("body")
	defer body.done()
	return &pb.VTTransaction{
		Body: &pb.VTTransactionBody{
			Inputs:  hvInputs(t, body, "inputs"),
			Outputs: hvOutputs(t, body, "outputs"),
		},
		Signatures: hvSignatures(t, o),
	}
}

func hvDRTransaction(t testing.TB, path string, v any) *pb.DRTransaction {
	t.Helper()
	o := hvObject(t, path, v)
	defer o.done()
	body := o.obj("body")
	defer body.done()
	return &pb.DRTransaction{
		Body: &pb.DRTransactionBody{
			Inputs:   hvInputs(t, body, "inputs"),
			Outputs:  hvOutputs(t, body, "outputs"),
			DrOutput: hvDataRequestOutput(t, body.obj("dr_output")),
		},
		Signatures: hvSignatures(t, o),
	}
}

// hvSignatures converts a signatures list. The placeholder string "(any; not hashed)"
// becomes a made-up signature: the hash must not depend on it.
func hvSignatures(t testing.TB, o *hvObj) []*pb.KeyedSignature {
	t.Helper()
	v := o.get("signatures")
	if s, ok := v.(string); ok {
		require.Equal(t, "(any; not hashed)", s)
		return []*pb.KeyedSignature{{
			Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: []byte{0xde, 0xad}}}},
			PublicKey: &pb.PublicKey{PublicKey: bytes.Repeat([]byte{2}, publicKeyLen)},
		}}
	}
	l, ok := v.([]any)
	require.Truef(t, ok, "%s.signatures: want a list", o.path)
	var sigs []*pb.KeyedSignature
	for i, s := range l {
		sigs = append(sigs, hvKeyedSignature(t, o.path+".signatures["+strconv.Itoa(i)+"]", s))
	}
	return sigs
}

func hvKeyedSignature(t testing.TB, path string, v any) *pb.KeyedSignature {
	t.Helper()
	o := hvObject(t, path, v)
	defer o.done()
	kind, sig := hvOneof(t, path+".signature", o.get("signature"))
	require.Equalf(t, "Secp256k1", kind, "%s.signature", path)
	s := hvObject(t, path+".signature.Secp256k1", sig)
	defer s.done()
	return &pb.KeyedSignature{
		Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: s.hex("der", -1)}}},
		PublicKey: o.publicKey("public_key"),
	}
}

func hvInputs(t testing.TB, o *hvObj, key string) []*pb.Input {
	t.Helper()
	var inputs []*pb.Input
	for i, v := range o.list(key) {
		in := hvObject(t, o.path+"."+key+"["+strconv.Itoa(i)+"]", v)
		ptr := in.obj("output_pointer")
		inputs = append(inputs, &pb.Input{OutputPointer: &pb.OutputPointer{
			TransactionId: ptr.hash("transaction_id"),
			OutputIndex:   ptr.u32("output_index"),
		}})
		ptr.done()
		in.done()
	}
	return inputs
}

func hvOutputs(t testing.TB, o *hvObj, key string) []*pb.ValueTransferOutput {
	t.Helper()
	var outputs []*pb.ValueTransferOutput
	for i, v := range o.list(key) {
		out := hvObject(t, o.path+"."+key+"["+strconv.Itoa(i)+"]", v)
		outputs = append(outputs, &pb.ValueTransferOutput{
			Pkh:      out.pkh("pkh"),
			Value:    out.u64("value"),
			TimeLock: out.u64("time_lock"),
		})
		out.done()
	}
	return outputs
}

func hvDataRequestOutput(t testing.TB, o *hvObj) *pb.DataRequestOutput {
	t.Helper()
	defer o.done()
	req := o.obj("data_request")
	defer req.done()
	rad := &pb.DataRequestOutput_RADRequest{
		TimeLock: req.u64("time_lock"),
	}
	rad.Aggregate = &pb.DataRequestOutput_RADRequest_RADAggregate{}
	rad.Aggregate.Filters, rad.Aggregate.Reducer = hvReducer(t, req.obj("aggregate"))
	rad.Tally = &pb.DataRequestOutput_RADRequest_RADTally{}
	rad.Tally.Filters, rad.Tally.Reducer = hvReducer(t, req.obj("tally"))
	for i, v := range req.list("retrieve") {
		r := hvObject(t, req.path+".retrieve["+strconv.Itoa(i)+"]", v)
		retrieve := &pb.DataRequestOutput_RADRequest_RADRetrieve{
			Kind:   pb.DataRequestOutput_RADRequest_RADType(r.u32("kind")),
			Url:    r.str("url"),
			Script: r.hex("script", -1),
			Body:   r.hex("body", -1),
		}
		for j, hv := range r.list("headers") {
			h := hvObject(t, r.path+".headers["+strconv.Itoa(j)+"]", hv)
			retrieve.Headers = append(retrieve.Headers, &pb.StringPair{Left: h.str("left"), Right: h.str("right")})
			h.done()
		}
		r.done()
		rad.Retrieve = append(rad.Retrieve, retrieve)
	}
	return &pb.DataRequestOutput{
		DataRequest:            rad,
		WitnessReward:          o.u64("witness_reward"),
		Witnesses:              o.u32("witnesses"),
		CommitAndRevealFee:     o.u64("commit_and_reveal_fee"),
		MinConsensusPercentage: o.u32("min_consensus_percentage"),
		Collateral:             o.u64("collateral"),
	}
}

// hvReducer converts the filters and reducer of a RADAggregate or RADTally (same shape).
func hvReducer(t testing.TB, o *hvObj) ([]*pb.DataRequestOutput_RADRequest_RADFilter, uint32) {
	t.Helper()
	defer o.done()
	var filters []*pb.DataRequestOutput_RADRequest_RADFilter
	for i, v := range o.list("filters") {
		f := hvObject(t, o.path+".filters["+strconv.Itoa(i)+"]", v)
		filters = append(filters, &pb.DataRequestOutput_RADRequest_RADFilter{Op: f.u32("op"), Args: f.hex("args", -1)})
		f.done()
	}
	return filters, o.u32("reducer")
}

func hvSuperBlock(t testing.TB, v any) *pb.SuperBlock {
	t.Helper()
	o := hvObject(t, "superblock", v)
	defer o.done()
	return &pb.SuperBlock{
		SigningCommitteeLength:        o.u32("signing_committee_length"),
		ArsRoot:                       o.hash("ars_root"),
		DataRequestRoot:               o.hash("data_request_root"),
		Index:                         o.u32("index"),
		LastBlock:                     o.hash("last_block"),
		LastBlockInPreviousSuperblock: o.hash("last_block_in_previous_superblock"),
		TallyRoot:                     o.hash("tally_root"),
	}
}

// ---- vectors ----

// TestHashVectors runs every vector of testdata/hashes.json and fails if one has a
// category it does not know, so a new vector cannot be skipped silently.
func TestHashVectors(t *testing.T) {
	f := hvLoad(t, "hashes.json")
	ran := map[string]int{}
	for _, v := range f.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			in := hvObject(t, v.Name+".input", v.Input)
			want := hvObject(t, v.Name+".expected", v.Expected)
			switch v.Category {
			case "block_hash":
				runBlockHashVector(t, f, in, want)
			case "transaction_hash":
				runTransactionHashVector(t, f, in, want)
			case "superblock_hash":
				got, err := SuperBlockHash(hvSuperBlock(t, in.get("superblock")))
				require.NoError(t, err)
				require.Equal(t, want.str("hash"), got.String())
			case "merkle_root":
				var leaves []Hash
				for i, l := range in.list("leaves") {
					s, ok := l.(string)
					require.Truef(t, ok, "leaf %d", i)
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

func runBlockHashVector(t *testing.T, f *hvFile, in, want *hvObj) {
	block := hvBlock(t, f.resolve(t, in.get("block")))
	v, err := ParseProtocolVersion(in.str("protocol_version"))
	require.NoError(t, err)
	got, err := BlockHash(block, v)
	require.NoError(t, err)
	require.Equal(t, want.str("hash"), got.String())

	// The hashed bytes: their length is part of the vector, and their SHA-256 is the hash.
	pre := hvBlockPreimage(t, block.GetBlockHeader(), v)
	require.Len(t, pre, int(want.u32("hashed_bytes_length")))
	require.Equal(t, Hash(sha256.Sum256(pre)), got)
}

// hvBlockPreimage returns the bytes BlockHash hashes for version v.
func hvBlockPreimage(t testing.TB, h *pb.Block_BlockHeader, v ProtocolVersion) []byte {
	t.Helper()
	var m proto.Message = h
	if v == V1_7 {
		m = legacyHeader(h)
	}
	b, err := CanonicalBytes(m)
	require.NoError(t, err)
	return b
}

func runTransactionHashVector(t *testing.T, f *hvFile, in, want *hvObj) {
	var tx *pb.Transaction
	if _, ok := in.m["transaction_bytes"]; ok {
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
		tx = hvTransaction(t, f.resolve(t, in.get("transaction")))
	}
	got, err := TransactionHash(tx)
	require.NoError(t, err)
	require.Equal(t, want.str("hash"), got.String())
}

// TestBlockHashVersions checks the version rules around the fixture block: V1.8 and V2.1
// hash like V2.0 (WIRE.md 11.1 gives the V1.8 hash too), the V2.0 preimage is the V1.7
// one plus the two extra roots, BlockHashAt follows the block's epoch, and stake/unstake
// roots do not matter to V1.7.
func TestBlockHashVersions(t *testing.T) {
	f := hvLoad(t, "hashes.json")
	block := hvBlock(t, f.Fixtures["block_example"].Value)
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
	require.Equal(t, header(6), hvBlockPreimage(t, block.GetBlockHeader(), V1_7))
	require.Equal(t, header(8), hvBlockPreimage(t, block.GetBlockHeader(), V2_0))

	// V1.7 ignores roots 7 and 8, V2.0 does not.
	changed := proto.Clone(block).(*pb.Block)
	changed.BlockHeader.MerkleRoots.UnstakeHashMerkleRoot = hvHash(bytes.Repeat([]byte{1}, HashSize))
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
// (WIRE.md 4.4), built here byte by byte.
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
		ArsRoot:                       hvHash(fill(0xa1)),
		DataRequestRoot:               hvHash(fill(0xa2)),
		Index:                         0x55667788,
		LastBlock:                     hvHash(fill(0xa3)),
		LastBlockInPreviousSuperblock: hvHash(fill(0xa4)),
		TallyRoot:                     hvHash(fill(0xa5)),
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

// pw* append protobuf fields the way WIRE.md section 2 says witnet-rust writes them,
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
	return &pb.Input{OutputPointer: &pb.OutputPointer{TransactionId: hvHash(txID), OutputIndex: index}}
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
// from WIRE.md 11.2 (two-part hashes for data requests and tallies). The examples leave
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
					DrPointer:  hvHash(tvH1),
					Commitment: hvHash(tvH2),
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
				Body:       &pb.RevealTransactionBody{DrPointer: hvHash(tvH3), Reveal: []byte{0x18, 0x2a}, Pkh: &pb.PublicKeyHash{Hash: tvP1}},
				Signatures: tvSignatures(),
			}}},
			want: sha(pwMsg(pwBytes(pwHash(nil, 1, tvH3), 2, []byte{0x18, 0x2a}), 3, pwBytes(nil, 1, tvP1))),
		},
		{
			name: "Tally",
			tx: &pb.Transaction{Kind: &pb.Transaction_Tally{Tally: &pb.TallyTransaction{
				DrPointer:       hvHash(tvH2),
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
			direct, err := hvKindHash(tc.tx)
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

// hvKindHash calls the per-kind hash function for tx's kind.
func hvKindHash(tx *pb.Transaction) (Hash, error) {
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
	f := hvLoad(t, "hashes.json")
	dr := hvTransaction(t, f.Fixtures["transaction_example"].Value).GetDataRequest()
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

	tally := &pb.TallyTransaction{DrPointer: hvHash(tvH1), Tally: []byte{1, 2, 3}}
	data, rest, err = tallyProofOfInclusion(tally)
	require.NoError(t, err)
	require.Equal(t, sha(tvH1, []byte{1, 2, 3}), data)
	require.Equal(t, sha(pwBytes(pwHash(nil, 1, tvH1), 2, []byte{1, 2, 3})), rest)
}

// ---- invalid items ----

// TestInvalidItems: anything witnet-rust could not represent gives an *ItemError naming
// the field, never a panic and never a hash.
func TestInvalidItems(t *testing.T) {
	f := hvLoad(t, "hashes.json")
	goodBlock := func() *pb.Block { return hvBlock(t, f.Fixtures["block_example"].Value) }
	goodDR := func() *pb.DRTransaction {
		return hvTransaction(t, f.Fixtures["transaction_example"].Value).GetDataRequest()
	}
	goodSB := func() *pb.SuperBlock {
		return &pb.SuperBlock{ArsRoot: hvHash(tvH1), DataRequestRoot: hvHash(tvH1), LastBlock: hvHash(tvH1),
			LastBlockInPreviousSuperblock: hvHash(tvH1), TallyRoot: hvHash(tvH1)}
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
			b.BlockHeader.MerkleRoots.StakeHashMerkleRoot = hvHash(tvH1[:31])
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
				DrPointer: hvHash(tvH1), Pkh: &pb.PublicKeyHash{Hash: tvP1[:19]}}})
		}, "body.pkh"},
		{"tally nil pointer", func() (Hash, error) { return TallyTransactionHash(nil) }, "dr_pointer"},
		{"tally bad out_of_consensus", func() (Hash, error) {
			return TallyTransactionHash(&pb.TallyTransaction{DrPointer: hvHash(tvH1),
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
			sb.LastBlock = hvHash(append(tvH1, 0))
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
	f := hvLoad(t, "hashes.json")
	block := hvBlock(t, f.Fixtures["block_example"].Value)
	tx := hvTransaction(t, f.Fixtures["transaction_example"].Value)
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
	f := hvLoad(b, "hashes.json")
	block := hvBlock(b, f.Fixtures["block_example"].Value)
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
	f := hvLoad(b, "hashes.json")
	tx := hvTransaction(b, f.Fixtures["transaction_example"].Value)
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
