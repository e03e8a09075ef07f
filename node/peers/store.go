package peers

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"go.etcd.io/bbolt"
)

// bbolt layout. All names start with "peers/" because the node shares one database file
// between its stores.
var (
	bucketMeta  = []byte("peers/meta")  // keySchema, keySK, keyAnchors
	bucketNew   = []byte("peers/new")   // 2-byte big-endian slot index -> record
	bucketTried = []byte("peers/tried") // 2-byte big-endian slot index -> record
	bucketIce   = []byte("peers/ice")   // storeKey -> record (ts = time iced)
	bucketAdded = []byte("peers/added") // storeKey -> record (operator-added table)
	bucketNets  = []byte("peers/nets")  // prefix (netip.Prefix binary) -> i64 time iced

	keySchema  = []byte("schema")  // one byte: schemaVersion
	keySK      = []byte("sk")      // 8 bytes: the index key sk, big-endian
	keyAnchors = []byte("anchors") // encodeAnchors
)

// schemaVersion is the layout version written in peers/meta. Open refuses a larger one.
// Version 2 added record version 2, legacy entries, the added and nets buckets and the
// anchors; a version 1 database is read as is and upgraded in place.
const schemaVersion = 2

// slotKey is the bbolt key of a table slot.
func slotKey(i uint16) []byte { return binary.BigEndian.AppendUint16(nil, i) }

// which names the parts of the book a change touches.
type which uint8

const (
	whichNew which = iota
	whichTried
	whichIce
	whichAdded
	whichNet
)

// change is one mutation of the in-memory book inside a batch: where, and what was there
// before (nil when empty), so a failed commit can be undone.
type change struct {
	kind      which
	idx       uint16       // slot, for whichNew and whichTried
	key       Key          // for whichIce and whichAdded
	net       netip.Prefix // for whichNet
	oldEnt    *entry
	oldIce    *iceRecord
	oldNet    int64
	oldNetSet bool
}

// begin starts recording mutations. Callers hold b.mu.
func (b *Book) begin() { b.batch = b.batch[:0]; b.recording = true }

// toRecord is the stored form of an entry.
func (e *entry) toRecord() []byte { return encodeRecord(record{ts: e.ts, addr: e.addr, meta: e.meta}) }

// write stores the current state of what c touched.
func (b *Book) write(tx *bbolt.Tx, c change) error {
	switch c.kind {
	case whichNew, whichTried:
		name, t := bucketNew, b.newT
		if c.kind == whichTried {
			name, t = bucketTried, b.triedT
		}
		if e := t.get(c.idx); e != nil {
			return tx.Bucket(name).Put(slotKey(c.idx), e.toRecord())
		}
		return tx.Bucket(name).Delete(slotKey(c.idx))
	case whichIce:
		if r := b.ice.m[c.key]; r != nil {
			return tx.Bucket(bucketIce).Put(storeKey(c.key), encodeRecord(r.toRecord()))
		}
		return tx.Bucket(bucketIce).Delete(storeKey(c.key))
	case whichAdded:
		if e := b.added[c.key]; e != nil {
			return tx.Bucket(bucketAdded).Put(storeKey(c.key), e.toRecord())
		}
		return tx.Bucket(bucketAdded).Delete(storeKey(c.key))
	case whichNet:
		key, _ := c.net.MarshalBinary()
		if since, ok := b.nets[c.net]; ok {
			return tx.Bucket(bucketNets).Put(key, binary.BigEndian.AppendUint64(nil, uint64(since)))
		}
		return tx.Bucket(bucketNets).Delete(key)
	}
	return nil
}

// undo restores what c changed.
func (b *Book) undo(c change) {
	switch c.kind {
	case whichNew, whichTried:
		b.setSlot(c.kind, c.idx, c.oldEnt)
	case whichIce:
		b.setIce(c.key, c.oldIce)
	case whichAdded:
		b.setAdded(c.key, c.oldEnt)
	case whichNet:
		b.setNet(c.net, c.oldNet, c.oldNetSet)
	}
}

// commit writes every slot, record and prefix touched since begin, in their current
// state, in one bbolt transaction. When the transaction fails it restores the in-memory
// state recorded by begin and returns the error. Callers hold b.mu.
func (b *Book) commit() error {
	b.recording = false
	if len(b.batch) == 0 {
		return nil
	}
	err := b.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketNew, bucketTried, bucketIce, bucketAdded, bucketNets} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("peers: bucket %s missing from the database", name)
			}
		}
		type target struct {
			kind which
			idx  uint16
			key  Key
			net  netip.Prefix
		}
		written := make(map[target]struct{}, len(b.batch))
		for _, c := range b.batch {
			t := target{c.kind, c.idx, c.key, c.net}
			if _, dup := written[t]; dup {
				continue
			}
			written[t] = struct{}{}
			if err := b.write(tx, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for i := len(b.batch) - 1; i >= 0; i-- {
			b.undo(b.batch[i])
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
		for _, name := range [][]byte{bucketMeta, bucketNew, bucketTried, bucketIce, bucketAdded, bucketNets} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v != nil && (len(v) != 1 || v[0] > schemaVersion) {
			return fmt.Errorf("%w: %x", ErrUnsupportedSchema, v)
		}
		if err := meta.Put(keySchema, []byte{schemaVersion}); err != nil {
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
		b.loadKeyed(tx.Bucket(bucketIce), "ice", func(k Key, rec record) {
			b.setIce(k, &iceRecord{addr: rec.addr, since: rec.ts, ip: rec.ip, unreachable: rec.unreachable})
		})
		b.loadKeyed(tx.Bucket(bucketAdded), "added", func(k Key, rec record) {
			if c, err := sanitize(rec.addr, nil); err == nil || len(c.addr.Addrs) > 0 {
				b.added[k] = &entry{addr: c.addr, ep: c.ep, ts: rec.ts, meta: rec.meta}
			}
		})
		_ = tx.Bucket(bucketNets).ForEach(func(k, v []byte) error {
			var p netip.Prefix
			if err := p.UnmarshalBinary(k); err != nil || len(v) != 8 || !p.IsValid() {
				log.Warnw("skipping malformed iced prefix", "key", fmt.Sprintf("%x", k))
				return nil
			}
			b.nets[p] = int64(binary.BigEndian.Uint64(v))
			return nil
		})
		if v := tx.Bucket(bucketMeta).Get(keyAnchors); v != nil {
			as, err := decodeAnchors(v)
			if err != nil {
				log.Warnw("skipping malformed anchors", "err", err)
			}
			b.anchors = as
		}
		return nil
	})
}

// loadKeyed reads a bucket keyed by storeKey, calling put for each well-formed record
// whose key matches its entry.
func (b *Book) loadKeyed(bk *bbolt.Bucket, name string, put func(Key, record)) {
	_ = bk.ForEach(func(k, v []byte) error {
		rec, err := decodeRecord(v)
		if err == nil && string(k) != string(storeKey(rec.addr.Key())) {
			err = fmt.Errorf("%w: key does not match the entry", ErrMalformedRecord)
		}
		if err != nil {
			log.Warnw("skipping malformed record", "bucket", name, "key", fmt.Sprintf("%x", k), "err", err)
			return nil
		}
		put(rec.addr.Key(), rec)
		return nil
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
		rec, err := decodeRecord(v)
		if err != nil {
			return skip(err)
		}
		c, err := sanitize(rec.addr, nil)
		if err != nil {
			return skip(fmt.Errorf("%w: %w", ErrMalformedRecord, err))
		}
		r := b.refs[c.addr.Key()]
		switch {
		case kind == whichTried && r != nil && r.inTried:
			return skip(fmt.Errorf("%w: peer already in another tried slot", ErrMalformedRecord))
		case kind == whichNew && r != nil && len(r.news) >= maxNewRefs:
			return skip(fmt.Errorf("%w: peer in too many new slots", ErrMalformedRecord))
		}
		m := rec.meta
		m.relayed = c.relayed
		b.setSlot(kind, idx, &entry{addr: c.addr, ep: c.ep, ts: rec.ts, meta: m})
		return nil
	})
}
