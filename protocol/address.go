package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Lengths of the legacy witnet-rust Address.address forms (PROTOCOL.md section 5).
const (
	// LegacyIPv4Len is 4 IP bytes then a big-endian port.
	LegacyIPv4Len = 6
	// LegacyIPv6Len is 16 IP bytes then a big-endian port.
	LegacyIPv6Len = 18
	// MaxMultiaddrLen bounds the binary multiaddr form. A real /ip6/…/tcp/…/p2p/<id> is under
	// 60 bytes and a circuit address with two peer IDs and a 253-byte DNS name stays far below
	// this; the bound only keeps a hostile value from costing parse work.
	MaxMultiaddrLen = 512
)

// Address is a decoded Address.address value: either the legacy witnet-rust IP:port form
// (6 or 18 bytes) or, over libp2p, a multiaddr ending in /p2p/<peer id>. The zero value is
// the legacy 0.0.0.0:0 that a node without a public address sends.
type Address struct {
	legacy netip.AddrPort
	maddr  ma.Multiaddr // nil for the legacy form
	id     peer.ID
}

// LegacyAddress encodes ap in witnet-rust's form: 6 bytes for an IPv4 address, 18 bytes for
// an IPv6 one (an IPv4-mapped IPv6 address stays 18 bytes, as in witnet-rust). The IPv6 zone
// is dropped. An invalid (zero) AddrPort encodes as 0.0.0.0:0, the value witnet-rust sends
// when it has no public address.
func LegacyAddress(ap netip.AddrPort) []byte {
	ip := ap.Addr()
	switch {
	case ip.Is4():
		b := make([]byte, LegacyIPv4Len)
		a4 := ip.As4()
		copy(b, a4[:])
		binary.BigEndian.PutUint16(b[4:], ap.Port())
		return b
	case ip.Is6():
		b := make([]byte, LegacyIPv6Len)
		a16 := ip.As16()
		copy(b, a16[:])
		binary.BigEndian.PutUint16(b[16:], ap.Port())
		return b
	default:
		return make([]byte, LegacyIPv4Len)
	}
}

// ParseLegacyAddress decodes a 6- or 18-byte Address.address value. Any other length is an
// *AddressError. An 18-byte IPv4-mapped address is returned as IPv6 (not unmapped).
func ParseLegacyAddress(b []byte) (netip.AddrPort, error) {
	switch len(b) {
	case LegacyIPv4Len:
		ip := netip.AddrFrom4([4]byte(b[:4]))
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[4:])), nil
	case LegacyIPv6Len:
		ip := netip.AddrFrom16([16]byte(b[:16]))
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[16:])), nil
	default:
		return netip.AddrPort{}, &AddressError{Len: len(b), Reason: "legacy address must be 6 or 18 bytes"}
	}
}

// MultiaddrAddress returns the Address.address bytes for m, which must end in /p2p/<peer id>
// with at least one component before it.
func MultiaddrAddress(m ma.Multiaddr) ([]byte, error) {
	a, err := AddressFromMultiaddr(m)
	if err != nil {
		return nil, err
	}
	return a.Bytes(), nil
}

// AddressFromAddrPort returns the legacy Address for ap.
func AddressFromAddrPort(ap netip.AddrPort) Address {
	a, _ := ParseAddress(LegacyAddress(ap)) // cannot fail: LegacyAddress gives 6 or 18 bytes
	return a
}

// AddressFromMultiaddr returns the Address for m, which must end in /p2p/<peer id> with at
// least one component (the transport) before it.
func AddressFromMultiaddr(m ma.Multiaddr) (Address, error) {
	if len(m) == 0 {
		return Address{}, &AddressError{Reason: "empty multiaddr"}
	}
	return parseMultiaddr(m.Bytes())
}

// ParseAddress decodes an Address.address value. Lengths 6 and 18 are always the legacy
// IP:port form (witnet-rust compatibility; no real /p2p multiaddr is that short); anything
// else must be a binary multiaddr of at most MaxMultiaddrLen bytes whose last component is
// /p2p/<peer id> and which has at least one component before it. Failures are *AddressError.
func ParseAddress(b []byte) (Address, error) {
	if len(b) == LegacyIPv4Len || len(b) == LegacyIPv6Len {
		ap, err := ParseLegacyAddress(b)
		return Address{legacy: ap}, err
	}
	return parseMultiaddr(b)
}

func parseMultiaddr(b []byte) (Address, error) {
	if len(b) == 0 {
		return Address{}, &AddressError{Reason: "empty"}
	}
	if len(b) > MaxMultiaddrLen {
		return Address{}, &AddressError{Len: len(b), Reason: fmt.Sprintf("longer than %d bytes", MaxMultiaddrLen)}
	}
	m, err := ma.NewMultiaddrBytes(b)
	if err != nil {
		return Address{}, &AddressError{Len: len(b), Reason: "not a 6/18-byte address nor a binary multiaddr", Err: err}
	}
	if len(m) < 2 {
		return Address{}, &AddressError{Len: len(b), Reason: "multiaddr needs a transport and a /p2p/<id> component"}
	}
	last := m[len(m)-1]
	if last.Code() != ma.P_P2P {
		return Address{}, &AddressError{Len: len(b), Reason: "multiaddr does not end in /p2p/<id>"}
	}
	id, err := peer.IDFromBytes(last.RawValue())
	if err != nil {
		return Address{}, &AddressError{Len: len(b), Reason: "bad peer id", Err: err}
	}
	return Address{maddr: m, id: id}, nil
}

// Equal reports whether a and b are the same address (same wire bytes). Address holds a
// slice and is not comparable with ==.
func (a Address) Equal(b Address) bool { return bytes.Equal(a.Bytes(), b.Bytes()) }

// IsMultiaddr reports whether a is the libp2p form (a multiaddr with a peer ID).
func (a Address) IsMultiaddr() bool { return a.maddr != nil }

// PeerID returns the peer ID of the multiaddr form, or "" for the legacy form.
func (a Address) PeerID() peer.ID { return a.id }

// Bytes returns the Address.address wire bytes.
func (a Address) Bytes() []byte {
	if a.maddr != nil {
		return a.maddr.Bytes()
	}
	return LegacyAddress(a.legacy)
}

// AddrPort returns the IP and port of a. For the legacy form it is the decoded value and ok
// is true. For the multiaddr form it is taken from a leading /ip4 or /ip6 component followed
// by /tcp or /udp; ok is false when the multiaddr does not start that way (DNS, circuit
// relay...).
func (a Address) AddrPort() (ap netip.AddrPort, ok bool) {
	if a.maddr == nil {
		return a.legacyAddrPort(), true
	}
	if len(a.maddr) < 2 {
		return netip.AddrPort{}, false
	}
	var ip netip.Addr
	switch c := a.maddr[0]; c.Code() {
	case ma.P_IP4, ma.P_IP6:
		ip, ok = netip.AddrFromSlice(c.RawValue())
		if !ok {
			return netip.AddrPort{}, false
		}
	default:
		return netip.AddrPort{}, false
	}
	switch c := a.maddr[1]; c.Code() {
	case ma.P_TCP, ma.P_UDP:
		raw := c.RawValue()
		if len(raw) != 2 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ip, binary.BigEndian.Uint16(raw)), true
	default:
		return netip.AddrPort{}, false
	}
}

// Multiaddr returns a as a multiaddr: the full multiaddr (with /p2p/<id>) for the libp2p
// form, or /ip4/<ip>/tcp/<port> (/ip6/... for 18-byte values) without a peer ID for the
// legacy form.
func (a Address) Multiaddr() (ma.Multiaddr, error) {
	if a.maddr != nil {
		return a.maddr, nil
	}
	ap := a.legacyAddrPort()
	ip := ap.Addr()
	proto := "ip4"
	if !ip.Is4() {
		proto = "ip6"
	}
	ipc, err := ma.NewComponent(proto, ip.WithZone("").String())
	if err != nil {
		return nil, err
	}
	tcp, err := ma.NewComponent("tcp", fmt.Sprint(ap.Port()))
	if err != nil {
		return nil, err
	}
	return ma.Multiaddr{*ipc, *tcp}, nil
}

// String renders a as "ip:port" (legacy) or as the multiaddr string.
func (a Address) String() string {
	if a.maddr != nil {
		return a.maddr.String()
	}
	return a.legacyAddrPort().String()
}

// legacyAddrPort returns the legacy value, with the zero Address read as 0.0.0.0:0.
func (a Address) legacyAddrPort() netip.AddrPort {
	if !a.legacy.IsValid() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	return a.legacy
}
