package node

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// TestCloseLeavesNoGoroutines: Close ends every goroutine the node started (dialer rounds, dials,
// session watchers, sessions, the HTTP listener and the libp2p host).
func TestCloseLeavesNoGoroutines(t *testing.T) {
	// go-log's and the race detector's background goroutines predate the node.
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, err := New(context.Background(), WithDataDir(t.TempDir()), WithListenAddrs(loopback), fastPeriods,
		WithRPCAddr("127.0.0.1:0"), WithLibp2pMetrics(false))
	require.NoError(t, err)
	b, err := New(context.Background(), WithDataDir(t.TempDir()), WithListenAddrs(loopback), fastPeriods,
		WithRPCAddr(""), WithLibp2pMetrics(false), WithBootstrap(a.Addrs()[0]))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return b.Manager().NumSessions().OutboundConsolidated == 1 && a.Manager().NumSessions().OutboundConsolidated == 1
	}, 10*time.Second, 50*time.Millisecond)
	require.NoError(t, b.Close())
	require.NoError(t, a.Close())
	require.ErrorIs(t, (*rpcBackend)(a).Health(context.Background()), ErrClosed)
}

// TestUnreachablePeerIsIced: a peer that cannot be reached at an address we reached it
// at before (tried) is iced after the dial fails and is not dialled again while iced; a
// peer at an address a third party gave is not iced, only left alone for its retry
// delay; operator-given peers (configured, addPeers) are never iced for failing and are
// retried every round (they are usually just not up yet).
func TestUnreachablePeerIsIced(t *testing.T) {
	ghostAddr := func() (ma.Multiaddr, peer.ID) {
		// A port nobody listens on: bind one, then close it.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		require.NoError(t, l.Close())
		id := newID(t)
		return ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, id)), id
	}
	entry := func(m ma.Multiaddr) peers.Addr {
		a, err := peers.AddrFromP2P(m)
		require.NoError(t, err)
		return a
	}

	// Tried, and a third party's: one failed dial each; the tried one is iced, neither is
	// dialled again. A reachable peer added afterwards is dialled by a later round.
	addr, ghost := ghostAddr()
	addr3, ghost3 := ghostAddr()
	n := startNode(t, t.TempDir(), WithPeriods(100*time.Millisecond, time.Hour, 0))
	_, err := n.Book().AddTried(entry(addr))
	require.NoError(t, err)
	src := peers.Addr{ID: newID(t), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/1")}}
	_, err = n.Book().AddNew([]peers.Addr{entry(addr3)}, &src)
	require.NoError(t, err)
	waitFor(t, 5*time.Second, func() bool { return n.Book().IsIced(ghost) && dialCount(t, n, "outbound", "failed") == 2 }, nil)
	require.False(t, n.Book().IsIced(ghost3), "a third party's address failing ices nobody")
	up := startNode(t, t.TempDir())
	require.NoError(t, n.addPeers(up.Addrs()[:1]))
	waitFor(t, 10*time.Second, func() bool { return n.Manager().NumSessions().OutboundConsolidated == 1 }, nil)
	require.Equal(t, 1.0, dialCount(t, n, "outbound", "ok"))
	require.Equal(t, 2.0, dialCount(t, n, "outbound", "failed"), "an unreachable peer was dialled again")

	// Configured, and added by the operator: never iced, dialled again.
	addr, ghost = ghostAddr()
	addr3, ghost3 = ghostAddr()
	b := startNode(t, t.TempDir(), WithBootstrap(addr), WithPeriods(100*time.Millisecond, time.Hour, 0))
	require.NoError(t, b.addPeers([]ma.Multiaddr{addr3}))
	waitFor(t, 5*time.Second, func() bool { return dialCount(t, b, "outbound", "failed") >= 6 }, nil)
	require.False(t, b.Book().IsIced(ghost))
	require.False(t, b.Book().IsIced(ghost3))
}

// TestDNSBootstrap: a /dns4 bootstrap address cannot be bucketed, but the node still
// starts, dials it by name and files the resolved address under tried.
func TestDNSBootstrap(t *testing.T) {
	a := startNode(t, t.TempDir())
	port := tcpPort(t, a.Addrs()[0])
	dnsAddr := ma.StringCast(fmt.Sprintf("/dns4/localhost/tcp/%d/p2p/%s", port, a.ID()))
	b := startNode(t, t.TempDir(), WithBootstrap(dnsAddr))
	require.Eventually(t, func() bool {
		_, where, ok := b.Book().Lookup(a.ID())
		return ok && where == peers.BucketTried && b.Manager().NumSessions().OutboundConsolidated == 1
	}, 10*time.Second, 50*time.Millisecond)
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// dialCount returns the node's witnet_dials_total of typ and result, as /metrics serves it.
func dialCount(t *testing.T, n *Node, typ, result string) float64 {
	t.Helper()
	return counterSum(t, n, "witnet_dials_total", func(l map[string]string) bool {
		return l["type"] == typ && l["result"] == result
	})
}

// counterSum adds up the series of the node's counter name whose labels match.
func counterSum(t *testing.T, n *Node, name string, match func(labels map[string]string) bool) float64 {
	t.Helper()
	families, err := n.Registry().Gather()
	require.NoError(t, err)
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if match(labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// TestRPCMethodsOption: methods added with WithRPCMethods are served next to the built-in
// ones, which they cannot replace.
func TestRPCMethodsOption(t *testing.T) {
	n := startNode(t, t.TempDir(), WithRPCAddr("127.0.0.1:0"), WithRPCMethods(map[string]rpc.Method{
		"ping":  func(context.Context, json.RawMessage) (any, error) { return "pong", nil },
		"peers": func(context.Context, json.RawMessage) (any, error) { return "replaced", nil },
	}))
	c := rpc.NewClient(n.RPCAddr().String(), 5*time.Second)
	var got string
	require.NoError(t, c.Call(context.Background(), "ping", nil, &got))
	require.Equal(t, "pong", got)
	list, err := c.Peers(context.Background())
	require.NoError(t, err)
	require.Empty(t, list)
}
