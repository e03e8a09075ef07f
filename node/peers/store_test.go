package peers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// snapshot is everything observable about a book, in readable form.
type snapshot struct {
	New, Tried, Iced, Added, Nets, Anchors []string
	Counts                                 [3]int
	SK                                     secret
	Meta                                   []string
}

func snap(b *Book) snapshot {
	n, tr, ic := b.Counts()
	s := snapshot{Counts: [3]int{n, tr, ic}}
	for _, a := range b.Added() {
		s.Added = append(s.Added, a.String())
	}
	for p, since := range b.IcedNets() {
		s.Nets = append(s.Nets, fmt.Sprintf("%s@%d", p, since.Unix()))
	}
	slices.Sort(s.Nets)
	for _, a := range b.Anchors() {
		s.Anchors = append(s.Anchors, a.String())
	}
	for _, a := range b.New() {
		s.New = append(s.New, a.String())
	}
	for _, a := range b.Tried() {
		s.Tried = append(s.Tried, a.String())
	}
	for _, r := range b.Iced() {
		s.Iced = append(s.Iced, fmt.Sprintf("%s@%d from %s unreachable %v", r.Addr, r.Since.Unix(), r.IP, r.Unreachable))
	}
	b.mu.Lock()
	s.SK = b.sk
	for _, t := range []*table{b.newT, b.triedT} {
		for _, i := range t.occupied {
			e := t.get(i)
			s.Meta = append(s.Meta, fmt.Sprintf("%d %s %+v", i, e.addr, e.meta))
		}
	}
	b.mu.Unlock()
	slices.Sort(s.Meta)
	return s
}

// rec encodes a plain record.
func rec(ts int64, a Addr) []byte { return encodeRecord(record{ts: ts, addr: a}) }

// populate exercises every mutating verb so the stored state has all record kinds.
func populate(t *testing.T, b *testBook) {
	t.Helper()
	src := tcpAddr(t, "10.0.0.1:1")
	var fresh []Addr
	for i := range 30 {
		fresh = append(fresh, tcpAddr(t, "20.0.0.1:"+strconv.Itoa(1000+i)))
	}
	quic := Addr{ID: genID(t), Addrs: maddrs(t, "/ip6/2a01:db8::7/udp/4001/quic-v1")}
	fresh = append(fresh, quic, LegacyAddr(netip.MustParseAddrPort("21.0.0.1:21337")))
	_, err := b.AddNew(fresh, &src)
	require.NoError(t, err)
	_, err = b.AddLocal([]Addr{tcpAddr(t, "22.0.0.1:1"), {ID: genID(t), Addrs: maddrs(t, "/ip4/22.0.0.2/udp/1/quic-v1")},
		LegacyAddr(netip.MustParseAddrPort("[2a02::1]:21337"))})
	require.NoError(t, err)
	out, err := b.Failed(b.New()[0])
	require.NoError(t, err)
	require.Equal(t, OutcomeCounted, out)
	require.NoError(t, b.SetAnchors([]Addr{fresh[6], fresh[len(fresh)-1]}))
	gone := tcpAddr(t, "24.0.0.1:21337")
	ok, err := b.AddSelf(gone, Addr{ID: gone.ID, Addrs: maddrs(t, "/ip4/24.0.0.1/tcp/5")})
	require.NoError(t, err)
	require.True(t, ok)
	out, err = b.Failed(gone)
	require.NoError(t, err)
	require.Equal(t, OutcomeIced, out, "an unreachable ice record")
	for i := range 10 {
		_, err := b.AddTried(tcpAddr(t, "30.0."+strconv.Itoa(i)+".1:21337"))
		require.NoError(t, err)
	}
	b.clock.Set(50)
	_, _, err = b.FeelerCandidate(nil)
	require.NoError(t, err)
	tried := b.Tried()
	_, err = b.RemoveTried(tried[0].ID, true)
	require.NoError(t, err)
	require.NoError(t, b.Ice(fresh[3].ID))
	require.NoError(t, b.Ice(genID(t)))
	require.NoError(t, b.IceAt(Key{Legacy: netip.MustParseAddrPort("21.0.0.2:4000")}, netip.MustParseAddr("21.0.0.2")))
	for range DefaultEscalateAfter {
		require.NoError(t, b.IceAt(Key{ID: genID(t)}, netip.MustParseAddr("23.0.0.1")))
	}
	require.True(t, b.IsIcedAddr(netip.MustParseAddr("23.0.0.1")))
}

func TestPersistReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second}) // fsync on
	require.NoError(t, err)
	clock := &testClock{}
	b, err := Open(db, Config{Now: clock.Now, Rand: rand.NewPCG(1, 1)})
	require.NoError(t, err)
	tb := &testBook{Book: b, db: db, path: path, clock: clock}
	populate(t, tb)
	before := snap(b)
	require.NotZero(t, before.Counts[0])
	require.NotZero(t, before.Counts[1])
	require.NotZero(t, before.Counts[2])
	require.NoError(t, db.Close())

	db2 := openDB(t, path)
	b2, err := Open(db2, Config{Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, before, snap(b2))
	for _, a := range b.Tried() {
		got, w, ok := b2.Lookup(a.ID)
		require.True(t, ok)
		require.Equal(t, BucketTried, w)
		require.Equal(t, a, got)
	}

	// The index key survived: the same address lands in the same slot.
	probe := tcpAddr(t, "40.1.2.3:5")
	_, err = b.AddNew([]Addr{probe}, nil)
	require.Error(t, err, "old database is closed")
	_, err = b2.AddNew([]Addr{probe}, nil)
	require.NoError(t, err)
	ep, _ := probe.Endpoint()
	news, _ := b2.slotOf(probe.ID)
	require.Equal(t, []uint16{newIndex(&before.SK, ep, ep)}, news)
}

// TestCrashKeepsAcknowledgedWrites copies the database file while the book is open and
// in use, as a crash would leave it, and finds every acknowledged change in the copy.
// Nothing is flushed or closed first.
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	clock := &testClock{}
	b, err := Open(db, Config{Now: clock.Now})
	require.NoError(t, err)
	populate(t, &testBook{Book: b, db: db, path: path, clock: clock})
	a := tcpAddr(t, "50.0.0.1:1")
	ok, err := b.AddTried(a) // the very last acknowledged change
	require.NoError(t, err)
	require.True(t, ok)
	before := snap(b)

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	crashed := filepath.Join(t.TempDir(), "crashed.db")
	require.NoError(t, os.WriteFile(crashed, raw, 0o600))

	b2, err := Open(openDB(t, crashed), Config{Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, before, snap(b2))
	_, w, _ := b2.Lookup(a.ID)
	require.Equal(t, BucketTried, w)
}

// TestFailedWriteRollsBack closes the database under the book: every mutating verb must
// fail and leave the in-memory book exactly as it was.
func TestFailedWriteRollsBack(t *testing.T) {
	b := newTestBook(t, Config{})
	populate(t, b)
	b.clock.Set(100_000) // everything melted, every tried slot old
	before := snap(b.Book)
	require.NoError(t, b.db.Close())

	src := tcpAddr(t, "10.0.0.1:1")
	iced, fresh, tried := b.Iced()[0].Addr, slices.DeleteFunc(b.New(), Addr.IsLegacy), b.Tried()
	steps := map[string]func() error{
		"AddNew": func() error {
			_, err := b.AddNew([]Addr{tcpAddr(t, "60.0.0.1:1"), iced, fresh[0]}, nil)
			return err
		},
		"AddNew with source": func() error { _, err := b.AddNew([]Addr{tcpAddr(t, "60.0.0.2:1")}, &src); return err },
		"AddTried":           func() error { _, err := b.AddTried(fresh[1]); return err },
		"RemoveTried":        func() error { _, err := b.RemoveTried(tried[0].ID, true); return err },
		"Ice":                func() error { return b.Ice(fresh[2].ID) },
		"Melt":               func() error { _, err := b.Melt(); return err },
		"FeelerCandidate":    func() error { _, _, err := b.FeelerCandidate(nil); return err },
		"Clear":              func() error { return b.Clear() },
		"AddLocal":           func() error { _, err := b.AddLocal([]Addr{tcpAddr(t, "60.0.0.3:1"), fresh[0]}); return err },
		"AddSelf": func() error {
			a := tcpAddr(t, "60.0.0.4:1")
			_, err := b.AddSelf(a, Addr{ID: a.ID, Addrs: maddrs(t, "/ip4/60.0.0.4/tcp/5")})
			return err
		},
		"Failed":     func() error { _, err := b.Failed(fresh[3]); return err },
		"IceAt":      func() error { return b.IceAt(Key{ID: genID(t)}, netip.MustParseAddr("23.0.0.9")) },
		"SetAnchors": func() error { return b.SetAnchors(fresh[:2]) },
	}
	for name, step := range steps {
		err := step()
		if name == "FeelerCandidate" && err == nil {
			// A pick whose tried slot is free changes nothing, so writes nothing.
		} else {
			require.ErrorIs(t, err, bbolt.ErrDatabaseNotOpen, name)
		}
		require.Equal(t, before, snap(b.Book), name)
	}
}

func TestMalformedRecordsSkipped(t *testing.T) {
	b := newTestBook(t, Config{})
	good := tcpAddr(t, "1.2.3.4:1")
	_, err := b.AddNew([]Addr{good}, nil)
	require.NoError(t, err)
	goodTried := tcpAddr(t, "5.6.7.8:1")
	_, err = b.AddTried(goodTried)
	require.NoError(t, err)
	goodIce := genID(t)
	require.NoError(t, b.Ice(goodIce))
	_, triedSlot := b.slotOf(goodTried.ID)

	dnsOnly := rec(0, Addr{ID: genID(t), Addrs: maddrs(t, "/dns4/x.example/tcp/1")})
	valid := rec(0, tcpAddr(t, "9.9.9.9:9"))
	wrongVersion := append([]byte{recordV2 + 1}, valid[1:]...)
	otherID := genID(t)
	freeSlot := func(taken int) []byte { return slotKey(uint16((taken + 1) % TriedCapacity)) }
	require.NoError(t, b.db.Update(func(tx *bbolt.Tx) error {
		nb, tb, ib := tx.Bucket(bucketNew), tx.Bucket(bucketTried), tx.Bucket(bucketIce)
		for _, kv := range []struct {
			bk   *bbolt.Bucket
			k, v []byte
		}{
			{nb, []byte{1, 2, 3}, valid},                                // bad key length
			{nb, slotKey(NewCapacity), valid},                           // slot out of range
			{nb, slotKey(7), []byte("garbage")},                         // undecodable
			{nb, slotKey(8), wrongVersion},                              // unknown record version
			{nb, slotKey(9), dnsOnly},                                   // cannot be indexed
			{nb, slotKey(10), append(bytes.Clone(valid), 0)},            // trailing byte
			{tb, freeSlot(triedSlot), rec(0, goodTried)},                // same peer in two tried slots
			{tb, slotKey(TriedCapacity), valid},                         // out of the tried table
			{ib, []byte(otherID), rec(0, Addr{ID: genID(t)})},           // key and ID disagree
			{ib, []byte("junk"), []byte{recordV1, 0, 0, 0, 0, 0, 0, 0}}, // short
		} {
			if err := kv.bk.Put(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	}))

	logs := captureLogs(t)
	b2, err := Open(b.db, Config{})
	require.NoError(t, err)
	require.Equal(t, 10, strings.Count(logs(), "skipping malformed"), "each bad record is logged")
	newN, triedN, icedN := b2.Counts()
	require.Equal(t, [3]int{1, 1, 1}, [3]int{newN, triedN, icedN})
	require.Equal(t, []Addr{good}, b2.New())
	require.Equal(t, []Addr{goodTried}, b2.Tried())
	require.Equal(t, goodIce, b2.Iced()[0].Addr.ID)
	_, w, _ := b2.Lookup(otherID)
	require.Equal(t, BucketNone, w)
}

func TestOpenSchemaAndKey(t *testing.T) {
	t.Run("newer schema refused", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
			m, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return m.Put(keySchema, []byte{schemaVersion + 1})
		}))
		_, err := Open(db, Config{})
		require.ErrorIs(t, err, ErrUnsupportedSchema)
	})
	t.Run("malformed key replaced", func(t *testing.T) {
		db := openDB(t, filepath.Join(t.TempDir(), "x.db"))
		require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
			m, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return m.Put(keySK, []byte{1, 2, 3})
		}))
		b, err := Open(db, Config{})
		require.NoError(t, err)
		require.NoError(t, db.View(func(tx *bbolt.Tx) error {
			v := tx.Bucket(bucketMeta).Get(keySK)
			require.Len(t, v, 8)
			require.Equal(t, b.sk[:], v)
			return nil
		}))
	})
	t.Run("nil database", func(t *testing.T) {
		_, err := Open(nil, Config{})
		require.Error(t, err)
	})
	t.Run("bucket names are prefixed", func(t *testing.T) {
		b := newTestBook(t, Config{})
		require.NoError(t, b.db.View(func(tx *bbolt.Tx) error {
			n := 0
			err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				n++
				require.True(t, bytes.HasPrefix(name, []byte("peers/")), string(name))
				return nil
			})
			require.Equal(t, 6, n)
			return err
		}))
	})
}

func TestRecordRoundTrip(t *testing.T) {
	a := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/1.2.3.4/tcp/1", "/ip6/2001:db8::1/udp/2/quic-v1", "/dns4/a.example/tcp/3")}
	m := meta{attested: true, attempts: 3, lastTry: 77, lastSuccess: -5}
	recs := []record{
		{ts: 0, addr: a},
		{ts: 1, addr: a, meta: m},
		{ts: -1, addr: a, ip: netip.MustParseAddr("1.2.3.4")},
		{ts: 1 << 40, addr: a, ip: netip.MustParseAddr("2a01::1")},
		{ts: 5, addr: Addr{ID: genID(t)}}, // an ice record may carry no addresses
		{ts: 6, addr: LegacyAddr(netip.MustParseAddrPort("1.2.3.4:21337")), meta: m},
		{ts: 7, addr: LegacyAddr(netip.MustParseAddrPort("[::ffff:1.2.3.4]:21337"))}, // stays IPv6
		{ts: 8, addr: Addr{ID: genID(t)}, unreachable: true},
	}
	for _, r := range recs {
		b := encodeRecord(r)
		got, err := decodeRecord(b)
		require.NoError(t, err)
		require.Equal(t, r, got)
		// Every strict prefix is malformed, and decoding never panics.
		for i := range len(b) {
			_, err := decodeRecord(b[:i])
			require.ErrorIs(t, err, ErrMalformedRecord, "prefix %d", i)
		}
	}
}

// TestRecordV1 reads a record in the first layout, as a database written before record
// version 2 holds them.
func TestRecordV1(t *testing.T) {
	a := tcpAddr(t, "1.2.3.4:1")
	v1 := []byte{recordV1}
	v1 = binary.BigEndian.AppendUint64(v1, 42)
	v1 = binary.AppendUvarint(v1, uint64(len(a.ID)))
	v1 = append(v1, a.ID...)
	v1 = binary.AppendUvarint(v1, 1)
	v1 = binary.AppendUvarint(v1, uint64(len(a.Addrs[0].Bytes())))
	v1 = append(v1, a.Addrs[0].Bytes()...)
	got, err := decodeRecord(v1)
	require.NoError(t, err)
	require.Equal(t, record{ts: 42, addr: a}, got)
}

func FuzzDecodeRecord(f *testing.F) {
	id, err := peer.Decode("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encodeRecord(record{ts: 7, addr: Addr{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/1.2.3.4/tcp/1")}}}))
	f.Add(encodeRecord(record{ts: 7, addr: LegacyAddr(netip.MustParseAddrPort("1.2.3.4:5")), ip: netip.MustParseAddr("::1")}))
	f.Add([]byte{})
	f.Add([]byte{recordV1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := decodeRecord(data)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to a record that decodes to the same value (the
		// bytes may differ: non-minimal varints and version 1 are accepted).
		r2, err := decodeRecord(encodeRecord(r))
		if err != nil || r2.ts != r.ts || r2.meta != r.meta || r2.ip != r.ip || r2.unreachable != r.unreachable || r2.addr.String() != r.addr.String() {
			t.Fatalf("round trip of %x: %v", data, err)
		}
	})
}

// TestConcurrentUse runs every verb from several goroutines; run with -race.
func TestConcurrentUse(t *testing.T) {
	b := newTestBook(t, Config{})
	fillBook(t, b, 20, 20)
	ids := make([]Addr, 64)
	for i := range ids {
		ids[i] = tcpAddr(t, "70.0."+strconv.Itoa(i)+".1:1")
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			src := tcpAddr(t, "10."+strconv.Itoa(g)+".0.1:1")
			for i, a := range ids {
				switch (i + g) % 8 {
				case 0:
					_, _ = b.AddNew([]Addr{a}, &src)
				case 1:
					_, _ = b.AddTried(a)
				case 2:
					_, _, _ = b.FeelerCandidate(nil)
					_, _ = b.Failed(a)
				case 3:
					_ = b.RandomForBootstrap(5, nil)
				case 4:
					_, _ = b.RemoveTried(a.ID, i%2 == 0)
				case 5:
					_ = b.Ice(a.ID)
					_ = b.IsIced(a.ID)
				case 6:
					_, _ = b.Melt()
					_, _, _ = b.Lookup(a.ID)
				case 7:
					_, _, _ = b.Counts()
					_ = b.Tried()
					_ = b.New()
					_ = b.Iced()
				}
			}
		})
	}
	wg.Wait()
	// The in-memory indexes agree with the tables.
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, kind := range []which{whichNew, whichTried} {
		tab := b.table(kind)
		for _, i := range tab.occupied {
			r := b.refs[tab.get(i).addr.Key()]
			require.NotNil(t, r)
			if kind == whichTried {
				require.True(t, r.inTried)
				require.Equal(t, i, r.tried)
			} else {
				require.Contains(t, r.news, i)
			}
		}
	}
}

// captureLogs records this package's warnings until the returned function is called.
func captureLogs(t *testing.T) func() string {
	t.Helper()
	require.NoError(t, logging.SetLogLevel("witnet/peers", "warn"))
	pr := logging.NewPipeReader(logging.PipeLevel(logging.LevelWarn))
	var buf bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = buf.ReadFrom(pr)
	}()
	stop := func() string {
		_ = pr.Close()
		<-done
		_ = logging.SetLogLevel("witnet/peers", "error")
		return buf.String()
	}
	once := sync.OnceValue(stop)
	t.Cleanup(func() { once() })
	return once
}
