package legacy

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

const waitFor = 5 * time.Second

// side is one end of the tests: a manager, a book and a transport.
type side struct {
	m    *session.Manager
	book *testBook
	tr   *Transport
	reg  *prometheus.Registry
}

// testBook records what the sessions tell the address book about plain-TCP peers.
type testBook struct {
	mu    sync.Mutex
	tried map[netip.AddrPort]bool
	iced  map[netip.AddrPort]bool
}

func newTestBook() *testBook {
	return &testBook{tried: map[netip.AddrPort]bool{}, iced: map[netip.AddrPort]bool{}}
}

func (b *testBook) PeersForGetPeers(session.Peer) [][]byte { return nil }
func (b *testBook) AddPeers(session.Peer, [][]byte)        {}
func (b *testBook) Good(p session.Peer)                    { b.set(b.tried, p.AddrPort, true) }
func (b *testBook) Ice(p session.Peer)                     { b.set(b.iced, p.AddrPort, true) }
func (b *testBook) RemoveTried(p session.Peer)             { b.set(b.tried, p.AddrPort, false) }

func (b *testBook) set(m map[netip.AddrPort]bool, ap netip.AddrPort, v bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if v {
		m[ap] = true
	} else {
		delete(m, ap)
	}
}

func (b *testBook) has(m map[netip.AddrPort]bool, ap netip.AddrPort) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return m[ap]
}

// newSide builds a transport, listening on 127.0.0.1 unless listen is false.
func newSide(t *testing.T, listen bool, mcfg session.ManagerConfig, cfg Config) *side {
	t.Helper()
	s := &side{book: newTestBook(), reg: prometheus.NewRegistry()}
	s.m = session.NewManager(mcfg)
	cfg.Manager, cfg.Registerer = s.m, s.reg
	if cfg.Session.AddressBook == nil {
		cfg.Session.AddressBook = s.book
	}
	var err error
	s.tr, err = New(cfg)
	require.NoError(t, err)
	if listen {
		require.NoError(t, s.tr.Listen(netip.MustParseAddrPort("127.0.0.1:0")))
	}
	t.Cleanup(func() {
		require.NoError(t, s.tr.Close())
		require.NoError(t, s.m.Close())
	})
	return s
}

func (s *side) addr() netip.AddrPort { return s.tr.Addr().(*net.TCPAddr).AddrPort() }

// accepts returns the value of witnet_tcp_accepts_total{result}.
func (s *side) accepts(result string) int {
	var m dto.Metric
	if err := s.tr.m.accepts.WithLabelValues(result).Write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}

// rawDial connects to s from the loopback address from (127.x.y.z).
func rawDial(t *testing.T, s *side, from string) *net.TCPConn {
	t.Helper()
	c, err := tryDial(t, s, from)
	require.NoError(t, err)
	return c
}

// tryDial is rawDial for a connection that may be refused: a reset that arrives before
// connect returns is its error.
func tryDial(t *testing.T, s *side, from string) (*net.TCPConn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: waitFor}
	c, err := d.Dial("tcp", s.addr().String())
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn), nil
}

// localAP is the socket address of c's local end.
func localAP(c net.Conn) netip.AddrPort { return c.LocalAddr().(*net.TCPAddr).AddrPort() }

func TestDialAndAccept(t *testing.T) {
	a := newSide(t, true, session.ManagerConfig{}, Config{})
	b := newSide(t, false, session.ManagerConfig{}, Config{Public: netip.MustParseAddrPort("203.0.113.7:21337")})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	out, err := b.tr.Dial(ctx, a.addr(), session.Outbound)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return out.Status() == session.Consolidated && a.m.NumSessionsOf(session.TransportTCP).InboundConsolidated == 1
	}, waitFor, time.Millisecond)
	require.Equal(t, session.TransportTCP, out.Peer().Transport)
	require.Equal(t, session.TCPKey(a.addr()), out.Key())
	require.Zero(t, a.m.NumSessionsOf(session.TransportLibp2p).Inbound())
	require.Zero(t, a.tr.Handshaking(), "a consolidated session frees its handshake slot")
	require.Equal(t, 1, a.accepts(acceptedSession))

	in := a.m.ConsolidatedPeers()[0]
	require.Equal(t, session.Inbound, in.Type)
	v := out.RemoteVersion()
	require.Equal(t, protocol.LegacyAddress(in.Peer.AddrPort), v.GetReceiverAddress().GetAddress(), "receiver = our source IP:port")
	require.Equal(t, make([]byte, 6), v.GetSenderAddress().GetAddress(), "no public address: 0.0.0.0:0")
	inV := func() *pb.Version {
		s, _ := a.m.LookupKey(in.Peer.Key(), session.Inbound)
		return s.RemoteVersion()
	}()
	require.Equal(t, protocol.LegacyAddress(netip.MustParseAddrPort("203.0.113.7:21337")), inV.GetSenderAddress().GetAddress())
	require.Equal(t, protocol.LegacyAddress(a.addr()), inV.GetReceiverAddress().GetAddress(), "receiver = the address dialled")

	// The consolidated outbound peer is tried: it is what a Peers reply offers.
	require.True(t, b.book.has(b.book.tried, a.addr()))

	_, err = b.tr.Dial(ctx, netip.MustParseAddrPort("203.0.113.7:21337"), session.Outbound)
	require.ErrorIs(t, err, ErrDialSelf)
	_, err = b.tr.Dial(ctx, a.addr(), session.Inbound)
	require.ErrorIs(t, err, session.ErrDialType)
	_, err = b.tr.Dial(ctx, a.addr(), session.Outbound)
	require.ErrorIs(t, err, session.ReasonRegisterRefused, "one outbound session per address")
	require.ErrorIs(t, err, session.ErrAddressAlreadyRegistered)
}

func TestDialRefusedByLimit(t *testing.T) {
	a := newSide(t, true, session.ManagerConfig{}, Config{})
	b := newSide(t, false, session.ManagerConfig{TCPOutboundLimit: -1}, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	s, err := b.tr.Dial(ctx, a.addr(), session.Outbound)
	require.Nil(t, s)
	require.ErrorIs(t, err, session.ReasonRegisterRefused)
	require.ErrorIs(t, err, session.ErrMaxPeersReached)
	require.Eventually(t, func() bool {
		return a.accepts(acceptedSession) == 1 && a.tr.Handshaking() == 0 && a.m.NumSessions() == session.SessionCounts{}
	}, waitFor, time.Millisecond, "the listener's side ended when the dialler closed")
}

func TestAcceptBounds(t *testing.T) {
	a := newSide(t, true, session.ManagerConfig{}, Config{Bounds: Bounds{MaxHandshaking: 3, MaxHandshakingPerIP: 2, AcceptRate: -1}})
	var conns []*net.TCPConn
	for i, from := range []string{"127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		c, err := tryDial(t, a, from)
		if i != 2 && i != 4 { // those two are refused
			require.NoError(t, err)
		}
		conns = append(conns, c)
		// One at a time, so that which bound refuses each is certain.
		require.Eventually(t, func() bool {
			return a.accepts(acceptedSession)+a.accepts(refusedPerIP)+a.accepts(refusedTotal) == i+1
		}, waitFor, time.Millisecond)
	}
	require.Equal(t, 3, a.accepts(acceptedSession))
	require.Equal(t, 1, a.accepts(refusedPerIP), "the third connection from 127.0.0.1")
	require.Equal(t, 1, a.accepts(refusedTotal), "127.0.0.3 after three handshaking")
	require.Equal(t, 3, a.tr.Handshaking())
	for _, c := range []*net.TCPConn{conns[2], conns[4]} { // the refused ones were reset
		if c != nil {
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			_, err := c.Read(make([]byte, 1))
			require.Error(t, err)
		}
	}

	// A connection that goes away frees its slot; another IP gets in.
	require.NoError(t, conns[0].Close())
	require.Eventually(t, func() bool { return a.tr.Handshaking() == 2 }, waitFor, time.Millisecond)
	rawDial(t, a, "127.0.0.3")
	require.Eventually(t, func() bool { return a.accepts(acceptedSession) == 4 }, waitFor, time.Millisecond,
		"accepted %d, refused per IP %d, in total %d", a.accepts(acceptedSession), a.accepts(refusedPerIP), a.accepts(refusedTotal))
}

func TestAcceptRate(t *testing.T) {
	clk := session.NewFakeClock(time.Unix(1_700_000_000, 0))
	a := newSide(t, true, session.ManagerConfig{}, Config{Session: session.Config{Clock: clk}, Bounds: Bounds{AcceptRate: 1, AcceptBurst: 2}})
	for i := range 3 {
		_, _ = tryDial(t, a, fmt.Sprintf("127.0.1.%d", i+1)) // the third is refused
		require.Eventually(t, func() bool { return a.accepts(acceptedSession)+a.accepts(refusedRate) == i+1 }, waitFor, time.Millisecond)
	}
	require.Equal(t, [2]int{2, 1}, [2]int{a.accepts(acceptedSession), a.accepts(refusedRate)}, "a burst of 2")
	clk.Advance(time.Second)
	rawDial(t, a, "127.0.1.9")
	require.Eventually(t, func() bool { return a.accepts(acceptedSession) == 3 }, waitFor, time.Millisecond, "one more token a second later")
}

// TestAcceptIcedIP: a connection from an IP the book has iced as a whole is closed as
// soon as it is accepted; other IPs are served.
func TestAcceptIcedIP(t *testing.T) {
	iced := netip.MustParseAddr("127.0.0.5")
	a := newSide(t, true, session.ManagerConfig{}, Config{IcedIP: func(ip netip.Addr) bool { return ip == iced }})
	if c, err := tryDial(t, a, iced.String()); err == nil {
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		_, err = c.Read(make([]byte, 1))
		require.Error(t, err, "reset")
	}
	require.Eventually(t, func() bool { return a.accepts(refusedIcedIP) == 1 }, waitFor, time.Millisecond)
	rawDial(t, a, "127.0.0.6")
	require.Eventually(t, func() bool { return a.accepts(acceptedSession) == 1 }, waitFor, time.Millisecond)
}

// writeFrame writes one frame, header and payload.
func writeFrame(t *testing.T, c net.Conn, payload []byte) {
	t.Helper()
	_, err := c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...))
	require.NoError(t, err)
}

func writeMsg(t *testing.T, c net.Conn, m *pb.Message) {
	t.Helper()
	b, err := protocol.Marshal(m)
	require.NoError(t, err)
	writeFrame(t, c, b)
}

func readMsg(t *testing.T, r *codec.Reader) *pb.Message {
	t.Helper()
	f, err := r.ReadFrame()
	require.NoError(t, err)
	m, err := protocol.Unmarshal(f)
	require.NoError(t, err)
	return m
}

func TestHandshakeFrameBound(t *testing.T) {
	a := newSide(t, true, session.ManagerConfig{}, Config{Bounds: Bounds{MaxHandshakeFrame: 1 << 10}})

	// Before the handshake: a header announcing more than the bound ends the session as
	// an oversized frame would, before the payload is read or allocated.
	c := rawDial(t, a, "127.0.0.1")
	_, err := c.Write(binary.BigEndian.AppendUint32(nil, 2<<10))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.book.has(a.book.iced, localAP(c)) }, waitFor, time.Millisecond, "the peer was iced")
	require.Eventually(t, func() bool { return a.tr.Handshaking() == 0 }, waitFor, time.Millisecond)

	// After it, frames up to the session's own limit are fine: an announcement of 100
	// blocks (about 4 KiB) is answered. (From another IP: the kernel may give the new
	// connection the iced port again, and the ice would not matter, but the test would
	// not know which connection the iced address is.)
	c = rawDial(t, a, "127.0.0.2")
	_ = c.SetDeadline(time.Now().Add(waitFor))
	r := codec.NewReader(c, 0)
	writeMsg(t, c, protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: time.Now().Unix(), Nonce: 7}))
	require.Equal(t, protocol.KindVerack, protocol.KindOf(readMsg(t, r)))
	require.Equal(t, protocol.KindVersion, protocol.KindOf(readMsg(t, r)))
	writeMsg(t, c, protocol.NewVerack(protocol.Magic))
	entries := make([]*pb.InventoryEntry, 100)
	for i := range entries {
		entries[i] = protocol.BlockEntry(protocol.Hash{byte(i), 1})
	}
	ann, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
	require.NoError(t, err)
	b, err := protocol.Marshal(ann)
	require.NoError(t, err)
	require.Greater(t, len(b), 1<<10)
	writeFrame(t, c, b)
	req := readMsg(t, r)
	require.Equal(t, protocol.KindInventoryRequest, protocol.KindOf(req))
	require.Len(t, req.GetKind().GetInventoryRequest().GetInventory(), 100)
}
