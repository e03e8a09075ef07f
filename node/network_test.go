package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Short periods for tests: every dialer round runs several times a second.
var fastPeriods = WithPeriods(300*time.Millisecond, 500*time.Millisecond, 100*time.Millisecond)

var loopback = ma.StringCast("/ip4/127.0.0.1/tcp/0")

// startNode starts a node on loopback with test periods, no HTTP listener and no libp2p
// metrics unless opts say otherwise, and closes it when the test ends.
func startNode(t *testing.T, dir string, opts ...Option) *Node {
	t.Helper()
	base := []Option{WithDataDir(dir), WithListenAddrs(loopback), fastPeriods, WithRPCAddr(""), WithLibp2pMetrics(false)}
	n, err := New(context.Background(), append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// knownIDs returns the peers n knows: those of its new and tried buckets and those it has
// a consolidated session with. The sessions count because the buckets are lossy by design
// (PROTOCOL.md 9.1): on 127.0.0.1 all peers share one IP group, so two of them can hash to the
// same tried slot, and the second one's AddTried is then skipped for the update period
// while a feeler drops its new entry. A node bootstrapped only from node 0 can only have
// a session with another node it learned through GetPeers (outbound) or that learned it.
func knownIDs(n *Node) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	for _, a := range append(n.Book().New(), n.Book().Tried()...) {
		out[a.ID] = true
	}
	for _, p := range n.Manager().ConsolidatedPeers() {
		out[p.Peer.ID] = true
	}
	return out
}

// TestNetwork runs six nodes bootstrapped from the first, then restarts one from its data
// directory alone, then exercises the JSON-RPC methods and the metrics over HTTP.
func TestNetwork(t *testing.T) {
	const size = 6
	dirs := make([]string, size)
	nodes := make([]*Node, size)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	nodes[0] = startNode(t, dirs[0], WithRPCAddr("127.0.0.1:0"), WithLibp2pMetrics(true))
	seed := nodes[0].Addrs()[0]
	for i := 1; i < size; i++ {
		opts := []Option{WithBootstrap(seed)}
		if i == 1 {
			opts = append(opts, WithRPCAddr("127.0.0.1:0"))
		}
		nodes[i] = startNode(t, dirs[i], opts...)
	}

	// Within 30 s: at least 2 consolidated outbound sessions each, and every node knows
	// every other one (bootstrap gave each only the first; the rest came through GetPeers).
	start := time.Now()
	waitFor(t, 30*time.Second, func() bool {
		for i, n := range nodes {
			if n.Manager().NumSessions().OutboundConsolidated < 2 {
				return false
			}
			known := knownIDs(n)
			for j, o := range nodes {
				if i != j && !known[o.ID()] {
					return false
				}
			}
		}
		return true
	}, func() string { return describe(nodes) })
	t.Logf("six nodes connected and discovered each other in %v", time.Since(start).Round(time.Millisecond))

	t.Run("restart from data directory", func(t *testing.T) {
		old := nodes[size-1]
		id := old.ID()
		port := tcpPort(t, old.Addrs()[0])
		require.NoError(t, old.Close())
		require.NoError(t, old.Close(), "Close is idempotent")

		listen := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
		n := startNode(t, dirs[size-1], WithListenAddrs(listen)) // no bootstrap flag
		require.Equal(t, id, n.ID(), "identity reused")
		require.NotZero(t, len(n.Book().Tried()), "tried bucket restored")
		waitFor(t, 15*time.Second, func() bool {
			return n.Manager().NumSessions().OutboundConsolidated >= 2
		}, func() string { return describe([]*Node{n}) })
		nodes[size-1] = n
	})

	t.Run("JSON-RPC", func(t *testing.T) { testRPC(t, nodes) })
	t.Run("metrics", func(t *testing.T) { testMetrics(t, nodes[0]) })
}

// tcpPort returns the TCP port of a multiaddr.
func tcpPort(t *testing.T, a ma.Multiaddr) int {
	t.Helper()
	v, err := a.ValueForProtocol(ma.P_TCP)
	require.NoError(t, err)
	var port int
	_, err = fmt.Sscan(v, &port)
	require.NoError(t, err)
	return port
}

func uniqueIDs(as []peers.Addr) map[peer.ID]bool {
	out := map[peer.ID]bool{}
	for _, a := range as {
		out[a.ID] = true
	}
	return out
}

func describe(nodes []*Node) string {
	var b strings.Builder
	for i, n := range nodes {
		c := n.Manager().NumSessions()
		nw, tr, ice := n.Book().Counts()
		fmt.Fprintf(&b, "\n node %d: out %d+%d in %d+%d book new %d tried %d ice %d known %d feelers %d dialing %d",
			i, c.OutboundConsolidated, c.OutboundUnconsolidated, c.InboundConsolidated, c.InboundUnconsolidated, nw, tr, ice,
			len(knownIDs(n)), n.dialer.Feelers(), n.dialer.Dialing())
	}
	return b.String()
}

func testRPC(t *testing.T, nodes []*Node) {
	ctx := context.Background()
	n := nodes[1] // bootstrapped from nodes[0], with an HTTP listener
	c := rpc.NewClient(n.RPCAddr().String(), 5*time.Second)

	list, err := c.Peers(ctx)
	require.NoError(t, err)
	var out, in int
	for _, p := range list {
		a, err := ma.NewMultiaddr(p.Address)
		require.NoError(t, err, p.Address)
		_, id := peer.SplitAddr(a)
		require.NotEmpty(t, id, "address ends in /p2p/: %s", p.Address)
		switch p.Type {
		case rpc.PeerOutbound:
			out++
		case rpc.PeerInbound:
			in++
		default:
			t.Fatalf("peer type %q", p.Type)
		}
	}
	stats, err := c.NodeStats(ctx)
	require.NoError(t, err)
	require.Equal(t, n.ID().String(), stats.PeerID)
	require.GreaterOrEqual(t, out, 2)
	// Sessions may come and go between the two calls; the counts are close, not equal.
	require.InDelta(t, stats.Outbound.Consolidated, out, 2)
	require.InDelta(t, stats.Inbound.Consolidated, in, 2)
	require.Positive(t, stats.MessagesIn)
	require.Positive(t, stats.MessagesOut)
	require.Greater(t, stats.BytesIn, stats.MessagesIn*4, "bytes include the frame headers")

	known, err := c.KnownPeers(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, known)
	require.Len(t, known, len(uniqueIDs(n.Book().Tried()))+len(uniqueIDs(n.Book().New())))

	// The book-changing methods run on a node without feelers, which would otherwise
	// take the added (unreachable) peer out of the new bucket at once, and with one
	// outbound session: bootstrap rounds retry nodes[0] until it is consolidated (a busy
	// nodes[0] may refuse the first dial), then have nothing to dial.
	quiet := startNode(t, t.TempDir(), WithBootstrap(nodes[0].Addrs()[0]), WithRPCAddr("127.0.0.1:0"),
		WithPeriods(300*time.Millisecond, time.Hour, 0), WithLimits(session.DefaultInboundLimit, 1))
	c = rpc.NewClient(quiet.RPCAddr().String(), 5*time.Second)
	n = quiet
	// Its one session must have consolidated first: consolidation writes the bootstrap
	// peer into tried, and doing so after clearPeers below would refill the book.
	require.Eventually(t, func() bool { return len(quiet.Manager().ConsolidatedPeers()) == 1 },
		10*time.Second, 10*time.Millisecond)

	// addPeers: the entry shows up in knownPeers as new.
	fake := "/ip4/127.0.0.77/tcp/9/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
	require.NoError(t, c.AddPeers(ctx, []string{fake}))
	known, err = c.KnownPeers(ctx)
	require.NoError(t, err)
	require.Contains(t, known, rpc.KnownPeer{Address: fake, Type: rpc.KnownNew})

	// Bad addresses: JSON-RPC errors, not HTTP failures.
	var rerr *rpc.Error
	err = c.AddPeers(ctx, []string{"/ip4/127.0.0.77/tcp/9"})
	require.ErrorAs(t, err, &rerr)
	require.Equal(t, rpc.CodeInvalidParams, rerr.Code)
	err = c.AddPeers(ctx, []string{"/dns4/example.org/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"})
	require.ErrorAs(t, err, &rerr, "a DNS-only address cannot be indexed")
	require.Equal(t, rpc.CodeInvalidParams, rerr.Code)
	err = c.Call(ctx, "nope", nil, nil)
	require.ErrorAs(t, err, &rerr)
	require.Equal(t, rpc.CodeMethodNotFound, rerr.Code)

	// clearPeers empties new and tried.
	require.NoError(t, c.ClearPeers(ctx))
	known, err = c.KnownPeers(ctx)
	require.NoError(t, err)
	require.Empty(t, known)

	// initializePeers restores the bootstrap peers and drops the sessions.
	require.NoError(t, c.InitializePeers(ctx))
	known, err = c.KnownPeers(ctx)
	require.NoError(t, err)
	// In new, unless a bootstrap round already redialled it and moved it to tried.
	require.Len(t, known, 1)
	require.Equal(t, nodes[0].Addrs()[0].String(), known[0].Address)
	require.Contains(t, []string{rpc.KnownNew, rpc.KnownTried}, known[0].Type)

	resp, err := http.Get("http://" + n.RPCAddr().String() + "/health")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func testMetrics(t *testing.T, n *Node) {
	resp, err := http.Get("http://" + n.RPCAddr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	text := string(body)
	for _, want := range []string{
		`witnet_sessions{status="consolidated",transport="libp2p",type="outbound"}`,
		`witnet_sessions{status="unconsolidated",transport="libp2p",type="feeler"}`,
		`witnet_messages_total{direction="in",kind="Version",transport="libp2p"}`,
		`witnet_messages_total{direction="out",kind="Peers",transport="libp2p"}`,
		`witnet_message_bytes_total{direction="out",kind="Verack",transport="libp2p"}`,
		`witnet_address_book_peers{bucket="tried"}`,
		`witnet_dials_total{result="ok",type="feeler"}`,
		`witnet_uptime_seconds`,
		`go_goroutines`,
		`libp2p_`, // libp2p's own collectors
	} {
		require.Contains(t, text, want)
	}
	// A counter that must have moved: Versions were received.
	line := metricLine(text, `witnet_messages_total{direction="in",kind="Version",transport="libp2p"}`)
	require.NotEqual(t, "0", line)
}

// metricLine returns the value of the series named exactly key.
func metricLine(text, key string) string {
	for l := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			return v
		}
	}
	return ""
}

// TestSecondNodeOnSameDataDir: the database lock keeps a second node off a data
// directory in use.
func TestSecondNodeOnSameDataDir(t *testing.T) {
	dir := t.TempDir()
	startNode(t, dir)
	_, err := New(context.Background(), WithDataDir(dir), WithListenAddrs(loopback), WithRPCAddr(""), WithLibp2pMetrics(false))
	require.ErrorIs(t, err, datadir.ErrLocked)
}

// TestBookNeverHoldsSelf: a node told about itself keeps it out of its book.
func TestBookNeverHoldsSelf(t *testing.T) {
	n := startNode(t, t.TempDir())
	require.NoError(t, n.addPeers(n.Addrs()))
	newN, triedN, _ := n.Book().Counts()
	require.Zero(t, newN+triedN)
}
