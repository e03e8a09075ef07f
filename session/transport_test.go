package session

import (
	"encoding/json"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/libp2p/go-libp2p/core/test"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// tcpPeer is the Peer of a plain-TCP session with the peer at ap.
func tcpPeer(ap string) Peer {
	a := netip.MustParseAddrPort(ap)
	return Peer{Transport: TransportTCP, AddrPort: a, IP: a.Addr().Unmap(), Addr: tcpAddr(netip.AddrPortFrom(a.Addr().Unmap(), a.Port()))}
}

// multiaddrAddress is a valid libp2p-form Address.address (49 bytes), which a plain-TCP
// peer may not send.
func multiaddrAddress(t testing.TB) []byte {
	t.Helper()
	m := ma.StringCast("/ip4/1.2.3.4/tcp/21337/p2p/12D3KooWLg2nHsx9RGgbgaQuRfjjvPKEdqbN4jeULdycG8Jhzx5q")
	b, err := protocol.MultiaddrAddress(m)
	require.NoError(t, err)
	return b
}

func TestKey(t *testing.T) {
	id := test.RandPeerIDFatal(t)
	require.Equal(t, PeerKey(id), Peer{ID: id}.Key())
	require.Equal(t, TransportLibp2p, PeerKey(id).Transport())
	require.Equal(t, id, PeerKey(id).PeerID())
	require.Equal(t, id.String(), PeerKey(id).String())

	k := TCPKey(netip.MustParseAddrPort("1.2.3.4:21337"))
	require.Equal(t, TransportTCP, k.Transport())
	require.Equal(t, "tcp/1.2.3.4:21337", k.String())
	require.Empty(t, k.PeerID())
	require.Equal(t, k, TCPKey(netip.MustParseAddrPort("[::ffff:1.2.3.4]:21337")), "a mapped address names the IPv4 peer")
	require.Equal(t, k, tcpPeer("1.2.3.4:21337").Key())
	require.NotEqual(t, k, TCPKey(netip.MustParseAddrPort("1.2.3.4:21338")), "another port is another peer")
	require.NotEqual(t, k, PeerKey(""))
	require.True(t, Key{}.IsZero())
	require.Equal(t, PeerKey(""), Key{}, "a peer without ID has the zero key")
	require.Equal(t, "tcp", TransportTCP.String())
	require.Equal(t, "libp2p", TransportLibp2p.String())

	require.Equal(t, "1.2.3.4:21337", tcpPeer("1.2.3.4:21337").String())
}

// idleTCP returns a plain-TCP session that is never started.
func idleTCP(ap string, t Type) *Session { return New(nopConn{}, tcpPeer(ap), t, Config{}) }

func TestManagerTCPLimitsAndRanges(t *testing.T) {
	m := NewManager(ManagerConfig{InboundLimit: 2, OutboundLimit: 1, TCPInboundLimit: 1, TCPOutboundLimit: 2,
		RejectSybilInbounds: true, SybilOnLoopback: true})
	in, out := m.LimitsOf(TransportTCP)
	require.Equal(t, [2]int{1, 2}, [2]int{in, out})

	// Two sessions from one IP on two ports are two peers; the sybil range holds them
	// apart, per transport.
	a := idleTCP("10.0.0.1:4000", Inbound)
	require.NoError(t, m.Register(a))
	b := idleTCP("10.9.0.1:4001", Inbound)
	require.ErrorIs(t, m.Register(b), ErrMaxPeersReached, "the TCP inbound limit is 1")
	libp2pIn := idleSession(test.RandPeerIDFatal(t), Inbound, "10.0.0.2")
	require.NoError(t, m.Register(libp2pIn), "libp2p inbound has its own limit and ranges")

	m.SetLimitsOf(TransportTCP, 3, 2)
	sameRange := idleTCP("10.0.0.1:4002", Inbound)
	var sre *SameRangeError
	require.ErrorAs(t, m.Register(sameRange), &sre, "same IP, other port: same range")

	o1, o2, o3 := idleTCP("10.1.0.1:21337", Outbound), idleTCP("10.1.0.1:21338", Outbound), idleTCP("10.2.0.1:21337", Outbound)
	require.NoError(t, m.Register(o1))
	require.ErrorIs(t, m.Register(idleTCP("10.1.0.1:21337", Outbound)), ErrAddressAlreadyRegistered)
	require.NoError(t, m.Register(o2), "another port of the same IP is another peer")
	require.ErrorIs(t, m.Register(o3), ErrMaxPeersReached)
	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Outbound, "10.3.0.1")), "libp2p outbound is not full")

	require.NoError(t, m.Consolidate(o1))
	require.Equal(t, SessionCounts{InboundUnconsolidated: 1, OutboundUnconsolidated: 1, OutboundConsolidated: 1}, m.NumSessionsOf(TransportTCP))
	require.Equal(t, SessionCounts{InboundUnconsolidated: 1, OutboundUnconsolidated: 1}, m.NumSessionsOf(TransportLibp2p))
	require.Equal(t, SessionCounts{InboundUnconsolidated: 2, OutboundUnconsolidated: 2, OutboundConsolidated: 1}, m.NumSessions())

	s, ok := m.LookupKey(TCPKey(netip.MustParseAddrPort("10.1.0.1:21337")), Outbound)
	require.True(t, ok)
	require.Same(t, o1, s)
	_, ok = m.Lookup("", Outbound)
	require.False(t, ok, "TCP peers are not found by an empty peer ID")

	// Leaving frees the range and the limit.
	m.Unregister(a, Inbound, Unconsolidated)
	require.NoError(t, m.Register(idleTCP("10.0.0.1:4003", Inbound)))
	m.Unregister(o1, Outbound, Consolidated)
	require.NoError(t, m.Register(idleTCP("10.2.0.1:21337", Outbound)))
	require.Equal(t, 2, m.DropOutbound([]Key{o2.Key(), TCPKey(netip.MustParseAddrPort("10.2.0.1:21337"))}))
	require.Zero(t, m.NumSessionsOf(TransportTCP).Outbound())
}

// eligibility is the sessions_outbound_eligibility vector: our public address, the
// registered sessions, and which addresses may be dialled as a new outbound session.
type eligibility struct {
	Public                string
	Outbound, Inbound     []string
	Eligible, NotEligible []string
}

func eligibilityVector(t *testing.T) eligibility {
	t.Helper()
	for _, v := range mgrVectors(t, "sessions") {
		if v.Name != "sessions_outbound_eligibility" {
			continue
		}
		var in struct {
			Public     string   `json:"public_address"`
			Outbound   []string `json:"registered_outbound"`
			InboundReg []string `json:"registered_inbound"`
		}
		var exp struct {
			Eligible    []string `json:"eligible"`
			NotEligible []string `json:"not_eligible"`
		}
		require.NoError(t, json.Unmarshal(v.Input, &in))
		require.NoError(t, json.Unmarshal(v.Expected, &exp))
		require.NotEmpty(t, exp.Eligible)
		require.NotEmpty(t, exp.NotEligible)
		return eligibility{in.Public, in.Outbound, in.InboundReg, exp.Eligible, exp.NotEligible}
	}
	t.Fatal("vector sessions_outbound_eligibility not found")
	return eligibility{}
}

func TestManagerTCPOutboundEligibilityVector(t *testing.T) {
	v := eligibilityVector(t)
	// witnet-rust's own setting: sessions keyed by socket address.
	m := NewManager(ManagerConfig{PublicTCPAddrs: []netip.AddrPort{netip.MustParseAddrPort(v.Public)}})
	for _, a := range v.Outbound {
		require.NoError(t, m.Register(idleTCP(a, Outbound)))
	}
	for _, a := range v.Inbound {
		require.NoError(t, m.Register(idleTCP(a, Inbound)))
	}
	for _, a := range v.Eligible {
		require.True(t, m.OutboundEligibleKey(TCPKey(netip.MustParseAddrPort(a))), a)
	}
	for _, a := range v.NotEligible {
		require.False(t, m.OutboundEligibleKey(TCPKey(netip.MustParseAddrPort(a))), a)
	}
	require.False(t, m.OutboundEligibleKey(Key{}))
}

// tcpPipePair consolidates an Outbound plain-TCP session of the manager m with a far
// Inbound one over net.Pipe, in the test's synctest bubble.
func tcpPipePair(t *testing.T, m *Manager, farAP string) (out, far *Session) {
	t.Helper()
	c1, c2 := net.Pipe()
	out = New(c1, tcpPeer(farAP), Outbound, Config{Registry: m})
	far = New(c2, tcpPeer("10.0.0.1:40000"), Inbound, Config{})
	t.Cleanup(func() {
		out.Close(nil)
		far.Close(nil)
		<-out.Done()
		<-far.Done()
	})
	far.Start()
	out.Start()
	requireSettled(t, func() bool { return out.Status() == Consolidated && far.Status() == Consolidated }, "handshake")
	return out, far
}

func TestManagerTCPBeaconsAndConsensus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		beacons := make(chan PeerBeacons, 1)
		m := NewManager(ManagerConfig{OnPeerBeacons: func(b PeerBeacons) { beacons <- b }})
		m.BeginEpoch(3)
		// Two witnet-rust peers on one host: two keys.
		a, farA := tcpPipePair(t, m, "10.1.0.1:21337")
		b, farB := tcpPipePair(t, m, "10.1.0.1:21338")
		got, _ := m.PeerBeacons(3)
		require.ElementsMatch(t, []Key{a.Key(), b.Key()}, got.Missing)

		require.NoError(t, farA.SendLastBeacon(protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(30, protocol.Hash{1}), nil)))
		require.NoError(t, farB.SendLastBeacon(protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(31, protocol.Hash{2}), nil)))
		synctest.Wait()
		rep := <-beacons
		require.Len(t, rep.Beacons, 2)
		require.EqualValues(t, 31, rep.Beacons[b.Key()].GetHighestBlockCheckpoint().GetCheckpoint())

		require.NoError(t, m.SetConsensus([]Key{a.Key()}))
		require.Equal(t, []Key{a.Key()}, m.ConsensusPeers())
		require.Equal(t, 1, m.NumSessionsOf(TransportTCP).Consensus)
		require.Zero(t, m.NumSessionsOf(TransportLibp2p).Consensus)
		s, err := m.Anycast(protocol.NewGetPeers(protocol.Magic), true)
		require.NoError(t, err)
		require.Same(t, a, s)
	})
}

func TestTCPSessionSendsLegacyAddresses(t *testing.T) {
	public := protocol.LegacyAddress(netip.MustParseAddrPort("203.0.113.7:21337"))
	for _, tc := range []struct {
		name         string
		sender, want []byte
	}{
		{"no public address", nil, make([]byte, 6)},
		{"a multiaddr is never sent over TCP", multiaddrAddress(t), make([]byte, 6)},
		{"legacy public address", public, public},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				e.cfg.SenderAddress = tc.sender
				c1, c2 := net.Pipe()
				p := newPipePeer(t, c2)
				// Dialled as given: an IPv4-mapped address stays 18 bytes, as witnet-rust
				// encodes it.
				startSession(t, c1, tcpPeer("[::ffff:198.51.100.9]:21337"), Outbound, e.cfg)
				v := p.expect(protocol.KindVersion).GetKind().GetVersion()
				require.Equal(t, tc.want, v.GetSenderAddress().GetAddress())
				require.Equal(t, protocol.LegacyAddress(netip.MustParseAddrPort("[::ffff:198.51.100.9]:21337")), v.GetReceiverAddress().GetAddress())
				require.Len(t, v.GetReceiverAddress().GetAddress(), 18)
			})
		})
	}
}

func TestTCPSessionInboundReceiverIsSourceAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		c1, c2 := net.Pipe()
		p := newPipePeer(t, c2)
		s := startSession(t, c1, tcpPeer("192.0.2.5:51234"), Inbound, e.cfg)
		require.NoError(t, p.send(peerVersion(e.clock, nil, 42)))
		p.expect(protocol.KindVerack)
		v := p.expect(protocol.KindVersion).GetKind().GetVersion()
		require.Equal(t, protocol.LegacyAddress(netip.MustParseAddrPort("192.0.2.5:51234")), v.GetReceiverAddress().GetAddress())
		require.NoError(t, p.send(protocol.NewVerack(protocol.Magic)))
		requireSettled(t, func() bool { return s.Status() == Consolidated }, "consolidation")

		// The Peers reply carries only what a witnet-rust node decodes.
		legacy := protocol.LegacyAddress(netip.MustParseAddrPort("[2001:db8::1]:21337"))
		e.book.mu.Lock()
		e.book.tried = [][]byte{multiaddrAddress(t), legacy, protocol.LegacyAddress(netip.MustParseAddrPort("10.0.0.9:21337"))}
		e.book.mu.Unlock()
		require.NoError(t, p.send(protocol.NewGetPeers(protocol.Magic)))
		var got [][]byte
		for _, a := range p.expect(protocol.KindPeers).GetKind().GetPeers_().GetPeers() {
			got = append(got, a.GetAddress())
		}
		require.Equal(t, [][]byte{legacy, protocol.LegacyAddress(netip.MustParseAddrPort("10.0.0.9:21337"))}, got)
	})
}

// TestTCPSessionRefusesMultiaddrs: an address that is not 6 or 18 bytes, in a Version or
// in a solicited Peers, is a malformed message over TCP, as in witnet-rust: the session
// ends as undecodable and the peer is iced. The same messages are valid over libp2p.
func TestTCPSessionRefusesMultiaddrs(t *testing.T) {
	bad := func(t *testing.T) map[string][]byte {
		return map[string][]byte{"multiaddr": multiaddrAddress(t), "5 bytes": {1, 2, 3, 4, 5}, "19 bytes": make([]byte, 19), "empty": {}}
	}
	t.Run("Version", func(t *testing.T) {
		for name, addr := range bad(t) {
			for _, field := range []string{"sender", "receiver"} {
				t.Run(name+" "+field, func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						logs := sessiontest.CaptureLogs(t, "info", "witnet/session")
						e := newEnv(NewFakeClock(t0))
						c1, c2 := net.Pipe()
						p := newPipePeer(t, c2)
						s := startSession(t, c1, tcpPeer("192.0.2.5:51234"), Inbound, e.cfg)
						v := peerVersion(e.clock, nil, 42)
						a := v.GetKind().GetVersion().SenderAddress
						if field == "receiver" {
							a = &pb.Address{}
							v.GetKind().GetVersion().ReceiverAddress = a
						}
						a.Address = addr
						// The session may reset the pipe before the write completes.
						_ = p.send(v)
						waitDone(t, s)
						require.ErrorIs(t, s.Err(), ReasonDecode)
						require.Equal(t, 1, e.book.icedCount())
						synctest.Wait()
						require.NotEmpty(t, logs.Find(func(l map[string]any) bool {
							return l["msg"] == "session ended" && l["transport"] == "tcp" && l["peer"] == "192.0.2.5:51234" && l["dir"] == "inbound"
						}), "the end is logged with peer, direction and transport")
					})
				})
			}
		}
	})
	t.Run("Peers", func(t *testing.T) {
		for name, addr := range bad(t) {
			t.Run(name, func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					e := newEnv(NewFakeClock(t0))
					c1, c2 := net.Pipe()
					p := newPipePeer(t, c2)
					s := startSession(t, c1, tcpPeer("192.0.2.6:21337"), Outbound, e.cfg)
					consolidateOutbound(t, p, e.clock, s)
					require.NoError(t, s.GetPeers())
					p.expect(protocol.KindGetPeers)
					ok := protocol.LegacyAddress(netip.MustParseAddrPort("10.0.0.9:21337"))
					msg := &pb.Message{Magic: uint32(protocol.Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Peers_{
						Peers_: &pb.Peers{Peers: []*pb.Address{{Address: ok}, {Address: addr}}}}}}
					_ = p.send(msg)
					waitDone(t, s)
					require.ErrorIs(t, s.Err(), ReasonDecode)
					require.ErrorIs(t, s.Err(), protocol.ErrInvalidAddress)
					require.Equal(t, 1, e.book.icedCount())
					require.Empty(t, e.book.addedAddrs(), "the whole message is rejected")
				})
			})
		}
	})
}

func TestMaxHandshakeFrameSize(t *testing.T) {
	for _, tc := range []struct {
		name      string
		afterward bool
	}{{"before the handshake", false}, {"after it", true}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				e.cfg.MaxHandshakeFrameSize = 1 << 10
				s, p := pipeSession(t, Inbound, e)
				entries := make([]*pb.InventoryEntry, 100) // about 4 KiB
				for i := range entries {
					entries[i] = protocol.BlockEntry(protocol.Hash{byte(i), 1})
				}
				ann, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
				require.NoError(t, err)
				if !tc.afterward {
					_ = p.send(ann)
					waitDone(t, s)
					require.ErrorIs(t, s.Err(), ReasonDecode)
					require.ErrorContains(t, s.Err(), "exceeds the maximum of 1024 bytes")
					return
				}
				consolidateInbound(t, p, e.clock, s)
				require.NoError(t, p.send(ann))
				require.Len(t, p.expect(protocol.KindInventoryRequest).GetKind().GetInventoryRequest().GetInventory(), 100)
			})
		})
	}
}
