package peers

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Addr is one address-book entry: a peer and the multiaddrs it can be dialled at. Addrs
// hold transport addresses only (no trailing /p2p/<id>); the ID is kept apart.
type Addr struct {
	// ID is the peer's libp2p identity.
	ID peer.ID
	// Addrs are the peer's transport multiaddrs, e.g. /ip4/1.2.3.4/tcp/21337.
	Addrs []ma.Multiaddr
}

// AddrFromP2P builds an Addr from a multiaddr ending in /p2p/<peer id>, such as
// /ip4/1.2.3.4/tcp/21337/p2p/12D3KooW... It fails with ErrNoPeerID when there is no /p2p
// part. The transport part may be empty (a bare /p2p/<id>); such an Addr is refused later
// by the book with ErrNoIPAddr.
func AddrFromP2P(m ma.Multiaddr) (Addr, error) {
	transport, id := peer.SplitAddr(m)
	if id == "" {
		return Addr{}, &AddrError{Err: ErrNoPeerID}
	}
	a := Addr{ID: id}
	if len(transport) > 0 {
		a.Addrs = []ma.Multiaddr{transport}
	}
	return a, nil
}

// AddrFromInfo converts a libp2p AddrInfo. The address slice is copied.
func AddrFromInfo(ai peer.AddrInfo) Addr {
	return Addr{ID: ai.ID, Addrs: slices.Clone(ai.Addrs)}
}

// Info converts a to a libp2p AddrInfo, e.g. for host.Connect or the peerstore. The
// address slice is copied.
func (a Addr) Info() peer.AddrInfo {
	return peer.AddrInfo{ID: a.ID, Addrs: slices.Clone(a.Addrs)}
}

// P2PAddrs returns a's addresses each followed by /p2p/<id>, the form sent in Peers
// messages. With no addresses it returns the bare /p2p/<id>.
func (a Addr) P2PAddrs() ([]ma.Multiaddr, error) {
	ai := peer.AddrInfo{ID: a.ID, Addrs: a.Addrs}
	return peer.AddrInfoToP2pAddrs(&ai)
}

// String formats a like a libp2p AddrInfo.
func (a Addr) String() string {
	return peer.AddrInfo{ID: a.ID, Addrs: a.Addrs}.String()
}

// Endpoint returns the IP address and port the bucket index functions use for a: those of
// its first IP multiaddr with a TCP port, or failing that its first with a UDP port (QUIC).
// Relayed (p2p-circuit) addresses are ignored, since their IP is the relay's. IPv4-mapped
// IPv6 addresses stay IPv6, as in witnet-rust. It fails with an *AddrError wrapping
// ErrNoIPAddr when no multiaddr qualifies.
func (a Addr) Endpoint() (netip.AddrPort, error) {
	if ep, ok := endpoint(a.Addrs); ok {
		return ep, nil
	}
	return netip.AddrPort{}, &AddrError{ID: a.ID, Err: ErrNoIPAddr}
}

// endpoint implements Endpoint.
func endpoint(addrs []ma.Multiaddr) (netip.AddrPort, bool) {
	for _, portCode := range [...]int{ma.P_TCP, ma.P_UDP} {
		for _, m := range addrs {
			if ep, ok := ipPort(m, portCode); ok {
				return ep, true
			}
		}
	}
	return netip.AddrPort{}, false
}

// ipPort reads /ip4|ip6/<ip>/<tcp|udp>/<port>/... from the start of m, when the port
// protocol is portCode and m is not a relayed address.
func ipPort(m ma.Multiaddr, portCode int) (netip.AddrPort, bool) {
	if len(m) < 2 || m[1].Code() != portCode {
		return netip.AddrPort{}, false
	}
	ip, ok := leadingIP(m)
	if !ok {
		return netip.AddrPort{}, false
	}
	port := m[1].RawValue()
	if len(port) != 2 {
		return netip.AddrPort{}, false
	}
	for i := range m {
		if m[i].Code() == ma.P_CIRCUIT {
			return netip.AddrPort{}, false
		}
	}
	return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(port)), true
}

// leadingIP returns the IP address of an /ip4 or /ip6 first component.
func leadingIP(m ma.Multiaddr) (netip.Addr, bool) {
	if len(m) == 0 {
		return netip.Addr{}, false
	}
	switch m[0].Code() {
	case ma.P_IP4, ma.P_IP6:
		return netip.AddrFromSlice(m[0].RawValue())
	}
	return netip.Addr{}, false
}

// errUnspecified marks an entry whose only IP addresses were unspecified (0.0.0.0, ::).
// Such entries are skipped silently, as witnet-rust does.
var errUnspecified = errors.New("peers: unspecified IP address")

// sanitize returns a copy of a fit for storage, and its endpoint. It drops empty, oversized,
// duplicate and unspecified-IP multiaddrs, strips a trailing /p2p/<a.ID> and drops
// multiaddrs naming another peer, and keeps at most MaxAddrsPerPeer addresses.
func sanitize(a Addr) (Addr, netip.AddrPort, error) {
	if err := validID(a.ID); err != nil {
		return Addr{}, netip.AddrPort{}, err
	}
	out := Addr{ID: a.ID}
	sawUnspecified := false
	for _, m := range a.Addrs {
		if len(out.Addrs) == MaxAddrsPerPeer {
			break
		}
		transport, id := peer.SplitAddr(m)
		if id != "" && id != a.ID {
			continue
		}
		if len(transport) == 0 || len(transport.Bytes()) > maxMultiaddrLen {
			continue
		}
		if ip, ok := leadingIP(transport); ok && ip.IsUnspecified() {
			sawUnspecified = true
			continue
		}
		if ma.Contains(out.Addrs, transport) {
			continue
		}
		out.Addrs = append(out.Addrs, transport)
	}
	ep, ok := endpoint(out.Addrs)
	switch {
	case ok:
		return out, ep, nil
	case sawUnspecified:
		return Addr{}, netip.AddrPort{}, errUnspecified
	default:
		return Addr{}, netip.AddrPort{}, &AddrError{ID: a.ID, Err: ErrNoIPAddr}
	}
}
