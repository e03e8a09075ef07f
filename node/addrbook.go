package node

import (
	"errors"
	"net"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// maxAddrsPerPeerInPeers bounds how many multiaddrs of one peer go into a Peers reply:
// the first TCP and the first QUIC address (or two relay addresses) are what a dialler
// needs, and a full tried bucket (4096 peers) then stays well under a megabyte.
const maxAddrsPerPeerInPeers = 2

// bookAdapter lets sessions use the address book: it converts between the wire's
// Address.address bytes and the book's typed entries (peer ID + multiaddrs, or a legacy
// IP:port), and checks what the book should trust.
type bookAdapter struct {
	book *peers.Book
	// node, if not nil, is asked about the host's connections: an address goes to tried
	// only when we dialled it ourselves. Unit tests leave it nil.
	node *Node
}

var (
	_ session.AddressBook       = bookAdapter{}
	_ session.SenderAddressBook = bookAdapter{}
)

// bookAdapter returns the node's adapter.
func (n *Node) bookAdapter() bookAdapter { return bookAdapter{book: n.book, node: n} }

// isLegacyPeer reports whether p is a peer over plain TCP (a witnet-rust peer).
func isLegacyPeer(p session.Peer) bool { return p.Transport == session.TransportTCP }

// PeersForGetPeers returns the Peers reply for the peer to: what the book shares (the
// tried bucket and the fresh relay addresses of private peers, peers.Book.Shared), each
// entry in the form to's transport can carry. A witnet-rust peer over plain TCP gets the
// IP:port entries only, as 6- or 18-byte addresses, which is all witnet-rust decodes; a
// libp2p peer gets the libp2p entries as multiaddrs ending in /p2p/<id> and the IP:port
// entries as 6/18-byte addresses. When to's IP is known, addresses it would refuse under
// the same-scope rule (a private address for a peer on the Internet, a loopback one for a
// peer on another host) are left out. The reply holds at most
// protocol.MaxPeersPerMessage addresses.
func (a bookAdapter) PeersForGetPeers(to session.Peer) [][]byte {
	legacy := isLegacyPeer(to)
	shared := a.book.Shared()
	out := make([][]byte, 0, min(len(shared), protocol.MaxPeersPerMessage))
	toIP := to.IP
	if !toIP.IsValid() {
		toIP = netip.IPv6Loopback() // unknown: anything a loopback peer would take
	}
	for _, e := range shared {
		if len(out) >= protocol.MaxPeersPerMessage {
			break
		}
		if e.IsLegacy() {
			if peers.PolicySameScope.Accepts(e.Legacy.Addr(), toIP) {
				out = append(out, protocol.LegacyAddress(e.Legacy))
			}
			continue
		}
		if legacy {
			continue // witnet-rust cannot decode a multiaddr
		}
		for _, m := range pickAddrs(e.Addrs, maxAddrsPerPeerInPeers) {
			if ip, err := manet.ToIP(m); err == nil {
				if nip, ok := netip.AddrFromSlice(ip); ok && !peers.PolicySameScope.Accepts(nip, toIP) {
					continue
				}
			}
			b, err := protocol.MultiaddrAddress(m.Encapsulate(mustP2P(e.ID)))
			if err != nil || len(out) >= protocol.MaxPeersPerMessage {
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// pickAddrs returns up to n addresses, preferring one per transport (TCP, then QUIC, then
// a relay address).
func pickAddrs(addrs []ma.Multiaddr, n int) []ma.Multiaddr {
	if len(addrs) <= 1 {
		return addrs
	}
	var out []ma.Multiaddr
	seen := map[int]bool{}
	for _, m := range addrs {
		code := transportCode(m)
		if seen[code] {
			continue
		}
		seen[code] = true
		out = append(out, m)
		if len(out) == n {
			return out
		}
	}
	for _, m := range addrs {
		if len(out) == n {
			break
		}
		if !containsAddr(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func transportCode(m ma.Multiaddr) int {
	if isRelayed(m) {
		return ma.P_CIRCUIT
	}
	return baseTransport(m)
}

// baseTransport returns the first TCP or QUIC code of m, also for a relay address (the
// transport to the relay), or 0.
func baseTransport(m ma.Multiaddr) int {
	for _, c := range m {
		switch c.Code() {
		case ma.P_TCP, ma.P_QUIC_V1, ma.P_QUIC:
			return c.Code()
		}
	}
	return 0
}

func containsAddr(list []ma.Multiaddr, m ma.Multiaddr) bool {
	for _, x := range list {
		if x.Equal(m) {
			return true
		}
	}
	return false
}

func mustP2P(id peer.ID) ma.Multiaddr {
	c, err := ma.NewComponent("p2p", id.String())
	if err != nil {
		panic(err) // a valid peer.ID always encodes
	}
	return ma.Multiaddr{*c}
}

// parseWire turns Address.address values into book entries, merging the multiaddrs of
// one peer. From a peer over plain TCP (legacy) only 6/18-byte addresses are taken, as
// witnet-rust sends; from a libp2p peer both forms. It returns how many values it
// dropped.
func parseWire(raw [][]byte, legacy bool) (entries []peers.Addr, dropped int) {
	byID := map[peer.ID]int{}
	for _, b := range raw {
		pa, err := protocol.ParseAddress(b)
		if err != nil {
			dropped++
			continue
		}
		if !pa.IsMultiaddr() {
			ap, _ := pa.AddrPort()
			entries = append(entries, peers.LegacyAddr(ap))
			continue
		}
		m, err := pa.Multiaddr()
		if legacy || err != nil {
			dropped++
			continue
		}
		e, err := peers.AddrFromP2P(m)
		if err != nil || len(e.Addrs) == 0 {
			dropped++
			continue
		}
		if i, dup := byID[e.ID]; dup {
			entries[i].Addrs = append(entries[i].Addrs, e.Addrs...)
			continue
		}
		byID[e.ID] = len(entries)
		entries = append(entries, e)
	}
	return entries, dropped
}

// AddPeers offers addresses received from a peer (a Peers reply) to the new bucket; the
// book applies the address policy and the peer's rate limit.
func (a bookAdapter) AddPeers(from session.Peer, raw [][]byte) {
	src, ok := sourceOf(from)
	if !ok {
		log.Debugw("addresses dropped: source has no IP address", "from", from)
		return
	}
	entries, dropped := parseWire(raw, isLegacyPeer(from))
	if dropped > 0 {
		log.Debugw("invalid addresses dropped", "from", from, "count", dropped)
	}
	if len(entries) == 0 {
		return
	}
	added, err := a.book.AddNew(entries, &src)
	if err != nil {
		log.Debugw("some addresses not added", "from", from, "added", added, "err", err)
	}
}

// AddSender offers the address an Inbound peer announced for itself (its Version sender
// address). It must be the peer's own: a multiaddr ending in the session's peer ID (for a
// witnet-rust peer, the connection's IP); anything else is a peer planting another's
// address, and is dropped. For a libp2p peer the relay addresses it announced through
// identify (a private peer's way in) are kept with it.
func (a bookAdapter) AddSender(from session.Peer, raw []byte) {
	src, ok := sourceOf(from)
	if !ok {
		return
	}
	entries, _ := parseWire([][]byte{raw}, isLegacyPeer(from))
	if len(entries) != 1 {
		return
	}
	e := entries[0]
	if !e.IsLegacy() && e.ID == from.ID {
		e.Addrs = append(e.Addrs, a.relayAddrs(from.ID)...)
	}
	if _, err := a.book.AddSelf(e, src); err != nil {
		log.Debugw("sender address not added", "from", from, "addr", e, "err", err)
	}
}

// relayAddrs returns the relay (p2p-circuit) addresses the host knows for id: those the
// peer announced itself through identify.
func (a bookAdapter) relayAddrs(id peer.ID) []ma.Multiaddr {
	if a.node == nil || a.node.host == nil {
		return nil
	}
	var out []ma.Multiaddr
	for _, m := range a.node.host.Peerstore().Addrs(id) {
		if _, err := m.ValueForProtocol(ma.P_CIRCUIT); err == nil {
			out = append(out, m)
		}
	}
	return out
}

// sourceOf turns a session's peer into the source entry that picks new buckets: a libp2p
// peer with its connection's address, or a legacy entry with its connection's IP:port.
func sourceOf(p session.Peer) (peers.Addr, bool) {
	if isLegacyPeer(p) {
		ap, ok := addrPortOf(p)
		return peers.LegacyAddr(ap), ok
	}
	if p.Addr != nil {
		if _, err := manet.ToIP(p.Addr); err == nil {
			return peers.Addr{ID: p.ID, Addrs: []ma.Multiaddr{p.Addr}}, true
		}
	}
	if !p.IP.IsValid() {
		return peers.Addr{}, false
	}
	// Only the source's IP group matters for the index; the port is irrelevant.
	m, err := manet.FromNetAddr(net.TCPAddrFromAddrPort(netip.AddrPortFrom(p.IP, 0)))
	if err != nil {
		return peers.Addr{}, false
	}
	return peers.Addr{ID: p.ID, Addrs: []ma.Multiaddr{m}}, true
}

// addrPortOf returns the IP:port of p's connection.
func addrPortOf(p session.Peer) (netip.AddrPort, bool) {
	if m := p.Addr; len(m) >= 2 && (m[0].Code() == ma.P_IP4 || m[0].Code() == ma.P_IP6) && m[1].Code() == ma.P_TCP {
		ip, ok := netip.AddrFromSlice(m[0].RawValue()) // 4 bytes for /ip4: an IPv4 address
		if port := m[1].RawValue(); ok && len(port) == 2 {
			return netip.AddrPortFrom(ip, uint16(port[0])<<8|uint16(port[1])), true
		}
	}
	if p.IP.IsValid() {
		return netip.AddrPortFrom(p.IP, 0), true
	}
	return netip.AddrPort{}, false
}

// Good records p as reachable: the address its session was dialled at goes to tried. On
// libp2p the session may run over a connection the peer opened (a feeler or outbound
// session to a peer already connected to us reuses it): that proves nothing about the
// address, whose port is the peer's (or its NAT's) ephemeral one, so only an address we
// reached by a connection of our own is recorded.
func (a bookAdapter) Good(p session.Peer) {
	var e peers.Addr
	if isLegacyPeer(p) {
		ap, ok := addrPortOf(p)
		if !ok {
			return
		}
		e = peers.LegacyAddr(ap)
	} else {
		if p.Addr == nil {
			return
		}
		if !a.dialledAt(p) {
			log.Debugw("address not recorded as tried: the session runs over a connection we did not dial", "peer", p.ID, "addr", p.Addr)
			return
		}
		e = peers.Addr{ID: p.ID, Addrs: []ma.Multiaddr{p.Addr}}
	}
	if _, err := a.book.AddTried(e); err != nil {
		log.Warnw("address book: add to tried", "peer", p, "err", err)
	}
}

// dialledAt reports whether the host holds a direct connection it dialled to p at
// p.Addr. Without a node (unit tests) every address counts as dialled.
func (a bookAdapter) dialledAt(p session.Peer) bool {
	if a.node == nil || a.node.host == nil {
		return true
	}
	for _, c := range a.node.host.Network().ConnsToPeer(p.ID) {
		st := c.Stat()
		if st.Direction == network.DirOutbound && !st.Limited && c.RemoteMultiaddr().Equal(p.Addr) {
			return true
		}
	}
	return false
}

// connected reports whether the host holds a connection to id (the dialer's feeler check).
func (n *Node) connected(id peer.ID) bool {
	return n.host != nil && n.host.Network().Connectedness(id) == network.Connected
}

// keyOf returns the book key of p.
func keyOf(p session.Peer) (peers.Key, bool) {
	if !isLegacyPeer(p) {
		return peers.Key{ID: p.ID}, true
	}
	ap, ok := addrPortOf(p)
	return peers.Key{Legacy: ap}, ok && ap.Port() != 0
}

// Ice removes p from tried and ices it for misbehaving; the IP it misbehaved from counts
// towards escalation. A peer over plain TCP is iced by its IP:port, as witnet-rust does.
func (a bookAdapter) Ice(p session.Peer) {
	k, ok := keyOf(p)
	if !ok {
		return
	}
	if err := a.book.IceAt(k, p.IP); err != nil {
		log.Warnw("address book: ice", "peer", p, "err", err)
	}
}

// RemoveTried removes p from tried without icing it.
func (a bookAdapter) RemoveTried(p session.Peer) {
	k, ok := keyOf(p)
	if !ok {
		return
	}
	if _, err := a.book.RemoveTriedKey(k); err != nil {
		log.Warnw("address book: remove from tried", "peer", p, "err", err)
	}
}

// addPeers puts operator-given addresses (JSON-RPC addPeers) in the operator-added table
// and the new bucket, melting them from ice first; it returns once the change is committed.
// Each is a multiaddr ending in /p2p/<id>.
func (n *Node) addPeers(addrs []ma.Multiaddr) error {
	return addLocalParsed(n, addrs, peers.AddrFromP2P)
}

// addPeerStrings is addPeers for the strings the JSON-RPC method receives: a multiaddr
// ending in /p2p/<id>, or "IP:PORT" for a witnet-rust peer over plain TCP (witnet-rust's
// own addPeers form). Nothing is added when one string is malformed.
func (n *Node) addPeerStrings(addrs []string) error { return addLocalParsed(n, addrs, peers.ParseAddr) }

// addLocalParsed parses every address with parse, then stores them all (addLocal), or
// none when one does not parse.
func addLocalParsed[T any](n *Node, addrs []T, parse func(T) (peers.Addr, error)) error {
	entries := make([]peers.Addr, 0, len(addrs))
	for _, a := range addrs {
		e, err := parse(a)
		if err != nil {
			return err
		}
		entries = append(entries, e)
	}
	return n.addLocal(entries)
}

// addLocal stores operator-given entries.
func (n *Node) addLocal(entries []peers.Addr) error {
	added, err := n.book.AddLocal(entries)
	log.Infow("peers added to the address book", "offered", len(entries), "added", added, "err", err)
	return err
}

// addBootstrap puts the configured bootstrap peers in the new bucket. A peer the book
// cannot index (a /dns4 or /dns6 address has no IP to bucket) stays out of it; it is still
// dialled by every bootstrap round, libp2p resolving the name, and once its session
// consolidates the resolved address goes to the tried bucket.
func (n *Node) addBootstrap() error {
	if len(n.cfg.bootstrap) == 0 {
		return nil
	}
	entries := make([]peers.Addr, 0, len(n.cfg.bootstrap))
	for _, m := range n.cfg.bootstrap {
		a, err := peers.AddrFromP2P(m)
		if err != nil {
			return err
		}
		entries = append(entries, a)
	}
	_, err := n.book.AddNew(entries, nil)
	var aerr *peers.AddrError
	if errors.As(err, &aerr) {
		log.Infow("bootstrap peer dialled by name every bootstrap round; the address book keeps IP addresses only", "err", err)
		return nil
	}
	return err
}
