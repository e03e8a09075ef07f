package session

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// t0 is the fake clock's start: a mainnet-era UNIX time.
var t0 = time.Unix(1_750_000_000, 0)

// Unit tests of sessions and of the manager run their sessions over net.Pipe inside a
// testing/synctest bubble: time is virtual (a wait that can never end fails at once
// instead of after waitTimeout of real time), synctest.Wait returns once every goroutine
// of the test is blocked (so whatever a session does in reply to the test's last step has
// been done, and what has not happened will not), and synctest.Test fails if a goroutine
// the test started is still blocked when it ends, which is these tests' leak check.
// Tests over real libp2p hosts cannot run in a bubble; they wait on conditions with
// eventually.

// waitTimeout bounds every wait on a condition: in real time for tests over real
// networks, in virtual time in a synctest bubble.
const waitTimeout = 5 * time.Second

// requireSettled waits until every other goroutine of the test's synctest bubble is
// blocked, then requires cond: what the sessions do in reply to the test's last step is
// done by then.
func requireSettled(t testing.TB, cond func() bool, what string) {
	t.Helper()
	synctest.Wait()
	if !cond() {
		t.Fatalf("%s: not so once every goroutine is blocked", what)
	}
}

// eventually waits, in real time, until cond holds; it is for tests and benchmarks that
// cannot run in a synctest bubble.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	require.Eventually(t, cond, waitTimeout, 100*time.Microsecond, "timed out waiting for %s", what)
}

// ---- fake services ----

type unregisterCall struct {
	t    Type
	last Status
}

// fakeRegistry records every call; registerErr and consolidateErr make it refuse.
type fakeRegistry struct {
	mu             sync.Mutex
	registerErr    error
	consolidateErr error
	registered     int
	consolidated   int
	unregistered   []unregisterCall
	beacons        []*pb.LastBeacon
}

func (r *fakeRegistry) Register(*Session) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.registerErr != nil {
		return r.registerErr
	}
	r.registered++
	return nil
}

func (r *fakeRegistry) Consolidate(s *Session) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.consolidateErr != nil {
		return r.consolidateErr
	}
	if s.RemoteVersion() == nil {
		return errors.New("test: RemoteVersion not set at Consolidate")
	}
	r.consolidated++
	return nil
}

func (r *fakeRegistry) Unregister(_ *Session, t Type, last Status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unregistered = append(r.unregistered, unregisterCall{t, last})
}

func (r *fakeRegistry) OutboundBeacon(_ *Session, b *pb.LastBeacon) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beacons = append(r.beacons, b)
}

func (r *fakeRegistry) snapshot() (registered, consolidated int, unregistered []unregisterCall) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.registered, r.consolidated, append([]unregisterCall(nil), r.unregistered...)
}

// fakeBook is an address book that records what the session tells it.
type fakeBook struct {
	mu    sync.Mutex
	tried [][]byte
	added [][]byte
	from  []Peer
	good  []Peer
	iced  []Peer
}

func (b *fakeBook) PeersForGetPeers(Peer) [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tried
}

func (b *fakeBook) AddPeers(from Peer, addrs [][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.added = append(b.added, addrs...)
	b.from = append(b.from, from)
}

func (b *fakeBook) Good(p Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.good = append(b.good, p)
}

func (b *fakeBook) Ice(p Peer) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.iced = append(b.iced, p)
}

func (b *fakeBook) RemoveTried(Peer) {}

func (b *fakeBook) icedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.iced)
}

func (b *fakeBook) goodCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.good)
}

func (b *fakeBook) addedAddrs() [][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]byte(nil), b.added...)
}

// fakeInventory holds items by entry key and records what it receives.
type fakeInventory struct {
	mu       sync.Mutex
	items    map[string]*pb.Message_Command
	received []*pb.Message
}

func entryKey(e *pb.InventoryEntry) string {
	switch k := e.GetKind().(type) {
	case *pb.InventoryEntry_Block:
		return fmt.Sprintf("block:%x", k.Block.GetSHA256())
	case *pb.InventoryEntry_Tx:
		return fmt.Sprintf("tx:%x", k.Tx.GetSHA256())
	case *pb.InventoryEntry_SuperBlock:
		return fmt.Sprintf("sb:%d", k.SuperBlock)
	}
	return "?"
}

func (inv *fakeInventory) hold(e *pb.InventoryEntry, cmd *pb.Message_Command) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.items == nil {
		inv.items = map[string]*pb.Message_Command{}
	}
	inv.items[entryKey(e)] = cmd
}

func (inv *fakeInventory) Missing(entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var out []*pb.InventoryEntry
	for _, e := range entries {
		if _, ok := inv.items[entryKey(e)]; !ok {
			out = append(out, e)
		}
	}
	return out
}

func (inv *fakeInventory) Item(e *pb.InventoryEntry) (*pb.Message_Command, bool) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	c, ok := inv.items[entryKey(e)]
	return c, ok
}

func (inv *fakeInventory) Received(_ *Session, m *pb.Message) Offence {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.received = append(inv.received, m)
	return OffenceNone
}

func (inv *fakeInventory) receivedKinds() []protocol.Kind {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var ks []protocol.Kind
	for _, m := range inv.received {
		ks = append(ks, protocol.KindOf(m))
	}
	return ks
}

// fakeChain has a fixed beacon, an epoch the test sets, and records inbound beacons.
type fakeChain struct {
	mu      sync.Mutex
	beacon  *pb.LastBeacon
	epoch   uint32
	target  *pb.CheckpointBeacon
	inbound []*pb.LastBeacon
}

func (c *fakeChain) LastBeacon() *pb.LastBeacon {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.beacon == nil {
		return protocol.NewLastBeaconPB(nil, nil)
	}
	return c.beacon
}

func (c *fakeChain) Epoch(time.Time) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func (c *fakeChain) SuperBlockTarget() *pb.CheckpointBeacon {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target
}

func (c *fakeChain) InboundBeacon(_ *Session, b *pb.LastBeacon) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inbound = append(c.inbound, b)
}

// fakeEnv bundles the fakes of one side.
type fakeEnv struct {
	reg   *fakeRegistry
	book  *fakeBook
	inv   *fakeInventory
	chain *fakeChain
	clock *FakeClock
	cfg   Config
}

func newEnv(clock *FakeClock) *fakeEnv {
	e := &fakeEnv{
		reg:   &fakeRegistry{},
		book:  &fakeBook{},
		inv:   &fakeInventory{},
		chain: &fakeChain{},
		clock: clock,
	}
	e.cfg = Config{
		Clock:       clock,
		Nonces:      NewNonceSet(0),
		Registry:    e.reg,
		AddressBook: e.book,
		Inventory:   e.inv,
		Chain:       e.chain,
	}
	return e
}

// testPeer returns a Peer with a real peer ID and a TCP address.
func testPeer(t testing.TB, n int) Peer {
	t.Helper()
	id, err := peer.Decode(testIDs[n%len(testIDs)])
	require.NoError(t, err)
	ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})
	addr, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/%s/tcp/%d", ip, 21337+n))
	require.NoError(t, err)
	return Peer{ID: id, Addr: addr, IP: ip}
}

var testIDs = []string{
	"12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
	"12D3KooWHHzSeKaY8xuZVzkLbKFfvNgPPeKhFBGrMbNzbm5akpqu",
	"12D3KooWLRPJAA5o6Z6y1r5A3yGXn4mzwumjt6bbS4KX3PAaq2JB",
}

// startSession starts a session of type typ over conn and ends it when the test ends.
func startSession(t testing.TB, conn net.Conn, p Peer, typ Type, cfg Config) *Session {
	t.Helper()
	s := New(conn, p, typ, cfg)
	t.Cleanup(func() {
		s.Close(nil)
		waitDone(t, s)
	})
	s.Start()
	return s
}

func waitDone(t testing.TB, s *Session) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(waitTimeout):
		t.Fatalf("session %s/%s did not end", s.Type(), s.Peer())
	}
}

// requireUnregisteredOnce checks the single Unregister call of a registered session.
func requireUnregisteredOnce(t testing.TB, reg *fakeRegistry, typ Type, last Status) {
	t.Helper()
	_, _, calls := reg.snapshot()
	require.Equal(t, []unregisterCall{{typ, last}}, calls)
}

// ---- pipe peer: a scripted remote end speaking frames directly ----

type pipePeer struct {
	t    testing.TB
	conn net.Conn
	w    *codec.Writer
	msgs chan *pb.Message
	done chan struct{}
}

func newPipePeer(t testing.TB, conn net.Conn) *pipePeer {
	p := &pipePeer{t: t, conn: conn, w: codec.NewWriter(conn, 0), msgs: make(chan *pb.Message, 4096), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		defer close(p.msgs)
		r := codec.NewReader(conn, 0)
		for {
			b, err := r.ReadFrame()
			if err != nil {
				return
			}
			m, err := protocol.Unmarshal(b)
			if err != nil {
				t.Errorf("raw peer: session sent an undecodable message: %v", err)
				return
			}
			p.msgs <- m
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *pipePeer) close() {
	p.conn.Close()
	<-p.done
}

// send writes m; errors are ignored when the session may already have closed.
func (p *pipePeer) send(m *pb.Message) error {
	b, err := protocol.Marshal(m)
	require.NoError(p.t, err)
	return p.w.WriteFrame(b)
}

func (p *pipePeer) sendRaw(payload []byte) error { return p.w.WriteFrame(payload) }

// expect returns the next message the session sent, which must be of kind k.
func (p *pipePeer) expect(k protocol.Kind) *pb.Message {
	p.t.Helper()
	select {
	case m, ok := <-p.msgs:
		require.True(p.t, ok, "stream closed while expecting %s", k)
		require.Equal(p.t, k, protocol.KindOf(m), "unexpected message %v", m)
		return m
	case <-time.After(waitTimeout):
		p.t.Fatalf("timed out expecting %s", k)
		return nil
	}
}

// expectClosed waits until the session closed the stream, failing on any message.
func (p *pipePeer) expectClosed() {
	p.t.Helper()
	select {
	case m, ok := <-p.msgs:
		require.False(p.t, ok, "unexpected message %v", m)
	case <-time.After(waitTimeout):
		p.t.Fatal("timed out waiting for the session to close the stream")
	}
}

// expectNothing checks that the session sent nothing more: once every goroutine of the
// bubble is blocked, nothing is on its way either.
func (p *pipePeer) expectNothing() {
	p.t.Helper()
	synctest.Wait()
	select {
	case m, ok := <-p.msgs:
		if ok {
			p.t.Fatalf("unexpected message %v", m)
		}
	default:
	}
}

// peerVersion builds a Version as a peer at the fake clock's time would send.
func peerVersion(clock *FakeClock, beacon *pb.LastBeacon, nonce uint64) *pb.Message {
	return protocol.NewVersion(protocol.VersionParams{
		Magic:     protocol.Magic,
		Timestamp: clock.Now().Unix(),
		Nonce:     nonce,
		Beacon:    beacon,
		Sender:    protocol.LegacyAddress(netip.MustParseAddrPort("192.168.1.1:8000")),
	})
}

// consolidateInbound drives an Inbound session through the handshake from the raw side.
func consolidateInbound(t testing.TB, p *pipePeer, clock *FakeClock, s *Session) {
	t.Helper()
	require.NoError(t, p.send(peerVersion(clock, nil, 42)))
	p.expect(protocol.KindVerack)
	p.expect(protocol.KindVersion)
	require.NoError(t, p.send(protocol.NewVerack(protocol.Magic)))
	requireSettled(t, func() bool { return s.Status() == Consolidated }, "consolidation")
}

// consolidateOutbound drives an Outbound session through the handshake from the raw side.
func consolidateOutbound(t testing.TB, p *pipePeer, clock *FakeClock, s *Session) {
	t.Helper()
	p.expect(protocol.KindVersion)
	require.NoError(t, p.send(protocol.NewVerack(protocol.Magic)))
	require.NoError(t, p.send(peerVersion(clock, nil, 43)))
	p.expect(protocol.KindVerack)
	requireSettled(t, func() bool { return s.Status() == Consolidated }, "consolidation")
}

// pipeSession starts a session of type typ whose remote end is a raw peer.
func pipeSession(t testing.TB, typ Type, e *fakeEnv) (*Session, *pipePeer) {
	t.Helper()
	c1, c2 := net.Pipe()
	p := newPipePeer(t, c2)
	s := startSession(t, c1, testPeer(t, 1), typ, e.cfg)
	return s, p
}

// ---- tests ----

func TestHandshakePair(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := NewFakeClock(t0)
		a, b := newEnv(clock), newEnv(clock)
		b.book.tried = [][]byte{
			protocol.LegacyAddress(netip.MustParseAddrPort("1.2.3.4:21337")),
			protocol.LegacyAddress(netip.MustParseAddrPort("[2001:db8::1]:21337")),
		}
		a.cfg.SenderAddress = protocol.LegacyAddress(netip.MustParseAddrPort("5.6.7.8:21337"))

		c1, c2 := net.Pipe()
		out := startSession(t, c1, testPeer(t, 2), Outbound, a.cfg)
		in := startSession(t, c2, testPeer(t, 1), Inbound, b.cfg)

		requireSettled(t, func() bool { return out.Status() == Consolidated && in.Status() == Consolidated }, "both consolidated")
		_, consA, _ := a.reg.snapshot()
		_, consB, _ := b.reg.snapshot()
		require.Equal(t, 1, consA)
		require.Equal(t, 1, consB)
		require.Equal(t, 1, a.book.goodCount(), "outbound peer goes to tried")
		requireSettled(t, func() bool { return len(b.book.addedAddrs()) == 1 }, "inbound sender address offered")
		require.Equal(t, a.cfg.SenderAddress, b.book.addedAddrs()[0])
		require.Equal(t, protocol.UserAgent(), in.RemoteVersion().GetUserAgent())

		// Receiver address: A's view of B (its transport address plus /p2p/<id>).
		ra, err := protocol.ParseAddress(in.RemoteVersion().GetReceiverAddress().GetAddress())
		require.NoError(t, err)
		require.Equal(t, testPeer(t, 2).ID, ra.PeerID())

		// Discovery: A asks, B answers from its tried bucket, A's book gets them.
		require.NoError(t, out.GetPeers())
		requireSettled(t, func() bool { return len(a.book.addedAddrs()) == 2 }, "peers accepted")
		require.Equal(t, b.book.tried, a.book.addedAddrs())

		// A write is counted once it returned, which can be just after the peer read it.
		requireSettled(t, func() bool { return out.Stats().MessagesOut[protocol.KindGetPeers] == 1 }, "GetPeers counted")
		st := out.Stats()
		require.Equal(t, uint64(1), st.MessagesOut[protocol.KindVersion])
		require.Equal(t, uint64(1), st.MessagesOut[protocol.KindVerack])
		require.Equal(t, uint64(1), st.MessagesOut[protocol.KindGetPeers])
		require.Equal(t, uint64(1), st.MessagesIn[protocol.KindPeers])
		require.NotZero(t, st.BytesIn[protocol.KindPeers])

		out.Close(nil)
		waitDone(t, out)
		waitDone(t, in)
		require.ErrorIs(t, out.Err(), ReasonLocalClose)
		require.ErrorIs(t, in.Err(), ReasonRemoteClosed)
		requireUnregisteredOnce(t, a.reg, Outbound, Consolidated)
		requireUnregisteredOnce(t, b.reg, Inbound, Consolidated)
		require.Zero(t, a.book.icedCount())
		require.Zero(t, b.book.icedCount())
	})
}

func TestFeeler(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := NewFakeClock(t0)
		a, b := newEnv(clock), newEnv(clock)
		c1, c2 := net.Pipe()
		feeler := startSession(t, c1, testPeer(t, 2), Feeler, a.cfg)
		in := startSession(t, c2, testPeer(t, 1), Inbound, b.cfg)

		waitDone(t, feeler)
		require.ErrorIs(t, feeler.Err(), ReasonFeelerDone)
		require.Equal(t, 1, a.book.goodCount(), "feeler reports the peer as good")
		require.Zero(t, a.book.icedCount())
		reg, cons, unreg := a.reg.snapshot()
		require.Zero(t, reg, "feelers do not register")
		require.Zero(t, cons)
		require.Empty(t, unreg)

		// The feeler closes right after queueing its Verack (as witnet-rust's feeler stops):
		// the inbound side may or may not have consolidated before it saw the end.
		waitDone(t, in)
		require.ErrorIs(t, in.Err(), ReasonRemoteClosed)
		_, _, unreg = b.reg.snapshot()
		require.Len(t, unreg, 1)
		require.Equal(t, Inbound, unreg[0].t)
	})
}

func TestSelfConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := NewFakeClock(t0)
		e := newEnv(clock) // one node: both ends share the nonce set and services
		c1, c2 := net.Pipe()
		out := startSession(t, c1, testPeer(t, 1), Outbound, e.cfg)
		in := startSession(t, c2, testPeer(t, 1), Inbound, e.cfg)
		waitDone(t, in)
		waitDone(t, out)
		require.ErrorIs(t, in.Err(), ReasonSelfConnection)
		require.Zero(t, e.book.icedCount(), "a self connection is not iced")
		_, cons, unreg := e.reg.snapshot()
		require.Zero(t, cons)
		require.Len(t, unreg, 2)
	})
}

func TestRegisterRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.reg.registerErr = errors.New("limit reached")
		c1, c2 := net.Pipe()
		defer c2.Close()
		s := New(c1, testPeer(t, 1), Outbound, e.cfg)
		s.Start()
		waitDone(t, s) // synchronous: no goroutine was started
		require.ErrorIs(t, s.Err(), ReasonRegisterRefused)
		require.ErrorContains(t, s.Err(), "limit reached")
		_, _, unreg := e.reg.snapshot()
		require.Empty(t, unreg, "a refused session is not unregistered")
		require.Zero(t, e.book.icedCount())
		require.ErrorIs(t, s.Send(protocol.NewGetPeers(protocol.Magic)), ErrClosed)
	})
}

func TestCloseBeforeStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		c1, c2 := net.Pipe()
		defer c2.Close()
		s := New(c1, testPeer(t, 1), Inbound, e.cfg)
		s.Close(errors.New("shutting down"))
		waitDone(t, s)
		s.Start() // no effect after Close
		require.ErrorIs(t, s.Err(), ReasonLocalClose)
		require.ErrorContains(t, s.Err(), "shutting down")
		reg, _, unreg := e.reg.snapshot()
		require.Zero(t, reg)
		require.Empty(t, unreg)
	})
}

func TestCloseWithReason(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		s, p := pipeSession(t, Inbound, e)
		consolidateInbound(t, p, e.clock, s)
		// The manager disconnects a peer whose beacon disagrees: the reason decides icing.
		s.Close(fmt.Errorf("peers-beacon consensus: %w", ReasonBeacon))
		waitDone(t, s)
		require.Equal(t, ReasonBeacon, ReasonOf(s.Err()))
		require.Equal(t, 1, e.book.icedCount())
		requireUnregisteredOnce(t, e.reg, Inbound, Consolidated)
		s.Close(nil) // idempotent
		require.Equal(t, ReasonBeacon, ReasonOf(s.Err()))
	})
}

func TestSeedAPIStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		s, p := pipeSession(t, Inbound, e)
		entry := protocol.BlockEntry(protocol.Hash{1})

		calls := map[string]func() error{
			"GetPeers":           s.GetPeers,
			"AnnounceItems":      func() error { return s.AnnounceItems([]*pb.InventoryEntry{entry}) },
			"RequestBlock":       func() error { return s.RequestBlock(entry) },
			"SendInventoryItem":  func() error { return s.SendInventoryItem(testTx(1)) },
			"SendLastBeacon":     func() error { return s.SendLastBeacon(nil) },
			"SendSuperBlockVote": func() error { return s.SendSuperBlockVote(testVote(3)) },
		}
		for name, call := range calls {
			require.ErrorIs(t, call(), ErrNotConsolidated, name)
		}
		consolidateInbound(t, p, e.clock, s)

		require.ErrorIs(t, s.AnnounceItems(nil), ErrEmptyInventory)
		require.ErrorIs(t, s.AnnounceItems([]*pb.InventoryEntry{}), protocol.ErrEmptyInventory, "one error, both names")
		require.ErrorIs(t, s.SendInventoryItem(protocol.NewGetPeers(protocol.Magic)), ErrNotItem)

		want := map[string]protocol.Kind{
			"GetPeers": protocol.KindGetPeers, "AnnounceItems": protocol.KindInventoryAnnouncement,
			"RequestBlock": protocol.KindInventoryRequest, "SendInventoryItem": protocol.KindTransaction,
			"SendLastBeacon": protocol.KindLastBeacon, "SendSuperBlockVote": protocol.KindSuperBlockVote,
		}
		for _, name := range []string{"GetPeers", "AnnounceItems", "RequestBlock", "SendInventoryItem", "SendLastBeacon", "SendSuperBlockVote"} {
			require.NoError(t, calls[name](), name)
			m := p.expect(want[name])
			require.Equal(t, uint32(protocol.Magic), m.GetMagic())
		}

		// An item built with another magic goes out with the session's.
		other := testTx(2)
		other.Magic = 7
		require.NoError(t, s.SendInventoryItem(other))
		require.Equal(t, uint32(protocol.Magic), p.expect(protocol.KindTransaction).GetMagic())
		require.Equal(t, uint32(7), other.GetMagic(), "the caller's message is not modified")

		s.Close(nil)
		waitDone(t, s)
		for name, call := range calls {
			require.ErrorIs(t, call(), ErrClosed, name)
		}
	})
}

func TestSlowPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.cfg.SendQueueSize = 4
		c1, c2 := net.Pipe()
		defer c2.Close()
		// Nobody reads c2: the writer blocks on the first frame, the queue fills up.
		s := startSession(t, c1, testPeer(t, 1), Inbound, e.cfg)
		var err error
		for i := 0; i < 100 && err == nil; i++ {
			err = s.Send(protocol.NewGetPeers(protocol.Magic))
		}
		require.ErrorIs(t, err, ReasonSlowPeer)
		waitDone(t, s)
		require.ErrorIs(t, s.Err(), ReasonSlowPeer)
		require.Zero(t, e.book.icedCount())
		requireUnregisteredOnce(t, e.reg, Inbound, Unconsolidated)
	})
}

func TestSendTooLarge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.cfg.MaxFrameSize = 64
		s, p := pipeSession(t, Inbound, e)
		addrs := make([][]byte, 20)
		for i := range addrs {
			addrs[i] = protocol.LegacyAddress(netip.MustParseAddrPort("1.2.3.4:5"))
		}
		require.ErrorIs(t, s.Send(protocol.NewPeers(protocol.Magic, addrs)), codec.ErrFrameTooLarge)
		require.NoError(t, s.Send(protocol.NewGetPeers(protocol.Magic)), "the session stays usable")
		p.expect(protocol.KindGetPeers)
	})
}

func TestInventoryAnnouncement(t *testing.T) {
	var hashes []*pb.InventoryEntry
	for i := range 40 {
		hashes = append(hashes, protocol.BlockEntry(protocol.Hash{byte(i + 1)}))
	}
	known := map[int]bool{0: true, 3: true, 4: true}

	tests := []struct {
		name     string
		limit    int
		period   uint32
		wantHead int // how many of the unknown block entries are requested
	}{
		{"default limit 500 takes all", 0, 0, 37},
		{"limit raised to 2x superblock period", 5, 10, 20},
		{"limit above the floor", 25, 10, 25},
		{"small period keeps the limit", 7, 2, 7},
		{"negative means unlimited", -1, 10, 37},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				e.cfg.BlocksBatchLimit = tc.limit
				e.cfg.SuperblockPeriod = tc.period
				for i := range known {
					e.inv.hold(hashes[i], nil)
				}
				s, p := pipeSession(t, Inbound, e)
				consolidateInbound(t, p, e.clock, s)

				// Tx and superblock entries interleaved; they are never requested.
				var ann []*pb.InventoryEntry
				var unknown []*pb.InventoryEntry
				for i, h := range hashes {
					ann = append(ann, h)
					if i%10 == 0 {
						ann = append(ann, protocol.TxEntry(protocol.Hash{0xee, byte(i)}), protocol.SuperBlockEntry(uint32(i)))
					}
					if !known[i] {
						unknown = append(unknown, h)
					}
				}
				m, err := protocol.NewInventoryAnnouncement(protocol.Magic, ann)
				require.NoError(t, err)
				require.NoError(t, p.send(m))
				got := p.expect(protocol.KindInventoryRequest).GetKind().GetInventoryRequest().GetInventory()
				require.Len(t, got, tc.wantHead)
				for i := range got {
					require.Equal(t, entryKey(unknown[i]), entryKey(got[i]), "entry %d", i)
				}
			})
		})
	}

	t.Run("nothing unknown sends nothing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(NewFakeClock(t0))
			e.inv.hold(hashes[0], nil)
			s, p := pipeSession(t, Inbound, e)
			consolidateInbound(t, p, e.clock, s)
			m, err := protocol.NewInventoryAnnouncement(protocol.Magic, []*pb.InventoryEntry{hashes[0], protocol.TxEntry(protocol.Hash{9})})
			require.NoError(t, err)
			require.NoError(t, p.send(m))
			p.expectNothing()
			require.Equal(t, Consolidated, s.Status())
		})
	})
}

func TestInventoryRequestServedInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e1, e2, e3, e4 := protocol.BlockEntry(protocol.Hash{1}), protocol.TxEntry(protocol.Hash{2}), protocol.BlockEntry(protocol.Hash{3}), protocol.SuperBlockEntry(4)
		e.inv.hold(e1, testBlock(1).GetKind())
		e.inv.hold(e2, testTx(2).GetKind())
		e.inv.hold(e4, testSuperBlock(4).GetKind())
		// e3 is missing: e4 must not be sent although it is held.
		s, p := pipeSession(t, Inbound, e)
		consolidateInbound(t, p, e.clock, s)

		req, err := protocol.NewInventoryRequest(protocol.Magic, []*pb.InventoryEntry{e1, e2, e3, e4})
		require.NoError(t, err)
		require.NoError(t, p.send(req))
		require.Equal(t, uint32(1), p.expect(protocol.KindBlock).GetKind().GetBlock().GetBlockHeader().GetBeacon().GetCheckpoint())
		p.expect(protocol.KindTransaction)
		p.expectNothing()

		req, err = protocol.NewInventoryRequest(protocol.Magic, []*pb.InventoryEntry{e4, e1})
		require.NoError(t, err)
		require.NoError(t, p.send(req))
		require.Equal(t, uint32(4), p.expect(protocol.KindSuperBlock).GetKind().GetSuperBlock().GetIndex())
		p.expect(protocol.KindBlock)
	})
}

func TestItemsAndBeaconsDelivered(t *testing.T) {
	for _, typ := range []Type{Inbound, Outbound} {
		t.Run(typ.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				s, p := pipeSession(t, typ, e)
				if typ == Inbound {
					consolidateInbound(t, p, e.clock, s)
				} else {
					consolidateOutbound(t, p, e.clock, s)
				}
				items := []*pb.Message{
					testBlock(1),
					testTx(1),
					testSuperBlock(1),
					protocol.NewSuperBlockVote(protocol.Magic, testVote(1)),
				}
				for _, m := range items {
					require.NoError(t, p.send(m))
				}
				beacon := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(77, protocol.Hash{7}), nil)
				require.NoError(t, p.send(protocol.NewLastBeacon(protocol.Magic, beacon)))
				requireSettled(t, func() bool { return s.Stats().MessagesIn[protocol.KindLastBeacon] == 1 }, "beacon read")

				require.Equal(t, []protocol.Kind{protocol.KindBlock, protocol.KindTransaction, protocol.KindSuperBlock, protocol.KindSuperBlockVote}, e.inv.receivedKinds())
				e.chain.mu.Lock()
				inbound := len(e.chain.inbound)
				e.chain.mu.Unlock()
				e.reg.mu.Lock()
				outbound := len(e.reg.beacons)
				e.reg.mu.Unlock()
				if typ == Inbound {
					require.Equal(t, 1, inbound)
					require.Zero(t, outbound)
				} else {
					require.Zero(t, inbound)
					require.Equal(t, 1, outbound)
					require.Equal(t, uint32(77), e.reg.beacons[0].GetHighestBlockCheckpoint().GetCheckpoint())
				}
			})
		})
	}
}

func TestGetPeersAnswered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		s, p := pipeSession(t, Inbound, e)
		consolidateInbound(t, p, e.clock, s)
		require.NoError(t, p.send(protocol.NewGetPeers(protocol.Magic)))
		require.Empty(t, p.expect(protocol.KindPeers).GetKind().GetPeers_().GetPeers(), "empty tried bucket: empty list")
	})
}

func TestUnregisterExactlyOnce(t *testing.T) {
	// Every way a session can end, each checked for a single Unregister with the right
	// last status, and for released goroutines (synctest.Test fails on any left blocked).
	tests := []struct {
		name   string
		typ    Type
		end    func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv)
		reason Reason
		last   Status
	}{
		{"local close while unconsolidated", Inbound, func(t *testing.T, s *Session, _ *pipePeer, _ *fakeEnv) { s.Close(nil) }, ReasonLocalClose, Unconsolidated},
		{"remote close while consolidated", Inbound, func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			consolidateInbound(t, p, e.clock, s)
			p.conn.Close()
		}, ReasonRemoteClosed, Consolidated},
		{"timeout", Outbound, func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			p.expect(protocol.KindVersion)
			e.clock.Advance(DefaultHandshakeTimeout)
		}, ReasonHandshakeTimeout, Unconsolidated},
		{"decode error while consolidated", Outbound, func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			consolidateOutbound(t, p, e.clock, s)
			_ = p.sendRaw([]byte{0xff, 0xff})
		}, ReasonDecode, Consolidated},
		{"concurrent closes", Inbound, func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			consolidateInbound(t, p, e.clock, s)
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() { defer wg.Done(); s.Close(nil) }()
			}
			p.conn.Close()
			wg.Wait()
		}, ReasonNone, Consolidated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				s, p := pipeSession(t, tc.typ, e)
				tc.end(t, s, p, e)
				waitDone(t, s)
				if tc.reason != ReasonNone {
					require.Equal(t, tc.reason, ReasonOf(s.Err()))
				}
				requireUnregisteredOnce(t, e.reg, tc.typ, tc.last)
			})
		})
	}
}

// TestWriterBatches: messages queued while the writer is blocked go out in one write: the
// raw side sees them in order, and the session counts every one.
func TestWriterBatches(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.cfg.SendQueueSize = 1000
		s, p := pipeSession(t, Inbound, e)
		consolidateInbound(t, p, e.clock, s)
		const n = 500
		for i := range n {
			require.NoError(t, s.SendLastBeacon(protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(uint32(i), protocol.Hash{}), nil)))
		}
		for i := range n {
			m := p.expect(protocol.KindLastBeacon)
			require.Equal(t, uint32(i), m.GetKind().GetLastBeacon().GetHighestBlockCheckpoint().GetCheckpoint())
		}
		// A batch is counted once its Write returned, which may be just after the raw side
		// read its last byte.
		requireSettled(t, func() bool { return s.Stats().MessagesOut[protocol.KindLastBeacon] == n }, "every message counted")
		require.Equal(t, uint64(n), s.Stats().MessagesOut[protocol.KindLastBeacon])
	})
}

func TestNonceSet(t *testing.T) {
	n := NewNonceSet(3)
	for _, x := range []uint64{1, 2, 3} {
		n.Add(x)
	}
	require.True(t, n.Contains(1))
	n.Add(4) // forgets 1
	require.False(t, n.Contains(1))
	require.True(t, n.Contains(2) && n.Contains(3) && n.Contains(4))
	n.Add(4)
	n.Add(4) // ring now 4,4,4: 2 and 3 forgotten, 4 kept while any copy remains
	require.False(t, n.Contains(2) || n.Contains(3))
	require.True(t, n.Contains(4))
	require.Equal(t, DefaultNonceSetSize, cap(NewNonceSet(0).ring))
}

func TestFakeClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := NewFakeClock(t0)
		fired := make(chan int, 3)
		c.AfterFunc(2*time.Second, func() { fired <- 2 })
		c.AfterFunc(time.Second, func() { fired <- 1 })
		stopped := c.AfterFunc(time.Second, func() { fired <- 99 })
		require.True(t, stopped.Stop())
		require.False(t, stopped.Stop())
		c.Advance(999 * time.Millisecond)
		require.Equal(t, 2, c.Pending())
		c.Advance(time.Millisecond)
		require.Equal(t, 1, <-fired)
		require.Equal(t, t0.Add(time.Second), c.Now())
		c.Set(t0.Add(time.Hour))
		require.Equal(t, 2, <-fired)
		require.Zero(t, c.Pending())
	})
}

func TestTypeStatusStrings(t *testing.T) {
	require.Equal(t, "inbound", Inbound.String())
	require.Equal(t, "outbound", Outbound.String())
	require.Equal(t, "feeler", Feeler.String())
	require.Equal(t, "type(9)", Type(9).String())
	require.Equal(t, "unconsolidated", Unconsolidated.String())
	require.Equal(t, "consolidated", Consolidated.String())
	require.Equal(t, "status(7)", Status(7).String())
}

// ---- valid inventory items (protocol.Unmarshal refuses incomplete ones) ----

var (
	testPK  = &pb.PublicKey{PublicKey: make([]byte, 33)}
	testSig = &pb.KeyedSignature{
		Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: []byte{1}}}},
		PublicKey: testPK,
	}
)

func testBlock(epoch uint32) *pb.Message {
	h := protocol.NewHashPB(protocol.Hash{1})
	roots := &pb.Block_BlockHeader_BlockMerkleRoots{MintHash: h, VtHashMerkleRoot: h, DrHashMerkleRoot: h,
		CommitHashMerkleRoot: h, RevealHashMerkleRoot: h, TallyHashMerkleRoot: h, StakeHashMerkleRoot: h, UnstakeHashMerkleRoot: h}
	return protocol.NewBlock(protocol.Magic, &pb.Block{
		BlockHeader: &pb.Block_BlockHeader{
			Beacon:      protocol.NewCheckpointBeacon(epoch, protocol.Hash{2}),
			MerkleRoots: roots,
			Proof:       &pb.BlockEligibilityClaim{Proof: &pb.VrfProof{PublicKey: testPK}},
		},
		BlockSig: testSig,
	})
}

func testTx(epoch uint32) *pb.Message {
	return protocol.NewTransaction(protocol.Magic, &pb.Transaction{Kind: &pb.Transaction_Mint{Mint: &pb.MintTransaction{Epoch: epoch}}})
}

func testSuperBlock(index uint32) *pb.Message {
	h := protocol.NewHashPB(protocol.Hash{3})
	return protocol.NewSuperBlock(protocol.Magic, &pb.SuperBlock{Index: index, ArsRoot: h, DataRequestRoot: h,
		LastBlock: h, LastBlockInPreviousSuperblock: h, TallyRoot: h})
}

func testVote(index uint32) *pb.SuperBlockVote {
	return &pb.SuperBlockVote{SuperblockHash: protocol.NewHashPB(protocol.Hash{4}), SuperblockIndex: index, Secp256K1Signature: testSig}
}
