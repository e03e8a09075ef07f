package node

import (
	"errors"
	"net"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// maxAddrsPerPeerInPeers bounds how many multiaddrs of one tried peer go into a Peers
// reply: the first TCP and the first QUIC address are what a dialler needs, and a full
// tried bucket (4096 peers) then stays well under a megabyte.
const maxAddrsPerPeerInPeers = 2

// bookAdapter lets sessions use the address book: it converts between the wire's
// Address.address bytes and the book's peer ID + multiaddrs entries.
type bookAdapter struct {
	book *peers.Book
}

var _ session.AddressBook = bookAdapter{}

// PeersForGetPeers returns the tried bucket as binary multiaddrs ending in /p2p/<id>.
func (a bookAdapter) PeersForGetPeers() [][]byte {
	tried := a.book.Tried()
	out := make([][]byte, 0, len(tried))
	for _, e := range tried {
		for _, m := range pickAddrs(e.Addrs, maxAddrsPerPeerInPeers) {
			b, err := protocol.MultiaddrAddress(m.Encapsulate(mustP2P(e.ID)))
			if err != nil {
				continue
			}
			out = append(out, b)
		}
	}
	return out
}

// pickAddrs returns up to n addresses, preferring one per transport (TCP, then QUIC).
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

// AddPeers offers addresses received from a peer to the new bucket. Legacy IP:port
// addresses carry no peer ID and cannot be dialled over libp2p, so they are dropped.
func (a bookAdapter) AddPeers(from session.Peer, raw [][]byte) {
	src, ok := sourceOf(from)
	if !ok {
		log.Debugw("addresses dropped: source has no IP address", "from", from)
		return
	}
	var (
		byID   = map[peer.ID]int{}
		addrs  []peers.Addr
		legacy int
	)
	for _, b := range raw {
		pa, err := protocol.ParseAddress(b)
		if err != nil || !pa.IsMultiaddr() {
			legacy++
			continue
		}
		m, err := pa.Multiaddr()
		if err != nil {
			continue
		}
		e, err := peers.AddrFromP2P(m)
		if err != nil || len(e.Addrs) == 0 {
			continue
		}
		if i, dup := byID[e.ID]; dup {
			addrs[i].Addrs = append(addrs[i].Addrs, e.Addrs...)
			continue
		}
		byID[e.ID] = len(addrs)
		addrs = append(addrs, e)
	}
	if legacy > 0 {
		log.Debugw("legacy or invalid addresses dropped", "from", from, "count", legacy)
	}
	if len(addrs) == 0 {
		return
	}
	added, err := a.book.AddNew(addrs, &src)
	if err != nil {
		log.Debugw("some addresses not added", "from", from, "added", added, "err", err)
	}
}

// sourceOf turns a session's peer into the source entry that picks new buckets.
func sourceOf(p session.Peer) (peers.Addr, bool) {
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

// Good records p as reachable: the address its session was dialled at goes to tried.
func (a bookAdapter) Good(p session.Peer) {
	if p.ID == "" || p.Addr == nil {
		return
	}
	if _, err := a.book.AddTried(peers.Addr{ID: p.ID, Addrs: []ma.Multiaddr{p.Addr}}); err != nil {
		log.Warnw("address book: add to tried", "peer", p.ID, "err", err)
	}
}

// Ice removes p from tried and ices it.
func (a bookAdapter) Ice(p session.Peer) {
	if p.ID == "" {
		return
	}
	if _, err := a.book.RemoveTried(p.ID, true); err != nil {
		log.Warnw("address book: ice", "peer", p.ID, "err", err)
	}
}

// RemoveTried removes p from tried without icing it.
func (a bookAdapter) RemoveTried(p session.Peer) {
	if p.ID == "" {
		return
	}
	if _, err := a.book.RemoveTried(p.ID, false); err != nil {
		log.Warnw("address book: remove from tried", "peer", p.ID, "err", err)
	}
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
