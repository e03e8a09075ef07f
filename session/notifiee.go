package session

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// errConnectionLost is the close reason of sessions whose peer's last libp2p connection
// closed: a ReasonConnectionClosed (no ice) with that cause. It is what a peer that stops
// cleanly usually ends with, so it is not reported as a connection error.
var errConnectionLost = fmt.Errorf("%w: %w", ReasonConnectionClosed, errors.New("last libp2p connection to the peer closed"))

// notifiee is the Manager seen as a libp2p network.Notifiee; the conversion type keeps the
// notification methods off the Manager's own API.
type notifiee Manager

var _ network.Notifiee = (*notifiee)(nil)

// Notifiee returns the manager's libp2p network notifiee, for h.Network().Notify. When
// the last connection to a peer closes, it closes that peer's sessions and unregisters
// them at once, without waiting for their goroutines to notice.
func (m *Manager) Notifiee() network.Notifiee { return (*notifiee)(m) }

// Listen does nothing.
func (n *notifiee) Listen(network.Network, ma.Multiaddr) {}

// ListenClose does nothing.
func (n *notifiee) ListenClose(network.Network, ma.Multiaddr) {}

// Connected does nothing: sessions start with streams, not connections.
func (n *notifiee) Connected(network.Network, network.Conn) {}

// Disconnected drops the peer's sessions if c was its last connection.
func (n *notifiee) Disconnected(net network.Network, c network.Conn) {
	(*Manager)(n).connectionClosed(net, c.RemotePeer())
}

// connectionClosed removes and closes the sessions of p unless p is still connected. The
// check runs under the manager's lock: a session registered on a newer connection was
// registered after that connection existed, so either its connection is seen here and
// nothing is dropped, or it registers after the lock is released and is left alone.
func (m *Manager) connectionClosed(net network.Network, p peer.ID) {
	k := PeerKey(p)
	n := m.drop(func(_ Type, sk Key) bool { return sk == k },
		func() bool { return net.Connectedness(p) != network.Connected },
		errConnectionLost, true)
	if n > 0 {
		mlog.Debugw("connection lost, sessions dropped", "peer", p, "sessions", n)
	}
}
