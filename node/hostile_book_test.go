package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	madns "github.com/multiformats/go-multiaddr-dns"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// The address book's rows of the hostile-peer suite (RELIABILITY.md, "Defences"): attacks
// on what a node learns and whom it dials, each against real nodes on 127.0.0.x with their
// real bbolt files, each with its figure (entries stored, bounds, the honest peer's
// handshake). Run them alone with: go test -race -run TestHostileBook -v ./node/

// bookNode starts a node for a row on dir: loopback, the given periods, no HTTP.
func bookNode(t *testing.T, dir string, opts ...Option) *Node {
	t.Helper()
	base := []Option{WithDataDir(dir), WithListenAddrs(loopback), WithPeriods(time.Hour, time.Hour, 0),
		WithRPCAddr(""), WithLibp2pMetrics(false), WithHandshake(hostileHandshakeTimeout, 10*time.Second)}
	n, err := New(context.Background(), append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// fakeID returns a well-formed peer ID without a key behind it (a SHA-256 multihash of
// random bytes): what an attacker fills Peers messages with.
func fakeID(t *testing.T) peer.ID {
	b := make([]byte, 34)
	b[0], b[1] = 0x12, 0x20
	_, err := rand.Read(b[2:])
	require.NoError(t, err)
	id, err := peer.IDFromBytes(b)
	require.NoError(t, err)
	return id
}

// serveSessions makes h answer every session stream the node opens with handle, which
// gets the stream after the handshake (h plays the inbound side and announces sender).
func serveSessions(t *testing.T, h host.Host, sender []byte, handle func(*sessiontest.RawStream)) {
	h.SetStreamHandler(session.ProtocolID, func(str network.Stream) {
		s := sessiontest.NewRawStream(str)
		defer s.Reset()
		if m, err := s.ReadMsg(); err != nil || protocol.KindOf(m) != protocol.KindVersion {
			return
		}
		v := protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: time.Now().Unix(),
			Nonce: protocol.RandomNonce(), Sender: sender, Beacon: DefaultBeacon()})
		if s.WriteMsg(protocol.NewVerack(protocol.Magic)) != nil || s.WriteMsg(v) != nil {
			return
		}
		if m, err := s.ReadMsg(); err != nil || protocol.KindOf(m) != protocol.KindVerack {
			return
		}
		handle(s)
	})
}

// answerGetPeers replies to every GetPeers on s with next()'s addresses, until s fails.
func answerGetPeers(s *sessiontest.RawStream, next func() [][]byte) {
	for {
		m, err := s.ReadMsg()
		if err != nil {
			return
		}
		if protocol.KindOf(m) == protocol.KindGetPeers && s.WriteMsg(protocol.NewPeers(protocol.Magic, next())) != nil {
			return
		}
	}
}

// p2pOf is h's first address with its /p2p/<id>.
func p2pOf(t *testing.T, h host.Host) ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	require.NoError(t, err)
	return addrs[0]
}

// wireAddr encodes /ip4/<ap>/tcp/<port>/p2p/<id> as Address.address bytes.
func wireAddr(t *testing.T, ap netip.AddrPort, id peer.ID) []byte {
	b, err := protocol.MultiaddrAddress(ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/%d/p2p/%s", ap.Addr(), ap.Port(), id)))
	require.NoError(t, err)
	return b
}

// closedPort returns a loopback TCP port nobody listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

func dbBytes(t *testing.T, n *Node) int64 {
	fi, err := os.Stat(n.DB().Path())
	require.NoError(t, err)
	return fi.Size()
}

func TestHostileBook(t *testing.T) {
	t.Run("addr flood", testAddrFlood)
	t.Run("third party ices an honest peer", testThirdPartyIce)
	t.Run("icing escalates", testIceEscalates)
	t.Run("ice bucket bounded", testIceBounded)
	t.Run("outbound diversity and anchors", testOutboundDiversity)
	t.Run("feeler must prove the address", testFeelerProof)
	t.Run("relay address shared", testRelayShared)
	t.Run("bootstrap warnings", testBootstrapWarnings)
}

// testAddrFlood: an outbound peer answers every GetPeers with 8192 addresses, a quarter of
// them never routable (multicast, reserved, 0/8, link-local, documentation), a quarter
// private. The node keeps what the per-peer token bucket allows (1000 at once, then
// 0.1/s), never a non-routable address, keeps its operator-added peer, and still serves
// an honest peer.
func testAddrFlood(t *testing.T) {
	for _, policy := range []peers.AddrPolicy{peers.PolicySameScope, peers.PolicyPublicOnly} {
		t.Run(policy.String(), func(t *testing.T) {
			n := bookNode(t, t.TempDir(), WithPeriods(100*time.Millisecond, 100*time.Millisecond, 0), WithAddrPolicy(policy))
			operator := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", closedPort(t), fakeID(t)))
			require.NoError(t, n.addPeers([]ma.Multiaddr{operator}))
			dbBefore := dbBytes(t, n)

			attacker := rawHost(t, "127.0.0.2", nil)
			never := []string{"224.1.%d.%d", "240.0.%d.%d", "0.9.%d.%d", "169.254.%d.%d", "192.0.2.%[2]d", "198.51.100.%[2]d"}
			batch := func() [][]byte {
				out := make([][]byte, protocol.MaxPeersPerMessage)
				for i := range out {
					var ip string
					switch i % 4 {
					case 0:
						ip = fmt.Sprintf(never[i/4%len(never)], i/250%250, i%250)
					case 1:
						ip = fmt.Sprintf("10.%d.%d.1", i/250%250, i%250)
					default:
						ip = fmt.Sprintf("%d.%d.%d.1", 11+i%80, i/250%250, i%250)
					}
					out[i] = wireAddr(t, netip.AddrPortFrom(netip.MustParseAddr(ip), 21337), fakeID(t))
				}
				return out
			}
			serveSessions(t, attacker, nil, func(s *sessiontest.RawStream) { answerGetPeers(s, batch) })
			start := time.Now()
			require.NoError(t, n.addPeers([]ma.Multiaddr{p2pOf(t, attacker)}))
			const offered = 4 * protocol.MaxPeersPerMessage
			waitFor(t, 60*time.Second, func() bool {
				st := n.Book().Stats()
				return st.RateLimited+st.OutOfScope >= offered-1000
			}, func() string { return fmt.Sprintf("%+v", n.Book().Stats()) })
			elapsed := time.Since(start)

			st := n.Book().Stats()
			newN, _, _ := n.Book().Counts()
			for _, a := range n.Book().New() {
				if a.IsLegacy() {
					continue
				}
				ep, err := a.Endpoint()
				require.NoError(t, err)
				s := peers.ScopeOf(ep.Addr())
				require.NotEqual(t, peers.ScopeNever, s, "non-routable %s stored", a)
				if policy == peers.PolicyPublicOnly && ep.Addr() != netip.MustParseAddr("127.0.0.1") {
					require.Equal(t, peers.ScopePublic, s, "%s stored under public-only", a)
				}
			}
			allowed := peers.DefaultAddrBurst + int(elapsed.Seconds()*peers.DefaultAddrRate) + 1
			require.LessOrEqual(t, newN, allowed+2, "entries stored")
			require.Len(t, n.Book().Added(), 2, "the operator's peers are still there")
			growth := dbBytes(t, n) - dbBefore
			require.Less(t, growth, int64(allowed)*peers.MaxEntryBytes)
			t.Logf("%s: %d addresses offered in %v; stored %d (bound %d), rate-limited %d, out of scope %d; database +%d KiB",
				policy, st.RateLimited+st.OutOfScope+uint64(newN), elapsed.Round(time.Millisecond), newN, allowed, st.RateLimited, st.OutOfScope, growth>>10)
			t.Logf("honest handshake after the flood: %v", honestHandshake(t, n, "127.0.0.3"))
		})
	}
}

// testThirdPartyIce: a third party announces a wrong address for an honest peer, in its
// Version sender address and in a Peers reply. The first is refused (not the peer's own);
// the second is dialled, fails and is counted against the address, never the peer: the
// honest peer then connects and consolidates.
func testThirdPartyIce(t *testing.T) {
	n := bookNode(t, t.TempDir(), WithPeriods(100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond))
	honest := startNode(t, t.TempDir())
	bogus := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(closedPort(t)))

	attacker := rawHost(t, "127.0.0.2", nil)
	s := openRaw(t, attacker, n)
	s.Send(t, protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: time.Now().Unix(),
		Nonce: protocol.RandomNonce(), Sender: wireAddr(t, bogus, honest.ID())}))
	require.Equal(t, protocol.KindVerack, protocol.KindOf(s.Recv(t)))
	require.Equal(t, protocol.KindVersion, protocol.KindOf(s.Recv(t)))
	s.Send(t, protocol.NewVerack(protocol.Magic))
	waitFor(t, 5*time.Second, func() bool { return n.Book().Stats().NotSelf == 1 }, nil)
	_, where, _ := n.Book().Lookup(honest.ID())
	require.Equal(t, peers.BucketNone, where, "a planted sender address is refused")

	serveSessions(t, attacker, nil, func(s *sessiontest.RawStream) {
		answerGetPeers(s, func() [][]byte { return [][]byte{wireAddr(t, bogus, honest.ID())} })
	})
	require.NoError(t, n.addPeers([]ma.Multiaddr{p2pOf(t, attacker)}))
	waitFor(t, 10*time.Second, func() bool { return n.Book().Stats().FailedDials >= 1 }, func() string {
		return fmt.Sprintf("%+v", n.Book().Stats())
	})
	require.False(t, n.Book().IsIced(honest.ID()), "a third party's address failing ices nobody")

	start := time.Now()
	require.NoError(t, honest.addPeers(n.Addrs()[:1]))
	waitFor(t, 5*time.Second, func() bool {
		s, ok := n.Manager().Lookup(honest.ID(), session.Inbound)
		return ok && s.Status() == session.Consolidated
	}, nil)
	st := n.Book().Stats()
	t.Logf("planted sender address refused (not_self %d); planted Peers address dialled %d times, counted %d, iced 0; honest peer consolidated %v after it dialled",
		st.NotSelf, st.FailedDials, st.FailedDials-st.Removed, time.Since(start).Round(time.Millisecond))
}

// iceOne has a fresh identity on ip complete a handshake with n and send garbage, and
// waits until n ices it.
func iceOne(t *testing.T, n *Node, ip string) {
	h := rawHost(t, ip, nil)
	s := openRaw(t, h, n)
	handshakeRaw(t, s, n)
	_ = s.WriteFrame(noiseThatDoesNotDecode(t, 64))
	waitFor(t, 5*time.Second, func() bool { return n.Book().IsIced(h.ID()) }, nil)
	_ = h.Close()
}

// testIceEscalates: an attacker who gets iced comes back with a new peer ID each time;
// after five iced IDs from one IP the IP itself is refused, before any handshake, and
// stays refused across a restart. An honest peer on another IP still connects.
func testIceEscalates(t *testing.T) {
	dir := t.TempDir()
	n := bookNode(t, dir, WithEscalation(peers.DefaultEscalateAfter, true))
	for range peers.DefaultEscalateAfter {
		require.False(t, n.Book().IsIcedAddr(netip.MustParseAddr("127.0.0.5")))
		iceOne(t, n, "127.0.0.5")
	}
	require.True(t, n.Book().IsIcedAddr(netip.MustParseAddr("127.0.0.5")))
	h := rawHost(t, "127.0.0.5", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.Error(t, h.Connect(ctx, nodeInfo(n)), "the sixth identity is refused at accept")
	d := honestHandshake(t, n, "127.0.0.6")

	require.NoError(t, n.Close())
	n2 := bookNode(t, dir, WithEscalation(peers.DefaultEscalateAfter, true))
	require.True(t, n2.Book().IsIcedAddr(netip.MustParseAddr("127.0.0.5")), "persisted")
	t.Logf("127.0.0.5 iced after %d iced identities (also after a restart); honest handshake from 127.0.0.6: %v", peers.DefaultEscalateAfter, d)
}

// testIceBounded: identity churn, each identity iced, fills the ice bucket no further
// than its bound in records and bytes.
func testIceBounded(t *testing.T) {
	const bound, churn = 20, 50
	n := bookNode(t, t.TempDir(), WithIceBounds(bound, 0), WithEscalation(-1, false))
	for range churn {
		iceOne(t, n, "127.0.0.7")
	}
	_, _, iced := n.Book().Counts()
	require.Equal(t, bound, iced)
	require.Equal(t, uint64(churn-bound), n.Book().Stats().IceEvicted)
	require.LessOrEqual(t, n.Book().IceBytes(), peers.DefaultMaxIceBytes)
	t.Logf("%d identities iced, %d kept (%d bytes), %d evicted oldest first; honest handshake: %v",
		churn, iced, n.Book().IceBytes(), n.Book().Stats().IceEvicted, honestHandshake(t, n, "127.0.0.8"))
}

// listenOn returns options that make a node listen on ip.
func listenOn(ip string) Option { return WithListenAddrs(ma.StringCast("/ip4/" + ip + "/tcp/0")) }

// testOutboundDiversity: three reachable peers of the book share one /16; with one
// outbound session allowed per netgroup the node takes one of them and a peer of
// another /16, not all four slots in one range. On restart it dials its anchors first.
func testOutboundDiversity(t *testing.T) {
	dir := t.TempDir()
	opts := []Option{WithPeriods(50*time.Millisecond, time.Hour, 0), WithNetgroupBound(1, true), WithLimits(8, 4)}
	n := bookNode(t, dir, opts...)
	var same []peers.Addr
	for range 3 {
		p := startNode(t, t.TempDir())
		a, err := peers.AddrFromP2P(p.Addrs()[0])
		require.NoError(t, err)
		same = append(same, a)
	}
	other := startNode(t, t.TempDir(), listenOn("127.1.0.1"))
	otherA, err := peers.AddrFromP2P(other.Addrs()[0])
	require.NoError(t, err)
	_, err = n.Book().AddNew(same, nil)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, func() bool { return n.Manager().NumSessions().OutboundConsolidated == 1 }, nil)
	_, err = n.Book().AddNew([]peers.Addr{otherA}, nil)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, func() bool { return n.Manager().NumSessions().OutboundConsolidated == 2 }, nil)
	require.Equal(t, 2.0, dialCount(t, n, "outbound", "ok"), "no second peer of 127.0/16 dialled")
	waitFor(t, 5*time.Second, func() bool { // the sessions' own status follows the manager's
		for _, p := range n.Manager().ConsolidatedPeers() {
			if s, ok := n.Manager().Lookup(p.Peer.ID, p.Type); !ok || s.Status() != session.Consolidated {
				return false
			}
		}
		return true
	}, nil)
	require.NoError(t, n.Close())
	anchors := n.Book().Anchors()
	require.Len(t, anchors, 2)

	n2 := bookNode(t, dir, append(opts, WithLimits(8, 1))...)
	waitFor(t, 10*time.Second, func() bool { return n2.Manager().NumSessions().OutboundConsolidated == 1 }, nil)
	first := n2.Manager().ConsolidatedPeers()[0].Peer.ID
	require.Contains(t, []peer.ID{anchors[0].ID, anchors[1].ID}, first, "an anchor is dialled first")
	t.Logf("3 reachable peers in 127.0/16 and 1 in 127.1/16, 4 outbound slots: %d outbound sessions; anchors %v; after a restart the first outbound peer is an anchor",
		2, []peer.ID{anchors[0].ID, anchors[1].ID})
}

// testFeelerProof: a peer that connected to the node is not tested by a feeler, and the
// node's outbound session over that peer's connection does not put the connection's
// address (the peer's ephemeral port, its NAT's mapping behind a NAT) in tried; a peer
// the node reaches by its own connection is.
func testFeelerProof(t *testing.T) {
	n := bookNode(t, t.TempDir(), WithPeriods(100*time.Millisecond, time.Hour, 50*time.Millisecond))
	p := startNode(t, t.TempDir(), WithBootstrap(n.Addrs()[0]))
	waitFor(t, 10*time.Second, func() bool {
		s, ok := n.Manager().Lookup(p.ID(), session.Outbound)
		return ok && s.Status() == session.Consolidated
	}, nil)
	in, ok := n.Manager().Lookup(p.ID(), session.Inbound)
	require.True(t, ok)
	out, _ := n.Manager().Lookup(p.ID(), session.Outbound)
	require.True(t, out.Peer().Addr.Equal(in.Peer().Addr), "the outbound session runs over the peer's connection")
	_, where, _ := n.Book().Lookup(p.ID())
	require.Equal(t, peers.BucketNew, where, "known by the address it announced, not tried")
	require.Empty(t, n.Book().Tried(), "a session over the peer's own connection proves no address")
	require.Zero(t, dialCount(t, n, "feeler", "ok")+dialCount(t, n, "feeler", "failed"), "no feeler to a connected peer")
	// On loopback the connection's source port is the peer's listen port (TCP port
	// reuse); behind a NAT it is the NAT's mapping, which the old rule put in tried.
	ephemeral := in.Peer().Addr

	q := startNode(t, t.TempDir())
	qa, err := peers.AddrFromP2P(q.Addrs()[0])
	require.NoError(t, err)
	_, err = n.Book().AddNew([]peers.Addr{qa}, nil)
	require.NoError(t, err)
	waitFor(t, 10*time.Second, func() bool { _, w, _ := n.Book().Lookup(q.ID()); return w == peers.BucketTried }, nil)
	got, _, _ := n.Book().Lookup(q.ID())
	require.Equal(t, qa.Addrs, got.Addrs, "reached at its listen address by our own connection")
	t.Logf("connected peer (connection from %s): 0 feelers, nothing in tried; a peer we dialled: tried at %s", ephemeral, got.Addrs[0])
}

// testRelayShared: a private peer announces a relay address; the node keeps it bucketed
// by the relay and hands it to other peers in Peers replies (issue 12.5).
func testRelayShared(t *testing.T) {
	n := bookNode(t, t.TempDir())
	private := rawHost(t, "127.0.0.2", nil)
	relay := fakeID(t)
	circuit := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/4001/p2p/%s/p2p-circuit/p2p/%s", relay, private.ID()))
	sender, err := protocol.MultiaddrAddress(circuit)
	require.NoError(t, err)
	s := openRaw(t, private, n)
	s.Send(t, protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: time.Now().Unix(), Nonce: protocol.RandomNonce(), Sender: sender}))
	require.Equal(t, protocol.KindVerack, protocol.KindOf(s.Recv(t)))
	require.Equal(t, protocol.KindVersion, protocol.KindOf(s.Recv(t)))
	s.Send(t, protocol.NewVerack(protocol.Magic))
	waitFor(t, 5*time.Second, func() bool { _, w, _ := n.Book().Lookup(private.ID()); return w == peers.BucketNew }, nil)
	a, _, _ := n.Book().Lookup(private.ID())
	ep, err := a.Endpoint()
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddrPort("127.0.0.1:4001"), ep, "bucketed by its relay")

	asker := rawHost(t, "127.0.0.3", nil)
	q := openRaw(t, asker, n)
	handshakeRaw(t, q, n)
	q.Send(t, protocol.NewGetPeers(protocol.Magic))
	var reply *pb.Message
	for reply == nil {
		if m := q.Recv(t); protocol.KindOf(m) == protocol.KindPeers {
			reply = m
		}
	}
	var got []string
	for _, pa := range reply.GetKind().GetPeers_().GetPeers() {
		a, err := protocol.ParseAddress(pa.GetAddress())
		require.NoError(t, err)
		got = append(got, a.String())
	}
	require.Contains(t, got, circuit.String())
	t.Logf("Peers reply to another peer: %v", got)
}

// nxdomain is a DNS resolver that knows no name: what a resolver answers for a name under
// .invalid (RFC 6761), without sending a query anywhere.
type nxdomain struct{}

func (nxdomain) LookupIPAddr(_ context.Context, name string) ([]net.IPAddr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (nxdomain) LookupTXT(_ context.Context, name string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// testBootstrapWarnings: each configured peer that cannot be reached (closed port, wrong
// peer ID, a name that does not resolve) is logged once at WARN with its address and
// reason, however many rounds retry it; a node without sessions logs how to bootstrap
// (virtual time: the node runs on a fake clock).
func testBootstrapWarnings(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "warn", "witnet/dialer")
	other := startNode(t, t.TempDir())
	closed := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", closedPort(t), fakeID(t)))
	wrongID := ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", tcpPort(t, other.Addrs()[0]), fakeID(t)))
	unresolved := ma.StringCast(fmt.Sprintf("/dns4/seed.invalid/tcp/21337/p2p/%s", fakeID(t)))
	resolver, err := madns.NewResolver(madns.WithDefaultResolver(nxdomain{}))
	require.NoError(t, err)
	clock := session.NewFakeClock(time.Now())
	n := bookNode(t, t.TempDir(), WithClock(clock), WithBootstrap(closed, wrongID, unresolved),
		WithPeriods(time.Second, time.Hour, 0), WithNoPeersHint(3*time.Minute),
		WithHostOptions(libp2p.MultiaddrResolver(swarm.ResolverFromMaDNS{Resolver: resolver})))
	warned := func(msg string) map[string]string {
		out := map[string]string{}
		for _, l := range logs.Find(func(l map[string]any) bool { return l["msg"] == msg }) {
			addr, _ := l["addr"].(string)
			reason, _ := l["reason"].(string)
			out[addr] += reason + " "
		}
		return out
	}
	rounds := 0
	waitFor(t, 30*time.Second, func() bool {
		if len(warned("bootstrap peer unreachable")) == 3 && rounds >= 5 {
			return true
		}
		clock.Advance(time.Second) // one more bootstrap round
		rounds++
		return false
	}, func() string { return fmt.Sprint(warned("bootstrap peer unreachable")) })
	got := warned("bootstrap peer unreachable")
	require.Equal(t, "connection_refused ", got[closed.String()])
	require.Equal(t, "wrong_peer_id ", got[wrongID.String()])
	require.Equal(t, "dns_unresolved ", got[unresolved.String()])
	require.Empty(t, warned("no peers: this node has no session"))
	clock.Advance(3 * time.Minute)
	waitFor(t, 5*time.Second, func() bool { return len(warned("no peers: this node has no session")) == 1 }, nil)
	require.Zero(t, n.Manager().NumSessions().Outbound())
	t.Logf("%d bootstrap rounds, one warning per address: %v; the hint after 3 minutes of virtual time", rounds, got)
}
