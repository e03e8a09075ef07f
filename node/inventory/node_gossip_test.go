package inventory_test

import (
	"context"
	"encoding/hex"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node"
	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// TestTwelveNodesGossipTransaction: 12 nodes with outbound limit 3 (each dials its ring
// successor and two random others, fixed seed); a transaction submitted at one node is
// stored by all within 5 s; the submitter pushes it once on every session and announces
// it on none; on every session, any other node receives the item at most once and only
// from a neighbour that announced it or from the submitter, never announces it back to
// that neighbour (save the submitter, whose push may arrive after the node relayed a
// requested copy), and announces it at most once; it receives one copy in all (plus, for a
// neighbour of the submitter, the push); submitting it again announces nothing; and a node restarted
// as a real node (node.New on the same data directory) serves it by hash over JSON-RPC
// and to a peer that requests it.
func TestTwelveNodesGossipTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 13 libp2p hosts")
	}
	const n = 12
	dirs := make([]string, n)
	nodes := make([]*inventory.GossipNode, n)
	for i := range nodes {
		dirs[i] = t.TempDir()
		nodes[i] = inventory.StartGossipNode(t, filepath.Join(dirs[i], datadir.DBFile), 3)
	}
	addr := func(nd *inventory.GossipNode) peer.AddrInfo {
		return peer.AddrInfo{ID: nd.Host().ID(), Addrs: nd.Host().Addrs()}
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for i, nd := range nodes {
		targets := map[int]bool{(i + 1) % n: true}
		for len(targets) < 3 {
			if j := rng.IntN(n); j != i {
				targets[j] = true
			}
		}
		for j := range targets {
			nd.Dial(t, addr(nodes[j]))
		}
	}
	inventory.WaitFor(t, func() bool {
		for _, nd := range nodes {
			if nd.Manager().NumSessions().OutboundConsolidated != 3 {
				return false
			}
		}
		return true
	}, "every node has 3 consolidated outbound sessions")

	raw := inventorytest.TxBytes(2026)
	start := time.Now()
	it, isNew, err := nodes[0].Engine().Submit(protocol.KindTransaction, raw)
	require.NoError(t, err)
	require.True(t, isNew)
	require.Eventually(t, func() bool {
		for _, nd := range nodes {
			if ok, _ := nd.Store().Has(it.Hash); !ok {
				return false
			}
		}
		return true
	}, 5*time.Second, 2*time.Millisecond, "stored by all %d nodes within 5 s", n)
	t.Logf("stored by all %d nodes after %v", n, time.Since(start))
	waitSettled(t, nodes) // late duplicates, if any, have arrived now

	// Session counters: the test sends nothing else, so every Transaction message is
	// this item and every announcement is of it.
	announced := make([]uint64, n)
	origin := nodes[0].Host().ID()
	for i, nd := range nodes {
		var got, byOrigin, annToOrigin uint64
		for _, p := range nd.Manager().ConsolidatedPeers() {
			s, ok := nd.Manager().Lookup(p.Peer.ID, p.Type)
			require.True(t, ok)
			st := s.Stats()
			in := st.MessagesIn[protocol.KindTransaction]
			annIn := st.MessagesIn[protocol.KindInventoryAnnouncement]
			annOut := st.MessagesOut[protocol.KindInventoryAnnouncement]
			if i == 0 {
				require.Equal(t, uint64(1), st.MessagesOut[protocol.KindTransaction], "the submitter pushes the item once to %s", p.Peer.ID)
				require.Zero(t, annOut, "the submitter announced the item to %s", p.Peer.ID)
			}
			require.LessOrEqual(t, in, uint64(1), "node %d got the item more than once from %s", i, p.Peer.ID)
			if in == 1 {
				if p.Peer.ID == origin {
					byOrigin++
					annToOrigin = annOut
				} else {
					require.Equal(t, uint64(1), annIn, "node %d got the item from %s, which did not announce it", i, p.Peer.ID)
					require.Zero(t, annOut, "node %d announced the item back to %s, which sent it", i, p.Peer.ID)
				}
			}
			require.LessOrEqual(t, annOut, uint64(1), "node %d announced the item twice to %s", i, p.Peer.ID)
			got += in
		}
		if i == 0 {
			require.Zero(t, got, "the submitter never receives its item back")
		} else {
			require.LessOrEqual(t, got-byOrigin, uint64(1), "node %d requested the item twice (one request at a time)", i)
			if byOrigin == 0 {
				require.Equal(t, uint64(1), got, "node %d receives the item once in all", i)
			}
			// The submitter's push is the only copy, or it came after a requested one,
			// which the node may have announced to the submitter (it does not announce
			// what it pushes) before the push arrived.
			if byOrigin == 1 && got == 1 {
				require.Zero(t, annToOrigin, "node %d announced the item back to the submitter, which sent it", i)
			}
		}
		s := nd.Engine().Stats()
		require.Equal(t, uint64(1), s.Stored[inventory.LabelTransaction], "node %d stores it once", i)
		announced[i] = s.AnnouncedOut
	}

	// Submitting the item again, anywhere, is acknowledged and announces nothing.
	for _, i := range []int{0, 5} {
		_, isNew, err := nodes[i].Engine().Submit(protocol.KindTransaction, raw)
		require.NoError(t, err)
		require.False(t, isNew)
	}
	waitSettled(t, nodes)
	for i, nd := range nodes {
		require.Equal(t, announced[i], nd.Engine().Stats().AnnouncedOut, "node %d announced the item again", i)
	}

	// Restart node 7 as a real node on its data directory: the item survives and is
	// served by hash over JSON-RPC.
	nodes[7].Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	re, err := node.New(ctx,
		node.WithDataDir(dirs[7]),
		node.WithListenAddrs(ma.StringCast("/ip4/127.0.0.1/tcp/0")),
		node.WithRPCAddr("127.0.0.1:0"),
		node.WithLibp2pMetrics(false),
		node.WithPeriods(0, 0, 0),
		// The test nodes have no chain: their beacon is all zeros, and a peer with another
		// block hash at the same checkpoint is incompatible.
		node.WithBeacon(protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(0, protocol.Hash{}), protocol.NewCheckpointBeacon(0, protocol.Hash{}))),
	)
	require.NoError(t, err)
	t.Cleanup(func() { _ = re.Close() })
	got, err := inventory.GetItem(ctx, rpc.NewClient(re.RPCAddr().String(), 0), it.Hash)
	require.NoError(t, err)
	require.Equal(t, inventory.LabelTransaction, got.Kind)
	require.Equal(t, hex.EncodeToString(raw), got.Hex)

	// And a fresh peer that dials it gets the item by request.
	fresh := inventory.StartGossipNode(t, filepath.Join(t.TempDir(), "fresh.db"), 3)
	fresh.Dial(t, peer.AddrInfo{ID: re.ID(), Addrs: re.Addrs()})
	s := fresh.Session(t, re.ID(), session.Outbound)
	require.NoError(t, s.RequestBlock(protocol.TxEntry(it.Hash)))
	inventory.WaitFor(t, func() bool { ok, _ := fresh.Store().Has(it.Hash); return ok },
		"the restarted node did not serve %s", it.Hash)
}

// waitSettled waits until the gossip among nodes has settled: every engine's flusher has
// handed its sessions what it queued, every message a session wrote has been read by the
// peer's session, and no session's counters changed since the previous look (so a
// message read but still being handled, or queued but not yet written, when the counters
// balance is seen at the next look).
func waitSettled(t *testing.T, nodes []*inventory.GossipNode) {
	t.Helper()
	byID := make(map[peer.ID]*inventory.GossipNode, len(nodes))
	for _, nd := range nodes {
		byID[nd.Host().ID()] = nd
	}
	type link struct {
		from, to peer.ID
		typ      session.Type
	}
	var last map[link]session.Stats
	inventory.WaitFor(t, func() bool {
		for _, nd := range nodes {
			nd.Engine().WaitGossipSent()
		}
		now := make(map[link]session.Stats)
		balanced := true
		for _, nd := range nodes {
			for _, p := range nd.Manager().ConsolidatedPeers() {
				s, ok := nd.Manager().Lookup(p.Peer.ID, p.Type)
				if !ok {
					return false
				}
				back := session.Inbound
				if p.Type == session.Inbound {
					back = session.Outbound
				}
				far, ok := byID[p.Peer.ID]
				if !ok {
					continue // a peer outside the set
				}
				fs, ok := far.Manager().Lookup(nd.Host().ID(), back)
				if !ok {
					return false
				}
				st := s.Stats()
				if st.MessagesOut != fs.Stats().MessagesIn {
					balanced = false
				}
				now[link{nd.Host().ID(), p.Peer.ID, p.Type}] = st
			}
		}
		settled := balanced && maps.Equal(now, last)
		last = now
		return settled
	}, "the gossip did not settle")
}
