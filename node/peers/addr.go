package peers

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Addr is one address-book entry. A libp2p entry is a peer ID and the multiaddrs it can be
// dialled at (transport addresses only, no trailing /p2p/<id>); a legacy entry is the
// IP:port of a witnet-rust peer reached over plain TCP, which has no peer ID.
type Addr struct {
	// ID is the peer's libp2p identity; empty for a legacy entry.
	ID peer.ID
	// Addrs are the peer's transport multiaddrs, e.g. /ip4/1.2.3.4/tcp/21337, or a relay
	// address /ip4/R/tcp/P/p2p/<relay id>/p2p-circuit. Empty for a legacy entry.
	Addrs []ma.Multiaddr
	// Legacy is the IP:port of a legacy entry (ID empty); zero for a libp2p entry.
	Legacy netip.AddrPort
}

// Key identifies an entry: a libp2p peer by its ID, a legacy peer by its IP:port. Exactly
// one of the fields is set.
type Key struct {
	ID     peer.ID
	Legacy netip.AddrPort
}

// IsLegacy reports whether k names a legacy (IP:port) entry.
func (k Key) IsLegacy() bool { return k.ID == "" }

// String returns the peer ID or the IP:port.
func (k Key) String() string {
	if k.ID != "" {
		return k.ID.String()
	}
	return k.Legacy.String()
}

// LegacyAddr returns the legacy entry for a witnet-rust peer at ap.
func LegacyAddr(ap netip.AddrPort) Addr { return Addr{Legacy: ap} }

// IsLegacy reports whether a is a legacy (IP:port) entry.
func (a Addr) IsLegacy() bool { return a.ID == "" && a.Legacy.IsValid() }

// Key returns the key of a.
func (a Addr) Key() Key {
	if a.ID != "" {
		return Key{ID: a.ID}
	}
	return Key{Legacy: a.Legacy}
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

// ParseAddr parses an operator-given peer address (JSON-RPC addPeers, configuration): a
// multiaddr ending in /p2p/<peer id> for a libp2p peer, or "IP:PORT" ("[IPv6]:PORT") for a
// witnet-rust peer over plain TCP, witnet-rust's own form.
func ParseAddr(s string) (Addr, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "/") {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return Addr{}, fmt.Errorf("peers: address %q: %w", s, err)
		}
		return AddrFromP2P(m)
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return Addr{}, fmt.Errorf("peers: address %q: want a multiaddr ending in /p2p/<peer id> or IP:PORT: %w", s, err)
	}
	return LegacyAddr(ap), nil
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

// String formats a like a libp2p AddrInfo, or as IP:port for a legacy entry.
func (a Addr) String() string {
	if a.IsLegacy() {
		return a.Legacy.String()
	}
	return peer.AddrInfo{ID: a.ID, Addrs: a.Addrs}.String()
}

// Endpoint returns the IP address and port the bucket index functions use for a: a legacy
// entry's own IP:port; for a libp2p entry those of its first IP multiaddr with a TCP port,
// or failing that its first with a UDP port (QUIC), or failing that the relay's IP and port
// of its first relay address (a peer reachable only through a relay is bucketed by its
// relay). IPv4-mapped IPv6 addresses stay IPv6, as in witnet-rust. It fails with an
// *AddrError wrapping ErrNoIPAddr when no address qualifies.
func (a Addr) Endpoint() (netip.AddrPort, error) {
	if a.IsLegacy() {
		return a.Legacy, nil
	}
	if ep, _, ok := endpoint(a.Addrs); ok {
		return ep, nil
	}
	return netip.AddrPort{}, &AddrError{ID: a.ID, Err: ErrNoIPAddr}
}

// endpoint implements Endpoint for multiaddrs; relayed says the endpoint is a relay's.
func endpoint(addrs []ma.Multiaddr) (ep netip.AddrPort, relayed, ok bool) {
	for _, portCode := range [...]int{ma.P_TCP, ma.P_UDP} {
		for _, m := range addrs {
			if !isCircuit(m) {
				if ep, ok := ipPort(m, portCode); ok {
					return ep, false, true
				}
			}
		}
	}
	for _, m := range addrs {
		if isCircuit(m) {
			if ep, ok := ipPort(m, ma.P_TCP); ok {
				return ep, true, true
			}
			if ep, ok := ipPort(m, ma.P_UDP); ok {
				return ep, true, true
			}
		}
	}
	return netip.AddrPort{}, false, false
}

// isCircuit reports whether m is a relay (p2p-circuit) address.
func isCircuit(m ma.Multiaddr) bool {
	for i := range m {
		if m[i].Code() == ma.P_CIRCUIT {
			return true
		}
	}
	return false
}

// ipPort reads /ip4|ip6/<ip>/<tcp|udp>/<port>/... from the start of m, when the port
// protocol is portCode.
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

// validCircuit checks a relay address of peer id: /<ip>/<port>/.../p2p/<relay>/p2p-circuit,
// nothing after the circuit (the trailing /p2p/<id> is stripped before), and a relay
// that is not the peer itself.
func validCircuit(m ma.Multiaddr, id peer.ID) bool {
	i := slices.IndexFunc(m, func(c ma.Component) bool { return c.Code() == ma.P_CIRCUIT })
	if i < 3 || i != len(m)-1 || m[i-1].Code() != ma.P_P2P {
		return false
	}
	relay, err := peer.IDFromBytes(m[i-1].RawValue())
	return err == nil && relay != id
}

// errUnspecified marks an entry whose only IP addresses were unspecified (0.0.0.0, ::).
// Such entries are skipped silently, as witnet-rust does.
var errUnspecified = errors.New("peers: unspecified IP address")

// clean is a sanitized entry with what the tables need to know about it.
type clean struct {
	addr    Addr
	ep      netip.AddrPort
	relayed bool
}

// sanitize returns a copy of a fit for storage and its endpoint. For a libp2p entry it drops
// empty, oversized, duplicate, malformed relay and unspecified-IP multiaddrs, and those
// keep (if not nil) refuses, strips a trailing /p2p/<a.ID>, drops multiaddrs naming another
// peer, and keeps at most MaxAddrsPerPeer addresses. A legacy entry loses its IPv6 zone.
func sanitize(a Addr, keep func(ma.Multiaddr) bool) (clean, error) {
	if a.ID == "" {
		if !a.Legacy.IsValid() {
			return clean{}, &AddrError{Err: ErrInvalidPeerID}
		}
		ap := netip.AddrPortFrom(a.Legacy.Addr().WithZone(""), a.Legacy.Port())
		if ap.Addr().IsUnspecified() {
			return clean{}, errUnspecified
		}
		return clean{addr: LegacyAddr(ap), ep: ap}, nil
	}
	if err := validID(a.ID); err != nil {
		return clean{}, err
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
		if isCircuit(transport) && !validCircuit(transport, a.ID) {
			continue
		}
		if ip, ok := leadingIP(transport); ok && ip.IsUnspecified() {
			sawUnspecified = true
			continue
		}
		if (keep != nil && !keep(transport)) || ma.Contains(out.Addrs, transport) {
			continue
		}
		out.Addrs = append(out.Addrs, transport)
	}
	ep, relayed, ok := endpoint(out.Addrs)
	switch {
	case ok:
		return clean{addr: out, ep: ep, relayed: relayed}, nil
	case sawUnspecified:
		return clean{}, errUnspecified
	default:
		// The addresses are returned anyway: an operator-added entry may be a DNS name.
		return clean{addr: out}, &AddrError{ID: a.ID, Err: ErrNoIPAddr}
	}
}

// validID checks that id is a well-formed peer ID (it will be stored as a key): a
// multihash of at most maxIDLen bytes, not starting with 0xff (see storeKey).
func validID(id peer.ID) error {
	if len(id) > maxIDLen || (len(id) > 0 && id[0] == 0xff) {
		return &AddrError{ID: id, Err: ErrInvalidPeerID}
	}
	if _, err := peer.IDFromBytes([]byte(id)); err != nil {
		return &AddrError{ID: id, Err: ErrInvalidPeerID}
	}
	return nil
}

// copyAddr returns a with its own address slice, so callers cannot alter the book.
func copyAddr(a Addr) Addr { return Addr{ID: a.ID, Addrs: slices.Clone(a.Addrs), Legacy: a.Legacy} }

// sameAddr reports whether x and y are the same entry with the same addresses.
func sameAddr(x, y Addr) bool {
	return x.ID == y.ID && x.Legacy == y.Legacy && slices.EqualFunc(x.Addrs, y.Addrs, ma.Multiaddr.Equal)
}
