package node

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// TestSingleTransport: two nodes that listen on QUIC alone, or on TCP alone, connect,
// consolidate and gossip a transaction, over that transport only.
func TestSingleTransport(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string
		code   int
	}{
		{"tcp", "/ip4/127.0.0.1/tcp/0", ma.P_TCP},
		{"quic", "/ip4/127.0.0.1/udp/0/quic-v1", ma.P_QUIC_V1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listen := ma.StringCast(tc.listen)
			a := startNode(t, t.TempDir(), WithListenAddrs(listen), WithRPCAddr("127.0.0.1:0"))
			b := startNode(t, t.TempDir(), WithListenAddrs(listen), WithRPCAddr("127.0.0.1:0"), WithBootstrap(a.Addrs()[0]))
			waitFor(t, 10*time.Second, func() bool {
				return len(a.Manager().ConsolidatedPeers()) == 1 && len(b.Manager().ConsolidatedPeers()) == 1
			}, func() string { return describe([]*Node{a, b}) })
			for _, n := range []*Node{a, b} {
				for _, p := range n.Manager().ConsolidatedPeers() {
					require.True(t, hasProtocol(p.Peer.Addr, tc.code), "session over %s", p.Peer.Addr)
				}
				for _, c := range n.Host().Network().Conns() {
					require.True(t, hasProtocol(c.RemoteMultiaddr(), tc.code), "connection over %s", c.RemoteMultiaddr())
				}
			}
			ca := rpc.NewClient(a.RPCAddr().String(), 0)
			cb := rpc.NewClient(b.RPCAddr().String(), 0)
			h, err := inventory.SubmitItem(context.Background(), ca, protocol.KindTransaction, inventorytest.TxBytes(uint64(tc.code)))
			require.NoError(t, err)
			waitFor(t, 10*time.Second, func() bool {
				got, err := inventory.GetItem(context.Background(), cb, h)
				return err == nil && got.Kind == "transaction"
			}, nil)
		})
	}
}

func hasProtocol(a ma.Multiaddr, code int) bool {
	_, err := a.ValueForProtocol(code)
	return err == nil
}

// plainHost starts a libp2p host on 127.0.0.1 (relay transport on, libp2p's defaults
// otherwise) and closes it when the test ends.
func plainHost(t *testing.T, listen string, opts ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings(listen), libp2p.DisableMetrics()}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// relayHost starts a plain libp2p host that runs the relay service.
func relayHost(t *testing.T) host.Host {
	t.Helper()
	r := plainHost(t, "/ip4/127.0.0.1/tcp/0", libp2p.EnableRelayService(), libp2p.ForceReachabilityPublic())
	waitFor(t, 5*time.Second, func() bool { return handles(r, proto.ProtoIDv2Hop) }, nil)
	return r
}

func handles(h host.Host, p string) bool {
	for _, q := range h.Mux().Protocols() {
		if string(q) == p {
			return true
		}
	}
	return false
}

// circuitTo returns the relay address of p through relay r.
func circuitTo(r host.Host, p peer.ID) peer.AddrInfo {
	a := r.Addrs()[0].Encapsulate(ma.StringCast("/p2p/" + r.ID().String() + "/p2p-circuit"))
	return peer.AddrInfo{ID: p, Addrs: []ma.Multiaddr{a}}
}

func reserve(t *testing.T, h host.Host, r host.Host) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := client.Reserve(ctx, h, peer.AddrInfo{ID: r.ID(), Addrs: r.Addrs()})
	return err
}

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

// TestRelayDialNeedsHolePunching: a session dial to a peer reachable only through a
// relay is declined, without icing the peer, while the node cannot hole punch (it has no
// public address, as on loopback).
func TestRelayDialNeedsHolePunching(t *testing.T) {
	r := relayHost(t)
	n := startNode(t, t.TempDir())
	other := startNode(t, t.TempDir())
	require.NoError(t, reserve(t, other.Host(), r))
	require.False(t, n.canHolePunch())
	_, err := n.dialSession(context.Background(), circuitTo(r, other.ID()), session.Outbound)
	require.ErrorIs(t, err, session.ReasonRegisterRefused)
	require.Equal(t, 1.0, counterValue(t, n.nat.metrics.relayedDials.WithLabelValues("not_ready")))
	require.Empty(t, n.Host().Network().ConnsToPeer(other.ID()), "connected anyway")
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

// TestReachabilityReported: nodeStats and the metrics give the reachability (unknown on
// loopback, where AutoNAT never decides; as fixed by WithReachability otherwise) and the
// announced addresses; libp2p's NAT metrics are registered.
func TestReachabilityReported(t *testing.T) {
	a := startNode(t, t.TempDir())
	st, err := (*rpcBackend)(a).NodeStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, ReachabilityUnknown, st.Reachability)
	require.NotEmpty(t, st.Addresses)
	for _, s := range st.Addresses {
		require.True(t, strings.HasSuffix(s, "/p2p/"+a.ID().String()), s)
	}

	b := startNode(t, t.TempDir(), WithReachability(network.ReachabilityPublic), WithLibp2pMetrics(true))
	st, err = (*rpcBackend)(b).NodeStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, ReachabilityPublic, st.Reachability)
	families, err := b.Registry().Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{
		"witnet_nat_reachability", "witnet_nat_relay_reservations", "witnet_nat_connections",
		"witnet_nat_hole_punches_total", "witnet_nat_relayed_dials_total",
		"libp2p_autonat_reachability_status", "libp2p_relaysvc_status",
	} {
		require.True(t, names[want], "metric %s missing", want)
	}
	require.Equal(t, 1.0, gaugeValue(t, b.nat.metrics.reachability.WithLabelValues(ReachabilityPublic)))
	require.Equal(t, 0.0, gaugeValue(t, b.nat.metrics.reachability.WithLabelValues(ReachabilityUnknown)))
}

// TestPrivateNodeReservesWithSessionPeer: a private node reserves with the relays among
// its session peers, never with another relay it merely has a connection to, counts the
// reservation, and announces its relay address in Version.sender_address.
func TestPrivateNodeReservesWithSessionPeer(t *testing.T) {
	r := startNode(t, t.TempDir(), WithReachability(network.ReachabilityPublic))
	waitFor(t, 5*time.Second, func() bool { return handles(r.Host(), proto.ProtoIDv2Hop) }, nil)
	stranger := relayHost(t) // offers the service, but is no Witnet peer
	a := startNode(t, t.TempDir(), WithReachability(network.ReachabilityPrivate), WithBootstrap(r.Addrs()[0]),
		WithRelayClient(RelayClientConfig{Relays: 2, Candidates: 1, BootDelay: 0, Backoff: time.Minute, CandidateInterval: 50 * time.Millisecond}))
	require.NoError(t, a.Host().Connect(context.Background(), peer.AddrInfo{ID: stranger.ID(), Addrs: stranger.Addrs()}))

	waitFor(t, 20*time.Second, func() bool { return gaugeValue(t, a.nat.metrics.reservations) == 1 },
		func() string { return describe([]*Node{a, r}) })
	offered := a.nat.relayCandidates(context.Background(), 10)
	var ids []peer.ID
	for ai := range offered {
		ids = append(ids, ai.ID)
	}
	require.Equal(t, []peer.ID{r.ID()}, ids, "relay candidates")
	st, err := (*rpcBackend)(a).NodeStats(context.Background())
	require.NoError(t, err)
	require.Equal(t, ReachabilityPrivate, st.Reachability)

	// libp2p makes relay addresses from the relay's public addresses only, so on loopback
	// there are none: give the node the event it would get from a public relay, and see
	// the address become our Version.sender_address.
	circuit := r.Addrs()[0].Decapsulate(ma.StringCast("/p2p/" + r.ID().String())).
		Encapsulate(ma.StringCast("/p2p/" + r.ID().String() + "/p2p-circuit"))
	a.nat.observe(a.Host(), event.EvtAutoRelayAddrsUpdated{RelayAddrs: []ma.Multiaddr{circuit}})
	sender, err := protocol.ParseAddress(a.senderAddress())
	require.NoError(t, err)
	m, err := sender.Multiaddr()
	require.NoError(t, err)
	require.Equal(t, circuit.Encapsulate(ma.StringCast("/p2p/"+a.ID().String())).String(), m.String(), "Version.sender_address")
}

// TestAnnounce: configured addresses replace the host's, relay addresses stay, and a
// private node holding relay addresses stops announcing its public ones.
func TestAnnounce(t *testing.T) {
	pub := ma.StringCast("/ip4/1.2.3.4/tcp/21337")
	lan := ma.StringCast("/ip4/192.168.1.2/tcp/21337")
	relayID := "12D3KooWRBhwfeP2Y7TCx1Q2yWfoBd8gSDDUoQpRNu62yZXBTBZR"
	circ := ma.StringCast("/ip4/5.6.7.8/tcp/21337/p2p/" + relayID + "/p2p-circuit")
	conf := ma.StringCast("/dns4/example.org/tcp/21337")
	s := newNATState(natConfig{}, nil)
	require.Equal(t, []ma.Multiaddr{pub, lan, circ}, s.announce(nil, []ma.Multiaddr{pub, lan, circ}))
	require.Equal(t, []ma.Multiaddr{conf, circ}, s.announce([]ma.Multiaddr{conf}, []ma.Multiaddr{pub, lan, circ}))
	s.reach.Store(int32(network.ReachabilityPrivate))
	require.Equal(t, []ma.Multiaddr{lan, circ}, s.announce(nil, []ma.Multiaddr{pub, lan, circ}))
	require.Equal(t, []ma.Multiaddr{pub, lan}, s.announce(nil, []ma.Multiaddr{pub, lan}), "no relay address yet")

	id, err := peer.Decode(relayID)
	require.NoError(t, err)
	require.Equal(t, []peer.ID{id}, relayPeers([]ma.Multiaddr{circ, circ}))
	quic := ma.StringCast("/ip4/5.6.7.8/udp/21337/quic-v1/p2p/" + relayID + "/p2p-circuit")
	require.Equal(t, circ, bestRelayed([]ma.Multiaddr{pub, quic, circ}))
	require.Equal(t, quic, bestRelayed([]ma.Multiaddr{quic}))
	require.Nil(t, bestRelayed([]ma.Multiaddr{pub}))
	require.Nil(t, bestAddr([]ma.Multiaddr{circ}), "a relay address is no direct address")
}

func gaugeValue(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, g.Write(&m))
	return m.GetGauge().GetValue()
}
