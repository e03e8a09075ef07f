package peers

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// benchAddrs returns n peers on distinct IPs spread over many /16 groups.
func benchAddrs(b *testing.B, n int) []Addr {
	out := make([]Addr, n)
	for i := range out {
		out[i] = tcpAddr(b, fmt.Sprintf("%d.%d.%d.1:21337", 1+i%200, i/200%250, i%250))
	}
	return out
}

// benchBook opens a book on a database with fsync on, as the node runs it.
func benchBook(b *testing.B) *Book { return benchBookOpts(b, false) }

// The per-source rate limit is off: each call stands for a Peers reply of a different
// source, and a book of which one source has used its burst would do no work at all.
func benchBookOpts(b *testing.B, noSync bool) *Book {
	opts := &bbolt.Options{Timeout: time.Second, NoSync: noSync}
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "bench.db"), 0o600, opts)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	book, err := Open(db, Config{AddrRate: -1})
	require.NoError(b, err)
	return book
}

// BenchmarkAddNew1000 adds a Peers message worth of 1,000 addresses per call: one bbolt
// transaction per call. "nosync" skips the fsync to show the CPU part alone.
func BenchmarkAddNew1000(b *testing.B) {
	addrs := benchAddrs(b, 1000)
	src := tcpAddr(b, "127.0.0.1:21337") // a loopback source may announce any scope
	for _, noSync := range []bool{false, true} {
		name := map[bool]string{false: "fsync", true: "nosync"}[noSync]
		b.Run(name, func(b *testing.B) {
			book := benchBookOpts(b, noSync)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := book.AddNew(addrs, &src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAddTried is one consolidation: one small transaction with its fsync.
func BenchmarkAddTried(b *testing.B) {
	addrs := benchAddrs(b, 1000)
	book := benchBook(b)
	clock := &testClock{}
	book.cfg.Now = clock.Now // every slot is writable again on each pass
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i%len(addrs) == 0 {
			clock.Set(clock.Now().Unix() + 1000)
		}
		if _, err := book.AddTried(addrs[i%len(addrs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkRandomForBootstrap draws 12 peers (the outbound limit) from a populated book.
func BenchmarkRandomForBootstrap(b *testing.B) {
	addrs := benchAddrs(b, 6000)
	book := benchBook(b)
	src := tcpAddr(b, "10.0.0.1:21337")
	_, err := book.AddNew(addrs[:4000], &src)
	require.NoError(b, err)
	for _, a := range addrs[4000:] {
		_, err := book.AddTried(a)
		require.NoError(b, err)
	}
	n, t, _ := book.Counts()
	b.Logf("new %d, tried %d", n, t)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := book.RandomForBootstrap(12, nil); len(got) != 12 {
			b.Fatalf("got %d", len(got))
		}
	}
}

// BenchmarkIndex computes one new and one tried index.
func BenchmarkIndex(b *testing.B) {
	sk := newSecret(1)
	ep, src := mustEP(b, "192.168.1.1:21337"), mustEP(b, "10.0.0.1:21337")
	b.ReportAllocs()
	for b.Loop() {
		_ = newIndex(&sk, ep, src)
		_ = triedIndex(&sk, ep)
	}
}
