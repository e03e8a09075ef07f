package peers

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Record versions: 1 is a libp2p entry with its timestamp (the first layout); 2 adds the
// entry's kind, attestation, failure counters and an IP.
const (
	recordV1 = 1
	recordV2 = 2
)

// maxIDLen bounds a stored peer ID. Real ones are 34 bytes (SHA-256 of a large key) to 39
// (an inlined secp256k1 key); a gossiped ID of arbitrary length must not inflate the tables.
const maxIDLen = 128

// Record flag bits.
const (
	flagAttested = 1 << iota
	flagLegacy
	flagUnreachable // ice records: iced for a failed dial
)

// record is the stored form of an entry or ice record.
type record struct {
	ts          int64 // slot written / iced at
	addr        Addr
	meta        meta
	ip          netip.Addr // ice records: the IP the peer misbehaved from
	unreachable bool       // ice records: iced for a failed dial
}

// appendIP appends a one-byte length (0, 4 or 16) and ip's bytes.
func appendIP(b []byte, ip netip.Addr) []byte {
	if !ip.IsValid() {
		return append(b, 0)
	}
	raw := ip.AsSlice()
	return append(append(b, byte(len(raw))), raw...)
}

// encodeRecord serializes r as
//
//	2 u8 | ts i64 | flags u8 | attempts u8 | lastTry i64 | lastSuccess i64 | ip | body
//
// with ip a length byte (0, 4 or 16) and the bytes, and body either (legacy) ip and a
// big-endian u16 port, or (libp2p) uvarint len | peer ID | uvarint n | n × (uvarint len |
// multiaddr). Integers are big-endian.
func encodeRecord(r record) []byte {
	a := r.addr
	size := 1 + 8 + 2 + 16 + 17 + 19 + binary.MaxVarintLen64*(2+len(a.Addrs)) + len(a.ID)
	for _, m := range a.Addrs {
		size += len(m.Bytes())
	}
	b := make([]byte, 0, size)
	b = append(b, recordV2)
	b = binary.BigEndian.AppendUint64(b, uint64(r.ts))
	var flags byte
	if r.meta.attested {
		flags |= flagAttested
	}
	if a.IsLegacy() {
		flags |= flagLegacy
	}
	if r.unreachable {
		flags |= flagUnreachable
	}
	b = append(b, flags, r.meta.attempts)
	b = binary.BigEndian.AppendUint64(b, uint64(r.meta.lastTry))
	b = binary.BigEndian.AppendUint64(b, uint64(r.meta.lastSuccess))
	b = appendIP(b, r.ip)
	if a.IsLegacy() {
		b = appendIP(b, a.Legacy.Addr())
		return binary.BigEndian.AppendUint16(b, a.Legacy.Port())
	}
	b = binary.AppendUvarint(b, uint64(len(a.ID)))
	b = append(b, a.ID...)
	b = binary.AppendUvarint(b, uint64(len(a.Addrs)))
	for _, m := range a.Addrs {
		mb := m.Bytes()
		b = binary.AppendUvarint(b, uint64(len(mb)))
		b = append(b, mb...)
	}
	return b
}

// reader reads a record's fields, remembering the first failure.
type reader struct {
	rest []byte
	err  string
}

func (r *reader) fail(what string) {
	if r.err == "" {
		r.err = what
	}
	r.rest = nil
}

func (r *reader) bytes(n int, what string) []byte {
	if r.err != "" || len(r.rest) < n {
		r.fail(what)
		return nil
	}
	out := r.rest[:n]
	r.rest = r.rest[n:]
	return out
}

func (r *reader) u64(what string) uint64 {
	if b := r.bytes(8, what); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (r *reader) uvarint(what string) uint64 {
	if r.err != "" {
		return 0
	}
	n, k := binary.Uvarint(r.rest)
	if k <= 0 {
		r.fail(what)
		return 0
	}
	r.rest = r.rest[k:]
	return n
}

// field reads a uvarint length of at most limit and that many bytes.
func (r *reader) field(limit int, what string) []byte {
	n := r.uvarint(what)
	if n > uint64(limit) {
		r.fail(what)
		return nil
	}
	return r.bytes(int(n), what)
}

func (r *reader) ip(what string) netip.Addr {
	lb := r.bytes(1, what)
	if lb == nil {
		return netip.Addr{}
	}
	switch lb[0] {
	case 0:
		return netip.Addr{}
	case 4, 16:
		raw := r.bytes(int(lb[0]), what)
		ip, _ := netip.AddrFromSlice(raw)
		return ip
	}
	r.fail(what)
	return netip.Addr{}
}

// decodeRecord parses what encodeRecord (or the first layout) wrote. Every error wraps
// ErrMalformedRecord.
func decodeRecord(b []byte) (record, error) {
	fail := func(what string) (record, error) {
		return record{}, fmt.Errorf("%w: %s", ErrMalformedRecord, what)
	}
	if len(b) < 9 {
		return fail("short record")
	}
	if b[0] != recordV1 && b[0] != recordV2 {
		return fail(fmt.Sprintf("record version %d", b[0]))
	}
	rd := &reader{rest: b[1:]}
	var rec record
	rec.ts = int64(rd.u64("timestamp"))
	legacy := false
	if b[0] == recordV2 {
		fl := rd.bytes(2, "flags")
		if fl != nil {
			rec.meta.attested = fl[0]&flagAttested != 0
			legacy = fl[0]&flagLegacy != 0
			rec.unreachable = fl[0]&flagUnreachable != 0
			rec.meta.attempts = fl[1]
		}
		rec.meta.lastTry = int64(rd.u64("last try"))
		rec.meta.lastSuccess = int64(rd.u64("last success"))
		rec.ip = rd.ip("ip")
	}
	if legacy {
		ip := rd.ip("legacy ip")
		port := rd.bytes(2, "legacy port")
		if rd.err == "" && !ip.IsValid() {
			rd.fail("legacy ip")
		}
		if rd.err == "" {
			rec.addr = LegacyAddr(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(port)))
		}
	} else {
		rec.addr = decodeLibp2p(rd)
	}
	switch {
	case rd.err != "":
		return fail(rd.err)
	case len(rd.rest) != 0:
		return fail("trailing bytes")
	}
	return rec, nil
}

// decodeLibp2p reads a libp2p body.
func decodeLibp2p(rd *reader) Addr {
	idb := rd.field(maxIDLen, "peer ID length")
	if rd.err != "" {
		return Addr{}
	}
	id, err := peer.IDFromBytes(idb)
	if err != nil {
		rd.fail("peer ID: " + err.Error())
		return Addr{}
	}
	count := rd.uvarint("address count")
	if count > MaxAddrsPerPeer {
		rd.fail("address count")
		return Addr{}
	}
	a := Addr{ID: id}
	if count > 0 {
		a.Addrs = make([]ma.Multiaddr, 0, count)
	}
	for range count {
		mb := rd.field(maxMultiaddrLen, "address length")
		if rd.err != "" {
			return Addr{}
		}
		m, err := ma.NewMultiaddrBytes(mb)
		if err != nil {
			rd.fail("multiaddr: " + err.Error())
			return Addr{}
		}
		a.Addrs = append(a.Addrs, m)
	}
	return a
}

// legacyKey is the 18-byte database key of a legacy entry: the IP as 16 bytes (IPv4
// mapped) and the big-endian port. An IPv4 and an IPv4-mapped IPv6 address share a key;
// the record says which it is.
func legacyKey(ap netip.AddrPort) []byte {
	a16 := ap.Addr().As16()
	return binary.BigEndian.AppendUint16(a16[:], ap.Port())
}

// storeKey is the database key of k in the ice and added buckets: the peer ID bytes, or
// a 0xff byte and the legacy key (no peer ID starts with 0xff: it would be a multihash
// code of at least 127 that no key type produces).
func storeKey(k Key) []byte {
	if k.ID != "" {
		return []byte(k.ID)
	}
	return append([]byte{0xff}, legacyKey(k.Legacy)...)
}

// iceRecordSize is the stored size of an ice record.
func iceRecordSize(k Key, r *iceRecord) int {
	return len(storeKey(k)) + len(encodeRecord(r.toRecord()))
}

// toRecord is the stored form of an ice record.
func (r *iceRecord) toRecord() record {
	return record{ts: r.since, addr: r.addr, ip: r.ip, unreachable: r.unreachable}
}

// encodeAnchors serializes the anchors as uvarint n | n × (uvarint len | record).
func encodeAnchors(as []Addr, now int64) []byte {
	b := binary.AppendUvarint(nil, uint64(len(as)))
	for _, a := range as {
		rec := encodeRecord(record{ts: now, addr: a, meta: meta{attested: true}})
		b = binary.AppendUvarint(b, uint64(len(rec)))
		b = append(b, rec...)
	}
	return b
}

// decodeAnchors parses what encodeAnchors wrote.
func decodeAnchors(b []byte) ([]Addr, error) {
	rd := &reader{rest: b}
	n := rd.uvarint("anchor count")
	if n > MaxAnchors {
		rd.fail("anchor count")
	}
	var out []Addr
	for range n {
		raw := rd.field(MaxEntryBytes, "anchor length")
		if rd.err != "" {
			break
		}
		rec, err := decodeRecord(raw)
		if err != nil {
			return nil, err
		}
		out = append(out, rec.addr)
	}
	if rd.err != "" {
		return nil, fmt.Errorf("%w: %s", ErrMalformedRecord, rd.err)
	}
	return out, nil
}
