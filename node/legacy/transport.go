package legacy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Default bounds (Bounds). witnet-rust has none of them: it accepts every connection and
// lets each read frames of any size.
const (
	// DefaultMaxHandshaking bounds the accepted connections whose session has not
	// consolidated yet. A handshake takes one round trip; these slots are what a
	// connection flood competes for, and what honest peers still find free within the
	// handshake timeout.
	DefaultMaxHandshaking = 64
	// DefaultMaxHandshakingPerIP bounds them per remote IP, so that one host cannot take
	// every slot.
	DefaultMaxHandshakingPerIP = 8
	// DefaultAcceptRate is the connections accepted per second on average, with bursts of
	// DefaultAcceptBurst; beyond it connections are closed as soon as accepted.
	DefaultAcceptRate  = 50
	DefaultAcceptBurst = 100
	// DefaultMaxHandshakeFrame is the largest frame payload a peer may announce before
	// its session consolidated. A Version is under 300 bytes; nothing larger belongs in a
	// handshake. With DefaultMaxHandshaking it bounds the payload buffers of handshaking
	// connections to 4 MiB in all.
	DefaultMaxHandshakeFrame = 64 << 10
)

// Bounds are the limits of the accept loop, applied before a session exists; the zero
// value of each field means its default.
type Bounds struct {
	// MaxHandshaking bounds the connections accepted and not consolidated, in total;
	// 0 means DefaultMaxHandshaking.
	MaxHandshaking int
	// MaxHandshakingPerIP bounds them per remote IP (loopback included); 0 means
	// DefaultMaxHandshakingPerIP.
	MaxHandshakingPerIP int
	// AcceptRate and AcceptBurst bound the connections accepted per second; 0 means
	// DefaultAcceptRate and DefaultAcceptBurst, a negative AcceptRate no limit.
	AcceptRate  float64
	AcceptBurst int
	// MaxHandshakeFrame is the largest frame payload, in bytes, a connection may
	// announce before its session consolidated (inbound and outbound alike; the
	// session's MaxHandshakeFrameSize); 0 means DefaultMaxHandshakeFrame.
	MaxHandshakeFrame int
}

func (b Bounds) withDefaults() Bounds {
	if b.MaxHandshaking <= 0 {
		b.MaxHandshaking = DefaultMaxHandshaking
	}
	if b.MaxHandshakingPerIP <= 0 {
		b.MaxHandshakingPerIP = DefaultMaxHandshakingPerIP
	}
	if b.AcceptRate == 0 {
		b.AcceptRate = DefaultAcceptRate
	}
	if b.AcceptBurst <= 0 {
		b.AcceptBurst = DefaultAcceptBurst
	}
	if b.MaxHandshakeFrame <= 0 {
		b.MaxHandshakeFrame = DefaultMaxHandshakeFrame
	}
	return b
}

// Config holds a Transport's settings and collaborators.
type Config struct {
	// Manager is the sessions manager every session registers with. Required.
	Manager *session.Manager
	// Session is the configuration of every session. Its Registry is replaced by the
	// Manager (seen through the connection's handshake bookkeeping), its SenderAddress
	// by Public and its MaxHandshakeFrameSize by Bounds.MaxHandshakeFrame. Its
	// AddressBook is the node's: plain-TCP peers are its IP:port entries.
	Session session.Config
	// Public is the node's public plain-TCP address, sent as Version.sender_address and
	// never dialled; the zero AddrPort sends 0.0.0.0:0, as a witnet-rust node without a
	// public address does.
	Public netip.AddrPort
	// Bounds are the accept loop's limits.
	Bounds Bounds
	// IcedIP, if not nil, reports whether a remote IP is iced as a whole (the address
	// book's escalation after many iced peers from one prefix, peers.Book.IsIcedAddr):
	// the accept loop closes a connection from it before reading a byte, as the libp2p
	// connection gater does. A peer's own socket address is never checked on accept (see
	// admit). It must be cheap and safe for concurrent use.
	IcedIP func(netip.Addr) bool
	// Registerer, if not nil, gets the transport's metrics.
	Registerer prometheus.Registerer
}

// Errors of Dial.
var (
	// ErrDialSelf: the address is the node's own listen or public address.
	ErrDialSelf = errors.New("legacy: refusing to dial our own address")
	// ErrClosed: the transport was closed.
	ErrClosed = errors.New("legacy: transport closed")
)

// Transport runs the plain-TCP sessions of a node: an optional listener whose accepted
// connections become Inbound sessions, and Dial for Outbound and Feeler ones. Sessions are
// left to the Manager: Close stops accepting and dialling, Manager.Close ends them.
type Transport struct {
	cfg    Config // defaults applied; immutable after New
	clock  session.Clock
	sender []byte
	m      *metrics

	mu          sync.Mutex
	closed      bool
	ln          *net.TCPListener
	handshaking int
	perIP       map[netip.Addr]int
	tokens      float64
	refilled    time.Time
	lastLog     map[string]time.Time // per refusal reason, throttles the Info lines
	wg          sync.WaitGroup       // the accept loop
}

// New returns a Transport; it does not listen until Listen.
func New(cfg Config) (*Transport, error) {
	if cfg.Manager == nil {
		return nil, errors.New("legacy: a sessions manager is required")
	}
	cfg.Bounds = cfg.Bounds.withDefaults()
	t := &Transport{cfg: cfg, clock: cfg.Session.Clock, perIP: map[netip.Addr]int{}, lastLog: map[string]time.Time{}}
	if t.clock == nil {
		t.clock = session.RealClock{}
	}
	if cfg.Public.IsValid() {
		t.sender = protocol.LegacyAddress(norm(cfg.Public))
	}
	t.tokens, t.refilled = float64(cfg.Bounds.AcceptBurst), t.clock.Now()
	var err error
	if t.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, err
	}
	return t, nil
}

// Listen binds addr and starts accepting connections at once. It may be called once.
func (t *Transport) Listen(addr netip.AddrPort) error {
	ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(addr))
	if err != nil {
		return fmt.Errorf("legacy: listen on %s: %w", addr, err)
	}
	t.mu.Lock()
	if t.closed || t.ln != nil {
		t.mu.Unlock()
		ln.Close()
		if t.closed {
			return ErrClosed
		}
		return errors.New("legacy: already listening")
	}
	t.ln = ln
	t.wg.Add(1)
	t.mu.Unlock()
	log.Infow("listening for plain-TCP peers", "addr", ln.Addr())
	go t.acceptLoop(ln)
	return nil
}

// Addr returns the bound listen address, or nil when not listening.
func (t *Transport) Addr() net.Addr {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln == nil {
		return nil
	}
	return t.ln.Addr()
}

// Close stops the listener and waits for the accept loop. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	ln := t.ln
	t.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	t.wg.Wait()
	return err
}

// Dial connects to ap and starts a session of type t (Outbound or Feeler) on the
// connection; ctx bounds the connection only (the handshake is bounded by the session's
// handshake timeout). The session's peer is ap as given, which is the address the node's
// peers view shows. If the manager refuses to register the session, Dial returns the
// session's error and the connection is closed; any later end is reported by the
// session's Done and Err.
func (t *Transport) Dial(ctx context.Context, ap netip.AddrPort, typ session.Type) (*session.Session, error) {
	if typ != session.Outbound && typ != session.Feeler {
		return nil, fmt.Errorf("%w: %s", session.ErrDialType, typ)
	}
	if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() {
		return nil, fmt.Errorf("legacy: cannot dial %s", ap)
	}
	if t.isSelf(ap) {
		return nil, fmt.Errorf("%w: %s", ErrDialSelf, ap)
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", ap.String())
	if err != nil {
		return nil, fmt.Errorf("legacy: connect to %s: %w", ap, err)
	}
	s, reg := t.newSession(nc.(*net.TCPConn), ap, typ, nil)
	s.Start()
	if reg.refused != nil { // Start has ended the session and closed the connection
		<-s.Done()
		return nil, s.Err()
	}
	return s, nil
}

// isSelf reports whether ap is our public address or the exact address we listen on.
func (t *Transport) isSelf(ap netip.AddrPort) bool {
	ap = norm(ap)
	if t.cfg.Public.IsValid() && ap == norm(t.cfg.Public) {
		return true
	}
	if a, ok := t.Addr().(*net.TCPAddr); ok && a != nil {
		return ap == norm(a.AddrPort())
	}
	return false
}

// newSession builds the session of a connection to peer ap; release, if not nil, frees
// the connection's handshake slot.
func (t *Transport) newSession(nc *net.TCPConn, ap netip.AddrPort, typ session.Type, release func()) (*session.Session, *connRegistry) {
	reg := &connRegistry{m: t.cfg.Manager, release: release}
	cfg := t.cfg.Session
	cfg.Registry = reg
	cfg.SenderAddress = t.sender
	cfg.MaxHandshakeFrameSize = t.cfg.Bounds.MaxHandshakeFrame
	return session.New(conn{nc}, tcpPeer(ap), typ, cfg), reg
}

// norm gives one form to the addresses of one peer (see session.TCPKey).
func norm(ap netip.AddrPort) netip.AddrPort { return session.TCPKey(ap).AddrPort() }

// tcpPeer describes the plain-TCP peer at ap.
func tcpPeer(ap netip.AddrPort) session.Peer {
	ip := ap.Addr().Unmap()
	var addr ma.Multiaddr
	if m, err := manet.FromNetAddr(net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, ap.Port()))); err == nil {
		addr = m
	}
	return session.Peer{Transport: session.TransportTCP, AddrPort: ap, IP: ip, Addr: addr}
}

// metrics are the transport's Prometheus counters.
type metrics struct {
	accepts *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{accepts: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "witnet", Name: "tcp_accepts_total",
		Help: "Plain-TCP connections accepted by the legacy listener, by result: session (a session was started) or the bound that refused it.",
	}, []string{"result"})}
	if reg != nil {
		if err := reg.Register(m.accepts); err != nil {
			return nil, fmt.Errorf("legacy: metrics: %w", err)
		}
	}
	for _, r := range []string{acceptedSession, refusedRate, refusedTotal, refusedPerIP, refusedClosing} {
		m.accepts.WithLabelValues(r) // every result from the start, at 0
	}
	return m, nil
}
