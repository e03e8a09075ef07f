package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Reachability names, as nodeStats and the metrics give them.
const (
	ReachabilityPublic  = "public"
	ReachabilityPrivate = "private"
	ReachabilityUnknown = "unknown"
)

// reachabilityName names r for nodeStats, logs and metric labels.
func reachabilityName(r network.Reachability) string {
	switch r {
	case network.ReachabilityPublic:
		return ReachabilityPublic
	case network.ReachabilityPrivate:
		return ReachabilityPrivate
	}
	return ReachabilityUnknown
}

// natState is the node's NAT traversal: it builds the libp2p options (AutoNAT v1 and v2,
// relay transport, service and client, hole punching, port mapping), follows the host's
// reachability and relay addresses, gives the relay client its candidates among the
// session peers, and counts what happens.
//
// The reachability is AutoNAT v1's verdict, the one libp2p's relay service and relay
// client act on: "public" is also "runs the relay service", "private" is "holds relay
// reservations". AutoNAT v2 checks each address separately; the host announces only the
// addresses it did not find unreachable.
type natState struct {
	cfg     natConfig
	mgr     *session.Manager
	metrics *natMetrics

	reach atomic.Int32 // network.Reachability

	mu     sync.Mutex
	host   host.Host      // set once the host is built
	relays []ma.Multiaddr // our relay addresses, from the relay client
}

func newNATState(cfg natConfig, mgr *session.Manager) *natState {
	s := &natState{cfg: cfg, mgr: mgr, metrics: newNATMetrics()}
	s.reach.Store(int32(cfg.reachability))
	s.metrics.setReachability(cfg.reachability)
	return s
}

// reachability returns the current verdict.
func (s *natState) reachability() network.Reachability {
	return network.Reachability(s.reach.Load())
}

func (s *natState) setHost(h host.Host) {
	s.mu.Lock()
	s.host = h
	s.mu.Unlock()
}

func (s *natState) getHost() host.Host {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host
}

// relayAddrs returns the relay addresses the relay client last reported.
func (s *natState) relayAddrs() []ma.Multiaddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.relays)
}

// libp2pOptions returns the NAT options of the host. reg gets libp2p's own relay and
// hole-punch metrics when libp2pMetrics is on (libp2p.PrometheusRegisterer registers the
// AutoNAT and relay client ones).
func (s *natState) libp2pOptions(reg prometheus.Registerer, libp2pMetrics bool) []libp2p.Option {
	if !libp2pMetrics {
		// libp2p's tracers are still wrapped by ours; their collectors go to a registry
		// nobody reads.
		reg = prometheus.NewRegistry()
	}
	rc := s.cfg.relayClient
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		// AutoNAT v1: the client gives the reachability verdict; the service answers
		// others while we are not private (libp2p's rate limits: 30 dial-backs a
		// minute, 3 per peer; it dials only the requester's observed IP).
		libp2p.EnableNATService(),
		// AutoNAT v2: checks each of our addresses, and answers others with libp2p's
		// rate limits and amplification protection (a dial to an IP other than the
		// requester's costs the requester 30-100 kB first).
		libp2p.EnableAutoNATv2(),
		libp2p.EnableHolePunching(
			holepunch.DirectDialTimeout(s.cfg.holePunchDialTimeout),
			holepunch.WithMetricsAndEventTracer(
				&holePunchTracer{MetricsTracer: holepunch.NewMetricsTracer(holepunch.WithRegisterer(reg)), m: s.metrics},
				holePunchLogger{}),
		),
		libp2p.EnableAutoRelayWithPeerSource(s.relayCandidates,
			autorelay.WithMetricsTracer(&relayClientTracer{
				MetricsTracer: autorelay.NewMetricsTracer(autorelay.WithRegisterer(reg)), held: s.metrics.reservations}),
			autorelay.WithNumRelays(rc.Relays),
			autorelay.WithMinCandidates(rc.Candidates),
			autorelay.WithMaxCandidates(max(rc.Candidates, 2*rc.Relays, 8)),
			autorelay.WithBootDelay(rc.BootDelay),
			autorelay.WithBackoff(rc.Backoff),
			autorelay.WithMinInterval(rc.CandidateInterval),
		),
	}
	if s.cfg.relayService {
		l := s.cfg.relayLimits
		res := relayv2.DefaultResources()
		res.Limit = &relayv2.RelayLimit{Duration: l.CircuitDuration, Data: l.CircuitBytes}
		res.ReservationTTL = l.ReservationTTL
		res.MaxReservations = l.Reservations
		res.MaxReservationsPerIP = l.ReservationsPerIP
		res.MaxCircuits = l.CircuitsPerPeer
		res.BufferSize = l.BufferBytes
		opts = append(opts, libp2p.EnableRelayService(
			relayv2.WithResources(res),
			relayv2.WithMetricsTracer(&relayTracer{MetricsTracer: relayv2.NewMetricsTracer(relayv2.WithRegisterer(reg)), m: s.metrics, limits: l}),
		))
	}
	if s.cfg.portMap {
		opts = append(opts, libp2p.NATPortMap())
	}
	switch s.cfg.reachability {
	case network.ReachabilityPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case network.ReachabilityPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	}
	return opts
}

// watchNAT follows the host's reachability and relay addresses until the node closes,
// logging each change once at INFO.
func (n *Node) watchNAT() error {
	sub, err := n.host.EventBus().Subscribe([]any{
		new(event.EvtLocalReachabilityChanged),
		new(event.EvtAutoRelayAddrsUpdated),
		new(event.EvtHostReachableAddrsChanged),
		new(event.EvtPeerIdentificationCompleted),
	}, eventbus.BufSize(256)) // identify completes once per connection: bursts
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if !n.spawn(func() {
		defer sub.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				if id, ok := e.(event.EvtPeerIdentificationCompleted); ok {
					n.offerRelayAddrs(id.Peer, id.ListenAddrs)
					continue
				}
				n.nat.observe(n.host, e)
			}
		}
	}) {
		sub.Close()
	}
	return nil
}

// offerRelayAddrs offers to the address book the relay addresses a session peer
// announces through libp2p's identify. A private peer gets its relay address after its
// sessions started, so the Version it sent us named none; identify tells us (again on
// each change) and the book learns it from the peer itself, as from a Version. Peers
// without a session with us are ignored.
func (n *Node) offerRelayAddrs(id peer.ID, listen []ma.Multiaddr) {
	relayed := make([]ma.Multiaddr, 0, maxAddrsPerPeerInPeers)
	for _, a := range listen {
		if isRelayed(a) && len(relayed) < maxAddrsPerPeerInPeers {
			relayed = append(relayed, a)
		}
	}
	if len(relayed) == 0 {
		return
	}
	s, ok := n.mgr.Lookup(id, session.Inbound)
	if !ok {
		if s, ok = n.mgr.Lookup(id, session.Outbound); !ok {
			return
		}
	}
	raw := make([][]byte, 0, len(relayed))
	for _, a := range relayed {
		if b, err := protocol.MultiaddrAddress(a.Encapsulate(mustP2P(id))); err == nil {
			raw = append(raw, b)
		}
	}
	log.Debugw("relay addresses of a session peer offered to the address book", "peer", id, "dir", s.Type(), "addrs", relayed)
	bookAdapter{book: n.book}.AddPeers(s.Peer(), raw)
}

// observe takes in one host event.
func (s *natState) observe(h host.Host, e any) {
	switch e := e.(type) {
	case event.EvtLocalReachabilityChanged:
		old := network.Reachability(s.reach.Swap(int32(e.Reachability)))
		s.metrics.setReachability(e.Reachability)
		if old != e.Reachability {
			log.Infow("reachability changed", "from", reachabilityName(old), "to", reachabilityName(e.Reachability),
				"addrs", h.Addrs())
		}
	case event.EvtAutoRelayAddrsUpdated:
		s.mu.Lock()
		s.relays = slices.Clone(e.RelayAddrs)
		s.mu.Unlock()
		log.Infow("relay addresses changed", "relays", relayPeers(e.RelayAddrs), "relay_addrs", e.RelayAddrs)
	case event.EvtHostReachableAddrsChanged:
		log.Debugw("AutoNAT v2 checked our addresses", "reachable", e.Reachable, "unreachable", e.Unreachable, "unknown", e.Unknown)
	}
}

// relayCandidates is the relay client's peer source: the peers of our consolidated
// sessions (outbound first: we chose those) that offer the relay service, at most num.
// A private node thus reserves only with Witnet peers it already talks to.
func (s *natState) relayCandidates(_ context.Context, num int) <-chan peer.AddrInfo {
	out := make(chan peer.AddrInfo, max(num, 0))
	defer close(out)
	h := s.getHost()
	if h == nil || num <= 0 {
		return out
	}
	seen := map[peer.ID]bool{}
	for _, p := range s.mgr.ConsolidatedPeers() {
		id := p.Peer.ID
		if len(out) == num {
			break
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if protos, err := h.Peerstore().SupportsProtocols(id, proto.ProtoIDv2Hop); err != nil || len(protos) == 0 {
			continue
		}
		addrs := slices.DeleteFunc(h.Peerstore().Addrs(id), isRelayed)
		if len(addrs) == 0 && p.Peer.Addr != nil && !isRelayed(p.Peer.Addr) {
			addrs = []ma.Multiaddr{p.Peer.Addr}
		}
		out <- peer.AddrInfo{ID: id, Addrs: addrs}
	}
	log.Debugw("relay candidates offered", "count", len(out), "wanted", num)
	return out
}

// announce is the host's AddrsFactory: the addresses the node tells peers (identify,
// relay reservations). Configured announce addresses replace the host's own, relay
// addresses are always kept, and a private node that holds relay addresses stops
// announcing its public addresses: AutoNAT found them unreachable, and a peer that dials
// them first loses its dial timeout before it punches a hole.
func (s *natState) announce(configured, addrs []ma.Multiaddr) []ma.Multiaddr {
	var relayed []ma.Multiaddr
	for _, a := range addrs {
		if isRelayed(a) {
			relayed = append(relayed, a)
		}
	}
	if len(configured) > 0 {
		return append(slices.Clone(configured), relayed...)
	}
	if len(relayed) > 0 && s.reachability() == network.ReachabilityPrivate {
		return slices.DeleteFunc(slices.Clone(addrs), func(a ma.Multiaddr) bool {
			return !isRelayed(a) && manet.IsPublicAddr(a)
		})
	}
	return addrs
}

// isRelayed reports whether a is a relay (p2p-circuit) address.
func isRelayed(a ma.Multiaddr) bool {
	for _, c := range a {
		if c.Code() == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

// relayPeers returns the relays named in relay addresses (the /p2p before /p2p-circuit).
func relayPeers(addrs []ma.Multiaddr) []peer.ID {
	var out []peer.ID
	for _, a := range addrs {
		var last peer.ID
		for _, c := range a {
			switch c.Code() {
			case ma.P_P2P:
				if id, err := peer.Decode(c.Value()); err == nil {
					last = id
				}
			case ma.P_CIRCUIT:
				if last != "" && !slices.Contains(out, last) {
					out = append(out, last)
				}
			}
		}
	}
	return out
}

// bestRelayed returns our relay address peers should dial: TCP before QUIC, then the
// given order; nil if there is none.
func bestRelayed(addrs []ma.Multiaddr) ma.Multiaddr {
	var best ma.Multiaddr
	for _, a := range addrs {
		if !isRelayed(a) {
			continue
		}
		if best == nil || (baseTransport(a) == ma.P_TCP && baseTransport(best) != ma.P_TCP) {
			best = a
		}
	}
	return best
}

// holePunchLogger logs libp2p's hole-punch events: each attempt's end, and protocol
// errors (a peer that cannot hole punch, or speaks the protocol wrong).
type holePunchLogger struct{}

// Trace logs evt.
func (holePunchLogger) Trace(evt *holepunch.Event) {
	switch e := evt.Evt.(type) {
	case *holepunch.EndHolePunchEvt:
		if e.Success {
			log.Infow("hole punched: direct connection", "peer", evt.Remote, "elapsed", e.EllapsedTime)
		} else {
			log.Debugw("hole-punch attempt failed", "peer", evt.Remote, "elapsed", e.EllapsedTime, "err", e.Error)
		}
	case *holepunch.ProtocolErrorEvt:
		log.Debugw("hole-punch protocol error", "peer", evt.Remote, "err", e.Error)
	case *holepunch.DirectDialEvt:
		log.Debugw("direct dial before hole punch", "peer", evt.Remote, "ok", e.Success, "elapsed", e.EllapsedTime, "err", e.Error)
	}
}

// holePunchTracer counts finished hole punches in our metrics and logs the failures,
// then hands them to libp2p's tracer.
type holePunchTracer struct {
	holepunch.MetricsTracer
	m *natMetrics
}

// HolePunchFinished counts one hole punch on the side that saw it end: the initiator
// (the peer that got the relayed connection) once for all its attempts, the receiver once
// per attempt.
func (t *holePunchTracer) HolePunchFinished(side string, attempts int, theirAddrs, ourAddrs []ma.Multiaddr, direct network.ConnMultiaddrs) {
	t.MetricsTracer.HolePunchFinished(side, attempts, theirAddrs, ourAddrs, direct)
	result := "direct"
	if direct == nil {
		result = "failed"
		// The initiator reports the end of all its attempts; the receiver each attempt.
		if side == "initiator" {
			log.Infow("hole punch failed: no direct connection; sessions over other connections are kept",
				"attempts", attempts, "their_addrs", theirAddrs, "our_addrs", ourAddrs)
		} else {
			log.Debugw("hole-punch attempt failed (receiver side)", "their_addrs", theirAddrs, "our_addrs", ourAddrs)
		}
	}
	t.m.holePunches.WithLabelValues(side, result).Inc()
}

// relayClientTracer keeps the count of reservations held, then hands everything to
// libp2p's relay client tracer.
type relayClientTracer struct {
	autorelay.MetricsTracer
	held prometheus.Gauge
}

// ReservationOpened counts the reservations a starting relay client already holds.
func (t *relayClientTracer) ReservationOpened(cnt int) {
	t.MetricsTracer.ReservationOpened(cnt)
	t.held.Add(float64(cnt))
}

// ReservationEnded counts reservations lost or dropped.
func (t *relayClientTracer) ReservationEnded(cnt int) {
	t.MetricsTracer.ReservationEnded(cnt)
	t.held.Sub(float64(cnt))
}

// ReservationRequestFinished counts a new reservation (a refresh keeps the count).
func (t *relayClientTracer) ReservationRequestFinished(refresh bool, err error) {
	t.MetricsTracer.ReservationRequestFinished(refresh, err)
	if !refresh && err == nil {
		t.held.Inc()
	}
	if err != nil {
		log.Debugw("relay reservation failed", "refresh", refresh, "err", err)
	}
}

// relayTracer counts and logs (at most once per relayRefusalLogEvery) the requests the
// relay service refused, then hands everything to libp2p's tracer.
type relayTracer struct {
	relayv2.MetricsTracer
	m      *natMetrics
	limits RelayLimits
	logged throttle
}

// RelayStatus logs the relay service starting and stopping (it runs while we are public).
func (t *relayTracer) RelayStatus(enabled bool) {
	t.MetricsTracer.RelayStatus(enabled)
	if enabled {
		log.Infow("relay service started", "limits", t.limits)
	} else {
		log.Infow("relay service stopped")
	}
}

// ReservationRequestHandled counts a refused reservation.
func (t *relayTracer) ReservationRequestHandled(status relayStatus) {
	t.MetricsTracer.ReservationRequestHandled(status)
	t.refused("reservation", status)
}

// ConnectionRequestHandled counts a refused relayed connection.
func (t *relayTracer) ConnectionRequestHandled(status relayStatus) {
	t.MetricsTracer.ConnectionRequestHandled(status)
	t.refused("circuit", status)
}

func (t *relayTracer) refused(request string, status relayStatus) {
	if status == relayOK {
		return
	}
	name := strings.ToLower(status.String())
	t.m.relayRefusals.WithLabelValues(request, name).Inc()
	if n, ok := t.logged.allow(); ok {
		log.Infow("relay service refused a request", "request", request, "status", name, "refused_since_last_log", n,
			"reservations", t.limits.Reservations, "reservations_per_ip", t.limits.ReservationsPerIP,
			"circuits_per_peer", t.limits.CircuitsPerPeer)
	}
}
