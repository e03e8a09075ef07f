package node

import (
	"context"
	"net"
	"net/netip"

	"github.com/witnet-p2p/witnet-p2p/node/dialer"
	"github.com/witnet-p2p/witnet-p2p/node/legacy"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The plain-TCP side of the node (the legacy gateway to witnet-rust nodes): the
// legacy.Transport, whose sessions are the same sessions, registered with the same
// manager under their own limits, served by the same inventory and chain, and recorded in
// the same address book (its IP:port entries). The dialer dials them (legacyDialConfig).

// sessionBook returns the address book of every session, the sessions manager and the
// inventory, whatever the transport: the node's book, whose Ice also closes an iced
// libp2p peer's connections.
func (n *Node) sessionBook() icingBook { return n.libp2pBook() }

// buildLegacy sets the plain-TCP session limits, builds the transport (idle, but its
// metrics are served, at 0, on every node) and, with a listen address, starts listening:
// from here on, witnet-rust nodes can connect.
func (n *Node) buildLegacy() error {
	lc := &n.cfg.legacy
	in, out := lc.limits()
	n.mgr.SetLimitsOf(session.TransportTCP, in, out)
	cfg := n.sessionConfig()
	// Plain-TCP sessions announce the legacy address the transport sets (or 0.0.0.0:0),
	// never the libp2p one.
	cfg.SenderAddress, cfg.SenderAddressFunc = nil, nil
	t, err := legacy.New(legacy.Config{
		Manager:    n.mgr,
		Session:    cfg,
		Public:     lc.public,
		Bounds:     lc.bounds,
		IcedIP:     n.book.IsIcedAddr,
		Registerer: n.reg,
	})
	if err != nil {
		return err
	}
	n.legacy = t
	if lc.listen.IsValid() {
		return t.Listen(lc.listen)
	}
	return nil
}

// legacyDialConfig sets the dialer's plain-TCP side: with the transport on, the dialer
// keeps the plain-TCP outbound sessions filled from the configured peers (dialled every
// bootstrap round, even iced) and the book's IP:port entries, asks those peers for more
// (discovery) and tests new IP:port entries (feelers), as witnet-rust's sessions manager
// does; without it the IP:port entries are never dialled.
func (n *Node) legacyDialConfig(c *dialer.Config) {
	lc := &n.cfg.legacy
	if !lc.enabled() {
		return
	}
	c.DialLegacy = func(ctx context.Context, ap netip.AddrPort, t session.Type) (*session.Session, error) {
		if n.legacy == nil { // the dialer starts after buildLegacy; this is only a guard
			return nil, legacy.ErrClosed
		}
		return n.legacy.Dial(ctx, ap, t)
	}
	c.LegacyBootstrap = lc.peers
	if lc.limitsSet {
		c.LegacyOutbound = noneIfZero(lc.outbound)
	}
}

// publicTCP lists the node's public plain-TCP address, if it has one.
func publicTCP(ap netip.AddrPort) []netip.AddrPort {
	if !ap.IsValid() {
		return nil
	}
	return []netip.AddrPort{ap}
}

// LegacyAddr returns the bound plain-TCP listen address, or nil without one.
func (n *Node) LegacyAddr() net.Addr {
	if n.legacy == nil {
		return nil
	}
	return n.legacy.Addr()
}

// peerAddress is how the peers view shows a session's peer: the plain-TCP socket
// address as witnet-rust shows it (IP:PORT), or the libp2p address with /p2p/<id>.
func peerAddress(p session.Peer) string {
	if p.Transport == session.TransportTCP {
		return p.AddrPort.String()
	}
	return p2pString(p.Addr, p.ID)
}

// transportCounts counts the live sessions of each transport by direction and status.
func (n *Node) transportCounts() map[string]rpc.TransportSessions {
	out := make(map[string]rpc.TransportSessions, session.NumTransports)
	for tr := range session.Transport(session.NumTransports) {
		c := n.mgr.NumSessionsOf(tr)
		out[tr.String()] = rpc.TransportSessions{
			Inbound:  rpc.SessionCounts{Unconsolidated: c.InboundUnconsolidated, Consolidated: c.InboundConsolidated},
			Outbound: rpc.SessionCounts{Unconsolidated: c.OutboundUnconsolidated, Consolidated: c.OutboundConsolidated},
		}
	}
	return out
}
