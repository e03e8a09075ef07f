package inventory

import (
	"bytes"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Tests of the bounds on the items peers can make the node keep: sizes per kind, the
// budget of unsolicited items, the cache and the store in bytes, votes per superblock.

// paddedBlock is testBlock with its signature padded to make the block size bytes long.
func paddedBlock(t *testing.T, epoch uint32, size int) *pb.Block {
	b := testBlock(t, epoch, 0)
	der := b.BlockSig.Signature.GetSecp256K1()
	der.Der = append(der.Der, make([]byte, size-proto.Size(b))...)
	for proto.Size(b) > size { // the length prefix grew
		der.Der = der.Der[:len(der.Der)-1]
	}
	require.Equal(t, size, proto.Size(b))
	return b
}

// paddedVote is a vote whose BN256 signature makes it size bytes long.
func paddedVote(t *testing.T, index uint32, size int) *pb.SuperBlockVote {
	v := testVote(index)
	v.Bn256Signature.Signature = append(v.Bn256Signature.Signature, make([]byte, size-proto.Size(v))...)
	for proto.Size(v) > size {
		v.Bn256Signature.Signature = v.Bn256Signature.Signature[:len(v.Bn256Signature.Signature)-1]
	}
	require.Equal(t, size, proto.Size(v))
	return v
}

// TestItemSizeLimits: each kind has its own size limit, an item at it is accepted, one
// byte more is refused before anything is hashed.
func TestItemSizeLimits(t *testing.T) {
	var d Decoder
	for _, tc := range []struct {
		kind protocol.Kind
		make func(size int) *pb.Message
	}{
		{protocol.KindBlock, func(size int) *pb.Message { return protocol.NewBlock(protocol.Magic, paddedBlock(t, 5, size)) }},
		{protocol.KindSuperBlockVote, func(size int) *pb.Message {
			return protocol.NewSuperBlockVote(protocol.Magic, paddedVote(t, 5, size))
		}},
	} {
		limit := d.Limit(tc.kind)
		_, size, err := d.identify(tc.make(limit))
		require.NoError(t, err, "%s at its limit", tc.kind)
		require.Equal(t, limit, size)
		_, size, err = d.identify(tc.make(limit + 1))
		var ie *ItemError
		require.ErrorAs(t, err, &ie, "%s above its limit", tc.kind)
		require.Equal(t, ReasonOversized, ie.Reason)
		require.Equal(t, limit+1, size)
	}
	require.Equal(t, DefaultMaxBlockSize, d.Limit(protocol.KindBlock))
	require.Equal(t, DefaultMaxTransactionSize, d.Limit(protocol.KindTransaction))
	require.Equal(t, DefaultMaxSuperBlockSize, d.Limit(protocol.KindSuperBlock))
	require.Equal(t, DefaultMaxVoteSize, d.Limit(protocol.KindSuperBlockVote))
	require.Less(t, proto.Size(testSuperBlock(1<<31)), DefaultMaxSuperBlockSize/4, "a superblock is far below its limit")
}

// TestUnsolicitedBudget: items a peer pushes unasked are charged to its budget: beyond it
// the item is dropped and Received reports the offence; items it was asked for are not
// charged; beyond the node's budget items are dropped without blame.
func TestUnsolicitedBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
		sizes := func(from, n int) (sum int) {
			for i := range n {
				sum += proto.Size(inventorytest.Tx(uint64(from + i)))
			}
			return sum
		}
		e := newTestEngine(t, Config{Clock: clock, CommitDelay: -1,
			UnsolicitedPeerRate: 1, UnsolicitedPeerBurst: sizes(0, 10),
			UnsolicitedRate: 1, UnsolicitedBurst: sizes(0, 10) + sizes(200, 5)})
		net := newFakeNet(t)
		a, _ := net.link(e, pid(1), nil, pid(9))
		b, _ := net.link(e, pid(1), nil, pid(8))
		for i := range 10 {
			require.Equal(t, session.OffenceNone, e.received(a, txMsg(inventorytest.Tx(uint64(i)))), "push %d within the burst", i)
		}
		require.Equal(t, session.OffenceUnsolicitedBudget, e.received(a, txMsg(inventorytest.Tx(10))))
		settle(e)
		require.False(t, storedBy(e, itemOf(t, txMsg(inventorytest.Tx(10))).Hash), "the push beyond the budget is dropped")
		require.EqualValues(t, 10, e.Stats().Stored[LabelTransaction])

		// Asked-for items are not charged, however many.
		it := itemOf(t, txMsg(inventorytest.Tx(100)))
		require.Len(t, e.announced(a, it.Entry()), 1)
		require.Equal(t, session.OffenceNone, e.received(a, txMsg(inventorytest.Tx(100))))

		// Another peer pushes: its own budget is fresh, the node's has 5 items left.
		for i := range 5 {
			require.Equal(t, session.OffenceNone, e.received(b, txMsg(inventorytest.Tx(uint64(200+i)))))
		}
		require.Equal(t, session.OffenceNone, e.received(b, txMsg(inventorytest.Tx(205))), "not b's fault")
		require.EqualValues(t, 1, e.Stats().UnsolicitedDropped)
		settle(e)
		require.EqualValues(t, 16, e.Stats().Stored[LabelTransaction])

		// Items that do not decode are charged too (the budget refills at 1 byte/s).
		clock.Advance(time.Hour)
		bad := txMsg(inventorytest.Tx(300))
		bad.GetKind().GetTransaction().GetValueTransfer().Body.Inputs[0].OutputPointer.TransactionId = &pb.Hash{}
		badSize := proto.Size(bad.GetKind().GetTransaction())
		n := 0
		for e.received(a, bad) == session.OffenceNone {
			n++
			require.Less(t, n, 100)
		}
		require.Equal(t, sizes(0, 10)/badSize, n, "charged by their size")
	})
}

// TestUnsolicitedBlockNotStored: a block nobody asked for is relayed and served from
// memory but never stored; a requested one is stored.
func TestUnsolicitedBlockNotStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t, Config{Clock: session.NewFakeClock(time.Unix(1_700_000_000, 0)), CommitDelay: -1})
		net := newFakeNet(t)
		a, _ := net.link(e, pid(1), nil, pid(9))
		other, _ := net.link(e, pid(1), nil, pid(8))
		pushed := protocol.NewBlock(protocol.Magic, testBlock(t, 7, 1))
		require.Equal(t, session.OffenceNone, e.received(a, pushed))
		settle(e)
		e.gossipSent()
		it := itemOf(t, pushed)
		require.Len(t, other.sentOf(protocol.KindInventoryAnnouncement), 1, "relayed")
		_, ok := e.Item(it.Entry())
		require.True(t, ok, "served from memory")
		require.False(t, storedBy(e, it.Hash), "not stored")

		requested := protocol.NewBlock(protocol.Magic, testBlock(t, 8, 1))
		rit := itemOf(t, requested)
		require.Len(t, e.announced(a, rit.Entry()), 1)
		require.Equal(t, session.OffenceNone, e.received(a, requested))
		settle(e)
		require.True(t, storedBy(e, rit.Hash), "a requested block is stored")
	})
}

// TestCacheBytes: the decoded-item cache evicts the oldest beyond its byte bound as well
// as beyond its item bound.
func TestCacheBytes(t *testing.T) {
	c := newCmdCache(100, decodedCost(1000)*3)
	key := func(i int) entryKey { return entryKey{index: uint32(i), superblock: true} }
	for i := range 5 {
		c.put(key(i), &pb.Message_Command{}, 1000)
	}
	require.Len(t, c.cmds, 3)
	require.Nil(t, c.get(key(1)))
	require.NotNil(t, c.get(key(4)))
	require.Equal(t, 3*decodedCost(1000), c.bytes)
	c.put(key(9), &pb.Message_Command{}, 2000) // two of the others go
	require.Len(t, c.cmds, 2)
	require.LessOrEqual(t, c.bytes, c.maxBytes)
	for i := range 5000 { // the order list is compacted as it goes
		c.put(key(100+i), &pb.Message_Command{}, 10)
	}
	require.Len(t, c.cmds, c.maxBytes/decodedCost(10))
	require.LessOrEqual(t, c.bytes, c.maxBytes)
	require.Less(t, len(c.order), 2200)
	c = newCmdCache(100, 1<<30)
	for i := range 500 {
		c.put(key(i), &pb.Message_Command{}, 10)
	}
	require.Len(t, c.cmds, 100, "the item bound")
}

// TestStoreByteBounds: each pool is bounded in bytes as well as in items, across a
// restart, and a smaller bound trims at open.
func TestStoreByteBounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	db := openDB(t, path)
	s, err := OpenStore(db, StoreConfig{MaxBlockBytes: 10_000})
	require.NoError(t, err)
	var items []Item
	for i := range 30 {
		it := fakeItem(protocol.KindBlock, uint32(i), "b")
		it.Raw = append(it.Raw, bytes.Repeat([]byte{1}, 1000)...)
		items = append(items, it)
	}
	_, err = s.Put(items...)
	require.NoError(t, err)
	require.LessOrEqual(t, s.Bytes(protocol.KindBlock), 10_000)
	require.Equal(t, 9, s.Count(protocol.KindBlock))
	refs, err := s.Blocks(0, 100, 0)
	require.NoError(t, err)
	require.Equal(t, uint32(21), refs[0].Epoch, "the oldest went")
	size := s.Bytes(protocol.KindBlock)
	require.NoError(t, db.Close())

	db = openDB(t, path)
	defer db.Close()
	s, err = OpenStore(db, StoreConfig{MaxBlockBytes: 10_000})
	require.NoError(t, err)
	require.Equal(t, size, s.Bytes(protocol.KindBlock), "recounted at open")
	require.Equal(t, 9, s.Count(protocol.KindBlock))
	s, err = OpenStore(db, StoreConfig{MaxBlockBytes: 5_000})
	require.NoError(t, err)
	require.LessOrEqual(t, s.Bytes(protocol.KindBlock), 5_000)
	require.Equal(t, 4, s.Count(protocol.KindBlock))
}

// TestVotesPerIndex: a superblock index keeps at most MaxVotesPerIndex votes, across a
// restart; the engine drops the others unrelayed, and a submitted one is refused.
func TestVotesPerIndex(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "node.db")
		db := openDB(t, path)
		s, err := OpenStore(db, StoreConfig{MaxVotesPerIndex: 3})
		require.NoError(t, err)
		var items []Item
		for n := range uint32(5) {
			items = append(items, voteItem(t, voteN(1, n)), voteItem(t, voteN(2, n)))
		}
		added, err := s.Put(items...)
		require.NoError(t, err)
		require.Equal(t, []bool{true, true, true, true, true, true, false, false, false, false}, added)
		require.Equal(t, 6, s.Count(protocol.KindSuperBlockVote))
		require.NoError(t, db.Close())

		db = openDB(t, path)
		defer db.Close()
		s, err = OpenStore(db, StoreConfig{MaxVotesPerIndex: 3})
		require.NoError(t, err)
		e := newTestEngine(t, Config{Store: s, Clock: session.NewFakeClock(time.Unix(1_700_000_000, 0)), CommitDelay: -1})
		net := newFakeNet(t)
		a, _ := net.link(e, pid(1), nil, pid(9))
		other, _ := net.link(e, pid(1), nil, pid(8))
		require.Equal(t, session.OffenceNone, e.received(a, protocol.NewSuperBlockVote(protocol.Magic, voteN(1, 9))))
		require.Equal(t, session.OffenceNone, e.received(a, protocol.NewSuperBlockVote(protocol.Magic, voteN(3, 9))))
		settle(e)
		require.EqualValues(t, 1, e.Stats().VotesRefused)
		require.Len(t, other.sentOf(protocol.KindSuperBlockVote), 1, "only the vote of index 3 is relayed")
		require.Equal(t, 7, s.Count(protocol.KindSuperBlockVote))
		raw, err := protocol.CanonicalBytes(voteN(2, 9))
		require.NoError(t, err)
		_, _, err = e.Submit(protocol.KindSuperBlockVote, raw)
		var ie *ItemError
		require.ErrorAs(t, err, &ie)
		require.Equal(t, ReasonVotesFull, ie.Reason)
	})
}

// TestMaximalItemsUnderLimits builds items at witnet-rust's weight limits and checks that
// they encode well within the size limits (DefaultMaxBlockSize is meant to be over three
// times the largest block, DefaultMaxTransactionSize over twice the largest data request):
// a block with a value transfer of 20,000 weight (147 inputs), a data request of 80,000
// (a 79,000-byte script), a stake of 20,000 (148 inputs), 32 unstakes (5,000), and the
// commits, reveals and tallies of 125 witnesses for each of four rounds.
func TestMaximalItemsUnderLimits(t *testing.T) {
	h := func(b byte) *pb.Hash { return protocol.NewHashPB(protocol.Hash{b, 1, 2, 3}) }
	pkh := &pb.PublicKeyHash{Hash: bytes.Repeat([]byte{7}, 20)}
	pk := &pb.PublicKey{PublicKey: bytes.Repeat([]byte{2}, 33)}
	sig := func() *pb.KeyedSignature {
		return &pb.KeyedSignature{Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{
			Secp256K1: &pb.Secp256K1Signature{Der: bytes.Repeat([]byte{0x30}, 72)}}}, PublicKey: pk}
	}
	in := func() *pb.Input {
		return &pb.Input{OutputPointer: &pb.OutputPointer{TransactionId: h(9), OutputIndex: 1000}}
	}
	out := func() *pb.ValueTransferOutput {
		return &pb.ValueTransferOutput{Pkh: pkh, Value: 1 << 50, TimeLock: 1_700_000_000}
	}
	inputs := func(n int) (ins []*pb.Input, sigs []*pb.KeyedSignature) {
		for range n {
			ins, sigs = append(ins, in()), append(sigs, sig())
		}
		return ins, sigs
	}
	outputs := func(n int) (outs []*pb.ValueTransferOutput) {
		for range n {
			outs = append(outs, out())
		}
		return outs
	}
	txs := &pb.Block_BlockTransactions{Mint: &pb.MintTransaction{Epoch: 1, Outputs: outputs(2)}}

	vtIns, vtSigs := inputs(147) // 147 × 133 + 1 output × 360 = 19,911
	txs.ValueTransferTxns = append(txs.ValueTransferTxns, &pb.VTTransaction{
		Body: &pb.VTTransactionBody{Inputs: vtIns, Outputs: outputs(1)}, Signatures: vtSigs})
	drIns, drSigs := inputs(1)
	dr := &pb.DRTransaction{Body: &pb.DRTransactionBody{Inputs: drIns, Outputs: outputs(1), DrOutput: &pb.DataRequestOutput{
		DataRequest: &pb.DataRequestOutput_RADRequest{Retrieve: []*pb.DataRequestOutput_RADRequest_RADRetrieve{{
			Kind: pb.DataRequestOutput_RADRequest_HttpGet, Url: "https://example.com/price", Script: make([]byte, 79_000)}}},
		WitnessReward: 1 << 40, Witnesses: 1, CommitAndRevealFee: 1 << 30, MinConsensusPercentage: 51, Collateral: 1 << 40}},
		Signatures: drSigs}
	txs.DataRequestTxns = append(txs.DataRequestTxns, dr)
	stIns, stSigs := inputs(148)
	txs.StakeTxns = append(txs.StakeTxns, &pb.StakeTransaction{Body: &pb.StakeTransactionBody{Inputs: stIns,
		Output: &pb.StakeOutput{Value: 1 << 50, Key: &pb.StakeKey{Validator: pkh, Withdrawer: pkh}, Authorization: sig()},
		Change: out()}, Signatures: stSigs})
	for range 32 {
		txs.UnstakeTxns = append(txs.UnstakeTxns, &pb.UnstakeTransaction{Body: &pb.UnstakeTransactionBody{
			Operator: pkh, Withdrawal: out(), Fee: 1 << 20, Nonce: 1 << 20}, Signature: sig()})
	}
	const witnesses, rounds = 125, 4
	for range witnesses * rounds {
		col, colSigs := inputs(1)
		txs.CommitTxns = append(txs.CommitTxns, &pb.CommitTransaction{Body: &pb.CommitTransactionBody{
			DrPointer: h(1), Commitment: h(2),
			Proof:      &pb.DataRequestEligibilityClaim{Proof: &pb.VrfProof{Proof: make([]byte, 81), PublicKey: pk}},
			Collateral: col, Outputs: outputs(1), Bn256PublicKey: &pb.Bn256PublicKey{PublicKey: make([]byte, 129)}},
			Signatures: colSigs})
		txs.RevealTxns = append(txs.RevealTxns, &pb.RevealTransaction{Body: &pb.RevealTransactionBody{
			DrPointer: h(1), Reveal: make([]byte, 64), Pkh: pkh}, Signatures: []*pb.KeyedSignature{sig()}})
	}
	for range rounds {
		var pkhs []*pb.PublicKeyHash
		for range witnesses {
			pkhs = append(pkhs, pkh)
		}
		txs.TallyTxns = append(txs.TallyTxns, &pb.TallyTransaction{DrPointer: h(1), Tally: make([]byte, 64),
			Outputs: outputs(witnesses + 1), OutOfConsensus: pkhs, ErrorCommitters: pkhs})
	}
	b := testBlock(t, 5, 0)
	b.Txns = txs
	m := protocol.NewBlock(protocol.Magic, b)
	it, size, err := Decoder{}.identify(m)
	require.NoError(t, err)
	require.Equal(t, protocol.KindBlock, it.Kind)
	drSize := proto.Size(&pb.Transaction{Kind: &pb.Transaction_DataRequest{DataRequest: dr}})
	t.Logf("a block at the weight limits encodes to %d bytes (limit %d), its data request to %d (limit %d)",
		size, DefaultMaxBlockSize, drSize, DefaultMaxTransactionSize)
	require.Less(t, 3*size, DefaultMaxBlockSize)
	require.Less(t, 2*drSize, DefaultMaxTransactionSize)
}
