package session

import (
	"net/netip"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// gater is the Manager seen as a libp2p connection gater; the conversion type keeps the
// Intercept* methods off the Manager's own API.
type gater Manager

var _ connmgr.ConnectionGater = (*gater)(nil)

// Gater returns the libp2p connection gater of the manager, for
// libp2p.New(libp2p.ConnectionGater(m.Gater())). It refuses an inbound connection when the
// inbound sessions (consolidated and unconsolidated) already fill the inbound limit and
// none of them could be evicted for a newcomer (see ManagerConfig.NoEviction), or,
// under the sybil rule, when the remote IP's network range already holds an inbound
// session (PROTOCOL.md 8.3: closed, no session, no ice), and an inbound connection from a peer
// that is iced (ManagerConfig.Iced) once the security handshake has named it. Everything
// else is allowed.
func (m *Manager) Gater() connmgr.ConnectionGater { return (*gater)(m) }

// InterceptPeerDial allows every dial.
func (g *gater) InterceptPeerDial(peer.ID) bool { return true }

// InterceptAddrDial allows every dial.
func (g *gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept refuses an iced address (ManagerConfig.IcedAddr) and applies the inbound
// limit and the sybil rule to a freshly accepted connection, before any handshake is spent
// on it.
func (g *gater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	m := (*Manager)(g)
	if ip := ipOf(addrs.RemoteMultiaddr()); ip.IsValid() && m.cfg.IcedAddr != nil && m.cfg.IcedAddr(ip) {
		mlog.Infow("inbound connection refused: address is iced", "remote", addrs.RemoteMultiaddr())
		return false
	}
	return m.admitInbound(addrs.RemoteMultiaddr())
}

// InterceptSecured refuses an inbound connection from an iced peer: the security
// handshake is the first point where the remote peer ID is known.
func (g *gater) InterceptSecured(d network.Direction, id peer.ID, addrs network.ConnMultiaddrs) bool {
	m := (*Manager)(g)
	if d == network.DirInbound && m.iced(id) {
		mlog.Infow("inbound connection refused: peer is iced", "peer", id, "remote", addrs.RemoteMultiaddr())
		return false
	}
	return true
}

// InterceptUpgraded allows every upgraded connection.
func (g *gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// admitInbound decides on an inbound connection from remote. A remote without an IP (a
// relayed connection, say) is subject to the limit only, and so is one from the very IP
// of a peer we have a session with (see hasSessionAtLocked).
func (m *Manager) admitInbound(remote ma.Multiaddr) bool {
	ip := ipOf(remote)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		mlog.Debugw("inbound connection refused: manager closed", "remote", remote)
		return false
	}
	if n, limit := m.dirs[Inbound].total(TransportLibp2p), m.limits[Inbound]; n >= limit &&
		(m.cfg.NoEviction || limit == 0 || m.evictionVictimLocked(TransportLibp2p) == nil) {
		mlog.Infow("inbound connection refused: inbound limit reached", "remote", remote, "sessions", n, "limit", limit)
		return false
	}
	if m.sybilChecked(ip) {
		if r := m.rangeOf(ip); m.ranges.holds(r) && !m.hasSessionAtLocked(ip) {
			mlog.Infow("inbound connection refused: range already holds an inbound session", "remote", remote, "range", r, "range_bits", m.rangeLimit)
			return false
		}
	}
	return true
}

// iced reports whether id is iced; without ManagerConfig.Iced no peer is.
func (m *Manager) iced(id peer.ID) bool { return m.cfg.Iced != nil && m.cfg.Iced(id) }

// ipOf returns the IP of a transport multiaddr, or the zero Addr if it has none. A relay
// (p2p-circuit) address has none of the peer's: the IP in it is the relay's.
func ipOf(a ma.Multiaddr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	if isCircuit(a) {
		return netip.Addr{}
	}
	nip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}
	}
	ip, ok := netip.AddrFromSlice(nip)
	if !ok {
		return netip.Addr{}
	}
	return ip.Unmap()
}
