package node

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// Plain-TCP sessions with witnet-rust nodes, played by the independent client of
// wrclient_test.go.

var legacyLoopback = netip.MustParseAddrPort("127.0.0.1:0")

// tcpOnlyNode starts a node that runs plain TCP only, as a witnet-rust node does.
func tcpOnlyNode(t *testing.T, opts ...Option) *Node {
	t.Helper()
	base := []Option{WithNoLibp2pListen(), WithLegacyListen(legacyLoopback), WithRPCAddr("127.0.0.1:0")}
	return startNode(t, t.TempDir(), append(base, opts...)...)
}

// tcpSession returns n's session with the plain-TCP peer at ap in direction typ, once
// it is consolidated.
func tcpSession(t *testing.T, n *Node, ap netip.AddrPort, typ session.Type) *session.Session {
	t.Helper()
	var s *session.Session
	waitFor(t, 10*time.Second, func() bool {
		var ok bool
		s, ok = n.Manager().LookupKey(session.TCPKey(ap), typ)
		return ok && s.Status() == session.Consolidated
	}, func() string { return "no consolidated " + typ.String() + " session with " + ap.String() })
	return s
}

// requireWitnetVersion checks the node's Version as a witnet-rust node reads it.
func requireWitnetVersion(t *testing.T, v wrVersionMsg, sender, receiver []byte) {
	t.Helper()
	require.EqualValues(t, 1, v.Version)
	require.EqualValues(t, 1, v.Capabilities)
	require.InDelta(t, time.Now().Unix(), v.Timestamp, 10)
	require.Equal(t, protocol.UserAgent(), v.UserAgent)
	require.NotZero(t, v.Nonce)
	require.Equal(t, sender, v.Sender, "sender_address")
	require.Equal(t, receiver, v.Receiver, "receiver_address")
	require.Len(t, v.Beacon.BlockHash, 32)
	require.Len(t, v.Beacon.SuperHash, 32)
}

func TestLegacyTCPOnlyNodeAccepts(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "debug", "witnet/session")
	n := tcpOnlyNode(t)
	require.Empty(t, n.Host().Addrs(), "no libp2p listener")
	c := wrDial(t, n.LegacyAddr(), "127.0.0.2")
	v := c.handshakeDialer()
	requireWitnetVersion(t, v, make([]byte, 6), wrAddr(c.local()))
	tcpSession(t, n, c.local(), session.Inbound)

	require.Empty(t, c.getPeers(), "a TCP-only node knows no peer yet")

	ctx := context.Background()
	cl := rpc.NewClient(n.RPCAddr().String(), 5*time.Second)
	list, err := cl.Peers(ctx)
	require.NoError(t, err)
	require.Equal(t, []rpc.Peer{{Address: c.local().String(), Type: rpc.PeerInbound}}, list, "inbound: the source IP:port")
	stats, err := cl.NodeStats(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, stats.Inbound.Consolidated)
	require.Equal(t, 1, stats.Transports["tcp"].Inbound.Consolidated)
	require.Zero(t, stats.Transports["libp2p"].Inbound.Consolidated)

	metrics := scrape(t, n)
	require.Equal(t, "1", metricLine(metrics, `witnet_sessions{status="consolidated",transport="tcp",type="inbound"}`))
	require.Equal(t, "0", metricLine(metrics, `witnet_sessions{status="consolidated",transport="libp2p",type="inbound"}`))
	require.NotEqual(t, "0", metricLine(metrics, `witnet_messages_total{direction="in",kind="Version",transport="tcp"}`))
	require.Equal(t, "1", metricLine(metrics, `witnet_tcp_accepts_total{result="session"}`))

	// Every session line says which transport it runs on.
	lines := logs.Find(func(l map[string]any) bool { return l["peer"] == c.local().String() })
	require.NotEmpty(t, lines)
	for _, l := range lines {
		require.Equal(t, "tcp", l["transport"], "%v", l)
		require.Equal(t, "inbound", l["dir"], "%v", l)
	}
}

// scrape returns n's /metrics page.
func scrape(t *testing.T, n *Node) string {
	t.Helper()
	resp, err := http.Get("http://" + n.RPCAddr().String() + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

func TestLegacyNodeDialsPeer(t *testing.T) {
	w := newWRListener(t, "127.0.0.3")
	public := netip.MustParseAddrPort("203.0.113.7:21337")
	n := tcpOnlyNode(t, WithLegacyPeers(w.addr()), WithLegacyAnnounce(public), WithPeriods(200*time.Millisecond, time.Hour, 0))
	c := w.accept()
	v := c.handshakeListener()
	requireWitnetVersion(t, v, wrAddr(public), wrAddr(w.addr()))
	tcpSession(t, n, w.addr(), session.Outbound)

	list, err := rpc.NewClient(n.RPCAddr().String(), 5*time.Second).Peers(context.Background())
	require.NoError(t, err)
	require.Equal(t, []rpc.Peer{{Address: w.addr().String(), Type: rpc.PeerOutbound}}, list, "outbound: the peer as dialled")

	// The peer goes away; the node dials it again.
	require.NoError(t, c.conn.Close())
	c = w.accept()
	c.handshakeListener()
	tcpSession(t, n, w.addr(), session.Outbound)
}

// TestLegacyGateway runs a node with both transports: a libp2p peer, a witnet-rust peer
// it dials and one that dials it. The plain-TCP peers get only IP:port addresses, and the
// dialled witnet-rust peer is among them; the libp2p peer never is.
func TestLegacyGateway(t *testing.T) {
	w := newWRListener(t, "127.0.0.3")
	gw := startNode(t, t.TempDir(), WithLegacyListen(legacyLoopback), WithLegacyPeers(w.addr()), WithRPCAddr("127.0.0.1:0"))
	lp := startNode(t, t.TempDir(), WithBootstrap(gw.Addrs()[0]))

	wc := w.accept()
	v := wc.handshakeListener()
	requireWitnetVersion(t, v, make([]byte, 6), wrAddr(w.addr()))
	c := wrDial(t, gw.LegacyAddr(), "127.0.0.2")
	v = c.handshakeDialer()
	requireWitnetVersion(t, v, make([]byte, 6), wrAddr(c.local()))
	tcpSession(t, gw, c.local(), session.Inbound)
	waitFor(t, 10*time.Second, func() bool {
		in, ok := gw.Manager().Lookup(lp.ID(), session.Inbound)
		return ok && in.Status() == session.Consolidated
	}, nil)

	// Within seconds the consolidated witnet-rust peer is offered to the other one.
	want := [][]byte{wrAddr(w.addr())}
	var got [][]byte
	waitFor(t, 10*time.Second, func() bool {
		got = c.getPeers()
		return len(got) == 1 && string(got[0]) == string(want[0])
	}, func() string { return "peers offered to a TCP peer: " + formatAddrs(got) })

	ctx := context.Background()
	cl := rpc.NewClient(gw.RPCAddr().String(), 5*time.Second)
	list, err := cl.Peers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 3)
	require.Contains(t, list, rpc.Peer{Address: w.addr().String(), Type: rpc.PeerOutbound})
	require.Contains(t, list, rpc.Peer{Address: c.local().String(), Type: rpc.PeerInbound})
	var libp2p int
	for _, p := range list {
		if strings.HasSuffix(p.Address, "/p2p/"+lp.ID().String()) && p.Type == rpc.PeerInbound {
			libp2p++
		}
	}
	require.Equal(t, 1, libp2p, "the libp2p peer keeps its /p2p address: %v", list)
	stats, err := cl.NodeStats(ctx)
	require.NoError(t, err)
	require.Equal(t, rpc.TransportSessions{Inbound: rpc.SessionCounts{Consolidated: 1}, Outbound: rpc.SessionCounts{Consolidated: 1}}, stats.Transports["tcp"])
	require.Equal(t, 1, stats.Transports["libp2p"].Inbound.Consolidated)
	require.Equal(t, 2, stats.Inbound.Consolidated)
}

func formatAddrs(addrs [][]byte) string {
	var s []string
	for _, a := range addrs {
		ap, err := wrParseAddr(a)
		if err != nil {
			s = append(s, err.Error())
			continue
		}
		s = append(s, ap.String())
	}
	return "[" + strings.Join(s, " ") + "]"
}

// TestLegacyLimits: plain-TCP sessions count against their own limits, not the libp2p
// ones.
func TestLegacyLimits(t *testing.T) {
	gw := startNode(t, t.TempDir(), WithLegacyListen(legacyLoopback), WithLegacyLimits(1, 0), WithLimits(0, 1))
	c := wrDial(t, gw.LegacyAddr(), "127.0.0.2")
	c.handshakeDialer()
	tcpSession(t, gw, c.local(), session.Inbound)

	// A second TCP peer is refused before anything is read: the connection is reset,
	// possibly before connect returns.
	if c2, err := wrTryDial(t, gw.LegacyAddr(), "127.0.0.4"); err == nil {
		_ = c2.send(wrVersionCmd, wrVersionBody(c2.version()))
		_, err := c2.readFrame()
		require.Error(t, err, "refused")
	}
	require.Equal(t, 1, gw.Manager().NumSessionsOf(session.TransportTCP).Inbound())
}

func TestLegacyOptions(t *testing.T) {
	for name, opts := range map[string][]Option{
		"no transport at all":    {WithNoLibp2pListen()},
		"zero legacy peer port":  {WithLegacyPeers(netip.MustParseAddrPort("1.2.3.4:0"))},
		"unspecified peer":       {WithLegacyPeers(netip.MustParseAddrPort("0.0.0.0:21337"))},
		"negative legacy limits": {WithLegacyLimits(-1, 1)},
		"peer is our own public": {WithLegacyPeers(netip.MustParseAddrPort("1.2.3.4:21337")), WithLegacyAnnounce(netip.MustParseAddrPort("1.2.3.4:21337"))},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(context.Background(), append([]Option{WithDataDir(t.TempDir()), WithRPCAddr("")}, opts...)...)
			require.Error(t, err)
		})
	}
}
