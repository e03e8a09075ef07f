package peers

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// triedCollider returns a new peer on a's IP with another port whose tried slot is a's.
func triedCollider(t *testing.T, b *testBook, a Addr) Addr {
	t.Helper()
	ep, err := a.Endpoint()
	require.NoError(t, err)
	want := triedIndex(&b.sk, ep)
	for port := 1; port < 65536; port++ {
		cand := netip.AddrPortFrom(ep.Addr(), uint16(port))
		if cand != ep && triedIndex(&b.sk, cand) == want {
			return tcpAddr(t, cand.String())
		}
	}
	t.Fatal("no tried collision found")
	return Addr{}
}

// newCollider returns a new peer on a's IP with another port whose new slot (for the same
// source) is a's.
func newCollider(t *testing.T, b *testBook, a Addr, src netip.AddrPort) Addr {
	t.Helper()
	ep, err := a.Endpoint()
	require.NoError(t, err)
	want := newIndex(&b.sk, ep, src)
	for port := 1; port < 65536; port++ {
		cand := netip.AddrPortFrom(ep.Addr(), uint16(port))
		if cand != ep && newIndex(&b.sk, cand, src) == want {
			return tcpAddr(t, cand.String())
		}
	}
	t.Fatal("no new collision found")
	return Addr{}
}

func where(t *testing.T, b *testBook, id peer.ID) Bucket {
	t.Helper()
	_, w, _ := b.Lookup(id)
	return w
}

func TestAddNewRules(t *testing.T) {
	self := genID(t)
	src := tcpAddr(t, "10.0.0.1:21337")
	tests := []struct {
		name string
		// setup prepares the book and returns what to add and with which source.
		setup     func(t *testing.T, b *testBook) ([]Addr, *Addr)
		wantAdded int
		wantErr   error
		check     func(t *testing.T, b *testBook, in []Addr)
	}{
		{
			name: "plain",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				return []Addr{tcpAddr(t, "1.2.3.4:1"), tcpAddr(t, "5.6.7.8:2")}, &src
			},
			wantAdded: 2,
			check: func(t *testing.T, b *testBook, in []Addr) {
				for _, a := range in {
					got, w, ok := b.Lookup(a.ID)
					require.True(t, ok)
					require.Equal(t, BucketNew, w)
					require.Equal(t, a, got)
				}
			},
		},
		{
			name: "unspecified skipped silently",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				return []Addr{tcpAddr(t, "0.0.0.0:1"), tcpAddr(t, "[::]:1"), tcpAddr(t, "1.2.3.4:1")}, &src
			},
			wantAdded: 1,
		},
		{
			name: "self skipped",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				return []Addr{{ID: self, Addrs: tcpAddr(t, "1.2.3.4:1").Addrs}}, &src
			},
			wantAdded: 0,
		},
		{
			name: "iced skipped when announced by a peer",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				a := tcpAddr(t, "1.2.3.4:1")
				require.NoError(t, b.Ice(a.ID))
				return []Addr{a}, &src
			},
			wantAdded: 0,
			check: func(t *testing.T, b *testBook, in []Addr) {
				require.True(t, b.IsIced(in[0].ID))
			},
		},
		{
			name: "iced peer added locally is melted first",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				a := tcpAddr(t, "1.2.3.4:1")
				require.NoError(t, b.Ice(a.ID))
				return []Addr{a}, nil
			},
			wantAdded: 1,
			check: func(t *testing.T, b *testBook, in []Addr) {
				require.False(t, b.IsIced(in[0].ID))
				_, _, iced := b.Counts()
				require.Zero(t, iced)
			},
		},
		{
			name: "already in tried skipped",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				a := tcpAddr(t, "1.2.3.4:1")
				ok, err := b.AddTried(a)
				require.NoError(t, err)
				require.True(t, ok)
				return []Addr{a}, &src
			},
			wantAdded: 0,
			check: func(t *testing.T, b *testBook, in []Addr) {
				require.Equal(t, BucketTried, where(t, b, in[0].ID))
			},
		},
		{
			name: "dns-only rejected, rest added",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				dns := Addr{ID: genID(t), Addrs: maddrs(t, "/dns4/seed.example/tcp/21337")}
				return []Addr{dns, tcpAddr(t, "1.2.3.4:1")}, &src
			},
			wantAdded: 1,
			wantErr:   ErrNoIPAddr,
		},
		{
			name: "source without IP rejects the call",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				bad := Addr{ID: genID(t), Addrs: maddrs(t, "/dns4/seed.example/tcp/21337")}
				return []Addr{tcpAddr(t, "1.2.3.4:1")}, &bad
			},
			wantAdded: 0,
			wantErr:   ErrNoIPAddr,
			check: func(t *testing.T, b *testBook, in []Addr) {
				n, _, _ := b.Counts()
				require.Zero(t, n)
			},
		},
		{
			name: "collision overwrites the slot",
			setup: func(t *testing.T, b *testBook) ([]Addr, *Addr) {
				srcEP, err := src.Endpoint()
				require.NoError(t, err)
				first := tcpAddr(t, "1.2.3.4:1")
				return []Addr{first, newCollider(t, b, first, srcEP)}, &src
			},
			wantAdded: 2,
			check: func(t *testing.T, b *testBook, in []Addr) {
				n, _, _ := b.Counts()
				require.Equal(t, 1, n)
				require.Equal(t, BucketNone, where(t, b, in[0].ID))
				require.Equal(t, BucketNew, where(t, b, in[1].ID))
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBook(t, Config{Self: self})
			in, from := tc.setup(t, b)
			added, err := b.AddNew(in, from)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				var ae *AddrError
				require.ErrorAs(t, err, &ae)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantAdded, added)
			if tc.check != nil {
				tc.check(t, b, in)
			}
		})
	}
}

func TestAddNewRefsLimit(t *testing.T) {
	b := newTestBook(t, Config{})
	a := tcpAddr(t, "1.2.3.4:1")
	// Announce a from many source groups; it may land in at most maxNewRefs slots.
	for i := range 64 {
		src := tcpAddr(t, fmt.Sprintf("%d.%d.0.1:1", 11+i, i))
		_, err := b.AddNew([]Addr{a}, &src)
		require.NoError(t, err)
	}
	news, _ := b.slotOf(a.ID)
	require.Len(t, news, maxNewRefs)
}

func TestAddTriedUpdatePeriod(t *testing.T) {
	b := newTestBook(t, Config{UpdatePeriod: secs(300)})
	a := tcpAddr(t, "1.2.3.4:1000")
	other := triedCollider(t, b, a)

	b.clock.Set(1000)
	ok, err := b.AddTried(a)
	require.NoError(t, err)
	require.True(t, ok)

	tests := []struct {
		at   int64
		who  Addr
		want bool
	}{
		{1000, a, false},       // same peer, fresh slot: not rewritten
		{1299, other, false},   // 299 s < update period
		{1300, other, true},    // exactly the update period: writable
		{1300 + 1, a, false},   // other's write is fresh now
		{1300 + 300, a, true},  // and old again
		{1300 + 300, a, false}, // just rewritten by a
	}
	for i, tc := range tests {
		b.clock.Set(tc.at)
		ok, err := b.AddTried(tc.who)
		require.NoError(t, err)
		require.Equal(t, tc.want, ok, "step %d", i)
	}
	_, tried, _ := b.Counts()
	require.Equal(t, 1, tried)
	require.Equal(t, BucketTried, where(t, b, a.ID))
	require.Equal(t, BucketNone, where(t, b, other.ID))
}

func TestAddTriedMovesPeer(t *testing.T) {
	b := newTestBook(t, Config{})
	src := tcpAddr(t, "10.0.0.1:1")
	a := tcpAddr(t, "1.2.3.4:1")
	_, err := b.AddNew([]Addr{a}, &src)
	require.NoError(t, err)
	_, err = b.AddNew([]Addr{a}, nil) // a second new slot (its own source group)
	require.NoError(t, err)
	news, _ := b.slotOf(a.ID)
	require.NotEmpty(t, news)

	ok, err := b.AddTried(a)
	require.NoError(t, err)
	require.True(t, ok)
	newN, triedN, _ := b.Counts()
	require.Zero(t, newN, "promotion to tried removes every new slot of the peer")
	require.Equal(t, 1, triedN)

	// The peer shows up at another address: it moves, keeping one tried slot.
	moved := Addr{ID: a.ID, Addrs: tcpAddr(t, "99.1.2.3:7").Addrs}
	_, before := b.slotOf(a.ID)
	ok, err = b.AddTried(moved)
	require.NoError(t, err)
	require.True(t, ok)
	_, after := b.slotOf(a.ID)
	require.NotEqual(t, before, after)
	got, w, _ := b.Lookup(a.ID)
	require.Equal(t, BucketTried, w)
	require.Equal(t, moved, got)
	_, triedN, _ = b.Counts()
	require.Equal(t, 1, triedN)
}

func TestAddTriedSkips(t *testing.T) {
	self := genID(t)
	b := newTestBook(t, Config{Self: self})
	iced := tcpAddr(t, "1.2.3.4:1")
	require.NoError(t, b.Ice(iced.ID))
	for name, a := range map[string]Addr{
		"iced":        iced,
		"self":        {ID: self, Addrs: tcpAddr(t, "1.2.3.5:1").Addrs},
		"unspecified": tcpAddr(t, "0.0.0.0:1"),
	} {
		ok, err := b.AddTried(a)
		require.NoError(t, err, name)
		require.False(t, ok, name)
	}
	ok, err := b.AddTried(Addr{ID: genID(t), Addrs: maddrs(t, "/dns4/x.example/tcp/1")})
	require.ErrorIs(t, err, ErrNoIPAddr)
	require.False(t, ok)
	_, triedN, _ := b.Counts()
	require.Zero(t, triedN)
}

func TestRemoveTried(t *testing.T) {
	b := newTestBook(t, Config{})
	a, c := tcpAddr(t, "1.2.3.4:1"), tcpAddr(t, "5.6.7.8:1")
	for _, x := range []Addr{a, c} {
		ok, err := b.AddTried(x)
		require.NoError(t, err)
		require.True(t, ok)
	}

	removed, err := b.RemoveTried(a.ID, false)
	require.NoError(t, err)
	require.True(t, removed)
	require.False(t, b.IsIced(a.ID))
	require.Equal(t, BucketTried, where(t, b, c.ID), "other peers stay")

	removed, err = b.RemoveTried(a.ID, false)
	require.NoError(t, err)
	require.False(t, removed)

	// Icing works whether or not the peer was in tried.
	stranger := genID(t)
	removed, err = b.RemoveTried(stranger, true)
	require.NoError(t, err)
	require.False(t, removed)
	require.True(t, b.IsIced(stranger))

	removed, err = b.RemoveTried(c.ID, true)
	require.NoError(t, err)
	require.True(t, removed)
	require.True(t, b.IsIced(c.ID))
	got, w, ok := b.Lookup(c.ID)
	require.True(t, ok)
	require.Equal(t, BucketIce, w)
	require.Equal(t, c, got, "ice keeps the addresses for melting")
}

// TestTransitions walks one peer through new → feeler → tried → ice → melt → new.
func TestTransitions(t *testing.T) {
	b := newTestBook(t, Config{IcePeriod: secs(100), IcePeriodBeforeBootstrap: secs(50)})
	src := tcpAddr(t, "10.0.0.1:1")
	a := tcpAddr(t, "1.2.3.4:21337")

	n, err := b.AddNew([]Addr{a}, &src)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, BucketNew, where(t, b, a.ID))

	cand, ok, err := b.FeelerCandidate(nil)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, a, cand)
	require.Equal(t, BucketNew, where(t, b, a.ID), "it stays in new until the feeler ends")

	ok, err = b.AddTried(cand)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, []Addr{a}, b.Tried())

	b.clock.Set(10)
	removed, err := b.RemoveTried(a.ID, true)
	require.NoError(t, err)
	require.True(t, removed)
	require.Empty(t, b.Tried())
	require.Equal(t, []IceRecord{{Addr: a, Since: b.clock.Now()}}, b.Iced())
	require.Equal(t, secs(50), b.IcePeriod())

	// Before bootstrap the shorter period applies; afterwards the configured one.
	b.clock.Set(61)
	require.False(t, b.IsIced(a.ID))
	b.SetBootstrapped(true)
	require.Equal(t, secs(100), b.IcePeriod())
	require.Equal(t, MeltPeriod, b.MeltInterval())
	require.True(t, b.IsIced(a.ID))
	melted, err := b.Melt()
	require.NoError(t, err)
	require.Zero(t, melted)

	b.clock.Set(111)
	melted, err = b.Melt()
	require.NoError(t, err)
	require.Equal(t, 1, melted)
	require.Empty(t, b.Iced())
	require.Equal(t, []Addr{a}, b.New())
}

func TestMeltWithoutAddresses(t *testing.T) {
	b := newTestBook(t, Config{IcePeriodBeforeBootstrap: secs(10)})
	require.Equal(t, MeltPeriodBeforeBootstrap, b.MeltInterval())
	id := genID(t) // an inbound peer the book never knew
	require.NoError(t, b.Ice(id))
	b.clock.Set(11)
	melted, err := b.Melt()
	require.NoError(t, err)
	require.Equal(t, 1, melted)
	newN, triedN, icedN := b.Counts()
	require.Equal(t, [3]int{0, 0, 0}, [3]int{newN, triedN, icedN})
}

func TestFeelerCandidate(t *testing.T) {
	const update = 300
	src := tcpAddr(t, "10.0.0.1:1")
	tests := []struct {
		name string
		// setup returns the peer put in new and, if any, the tried occupant of its slot.
		setup     func(t *testing.T, b *testBook) (fresh Addr, occupant *Addr)
		wantOK    bool
		wantOccup bool // the returned peer is the occupant
		wantNew   int  // new entries left
	}{
		{
			name: "tried slot empty",
			setup: func(t *testing.T, b *testBook) (Addr, *Addr) {
				return tcpAddr(t, "1.2.3.4:1"), nil
			},
			wantOK: true, wantNew: 1,
		},
		{
			name: "old occupant is re-tested",
			setup: func(t *testing.T, b *testBook) (Addr, *Addr) {
				occ := tcpAddr(t, "1.2.3.4:1")
				ok, err := b.AddTried(occ)
				require.NoError(t, err)
				require.True(t, ok)
				b.clock.Set(update)
				return triedCollider(t, b, occ), &occ
			},
			wantOK: true, wantOccup: true,
		},
		{
			name: "fresh occupant keeps its slot",
			setup: func(t *testing.T, b *testBook) (Addr, *Addr) {
				occ := tcpAddr(t, "1.2.3.4:1")
				ok, err := b.AddTried(occ)
				require.NoError(t, err)
				require.True(t, ok)
				b.clock.Set(update - 1)
				return triedCollider(t, b, occ), &occ
			},
			wantOK: false,
		},
		{
			name: "iced new peer is dropped",
			setup: func(t *testing.T, b *testBook) (Addr, *Addr) {
				a := tcpAddr(t, "1.2.3.4:1")
				n, err := b.AddNew([]Addr{a}, &src)
				require.NoError(t, err)
				require.Equal(t, 1, n)
				require.NoError(t, b.Ice(a.ID))
				return Addr{}, nil
			},
			wantOK: false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBook(t, Config{UpdatePeriod: secs(update)})
			fresh, occ := tc.setup(t, b)
			if fresh.ID != "" {
				n, err := b.AddNew([]Addr{fresh}, &src)
				require.NoError(t, err)
				require.Equal(t, 1, n)
			}
			got, ok, err := b.FeelerCandidate(nil)
			require.NoError(t, err)
			require.Equal(t, tc.wantOK, ok)
			newN, triedN, _ := b.Counts()
			require.Equal(t, tc.wantNew, newN, "the new entry stays only as the candidate")
			switch {
			case !ok:
				require.Equal(t, Addr{}, got)
			case tc.wantOccup:
				require.Equal(t, *occ, got)
			default:
				require.Equal(t, fresh, got)
			}
			if occ != nil {
				// The occupant stays until its re-test fails (Failed) or succeeds (AddTried).
				require.Equal(t, BucketTried, where(t, b, occ.ID))
				require.Equal(t, 1, triedN)
			}
		})
	}

	t.Run("empty book", func(t *testing.T) {
		b := newTestBook(t, Config{})
		_, ok, err := b.FeelerCandidate(nil)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

// fillBook puts nNew peers in new and nTried in tried and returns their IDs by bucket.
func fillBook(t *testing.T, b *testBook, nNew, nTried int) {
	t.Helper()
	src := tcpAddr(t, "10.0.0.1:1")
	var fresh []Addr
	for i := 0; b.newLen() < nNew; i++ {
		fresh = append(fresh[:0], tcpAddr(t, fmt.Sprintf("20.%d.%d.1:21337", i/250, i%250)))
		_, err := b.AddNew(fresh, &src)
		require.NoError(t, err)
	}
	for i := 0; b.triedLen() < nTried; i++ {
		_, err := b.AddTried(tcpAddr(t, fmt.Sprintf("30.%d.%d.1:21337", i/250, i%250)))
		require.NoError(t, err)
	}
}

func (b *testBook) newLen() int   { n, _, _ := b.Counts(); return n }
func (b *testBook) triedLen() int { _, n, _ := b.Counts(); return n }

// split counts how many of got are in new and in tried, and checks they are distinct.
func split(t *testing.T, b *testBook, got []Addr) (fromNew, fromTried int) {
	t.Helper()
	seen := map[peer.ID]bool{}
	for _, a := range got {
		require.False(t, seen[a.ID], "duplicate %s", a.ID)
		seen[a.ID] = true
		switch where(t, b, a.ID) {
		case BucketNew:
			fromNew++
		case BucketTried:
			fromTried++
		default:
			t.Fatalf("%s is in neither bucket", a.ID)
		}
	}
	return fromNew, fromTried
}

func TestRandomForBootstrapClamps(t *testing.T) {
	tests := []struct {
		name           string
		nNew, nTried   int
		n              int
		wantLen        int
		minNew, maxNew int
	}{
		{"nothing wanted", 5, 5, 0, 0, 0, 0},
		{"empty book", 0, 0, 8, 0, 0, 0},
		{"only new", 5, 0, 8, 5, 5, 5},
		{"only tried", 0, 5, 8, 5, 0, 0},
		{"few new", 2, 40, 10, 10, 0, 2},
		{"few tried", 40, 2, 10, 10, 8, 10},
		{"fewer than wanted", 3, 4, 12, 7, 3, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBook(t, Config{})
			fillBook(t, b, tc.nNew, tc.nTried)
			for range 50 {
				got := b.RandomForBootstrap(tc.n, nil)
				require.Len(t, got, tc.wantLen)
				fromNew, _ := split(t, b, got)
				require.GreaterOrEqual(t, fromNew, tc.minNew)
				require.LessOrEqual(t, fromNew, tc.maxNew)
			}
		})
	}
}

// TestRandomForBootstrapDistribution checks the coin-flip split: with both buckets large,
// the number taken from new is Binomial(n, 1/2).
func TestRandomForBootstrapDistribution(t *testing.T) {
	const n, rounds = 10, 4000
	b := newTestBook(t, Config{Rand: rand.NewPCG(7, 11)})
	fillBook(t, b, 60, 60)
	hist := make([]int, n+1)
	picked := map[peer.ID]int{}
	sum := 0
	for range rounds {
		got := b.RandomForBootstrap(n, nil)
		require.Len(t, got, n)
		fromNew, _ := split(t, b, got)
		hist[fromNew]++
		sum += fromNew
		for _, a := range got {
			picked[a.ID]++
		}
	}
	mean := float64(sum) / rounds
	// Binomial(10, 1/2): mean 5, sd 1.58; the sd of the mean over 4000 rounds is 0.025.
	require.InDelta(t, 5.0, mean, 0.15)
	// P(5) = 252/1024 ≈ 0.246, P(0) = P(10) ≈ 0.001.
	require.InDelta(t, 0.246, float64(hist[5])/rounds, 0.04)
	require.Less(t, hist[0]+hist[10], rounds/100)
	// Every peer gets picked: the sampling covers the whole book.
	require.Len(t, picked, 120)
}

func TestRandomForBootstrapFilters(t *testing.T) {
	self := genID(t)
	b := newTestBook(t, Config{Self: self})
	fillBook(t, b, 10, 10)
	all := b.RandomForBootstrap(100, nil)
	require.Len(t, all, 20)

	excluded := map[peer.ID]bool{all[0].ID: true, all[1].ID: true}
	require.NoError(t, b.Ice(all[2].ID))
	for range 20 {
		got := b.RandomForBootstrap(100, func(a Addr) bool { return excluded[a.ID] })
		require.Len(t, got, 17)
		for _, a := range got {
			require.False(t, excluded[a.ID])
			require.NotEqual(t, all[2].ID, a.ID)
		}
	}

	// A peer in tried and (through a stale record) in new is handed out once.
	dup := b.Tried()[0]
	b.mu.Lock()
	ep, err := dup.Endpoint()
	require.NoError(t, err)
	b.setSlot(whichNew, newIndex(&b.sk, ep, ep), &entry{addr: dup, ep: ep})
	b.mu.Unlock()
	got := b.RandomForBootstrap(100, nil)
	split(t, b, got) // fails on duplicates

	// A peer in several new slots (announced by several source groups) is handed out once.
	multi := tcpAddr(t, "88.1.2.3:4")
	for i := range 10 {
		src := tcpAddr(t, fmt.Sprintf("%d.9.0.1:1", 100+i))
		_, err := b.AddNew([]Addr{multi}, &src)
		require.NoError(t, err)
	}
	news, _ := b.slotOf(multi.ID)
	require.Greater(t, len(news), 1)
	for range 20 {
		got := b.RandomForBootstrap(100, nil)
		split(t, b, got)
		require.Len(t, got, len(all)-1+1) // all[2] is iced; multi is new
	}
}

func TestRandomForBootstrapSeeded(t *testing.T) {
	// Two books with the same seed, key and history choose the same peers in the same order.
	src := tcpAddr(t, "10.0.0.1:1")
	var fresh, good []Addr
	for i := range 40 {
		fresh = append(fresh, tcpAddr(t, fmt.Sprintf("20.0.%d.1:21337", i)))
		good = append(good, tcpAddr(t, fmt.Sprintf("30.0.%d.1:21337", i)))
	}
	run := func() [][]Addr {
		b := newTestBook(t, Config{Rand: rand.NewPCG(3, 4)})
		b.setSK(99)
		_, err := b.AddNew(fresh, &src)
		require.NoError(t, err)
		for _, a := range good {
			_, err := b.AddTried(a)
			require.NoError(t, err)
		}
		var out [][]Addr
		for range 10 {
			out = append(out, b.RandomForBootstrap(7, nil))
		}
		return out
	}
	first, second := run(), run()
	require.Equal(t, first, second)
	require.NotEqual(t, first[0], first[1], "successive draws differ")
}

func TestClear(t *testing.T) {
	b := newTestBook(t, Config{})
	fillBook(t, b, 5, 5)
	iced := genID(t)
	require.NoError(t, b.Ice(iced))
	require.NoError(t, b.Clear())
	newN, triedN, icedN := b.Counts()
	require.Equal(t, [3]int{0, 0, 1}, [3]int{newN, triedN, icedN})
	require.Empty(t, b.RandomForBootstrap(10, nil))
	// The book keeps working after a clear.
	fillBook(t, b, 2, 2)
}

func TestIceErrors(t *testing.T) {
	b := newTestBook(t, Config{})
	for _, id := range []peer.ID{"", "not a multihash"} {
		err := b.Ice(id)
		require.ErrorIs(t, err, ErrInvalidPeerID)
		require.True(t, errors.As(err, new(*AddrError)))
		_, err = b.RemoveTried(id, true)
		require.ErrorIs(t, err, ErrInvalidPeerID)
	}
	_, _, icedN := b.Counts()
	require.Zero(t, icedN)
}

func TestBucketString(t *testing.T) {
	for b, s := range map[Bucket]string{BucketNone: "none", BucketNew: "new", BucketTried: "tried", BucketIce: "ice", 9: "Bucket(9)"} {
		require.Equal(t, s, b.String())
	}
}
