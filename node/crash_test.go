package node

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// helperEnv makes the test binary run a node (see TestMain) instead of the tests.
const helperEnv = "WITNET_NODE_TEST_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		runHelperNode(dir)
		return
	}
	os.Exit(m.Run())
}

// runHelperNode runs a node on dir, prints its RPC address and waits to be killed.
func runHelperNode(dir string) {
	n, err := New(context.Background(), WithDataDir(dir), WithListenAddrs(loopback), WithRPCAddr("127.0.0.1:0"),
		WithLibp2pMetrics(false), WithPeriods(time.Hour, time.Hour, time.Hour))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("rpc", n.RPCAddr())
	select {}
}

// TestCrashKeepsAddedPeers: peers added through addPeers are in the book after the
// process is killed with SIGKILL, because addPeers returns only after the bbolt
// transaction committed.
func TestCrashKeepsAddedPeers(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "rpc ")
	require.True(t, ok, "helper said %q", line)

	var addrs []string
	for i := range 3 {
		_, pub, err := crypto.GenerateEd25519Key(nil)
		require.NoError(t, err)
		id, err := peer.IDFromPublicKey(pub)
		require.NoError(t, err)
		addrs = append(addrs, fmt.Sprintf("/ip4/127.%d.9.1/tcp/21337/p2p/%s", 10+i, id))
	}
	c := rpc.NewClient(addr, 5*time.Second)
	require.NoError(t, c.AddPeers(context.Background(), addrs))
	// What the node acknowledged is what its book holds now: two of the three may share a
	// new-bucket slot (the later overwrites the earlier, PROTOCOL.md 9.1), so the expected set
	// is read back from the node rather than assumed.
	known, err := c.KnownPeers(context.Background())
	require.NoError(t, err)
	var want []peer.ID
	for _, k := range known {
		a, err := ma.NewMultiaddr(k.Address)
		require.NoError(t, err)
		_, id := peer.SplitAddr(a)
		want = append(want, id)
	}
	require.NotEmpty(t, want)

	require.NoError(t, cmd.Process.Kill()) // SIGKILL: no chance to flush anything
	_ = cmd.Wait()

	db, err := datadir.OpenDB(dir)
	require.NoError(t, err)
	defer db.Close()
	book, err := peers.Open(db, peers.Config{})
	require.NoError(t, err)
	got := uniqueIDs(book.New())
	for _, id := range want {
		require.True(t, got[id], "peer %s lost in the crash", id)
	}
}
