package dialer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// maxFeelers bounds the feeler dials and sessions in flight at once. witnet-rust starts
// one per feeler period and lets them overlap; a feeler lasts at most a dial timeout plus
// a handshake timeout, so a small bound only matters when peers do not answer.
const maxFeelers = 4

// Defaults of Config's zero values.
const (
	// DefaultMaxPerNetgroup bounds the outbound sessions in one netgroup (IPv4 /16, IPv6
	// /32). Bitcoin Core allows one; the Witnet network is small and much of it runs in a
	// few hosting ranges, so two keep the outbound slots fillable while an attacker who
	// owns one range still holds at most two of them.
	DefaultMaxPerNetgroup = 2
	// DefaultAnchors is how many outbound peers are kept across restarts (Bitcoin Core's
	// anchors.dat holds two block-relay peers).
	DefaultAnchors = 2
	// DefaultLegacyOutbound is how many outbound sessions with witnet-rust peers the legacy
	// rounds keep: witnet-rust's shipped outbound_limit.
	DefaultLegacyOutbound = 8
	// DefaultNoPeersHint is how often a node without any session says how to bootstrap.
	DefaultNoPeersHint = 5 * time.Minute
)

// Sessions is what the dialer reads of the sessions manager; *session.Manager implements
// it.
type Sessions interface {
	// Limits returns the inbound and outbound session limits; bootstrap rounds fill the
	// outbound one.
	Limits() (inbound, outbound int)
	// NumSessionsOf counts the live sessions of a transport.
	NumSessionsOf(tr session.Transport) session.SessionCounts
	// OutboundEligible reports whether a peer may be dialled as a new outbound session.
	OutboundEligible(id peer.ID, addr ma.Multiaddr) bool
	// OutboundEligibleKey is OutboundEligible for a peer named by its session key (a
	// witnet-rust peer's socket address).
	OutboundEligibleKey(k session.Key) bool
}

var _ Sessions = (*session.Manager)(nil)

// DialFunc opens a session of type t (Outbound or Feeler) to ai; ctx bounds the
// connection and the stream opening. session.Service.Dial is one.
type DialFunc func(ctx context.Context, ai peer.AddrInfo, t session.Type) (*session.Session, error)

// LegacyDialFunc opens a session of type t (Outbound or Feeler) with a witnet-rust peer
// over plain TCP at ap; ctx bounds the connection.
type LegacyDialFunc func(ctx context.Context, ap netip.AddrPort, t session.Type) (*session.Session, error)

// Config holds the dialer's settings and collaborators. New copies it; the zero value of
// each field means what its comment says.
type Config struct {
	// Book is the address book: where the peers to dial come from, where failed dials
	// are reported (peers.Book.Failed) and from where melted peers return. Required.
	Book *peers.Book
	// Sessions is the sessions manager. Required.
	Sessions Sessions
	// Dial opens a libp2p session. Required.
	Dial DialFunc
	// DialLegacy opens a session with a witnet-rust peer over plain TCP; nil turns the
	// legacy rounds off (and legacy entries of the book are never dialled).
	DialLegacy LegacyDialFunc
	// OnSession, if not nil, is called with every session Dial or DialLegacy opened,
	// before the dialer does anything else with it.
	OnSession func(*session.Session)
	// Connected, if not nil, reports whether the host holds a connection to a peer. A
	// feeler to such a peer would run over that connection and prove nothing about the
	// address (an inbound connection from behind a NAT, say), so it is not dialled.
	Connected func(peer.ID) bool
	// Clock paces the rounds; nil means the real clock.
	Clock session.Clock
	// Bootstrap are the configured peers (multiaddrs ending in /p2p/<id>), dialled before
	// the book's by every bootstrap round, even while iced.
	Bootstrap []ma.Multiaddr
	// LegacyBootstrap are the configured witnet-rust peers, dialled (with DialLegacy) by
	// every legacy bootstrap round, even while iced.
	LegacyBootstrap []netip.AddrPort
	// LegacyOutbound is how many outbound witnet-rust sessions the legacy rounds keep;
	// 0 means DefaultLegacyOutbound.
	LegacyOutbound int
	// BootstrapPeriod, DiscoveryPeriod and FeelerPeriod separate two rounds of each kind;
	// 0 turns the rounds of that kind off, except the first bootstrap round, which Start
	// always runs.
	BootstrapPeriod, DiscoveryPeriod, FeelerPeriod time.Duration
	// MeltPeriod separates two melt rounds; 0 means the book's MeltInterval.
	MeltPeriod time.Duration
	// DialTimeout bounds one dial (connection and stream); 0 means no bound but Close.
	DialTimeout time.Duration
	// MaxPerNetgroup bounds the outbound sessions (and dials) to peers of the book in one
	// netgroup (peers.Netgroup); configured, operator-added and anchor peers are dialled
	// regardless but count. 0 means DefaultMaxPerNetgroup; negative means no bound.
	MaxPerNetgroup int
	// NetgroupLocal applies MaxPerNetgroup to loopback and private addresses too. By
	// default they are exempt: a local devnet shares 127.0.0.1, a Docker network one
	// private range. Tests turn it on.
	NetgroupLocal bool
	// Anchors is how many outbound peers are saved as anchors, to be dialled first after a
	// restart; 0 means DefaultAnchors, negative none.
	Anchors int
	// NoPeersHint is how often a node without any session logs how to bootstrap; 0 means
	// DefaultNoPeersHint, negative never.
	NoPeersHint time.Duration
	// Registerer, if not nil, gets the dial counters (witnet_dials_total,
	// witnet_dial_failures_total).
	Registerer prometheus.Registerer
}

// Dialer runs the periodic tasks of witnet-rust's sessions and peers managers that make
// outbound connections: bootstrap rounds keep the outbound sessions at their limit,
// discovery rounds ask a peer for more peers, feeler rounds test addresses of the new
// bucket, melt rounds return iced peers to the new bucket. Its methods are safe for
// concurrent use.
type Dialer struct {
	cfg      Config // immutable after New
	dials    *prometheus.CounterVec
	failures *prometheus.CounterVec
	warn     warner

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // rounds, dials and session watchers

	feelers  atomic.Int32 // feeler dials and sessions in flight
	anchored atomic.Bool  // the anchors were dialled (first bootstrap round)

	mu       sync.Mutex
	stopping bool                  // set by Close: spawn refuses new goroutines
	dialing  map[peers.Key]dialing // outbound dials in flight
	feeling  map[peers.Key]bool    // feeler dials and sessions in flight
	out      map[*session.Session]*outSession
}

// New builds a dialer from cfg; Start starts it.
func New(cfg Config) (*Dialer, error) {
	if cfg.Book == nil || cfg.Sessions == nil || cfg.Dial == nil {
		return nil, errors.New("dialer: Book, Sessions and Dial are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = session.RealClock{}
	}
	if cfg.MeltPeriod == 0 {
		cfg.MeltPeriod = cfg.Book.MeltInterval()
	}
	cfg.LegacyOutbound = orDefault(cfg.LegacyOutbound, DefaultLegacyOutbound)
	cfg.MaxPerNetgroup = orDefault(cfg.MaxPerNetgroup, DefaultMaxPerNetgroup)
	cfg.Anchors = orDefault(cfg.Anchors, DefaultAnchors)
	cfg.NoPeersHint = orDefault(cfg.NoPeersHint, DefaultNoPeersHint)
	d := &Dialer{
		cfg: cfg,
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "witnet", Name: "dials_total",
			Help: "Outbound and feeler dials, by session type and result (ok, failed, refused).",
		}, []string{"type", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "witnet", Name: "dial_failures_total",
			Help: "Failed dials by what the address book did: counted (a third party's address, retried later), removed (failed too often), iced (the peer's own address), unknown (not in the book).",
		}, []string{"outcome"}),
		dialing: map[peers.Key]dialing{},
		feeling: map[peers.Key]bool{},
		out:     map[*session.Session]*outSession{},
		warn:    warner{seen: map[string]struct{}{}},
	}
	// Every known series starts at 0, so a dashboard sees it before the first event.
	for _, t := range []session.Type{session.Outbound, session.Feeler} {
		for _, r := range []string{"ok", "failed", "refused"} {
			d.dials.WithLabelValues(t.String(), r)
		}
	}
	for _, o := range []peers.Outcome{peers.OutcomeUnknown, peers.OutcomeCounted, peers.OutcomeRemoved, peers.OutcomeIced} {
		d.failures.WithLabelValues(o.String())
	}
	for _, typ := range []session.Type{session.Outbound, session.Feeler} { // exported at 0
		for _, result := range []string{"ok", "failed", "refused"} {
			d.dials.WithLabelValues(typ.String(), result)
		}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{d.dials, d.failures} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("dialer: metrics: %w", err)
			}
		}
	}
	return d, nil
}

// orDefault returns def for a zero v.
func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Start starts the rounds; the first bootstrap round runs at once, so the anchors and the
// configured peers are dialled on start. It does nothing after Close.
func (d *Dialer) Start() {
	d.every(d.cfg.BootstrapPeriod, true, d.bootstrapRound)
	d.every(d.cfg.DiscoveryPeriod, false, d.discoveryRound)
	d.every(d.cfg.FeelerPeriod, false, d.feelerRound)
	d.every(d.cfg.MeltPeriod, false, d.meltRound)
	if d.cfg.NoPeersHint > 0 {
		d.every(d.cfg.NoPeersHint, false, d.noPeersHint)
	}
}

// Close saves the anchors, stops the rounds, aborts the dials in flight, closes the feeler
// sessions and waits for all of it. Outbound sessions are the sessions manager's to close.
// Close is idempotent.
func (d *Dialer) Close() {
	if d.ctx.Err() == nil {
		d.saveAnchors()
	}
	d.cancel()
	d.mu.Lock()
	d.stopping = true
	d.mu.Unlock()
	d.wg.Wait()
}

// Feelers returns the number of feeler dials and sessions in flight.
func (d *Dialer) Feelers() int { return int(d.feelers.Load()) }

// Dialing returns the number of outbound dials in flight.
func (d *Dialer) Dialing() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.dialing)
}

// every runs f (first at once if immediate) and again period after each run returned,
// until Close. A zero period runs f at most once.
func (d *Dialer) every(period time.Duration, immediate bool, f func()) {
	d.spawn(func() {
		if immediate {
			f()
		}
		if period <= 0 {
			return
		}
		for {
			tick := make(chan struct{})
			t := d.cfg.Clock.AfterFunc(period, func() { close(tick) })
			select {
			case <-d.ctx.Done():
				t.Stop()
				return
			case <-tick:
			}
			f()
		}
	})
}

// spawn runs f in a goroutine Close waits for; it reports false (and does not run f)
// once the dialer is closing.
func (d *Dialer) spawn(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// dial connects to a and starts a session of type t on a new stream. A dial that fails
// is reported to the book, which ices the peer only when the address was the peer's own
// (peers.Book.Failed); a session the manager refuses (limit, duplicate) is not reported.
// warn says the address is one the operator gave: its failures are logged at WARN.
func (d *Dialer) dial(a peers.Addr, t session.Type, warn bool) (*session.Session, error) {
	ctx := d.ctx
	if d.cfg.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.DialTimeout)
		defer cancel()
	}
	typ := t.String()
	var s *session.Session
	var err error
	if a.IsLegacy() {
		if d.cfg.DialLegacy == nil {
			return nil, errors.New("dialer: no legacy dial function")
		}
		s, err = d.cfg.DialLegacy(ctx, a.Legacy, t)
	} else {
		s, err = d.cfg.Dial(ctx, a.Info(), t)
	}
	switch {
	case err == nil:
		d.dials.WithLabelValues(typ, "ok").Inc()
		if d.cfg.OnSession != nil {
			d.cfg.OnSession(s)
		}
		log.Debugw("dialled", "peer", a.Key(), "type", typ)
		return s, nil
	case d.ctx.Err() != nil:
		return nil, err // shutting down: not the peer's fault
	case errors.Is(err, session.ReasonRegisterRefused):
		d.dials.WithLabelValues(typ, "refused").Inc()
		log.Debugw("session refused by the manager", "peer", a.Key(), "type", typ, "err", err)
		return nil, err
	}
	d.dials.WithLabelValues(typ, "failed").Inc()
	out, ferr := d.cfg.Book.Failed(a)
	if ferr != nil {
		log.Warnw("address book: record a failed dial", "peer", a.Key(), "err", ferr)
	}
	d.failures.WithLabelValues(out.String()).Inc()
	log.Debugw("dial failed", "peer", a.Key(), "type", typ, "addrs", a.Addrs, "book", out, "err", err)
	if warn {
		d.warn.failed(a, err)
	}
	return nil, err
}
