package node

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// gossipChildEnv makes the test binary run TestGossipChildProcess: a node on the given
// data directory that prints its addresses and runs until it is killed.
const gossipChildEnv = "WITNET_P2P_GOSSIP_CHILD_DIR"

// TestGossipChildProcess is the node that TestCrashDuringGossip kills; it does nothing in
// a normal run.
func TestGossipChildProcess(t *testing.T) {
	dir := os.Getenv(gossipChildEnv)
	if dir == "" {
		t.Skip("child process only")
	}
	n, err := New(context.Background(), WithDataDir(dir), WithListenAddrs(loopback), WithRPCAddr("127.0.0.1:0"),
		WithLibp2pMetrics(false), WithPeriods(time.Hour, time.Hour, 0))
	require.NoError(t, err)
	fmt.Printf("rpc %s\n", n.RPCAddr())
	fmt.Printf("p2p %s\n", n.Addrs()[0])
	select {}
}

// TestCrashDuringGossip: a node killed with SIGKILL while three neighbours gossip
// transactions through it and a client submits more over JSON-RPC reopens its bbolt file,
// and every peer and item whose addition it acknowledged is there.
func TestCrashDuringGossip(t *testing.T) {
	dir := t.TempDir()
	cmd, out := startTestChild(t, "^TestGossipChildProcess$", false, gossipChildEnv+"="+dir)
	rpcAddr := readLine(t, out, "rpc ")
	p2p, err := ma.NewMultiaddr(readLine(t, out, "p2p "))
	require.NoError(t, err)
	client := rpc.NewClient(rpcAddr, 5*time.Second)
	ctx := context.Background()

	// Peers acknowledged by addPeers before the gossip starts.
	var wantPeers []peer.ID
	var addrs []string
	for i := range 5 {
		id := newID(t)
		wantPeers = append(wantPeers, id)
		addrs = append(addrs, fmt.Sprintf("/ip4/10.%d.7.1/tcp/21337/p2p/%s", 40+i, id))
	}
	require.NoError(t, client.AddPeers(ctx, addrs))

	// Three neighbours dial the node and submit transactions as fast as it takes them:
	// each is announced to the node, requested, received, stored and announced on.
	var neighbours []*Node
	for range 3 {
		neighbours = append(neighbours, startNode(t, t.TempDir(), WithBootstrap(p2p), WithPeriods(time.Hour, time.Hour, 0)))
	}
	for _, nb := range neighbours {
		require.Eventually(t, func() bool { return nb.Manager().NumSessions().OutboundConsolidated == 1 }, 10*time.Second, 10*time.Millisecond)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var gossiped atomic.Int64
	for i, nb := range neighbours {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := uint64(0); ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, isNew, err := nb.inv.Submit(protocol.KindTransaction, inventorytest.TxBytes(uint64(i+1)<<40|k)); err == nil && isNew {
					gossiped.Add(1)
				}
				if k%64 == 63 {
					time.Sleep(time.Millisecond) // let the sessions drain: Send never waits
				}
			}
		}()
	}

	// Meanwhile a client submits transactions to the node itself: each hash it gets back
	// is an acknowledged item.
	var acked []protocol.Hash
	var ackedN atomic.Int64
	submitted := make(chan struct{})
	go func() {
		defer close(submitted)
		for k := uint64(1); ; k++ {
			select {
			case <-stop:
				return
			default:
			}
			h, err := inventory.SubmitItem(ctx, client, protocol.KindTransaction, inventorytest.TxBytes(9<<40|k))
			if err != nil {
				return // the node was killed under the call: not acknowledged
			}
			acked = append(acked, h)
			ackedN.Add(1)
		}
	}()

	// SIGKILL mid-gossip, once the node has acknowledged items to the client and taken
	// gossiped ones from the neighbours (each sends a transaction only when the node asks
	// for it, because it does not hold it yet).
	gossipStart := time.Now()
	delivered := func() (n uint64) {
		for _, nb := range neighbours {
			n += nb.Traffic().MessagesOut[protocol.KindTransaction]
		}
		return n
	}
	waitFor(t, 30*time.Second, func() bool { return ackedN.Load() >= 20 && delivered() >= 100 }, func() string {
		return fmt.Sprintf("%d acknowledged, %d delivered by the neighbours", ackedN.Load(), delivered())
	})
	gossipTime := time.Since(gossipStart)
	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	close(stop)
	wg.Wait()
	<-submitted
	require.NotEmpty(t, acked)

	db, err := datadir.OpenDB(dir)
	require.NoError(t, err, "the bbolt file must open after SIGKILL")
	defer db.Close()
	book, err := peers.Open(db, peers.Config{})
	require.NoError(t, err)
	known := uniqueIDs(book.New())
	for _, id := range wantPeers {
		require.True(t, known[id], "peer %s lost in the crash", id)
	}
	store, err := inventory.OpenStore(db, inventory.StoreConfig{})
	require.NoError(t, err)
	var missing []string
	for _, h := range acked {
		if ok, err := store.Has(h); err != nil || !ok {
			missing = append(missing, h.String())
		}
	}
	require.Empty(t, missing, "acknowledged items lost in the crash")
	t.Logf("SIGKILL after %v of gossip: %d transactions submitted at the neighbours, %d acknowledged by the node over JSON-RPC, all %d there after restart; the store holds %d transactions; %d peers in the new bucket",
		gossipTime.Round(time.Millisecond), gossiped.Load(), len(acked), len(acked), store.Count(protocol.KindTransaction), len(book.New()))
	require.Greater(t, store.Count(protocol.KindTransaction), len(acked), "gossiped items were stored too")
}
