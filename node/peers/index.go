package peers

import (
	"crypto/sha256"
	"encoding/binary"
	"net/netip"
)

// The index functions below are witnet-rust's (PROTOCOL.md 9.2). With H = SHA-256 and
// last(h) = its 32nd byte, for an address with IP bytes ip (4 or 16), group = first half of
// ip, host = second half of ip followed by the big-endian port:
//
//	tried: i = last(H(sk‖ip)) mod 4; bucket = last(H(sk‖group‖i)) mod 64;
//	       slot = last(H(sk‖host‖i)) mod 64
//	new:   i = last(H(sk‖src_group‖group)) mod 32; bucket = last(H(sk‖src_group‖i)) mod 256;
//	       slot = last(H(sk‖host‖i)) mod 64
//
// and the index is bucket×64 + slot. sk is written as 8 big-endian bytes.

// secret is the book's index key sk in its hashed form.
type secret [8]byte

// newSecret encodes sk.
func newSecret(sk uint64) secret {
	var s secret
	binary.BigEndian.PutUint64(s[:], sk)
	return s
}

// ipParts splits an endpoint into the ip, group and host byte strings of the index
// functions. They live in buf, which the caller provides to avoid allocations.
func ipParts(ep netip.AddrPort, buf *[18]byte) (ip, group, host []byte) {
	addr := ep.Addr()
	n := 16
	if addr.Is4() {
		a4 := addr.As4()
		n = copy(buf[:], a4[:])
	} else {
		a16 := addr.As16()
		copy(buf[:], a16[:])
	}
	binary.BigEndian.PutUint16(buf[n:], ep.Port())
	ip = buf[:n]
	return ip, ip[:n/2], buf[n/2 : n+2]
}

// lastByte returns the last byte of SHA-256(sk‖parts...). The inputs of the index
// functions are at most 8+16 bytes long, so they are assembled on the stack.
func lastByte(sk *secret, parts ...[]byte) byte {
	var in [8 + 16 + 1]byte
	n := copy(in[:], sk[:])
	for _, p := range parts {
		n += copy(in[n:], p)
	}
	sum := sha256.Sum256(in[:n])
	return sum[len(sum)-1]
}

// triedIndex is the tried-table slot of ep.
func triedIndex(sk *secret, ep netip.AddrPort) uint16 {
	var buf [18]byte
	ip, group, host := ipParts(ep, &buf)
	i := []byte{lastByte(sk, ip) % triedBucketsPerGroup}
	bucket := uint16(lastByte(sk, group, i)) % triedBucketCount
	slot := uint16(lastByte(sk, host, i)) % triedBucketSize
	return bucket*triedBucketSize + slot
}

// newIndex is the new-table slot of ep when announced by src (ep itself when added
// locally).
func newIndex(sk *secret, ep, src netip.AddrPort) uint16 {
	var buf, srcBuf [18]byte
	_, group, host := ipParts(ep, &buf)
	_, srcGroup, _ := ipParts(src, &srcBuf)
	i := []byte{lastByte(sk, srcGroup, group) % newBucketsPerSourceGroup}
	bucket := uint16(lastByte(sk, srcGroup, i)) % newBucketCount
	slot := uint16(lastByte(sk, host, i)) % newBucketSize
	return bucket*newBucketSize + slot
}
