package inventory

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
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
	n.dialAddr(t, peer.AddrInfo{ID: to.host.ID(), Addrs: to.host.Addrs()})
}

func (n *testNode) dialAddr(t *testing.T, to peer.AddrInfo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := n.svc.Dial(ctx, to, session.Outbound)
	require.NoError(t, err)
}

// session waits until n holds a consolidated session of type typ with peer id, and
// returns it.
func (n *testNode) session(t testing.TB, id peer.ID, typ session.Type) *session.Session {
	t.Helper()
	var s *session.Session
	waitFor(t, func() bool {
		var ok bool
		s, ok = n.mgr.Lookup(id, typ)
		return ok && s.Status() == session.Consolidated
	}, "no consolidated %s session with %s", typ, id)
	return s
}

func (n *testNode) icedPeers() []peer.ID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]peer.ID(nil), n.iced...)
}

// liarInventory announces nothing itself and serves nothing: a peer built on it never
// delivers what it announces.
type liarInventory struct{}

func (liarInventory) Missing([]*pb.InventoryEntry) []*pb.InventoryEntry   { return nil }
func (liarInventory) Item(*pb.InventoryEntry) (*pb.Message_Command, bool) { return nil, false }
func (liarInventory) Received(*session.Session, *pb.Message) session.Offence {
	return session.OffenceNone
}

func TestNonDeliveringPeerIsIced(t *testing.T) {
	dir := t.TempDir()
	victim := startTestNode(t, filepath.Join(dir, "victim.db"), nodeOpts{outbound: 3, engine: Config{RequestTimeout: 100 * time.Millisecond, BlocksTimeout: time.Second}})
	liar := startTestNode(t, filepath.Join(dir, "liar.db"), nodeOpts{outbound: 3, inventory: liarInventory{}})
	liar.dial(t, victim)
	s := liar.session(t, victim.host.ID(), session.Outbound)
	require.NoError(t, s.AnnounceItems([]*pb.InventoryEntry{protocol.TxEntry(protocol.Hash{1, 2, 3}), protocol.BlockEntry(protocol.Hash{4, 5, 6})}))

	waitFor(t, func() bool { return len(victim.icedPeers()) == 1 }, "the liar was not iced")
	require.Equal(t, liar.host.ID(), victim.icedPeers()[0])
	waitFor(t, func() bool {
		select {
		case <-s.Done():
			return true
		default:
			return false
		}
	}, "the liar's session was not dropped")
	require.Equal(t, uint64(1), victim.engine.Stats().Iced)
}

func TestUnrequestedPushesBoundedByPool(t *testing.T) {
	dir := t.TempDir()
	victim := startTestNode(t, filepath.Join(dir, "victim.db"), nodeOpts{outbound: 3, store: StoreConfig{MaxTransactions: 8}})
	pusher := startTestNode(t, filepath.Join(dir, "pusher.db"), nodeOpts{outbound: 3, inventory: liarInventory{}})
	pusher.dial(t, victim)
	s := pusher.session(t, victim.host.ID(), session.Outbound)
	const pushed = 40
	for i := range pushed {
		require.NoError(t, s.SendInventoryItem(txMsg(inventorytest.Tx(uint64(1000+i)))))
	}
	waitFor(t, func() bool { return victim.engine.Stats().Received == pushed }, "not every push was received")
	waitFor(t, func() bool { return victim.engine.Stats().Stored[LabelTransaction] == pushed }, "not every push was stored")
	require.Equal(t, 8, victim.store.Count(protocol.KindTransaction))
	require.Equal(t, uint64(pushed), victim.engine.Stats().Unsolicited)
}
