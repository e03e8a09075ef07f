package peers

import (
	"encoding/binary"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"go.etcd.io/bbolt"
)

// bbolt layout. All names start with "peers/" because the node shares one database file
// between its stores.
var (
	bucketMeta  = []byte("peers/meta")  // keySchema, keySK
	bucketNew   = []byte("peers/new")   // 2-byte big-endian slot index -> record
	bucketTried = []byte("peers/tried") // 2-byte big-endian slot index -> record
	bucketIce   = []byte("peers/ice")   // peer ID bytes -> record (ts = time iced)

	keySchema = []byte("schema") // one byte: schemaVersion
	keySK     = []byte("sk")     // 8 bytes: the index key sk, big-endian
)

// schemaVersion is the layout version written in peers/meta. Open refuses a larger one.
const schemaVersion = 1

// recordVersion is the first byte of every stored record.
const recordVersion = 1

// encodeRecord serializes a timestamp and an entry as
//
//	version u8 | ts i64 big-endian | uvarint len | peer ID | uvarint n | n × (uvarint len | multiaddr)
func encodeRecord(ts int64, a Addr) []byte {
	size := 1 + 8 + binary.MaxVarintLen64*(2+len(a.Addrs)) + len(a.ID)
	for _, m := range a.Addrs {
		size += len(m.Bytes())
	}
	b := make([]byte, 0, size)
	b = append(b, recordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
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

// decodeRecord parses what encodeRecord wrote. Every error wraps ErrMalformedRecord.
func decodeRecord(b []byte) (ts int64, a Addr, err error) {
	fail := func(what string) (int64, Addr, error) {
		return 0, Addr{}, fmt.Errorf("%w: %s", ErrMalformedRecord, what)
	}
	if len(b) < 9 {
		return fail("short record")
	}
	if b[0] != recordVersion {
		return fail(fmt.Sprintf("record version %d", b[0]))
	}
	ts = int64(binary.BigEndian.Uint64(b[1:9]))
	rest := b[9:]
	next := func(limit int) ([]byte, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) || n > uint64(limit) {
			return nil, false
		}
		field := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return field, true
	}
	idb, ok := next(len(rest))
	if !ok {
		return fail("peer ID length")
	}
	id, err := peer.IDFromBytes(idb)
	if err != nil {
		return fail("peer ID: " + err.Error())
	}
	count, k := binary.Uvarint(rest)
	if k <= 0 || count > MaxAddrsPerPeer {
		return fail("address count")
	}
	rest = rest[k:]
	a = Addr{ID: id}
	if count > 0 {
		a.Addrs = make([]ma.Multiaddr, 0, count)
	}
	for range count {
		mb, ok := next(maxMultiaddrLen)
		if !ok {
			return fail("address length")
		}
		m, err := ma.NewMultiaddrBytes(mb)
		if err != nil {
			return fail("multiaddr: " + err.Error())
		}
		a.Addrs = append(a.Addrs, m)
	}
	if len(rest) != 0 {
		return fail("trailing bytes")
	}
	return ts, a, nil
}

// slotKey is the bbolt key of a table slot.
func slotKey(i uint16) []byte { return binary.BigEndian.AppendUint16(nil, i) }

// which names the three buckets of the book.
type which uint8

const (
	whichNew which = iota
	whichTried
	whichIce
)

// change is one mutation of the in-memory book inside a batch: where, and what was there
// before (nil when empty), so a failed commit can be undone.
type change struct {
	kind   which
	idx    uint16  // slot, for whichNew and whichTried
	id     peer.ID // peer, for whichIce
	oldEnt *entry
	oldIce *iceRecord
}

// begin starts recording mutations. Callers hold b.mu.
func (b *Book) begin() { b.batch = b.batch[:0]; b.recording = true }

// commit writes every slot and ice record touched since begin, in their current state, in
// one bbolt transaction. When the transaction fails it restores the in-memory state
// recorded by begin and returns the error. Callers hold b.mu.
func (b *Book) commit() error {
	b.recording = false
	if len(b.batch) == 0 {
		return nil
	}
	err := b.db.Update(func(tx *bbolt.Tx) error {
		newB, triedB, iceB := tx.Bucket(bucketNew), tx.Bucket(bucketTried), tx.Bucket(bucketIce)
		if newB == nil || triedB == nil || iceB == nil {
			return fmt.Errorf("peers: buckets missing from the database")
		}
		written := make(map[change]struct{}, len(b.batch))
		for _, c := range b.batch {
			key := change{kind: c.kind, idx: c.idx, id: c.id}
			if _, dup := written[key]; dup {
				continue
			}
			written[key] = struct{}{}
			var err error
			switch c.kind {
			case whichNew, whichTried:
				bk, t := newB, b.newT
				if c.kind == whichTried {
					bk, t = triedB, b.triedT
				}
				if e := t.get(c.idx); e != nil {
					err = bk.Put(slotKey(c.idx), encodeRecord(e.ts, e.addr))
				} else {
					err = bk.Delete(slotKey(c.idx))
				}
			case whichIce:
				if r := b.ice[c.id]; r != nil {
					err = iceB.Put([]byte(c.id), encodeRecord(r.since, r.addr))
				} else {
					err = iceB.Delete([]byte(c.id))
				}
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for i := len(b.batch) - 1; i >= 0; i-- {
			c := b.batch[i]
			switch c.kind {
			case whichNew, whichTried:
				b.setSlot(c.kind, c.idx, c.oldEnt)
			case whichIce:
				b.setIce(c.id, c.oldIce)
			}
		}
		log.Errorw("address book write failed; change rolled back", "err", err)
		err = fmt.Errorf("peers: persist: %w", err)
	}
	b.batch = b.batch[:0]
	return err
}

// load creates the buckets if needed, reads or creates sk, and fills the in-memory book
// from the database. Malformed records are logged and skipped.
func (b *Book) load() error {
	err := b.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketNew, bucketTried, bucketIce} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 1 || v[0] > schemaVersion {
				return fmt.Errorf("%w: %x", ErrUnsupportedSchema, v)
			}
		} else if err := meta.Put(keySchema, []byte{schemaVersion}); err != nil {
			return err
		}
		if v := meta.Get(keySK); len(v) == 8 {
			b.sk = newSecret(binary.BigEndian.Uint64(v))
		} else {
			if v != nil {
				log.Warnw("stored index key malformed; drawing a new one", "len", len(v))
			}
			b.sk = newSecret(randomSK())
			if err := meta.Put(keySK, b.sk[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return b.db.View(func(tx *bbolt.Tx) error {
		b.loadTable(tx.Bucket(bucketTried), whichTried, TriedCapacity)
		b.loadTable(tx.Bucket(bucketNew), whichNew, NewCapacity)
		return tx.Bucket(bucketIce).ForEach(func(k, v []byte) error {
			ts, a, err := decodeRecord(v)
			if err == nil && string(k) != string(a.ID) {
				err = fmt.Errorf("%w: key does not match peer ID", ErrMalformedRecord)
			}
			if err != nil {
				log.Warnw("skipping malformed ice record", "key", fmt.Sprintf("%x", k), "err", err)
				return nil
			}
			b.setIce(a.ID, &iceRecord{addr: a, since: ts})
			return nil
		})
	})
}

// loadTable fills one table from its bucket. Tried is loaded before new so that duplicate
// or contradictory records can be dropped with the same rules the verbs apply.
func (b *Book) loadTable(bk *bbolt.Bucket, kind which, capacity int) {
	name := "new"
	if kind == whichTried {
		name = "tried"
	}
	_ = bk.ForEach(func(k, v []byte) error {
		skip := func(err error) error {
			log.Warnw("skipping malformed address record", "bucket", name, "key", fmt.Sprintf("%x", k), "err", err)
			return nil
		}
		if len(k) != 2 || int(binary.BigEndian.Uint16(k)) >= capacity {
			return skip(fmt.Errorf("%w: bad slot key", ErrMalformedRecord))
		}
		idx := binary.BigEndian.Uint16(k)
		ts, a, err := decodeRecord(v)
		if err != nil {
			return skip(err)
		}
		ep, ok := endpoint(a.Addrs)
		if !ok {
			return skip(fmt.Errorf("%w: %w", ErrMalformedRecord, ErrNoIPAddr))
		}
		r := b.refs[a.ID]
		switch {
		case kind == whichTried && r != nil && r.inTried:
			return skip(fmt.Errorf("%w: peer already in another tried slot", ErrMalformedRecord))
		case kind == whichNew && r != nil && len(r.news) >= maxNewRefs:
			return skip(fmt.Errorf("%w: peer in too many new slots", ErrMalformedRecord))
		}
		b.setSlot(kind, idx, &entry{addr: a, ep: ep, ts: ts})
		return nil
	})
}
