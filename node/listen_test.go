package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

// requireListenError checks that New failed with one line naming addr and ErrAddrInUse.
func requireListenError(t *testing.T, err error, addr ma.Multiaddr) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, ErrAddrInUse)
	var le *ListenError
	require.ErrorAs(t, err, &le)
	require.True(t, le.Addr.Equal(addr), "error names %s, want %s", le.Addr, addr)
	require.Equal(t, "listen "+addr.String()+": address already in use by another process", err.Error())
	require.NotContains(t, err.Error(), "\n")
}

// TestSecondNodeOnTheSamePortFails: a node asked to listen where another node already
// listens (libp2p's SO_REUSEPORT would let both bind and split the inbound connections)
// refuses to start, with one clear line; the first node is unaffected.
func TestSecondNodeOnTheSamePortFails(t *testing.T) {
	first := startNode(t, t.TempDir())
	port := tcpPort(t, first.Addrs()[0]) // Addrs has no relay ("/p2p-circuit") address on loopback
	taken := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
	_, err := New(context.Background(), WithDataDir(t.TempDir()), WithListenAddrs(taken), WithRPCAddr(""), WithLibp2pMetrics(false))
	requireListenError(t, err, taken)
	t.Logf("second node: %v", err)

	// The wildcard address on the same port is refused too.
	wildcard := ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", port))
	_, err = New(context.Background(), WithDataDir(t.TempDir()), WithListenAddrs(wildcard), WithRPCAddr(""), WithLibp2pMetrics(false))
	requireListenError(t, err, wildcard)

	// The first node still takes every connection.
	second := startNode(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), honestDeadline*5)
	defer cancel()
	require.NoError(t, second.Host().Connect(ctx, nodeInfo(first)))
}

// TestListenFailsWhenTCPTakenAndQUICFree: with its TCP port held by a plain listener of
// another program and the same UDP port free, a node asked for both does not start as a
// QUIC-only node: it fails on the TCP address.
func TestListenFailsWhenTCPTakenAndQUICFree(t *testing.T) {
	var (
		other net.Listener
		port  int
	)
	for range 20 { // find a TCP port whose UDP twin is free
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		port = l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			require.NoError(t, u.Close())
			other = l
			break
		}
		require.NoError(t, l.Close())
	}
	require.NotNil(t, other, "no TCP port with a free UDP twin")
	defer other.Close()
	tcpAddr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
	quicAddr := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", port))
	_, err := New(context.Background(), WithDataDir(t.TempDir()), WithListenAddrs(quicAddr, tcpAddr), WithRPCAddr(""), WithLibp2pMetrics(false))
	requireListenError(t, err, tcpAddr)

	// The UDP port was left free: a node on QUIC alone starts there.
	n := startNode(t, t.TempDir(), WithListenAddrs(quicAddr))
	require.Len(t, slices.DeleteFunc(n.Host().Network().ListenAddresses(), isRelayed), 1, "one socket (the relay transport's /p2p-circuit aside)")
}

// TestCheckListening: a configured address the host does not listen on fails the start;
// port 0 matches any port.
func TestCheckListening(t *testing.T) {
	m := ma.StringCast
	got := []ma.Multiaddr{m("/ip4/127.0.0.1/tcp/4001"), m("/ip4/0.0.0.0/udp/4002/quic-v1")}
	require.NoError(t, checkListening([]ma.Multiaddr{m("/ip4/127.0.0.1/tcp/0"), m("/ip4/0.0.0.0/udp/4002/quic-v1")}, got))
	err := checkListening([]ma.Multiaddr{m("/ip4/127.0.0.1/tcp/4001"), m("/ip4/0.0.0.0/tcp/4002")}, got)
	var le *ListenError
	require.ErrorAs(t, err, &le)
	require.Equal(t, "/ip4/0.0.0.0/tcp/4002", le.Addr.String())
	require.Error(t, checkListening([]ma.Multiaddr{m("/ip4/127.0.0.1/udp/0/quic-v1")}, got), "same port, other transport")
	require.Error(t, checkListening([]ma.Multiaddr{m("/ip4/127.0.0.2/tcp/0")}, got), "other IP")
}

// TestProbeKeepsTheSystemsReason: an address that cannot be bound for another reason
// fails with the system's words.
func TestProbeKeepsTheSystemsReason(t *testing.T) {
	a := ma.StringCast("/ip4/192.0.2.1/tcp/21337") // TEST-NET-1: not an address of this machine
	err := probeListenAddrs([]ma.Multiaddr{a})
	var le *ListenError
	require.ErrorAs(t, err, &le)
	require.False(t, errors.Is(err, ErrAddrInUse))
	require.True(t, strings.HasPrefix(err.Error(), "listen "+a.String()+": "), err.Error())
	t.Logf("%v", err)
}
