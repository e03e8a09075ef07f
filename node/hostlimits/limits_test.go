package hostlimits

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/test"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

func TestDerive(t *testing.T) {
	tests := []struct {
		in, out int
		want    Limits
	}{
		{128, 12, Limits{InboundConns: 192, OutboundConns: 32, Conns: 224, HandshakeInbound: 64, TrimLow: 140, TrimHigh: 175, PerIP: 8}},
		{8, 4, Limits{InboundConns: 72, OutboundConns: 16, Conns: 88, HandshakeInbound: 64, TrimLow: 12, TrimHigh: 20, PerIP: 8}},
		{0, 1, Limits{InboundConns: 64, OutboundConns: 10, Conns: 74, HandshakeInbound: 64, TrimLow: 1, TrimHigh: 9, PerIP: 8}},
		{1000, 100, Limits{InboundConns: 1250, OutboundConns: 208, Conns: 1458, HandshakeInbound: 250, TrimLow: 1100, TrimHigh: 1375, PerIP: 8}},
	}
	for i := range tests {
		w := &tests[i].want
		w.HandshakesPerIP, w.HandshakesPerSubnet, w.UpgradeTimeout = 4, 16, DefaultUpgradeTimeout
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d/%d", tc.in, tc.out), func(t *testing.T) {
			got := Derive(tc.in, tc.out)
			require.Equal(t, tc.want, got)
			// The invariants that make the derivation safe.
			require.GreaterOrEqual(t, got.InboundConns, tc.in, "every inbound session fits")
			require.GreaterOrEqual(t, got.OutboundConns, tc.out, "every outbound session fits")
			require.GreaterOrEqual(t, got.TrimLow, tc.in+tc.out, "trimming never goes below the sessions")
			require.LessOrEqual(t, got.TrimHigh, got.Conns, "the connection manager acts before the resource manager refuses")
			require.GreaterOrEqual(t, got.HandshakeInbound, 4*got.HandshakesPerSubnet, "one subnet never fills the handshake headroom")
		})
	}
}

func TestNewConnManager(t *testing.T) {
	l := Derive(20, 5)
	cm, err := NewConnManager(l)
	require.NoError(t, err)
	defer cm.Close()
	info := cm.GetInfo()
	require.Equal(t, l.TrimLow, info.LowWater)
	require.Equal(t, l.TrimHigh, info.HighWater)
	require.Equal(t, ConnGracePeriod, info.GracePeriod)
}

// captureLogs records this package's warnings.
func captureLogs(t *testing.T) *sessiontest.Logs {
	return sessiontest.CaptureLogs(t, "warn", "witnet/hostlimits")
}

// requireLogged waits until a line with msg and a limit containing want was logged (the
// capture reads a pipe: a line may still be on its way).
func requireLogged(t *testing.T, logs *sessiontest.Logs, msg, want string, match func(map[string]any) bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		return len(logs.Find(func(l map[string]any) bool {
			return l["msg"] == msg && strings.Contains(fmt.Sprint(l["limit"]), want) && (match == nil || match(l))
		})) > 0
	}, 5*time.Second, time.Millisecond, "no %q line with limit %q", msg, want)
}

// TestLimitRefusalIsLogged: a connection refused for a limit is logged with that limit.
func TestLimitRefusalIsLogged(t *testing.T) {
	logs := captureLogs(t)
	l := Derive(1, 1)
	rm, err := NewResourceManager(l, false)
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
	for range l.PerIP + 1 {
		require.NoError(t, open("127.0.0.1"))
	}
	release()

	// Per IP, in handshake: 4 connections of one address, the fifth is refused.
	for range l.HandshakesPerIP {
		require.NoError(t, open("10.0.0.1"))
	}
	require.Error(t, open("10.0.0.1"))
	requireLogged(t, logs, "connection refused by a limit", "per IP address (IPv6 /64) still in handshake: 4", nil)

	// Per IP: 8 connections from one address once upgraded, the ninth is refused.
	for _, s := range scopes {
		s.(*connScope).upgraded()
	}
	for len(scopes) < l.PerIP {
		require.NoError(t, open("10.0.0.1"))
		scopes[len(scopes)-1].(*connScope).upgraded()
	}
	require.Error(t, open("10.0.0.1"))
	requireLogged(t, logs, "connection refused by a limit", "connections per IP address: 8", nil)
	release()

	// Inbound handshakes: the transient scope holds HandshakeInbound connections, from
	// addresses and subnets under their caps.
	for i := 0; len(scopes) < l.HandshakeInbound; i++ {
		require.NoError(t, open(fmt.Sprintf("10.0.%d.%d", 1+i/8, i%8+1)))
	}
	require.Error(t, open("10.0.2.1"))
	requireLogged(t, logs, "connection refused by a limit", fmt.Sprintf("inbound connections still in handshake: %d", l.HandshakeInbound), nil)
}

func TestProtocolLimits(t *testing.T) {
	l := Derive(128, 12)
	scaling := rcmgr.DefaultLimits
	protocolLimits(&scaling, l)
	got := scaling.AutoScale().ToPartialLimitConfig()
	pp := got.ProtocolPeer[session.ProtocolID]
	require.Equal(t, rcmgr.LimitVal(sessionStreamsPerPeer), pp.StreamsInbound)
	require.Equal(t, rcmgr.LimitVal(sessionStreamsPerPeer), pp.StreamsOutbound)
	require.Equal(t, rcmgr.LimitVal(sessionStreamsPerPeer), got.ServicePeer[session.ServiceName].StreamsInbound)
	require.Equal(t, rcmgr.LimitVal(l.Conns), got.Protocol[session.ProtocolID].StreamsInbound)
}

// TestSessionStreamLimit: the resource manager admits sessionStreamsPerPeer session
// streams per peer each way, refuses the next one and logs the refusal.
func TestSessionStreamLimit(t *testing.T) {
	logs := captureLogs(t)
	rm, err := NewResourceManager(Derive(128, 12), false)
	require.NoError(t, err)
	defer rm.Close()
	id := test.RandPeerIDFatal(t)
	var scopes []network.StreamManagementScope
	defer func() {
		for _, s := range scopes {
			s.Done()
		}
	}()
	for _, dir := range []network.Direction{network.DirInbound, network.DirOutbound} {
		for i := range sessionStreamsPerPeer + 1 {
			s, err := rm.OpenStream(id, dir)
			require.NoError(t, err)
			scopes = append(scopes, s)
			err = s.SetProtocol(session.ProtocolID)
			if i < sessionStreamsPerPeer {
				require.NoError(t, err, "%s stream %d", dirName(dir), i+1)
			} else {
				require.ErrorIs(t, err, network.ErrResourceLimitExceeded, "%s stream %d", dirName(dir), i+1)
			}
		}
	}
	// Another peer is not affected.
	s, err := rm.OpenStream(test.RandPeerIDFatal(t), network.DirInbound)
	require.NoError(t, err)
	scopes = append(scopes, s)
	require.NoError(t, s.SetProtocol(session.ProtocolID))
	requireLogged(t, logs, "stream refused by a limit", "4 per peer", func(l map[string]any) bool { return l["peer"] == id.String() })
	require.Equal(t, int64(2), rm.StreamRefusals())
}
