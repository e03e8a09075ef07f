package inventory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

func pid(i int) peer.ID { return peer.ID(fmt.Sprintf("peer-%02d", i)) }

func storedBy(e *Engine, h protocol.Hash) bool {
	ok, _ := e.store.Has(h)
	return ok
}

// TestGossipReachesEveryNodeOnce submits a transaction in a small graph with cycles and
// checks that every node stores it; that the submitter pushes it once to each neighbour
// and announces it to none; that any other node receives it at most once per neighbour,
// only from a neighbour that announced it or from the submitter, and exactly once in all
// unless it is a neighbour of the submitter (which may also have requested it from a
// neighbour that announced it before the push arrived); that nobody gets it back; and
// that a node announces it at most once per neighbour.
func TestGossipReachesEveryNodeOnce(t *testing.T) {
	synctest.Test(t, testGossipReachesEveryNodeOnce)
}

func testGossipReachesEveryNodeOnce(t *testing.T) {
	// 0-1, 0-2, 1-2, 1-3, 2-3, 3-4, 4-5, 5-0: cycles of 3, 4 and 6.
	edges := [][2]int{{0, 1}, {0, 2}, {1, 2}, {1, 3}, {2, 3}, {3, 4}, {4, 5}, {5, 0}}
	const n = 6
	net := newFakeNet(t)
	engines := make([]*Engine, n)
	for i := range engines {
		engines[i] = newTestEngine(t, Config{})
	}
	degree := make([]int, n)
	var conns [n][]*fakeConn
	for _, ed := range edges {
		ab, ba := net.link(engines[ed[0]], pid(ed[0]), engines[ed[1]], pid(ed[1]))
		conns[ed[0]] = append(conns[ed[0]], ab)
		conns[ed[1]] = append(conns[ed[1]], ba)
		degree[ed[0]]++
		degree[ed[1]]++
	}

	tx := inventorytest.Tx(42)
	it, isNew, err := engines[0].Submit(protocol.KindTransaction, rawOf(t, tx))
	require.NoError(t, err)
	require.True(t, isNew)
	// Every message, stray ones included, has arrived and been handled.
	settle(engines...)

	for i, e := range engines {
		require.True(t, storedBy(e, it.Hash), "node %d", i)
		s := e.Stats()
		got, byOrigin := 0, 0
		for _, c := range conns[i] {
			n := c.received(it.Hash)
			require.LessOrEqual(t, n, 1, "node %d got the item twice from %s", i, c.ID())
			got += n
			if c.ID() == pid(0) {
				byOrigin += n
			}
		}
		if i == 0 {
			require.Zero(t, got, "the submitter never gets its item back")
			require.Equal(t, uint64(degree[0]), s.PushedOut, "the submitter pushes to every neighbour")
			require.Zero(t, s.AnnouncedOut, "the submitter announces to none")
			require.Zero(t, s.Duplicates)
		} else {
			// One request at a time, and none timed out here: at most one requested copy.
			require.LessOrEqual(t, got-byOrigin, 1, "node %d requested the item twice", i)
			if byOrigin == 0 {
				require.Equal(t, 1, got, "node %d receives the item exactly once", i)
			}
			require.LessOrEqual(t, s.Received, s.AnnouncedIn+uint64(byOrigin), "node %d: only from announcing neighbours and the submitter", i)
			require.Equal(t, uint64(got-1), s.Duplicates, "node %d", i)
		}
		require.LessOrEqual(t, s.AnnouncedOut, uint64(degree[i]), "node %d announces at most once per neighbour", i)
		require.Equal(t, uint64(1), s.Stored[LabelTransaction], "node %d: %+v", i, s)
	}
	// Resubmitting a known item is accepted but not gossiped again.
	before := engines[0].Stats()
	_, isNew, err = engines[0].Submit(protocol.KindTransaction, rawOf(t, tx))
	require.NoError(t, err)
	require.False(t, isNew)
	settle(engines...)
	for i, e := range engines {
		require.Equal(t, uint64(1), e.Stats().Stored[LabelTransaction], "node %d", i)
	}
	after := engines[0].Stats()
	require.Equal(t, before.AnnouncedOut, after.AnnouncedOut)
	require.Equal(t, before.PushedOut, after.PushedOut)
}

// TestPushOrAnnounce checks which items go out in full and which as announcements: a
// submitted item up to PushMaxSize is pushed to every session, a larger one is
// announced, an item relayed from a peer is announced to the others, and when more
// pushes are queued for one session than maxPushesPerFlush they are all announced.
func TestPushOrAnnounce(t *testing.T) {
	small := inventorytest.TxBytes(1)
	cases := []struct {
		name        string
		pushMaxSize int
		relay       bool // received from peer 1 rather than submitted
		wantPush    bool
	}{
		{name: "submitted small item is pushed", pushMaxSize: 0, wantPush: true},
		{name: "submitted item at the limit is pushed", pushMaxSize: len(small), wantPush: true},
		{name: "submitted item over the limit is announced", pushMaxSize: len(small) - 1},
		{name: "pushing disabled", pushMaxSize: -1},
		{name: "relayed item is announced", relay: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newTestEngine(t, Config{PushMaxSize: tc.pushMaxSize})
				net := newFakeNet(t)
				var peers []*fakeConn
				for i := 1; i <= 3; i++ {
					c, _ := net.link(e, pid(0), nil, pid(i))
					peers = append(peers, c)
				}
				if tc.relay {
					e.received(peers[0], txMsg(inventorytest.Tx(1)))
				} else {
					_, isNew, err := e.Submit(protocol.KindTransaction, small)
					require.NoError(t, err)
					require.True(t, isNew)
				}
				synctest.Wait()
				targets := peers
				if tc.relay {
					targets = peers[1:]
					require.Empty(t, peers[0].sentOf(protocol.KindInventoryAnnouncement), "announced back to its sender")
					require.Empty(t, peers[0].sentOf(protocol.KindTransaction), "pushed back to its sender")
				}
				for _, c := range targets {
					pushed, announced := len(c.sentOf(protocol.KindTransaction)), len(c.sentOf(protocol.KindInventoryAnnouncement))
					if tc.wantPush {
						require.Equal(t, [2]int{1, 0}, [2]int{pushed, announced}, "%s: pushes, announcements", c.ID())
					} else {
						require.Equal(t, [2]int{0, 1}, [2]int{pushed, announced}, "%s: pushes, announcements", c.ID())
					}
				}
				s := e.Stats()
				if tc.wantPush {
					require.Equal(t, uint64(len(targets)), s.PushedOut)
					require.Zero(t, s.AnnouncedOut)
				} else {
					require.Zero(t, s.PushedOut)
					require.Equal(t, uint64(len(targets)), s.AnnouncedOut)
				}
			})
		})
	}

	t.Run("submitted item that a peer announced is announced", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newTestEngine(t, Config{})
			net := newFakeNet(t)
			var peers []*fakeConn
			for i := 1; i <= 3; i++ {
				c, _ := net.link(e, pid(0), nil, pid(i))
				peers = append(peers, c)
			}
			it, _, err := e.cfg.Decoder.Decode(protocol.KindTransaction, small)
			require.NoError(t, err)
			require.Len(t, e.announced(peers[0], it.Entry()), 1)
			_, isNew, err := e.Submit(protocol.KindTransaction, small)
			require.NoError(t, err)
			require.True(t, isNew)
			synctest.Wait()
			for _, c := range peers[1:] {
				require.Len(t, c.sentOf(protocol.KindInventoryAnnouncement), 1)
				require.Empty(t, c.sentOf(protocol.KindTransaction))
			}
			require.Empty(t, peers[0].sentOf(protocol.KindInventoryAnnouncement), "announced to a peer that announced it")
			require.Zero(t, e.Stats().PushedOut)
		})
	})

	t.Run("a burst is announced", func(t *testing.T) {
		for _, n := range []int{maxPushesPerFlush, maxPushesPerFlush + 1} {
			e := newTestEngine(t, Config{})
			net := newFakeNet(t)
			c, _ := net.link(e, pid(0), nil, pid(1))
			queued := make([]outbound, n)
			for i := range queued {
				tx := inventorytest.Tx(uint64(100 + i))
				it, cmd, err := e.cfg.Decoder.Decode(protocol.KindTransaction, rawOf(t, tx))
				require.NoError(t, err)
				queued[i] = outbound{entry: it.Entry(), push: &pb.Message{Magic: uint32(protocol.Magic), Kind: cmd}}
			}
			e.sendQueued(c, queued)
			anns := c.sentOf(protocol.KindInventoryAnnouncement)
			if n <= maxPushesPerFlush {
				require.Len(t, c.sentOf(protocol.KindTransaction), n)
				require.Empty(t, anns)
			} else {
				require.Empty(t, c.sentOf(protocol.KindTransaction))
				require.Len(t, anns, 1, "one announcement for the whole burst")
				require.Len(t, anns[0].GetKind().GetInventoryAnnouncement().GetInventory(), n)
			}
		}
	})
}

func TestGossipAllKinds(t *testing.T) {
	synctest.Test(t, testGossipAllKinds)
}

func testGossipAllKinds(t *testing.T) {
	net := newFakeNet(t)
	a, b, c := newTestEngine(t, Config{}), newTestEngine(t, Config{}), newTestEngine(t, Config{})
	net.link(a, pid(1), b, pid(2))
	bc, _ := net.link(b, pid(2), c, pid(3))

	items := []struct {
		kind protocol.Kind
		raw  []byte
	}{
		{protocol.KindBlock, rawOf(t, testBlock(t, 3, 1))},
		{protocol.KindSuperBlock, rawOf(t, testSuperBlock(4))},
		{protocol.KindSuperBlockVote, rawOf(t, testVote(4))},
		{protocol.KindTransaction, inventorytest.TxBytes(1)},
	}
	for _, x := range items {
		it, _, err := a.Submit(x.kind, x.raw)
		require.NoError(t, err)
		settle(c)
		require.True(t, storedBy(c, it.Hash), kindLabel(x.kind))
	}
	sb, err := c.store.SuperBlock(4)
	require.NoError(t, err)
	require.Equal(t, protocol.KindSuperBlock, sb.Kind)
	// The vote was pushed as a full message, not announced.
	require.Len(t, bc.sentOf(protocol.KindSuperBlockVote), 1)
	require.Equal(t, uint64(1), b.Stats().PushedOut)
}

func TestRequestsNextAnnouncerThenIcesNonDeliverer(t *testing.T) {
	synctest.Test(t, testRequestsNextAnnouncerThenIcesNonDeliverer)
}

func testRequestsNextAnnouncerThenIcesNonDeliverer(t *testing.T) {
	clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
	var iced []peer.ID
	var mu sync.Mutex
	e := newTestEngine(t, Config{Clock: clock, RequestTimeout: time.Second, BlocksTimeout: 10 * time.Second, Ice: func(p session.Peer) {
		mu.Lock()
		iced = append(iced, p.ID)
		mu.Unlock()
	}})
	net := newFakeNet(t)
	// Scripted peers: their side has no engine, the test plays it.
	liar, _ := net.link(e, pid(1), nil, pid(9))
	liar.id = pid(9)
	honest, _ := net.link(e, pid(1), nil, pid(8))
	honest.id = pid(8)

	tx := inventorytest.Tx(7)
	it, _, err := Decoder{}.Decode(protocol.KindTransaction, rawOf(t, tx))
	require.NoError(t, err)
	entries := []*pb.InventoryEntry{protocol.TxEntry(it.Hash)}

	require.Len(t, e.announced(liar, entries...), 1, "first announcer is asked")
	require.Empty(t, e.announced(honest, entries...), "second announcer waits its turn")
	require.Empty(t, e.announced(liar, entries...), "a repeated announcement asks nothing")

	// The sweep timer is the engine's only timer on the fake clock.
	advance := func(d time.Duration) { advanceClock(t, clock, 1, d) }
	advance(1500 * time.Millisecond)
	require.Len(t, honest.sentOf(protocol.KindInventoryRequest), 1)
	e.received(honest, txMsg(tx))
	e.flush()
	require.True(t, storedBy(e, it.Hash))
	require.Zero(t, e.Stats().Unsolicited)

	// The liar still owes the item, asked for at the start; the sweeps at 2.5 s to 9.5 s
	// leave it be, the one at 10.5 s, past the blocks timeout, ices and drops it.
	for range 8 {
		advance(time.Second)
		mu.Lock()
		require.Empty(t, iced, "iced before the blocks timeout")
		mu.Unlock()
	}
	advance(time.Second)
	mu.Lock()
	require.Equal(t, []peer.ID{pid(9)}, iced)
	mu.Unlock()
	liar.mu.Lock()
	require.True(t, errors.Is(liar.closeErr, ErrNotDelivered))
	liar.mu.Unlock()
	honest.mu.Lock()
	require.False(t, honest.closed)
	honest.mu.Unlock()
	require.Equal(t, uint64(1), e.Stats().Iced)
}

func TestUnrequestedItemsCannotExceedPool(t *testing.T) {
	db, _ := tempDB(t)
	store, err := OpenStore(db, StoreConfig{MaxTransactions: 10})
	require.NoError(t, err)
	e := newTestEngine(t, Config{Store: store})
	net := newFakeNet(t)
	pushy, _ := net.link(e, pid(1), nil, pid(9))
	pushy.id = pid(9)
	for i := range 50 {
		e.received(pushy, txMsg(inventorytest.Tx(uint64(i))))
	}
	e.flush()
	require.Equal(t, 10, store.Count(protocol.KindTransaction))
	s := e.Stats()
	require.Equal(t, uint64(50), s.Unsolicited)
	// The newest ten are the ones kept.
	for i := range 50 {
		it, _, err := Decoder{}.Decode(protocol.KindTransaction, inventorytest.TxBytes(uint64(i)))
		require.NoError(t, err)
		require.Equal(t, i >= 40, storedBy(e, it.Hash), "tx %d", i)
	}
	// Sending them all again is suppressed (remembered beyond the pool).
	for i := range 50 {
		e.received(pushy, txMsg(inventorytest.Tx(uint64(i))))
	}
	require.Equal(t, uint64(50), e.Stats().Duplicates)
}

func TestItemServing(t *testing.T) {
	e := newTestEngine(t, Config{})
	tx, blk, sb := inventorytest.Tx(1), testBlock(t, 9, 0), testSuperBlock(3)
	txIt, _, err := e.Submit(protocol.KindTransaction, rawOf(t, tx))
	require.NoError(t, err)
	blkIt, _, err := e.Submit(protocol.KindBlock, rawOf(t, blk))
	require.NoError(t, err)
	_, _, err = e.Submit(protocol.KindSuperBlock, rawOf(t, sb))
	require.NoError(t, err)

	// A fresh engine over the same store serves from disk, not from its cache.
	e2 := newTestEngine(t, Config{Store: e.store})
	for _, eng := range []*Engine{e, e2} {
		tests := []struct {
			name  string
			entry *pb.InventoryEntry
			want  protocol.Kind
		}{
			{"tx", protocol.TxEntry(txIt.Hash), protocol.KindTransaction},
			{"block", protocol.BlockEntry(blkIt.Hash), protocol.KindBlock},
			{"superblock by index", protocol.SuperBlockEntry(3), protocol.KindSuperBlock},
			{"unknown tx", protocol.TxEntry(protocol.Hash{1}), protocol.KindNone},
			{"block hash as tx entry", protocol.TxEntry(blkIt.Hash), protocol.KindNone},
			{"unknown superblock", protocol.SuperBlockEntry(4), protocol.KindNone},
			{"no kind", &pb.InventoryEntry{}, protocol.KindNone},
		}
		for _, tc := range tests {
			cmd, ok := eng.Item(tc.entry)
			require.Equal(t, tc.want != protocol.KindNone, ok, tc.name)
			if ok {
				require.Equal(t, tc.want, protocol.KindOf(&pb.Message{Kind: cmd}), tc.name)
			}
		}
	}
}

func TestInboundBeaconAnnouncesMissingBlocks(t *testing.T) {
	e := newTestEngine(t, Config{})
	var hashes []protocol.Hash
	for epoch := uint32(1); epoch <= 5; epoch++ {
		it, _, err := e.Submit(protocol.KindBlock, rawOf(t, testBlock(t, epoch, 0)))
		require.NoError(t, err)
		hashes = append(hashes, it.Hash)
	}
	net := newFakeNet(t)
	behind, _ := net.link(e, pid(1), nil, pid(9))
	behind.typ = session.Inbound

	beacon := func(epoch uint32) *pb.LastBeacon {
		return protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(epoch, protocol.Hash{}), nil)
	}
	for _, tc := range []struct {
		theirs uint32
		want   []protocol.Hash
	}{
		{2, hashes[2:]},
		{0, hashes},
		{5, nil},
		{7, nil},
	} {
		before := len(behind.sentOf(protocol.KindInventoryAnnouncement))
		e.inboundBeacon(behind, beacon(tc.theirs))
		anns := behind.sentOf(protocol.KindInventoryAnnouncement)
		if tc.want == nil {
			require.Len(t, anns, before, "peer at %d", tc.theirs)
			continue
		}
		require.Len(t, anns, before+1)
		var got []protocol.Hash
		for _, en := range anns[len(anns)-1].GetKind().GetInventoryAnnouncement().GetInventory() {
			h, err := protocol.HashFromBytes(en.GetBlock().GetSHA256())
			require.NoError(t, err)
			got = append(got, h)
		}
		require.Equal(t, tc.want, got, "peer at %d", tc.theirs)
	}
	tip := e.BlockBeacon()
	require.Equal(t, uint32(5), tip.GetCheckpoint())
	// The tip before an epoch: blocks of that epoch and later are left out.
	for _, tc := range []struct{ before, want uint32 }{{6, 5}, {100, 5}, {5, 4}, {2, 1}, {1, 0}, {0, 0}} {
		got := e.BlockBeaconBefore(tc.before)
		require.Equal(t, tc.want, got.GetCheckpoint(), "before %d", tc.before)
		if tc.want == 0 {
			require.Equal(t, make([]byte, protocol.HashSize), got.GetHashPrevBlock().GetSHA256(), "no block: a zero checkpoint")
		} else {
			require.Equal(t, hashes[tc.want-1][:], got.GetHashPrevBlock().GetSHA256())
		}
	}
}

// TestSendBeaconsOnlyToInbound: as witnet-rust, the epoch's beacon goes to the
// consolidated inbound sessions of both transports, never to outbound ones.
func TestSendBeaconsOnlyToInbound(t *testing.T) {
	e := newTestEngine(t, Config{})
	net := newFakeNet(t)
	out, _ := net.link(e, pid(1), nil, pid(8))
	in, _ := net.link(e, pid(1), nil, pid(9))
	in.typ = session.Inbound
	tcpIn := tcpPeerLink(net, e, "192.0.2.1:21337")
	tcpIn.typ = session.Inbound
	n := e.SendBeacons(protocol.NewLastBeaconPB(nil, nil))
	require.Equal(t, 2, n)
	require.Empty(t, out.sentOf(protocol.KindLastBeacon))
	require.Len(t, in.sentOf(protocol.KindLastBeacon), 1)
	require.Len(t, tcpIn.sentOf(protocol.KindLastBeacon), 1)
}

func TestBlockSyncOverBeacon(t *testing.T) {
	synctest.Test(t, testBlockSyncOverBeacon)
}

func testBlockSyncOverBeacon(t *testing.T) {
	// b is behind: the LastBeacon it sends on its outbound session (its sync request)
	// makes a announce the blocks b lacks, which b then requests and stores.
	net := newFakeNet(t)
	a, b := newTestEngine(t, Config{}), newTestEngine(t, Config{})
	var want []protocol.Hash
	for epoch := uint32(1); epoch <= 4; epoch++ {
		it, _, err := a.Submit(protocol.KindBlock, rawOf(t, testBlock(t, epoch, 7)))
		require.NoError(t, err)
		want = append(want, it.Hash)
	}
	ba, _ := net.link(b, pid(2), a, pid(1)) // b dials a: b's session is outbound, a's inbound
	require.NoError(t, ba.SendLastBeacon(protocol.NewLastBeaconPB(b.BlockBeacon(), nil)))
	settle(a, b)
	require.Equal(t, 4, b.store.Count(protocol.KindBlock))
	refs, err := b.store.Blocks(0, 10, 0)
	require.NoError(t, err)
	for i, r := range refs {
		require.Equal(t, want[i], r.Hash)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newTestEngine(t, Config{Registerer: reg})
	_, _, err := e.Submit(protocol.KindTransaction, inventorytest.TxBytes(1))
	require.NoError(t, err)
	mfs, err := reg.Gather()
	require.NoError(t, err)
	values := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "/" + l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				values[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				values[name] = m.GetCounter().GetValue()
			}
		}
	}
	require.Equal(t, 1.0, values["witnet_inventory_items/transaction"])
	require.Equal(t, 0.0, values["witnet_inventory_items/block"])
	require.Equal(t, 1.0, values["witnet_inventory_items_submitted_total"])
	require.Equal(t, 1.0, values["witnet_inventory_items_stored_total/transaction"])
	require.Contains(t, values, "witnet_inventory_entries_total/in/announcement")
	require.Contains(t, values, "witnet_inventory_duplicates_suppressed_total/item")
	require.Contains(t, values, "witnet_inventory_items_pushed_total")
	// A second engine on the same registry is refused, not silently merged.
	_, err = New(Config{Store: e.store, Registerer: reg})
	require.Error(t, err)
}

// TestAcceptedItemVisibleBeforeCommit: a received item is served, returned by Get and
// announced as soon as it is accepted, while its commit waits for the batching window;
// Submit does not wait for the window, and returns only once its item is on disk.
func TestAcceptedItemVisibleBeforeCommit(t *testing.T) {
	synctest.Test(t, testAcceptedItemVisibleBeforeCommit)
}

func testAcceptedItemVisibleBeforeCommit(t *testing.T) {
	var mu sync.Mutex
	var accepted, stored []protocol.Hash
	e := newTestEngine(t, Config{
		CommitDelay: time.Hour,
		OnNew:       func(it Item) { mu.Lock(); accepted = append(accepted, it.Hash); mu.Unlock() },
		OnStored:    func(it Item) { mu.Lock(); stored = append(stored, it.Hash); mu.Unlock() },
	})
	net := newFakeNet(t)
	from, _ := net.link(e, pid(1), nil, pid(9))
	from.id = pid(9)
	other, _ := net.link(e, pid(1), nil, pid(8))
	other.id = pid(8)

	tx := inventorytest.Tx(11)
	it, _, err := Decoder{}.Decode(protocol.KindTransaction, rawOf(t, tx))
	require.NoError(t, err)
	e.received(from, txMsg(tx))

	got, err := e.Get(it.Hash)
	require.NoError(t, err)
	require.Equal(t, it.Raw, got.Raw)
	cmd, ok := e.Item(protocol.TxEntry(it.Hash))
	require.True(t, ok)
	require.NotNil(t, cmd.GetTransaction())
	synctest.Wait()
	require.Len(t, other.sentOf(protocol.KindInventoryAnnouncement), 1)
	require.Empty(t, from.sentOf(protocol.KindInventoryAnnouncement), "not announced back to its sender")
	mu.Lock()
	require.Equal(t, []protocol.Hash{it.Hash}, accepted)
	require.Empty(t, stored, "the commit waits for the batching window")
	mu.Unlock()
	require.False(t, storedBy(e, it.Hash))

	// Submit cuts the window short and returns after its commit (and the earlier one's).
	sub, isNew, err := e.Submit(protocol.KindTransaction, inventorytest.TxBytes(12))
	require.NoError(t, err)
	require.True(t, isNew)
	require.True(t, storedBy(e, sub.Hash))
	require.True(t, storedBy(e, it.Hash))
	mu.Lock()
	require.Equal(t, []protocol.Hash{it.Hash, sub.Hash}, stored)
	mu.Unlock()
	got, err = e.Get(it.Hash)
	require.NoError(t, err)
	require.Equal(t, it.Raw, got.Raw)
}

// TestRelayEncodesInWriter checks that an item received from a peer is relayed before
// its canonical encoding is computed (the writer computes it before the commit, and Get
// computes it meanwhile), and that one whose canonical encoding exceeds the size limit,
// though its received form does not, is relayed but not stored.
func TestRelayEncodesInWriter(t *testing.T) {
	synctest.Test(t, testRelayEncodesInWriter)
}

func testRelayEncodesInWriter(t *testing.T) {
	m := txMsg(inventorytest.Tx(21))
	it, _, err := Decoder{}.identify(m)
	require.NoError(t, err)
	require.Nil(t, it.Raw, "identify leaves the encoding to the writer")
	full, err := Decoder{}.FromMessage(m)
	require.NoError(t, err)
	require.Equal(t, full.Hash, it.Hash)
	vote, _, err := Decoder{}.identify(protocol.NewSuperBlockVote(protocol.Magic, testVote(3)))
	require.NoError(t, err)
	require.NotNil(t, vote.Raw, "a vote's hash is that of its encoding")

	// An empty signature (outside the hashed body): the canonical form fills in its
	// signature and public key, bytes more than the received form, which is exactly at
	// the limit.
	tx := inventorytest.Tx(22)
	tx.GetValueTransfer().Signatures = append(tx.GetValueTransfer().Signatures, &pb.KeyedSignature{})
	msg := &pb.Message{Magic: uint32(protocol.Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Transaction{Transaction: tx}}}
	dec := Decoder{MaxTransactionSize: proto.Size(tx)}
	_, _, err = dec.identify(msg)
	require.NoError(t, err)
	_, err = dec.FromMessage(msg)
	var ie *ItemError
	require.ErrorAs(t, err, &ie)
	require.Equal(t, ReasonOversized, ie.Reason)

	e := newTestEngine(t, Config{Decoder: dec, CommitDelay: -1})
	net := newFakeNet(t)
	from, _ := net.link(e, pid(1), nil, pid(9))
	other, _ := net.link(e, pid(1), nil, pid(8))
	e.received(from, msg)
	settle(e)
	require.Len(t, other.sentOf(protocol.KindInventoryAnnouncement), 1)
	require.Equal(t, uint64(1), e.Stats().Invalid)
	require.Zero(t, e.Stats().Stored[LabelTransaction])
}

// BenchmarkRelayDecode compares what a relayed transaction costs to decode on the relay
// path (identify: key only) with the full decoding (FromMessage: key and canonical
// encoding), which the engine now leaves to its writer.
func BenchmarkRelayDecode(b *testing.B) {
	m := txMsg(inventorytest.Tx(7))
	var d Decoder
	for _, bc := range []struct {
		name string
		fn   func(*pb.Message) (Item, error)
	}{{"identify", func(m *pb.Message) (Item, error) { it, _, err := d.identify(m); return it, err }}, {"FromMessage", d.FromMessage}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.fn(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAnnouncement measures answering an announcement of 200 unknown transaction
// entries (what a node does for each burst announcement): the lookups, the fetch records
// and the returned request list.
func BenchmarkAnnouncement(b *testing.B) {
	// The bounds on tracking are lifted: the peer never delivers, and the benchmark
	// measures requesting, not refusing.
	e, err := New(Config{Store: benchStore(b), CommitDelay: time.Hour,
		MaxInFlightPerPeer: 1 << 30, MaxAnnouncedPerPeer: 1 << 30, MaxTrackedBytes: 1 << 50})
	require.NoError(b, err)
	b.Cleanup(func() { _ = e.Close() })
	from := &fakeConn{id: pid(1), inbox: make(chan *pb.Message, 1), done: make(chan struct{})}
	entries := make([]*pb.InventoryEntry, 200)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range entries {
			var h protocol.Hash
			binary.BigEndian.PutUint64(h[:], uint64(n))
			n++
			entries[i] = protocol.TxEntry(h)
		}
		if got := e.announced(from, entries...); len(got) != len(entries) {
			b.Fatalf("%d of %d requested", len(got), len(entries))
		}
	}
}

func benchStore(tb testing.TB) *Store {
	tb.Helper()
	db, err := bbolt.Open(filepath.Join(tb.TempDir(), "bench.db"), 0o600, nil)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	s, err := OpenStore(db, StoreConfig{})
	require.NoError(tb, err)
	return s
}

// TestAnnouncedItemsOnDiskNotRequested: after a restart the seen set is empty, so an
// announcement is checked against the store (in one read): stored transactions and
// superblocks are not requested, the others are.
func TestAnnouncedItemsOnDiskNotRequested(t *testing.T) {
	store := benchStore(t)
	tx, _, err := Decoder{}.Decode(protocol.KindTransaction, inventorytest.TxBytes(31))
	require.NoError(t, err)
	sb, _, err := Decoder{}.Decode(protocol.KindSuperBlock, rawOf(t, testSuperBlock(7)))
	require.NoError(t, err)
	_, err = store.Put(tx, sb)
	require.NoError(t, err)
	e := newTestEngine(t, Config{Store: store})
	net := newFakeNet(t)
	from, _ := net.link(e, pid(0), nil, pid(1))

	fresh := protocol.TxEntry(protocol.Hash{0xfe})
	freshSB := protocol.SuperBlockEntry(8)
	got := e.announced(from, tx.Entry(), fresh, sb.Entry(), freshSB)
	require.Equal(t, []*pb.InventoryEntry{fresh, freshSB}, got)
	require.Equal(t, uint64(2), e.Stats().DuplicateAnnouncements)
}
