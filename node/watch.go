package node

import "github.com/witnet-p2p/witnet-p2p/session"

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

// onConsolidated is the sessions manager's OnConsolidated: the inventory starts serving
// the session, the node follows it, the dialer may ask it for peers, and an outbound
// peer's Version beacon counts in the beacon consensus.
func (n *Node) onConsolidated(s *session.Session) {
	n.inv.AddSession(s)
	n.watch(s)
	n.dialer.Consolidated(s)
	n.rounds.consolidated(s)
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

// ended accounts for a session that has ended (the session logs its end itself).
func (n *Node) ended(s *session.Session) {
	n.traffic.end(s)
	reason := session.ReasonOf(s.Err())
	typ, tr := s.Type().String(), s.Peer().Transport.String()
	n.metrics.sessionsClosed.WithLabelValues(typ, reason.Label(), tr).Inc()
	if s.Status() != session.Consolidated && reason != session.ReasonFeelerDone {
		n.metrics.handshakeFailures.WithLabelValues(typ, reason.Label(), tr).Inc()
	}
}
