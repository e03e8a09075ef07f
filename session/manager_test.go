package session

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// ---- fakes shared by the manager and libp2p tests ----

// mgrBook is an AddressBook that records what sessions and the manager tell it.
type mgrBook struct {
	mu                 sync.Mutex
	iced, good, remove []peer.ID
}

func (b *mgrBook) PeersForGetPeers(Peer) [][]byte { return nil }
func (b *mgrBook) AddPeers(Peer, [][]byte)        {}
func (b *mgrBook) Good(p Peer)                    { b.add(&b.good, p.ID) }
func (b *mgrBook) Ice(p Peer)                     { b.add(&b.iced, p.ID) }
func (b *mgrBook) RemoveTried(p Peer)             { b.add(&b.remove, p.ID) }

func (b *mgrBook) add(list *[]peer.ID, id peer.ID) {
	b.mu.Lock()
	*list = append(*list, id)
	b.mu.Unlock()
}

// snapshot returns copies of the three lists.
func (b *mgrBook) snapshot() (iced, good, removed []peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.iced), slices.Clone(b.good), slices.Clone(b.remove)
}

// mgrConnMgr is a connection manager that only keeps protection tags.
type mgrConnMgr struct {
	connmgr.NullConnMgr
	mu   sync.Mutex
	tags map[peer.ID]map[string]bool
}

func (c *mgrConnMgr) Protect(id peer.ID, tag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tags == nil {
		c.tags = map[peer.ID]map[string]bool{}
	}
	if c.tags[id] == nil {
		c.tags[id] = map[string]bool{}
	}
	c.tags[id][tag] = true
}

func (c *mgrConnMgr) Unprotect(id peer.ID, tag string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tags[id], tag)
	if len(c.tags[id]) == 0 {
		delete(c.tags, id)
		return false
	}
	return true
}

func (c *mgrConnMgr) IsProtected(id peer.ID, tag string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if tag == "" {
		return len(c.tags[id]) > 0
	}
	return c.tags[id][tag]
}

// nopConn is the stream of a session that is never started.
type nopConn struct{}

func (nopConn) Read([]byte) (int, error)    { return 0, io.EOF }
func (nopConn) Write(b []byte) (int, error) { return len(b), nil }
func (nopConn) Close() error                { return nil }

// idleSession returns a session that is never started, for the pure bookkeeping tests.
func idleSession(id peer.ID, t Type, ip string) *Session {
	p := Peer{ID: id}
	if ip != "" {
		p.IP = netip.MustParseAddr(ip)
		p.Addr = ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/4000", ip))
	}
	return New(nopConn{}, p, t, Config{})
}

// pipeEnd is one side of pipePair.
type pipeEnd struct {
	reg   Registry
	id    peer.ID
	ip    string
	book  AddressBook
	chain Chain
}

// pipePair runs a handshake over net.Pipe between an Outbound session of dialer and an
// Inbound session of listener, in the test's synctest bubble, and checks that both are
// consolidated once it settled. Both end with the test.
func pipePair(t *testing.T, dialer, listener pipeEnd) (out, in *Session) {
	t.Helper()
	c1, c2 := net.Pipe()
	peerOf := func(e pipeEnd) Peer {
		return Peer{ID: e.id, IP: netip.MustParseAddr(e.ip), Addr: ma.StringCast("/ip4/" + e.ip + "/tcp/21337")}
	}
	in = New(c2, peerOf(dialer), Inbound, Config{Registry: listener.reg, AddressBook: listener.book, Chain: listener.chain})
	out = New(c1, peerOf(listener), Outbound, Config{Registry: dialer.reg, AddressBook: dialer.book, Chain: dialer.chain})
	t.Cleanup(func() {
		out.Close(nil)
		in.Close(nil)
		<-out.Done()
		<-in.Done()
	})
	in.Start()
	out.Start()
	requireSettled(t, func() bool {
		return out.Status() == Consolidated && in.Status() == Consolidated
	}, "handshake over a pipe")
	return out, in
}

// ---- bookkeeping ----

func TestManagerRounds(t *testing.T) {
	a, b, c := test.RandPeerIDFatal(t), test.RandPeerIDFatal(t), test.RandPeerIDFatal(t)
	sess := map[string]*Session{
		"inA":  idleSession(a, Inbound, "10.0.0.1"),
		"inA2": idleSession(a, Inbound, "10.0.0.1"),
		"outA": idleSession(a, Outbound, "10.0.0.1"),
		"inB":  idleSession(b, Inbound, "10.64.0.1"),
		"inC":  idleSession(c, Inbound, "10.128.0.1"),
		"outB": idleSession(b, Outbound, "10.64.0.1"),
		"feel": idleSession(c, Feeler, "10.128.0.1"),
	}
	cm := &mgrConnMgr{}
	m := NewManager(ManagerConfig{InboundLimit: 2, OutboundLimit: 1, ConnManager: cm})
	type counts = SessionCounts
	rounds := []struct {
		name string
		op   func() error
		want error
		n    counts
	}{
		{"feeler register", func() error { return m.Register(sess["feel"]) }, ErrNotExpectedFeeler, counts{}},
		{"feeler consolidate", func() error { return m.Consolidate(sess["feel"]) }, ErrNotExpectedFeeler, counts{}},
		{"register inA", func() error { return m.Register(sess["inA"]) }, nil, counts{InboundUnconsolidated: 1}},
		{"second inbound of A", func() error { return m.Register(sess["inA2"]) }, ErrAddressAlreadyRegistered, counts{InboundUnconsolidated: 1}},
		{"outbound of A too", func() error { return m.Register(sess["outA"]) }, nil, counts{InboundUnconsolidated: 1, OutboundUnconsolidated: 1}},
		{"register inB", func() error { return m.Register(sess["inB"]) }, nil, counts{InboundUnconsolidated: 2, OutboundUnconsolidated: 1}},
		{"inbound limit", func() error { return m.Register(sess["inC"]) }, ErrMaxPeersReached, counts{InboundUnconsolidated: 2, OutboundUnconsolidated: 1}},
		{"limit before duplicate", func() error { return m.Register(sess["inA2"]) }, ErrMaxPeersReached, counts{InboundUnconsolidated: 2, OutboundUnconsolidated: 1}},
		{"outbound limit", func() error { return m.Register(sess["outB"]) }, ErrMaxPeersReached, counts{InboundUnconsolidated: 2, OutboundUnconsolidated: 1}},
		{"consolidate unregistered", func() error { return m.Consolidate(sess["inA2"]) }, ErrAddressNotFound, counts{InboundUnconsolidated: 2, OutboundUnconsolidated: 1}},
		{"consolidate inA", func() error { return m.Consolidate(sess["inA"]) }, nil, counts{InboundUnconsolidated: 1, InboundConsolidated: 1, OutboundUnconsolidated: 1}},
		{"consolidate inA twice", func() error { return m.Consolidate(sess["inA"]) }, ErrAddressNotFound, counts{InboundUnconsolidated: 1, InboundConsolidated: 1, OutboundUnconsolidated: 1}},
		{"consolidate outA", func() error { return m.Consolidate(sess["outA"]) }, nil, counts{InboundUnconsolidated: 1, InboundConsolidated: 1, OutboundConsolidated: 1}},
		{"lowered limit refuses consolidation", func() error {
			m.SetLimits(1, 1)
			return m.Consolidate(sess["inB"])
		}, ErrMaxPeersReached, counts{InboundUnconsolidated: 1, InboundConsolidated: 1, OutboundConsolidated: 1}},
		{"stale unregister ignored", func() error {
			m.Unregister(sess["inA2"], Inbound, Unconsolidated)
			return nil
		}, nil, counts{InboundUnconsolidated: 1, InboundConsolidated: 1, OutboundConsolidated: 1}},
		{"unregister inA", func() error {
			m.Unregister(sess["inA"], Inbound, Consolidated)
			return nil
		}, nil, counts{InboundUnconsolidated: 1, OutboundConsolidated: 1}},
		{"consolidate inB now", func() error { return m.Consolidate(sess["inB"]) }, nil, counts{InboundConsolidated: 1, OutboundConsolidated: 1}},
		{"A may register inbound again", func() error {
			m.SetLimits(2, 1)
			return m.Register(sess["inA2"])
		}, nil, counts{InboundUnconsolidated: 1, InboundConsolidated: 1, OutboundConsolidated: 1}},
	}
	for _, r := range rounds {
		err := r.op()
		if r.want == nil {
			require.NoError(t, err, r.name)
		} else {
			require.ErrorIs(t, err, r.want, r.name)
		}
		require.Equal(t, r.n, m.NumSessions(), r.name)
	}

	// Protection follows consolidation per direction.
	require.True(t, cm.IsProtected(a, ProtectTag+"/outbound"))
	require.False(t, cm.IsProtected(a, ProtectTag+"/inbound"), "inA was unregistered")
	require.True(t, cm.IsProtected(b, ProtectTag+"/inbound"))
	require.False(t, cm.IsProtected(c, ""))

	got, ok := m.Lookup(a, Inbound)
	require.True(t, ok)
	require.Same(t, sess["inA2"], got)
	_, ok = m.Lookup(c, Inbound)
	require.False(t, ok)
	_, ok = m.Lookup(a, Feeler)
	require.False(t, ok)

	peers := m.ConsolidatedPeers()
	require.Len(t, peers, 2)
	require.Equal(t, Outbound, peers[0].Type, "outbound first")
	require.Equal(t, a, peers[0].Peer.ID)
	require.Equal(t, b, peers[1].Peer.ID)

	require.Equal(t, 3, m.DropAll())
	require.Equal(t, SessionCounts{}, m.NumSessions())
	require.False(t, cm.IsProtected(a, ""))
	require.False(t, cm.IsProtected(b, ""))
	for _, name := range []string{"inA2", "outA", "inB"} {
		<-sess[name].Done()
		require.ErrorIs(t, sess[name].Err(), ReasonLocalClose, name)
	}
}

func TestManagerLimitDefaults(t *testing.T) {
	m := NewManager(ManagerConfig{})
	in, out := m.Limits()
	require.Equal(t, DefaultInboundLimit, in)
	require.Equal(t, DefaultOutboundLimit, out)
	m.SetLimits(-1, 3)
	in, out = m.Limits()
	require.Equal(t, 0, in)
	require.Equal(t, 3, out)
	require.ErrorIs(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.0.0.1")), ErrMaxPeersReached)
	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Outbound, "10.0.0.1")))
}

// ---- sybil rule through the manager and the gater ----

// acceptAddrs is the network.ConnMultiaddrs of an accepted connection.
type acceptAddrs struct{ remote ma.Multiaddr }

func (a acceptAddrs) LocalMultiaddr() ma.Multiaddr  { return ma.StringCast("/ip4/127.0.0.1/tcp/21337") }
func (a acceptAddrs) RemoteMultiaddr() ma.Multiaddr { return a.remote }

func tcpAddr(ap netip.AddrPort) ma.Multiaddr {
	proto := "ip4"
	if ap.Addr().Is6() {
		proto = "ip6"
	}
	return ma.StringCast(fmt.Sprintf("/%s/%s/tcp/%d", proto, ap.Addr(), ap.Port()))
}

func TestManagerSybilVector(t *testing.T) {
	for _, v := range mgrVectors(t, "sybil_range") {
		t.Run(v.Name, func(t *testing.T) {
			in, exp := decodeSybilVector(t, v)
			m := NewManager(ManagerConfig{RejectSybilInbounds: true, SybilRangeLimit: in.Limit, SybilOnLoopback: true})
			g := m.Gater()
			regAP := netip.MustParseAddrPort(in.Registered)
			holder := idleSession(test.RandPeerIDFatal(t), Inbound, regAP.Addr().String())
			require.NoError(t, m.Register(holder))

			check := func(qs []sybilQuery) {
				t.Helper()
				for _, q := range qs {
					ap := netip.MustParseAddrPort(q.Query)
					allowed := g.InterceptAccept(acceptAddrs{tcpAddr(ap)})
					err := m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, ap.Addr().String()))
					if q.Range == nil {
						require.True(t, allowed, "gater, query %s", q.Query)
						require.NoError(t, err, "register, query %s", q.Query)
					} else {
						// The gater lets the range holder's own IP through (a second
						// connection of a host we talk to); Register refuses its session.
						require.Equal(t, ap.Addr() == regAP.Addr(), allowed, "gater, query %s", q.Query)
						var sre *SameRangeError
						require.ErrorAs(t, err, &sre, "register, query %s", q.Query)
						require.ErrorIs(t, err, ErrSameRange)
						require.Equal(t, *q.Range, sre.Range, "query %s", q.Query)
					}
					// Registered queries are dropped again so that each query sees only
					// the vector's registered session.
					m.drop(func(_ Type, k Key) bool { return k != holder.Key() }, nil, nil, false)
				}
			}
			check(exp.While)
			m.Unregister(holder, Inbound, Unconsolidated)
			check(exp.After)
		})
	}
}

func TestManagerSybilOptions(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ManagerConfig
		holder   string
		query    string
		admitted bool
	}{
		{"loopback exempt by default", ManagerConfig{RejectSybilInbounds: true}, "127.0.0.1", "127.0.0.2", true},
		{"loopback checked on request", ManagerConfig{RejectSybilInbounds: true, SybilOnLoopback: true}, "127.0.0.1", "127.0.0.2", false},
		{"rule off", ManagerConfig{}, "10.0.0.1", "10.0.0.2", true},
		{"rule on", ManagerConfig{RejectSybilInbounds: true}, "10.0.0.1", "10.0.0.2", false},
		{"other range", ManagerConfig{RejectSybilInbounds: true}, "10.0.0.1", "10.0.64.1", true},
		{"IPv6 ranges are /32s", ManagerConfig{RejectSybilInbounds: true}, "2001:db8::1", "2001:db9::2", true},
		{"IPv6 in one /32 collide", ManagerConfig{RejectSybilInbounds: true}, "2001:db8::1", "2001:db8:ffff::2", false},
		{"IPv6 /48 on request", ManagerConfig{RejectSybilInbounds: true, SybilRangeLimitIPv6: 48}, "2001:db8::1", "2001:db8:1::2", true},
		{"witnet-rust's single IPv6 range on request", ManagerConfig{RejectSybilInbounds: true, SybilRangeLimitIPv6: -1}, "2001:db8::1", "2001:db9::2", false},
		{"IPv6 never collides with IPv4", ManagerConfig{RejectSybilInbounds: true}, "2001:db8::1", "0.0.1.1", true},
		{"IPv6 loopback exempt", ManagerConfig{RejectSybilInbounds: true}, "::1", "2001:db8::1", true},
		{"limit 0 bits: everyone collides", ManagerConfig{RejectSybilInbounds: true, SybilRangeLimit: -1}, "10.0.0.1", "200.1.1.1", false},
		{"limit 32 bits", ManagerConfig{RejectSybilInbounds: true, SybilRangeLimit: 32}, "10.0.0.1", "10.0.0.2", true},
		{"mapped IPv4 is IPv4", ManagerConfig{RejectSybilInbounds: true}, "10.0.0.1", "::ffff:10.0.0.9", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewManager(tt.cfg)
			p := Peer{ID: test.RandPeerIDFatal(t), IP: netip.MustParseAddr(tt.holder)}
			require.NoError(t, m.Register(New(nopConn{}, p, Inbound, Config{})))
			q := netip.AddrPortFrom(netip.MustParseAddr(tt.query), 9)
			remote := tcpAddr(q)
			if q.Addr().Is4In6() {
				remote = ma.StringCast("/ip6/" + q.Addr().String() + "/tcp/9")
			}
			require.Equal(t, tt.admitted, m.Gater().InterceptAccept(acceptAddrs{remote}), "gater")
			err := m.Register(New(nopConn{}, Peer{ID: test.RandPeerIDFatal(t), IP: q.Addr()}, Inbound, Config{}))
			if tt.admitted {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrSameRange)
			}
		})
	}
}

// TestGaterIcedAddr: an address the book iced as a whole is refused before any handshake.
func TestGaterIcedAddr(t *testing.T) {
	iced := netip.MustParseAddr("10.0.0.1")
	m := NewManager(ManagerConfig{IcedAddr: func(ip netip.Addr) bool { return ip == iced }})
	g := m.Gater()
	require.False(t, g.InterceptAccept(acceptAddrs{tcpAddr(netip.AddrPortFrom(iced, 9))}))
	require.True(t, g.InterceptAccept(acceptAddrs{tcpAddr(netip.MustParseAddrPort("10.0.0.2:9"))}))
}

func TestGaterLimitAndClose(t *testing.T) {
	m := NewManager(ManagerConfig{InboundLimit: 1})
	g := m.Gater()
	remote := acceptAddrs{ma.StringCast("/ip4/10.0.0.1/tcp/5")}
	require.True(t, g.InterceptAccept(remote))
	require.True(t, g.InterceptPeerDial(test.RandPeerIDFatal(t)))
	require.True(t, g.InterceptAddrDial(test.RandPeerIDFatal(t), remote.remote))
	require.True(t, g.InterceptSecured(0, test.RandPeerIDFatal(t), remote))
	ok, _ := g.InterceptUpgraded(nil)
	require.True(t, ok)
	// A relayed connection has no IP: only the limit applies.
	relayed := acceptAddrs{ma.StringCast("/p2p/" + test.RandPeerIDFatal(t).String() + "/p2p-circuit")}
	require.True(t, g.InterceptAccept(relayed))

	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.9.0.1")))
	require.False(t, g.InterceptAccept(remote), "inbound limit reached")
	require.False(t, g.InterceptAccept(relayed), "inbound limit reached")
	// Outbound sessions do not count against the inbound limit.
	m.SetLimits(2, 0)
	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Outbound, "10.9.0.2")))
	require.True(t, g.InterceptAccept(remote))

	require.NoError(t, m.Close())
	require.False(t, g.InterceptAccept(remote), "closed manager")
	require.ErrorIs(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.9.0.3")), ErrManagerClosed)
	require.NoError(t, m.Close(), "Close is idempotent")
}

// ---- bootstrap eligibility ----

func TestManagerOutboundEligibilityVector(t *testing.T) {
	v := eligibilityVector(t)
	self := test.RandPeerIDFatal(t)
	m := NewManager(ManagerConfig{Self: self, PublicAddrs: []ma.Multiaddr{tcpAddr(netip.MustParseAddrPort(v.Public))}})
	register := func(addrs []string, typ Type) []peer.ID {
		var ids []peer.ID
		for _, a := range addrs {
			ap := netip.MustParseAddrPort(a)
			id := test.RandPeerIDFatal(t)
			ids = append(ids, id)
			require.NoError(t, m.Register(New(nopConn{}, Peer{ID: id, Addr: tcpAddr(ap), IP: ap.Addr()}, typ, Config{})))
		}
		return ids
	}
	outIDs := register(v.Outbound, Outbound)
	inIDs := register(v.Inbound, Inbound)

	// By address: the vector's queries, each for a peer we do not know.
	for _, a := range v.Eligible {
		require.True(t, m.OutboundEligible(test.RandPeerIDFatal(t), tcpAddr(netip.MustParseAddrPort(a))), a)
	}
	for _, a := range v.NotEligible {
		require.False(t, m.OutboundEligible(test.RandPeerIDFatal(t), tcpAddr(netip.MustParseAddrPort(a))), a)
	}
	// By peer ID, which is what libp2p sessions are keyed by.
	other := ma.StringCast("/ip4/192.0.2.1/tcp/1")
	require.False(t, m.OutboundEligible(self, other), "ourselves")
	require.False(t, m.OutboundEligible(outIDs[0], other), "already outbound")
	require.True(t, m.OutboundEligible(inIDs[0], other), "inbound peers may be dialled")
	require.True(t, m.OutboundEligible(test.RandPeerIDFatal(t), nil))
	withID := tcpAddr(netip.MustParseAddrPort(v.Outbound[0])).Encapsulate(ma.StringCast("/p2p/" + outIDs[0].String()))
	require.False(t, m.OutboundEligible("", withID), "/p2p suffix ignored")
}

// ---- live sessions over pipes: broadcast, anycast, consensus, beacons, drops ----

// hub is a manager with two outbound sessions (to x and y) and one inbound (from z), all
// consolidated over pipes. The far ends use no registry.
type hub struct {
	m         *Manager
	book      *mgrBook
	cm        *mgrConnMgr
	x, y, z   peer.ID
	outX      *Session // the hub's sessions
	outY      *Session
	inZ       *Session
	farX      *Session // the far ends
	farY      *Session
	farZ      *Session
	beaconsCh chan PeerBeacons
}

func newHub(t *testing.T) *hub {
	h := &hub{book: &mgrBook{}, cm: &mgrConnMgr{}, beaconsCh: make(chan PeerBeacons, 4)}
	h.m = NewManager(ManagerConfig{
		AddressBook: h.book, ConnManager: h.cm,
		OnPeerBeacons: func(pb PeerBeacons) { h.beaconsCh <- pb },
	})
	h.x, h.y, h.z = test.RandPeerIDFatal(t), test.RandPeerIDFatal(t), test.RandPeerIDFatal(t)
	me := pipeEnd{reg: h.m, id: test.RandPeerIDFatal(t), ip: "10.0.0.1", book: h.book}
	h.outX, h.farX = pipePair(t, me, pipeEnd{id: h.x, ip: "10.1.0.1"})
	h.outY, h.farY = pipePair(t, me, pipeEnd{id: h.y, ip: "10.2.0.1"})
	h.farZ, h.inZ = pipePair(t, pipeEnd{id: h.z, ip: "10.3.0.1"}, me)
	require.Equal(t, SessionCounts{InboundConsolidated: 1, OutboundConsolidated: 2}, h.m.NumSessions())
	return h
}

// received returns how many messages of kind k s has received.
func received(s *Session, k protocol.Kind) uint64 { return s.Stats().MessagesIn[k] }

func TestManagerBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t)
		beacon := protocol.NewLastBeacon(protocol.Magic, nil)
		require.Equal(t, 1, h.m.Broadcast(beacon, true))
		requireSettled(t, func() bool { return received(h.farZ, protocol.KindLastBeacon) == 1 }, "z got the consolidated broadcast")
		require.Equal(t, 3, h.m.Broadcast(beacon, false))
		requireSettled(t, func() bool {
			return received(h.farZ, protocol.KindLastBeacon) == 2 &&
				received(h.farX, protocol.KindLastBeacon) == 1 &&
				received(h.farY, protocol.KindLastBeacon) == 1
		}, "everyone got the broadcast")
	})
}

func TestManagerAnycastAndConsensus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t)
		msg := protocol.NewLastBeacon(protocol.Magic, nil) // the far ends are inbound: dropped by their chain
		_, err := h.m.Anycast(msg, true)
		require.ErrorIs(t, err, ErrNoSessions, "empty consensus subset")

		err = h.m.SetConsensus([]Key{PeerKey(h.x), PeerKey(h.z)})
		require.ErrorIs(t, err, ErrNotOutboundConsolidated, "z is inbound")
		require.ElementsMatch(t, []Key{PeerKey(h.x)}, h.m.ConsensusPeers())
		require.Equal(t, 1, h.m.NumSessions().Consensus)
		for _, p := range h.m.ConsolidatedPeers() {
			require.Equal(t, p.Peer.ID == h.x, p.Consensus, "consensus flag of %s", p.Peer.ID)
		}

		const n = 40
		for range n {
			s, err := h.m.Anycast(msg, true)
			require.NoError(t, err)
			require.Same(t, h.outX, s)
		}
		requireSettled(t, func() bool { return received(h.farX, protocol.KindLastBeacon) == n }, "x got every consensus anycast")
		for range n {
			s, err := h.m.Anycast(msg, false)
			require.NoError(t, err)
			require.NotSame(t, h.inZ, s, "anycast is outbound only")
		}
		requireSettled(t, func() bool {
			return received(h.farX, protocol.KindLastBeacon)+received(h.farY, protocol.KindLastBeacon) == 2*n
		}, "x and y got every anycast")
		require.NotZero(t, received(h.farY, protocol.KindLastBeacon), "40 uniform draws never chose y")
		require.Zero(t, received(h.farZ, protocol.KindLastBeacon))

		// Leaving the outbound collection leaves the consensus subset.
		require.Equal(t, 1, h.m.DropOutbound([]Key{PeerKey(h.x), PeerKey(h.z)}), "z has no outbound session")
		require.Empty(t, h.m.ConsensusPeers())
		_, err = h.m.Anycast(msg, true)
		require.ErrorIs(t, err, ErrNoSessions)
		<-h.outX.Done()
		require.ErrorIs(t, h.outX.Err(), ReasonLocalClose)
		_, _, removed := h.book.snapshot()
		require.Equal(t, []peer.ID{h.x}, removed, "a dropped outbound peer leaves the tried bucket")
	})
}

func TestManagerPeerBeacons(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t)
		h.m.BeginEpoch(7)
		_, ok := h.m.PeerBeacons(6)
		require.False(t, ok, "not the epoch being collected")
		got, ok := h.m.PeerBeacons(7)
		require.True(t, ok)
		require.Empty(t, got.Beacons)
		require.ElementsMatch(t, []Key{PeerKey(h.x), PeerKey(h.y)}, got.Missing)

		bx := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(70, protocol.Hash{1}), nil)
		require.NoError(t, h.farX.SendLastBeacon(bx))
		// A beacon on an inbound session goes to the chain, not to the consensus.
		require.NoError(t, h.farZ.Send(protocol.NewLastBeacon(protocol.Magic, nil)))
		requireSettled(t, func() bool {
			got, _ := h.m.PeerBeacons(7)
			return len(got.Beacons) == 1
		}, "x's beacon collected")
		got, _ = h.m.PeerBeacons(7)
		require.Equal(t, []Key{PeerKey(h.y)}, got.Missing)
		require.EqualValues(t, 70, got.Beacons[PeerKey(h.x)].GetHighestBlockCheckpoint().GetCheckpoint())
		select {
		case <-h.beaconsCh:
			t.Fatal("reported before every outbound peer sent its beacon")
		default:
		}

		by := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(71, protocol.Hash{2}), nil)
		require.NoError(t, h.farY.SendLastBeacon(by))
		select {
		case rep := <-h.beaconsCh:
			require.EqualValues(t, 7, rep.Epoch)
			require.Len(t, rep.Beacons, 2)
			require.Empty(t, rep.Missing)
		case <-time.After(2 * time.Second):
			t.Fatal("no report once all beacons arrived")
		}
		// Once per epoch.
		require.NoError(t, h.farY.SendLastBeacon(by))
		requireSettled(t, func() bool { return received(h.outY, protocol.KindLastBeacon) == 2 }, "y's second beacon read")
		require.Empty(t, h.beaconsCh)

		// Next epoch: x sends, then y leaves; the set is complete without y.
		h.m.BeginEpoch(8)
		require.NoError(t, h.farX.SendLastBeacon(bx))
		requireSettled(t, func() bool {
			got, _ := h.m.PeerBeacons(8)
			return len(got.Beacons) == 1
		}, "x's beacon collected for epoch 8")
		require.Equal(t, 1, h.m.DropOutbound([]Key{PeerKey(h.y)}))
		select {
		case rep := <-h.beaconsCh:
			require.EqualValues(t, 8, rep.Epoch)
			require.Len(t, rep.Beacons, 1)
			require.Contains(t, rep.Beacons, PeerKey(h.x))
		case <-time.After(2 * time.Second):
			t.Fatal("no report after the last missing peer left")
		}
	})
}

func TestManagerCloseAndUnregister(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t)
		require.True(t, h.cm.IsProtected(h.x, ProtectTag+"/outbound"))
		require.True(t, h.cm.IsProtected(h.z, ProtectTag+"/inbound"))

		// A session ending on its own unregisters through the Registry.
		h.farY.Close(nil)
		<-h.outY.Done()
		require.ErrorIs(t, h.outY.Err(), ReasonRemoteClosed)
		require.Equal(t, SessionCounts{InboundConsolidated: 1, OutboundConsolidated: 1}, h.m.NumSessions())
		require.False(t, h.cm.IsProtected(h.y, ""))
		_, _, removed := h.book.snapshot()
		require.Equal(t, []peer.ID{h.y}, removed)

		// Close drops everything at once, keeps the address book, refuses what comes next.
		require.NoError(t, h.m.Close())
		require.Equal(t, SessionCounts{}, h.m.NumSessions())
		for _, s := range []*Session{h.outX, h.inZ} {
			<-s.Done()
			require.ErrorIs(t, s.Err(), ReasonLocalClose)
		}
		require.False(t, h.cm.IsProtected(h.x, ""))
		require.False(t, h.cm.IsProtected(h.z, ""))
		_, _, removed = h.book.snapshot()
		require.Equal(t, []peer.ID{h.y}, removed, "Close does not empty the tried bucket")
		require.Equal(t, 0, h.m.Broadcast(protocol.NewLastBeacon(protocol.Magic, nil), false))
		_, err := h.m.Anycast(protocol.NewGetPeers(protocol.Magic), false)
		require.ErrorIs(t, err, ErrNoSessions)
	})
}

// TestManagerRefusals runs the refusals the Registry can give through real sessions:
// a duplicate registration and a refused consolidation.
func TestManagerRefusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		book := &mgrBook{}
		m := NewManager(ManagerConfig{AddressBook: book})
		me := pipeEnd{reg: m, id: test.RandPeerIDFatal(t), ip: "10.0.0.1", book: book}
		far := pipeEnd{id: test.RandPeerIDFatal(t), ip: "10.1.0.1"}
		out, _ := pipePair(t, me, far)

		// Same peer, same direction: the second session is refused at Start, with no ice.
		dup := New(nopConn{}, out.Peer(), Outbound, Config{Registry: m, AddressBook: book})
		dup.Start()
		<-dup.Done()
		require.ErrorIs(t, dup.Err(), ReasonRegisterRefused)
		require.ErrorIs(t, dup.Err(), ErrAddressAlreadyRegistered)
		iced, _, _ := book.snapshot()
		require.Empty(t, iced)
		require.Equal(t, 1, m.NumSessions().OutboundConsolidated)

		// A consolidation refused by a lowered limit ices the peer and stops the session.
		m.SetLimits(0, -1)
		c1, c2 := net.Pipe()
		other := test.RandPeerIDFatal(t)
		o := New(c1, Peer{ID: other, IP: netip.MustParseAddr("10.2.0.1")}, Outbound, Config{Registry: m, AddressBook: book})
		i := New(c2, Peer{ID: me.id}, Inbound, Config{})
		t.Cleanup(func() { i.Close(nil); <-i.Done() })
		m.SetLimits(0, 2)
		o.Start()
		m.SetLimits(0, 1) // registered; consolidation will find the consolidated collection full
		i.Start()
		<-o.Done()
		require.ErrorIs(t, o.Err(), ReasonConsolidateRefused)
		require.ErrorIs(t, o.Err(), ErrMaxPeersReached)
		iced, _, _ = book.snapshot()
		require.Equal(t, []peer.ID{other}, iced)
		require.Equal(t, SessionCounts{OutboundConsolidated: 1}, m.NumSessions())
	})
}

func TestSameRangeError(t *testing.T) {
	err := error(&SameRangeError{Range: Range{127, 0, 0, 0}})
	require.ErrorIs(t, err, ErrSameRange)
	require.False(t, errors.Is(err, ErrMaxPeersReached))
	require.Contains(t, err.Error(), "127.0.0.0")
}

// The manager's OnConsolidated hook can use the seed API on the session it is told of:
// the node's dialer sends its first GetPeers from there, and the inventory its first
// announcements. (The session used to become Consolidated only after the hook ran, so
// every such call failed with ErrNotConsolidated.)
func TestOnConsolidatedCanSend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sent := make(chan error, 1)
		dialer := NewManager(ManagerConfig{OnConsolidated: func(s *Session) {
			if s.Type() == Outbound {
				sent <- s.GetPeers()
			}
		}})
		listener := NewManager(ManagerConfig{})
		_, in := pipePair(t,
			pipeEnd{reg: dialer, id: test.RandPeerIDFatal(t), ip: "10.0.0.1"},
			pipeEnd{reg: listener, id: test.RandPeerIDFatal(t), ip: "10.1.0.1"})
		require.NoError(t, <-sent)
		requireSettled(t, func() bool { return received(in, protocol.KindGetPeers) == 1 }, "the listener got the GetPeers")
	})
}
