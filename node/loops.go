package node

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// maxFeelers bounds the feeler dials and sessions in flight at once. witnet-rust starts
// one per feeler period and lets them overlap; a feeler lasts at most a dial timeout plus
// a handshake timeout, so a small bound only matters when peers do not answer.
const maxFeelers = 4

// startLoops starts the periodic tasks of witnet-rust's sessions and peers managers. The
// first bootstrap round runs at once, so configured peers are dialled on start.
func (n *Node) startLoops() {
	n.every(n.cfg.bootstrapPeriod, true, n.bootstrapRound)
	n.every(n.cfg.discoveryPeriod, false, n.discoveryRound)
	n.every(n.cfg.feelerPeriod, false, n.feelerRound)
	melt := n.cfg.meltPeriod
	if melt == 0 {
		melt = n.book.MeltInterval()
	}
	n.every(melt, false, n.meltRound)
	n.spawn(func() { n.inv.BeaconLoop(n.ctx, n.chain, n.cfg.epochs) })
}

// every runs f (first at once if immediate) and again period after each run returned,
// until the node closes. A zero period runs f at most once.
func (n *Node) every(period time.Duration, immediate bool, f func()) {
	n.spawn(func() {
		if immediate {
			f()
		}
		if period <= 0 {
			return
		}
		for {
			tick := make(chan struct{})
			t := n.cfg.clock.AfterFunc(period, func() { close(tick) })
			select {
			case <-n.ctx.Done():
				t.Stop()
				return
			case <-tick:
			}
			f()
		}
	})
}

// spawn runs f in a goroutine the node waits for on Close; it reports false (and does not
// run f) once the node is closing.
func (n *Node) spawn(f func()) bool {
	n.spawnMu.Lock()
	defer n.spawnMu.Unlock()
	if n.stopping {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// bootstrapRound dials peers while outbound sessions (and dials in flight) are below the
// outbound limit: the configured bootstrap peers first, then random eligible peers of the
// address book (WIRE.md 8.4). Eligible: not ourselves, no outbound session or dial in
// flight to it, and (for book peers) not iced.
func (n *Node) bootstrapRound() {
	want := n.cfg.outboundLimit - n.mgr.NumSessions().Outbound() - n.dialsInFlight()
	if want <= 0 {
		return
	}
	cands := make([]peers.Addr, 0, want)
	seen := map[peer.ID]bool{}
	for _, m := range n.cfg.bootstrap {
		a, err := peers.AddrFromP2P(m)
		// Configured peers are retried every round even when iced: the operator named
		// them, and the usual reason for a failed dial is that they were not up yet.
		if err != nil || seen[a.ID] || !n.dialable(a.ID, a.Addrs) {
			continue
		}
		seen[a.ID] = true
		cands = append(cands, a)
		if len(cands) == want {
			break
		}
	}
	if len(cands) < want {
		more := n.book.RandomForBootstrap(want-len(cands), func(id peer.ID) bool {
			return seen[id] || !n.dialable(id, nil)
		})
		cands = append(cands, more...)
	}
	for _, a := range cands {
		n.dialOutbound(a)
	}
}

// dialable reports whether id may be dialled as a new outbound session now.
func (n *Node) dialable(id peer.ID, addrs []ma.Multiaddr) bool {
	if id == n.id {
		return false
	}
	n.dialMu.Lock()
	_, busy := n.dialing[id]
	n.dialMu.Unlock()
	if busy {
		return false
	}
	var first ma.Multiaddr
	if len(addrs) > 0 {
		first = addrs[0]
	}
	return n.mgr.OutboundEligible(id, first)
}

func (n *Node) dialsInFlight() int {
	n.dialMu.Lock()
	defer n.dialMu.Unlock()
	return len(n.dialing)
}

// dialOutbound dials a as an Outbound session in the background.
func (n *Node) dialOutbound(a peers.Addr) {
	n.dialMu.Lock()
	if _, busy := n.dialing[a.ID]; busy {
		n.dialMu.Unlock()
		return
	}
	n.dialing[a.ID] = struct{}{}
	n.dialMu.Unlock()
	started := n.spawn(func() {
		defer func() {
			n.dialMu.Lock()
			delete(n.dialing, a.ID)
			n.dialMu.Unlock()
		}()
		_, _ = n.dial(a, session.Outbound)
	})
	if !started {
		n.dialMu.Lock()
		delete(n.dialing, a.ID)
		n.dialMu.Unlock()
	}
}

// dial connects to a and starts a session of type t on a new stream. A peer that cannot
// be reached, or does not speak the protocol, is iced (witnet-rust ices an address whose
// connect fails); a session the manager refuses (limit, duplicate) is not.
func (n *Node) dial(a peers.Addr, t session.Type) (*session.Session, error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.dialTimeout)
	defer cancel()
	ai := a.Info()
	typ := t.String()
	err := n.host.Connect(ctx, ai)
	var s *session.Session
	if err == nil {
		s, err = n.svc.Dial(ctx, ai, t)
	}
	switch {
	case err == nil:
		n.metrics.dials.WithLabelValues(typ, "ok").Inc()
		n.watch(s)
		log.Debugw("dialled", "peer", a.ID, "type", typ)
		return s, nil
	case n.ctx.Err() != nil:
		return nil, err // shutting down: not the peer's fault
	case errors.Is(err, session.ReasonRegisterRefused):
		n.metrics.dials.WithLabelValues(typ, "refused").Inc()
		log.Debugw("session refused by the manager", "peer", a.ID, "type", typ, "err", err)
		return nil, err
	default:
		n.metrics.dials.WithLabelValues(typ, "failed").Inc()
		log.Debugw("dial failed, peer iced", "peer", a.ID, "type", typ, "addrs", a.Addrs, "err", err)
		if _, ierr := n.book.RemoveTried(a.ID, true); ierr != nil {
			log.Warnw("address book: ice", "peer", a.ID, "err", ierr)
		}
		return nil, err
	}
}

// discoveryRound asks one random consolidated outbound peer for its peers (witnet-rust's
// anycast GetPeers). Session.GetPeers is used rather than a raw message so that the
// session expects the Peers reply.
func (n *Node) discoveryRound() {
	var out []peer.ID
	for _, p := range n.mgr.ConsolidatedPeers() {
		if p.Type == session.Outbound {
			out = append(out, p.Peer.ID)
		}
	}
	if len(out) == 0 {
		return
	}
	id := out[rand.IntN(len(out))]
	if s, ok := n.mgr.Lookup(id, session.Outbound); ok {
		if err := s.GetPeers(); err != nil {
			log.Debugw("discovery: GetPeers not sent", "peer", id, "err", err)
		}
	}
}

// feelerRound takes one address out of the new bucket (WIRE.md 9.3) and tests it with a
// Feeler session; the session moves it to tried when its handshake completes.
func (n *Node) feelerRound() {
	if n.feelers.Load() >= maxFeelers {
		return
	}
	a, ok, err := n.book.FeelerCandidate()
	if err != nil {
		log.Warnw("address book: feeler candidate", "err", err)
		return
	}
	// A peer we already dial or keep an outbound session with is tested by that session;
	// a feeler would also be refused, since the peer sees it as a second inbound session.
	if !ok || !n.dialable(a.ID, nil) {
		return
	}
	n.feelers.Add(1)
	started := n.spawn(func() {
		if _, err := n.dial(a, session.Feeler); err != nil {
			n.feelers.Add(-1) // a live feeler is counted down when its session ends
		}
	})
	if !started {
		n.feelers.Add(-1)
	}
}

// meltRound returns melted peers from the ice bucket to the new bucket.
func (n *Node) meltRound() {
	if _, err := n.book.Melt(); err != nil {
		log.Warnw("address book: melt", "err", err)
	}
}

// onConsolidated follows a consolidated session and, for an outbound one while the book
// is still smaller than the outbound limit, asks for peers at once rather than after a
// discovery period: a node started with one bootstrap peer learns the network quickly.
func (n *Node) onConsolidated(s *session.Session) {
	n.watch(s)
	if s.Type() != session.Outbound {
		return
	}
	newN, triedN, _ := n.book.Counts()
	if newN+triedN < n.cfg.outboundLimit {
		_ = s.GetPeers()
	}
}

// watch follows s until it ends, then adds its counters to the totals and counts how it
// ended. It is called for every session the node learns about (dialled, consolidated or
// unregistered); following one twice is a no-op.
func (n *Node) watch(s *session.Session) {
	if !n.traffic.add(s) {
		return
	}
	if !n.spawn(func() {
		<-s.Done()
		n.ended(s)
	}) {
		n.traffic.end(s)
	}
}

// ended accounts for a session that has ended.
func (n *Node) ended(s *session.Session) {
	n.traffic.end(s)
	reason := session.ReasonOf(s.Err())
	typ := s.Type().String()
	n.metrics.sessionsClosed.WithLabelValues(typ, reason.String()).Inc()
	if s.Status() != session.Consolidated && reason != session.ReasonFeelerDone {
		n.metrics.handshakeFailures.WithLabelValues(typ, reason.String()).Inc()
	}
	if s.Type() == session.Feeler {
		n.feelers.Add(-1)
	}
	log.Debugw("session ended", "peer", s.ID(), "type", typ, "status", s.Status(), "reason", reason)
}

// addPeers puts operator-given addresses (each ending in /p2p/<id>) in the new bucket,
// melting them from ice first; it returns once the change is committed.
func (n *Node) addPeers(addrs []ma.Multiaddr) error {
	entries := make([]peers.Addr, 0, len(addrs))
	for _, m := range addrs {
		a, err := peers.AddrFromP2P(m)
		if err != nil {
			return err
		}
		entries = append(entries, a)
	}
	added, err := n.book.AddNew(entries, nil)
	log.Infow("peers added to the address book", "offered", len(entries), "added", added, "err", err)
	return err
}

// addBootstrap puts the configured bootstrap peers in the address book. A peer the book
// cannot index (a /dns4 or /dns6 address has no IP to bucket) stays out of it; it is still
// dialled by every bootstrap round, libp2p resolving the name, and once its session
// consolidates the resolved address goes to the tried bucket.
func (n *Node) addBootstrap() error {
	if len(n.cfg.bootstrap) == 0 {
		return nil
	}
	err := n.addPeers(n.cfg.bootstrap)
	var aerr *peers.AddrError
	if errors.As(err, &aerr) {
		log.Infow("bootstrap address kept out of the address book; it is dialled directly", "err", err)
		return nil
	}
	return err
}
