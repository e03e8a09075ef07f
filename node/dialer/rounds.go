package dialer

import (
	"net/netip"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// bootstrapRound tops up the outbound sessions of libp2p peers and, with
// Config.DialLegacy, of witnet-rust peers, then saves the anchors.
func (d *Dialer) bootstrapRound() {
	first := !d.anchored.Swap(true)
	d.fill(false, first)
	if d.cfg.DialLegacy != nil {
		d.fill(true, first)
	}
	d.saveAnchors()
}

// fill dials peers of one kind (legacy or libp2p) while their outbound sessions and dials
// in flight are below the limit (PROTOCOL.md 8.4): on the first round the anchors, then
// the configured peers, then the operator-added ones, then random eligible peers of the
// book, at most Config.MaxPerNetgroup of those per netgroup. Eligible: not ourselves, no
// outbound session or dial in flight to it, and (for book peers) not iced and not waiting
// for a retry.
func (d *Dialer) fill(legacy, first bool) {
	var want int
	if legacy {
		sessions, inFlight := d.counts(true)
		want = d.cfg.LegacyOutbound - sessions - inFlight
	} else {
		_, limit := d.cfg.Sessions.Limits()
		_, inFlight := d.counts(false)
		want = limit - d.cfg.Sessions.NumSessionsOf(session.TransportLibp2p).Outbound() - inFlight
	}
	if want <= 0 {
		return
	}
	groups := d.groupCounts()
	seen := map[peers.Key]bool{}
	take := func(a peers.Addr, warn bool) {
		k := a.Key()
		if want == 0 || a.IsLegacy() != legacy || seen[k] || !d.dialable(a) {
			return
		}
		seen[k] = true
		g := d.groupOf(a)
		if g.IsValid() {
			groups[g]++
		}
		d.dialOutbound(a, g, warn)
		want--
	}
	if first {
		for _, a := range d.cfg.Book.Anchors() {
			take(a, false)
		}
	}
	// Configured peers are retried every round even when iced: the operator named them,
	// and the usual reason for a failed dial is that they were not up yet.
	if legacy {
		for _, ap := range d.cfg.LegacyBootstrap {
			take(peers.LegacyAddr(ap), true)
		}
	} else {
		for _, m := range d.cfg.Bootstrap {
			if a, err := peers.AddrFromP2P(m); err == nil {
				take(a, true)
			}
		}
	}
	for _, a := range d.cfg.Book.Added() {
		take(a, true)
	}
	if want <= 0 {
		return
	}
	full := func(g netip.Prefix) bool {
		return g.IsValid() && d.cfg.MaxPerNetgroup > 0 && groups[g] >= d.cfg.MaxPerNetgroup
	}
	// More candidates than wanted, so that those the netgroup bound turns away in this
	// round leave room for others.
	cands := d.cfg.Book.RandomForBootstrap(3*want, func(a peers.Addr) bool {
		return a.IsLegacy() != legacy || seen[a.Key()] || full(d.groupOf(a)) || !d.dialable(a)
	})
	for _, a := range cands {
		if !full(d.groupOf(a)) {
			take(a, false)
		}
	}
}

// dialable reports whether a may be dialled as a new outbound session now.
func (d *Dialer) dialable(a peers.Addr) bool {
	if d.busy(a.Key()) {
		return false
	}
	if a.IsLegacy() {
		return d.cfg.DialLegacy != nil && d.cfg.Sessions.OutboundEligibleKey(session.TCPKey(a.Legacy))
	}
	var first ma.Multiaddr
	if len(a.Addrs) > 0 {
		first = a.Addrs[0]
	}
	return d.cfg.Sessions.OutboundEligible(a.ID, first)
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

// feelerRound tests one address of the new bucket (PROTOCOL.md 9.3) with a Feeler
// session; the session moves it to tried when its handshake completes. A peer we already
// dial, keep an outbound session with or hold any connection to is not tested: the
// feeler would run over the existing connection (or be refused as a second session) and
// prove nothing about the address.
func (d *Dialer) feelerRound() {
	if d.feelers.Load() >= maxFeelers {
		return
	}
	a, ok, err := d.cfg.Book.FeelerCandidate(func(a peers.Addr) bool {
		if a.IsLegacy() {
			return !d.dialable(a)
		}
		return !d.dialable(a) || (d.cfg.Connected != nil && d.cfg.Connected(a.ID))
	})
	if err != nil {
		log.Warnw("address book: feeler candidate", "err", err)
		return
	}
	if !ok {
		return
	}
	d.feelers.Add(1)
	d.mu.Lock()
	d.feeling[a.Key()] = true
	d.mu.Unlock()
	done := func() {
		d.mu.Lock()
		delete(d.feeling, a.Key())
		d.mu.Unlock()
		d.feelers.Add(-1)
	}
	if !d.spawn(func() {
		defer done()
		s, err := d.dial(a, session.Feeler, false)
		if err != nil {
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
	}) {
		done()
	}
}

// meltRound returns melted peers from the ice bucket to the new bucket.
func (d *Dialer) meltRound() {
	if _, err := d.cfg.Book.Melt(); err != nil {
		log.Warnw("address book: melt", "err", err)
	}
}
