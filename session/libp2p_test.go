package session

import (
	"context"
	"crypto/rand"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	bconnmgr "github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// These tests run real libp2p hosts (TCP, Noise, yamux) on loopback addresses. Linux
// routes all of 127.0.0.0/8 to the loopback interface, and libp2p's TCP transport dials
// from its listen address (port reuse), so a host listening on 127.0.0.2 is seen by its
// peers as 127.0.0.2: that is how the sybil tests put peers in chosen ranges.

// checkLeaks makes the test fail if goroutines started during it are still running once
// every cleanup (hosts, managers, log capture) has run. It must be called first, so that
// its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	opts := []goleak.Option{goleak.IgnoreCurrent()}
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// lpChain is the chain state of a test node: a fixed epoch and beacon.
type lpChain struct {
	epoch    uint32
	beacon   *pb.LastBeacon
	inbound  atomic.Uint64 // LastBeacons received on inbound sessions
	onBeacon func()        // if set before sessions start, runs on each inbound LastBeacon
}

func (c *lpChain) LastBeacon() *pb.LastBeacon {
	if c.beacon == nil {
		return protocol.NewLastBeaconPB(nil, nil)
	}
	return c.beacon
}
func (c *lpChain) Epoch(time.Time) uint32                 { return c.epoch }
func (c *lpChain) SuperBlockTarget() *pb.CheckpointBeacon { return nil }
func (c *lpChain) InboundBeacon(_ *Session, _ *pb.LastBeacon) {
	c.inbound.Add(1)
	if c.onBeacon != nil {
		c.onBeacon()
	}
}

// lpNode is a libp2p host with a sessions manager and service.
type lpNode struct {
	h     host.Host
	m     *Manager
	svc   *Service
	book  *mgrBook
	cm    *bconnmgr.BasicConnMgr
	chain *lpChain
	ended chan *Session // registered sessions, as they leave the manager
}

// newHost builds a TCP+Noise+yamux host listening on ip (port chosen by the system).
func newHost(t testing.TB, ip string, extra ...libp2p.Option) host.Host {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	opts := append([]libp2p.Option{
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings("/ip4/" + ip + "/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	}, extra...)
	h, err := libp2p.New(opts...)
	require.NoError(t, err)
	return h
}

// newNode starts a node on ip. mcfg's AddressBook, ConnManager and OnUnregistered and
// scfg's AddressBook and Chain are filled in unless set.
func newNode(t testing.TB, ip string, mcfg ManagerConfig, scfg Config) *lpNode {
	t.Helper()
	n := &lpNode{book: &mgrBook{}, chain: &lpChain{}, ended: make(chan *Session, 64)}
	cm, err := bconnmgr.NewConnManager(100, 400, bconnmgr.WithGracePeriod(time.Minute))
	require.NoError(t, err)
	n.cm = cm
	if mcfg.AddressBook == nil {
		mcfg.AddressBook = n.book
	}
	mcfg.ConnManager = cm
	mcfg.OnUnregistered = func(s *Session) {
		select {
		case n.ended <- s:
		default:
		}
	}
	n.m = NewManager(mcfg)
	n.h = newHost(t, ip, libp2p.ConnectionGater(n.m.Gater()), libp2p.ConnectionManager(cm))
	if scfg.AddressBook == nil {
		scfg.AddressBook = n.book
	}
	if scfg.Chain == nil {
		scfg.Chain = n.chain
	}
	n.svc = NewService(n.h, n.m, scfg)
	t.Cleanup(func() { n.close(t) })
	return n
}

// close shuts the node down in the order a node would: service, manager, host.
func (n *lpNode) close(t testing.TB) {
	require.NoError(t, n.svc.Close())
	require.NoError(t, n.m.Close())
	require.NoError(t, n.h.Close())
}

// clearBackoff forgets n's failed dials to other, which libp2p would otherwise refuse to
// retry for a while.
func (n *lpNode) clearBackoff(other *lpNode) {
	n.h.Network().(*swarm.Swarm).Backoff().Clear(other.h.ID())
}

func (n *lpNode) info() peer.AddrInfo { return peer.AddrInfo{ID: n.h.ID(), Addrs: n.h.Addrs()} }

// dial opens a session of type t from n to to.
func (n *lpNode) dial(t testing.TB, to peer.AddrInfo, typ Type) *Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := n.svc.Dial(ctx, to, typ)
	require.NoError(t, err)
	return s
}

// waitCounts waits until n's collections have the given sizes.
func (n *lpNode) waitCounts(t testing.TB, want SessionCounts) {
	t.Helper()
	require.Eventually(t, func() bool { return n.m.NumSessions() == want }, 5*time.Second, time.Millisecond,
		"want %+v, have %+v", want, n.m.NumSessions())
}

// nextEnded returns the next session that left n's manager.
func (n *lpNode) nextEnded(t testing.TB) *Session {
	t.Helper()
	select {
	case s := <-n.ended:
		<-s.Done()
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no session ended")
		return nil
	}
}

// logCapture collects the JSON log lines of the witnet/session and witnet/manager loggers.
type logCapture struct{ *sessiontest.Logs }

// captureLogs raises the session and manager loggers to debug for the test and records
// their lines.
func captureLogs(t *testing.T) *logCapture {
	t.Helper()
	return &logCapture{sessiontest.CaptureLogs(t, "debug", "witnet/session", "witnet/manager")}
}

// ended returns the "session ended" line logged for peer id, if any.
func (c *logCapture) ended(id peer.ID) (map[string]any, bool) {
	lines := c.Find(func(l map[string]any) bool { return l["msg"] == "session ended" && l["peer"] == id.String() })
	if len(lines) == 0 {
		return nil, false
	}
	return lines[0], true
}

// requireEndLogged waits for the "session ended" line of peer id and checks its reason.
func (c *logCapture) requireEndLogged(t *testing.T, id peer.ID, r Reason) {
	t.Helper()
	var line map[string]any
	require.Eventually(t, func() bool {
		var ok bool
		line, ok = c.ended(id)
		return ok
	}, 5*time.Second, time.Millisecond, "no 'session ended' log for %s", id)
	reason, _ := line["reason"].(string)
	require.Contains(t, reason, r.Error(), "logged reason")
}

func TestLibp2pHandshakeBothDirections(t *testing.T) {
	checkLeaks(t)
	a := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	b := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})

	ab := a.dial(t, b.info(), Outbound)
	a.waitCounts(t, SessionCounts{OutboundConsolidated: 1})
	b.waitCounts(t, SessionCounts{InboundConsolidated: 1})
	require.Equal(t, b.h.ID(), ab.ID())
	require.Equal(t, "127.0.0.1", ab.Peer().IP.String())
	require.NotNil(t, ab.RemoteVersion())

	// The other direction runs over the same connection.
	ba := b.dial(t, a.info(), Outbound)
	a.waitCounts(t, SessionCounts{OutboundConsolidated: 1, InboundConsolidated: 1})
	b.waitCounts(t, SessionCounts{OutboundConsolidated: 1, InboundConsolidated: 1})
	require.Len(t, a.h.Network().ConnsToPeer(b.h.ID()), 1)

	// Consolidated peers are protected from the connection manager, per direction.
	require.True(t, a.cm.IsProtected(b.h.ID(), ProtectTag+"/outbound"))
	require.True(t, a.cm.IsProtected(b.h.ID(), ProtectTag+"/inbound"))
	_, good, _ := a.book.snapshot()
	require.Equal(t, []peer.ID{b.h.ID()}, good, "outbound consolidation marks the peer good")

	// Messages flow both ways.
	require.Equal(t, 2, a.m.Broadcast(protocol.NewLastBeacon(protocol.Magic, nil), false))
	require.Eventually(t, func() bool { return b.chain.inbound.Load() == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, ba.SendLastBeacon(protocol.NewLastBeaconPB(nil, nil)))
	require.Eventually(t, func() bool { return a.chain.inbound.Load() == 1 }, 5*time.Second, time.Millisecond)

	// Ending one session leaves the other direction and its protection alone.
	ab.Close(nil)
	<-ab.Done()
	a.waitCounts(t, SessionCounts{InboundConsolidated: 1})
	b.waitCounts(t, SessionCounts{OutboundConsolidated: 1})
	require.False(t, a.cm.IsProtected(b.h.ID(), ProtectTag+"/outbound"))
	require.True(t, a.cm.IsProtected(b.h.ID(), ProtectTag+"/inbound"))
}

func TestLibp2pFeeler(t *testing.T) {
	checkLeaks(t)
	logs := captureLogs(t)
	a := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	b := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})

	f := a.dial(t, b.info(), Feeler)
	<-f.Done()
	require.ErrorIs(t, f.Err(), ReasonFeelerDone)
	_, good, _ := a.book.snapshot()
	require.Equal(t, []peer.ID{b.h.ID()}, good, "a feeler that completes marks the address good")
	require.Equal(t, SessionCounts{}, a.m.NumSessions(), "feelers are never registered")
	logs.requireEndLogged(t, b.h.ID(), ReasonFeelerDone)

	// The listener saw an ordinary inbound session that the feeler then closed.
	in := b.nextEnded(t)
	require.Equal(t, Inbound, in.Type())
	b.waitCounts(t, SessionCounts{})
	iced, _, _ := b.book.snapshot()
	require.Empty(t, iced)
}

func TestLibp2pLimitsAndDuplicates(t *testing.T) {
	checkLeaks(t)
	b := newNode(t, "127.0.0.1", ManagerConfig{InboundLimit: 1}, Config{})
	a := newNode(t, "127.0.0.2", ManagerConfig{OutboundLimit: 1}, Config{})
	c := newNode(t, "127.0.0.3", ManagerConfig{}, Config{})

	a.dial(t, b.info(), Outbound)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 1})

	// A second outbound session to the same peer is refused by a's manager.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.svc.Dial(ctx, b.info(), Outbound)
	require.ErrorIs(t, err, ReasonRegisterRefused)
	require.ErrorIs(t, err, ErrMaxPeersReached, "a's outbound limit is 1 and is checked first")
	a.m.SetLimits(0, 5)
	_, err = a.svc.Dial(ctx, b.info(), Outbound)
	require.ErrorIs(t, err, ErrAddressAlreadyRegistered)

	// b's inbound limit refuses c's connection at the gater.
	_, err = c.svc.Dial(ctx, b.info(), Outbound)
	require.Error(t, err)
	require.Equal(t, SessionCounts{}, c.m.NumSessions())
	require.Equal(t, network.NotConnected, c.h.Network().Connectedness(b.h.ID()))
	b.waitCounts(t, SessionCounts{InboundConsolidated: 1})

	// Raising the limit lets c in (once its dial backoff is cleared).
	b.m.SetLimits(2, 0)
	c.clearBackoff(b)
	c.dial(t, b.info(), Outbound)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 2})
}

func TestLibp2pSybilRule(t *testing.T) {
	checkLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := newNode(t, "127.0.0.1", ManagerConfig{RejectSybilInbounds: true, SybilOnLoopback: true}, Config{})
	a1 := newNode(t, "127.0.0.2", ManagerConfig{}, Config{})
	a2 := newNode(t, "127.0.1.1", ManagerConfig{}, Config{})  // same /18 as 127.0.0.2
	a3 := newNode(t, "127.0.64.1", ManagerConfig{}, Config{}) // another /18

	s1 := a1.dial(t, b.info(), Outbound)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 1})
	require.Equal(t, "127.0.0.2", mustLookup(t, b.m, a1.h.ID(), Inbound).Peer().IP.String())

	_, err := a2.svc.Dial(ctx, b.info(), Outbound)
	require.Error(t, err, "same range: the gater refuses the connection")
	require.Equal(t, network.NotConnected, a2.h.Network().Connectedness(b.h.ID()))

	a3.dial(t, b.info(), Outbound)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 2})

	// Once the range is free again, a2 gets in.
	s1.Close(nil)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 1})
	a2.clearBackoff(b)
	a2.dial(t, b.info(), Outbound)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 2})

	// Loopback is exempt by default.
	d := newNode(t, "127.0.0.1", ManagerConfig{RejectSybilInbounds: true}, Config{})
	a1.dial(t, d.info(), Outbound)
	a2.dial(t, d.info(), Outbound)
	d.waitCounts(t, SessionCounts{InboundConsolidated: 2})
}

func mustLookup(t testing.TB, m *Manager, id peer.ID, typ Type) *Session {
	t.Helper()
	s, ok := m.Lookup(id, typ)
	require.True(t, ok, "no %s session for %s", typ, id)
	return s
}

func TestLibp2pConnectionKilled(t *testing.T) {
	checkLeaks(t)
	a := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	b := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	a.dial(t, b.info(), Outbound)
	b.dial(t, a.info(), Outbound)
	a.waitCounts(t, SessionCounts{OutboundConsolidated: 1, InboundConsolidated: 1})
	b.waitCounts(t, SessionCounts{OutboundConsolidated: 1, InboundConsolidated: 1})
	require.True(t, b.cm.IsProtected(a.h.ID(), ""))

	// Kill the connection from a's side; b learns it from its network.
	conns := a.h.Network().ConnsToPeer(b.h.ID())
	require.Len(t, conns, 1)
	start := time.Now()
	require.NoError(t, conns[0].Close())
	require.Eventually(t, func() bool {
		return b.m.NumSessions() == SessionCounts{} && a.m.NumSessions() == SessionCounts{}
	}, time.Second, time.Millisecond, "sessions still registered 1 s after the connection died")
	t.Logf("both ends unregistered %v after the connection closed", time.Since(start))
	require.False(t, b.cm.IsProtected(a.h.ID(), ""))
	require.False(t, a.cm.IsProtected(b.h.ID(), ""))

	for _, n := range []*lpNode{a, b} {
		for range 2 {
			s := n.nextEnded(t)
			require.Contains(t, []Reason{ReasonConnection, ReasonRemoteClosed, ReasonConnectionClosed}, ReasonOf(s.Err()), "%v", s.Err())
		}
		iced, _, removed := n.book.snapshot()
		require.Empty(t, iced, "a lost connection ices nobody")
		require.Len(t, removed, 1, "the outbound peer leaves the tried bucket")
	}
}

// fakeNet is a network whose Connectedness is set by the test.
type fakeNet struct {
	network.Network
	c network.Connectedness
}

func (f fakeNet) Connectedness(peer.ID) network.Connectedness { return f.c }

// TestLibp2pNotifieeDropsAtOnce checks the notifiee alone: told that the last connection
// is gone while the stream is in fact still open, so the session's reader cannot notice
// anything, the manager still drops the peer's session at once; told that another
// connection remains, it leaves the session alone.
func TestLibp2pNotifieeDropsAtOnce(t *testing.T) {
	checkLeaks(t)
	b := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	raw := newRaw(t, "127.0.0.1")
	st := raw.open(t, b)
	st.Handshake(t)
	b.waitCounts(t, SessionCounts{InboundConsolidated: 1})
	conns := b.h.Network().ConnsToPeer(raw.h.ID())
	require.Len(t, conns, 1)

	b.m.Notifiee().Disconnected(fakeNet{b.h.Network(), network.Connected}, conns[0])
	require.Equal(t, SessionCounts{InboundConsolidated: 1}, b.m.NumSessions(), "another connection remains")

	b.m.Notifiee().Disconnected(fakeNet{b.h.Network(), network.NotConnected}, conns[0])
	require.Equal(t, SessionCounts{}, b.m.NumSessions(), "dropped synchronously")
	s := b.nextEnded(t)
	require.ErrorIs(t, s.Err(), ReasonConnectionClosed)
	require.ErrorIs(t, s.Err(), errConnectionLost)
	require.Equal(t, network.Connected, b.h.Network().Connectedness(raw.h.ID()), "the connection itself was not touched")
}

// ---- failure rules driven by a raw libp2p peer writing hand-built frames ----

// rawPeer is a libp2p host that speaks the Witnet protocol by hand.
type rawPeer struct {
	h host.Host
}

func newRaw(t testing.TB, ip string) *rawPeer {
	h := newHost(t, ip)
	t.Cleanup(func() { require.NoError(t, h.Close()) })
	return &rawPeer{h: h}
}

func (p *rawPeer) info() peer.AddrInfo { return peer.AddrInfo{ID: p.h.ID(), Addrs: p.h.Addrs()} }

// open connects to n and opens a Witnet stream.
func (p *rawPeer) open(t testing.TB, n *lpNode) *sessiontest.RawStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.h.Connect(ctx, n.info()))
	s, err := p.h.NewStream(ctx, n.h.ID(), ProtocolID)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Reset() })
	return sessiontest.NewRawStream(s)
}

// version is a Version from the raw peer with the given timestamp and beacon.
func rawVersion(ts time.Time, beacon *pb.LastBeacon) *pb.Message {
	return protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: ts.Unix(), Nonce: protocol.RandomNonce(), Beacon: beacon})
}

// serve makes the raw peer answer the node's outbound sessions with fn.
func (p *rawPeer) serve(fn func(s *sessiontest.RawStream)) {
	p.h.SetStreamHandler(ProtocolID, func(s network.Stream) { fn(sessiontest.NewRawStream(s)) })
}

// requireEnd waits for the session's end and checks its reason and the icing.
func requireEnd(t *testing.T, n *lpNode, s *Session, want Reason, iced bool) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("session still running; want it ended with %v", want)
	}
	require.ErrorIs(t, s.Err(), want)
	got, _, _ := n.book.snapshot()
	if iced {
		require.Equal(t, []peer.ID{s.ID()}, got, "iced")
	} else {
		require.Empty(t, got, "not iced")
	}
}

func TestLibp2pFailureRules(t *testing.T) {
	checkLeaks(t)
	okVersion := func() *pb.Message { return rawVersion(time.Now(), nil) }
	badMagic := okVersion()
	badMagic.Magic = 1234
	verack := protocol.NewVerack(protocol.Magic)
	peers := protocol.NewPeers(protocol.Magic, nil)

	type raw struct {
		name   string
		frames [][]byte      // written as they are
		msgs   []*pb.Message // written after frames
		ice    bool
		want   Reason
		setup  func(n *lpNode)
		after  func(t *testing.T, s *sessiontest.RawStream) // runs after the writes
		clock  bool                                         // give the node a FakeClock
	}
	inbound := []raw{
		{name: "undecodable payload", frames: [][]byte{{0xff, 0xff, 0xff}}, want: ReasonDecode, ice: true},
		{name: "empty frame", frames: [][]byte{{}}, want: ReasonDecode, ice: true},
		{name: "bad magic", msgs: []*pb.Message{badMagic}, want: ReasonBadMagic, ice: true},
		{name: "bad magic after consolidation", after: func(t *testing.T, s *sessiontest.RawStream) {
			m := protocol.NewLastBeacon(protocol.Magic, nil)
			m.Magic = 1
			s.Send(t, m)
		}, want: ReasonBadMagic, ice: true},
		{name: "version timestamp too old", msgs: []*pb.Message{rawVersion(time.Now().Add(-time.Hour), nil)}, want: ReasonTimestamp, ice: true},
		{name: "version timestamp in the future", msgs: []*pb.Message{rawVersion(time.Now().Add(time.Hour), nil)}, want: ReasonTimestamp, ice: true},
		{name: "unsolicited peers", after: func(t *testing.T, s *sessiontest.RawStream) { s.Send(t, peers) }, want: ReasonUnsolicitedPeers, ice: true},
		{name: "consolidation refused", setup: func(n *lpNode) { n.m.SetLimits(-1, 0) }, msgs: []*pb.Message{okVersion(), verack}, want: ReasonConsolidateRefused, ice: true},
		{name: "handshake timeout", clock: true, want: ReasonHandshakeTimeout, ice: false},
	}
	for _, tc := range inbound {
		t.Run("inbound/"+tc.name, func(t *testing.T) {
			logs := captureLogs(t)
			var cfg Config
			var clk *FakeClock
			if tc.clock {
				clk = NewFakeClock(time.Now())
				cfg.Clock = clk
			}
			n := newNode(t, "127.0.0.1", ManagerConfig{}, cfg)
			p := newRaw(t, "127.0.0.1")
			st := p.open(t, n)
			if tc.after != nil {
				st.Handshake(t)
				n.waitCounts(t, SessionCounts{InboundConsolidated: 1})
			} else {
				// A message ignored while unconsolidated: once the session has counted it,
				// its reader runs, so its handshake timer is armed.
				st.Send(t, protocol.NewGetPeers(protocol.Magic))
				n.waitCounts(t, SessionCounts{InboundUnconsolidated: 1})
			}
			s := mustLookup(t, n.m, p.h.ID(), Inbound)
			if tc.after == nil {
				require.Eventually(t, func() bool { return s.Stats().Unexpected[protocol.KindGetPeers] == 1 },
					5*time.Second, time.Millisecond)
			}
			if tc.setup != nil {
				tc.setup(n)
			}
			for _, f := range tc.frames {
				require.NoError(t, st.WriteFrame(f))
			}
			st.Send(t, tc.msgs...)
			if tc.after != nil {
				tc.after(t, st)
			}
			if clk != nil {
				clk.Advance(DefaultHandshakeTimeout)
			}
			requireEnd(t, n, s, tc.want, tc.ice)
			logs.requireEndLogged(t, p.h.ID(), tc.want)
			n.waitCounts(t, SessionCounts{})
		})
	}

	// Rules that only apply to sessions we open: the raw peer answers our Version.
	future := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(500, protocol.Hash{}), nil)
	oldSuper := protocol.NewLastBeaconPB(nil, protocol.NewCheckpointBeacon(5, protocol.Hash{9}))
	forkSuper := protocol.NewLastBeaconPB(nil, protocol.NewCheckpointBeacon(20, protocol.Hash{7}))
	ours := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(100, protocol.Hash{1}), protocol.NewCheckpointBeacon(20, protocol.Hash{2}))
	outbound := []struct {
		name  string
		typ   Type
		epoch uint32
		reply *pb.Message // nil: never answer
		want  Reason
		ice   bool
	}{
		{"block beacon in our future", Outbound, 101, rawVersion(time.Now(), future), ReasonBeacon, true},
		{"superblock older than ours", Outbound, 101, rawVersion(time.Now(), oldSuper), ReasonBeacon, true},
		{"superblock forks from ours", Feeler, 101, rawVersion(time.Now(), forkSuper), ReasonBeacon, true},
		{"superblock mismatch in a superblock epoch", Outbound, 110, rawVersion(time.Now(), oldSuper), ReasonBeaconSuperblockEpoch, false},
		{"version timestamp", Feeler, 101, rawVersion(time.Now().Add(-time.Hour), ours), ReasonTimestamp, true},
		{"bad magic", Outbound, 101, badMagic, ReasonBadMagic, true},
		{"handshake timeout", Outbound, 101, nil, ReasonHandshakeTimeout, true},
		{"feeler handshake timeout", Feeler, 101, nil, ReasonHandshakeTimeout, false},
	}
	for _, tc := range outbound {
		t.Run(tc.typ.String()+"/"+tc.name, func(t *testing.T) {
			logs := captureLogs(t)
			clk := NewFakeClock(time.Now())
			chain := &lpChain{epoch: tc.epoch, beacon: ours}
			n := newNode(t, "127.0.0.1", ManagerConfig{}, Config{Clock: clk, Chain: chain})
			p := newRaw(t, "127.0.0.1")
			got := make(chan struct{})
			p.serve(func(s *sessiontest.RawStream) {
				// Runs on a libp2p goroutine: report with Errorf, never FailNow.
				defer close(got)
				if m, err := s.ReadMsg(); err != nil || protocol.KindOf(m) != protocol.KindVersion {
					t.Errorf("the node's first message: %v, %v", protocol.KindOf(m), err)
					return
				}
				if tc.reply == nil {
					return
				}
				for _, m := range []*pb.Message{verack, tc.reply} {
					if err := s.WriteMsg(m); err != nil {
						t.Errorf("answering: %v", err)
						return
					}
				}
			})
			s := n.dial(t, p.info(), tc.typ)
			<-got
			if tc.reply == nil {
				clk.Advance(DefaultHandshakeTimeout)
			}
			requireEnd(t, n, s, tc.want, tc.ice)
			logs.requireEndLogged(t, p.h.ID(), tc.want)
			n.waitCounts(t, SessionCounts{})
		})
	}
}
