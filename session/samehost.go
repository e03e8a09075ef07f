package session

import (
	"net/netip"
)

// hasSessionAtLocked reports whether a registered session's peer is at ip. The gater lets
// such a connection past the sybil range check: it comes from a host we already talk to,
// not from a new identity in its range, and libp2p opens more than one connection per
// host (AutoNAT servers dial back from their own IP to check our address; hole punching
// and relays add connections). A session on it is still checked by Register. m.mu must be
// held.
func (m *Manager) hasSessionAtLocked(ip netip.Addr) bool {
	for i := range m.dirs {
		for _, coll := range [...]map[Key]*entry{m.dirs[i].uncons, m.dirs[i].cons} {
			for _, e := range coll {
				if e.tr == TransportLibp2p && e.s.Peer().IP == ip {
					return true
				}
			}
		}
	}
	return false
}
