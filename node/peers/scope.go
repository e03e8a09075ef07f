package peers

import (
	"net/netip"
)

// Scope says how far an IP address is meaningful: on this host, on a private network, on
// the Internet, or nowhere.
type Scope uint8

// Address scopes, narrowest first.
const (
	// ScopeNever: not a peer address anywhere (unspecified, multicast, broadcast,
	// reserved, documentation and benchmarking ranges, link-local without a zone, this
	// network 0/8, IPv6 discard and deprecated site-local). Never accepted from gossip.
	ScopeNever Scope = iota
	// ScopeLoopback: 127/8 and ::1, this host only.
	ScopeLoopback
	// ScopePrivate: RFC 1918 (10/8, 172.16/12, 192.168/16), shared CGNAT space
	// (100.64/10) and IPv6 unique-local (fc00::/7): one site or carrier network.
	ScopePrivate
	// ScopePublic: everything else.
	ScopePublic
)

// String returns the scope's lower-case name.
func (s Scope) String() string {
	switch s {
	case ScopeNever:
		return "never"
	case ScopeLoopback:
		return "loopback"
	case ScopePrivate:
		return "private"
	}
	return "public"
}

// neverPrefixes are the ranges of ScopeNever (besides multicast, link-local and
// unspecified, which netip recognises itself); Bitcoin Core's IsRoutable rejects the same.
var neverPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated) and ::
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// privatePrefixes are the ranges of ScopePrivate.
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("fc00::/7"),
}

// ScopeOf returns the scope of ip. An IPv4-mapped IPv6 address has its IPv4 address's
// scope; the zero Addr is ScopeNever.
func ScopeOf(ip netip.Addr) Scope {
	ip = ip.Unmap()
	switch {
	case !ip.IsValid(), ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalUnicast():
		return ScopeNever
	case ip.IsLoopback():
		return ScopeLoopback
	}
	for _, p := range neverPrefixes {
		if p.Contains(ip) {
			return ScopeNever
		}
	}
	for _, p := range privatePrefixes {
		if p.Contains(ip) {
			return ScopePrivate
		}
	}
	return ScopePublic
}

// AddrPolicy decides which addresses the book accepts from gossip (Peers messages and the
// Version sender address of peers). Operator-given addresses and addresses we reached
// ourselves are not subject to it.
type AddrPolicy uint8

// Address policies.
const (
	// PolicySameScope, the default: a public address from any source; a private-range
	// address only from a source in a private range or on loopback; a loopback address
	// only from a loopback source; a ScopeNever address never. A source on our own host
	// sees the same networks as we do, and one on our private network sees that network:
	// a local devnet (every node on 127.0.0.1) and a Docker bridge network (one private
	// range) discover each other, while a peer on the Internet cannot make us dial inside
	// our networks.
	PolicySameScope AddrPolicy = iota
	// PolicyPublicOnly accepts public addresses only, as Bitcoin Core does.
	PolicyPublicOnly
)

// String returns the policy's name.
func (p AddrPolicy) String() string {
	if p == PolicyPublicOnly {
		return "public-only"
	}
	return "same-scope"
}

// Accepts reports whether an address at ip may be taken from a source at src.
func (p AddrPolicy) Accepts(ip, src netip.Addr) bool {
	s := ScopeOf(ip)
	switch {
	case s == ScopePublic:
		return true
	case s == ScopeNever || p == PolicyPublicOnly:
		return false
	}
	srcScope := ScopeOf(src)
	if s == ScopePrivate {
		return srcScope == ScopePrivate || srcScope == ScopeLoopback
	}
	return srcScope == ScopeLoopback
}

// Netgroup returns the network group of ip for outbound diversity, as Bitcoin Core's
// netgroups without an AS map: the IPv4 /16 or the IPv6 /32 (an IPv4-mapped address is
// IPv4). The zero Addr has the zero Prefix.
func Netgroup(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 32
	if ip.Is4() {
		bits = 16
	}
	p, _ := ip.WithZone("").Prefix(bits)
	return p
}

// prefixOf returns ip's prefix of bits4 (IPv4) or bits6 (IPv6) bits.
func prefixOf(ip netip.Addr, bits4, bits6 int) netip.Prefix {
	ip = ip.Unmap().WithZone("")
	bits := bits6
	if ip.Is4() {
		bits = bits4
	}
	p, _ := ip.Prefix(bits)
	return p
}
