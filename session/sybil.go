package session

import (
	"encoding/binary"
	"net/netip"
)

// DefaultSybilRangeLimit is the number of leading IPv4 bits that make up a network range
// for the sybil rule (witnet-rust reject_sybil_inbounds_range_limit, PROTOCOL.md section 10).
const DefaultSybilRangeLimit = 18

// Range is a network range for the sybil rule: an IPv4 address with every bit after the
// range limit cleared, as witnet-rust keeps it (4 bytes, big-endian).
type Range [4]byte

// String formats the range as a dotted IPv4 address, e.g. "127.0.0.0".
func (r Range) String() string { return netip.AddrFrom4(r).String() }

// RangeOf returns the sybil range of ip for a range limit of limitBits (PROTOCOL.md 8.3):
// the IPv4 address with all but its first limitBits bits cleared. A limit of 0 (or less)
// gives 0.0.0.0, so every peer collides; 32 or more keeps the whole address.
//
// Every IPv6 address maps to 0.0.0.0, as in witnet-rust, so at most one IPv6 inbound peer
// is admitted at a time while the rule is on. An IPv4-mapped IPv6 address
// (::ffff:a.b.c.d, which a dual-stack listener reports for IPv4 peers) is an IPv4 peer and
// is treated as a.b.c.d. The zero Addr also maps to 0.0.0.0.
func RangeOf(ip netip.Addr, limitBits int) Range {
	ip = ip.Unmap()
	if !ip.Is4() || limitBits <= 0 {
		return Range{}
	}
	if limitBits >= 32 {
		return ip.As4()
	}
	b := ip.As4()
	word := binary.BigEndian.Uint32(b[:])
	shift := uint(32 - limitBits)
	word = (word >> shift) << shift
	var out Range
	binary.BigEndian.PutUint32(out[:], word)
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
