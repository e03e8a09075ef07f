package session

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// fakeSink records the batches a session hands over.
type fakeSink struct {
	mu      sync.Mutex
	batches [][]*pb.Block
	from    []*Session
}

func (f *fakeSink) Blocks(s *Session, blocks []*pb.Block) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches = append(f.batches, blocks)
	f.from = append(f.from, s)
}

// epochs returns the block epochs of every batch so far.
func (f *fakeSink) epochs() [][]uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]uint32, 0, len(f.batches))
	for _, b := range f.batches {
		es := []uint32{}
		for _, blk := range b {
			es = append(es, blockEpoch(blk))
		}
		out = append(out, es)
	}
	return out
}

func (f *fakeSink) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.batches)
}

// blockOf returns the test block of epoch e (testBlock's hashes differ by epoch).
func blockOf(e uint32) *pb.Block { return testBlock(e).GetKind().GetBlock() }

// entryAt is the block entry naming blockOf(e) hashed as version v.
func entryAt(t testing.TB, e uint32, v protocol.ProtocolVersion) *pb.InventoryEntry {
	t.Helper()
	h, err := protocol.BlockHash(blockOf(e), v)
	require.NoError(t, err)
	return protocol.BlockEntry(h)
}

// announce sends an InventoryAnnouncement of entries and returns the request it gets.
func announce(t testing.TB, p *pipePeer, entries ...*pb.InventoryEntry) []*pb.InventoryEntry {
	t.Helper()
	m, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
	require.NoError(t, err)
	require.NoError(t, p.send(m))
	return p.expect(protocol.KindInventoryRequest).GetKind().GetInventoryRequest().GetInventory()
}

// barrier sends a LastBeacon to an Inbound session and waits until the chain got it: the
// reader has handled every message sent before.
func barrier(t testing.TB, p *pipePeer, e *fakeEnv) {
	t.Helper()
	e.chain.mu.Lock()
	n := len(e.chain.inbound)
	e.chain.mu.Unlock()
	require.NoError(t, p.send(protocol.NewLastBeacon(protocol.Magic, protocol.NewLastBeaconPB(nil, nil))))
	requireSettled(t, func() bool {
		e.chain.mu.Lock()
		defer e.chain.mu.Unlock()
		return len(e.chain.inbound) > n
	}, "barrier beacon")
}

// downloadSession starts a consolidated Inbound session whose block batches go to a
// fake sink.
func downloadSession(t *testing.T, e *fakeEnv) (*Session, *pipePeer, *fakeSink) {
	t.Helper()
	sink := &fakeSink{}
	e.cfg.Blocks = sink
	s, p := pipeSession(t, Inbound, e)
	consolidateInbound(t, p, e.clock, s)
	return s, p, sink
}

func TestBlockBatchInAnnouncementOrder(t *testing.T) {
	announced := []uint32{5, 1, 4, 2, 3} // announcement order, not epoch order
	tests := []struct {
		name    string
		arrival []uint32 // epochs sent, in order; 99 is a block nobody requested
	}{
		{"in order", []uint32{5, 1, 4, 2, 3}},
		{"reversed", []uint32{3, 2, 4, 1, 5}},
		{"shuffled with a candidate and a duplicate", []uint32{2, 99, 4, 2, 5, 3, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				s, p, sink := downloadSession(t, e)
				var entries []*pb.InventoryEntry
				for _, ep := range announced {
					entries = append(entries, entryAt(t, ep, protocol.V1_7))
				}
				require.Len(t, announce(t, p, entries...), len(announced))
				started, ok := s.DownloadStarted()
				require.True(t, ok)
				require.Equal(t, t0, started)

				last := tc.arrival[len(tc.arrival)-1]
				for _, ep := range tc.arrival[:len(tc.arrival)-1] {
					require.NoError(t, p.send(testBlock(ep)))
				}
				barrier(t, p, e)
				require.Zero(t, sink.count(), "a batch was handed over before its last block")
				_, ok = s.DownloadStarted()
				require.True(t, ok)

				require.NoError(t, p.send(testBlock(last)))
				requireSettled(t, func() bool { return sink.count() == 1 }, "the batch")
				require.Equal(t, [][]uint32{announced}, sink.epochs())
				_, ok = s.DownloadStarted()
				require.False(t, ok, "download still in progress after its batch")
				// Every block, the candidate and the duplicate included, reached the inventory.
				require.Len(t, e.inv.receivedKinds(), len(tc.arrival))

				// The next block starts nothing and completes nothing.
				require.NoError(t, p.send(testBlock(1)))
				barrier(t, p, e)
				require.Equal(t, 1, sink.count())
			})
		})
	}
}

func TestBlockDownloadReplacedByNewAnnouncement(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		logs := captureLogs(t) // before the session's logger is made
		s, p, sink := downloadSession(t, e)

		announce(t, p, entryAt(t, 1, protocol.V1_7), entryAt(t, 2, protocol.V1_7), entryAt(t, 3, protocol.V1_7))
		require.NoError(t, p.send(testBlock(1)))
		require.NoError(t, p.send(testBlock(2)))
		barrier(t, p, e)

		e.clock.Advance(30 * time.Second)
		// The new list repeats epoch 1: the copy received for the old download is dropped.
		announce(t, p, entryAt(t, 10, protocol.V1_7), entryAt(t, 1, protocol.V1_7), entryAt(t, 11, protocol.V1_7))
		started, ok := s.DownloadStarted()
		require.True(t, ok)
		require.Equal(t, t0.Add(30*time.Second), started)
		requireSettled(t, func() bool {
			return len(logs.Find(func(l map[string]any) bool {
				return l["msg"] == "new announcement replaces the block download in progress" && l["level"] == "warn" &&
					l["requested"] == float64(3) && l["received"] == float64(2) && l["new"] == float64(3)
			})) == 1
		}, "replacement warning")

		// The old download's last block completes nothing.
		require.NoError(t, p.send(testBlock(3)))
		require.NoError(t, p.send(testBlock(11)))
		require.NoError(t, p.send(testBlock(10)))
		barrier(t, p, e)
		require.Zero(t, sink.count(), "batch completed with a block received for the replaced download")

		require.NoError(t, p.send(testBlock(1)))
		requireSettled(t, func() bool { return sink.count() == 1 }, "the batch")
		require.Equal(t, [][]uint32{{10, 1, 11}}, sink.epochs())
	})
}

func TestAnnouncementWithoutNewBlocksKeepsDownload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.inv.hold(entryAt(t, 7, protocol.V1_7), testBlock(7).GetKind())
		s, p, sink := downloadSession(t, e)
		announce(t, p, entryAt(t, 1, protocol.V1_7), entryAt(t, 2, protocol.V1_7))
		// Only a known block and a transaction: nothing is requested, the download stays.
		m, err := protocol.NewInventoryAnnouncement(protocol.Magic, []*pb.InventoryEntry{entryAt(t, 7, protocol.V1_7), protocol.TxEntry(protocol.Hash{9})})
		require.NoError(t, err)
		require.NoError(t, p.send(m))
		p.expectNothing()
		started, ok := s.DownloadStarted()
		require.True(t, ok)
		require.Equal(t, t0, started)
		require.NoError(t, p.send(testBlock(2)))
		require.NoError(t, p.send(testBlock(1)))
		requireSettled(t, func() bool { return sink.count() == 1 }, "the batch")
		require.Equal(t, [][]uint32{{1, 2}}, sink.epochs())
	})
}

func TestBlockHashNextVersionFallback(t *testing.T) {
	act := protocol.VersionActivations{V1_8: 5, V2_0: 8}
	tests := []struct {
		name      string
		epoch     uint32
		announced protocol.ProtocolVersion // the version whose hash the peer announced
		match     bool
	}{
		{"v1.7 epoch, v1.7 hash", 4, protocol.V1_7, true},
		{"v1.7 epoch, next version's hash", 4, protocol.V1_8, true},
		{"v1.8 epoch, v1.8 hash", 6, protocol.V1_8, true},
		{"v1.8 epoch, previous version's hash", 6, protocol.V1_7, false},
		{"v2.0 epoch, v2.0 hash", 9, protocol.V2_0, true},
		{"v2.0 epoch, v1.7 hash", 9, protocol.V1_7, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				e.cfg.Activations = act
				_, p, sink := downloadSession(t, e)
				announce(t, p, entryAt(t, tc.epoch, tc.announced))
				require.NoError(t, p.send(testBlock(tc.epoch)))
				barrier(t, p, e)
				if tc.match {
					require.Equal(t, [][]uint32{{tc.epoch}}, sink.epochs())
				} else {
					require.Zero(t, sink.count())
				}
				require.Len(t, e.inv.receivedKinds(), 1, "the block must reach the inventory either way")
			})
		})
	}
}

func TestBlockDownloadAbortedWhenSessionEnds(t *testing.T) {
	tests := []struct {
		name      string
		announce  bool
		deliver   []uint32
		wantBatch [][]uint32 // nil entries are aborts (empty batches)
	}{
		{"in progress: aborted", true, []uint32{1}, [][]uint32{{}}},
		{"complete: no abort", true, []uint32{1, 2}, [][]uint32{{1, 2}}},
		{"no download: nothing", false, nil, [][]uint32{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				s, p, sink := downloadSession(t, e)
				if tc.announce {
					announce(t, p, entryAt(t, 1, protocol.V1_7), entryAt(t, 2, protocol.V1_7))
				}
				for _, ep := range tc.deliver {
					require.NoError(t, p.send(testBlock(ep)))
				}
				barrier(t, p, e)
				s.Close(nil)
				waitDone(t, s)
				require.Equal(t, tc.wantBatch, sink.epochs())
				_, ok := s.DownloadStarted()
				require.False(t, ok)
				if len(tc.wantBatch) > 0 {
					sink.mu.Lock()
					require.Same(t, s, sink.from[len(sink.from)-1])
					sink.mu.Unlock()
				}
			})
		})
	}
}

func TestBlockSinkFromChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		sink := &fakeSink{}
		e.cfg.Chain = sinkChain{e.chain, sink}
		s, p := pipeSession(t, Inbound, e)
		consolidateInbound(t, p, e.clock, s)
		announce(t, p, entryAt(t, 3, protocol.V1_7))
		require.NoError(t, p.send(testBlock(3)))
		requireSettled(t, func() bool { return sink.count() == 1 }, "the batch")
		require.Equal(t, [][]uint32{{3}}, sink.epochs())
	})
}

type sinkChain struct {
	*fakeChain
	*fakeSink
}

// votingInventory is a fakeInventory that holds superblock votes.
type votingInventory struct {
	*fakeInventory
	votes []*pb.SuperBlockVote
}

func (v votingInventory) SuperBlockVotes() []*pb.SuperBlockVote { return v.votes }

func TestSuperBlockVotesAfterBeaconBlock(t *testing.T) {
	const beacon = 7
	votes := []*pb.SuperBlockVote{testVote(3), testVote(4)}
	tx := protocol.TxEntry(protocol.Hash{0xaa})
	tests := []struct {
		name      string
		noSource  bool
		request   []uint32 // block epochs; 0 is the transaction, 100 a block not held
		wantItems int
		wantVotes bool
	}{
		{"beacon block", false, []uint32{beacon}, 1, true},
		{"older block only", false, []uint32{6}, 1, false},
		{"beacon block last", false, []uint32{5, 6, beacon}, 3, true},
		{"beacon block then a missing item", false, []uint32{beacon, 100, 6}, 1, true},
		{"missing item before the beacon block", false, []uint32{6, 100, beacon}, 1, false},
		{"transaction only", false, []uint32{0}, 1, false},
		{"inventory without votes", true, []uint32{beacon}, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				e.chain.beacon = protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(beacon, protocol.Hash{2}), nil)
				for _, ep := range []uint32{5, 6, beacon} {
					e.inv.hold(entryAt(t, ep, protocol.V1_7), testBlock(ep).GetKind())
				}
				e.inv.hold(tx, testTx(1).GetKind())
				if !tc.noSource {
					e.cfg.Inventory = votingInventory{e.inv, votes}
				}
				s, p := pipeSession(t, Inbound, e)
				consolidateInbound(t, p, e.clock, s)
				// The beacon is the one of the session's creation: a later tip changes nothing.
				e.chain.mu.Lock()
				e.chain.beacon = protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(beacon+1, protocol.Hash{2}), nil)
				e.chain.mu.Unlock()

				var req []*pb.InventoryEntry
				for _, ep := range tc.request {
					if ep == 0 {
						req = append(req, tx)
					} else {
						req = append(req, entryAt(t, ep, protocol.V1_7))
					}
				}
				m, err := protocol.NewInventoryRequest(protocol.Magic, req)
				require.NoError(t, err)
				require.NoError(t, p.send(m))
				for i := range tc.wantItems {
					if tc.request[i] == 0 {
						p.expect(protocol.KindTransaction)
					} else {
						require.Equal(t, tc.request[i], blockEpoch(p.expect(protocol.KindBlock).GetKind().GetBlock()))
					}
				}
				if tc.wantVotes {
					for _, v := range votes {
						got := p.expect(protocol.KindSuperBlockVote).GetKind().GetSuperBlockVote()
						require.Equal(t, v.GetSuperblockIndex(), got.GetSuperblockIndex())
					}
				}
				p.expectNothing()
			})
		})
	}
}

// A download whose blocks outgrow MaxDownloadBytes is abandoned (reported as aborted),
// the session goes on, and every block still reached the inventory.
func TestBlockDownloadSizeLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		one := proto.Size(blockOf(1))
		e.cfg.MaxDownloadBytes = 2*one + one/2 // two test blocks fit, three do not
		s, p, sink := downloadSession(t, e)
		announce(t, p, entryAt(t, 1, protocol.V1_7), entryAt(t, 2, protocol.V1_7), entryAt(t, 3, protocol.V1_7), entryAt(t, 4, protocol.V1_7))
		for _, ep := range []uint32{1, 2} {
			require.NoError(t, p.send(testBlock(ep)))
		}
		barrier(t, p, e)
		_, ok := s.DownloadStarted()
		require.True(t, ok, "within the limit")
		require.NoError(t, p.send(testBlock(3)))
		requireSettled(t, func() bool { return sink.count() == 1 }, "the abandoned download")
		require.Equal(t, [][]uint32{{}}, sink.epochs())
		_, ok = s.DownloadStarted()
		require.False(t, ok)
		require.Len(t, e.inv.receivedKinds(), 3)
		require.Equal(t, Consolidated, s.Status(), "a large download is not misbehaviour")

		// A later download within the limit completes.
		announce(t, p, entryAt(t, 5, protocol.V1_7))
		require.NoError(t, p.send(testBlock(5)))
		requireSettled(t, func() bool { return sink.count() == 2 }, "the next download")
		require.Equal(t, [][]uint32{{}, {5}}, sink.epochs())
	})
}
