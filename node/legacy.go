package node

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"

	"github.com/witnet-p2p/witnet-p2p/node/legacy"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The plain-TCP side of the node (the legacy gateway to witnet-rust nodes): the
// legacy.Transport, its stand-in address book (tried and iced socket addresses), and the
// loop that dials the configured plain-TCP peers. Its sessions are the same sessions,
// registered with the same manager under their own limits, served by the same inventory
// and chain.

// transportBook is the address book of the sessions manager and the inventory: each
// call goes to the book of the peer's transport. Sessions get their transport's book
// directly (sessionConfig, buildLegacy).
type transportBook struct {
	libp2p icingBook
	tcp    *legacy.Book
}

var (
	_ session.AddressBook       = transportBook{}
	_ session.SenderAddressBook = transportBook{}
)

func (b transportBook) of(p session.Peer) session.AddressBook {
	if p.Transport == session.TransportTCP {
		return b.tcp
	}
	return b.libp2p
}

// PeersForGetPeers returns the libp2p form; plain-TCP sessions ask their own book.
func (b transportBook) PeersForGetPeers() [][]byte          { return b.libp2p.PeersForGetPeers() }
func (b transportBook) AddPeers(p session.Peer, a [][]byte) { b.of(p).AddPeers(p, a) }
func (b transportBook) Good(p session.Peer)                 { b.of(p).Good(p) }
func (b transportBook) Ice(p session.Peer)                  { b.of(p).Ice(p) }
func (b transportBook) RemoveTried(p session.Peer)          { b.of(p).RemoveTried(p) }

// AddSender offers an inbound peer's own announced address to the book of its transport.
func (b transportBook) AddSender(p session.Peer, addr []byte) {
	if p.Transport == session.TransportTCP {
		b.tcp.AddPeers(p, [][]byte{addr})
		return
	}
	b.libp2p.AddSender(p, addr)
}

// sessionBook returns the node's transportBook, building the plain-TCP book on first use.
func (n *Node) sessionBook() transportBook {
	if n.legacyBook == nil {
		n.legacyBook = legacy.NewBook(legacy.BookConfig{IcePeriod: n.cfg.icePeriod, Now: n.cfg.clock.Now})
	}
	return transportBook{libp2p: n.libp2pBook(), tcp: n.legacyBook}
}

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
	cfg.AddressBook = n.sessionBook().tcp
	t, err := legacy.New(legacy.Config{
		Manager:    n.mgr,
		Session:    cfg,
		Public:     lc.public,
		Bounds:     lc.bounds,
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

// startLegacy starts the loop that dials the configured plain-TCP peers.
func (n *Node) startLegacy() {
	if n.legacy != nil && len(n.cfg.legacy.peers) > 0 {
		d := &legacyDialer{n: n, busy: map[session.Key]bool{}}
		n.spawn(d.run)
	}
}

// legacyDialer dials the configured plain-TCP peers at start and then every bootstrap
// period, each while it has no outbound session and the plain-TCP outbound limit allows.
// Like the libp2p bootstrap peers, they are dialled even when iced; a failed connection
// ices the address, as witnet-rust does, which matters to the peers found later.
type legacyDialer struct {
	n    *Node
	mu   sync.Mutex
	busy map[session.Key]bool // dials in flight
}

func (d *legacyDialer) run() {
	n := d.n
	wake := make(chan struct{}, 1)
	for {
		d.round()
		if n.cfg.bootstrapPeriod <= 0 {
			return
		}
		t := n.cfg.clock.AfterFunc(n.cfg.bootstrapPeriod, func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		select {
		case <-n.ctx.Done():
			t.Stop()
			return
		case <-wake:
		}
	}
}

// round starts a dial to each configured peer that needs one.
func (d *legacyDialer) round() {
	n := d.n
	_, limit := n.mgr.LimitsOf(session.TransportTCP)
	for _, ap := range n.cfg.legacy.peers {
		k := session.TCPKey(ap)
		d.mu.Lock()
		room := n.mgr.NumSessionsOf(session.TransportTCP).Outbound()+len(d.busy) < limit
		if !room || d.busy[k] || !n.mgr.OutboundEligibleKey(k) {
			d.mu.Unlock()
			continue
		}
		d.busy[k] = true
		d.mu.Unlock()
		if !n.spawn(func() { d.dial(ap, k) }) {
			return
		}
	}
}

// dial dials one peer and follows its session.
func (d *legacyDialer) dial(ap netip.AddrPort, k session.Key) {
	n := d.n
	defer func() {
		d.mu.Lock()
		delete(d.busy, k)
		d.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.dialTimeout)
	defer cancel()
	s, err := n.legacy.Dial(ctx, ap, session.Outbound)
	switch {
	case err == nil:
		n.watch(s)
		log.Debugw("dialled", "peer", ap, "transport", session.TransportTCP)
	case n.ctx.Err() != nil:
	case errors.Is(err, session.ReasonRegisterRefused), errors.Is(err, legacy.ErrDialSelf):
		log.Debugw("plain-TCP dial not made", "peer", ap, "transport", session.TransportTCP, "err", err)
	default:
		n.legacyBook.IceAddr(ap)
		log.Debugw("plain-TCP dial failed, address iced", "peer", ap, "transport", session.TransportTCP, "err", err)
	}
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
