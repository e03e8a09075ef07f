package dialer

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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

// Sessions is what the dialer reads of the sessions manager; *session.Manager implements
// it.
type Sessions interface {
	// Limits returns the inbound and outbound session limits; bootstrap rounds fill the
	// outbound one.
	Limits() (inbound, outbound int)
	// NumSessions counts the live sessions.
	NumSessions() session.SessionCounts
	// OutboundEligible reports whether a peer may be dialled as a new outbound session.
	OutboundEligible(id peer.ID, addr ma.Multiaddr) bool
	// ConsolidatedPeers lists the consolidated sessions.
	ConsolidatedPeers() []session.PeerInfo
	// Lookup returns the session of id and type t.
	Lookup(id peer.ID, t session.Type) (*session.Session, bool)
}

var _ Sessions = (*session.Manager)(nil)

// DialFunc opens a session of type t (Outbound or Feeler) to ai; ctx bounds the
// connection and the stream opening. session.Service.Dial is one.
type DialFunc func(ctx context.Context, ai peer.AddrInfo, t session.Type) (*session.Session, error)

// Config holds the dialer's settings and collaborators. New copies it; the zero value of
// each field means what its comment says.
type Config struct {
	// Book is the address book: where the peers to dial come from, where unreachable
	// ones are iced and from where melted ones return. Required.
	Book *peers.Book
	// Sessions is the sessions manager. Required.
	Sessions Sessions
	// Dial opens a session. Required.
	Dial DialFunc
	// OnSession, if not nil, is called with every session Dial opened, before the dialer
	// does anything else with it.
	OnSession func(*session.Session)
	// Clock paces the rounds; nil means the real clock.
	Clock session.Clock
	// Bootstrap are the configured peers (multiaddrs ending in /p2p/<id>), dialled before
	// the book's by every bootstrap round, even while iced.
	Bootstrap []ma.Multiaddr
	// BootstrapPeriod, DiscoveryPeriod and FeelerPeriod separate two rounds of each kind;
	// 0 turns the rounds of that kind off, except the first bootstrap round, which Start
	// always runs.
	BootstrapPeriod, DiscoveryPeriod, FeelerPeriod time.Duration
	// MeltPeriod separates two melt rounds; 0 means the book's MeltInterval.
	MeltPeriod time.Duration
	// DialTimeout bounds one dial (connection and stream); 0 means no bound but Close.
	DialTimeout time.Duration
	// Registerer, if not nil, gets the dial counter (witnet_dials_total).
	Registerer prometheus.Registerer
}

// Dialer runs the periodic tasks of witnet-rust's sessions and peers managers that make
// outbound connections: bootstrap rounds keep the outbound sessions at their limit,
// discovery rounds ask a peer for more peers, feeler rounds test addresses of the new
// bucket, melt rounds return iced peers to the new bucket. Its methods are safe for
// concurrent use.
type Dialer struct {
	cfg   Config // immutable after New
	dials *prometheus.CounterVec

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // rounds, dials and feeler watchers

	feelers atomic.Int32 // feeler dials and sessions in flight

	mu       sync.Mutex
	stopping bool                 // set by Close: spawn refuses new goroutines
	dialing  map[peer.ID]struct{} // outbound dials in flight
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
	d := &Dialer{
		cfg: cfg,
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "witnet", Name: "dials_total",
			Help: "Outbound and feeler dials, by session type and result (ok, failed, refused).",
		}, []string{"type", "result"}),
		dialing: map[peer.ID]struct{}{},
	}
	for _, typ := range []session.Type{session.Outbound, session.Feeler} { // exported at 0
		for _, result := range []string{"ok", "failed", "refused"} {
			d.dials.WithLabelValues(typ.String(), result)
		}
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(d.dials); err != nil {
			return nil, fmt.Errorf("dialer: metrics: %w", err)
		}
	}
	return d, nil
}

// Start starts the rounds; the first bootstrap round runs at once, so configured peers
// are dialled on start. It does nothing after Close.
func (d *Dialer) Start() {
	d.every(d.cfg.BootstrapPeriod, true, d.bootstrapRound)
	d.every(d.cfg.DiscoveryPeriod, false, d.discoveryRound)
	d.every(d.cfg.FeelerPeriod, false, d.feelerRound)
	d.every(d.cfg.MeltPeriod, false, d.meltRound)
}

// Close stops the rounds, aborts the dials in flight, closes the feeler sessions and
// waits for all of it. Outbound sessions are the sessions manager's to close. Close is
// idempotent.
func (d *Dialer) Close() {
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

// bootstrapRound dials peers while outbound sessions (and dials in flight) are below the
// outbound limit: the configured bootstrap peers first, then random eligible peers of the
// address book (PROTOCOL.md 8.4). Eligible: not ourselves, no outbound session or dial in
// flight to it, and (for book peers) not iced.
func (d *Dialer) bootstrapRound() {
	_, limit := d.cfg.Sessions.Limits()
	want := limit - d.cfg.Sessions.NumSessions().Outbound() - d.Dialing()
	if want <= 0 {
		return
	}
	cands := make([]peers.Addr, 0, want)
	seen := map[peer.ID]bool{}
	for _, m := range d.cfg.Bootstrap {
		a, err := peers.AddrFromP2P(m)
		// Configured peers are retried every round even when iced: the operator named
		// them, and the usual reason for a failed dial is that they were not up yet.
		if err != nil || seen[a.ID] || !d.dialable(a.ID, a.Addrs) {
			continue
		}
		seen[a.ID] = true
		cands = append(cands, a)
		if len(cands) == want {
			break
		}
	}
	if len(cands) < want {
		more := d.cfg.Book.RandomForBootstrap(want-len(cands), func(id peer.ID) bool {
			return seen[id] || !d.dialable(id, nil)
		})
		cands = append(cands, more...)
	}
	for _, a := range cands {
		d.dialOutbound(a)
	}
}

// dialable reports whether id may be dialled as a new outbound session now.
func (d *Dialer) dialable(id peer.ID, addrs []ma.Multiaddr) bool {
	d.mu.Lock()
	_, busy := d.dialing[id]
	d.mu.Unlock()
	if busy {
		return false
	}
	var first ma.Multiaddr
	if len(addrs) > 0 {
		first = addrs[0]
	}
	return d.cfg.Sessions.OutboundEligible(id, first)
}

// dialOutbound dials a as an Outbound session in the background.
func (d *Dialer) dialOutbound(a peers.Addr) {
	d.mu.Lock()
	if _, busy := d.dialing[a.ID]; busy {
		d.mu.Unlock()
		return
	}
	d.dialing[a.ID] = struct{}{}
	d.mu.Unlock()
	done := func() {
		d.mu.Lock()
		delete(d.dialing, a.ID)
		d.mu.Unlock()
	}
	if !d.spawn(func() {
		defer done()
		_, _ = d.dial(a, session.Outbound)
	}) {
		done()
	}
}

// dial connects to a and starts a session of type t on a new stream. A peer that cannot
// be reached, or does not speak the protocol, is iced (witnet-rust ices an address whose
// connect fails); a session the manager refuses (limit, duplicate) is not.
func (d *Dialer) dial(a peers.Addr, t session.Type) (*session.Session, error) {
	ctx := d.ctx
	if d.cfg.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.cfg.DialTimeout)
		defer cancel()
	}
	typ := t.String()
	s, err := d.cfg.Dial(ctx, a.Info(), t)
	switch {
	case err == nil:
		d.dials.WithLabelValues(typ, "ok").Inc()
		if d.cfg.OnSession != nil {
			d.cfg.OnSession(s)
		}
		log.Debugw("dialled", "peer", a.ID, "type", typ)
		return s, nil
	case d.ctx.Err() != nil:
		return nil, err // shutting down: not the peer's fault
	case errors.Is(err, session.ReasonRegisterRefused):
		d.dials.WithLabelValues(typ, "refused").Inc()
		log.Debugw("session refused by the manager", "peer", a.ID, "type", typ, "err", err)
		return nil, err
	default:
		d.dials.WithLabelValues(typ, "failed").Inc()
		log.Debugw("dial failed, peer iced", "peer", a.ID, "type", typ, "addrs", a.Addrs, "err", err)
		if _, ierr := d.cfg.Book.RemoveTried(a.ID, true); ierr != nil {
			log.Warnw("address book: ice", "peer", a.ID, "err", ierr)
		}
		return nil, err
	}
}

// discoveryRound asks one random consolidated outbound peer for its peers (witnet-rust's
// anycast GetPeers). Session.GetPeers is used rather than a raw message so that the
// session expects the Peers reply.
func (d *Dialer) discoveryRound() {
	var out []peer.ID
	for _, p := range d.cfg.Sessions.ConsolidatedPeers() {
		if p.Type == session.Outbound {
			out = append(out, p.Peer.ID)
		}
	}
	if len(out) == 0 {
		return
	}
	id := out[rand.IntN(len(out))]
	if s, ok := d.cfg.Sessions.Lookup(id, session.Outbound); ok {
		if err := s.GetPeers(); err != nil {
			log.Debugw("discovery: GetPeers not sent", "peer", id, "err", err)
		}
	}
}

// Consolidated is told of every consolidated session. For an outbound one, while the
// book is still smaller than the outbound limit, it asks for peers at once rather than
// after a discovery period: a node started with one bootstrap peer learns the network
// quickly.
func (d *Dialer) Consolidated(s *session.Session) {
	if s.Type() != session.Outbound {
		return
	}
	_, limit := d.cfg.Sessions.Limits()
	newN, triedN, _ := d.cfg.Book.Counts()
	if newN+triedN < limit {
		_ = s.GetPeers()
	}
}

// feelerRound takes one address out of the new bucket (PROTOCOL.md 9.3) and tests it with a
// Feeler session; the session moves it to tried when its handshake completes.
func (d *Dialer) feelerRound() {
	if d.feelers.Load() >= maxFeelers {
		return
	}
	a, ok, err := d.cfg.Book.FeelerCandidate()
	if err != nil {
		log.Warnw("address book: feeler candidate", "err", err)
		return
	}
	// A peer we already dial or keep an outbound session with is tested by that session;
	// a feeler would also be refused, since the peer sees it as a second inbound session.
	if !ok || !d.dialable(a.ID, nil) {
		return
	}
	d.feelers.Add(1)
	if !d.spawn(func() {
		s, err := d.dial(a, session.Feeler)
		if err != nil {
			d.feelers.Add(-1)
			return
		}
		// The manager does not know feelers: the dialer counts the session until it
		// ends, and ends it on Close.
		select {
		case <-s.Done():
		case <-d.ctx.Done():
			s.Close(nil)
			<-s.Done()
		}
		d.feelers.Add(-1)
	}) {
		d.feelers.Add(-1)
	}
}

// meltRound returns melted peers from the ice bucket to the new bucket.
func (d *Dialer) meltRound() {
	if _, err := d.cfg.Book.Melt(); err != nil {
		log.Warnw("address book: melt", "err", err)
	}
}
