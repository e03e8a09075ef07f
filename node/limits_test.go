package node

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func TestDeriveLimits(t *testing.T) {
	tests := []struct {
		in, out int
		want    hostLimits
	}{
		{128, 12, hostLimits{inboundConns: 160, outboundConns: 32, conns: 192, handshakeInbound: 32, trimLow: 140, trimHigh: 175, perIP: 8}},
		{8, 4, hostLimits{inboundConns: 24, outboundConns: 16, conns: 40, handshakeInbound: 16, trimLow: 12, trimHigh: 20, perIP: 8}},
		{0, 1, hostLimits{inboundConns: 16, outboundConns: 10, conns: 26, handshakeInbound: 16, trimLow: 1, trimHigh: 9, perIP: 8}},
		{1000, 100, hostLimits{inboundConns: 1250, outboundConns: 208, conns: 1458, handshakeInbound: 250, trimLow: 1100, trimHigh: 1375, perIP: 8}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%d", tc.in, tc.out), func(t *testing.T) {
			got := deriveLimits(tc.in, tc.out)
			require.Equal(t, tc.want, got)
			// The invariants that make the derivation safe.
			require.GreaterOrEqual(t, got.inboundConns, tc.in, "every inbound session fits")
			require.GreaterOrEqual(t, got.outboundConns, tc.out, "every outbound session fits")
			require.GreaterOrEqual(t, got.trimLow, tc.in+tc.out, "trimming never goes below the sessions")
			require.LessOrEqual(t, got.trimHigh, got.conns, "the connection manager acts before the resource manager refuses")
		})
	}
}

// TestHostUsesDerivedLimits: the host runs our connection and resource managers, not
// libp2p's silent defaults (160/192 trimming, memory-scaled connection caps).
func TestHostUsesDerivedLimits(t *testing.T) {
	n := startNode(t, t.TempDir(), WithLimits(20, 5))
	cm, ok := n.Host().ConnManager().(*connmgr.BasicConnMgr)
	require.True(t, ok, "connection manager is %T", n.Host().ConnManager())
	want := deriveLimits(20, 5)
	info := cm.GetInfo()
	require.Equal(t, want.trimLow, info.LowWater)
	require.Equal(t, want.trimHigh, info.HighWater)
	require.Equal(t, connGracePeriod, info.GracePeriod)

	rm, ok := n.Host().Network().ResourceManager().(*limitLogger)
	require.True(t, ok, "resource manager is %T", n.Host().Network().ResourceManager())
	require.Equal(t, want, rm.limits)
	err := rm.ViewSystem(func(s network.ResourceScope) error {
		require.Equal(t, 0, s.Stat().NumConnsInbound)
		return nil
	})
	require.NoError(t, err)
}

// TestLimitRefusalIsLogged: a connection refused for a limit is logged with that limit.
func TestLimitRefusalIsLogged(t *testing.T) {
	require.NoError(t, logging.SetLogLevel("witnet/node", "warn"))
	pipe := logging.NewPipeReader(logging.PipeFormat(logging.JSONOutput), logging.PipeLevel(logging.LevelWarn))
	defer pipe.Close()
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	l := deriveLimits(1, 1)
	rm, err := newResourceManager(l, false)
	require.NoError(t, err)
	defer rm.Close()

	var scopes []network.ConnManagementScope
	release := func() {
		for _, s := range scopes {
			s.Done()
		}
		scopes = nil
	}
	defer release()
	open := func(ip string) error {
		s, err := rm.OpenConnection(network.DirInbound, true, ma.StringCast("/ip4/"+ip+"/tcp/4001"))
		if err == nil {
			scopes = append(scopes, s)
		}
		return err
	}

	// Loopback is exempt from the per-IP cap (a devnet runs there).
	for range l.perIP + 1 {
		require.NoError(t, open("127.0.0.1"))
	}
	release()

	// Per IP: 8 connections from one address, the ninth is refused.
	for range l.perIP {
		require.NoError(t, open("10.0.0.1"))
	}
	require.Error(t, open("10.0.0.1"))
	requireLogged(t, lines, "connections per IP address: 8")

	// Inbound handshakes: the transient scope holds handshakeInbound connections.
	for i := 0; len(scopes) < l.handshakeInbound; i++ {
		require.NoError(t, open(fmt.Sprintf("10.0.1.%d", i+1)))
	}
	require.Error(t, open("10.0.2.1"))
	requireLogged(t, lines, fmt.Sprintf("inbound connections still in handshake: %d", l.handshakeInbound))
}

func requireLogged(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "log closed before %q", want)
			if strings.Contains(l, "connection refused by a limit") && strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line with %q", want)
		}
	}
}
