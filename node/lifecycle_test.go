package node

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestCloseLeavesNoGoroutines: Close ends every goroutine the node started (loops, dials,
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

// TestUnreachableBootstrapIsIced: a peer that cannot be reached is iced after the dial
// fails, and is not dialled again while iced.
func TestUnreachableBootstrapIsIced(t *testing.T) {
	// A port nobody listens on: bind one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	ghost := newID(t)
	addr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, ghost))

	n := startNode(t, t.TempDir(), WithBootstrap(addr), WithDialTimeout(2*time.Second))
	require.Eventually(t, func() bool { return n.Book().IsIced(ghost) }, 5*time.Second, 20*time.Millisecond)
	time.Sleep(time.Second) // several bootstrap rounds
	require.Equal(t, 1.0, counterValue(t, n.metrics.dials.WithLabelValues("outbound", "failed")))
	require.Zero(t, counterValue(t, n.metrics.dials.WithLabelValues("outbound", "ok")))
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}
