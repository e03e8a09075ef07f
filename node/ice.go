package node

import (
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/witnet-p2p/witnet-p2p/session"
)

// icingBook is the address book as the sessions, the sessions manager and the inventory
// see it: icing a peer also closes its libp2p connections. Without that an iced peer kept
// its connection, and every stream it opened on it cost a session until registration
// refused it; witnet-rust and btcd drop a banned peer's socket. The gater already
// refuses the peer's new inbound connections (session.ManagerConfig.Iced).
type icingBook struct {
	bookAdapter
	disconnect func(peer.ID)
}

var _ session.AddressBook = icingBook{}

// libp2pBook returns the libp2p address book adapter whose Ice disconnects the peer.
func (n *Node) libp2pBook() icingBook {
	return icingBook{bookAdapter: n.bookAdapter(), disconnect: n.disconnectIced}
}

// Ice ices p in the address book, then closes its connections.
func (a icingBook) Ice(p session.Peer) {
	a.bookAdapter.Ice(p)
	if p.ID != "" {
		a.disconnect(p.ID)
	}
}

// disconnectIced closes every connection of the iced peer id, on a goroutine of its own:
// Ice runs on a session's reader, and closing a connection may wait for the network. The
// sessions manager then drops the peer's other sessions (connection lost).
func (n *Node) disconnectIced(id peer.ID) {
	h := n.host
	if h == nil {
		return
	}
	n.spawn(func() {
		conns := len(h.Network().ConnsToPeer(id))
		if conns == 0 {
			return
		}
		err := h.Network().ClosePeer(id)
		log.Infow("iced peer disconnected", "peer", id, "connections", conns, "err", err)
	})
}
