package session

import (
	"encoding/binary"
	"net/netip"
)

// DefaultSybilRangeLimit is the number of leading IPv4 bits that make up a network range
// for the sybil rule (witnet-rust reject_sybil_inbounds_range_limit, PROTOCOL.md section 10).
const DefaultSybilRangeLimit = 18

// DefaultSybilRangeLimitIPv6 is the number of leading IPv6 bits that make up a network
// range for the sybil rule. witnet-rust puts every IPv6 address in one range; a /32 is a
// provider's allocation (Bitcoin Core's IPv6 netgroup), so one attacker with a /48 or /64
// of its own still gets one inbound slot, while honest IPv6 peers of different providers
// no longer exclude each other.
const DefaultSybilRangeLimitIPv6 = 32

// Range is a network range for the sybil rule. An IPv4 range is the IPv4 address with
// every bit after the range limit cleared, as witnet-rust keeps it, in the first 4 bytes
// (the rest zero, so Range{127, 0, 0, 0} is 127.0.0.0 and the zero Range is 0.0.0.0). An
// IPv6 range holds the masked address in bytes 0-15, 6 in byte 16 and its prefix length
// in byte 17.
type Range [18]byte

// rangeV6 marks an IPv6 Range in byte 16.
const rangeV6 = 6

// Is6 reports whether r is an IPv6 range.
func (r Range) Is6() bool { return r[16] == rangeV6 }

// Prefix returns r as a prefix: the IPv4 address with 32 bits (witnet-rust's ranges do not
// keep their length), or the IPv6 prefix.
func (r Range) Prefix() netip.Prefix {
	if r.Is6() {
		return netip.PrefixFrom(netip.AddrFrom16([16]byte(r[:16])), int(r[17]))
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(r[:4])), 32)
}

// String formats an IPv4 range as a dotted address, e.g. "127.0.0.0", and an IPv6 range as
// a prefix, e.g. "2001:db8::/32".
func (r Range) String() string {
	if r.Is6() {
		return r.Prefix().String()
	}
	return netip.AddrFrom4([4]byte(r[:4])).String()
}

// RangeOf returns the sybil range of ip for an IPv4 range limit of limitBits and the
// default IPv6 one (RangeOfBits).
func RangeOf(ip netip.Addr, limitBits int) Range {
	return RangeOfBits(ip, limitBits, DefaultSybilRangeLimitIPv6)
}

// RangeOfBits returns the sybil range of ip (PROTOCOL.md 8.3). For an IPv4 address it is
// witnet-rust's: the address with all but its first bits4 bits cleared; 0 (or less) gives
// 0.0.0.0, so every peer collides; 32 or more keeps the whole address. An IPv4-mapped IPv6
// address (::ffff:a.b.c.d, which a dual-stack listener reports for IPv4 peers) is an IPv4
// peer and is treated as a.b.c.d. An IPv6 address gives its prefix of bits6 bits (clamped
// to 0..128; 0 puts every IPv6 peer in one range, as witnet-rust does). The zero Addr maps
// to 0.0.0.0.
func RangeOfBits(ip netip.Addr, bits4, bits6 int) Range {
	ip = ip.Unmap()
	var out Range
	switch {
	case ip.Is6():
		bits6 = min(max(bits6, 0), 128)
		p, _ := ip.WithZone("").Prefix(bits6)
		a16 := p.Addr().As16()
		copy(out[:16], a16[:])
		out[16], out[17] = rangeV6, byte(bits6)
	case !ip.Is4() || bits4 <= 0:
	case bits4 >= 32:
		a4 := ip.As4()
		copy(out[:], a4[:])
	default:
		a4 := ip.As4()
		word := binary.BigEndian.Uint32(a4[:])
		shift := uint(32 - bits4)
		binary.BigEndian.PutUint32(out[:], (word>>shift)<<shift)
	}
	return out
}

// rangeSet counts the registered inbound sessions in each sybil range. A count rather than
// a set, because with the rule off (or for exempt loopback peers) several inbound
// sessions may share one range, and unregistering one of them must not free the range for
// the others.
type rangeSet map[Range]int

// add records one more inbound session in r.
func (s rangeSet) add(r Range) { s[r]++ }

// remove forgets one inbound session in r.
func (s rangeSet) remove(r Range) {
	if n := s[r]; n > 1 {
		s[r] = n - 1
	} else {
		delete(s, r)
	}
}

// holds reports whether some registered inbound session lies in r.
func (s rangeSet) holds(r Range) bool { return s[r] > 0 }
