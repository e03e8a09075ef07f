package peers

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

// genID returns a fresh peer ID from a random Ed25519 key.
func genID(tb testing.TB) peer.ID {
	tb.Helper()
	priv, _, err := crypto.GenerateEd25519Key(crand.Reader)
	require.NoError(tb, err)
	id, err := peer.IDFromPrivateKey(priv)
	require.NoError(tb, err)
	return id
}

// tcpMaddr turns "ip:port" into /ip4|ip6/<ip>/tcp/<port>.
func tcpMaddr(tb testing.TB, hostport string) ma.Multiaddr {
	tb.Helper()
	ap, err := netip.ParseAddrPort(hostport)
	require.NoError(tb, err)
	family := "ip4"
	if !ap.Addr().Is4() {
		family = "ip6"
	}
	m, err := ma.NewMultiaddr(fmt.Sprintf("/%s/%s/tcp/%d", family, ap.Addr(), ap.Port()))
	require.NoError(tb, err)
	return m
}

// tcpAddr is a new peer reachable at hostport.
func tcpAddr(tb testing.TB, hostport string) Addr {
	tb.Helper()
	return Addr{ID: genID(tb), Addrs: []ma.Multiaddr{tcpMaddr(tb, hostport)}}
}

// testClock is a settable clock in whole seconds.
type testClock struct {
	mu  sync.Mutex
	sec int64
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Unix(c.sec, 0)
}

func (c *testClock) Set(sec int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sec = sec
}

// openDB opens (creating) a bbolt file and closes it when the test ends. NoSync keeps the
// tests fast; it changes nothing visible to a process that reopens the file.
func openDB(tb testing.TB, path string) *bbolt.DB {
	tb.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second, NoSync: true})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// testBook is a book on a fresh database with a test clock and a seeded random source.
type testBook struct {
	*Book
	db    *bbolt.DB
	path  string
	clock *testClock
}

func newTestBook(tb testing.TB, cfg Config) *testBook {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "node.db")
	db := openDB(tb, path)
	clock := &testClock{}
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.NewPCG(1, 2)
	}
	b, err := Open(db, cfg)
	require.NoError(tb, err)
	return &testBook{Book: b, db: db, path: path, clock: clock}
}

// setSK replaces the index key (tests of the index vectors use sk = 0).
func (b *Book) setSK(sk uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sk = newSecret(sk)
}

// slotOf returns the new slots and tried slot of id.
func (b *Book) slotOf(id peer.ID) (news []uint16, tried int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.refs[Key{ID: id}]
	if r == nil {
		return nil, -1
	}
	tried = -1
	if r.inTried {
		tried = int(r.tried)
	}
	return append([]uint16(nil), r.news...), tried
}

// mustEP parses "ip:port".
func mustEP(tb testing.TB, s string) netip.AddrPort {
	tb.Helper()
	ep, err := netip.ParseAddrPort(s)
	require.NoError(tb, err)
	return ep
}

// secs is n seconds.
func secs(n int64) time.Duration { return time.Duration(n) * time.Second }

// netipAddrPort returns ep with another port.
func netipAddrPort(ep netip.AddrPort, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(ep.Addr(), port)
}
