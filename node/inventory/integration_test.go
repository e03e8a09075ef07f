package inventory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// testNode is a minimal node for integration tests: a libp2p host on 127.0.0.1, a sessions
// manager and service, a bbolt file and an inventory engine wired as the node wires them.
type testNode struct {
	t      *testing.T
	path   string
	db     *bbolt.DB
	store  *Store
	engine *Engine
	host   host.Host
	mgr    *session.Manager
	svc    *session.Service

	mu   sync.Mutex
	iced []peer.ID
}

type nodeOpts struct {
	outbound  int
	store     StoreConfig
	engine    Config
	inventory session.Inventory // overrides the engine in the sessions (scripted peers)
}

func startTestNode(t *testing.T, path string, o nodeOpts) *testNode {
	t.Helper()
	n := &testNode{t: t, path: path}
	var err error
	n.db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	n.store, err = OpenStore(n.db, o.store)
	require.NoError(t, err)
	cfg := o.engine
	cfg.Store = n.store
	cfg.Ice = func(p session.Peer) {
		n.mu.Lock()
		n.iced = append(n.iced, p.ID)
		n.mu.Unlock()
	}
	n.engine, err = New(cfg)
	require.NoError(t, err)
	n.mgr = session.NewManager(session.ManagerConfig{
		OutboundLimit:  o.outbound,
		OnConsolidated: n.engine.AddSession,
		OnUnregistered: n.engine.RemoveSession,
	})
	n.host, err = libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.ConnectionGater(n.mgr.Gater()),
		libp2p.DisableRelay(),
	)
	require.NoError(t, err)
	inv := o.inventory
	if inv == nil {
		inv = n.engine
	}
	n.svc = session.NewService(n.host, n.mgr, session.Config{Inventory: inv, HandshakeTimeout: 5 * time.Second})
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) stop() {
	if n.svc == nil {
		return
	}
	_ = n.svc.Close()
	_ = n.mgr.Close()
	_ = n.host.Close()
	_ = n.engine.Close()
	_ = n.db.Close()
	n.svc = nil
}

func (n *testNode) dial(t *testing.T, to *testNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.svc.Dial(ctx, peer.AddrInfo{ID: to.host.ID(), Addrs: to.host.Addrs()}, session.Outbound)
	require.NoError(t, err)
}

func (n *testNode) icedPeers() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]peer.ID(nil), n.iced...)
}

// sessionsAnnounceTransactions probes whether the session package hands the Tx entries of
// an InventoryAnnouncement to the inventory (this repository's gossip) or drops them as
// witnet-rust does. The transaction gossip tests need the former.
func sessionsAnnounceTransactions(t *testing.T) bool {
	a, b := net.Pipe()
	probe := &probeInventory{called: make(chan struct{}, 1)}
	sa := session.New(a, session.Peer{ID: "probe-a"}, session.Outbound, session.Config{})
	sb := session.New(b, session.Peer{ID: "probe-b"}, session.Inbound, session.Config{Inventory: probe})
	sa.Start()
	sb.Start()
	defer sa.Close(nil)
	defer sb.Close(nil)
	deadline := time.After(5 * time.Second)
	for sa.Status() != session.Consolidated {
		select {
		case <-deadline:
			t.Fatal("probe sessions did not consolidate")
		case <-time.After(5 * time.Millisecond):
		}
	}
	require.NoError(t, sa.AnnounceItems([]*pb.InventoryEntry{protocol.TxEntry(protocol.Hash{1})}))
	select {
	case <-probe.called:
		return true
	case <-time.After(time.Second):
		return false
	}
}

type probeInventory struct{ called chan struct{} }

func (p *probeInventory) Missing(e []*pb.InventoryEntry) []*pb.InventoryEntry { return p.saw(e) }
func (p *probeInventory) MissingFrom(_ *session.Session, e []*pb.InventoryEntry) []*pb.InventoryEntry {
	return p.saw(e)
}
func (p *probeInventory) saw(e []*pb.InventoryEntry) []*pb.InventoryEntry {
	for _, x := range e {
		if x.GetTx() != nil {
			select {
			case p.called <- struct{}{}:
			default:
			}
		}
	}
	return nil
}
func (p *probeInventory) Item(*pb.InventoryEntry) (*pb.Message_Command, bool) { return nil, false }
func (p *probeInventory) Received(*session.Session, *pb.Message)              {}

func requireTxGossip(t *testing.T) {
	t.Helper()
	if !sessionsAnnounceTransactions(t) {
		t.Skip("the session package drops Tx entries of InventoryAnnouncement (witnet-rust behaviour); " +
			"transaction gossip needs session dispatch to pass every entry to Inventory.MissingFrom")
	}
}

// TestTwelveNodesGossipTransaction: 12 nodes with outbound limit 3 (each dials its ring
// successor and two random others, fixed seed); a transaction submitted at one node is
// stored by all within 5 s; no node receives it more than once per neighbour that
// announced it or announces it more than once per session; a restarted node still serves
// it by hash.
func TestTwelveNodesGossipTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 12 libp2p hosts")
	}
	requireTxGossip(t)
	const n = 12
	dir := t.TempDir()
	nodes := make([]*testNode, n)
	for i := range nodes {
		nodes[i] = startTestNode(t, filepath.Join(dir, fmt.Sprintf("node%d.db", i)), nodeOpts{outbound: 3})
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
			nd.dial(t, nodes[j])
		}
	}
	require.Eventually(t, func() bool {
		for _, nd := range nodes {
			if nd.mgr.NumSessions().OutboundConsolidated != 3 {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)

	tx := testTx(2026)
	start := time.Now()
	it, isNew, err := nodes[0].engine.Submit(protocol.KindTransaction, rawOf(t, tx))
	require.NoError(t, err)
	require.True(t, isNew)
	require.Eventually(t, func() bool {
		for _, nd := range nodes {
			if ok, _ := nd.store.Has(it.Hash); !ok {
				return false
			}
		}
		return true
	}, 5*time.Second, 2*time.Millisecond)
	t.Logf("stored by all %d nodes after %v", n, time.Since(start))
	time.Sleep(200 * time.Millisecond) // late duplicates, if any, would arrive now

	for i, nd := range nodes {
		s := nd.engine.Stats()
		sessions := nd.mgr.NumSessions()
		if i == 0 {
			require.Zero(t, s.Received, "the submitter never receives its item back")
		} else {
			require.GreaterOrEqual(t, s.Received, uint64(1), "node %d", i)
		}
		require.LessOrEqual(t, s.Received, s.AnnouncedIn, "node %d receives the item at most once per announcing neighbour", i)
		require.LessOrEqual(t, s.AnnouncedOut, uint64(sessions.InboundConsolidated+sessions.OutboundConsolidated), "node %d announces it at most once per session", i)
		require.Equal(t, uint64(1), s.Stored[LabelTransaction], "node %d stores it once", i)
	}

	// Restart node 7 on its file: it still holds and serves the item.
	path := nodes[7].path
	nodes[7].stop()
	re := startTestNode(t, path, nodeOpts{outbound: 3})
	got, err := re.engine.Get(it.Hash)
	require.NoError(t, err)
	require.Equal(t, it.Raw, got.Raw)
	cmd, ok := re.engine.Item(protocol.TxEntry(it.Hash))
	require.True(t, ok)
	require.NotNil(t, cmd.GetTransaction())
	// And a fresh peer that dials it gets the item by request.
	fresh := startTestNode(t, filepath.Join(dir, "fresh.db"), nodeOpts{outbound: 3})
	fresh.dial(t, re)
	require.Eventually(t, func() bool { return len(fresh.engine.sessionIDs()) == 1 }, 5*time.Second, 5*time.Millisecond)
	s, ok := fresh.mgr.Lookup(re.host.ID(), session.Outbound)
	require.True(t, ok)
	require.NoError(t, s.RequestBlock(protocol.TxEntry(it.Hash)))
	require.Eventually(t, func() bool { ok, _ := fresh.store.Has(it.Hash); return ok }, 5*time.Second, 5*time.Millisecond)
}

// liarInventory announces nothing itself and serves nothing: a peer built on it never
// delivers what it announces.
type liarInventory struct{}

func (liarInventory) Missing([]*pb.InventoryEntry) []*pb.InventoryEntry   { return nil }
func (liarInventory) Item(*pb.InventoryEntry) (*pb.Message_Command, bool) { return nil, false }
func (liarInventory) Received(*session.Session, *pb.Message)              {}

func TestNonDeliveringPeerIsIced(t *testing.T) {
	requireTxGossip(t)
	dir := t.TempDir()
	victim := startTestNode(t, filepath.Join(dir, "victim.db"), nodeOpts{outbound: 3, engine: Config{RequestTimeout: 100 * time.Millisecond, BlocksTimeout: time.Second}})
	liar := startTestNode(t, filepath.Join(dir, "liar.db"), nodeOpts{outbound: 3, inventory: liarInventory{}})
	liar.dial(t, victim)
	var s *session.Session
	require.Eventually(t, func() bool {
		var ok bool
		s, ok = liar.mgr.Lookup(victim.host.ID(), session.Outbound)
		return ok && s.Status() == session.Consolidated
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, s.AnnounceItems([]*pb.InventoryEntry{protocol.TxEntry(protocol.Hash{1, 2, 3}), protocol.BlockEntry(protocol.Hash{4, 5, 6})}))

	require.Eventually(t, func() bool { return len(victim.icedPeers()) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, liar.host.ID(), victim.icedPeers()[0])
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the liar's session was not dropped")
	}
	require.Equal(t, uint64(1), victim.engine.Stats().Iced)
}

func TestUnrequestedPushesBoundedByPool(t *testing.T) {
	dir := t.TempDir()
	victim := startTestNode(t, filepath.Join(dir, "victim.db"), nodeOpts{outbound: 3, store: StoreConfig{MaxTransactions: 8}})
	pusher := startTestNode(t, filepath.Join(dir, "pusher.db"), nodeOpts{outbound: 3, inventory: liarInventory{}})
	pusher.dial(t, victim)
	var s *session.Session
	require.Eventually(t, func() bool {
		var ok bool
		s, ok = pusher.mgr.Lookup(victim.host.ID(), session.Outbound)
		return ok && s.Status() == session.Consolidated
	}, 5*time.Second, 5*time.Millisecond)
	const pushed = 40
	for i := range pushed {
		require.NoError(t, s.SendInventoryItem(txMsg(testTx(uint64(1000+i)))))
	}
	require.Eventually(t, func() bool { return victim.engine.Stats().Received == pushed }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return victim.engine.Stats().Stored[LabelTransaction] == pushed }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, 8, victim.store.Count(protocol.KindTransaction))
	require.Equal(t, uint64(pushed), victim.engine.Stats().Unsolicited)
}
