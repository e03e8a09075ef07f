package inventory

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// voteN is a vote for superblock index whose hash field carries n, so (index, n) pairs
// are distinct items.
func voteN(index, n uint32) *pb.SuperBlockVote {
	v := testVote(index)
	var h protocol.Hash
	h[0], h[1], h[2], h[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	v.SuperblockHash = protocol.NewHashPB(h)
	return v
}

func voteItem(t *testing.T, v *pb.SuperBlockVote) Item {
	t.Helper()
	it, err := Decoder{}.FromMessage(protocol.NewSuperBlockVote(protocol.Magic, v))
	require.NoError(t, err)
	return it
}

// voteKeys names votes by (index, n) for comparisons.
func voteKeys(votes []*pb.SuperBlockVote) [][2]uint32 {
	out := [][2]uint32{}
	for _, v := range votes {
		h := v.GetSuperblockHash().GetSHA256()
		out = append(out, [2]uint32{v.GetSuperblockIndex(), uint32(h[0])<<24 | uint32(h[1])<<16 | uint32(h[2])<<8 | uint32(h[3])})
	}
	return out
}

func TestSuperBlockVotesLatestIndex(t *testing.T) {
	tests := []struct {
		name  string
		votes [][2]uint32 // (index, n) stored in this order
		other bool        // store a superblock and a transaction around the votes
		want  [][2]uint32
	}{
		{"none", nil, false, [][2]uint32{}},
		{"none, other kinds stored", nil, true, [][2]uint32{}},
		{"one index", [][2]uint32{{4, 1}, {4, 2}}, false, [][2]uint32{{4, 1}, {4, 2}}},
		{"latest index only, arrival order", [][2]uint32{{3, 1}, {5, 2}, {4, 3}, {5, 4}, {3, 5}}, false, [][2]uint32{{5, 2}, {5, 4}}},
		{"latest index with other kinds stored", [][2]uint32{{3, 1}, {5, 2}, {5, 4}}, true, [][2]uint32{{5, 2}, {5, 4}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEngine(t, Config{})
			var items []Item
			if tc.other {
				items = append(items, itemOf(t, protocol.NewSuperBlock(protocol.Magic, testSuperBlock(9))), itemOf(t, txMsg(inventorytest.Tx(1))))
			}
			for _, v := range tc.votes {
				items = append(items, voteItem(t, voteN(v[0], v[1])))
			}
			if len(items) > 0 {
				_, err := e.Store().Put(items...)
				require.NoError(t, err)
			}
			require.Equal(t, tc.want, voteKeys(e.SuperBlockVotes()))
		})
	}
}

func itemOf(t *testing.T, m *pb.Message) Item {
	t.Helper()
	it, err := Decoder{}.FromMessage(m)
	require.NoError(t, err)
	return it
}

func TestSuperBlockVotesBounded(t *testing.T) {
	db, _ := tempDB(t)
	store, err := OpenStore(db, StoreConfig{MaxVotesPerIndex: 2 * voteScanWindow})
	require.NoError(t, err)
	e := newTestEngine(t, Config{Store: store})
	// An old vote of a higher index beyond the scan window, then more votes of one index
	// than are served.
	items := []Item{voteItem(t, voteN(9, 0))}
	for n := range uint32(voteScanWindow) {
		items = append(items, voteItem(t, voteN(2, n+1)))
	}
	_, err = e.Store().Put(items...)
	require.NoError(t, err)
	got := voteKeys(e.SuperBlockVotes())
	require.Len(t, got, MaxVotesServed)
	// The newest ones, oldest first.
	require.Equal(t, [2]uint32{2, voteScanWindow - MaxVotesServed + 1}, got[0])
	require.Equal(t, [2]uint32{2, voteScanWindow}, got[len(got)-1])
}

func TestSuperBlockVotesNotYetCommitted(t *testing.T) {
	// A commit window longer than the test: received votes stay in memory.
	e := newTestEngine(t, Config{CommitDelay: time.Hour})
	_, err := e.Store().Put(voteItem(t, voteN(4, 1)))
	require.NoError(t, err)
	from := &fakeConn{id: "pusher", typ: session.Inbound}
	for _, v := range []*pb.SuperBlockVote{voteN(5, 2), voteN(3, 3)} {
		e.received(from, protocol.NewSuperBlockVote(protocol.Magic, v))
	}
	require.Equal(t, 1, e.Store().Count(protocol.KindSuperBlockVote), "the received votes were committed; the test needs them in memory")
	require.Equal(t, [][2]uint32{{5, 2}}, voteKeys(e.SuperBlockVotes()))
}

// batchInventory is an engine that also receives the session's block batches.
type batchInventory struct {
	*Engine
	mu      sync.Mutex
	batches [][]uint32
}

func (b *batchInventory) Blocks(_ *session.Session, blocks []*pb.Block) {
	b.mu.Lock()
	defer b.mu.Unlock()
	es := []uint32{}
	for _, blk := range blocks {
		es = append(es, blk.GetBlockHeader().GetBeacon().GetCheckpoint())
	}
	b.batches = append(b.batches, es)
}

func (b *batchInventory) got() [][]uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]uint32(nil), b.batches...)
}

// TestSyncBatchAndVotesOverLibp2p runs two real libp2p nodes: the server gets the beacon
// of the syncing node (its inbound peer) and announces the blocks it lacks, and the syncing session
// hands them over as one batch in epoch order. Then the syncing node requests the
// server's beacon block (epoch 0: the servers' sessions have the zero chain), and the
// server's votes of its latest superblock follow it.
func TestSyncBatchAndVotesOverLibp2p(t *testing.T) {
	dir := t.TempDir()
	server := startTestNode(t, filepath.Join(dir, "server.db"), nodeOpts{outbound: 3})
	for ep := range uint32(4) {
		_, _, err := server.engine.Submit(protocol.KindBlock, rawOf(t, testBlock(t, ep, 1)))
		require.NoError(t, err)
	}
	for i, v := range []*pb.SuperBlockVote{voteN(6, 1), voteN(7, 2), voteN(7, 3)} {
		_, _, err := server.engine.Submit(protocol.KindSuperBlockVote, rawOf(t, v))
		require.NoError(t, err, "vote %d", i)
	}

	inv := &batchInventory{}
	client := startTestNode(t, filepath.Join(dir, "client.db"), nodeOpts{outbound: 3, inventory: inv})
	inv.Engine = client.engine
	client.dial(t, server)
	s := client.session(t, server.host.ID(), session.Outbound)

	// The test nodes' sessions have no Chain to pass an inbound beacon to the engine, so
	// the server's engine gets the client's beacon directly, as inventory.Chain gives it.
	back := server.session(t, client.host.ID(), session.Inbound)
	server.engine.InboundBeacon(back, protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(0, protocol.Hash{}), nil))
	waitFor(t, func() bool { return len(inv.got()) == 1 }, "no block batch")
	require.Equal(t, [][]uint32{{1, 2, 3}}, inv.got())
	require.Zero(t, s.Stats().MessagesIn[protocol.KindSuperBlockVote], "votes sent without the beacon block")

	h, err := protocol.BlockHash(testBlock(t, 0, 1), protocol.V1_7)
	require.NoError(t, err)
	require.NoError(t, s.RequestBlock(protocol.BlockEntry(h)))
	waitFor(t, func() bool { return len(client.engine.SuperBlockVotes()) == 2 }, "the votes did not follow the beacon block")
	got := client.engine.SuperBlockVotes()
	require.Len(t, got, 2)
	for _, v := range got {
		require.Equal(t, uint32(7), v.GetSuperblockIndex())
	}
	require.True(t, proto.Equal(got[0], voteN(7, 2)) || proto.Equal(got[0], voteN(7, 3)))
	require.Equal(t, uint64(2), s.Stats().MessagesIn[protocol.KindSuperBlockVote])
}
