package node

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// Hostile peers against the NAT traversal: relay abuse and sessions over relays.

// TestLimitedConnectionCarriesNoSession: a peer that reaches the node through a relay
// and opens a Witnet stream on that limited connection is refused, and no session is
// registered; the same stream on a direct connection becomes a session.
func TestLimitedConnectionCarriesNoSession(t *testing.T) {
	r := relayHost(t)
	n := startNode(t, t.TempDir())
	require.NoError(t, reserve(t, n.Host(), r))

	x := plainHost(t, "/ip4/127.0.0.1/tcp/0")
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(context.Background(), "test"), 10*time.Second)
	defer cancel()
	require.NoError(t, x.Connect(ctx, circuitTo(r, n.ID())))
	conns := x.Network().ConnsToPeer(n.ID())
	require.Len(t, conns, 1)
	require.True(t, conns[0].Stat().Limited, "relayed connection")

	str, err := x.NewStream(ctx, n.ID(), session.ProtocolID)
	if err == nil {
		raw := sessiontest.NewRawStream(str)
		if err = raw.WriteMsg(protocol.NewVersion(protocol.VersionParams{
			Magic: protocol.Magic, Timestamp: time.Now().Unix(), Nonce: protocol.RandomNonce(),
		})); err == nil {
			_, err = raw.ReadMsg()
		}
	}
	require.Error(t, err, "the node answered on a limited connection")
	require.Zero(t, n.Manager().NumSessions().Inbound(), "session on a limited connection")

	// The control: the same stream on a direct connection starts a session.
	direct := network.WithForceDirectDial(context.Background(), "test")
	require.NoError(t, x.Connect(direct, peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()}))
	str, err = x.NewStream(context.Background(), n.ID(), session.ProtocolID)
	require.NoError(t, err)
	defer str.Reset()
	require.False(t, str.Conn().Stat().Limited)
	sessiontest.NewRawStream(str).Handshake(t)
	waitFor(t, 5*time.Second, func() bool { return n.Manager().NumSessions().InboundConsolidated == 1 }, nil)
}

// TestRelayServiceLimits: the relay service refuses reservations beyond its per-IP and
// node-wide limits and relayed connections beyond its per-peer limit, counts and logs the
// refusals, and cuts a relayed connection at its byte limit; its memory stays within the
// circuits' buffers.
func TestRelayServiceLimits(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "info", "witnet/node")
	limits := RelayLimits{
		Reservations: 3, ReservationsPerIP: 2, CircuitsPerPeer: 2,
		CircuitBytes: 8 << 10, CircuitDuration: time.Minute, ReservationTTL: time.Hour, BufferBytes: 2048,
	}
	n := startNode(t, t.TempDir(), WithReachability(network.ReachabilityPublic), WithRelayService(true, limits))
	relay := n.Host()
	waitFor(t, 5*time.Second, func() bool { return handles(relay, proto.ProtoIDv2Hop) }, nil)

	// Per IP: two peers on 127.0.0.1 get a reservation, the next two do not.
	var reserved []host.Host
	for i := range 4 {
		h := plainHost(t, "/ip4/127.0.0.1/tcp/0")
		err := reserve(t, h, relay)
		if i < 2 {
			require.NoError(t, err, "reservation %d", i)
			reserved = append(reserved, h)
			continue
		}
		var rerr client.ReservationError
		require.ErrorAs(t, err, &rerr, "reservation %d", i)
	}
	// Node-wide: a third IP gets the last slot, a fourth none.
	require.NoError(t, reserve(t, plainHost(t, "/ip4/127.0.0.2/tcp/0"), relay))
	err := reserve(t, plainHost(t, "/ip4/127.0.0.3/tcp/0"), relay)
	var rerr client.ReservationError
	require.ErrorAs(t, err, &rerr)
	// The relay counts a refusal after it answered it.
	waitFor(t, 5*time.Second, func() bool {
		return counterValue(t, n.nat.metrics.relayRefusals.WithLabelValues("reservation", "reservation_refused")) == 3
	}, nil)

	// Per peer: two sources reach the reserved peer through the relay, a third does not.
	dest := reserved[0]
	received := make(chan int, 4)
	dest.SetStreamHandler("/test/sink", func(s network.Stream) {
		k, _ := io.Copy(io.Discard, s)
		received <- int(k)
		_ = s.Reset()
	})
	ctx, cancel := context.WithTimeout(network.WithAllowLimitedConn(context.Background(), "test"), 10*time.Second)
	defer cancel()
	var sources []host.Host
	for i := range 3 {
		s := plainHost(t, "/ip4/127.0.0.1/tcp/0")
		err := s.Connect(ctx, circuitTo(relay, dest.ID()))
		if i < 2 {
			require.NoError(t, err, "circuit %d", i)
			sources = append(sources, s)
		} else {
			require.Error(t, err, "circuit beyond the per-peer limit")
		}
	}
	waitFor(t, 5*time.Second, func() bool {
		return counterValue(t, n.nat.metrics.relayRefusals.WithLabelValues("circuit", "resource_limit_exceeded")) == 1
	}, nil)
	require.NoError(t, relay.Network().ResourceManager().ViewService("libp2p.relay/v2", func(s network.ServiceScope) error {
		require.LessOrEqual(t, s.Stat().Memory, int64(2*2*limits.BufferBytes), "relay memory beyond two circuits' buffers")
		return nil
	}))

	// Per circuit: more bytes than the limit are cut. The relay closes the relayed
	// connection (its time limit is a minute away); what the sink got, if the stream
	// was dispatched before the cut, is under the limit.
	str, err := sources[0].NewStream(ctx, dest.ID(), "/test/sink")
	require.NoError(t, err)
	go func() {
		_, _ = str.Write(make([]byte, 64<<10))
		_ = str.Close()
	}()
	waitFor(t, 10*time.Second, func() bool { return len(sources[0].Network().ConnsToPeer(dest.ID())) == 0 },
		func() string { return "the relay did not cut the connection at its byte limit" })
	select {
	case k := <-received:
		require.Less(t, k, int(limits.CircuitBytes), "bytes relayed beyond the limit")
	default:
	}
	refusals := logs.Find(func(l map[string]any) bool { return l["msg"] == "relay service refused a request" })
	require.NotEmpty(t, refusals, "refusal not logged")
	require.Equal(t, "reservation", refusals[0]["request"])
}
