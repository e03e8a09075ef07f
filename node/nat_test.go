package node

import (
	"context"
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

// TestNATDefaults: relaying for others is on, port mapping (which talks to the router) is
// off, and the default limits are valid.
func TestNATDefaults(t *testing.T) {
	c := defaultNATConfig()
	require.True(t, c.relayService)
	require.False(t, c.portMap)
	require.NoError(t, c.relayLimits.validate())
	require.NoError(t, c.relayClient.validate())
	require.Equal(t, network.ReachabilityUnknown, c.reachability)
	_, err := newConfig([]Option{WithRelayService(true, RelayLimits{})})
	require.Error(t, err, "zero relay limits")
}
