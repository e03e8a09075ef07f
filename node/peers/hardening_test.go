package peers

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func TestScopeOf(t *testing.T) {
	tests := map[string]Scope{
		"1.2.3.4": ScopePublic, "2a01::1": ScopePublic, "::ffff:8.8.8.8": ScopePublic,
		"127.0.0.1": ScopeLoopback, "127.9.9.9": ScopeLoopback, "::1": ScopeLoopback,
		"10.1.2.3": ScopePrivate, "172.16.0.1": ScopePrivate, "172.31.255.255": ScopePrivate,
		"192.168.1.1": ScopePrivate, "100.64.0.1": ScopePrivate, "fd00::1": ScopePrivate,
		"::ffff:10.0.0.1": ScopePrivate, "172.32.0.1": ScopePublic,
		"0.0.0.0": ScopeNever, "0.1.2.3": ScopeNever, "224.0.0.1": ScopeNever, "239.1.1.1": ScopeNever,
		"240.0.0.1": ScopeNever, "255.255.255.255": ScopeNever, "169.254.1.1": ScopeNever,
		"192.0.2.1": ScopeNever, "198.51.100.1": ScopeNever, "203.0.113.1": ScopeNever,
		"198.18.0.1": ScopeNever, "192.0.0.8": ScopeNever, "::": ScopeNever, "fe80::1": ScopeNever,
		"ff02::1": ScopeNever, "2001:db8::1": ScopeNever, "100::1": ScopeNever, "fec0::1": ScopeNever,
		"::1.2.3.4": ScopeNever,
	}
	for ip, want := range tests {
		require.Equal(t, want, ScopeOf(netip.MustParseAddr(ip)), ip)
	}
	require.Equal(t, ScopeNever, ScopeOf(netip.Addr{}))
}

func TestAddrPolicy(t *testing.T) {
	pub, priv, lo, never := "8.8.8.8", "10.0.0.1", "127.0.0.1", "224.0.0.1"
	tests := []struct {
		p         AddrPolicy
		addr, src string
		want      bool
	}{
		{PolicySameScope, pub, pub, true},
		{PolicySameScope, pub, priv, true},
		{PolicySameScope, pub, lo, true},
		{PolicySameScope, priv, pub, false},
		{PolicySameScope, priv, priv, true},
		{PolicySameScope, priv, lo, true}, // a peer on our host sees our networks
		{PolicySameScope, lo, pub, false},
		{PolicySameScope, lo, priv, false},
		{PolicySameScope, lo, lo, true},
		{PolicySameScope, never, lo, false},
		{PolicyPublicOnly, pub, pub, true},
		{PolicyPublicOnly, priv, priv, false},
		{PolicyPublicOnly, lo, lo, false},
	}
	for _, tc := range tests {
		got := tc.p.Accepts(netip.MustParseAddr(tc.addr), netip.MustParseAddr(tc.src))
		require.Equal(t, tc.want, got, "%s: %s from %s", tc.p, tc.addr, tc.src)
	}
}

// TestGossipScope: a peer on the Internet cannot fill the new bucket with addresses we
// should never dial; local devnets still learn each other.
func TestGossipScope(t *testing.T) {
	b := newTestBook(t, Config{})
	public := tcpAddr(t, "8.8.8.8:1")
	bad := []string{"10.1.1.1:1", "127.0.0.2:1", "224.0.0.1:1", "240.0.0.1:1", "0.1.2.3:1",
		"169.254.0.1:1", "192.0.2.1:1", "192.168.0.1:1", "[fe80::1]:1", "[2001:db8::1]:1"}
	var offered []Addr
	for _, s := range bad {
		offered = append(offered, tcpAddr(t, s))
	}
	offered = append(offered, LegacyAddr(netip.MustParseAddrPort("10.9.9.9:21337")))
	offered = append(offered, tcpAddr(t, "9.9.9.9:1"))
	// An entry with a good and a bad address keeps the good one only.
	mixed := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/10.0.0.1/tcp/1", "/ip4/9.9.9.8/udp/1/quic-v1", "/dns4/evil.example/tcp/1")}
	offered = append(offered, mixed)
	n, err := b.AddNew(offered, &public)
	require.NoError(t, err, "out-of-scope addresses are dropped, not errors")
	require.Equal(t, 2, n)
	got, _, _ := b.Lookup(mixed.ID)
	require.Equal(t, maddrs(t, "/ip4/9.9.9.8/udp/1/quic-v1"), got.Addrs)
	require.Equal(t, uint64(len(bad)+1+1), b.Stats().OutOfScope)

	// Loopback from loopback (a devnet), private from private (a Docker network).
	lo, lan := tcpAddr(t, "127.0.0.1:5"), tcpAddr(t, "172.18.0.3:5")
	n, err = b.AddNew([]Addr{tcpAddr(t, "127.0.0.1:6"), tcpAddr(t, "10.0.0.7:6")}, &lo)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = b.AddNew([]Addr{tcpAddr(t, "172.18.0.4:6"), tcpAddr(t, "127.0.0.1:7")}, &lan)
	require.NoError(t, err)
	require.Equal(t, 1, n, "no loopback address from another host")

	// Public only, as Bitcoin Core.
	strict := newTestBook(t, Config{Policy: PolicyPublicOnly})
	n, err = strict.AddNew([]Addr{tcpAddr(t, "127.0.0.1:6"), tcpAddr(t, "9.9.9.9:6")}, &lo)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// TestGossipRateLimit: Bitcoin Core's token bucket, 0.1 addresses/s and 1000 at once.
func TestGossipRateLimit(t *testing.T) {
	b := newTestBook(t, Config{})
	src, other := tcpAddr(t, "8.8.8.8:1"), tcpAddr(t, "8.8.4.4:1")
	flood := func(n, base int) []Addr {
		out := make([]Addr, n)
		for i := range out {
			out[i] = tcpAddr(t, fmt.Sprintf("%d.%d.%d.1:1", 11+(base+i)/60000%200, (base+i)/250%240, (base+i)%250))
		}
		return out
	}
	_, err := b.AddNew(flood(1500, 0), &src)
	require.NoError(t, err)
	require.Equal(t, uint64(500), b.Stats().RateLimited)
	_, err = b.AddNew(flood(10, 2000), &src)
	require.NoError(t, err)
	require.Equal(t, uint64(510), b.Stats().RateLimited, "the bucket is empty")
	b.clock.Set(100) // 100 s × 0.1/s = 10 tokens
	_, err = b.AddNew(flood(15, 3000), &src)
	require.NoError(t, err)
	require.Equal(t, uint64(515), b.Stats().RateLimited)
	_, err = b.AddNew(flood(10, 4000), &other)
	require.NoError(t, err)
	require.Equal(t, uint64(515), b.Stats().RateLimited, "another source has its own bucket")
	// The token buckets themselves are bounded.
	for i := range maxLimited + 10 {
		s := Addr{ID: genID(t), Addrs: maddrs(t, fmt.Sprintf("/ip4/8.%d.%d.1/tcp/1", i/250, i%250))}
		_, err := b.AddNew(nil, &s)
		require.NoError(t, err)
		b.limiter.take(s.Key(), 1, 100, DefaultAddrRate, DefaultAddrBurst)
	}
	require.LessOrEqual(t, len(b.limiter.buckets), maxLimited)
}

// TestThirdPartyCannotIce: a failed dial of an address announced by a third party counts
// against the address, never the peer; the peer's own address does ice it.
func TestThirdPartyCannotIce(t *testing.T) {
	b := newTestBook(t, Config{})
	third := tcpAddr(t, "8.8.8.8:1")
	honest := tcpAddr(t, "9.9.9.9:21337")
	bogus := Addr{ID: honest.ID, Addrs: maddrs(t, "/ip4/5.5.5.5/tcp/1")}
	_, err := b.AddNew([]Addr{bogus}, &third)
	require.NoError(t, err)

	got := b.RandomForBootstrap(5, nil)
	require.Equal(t, []Addr{bogus}, got)
	out, err := b.Failed(bogus)
	require.NoError(t, err)
	require.Equal(t, OutcomeCounted, out)
	require.False(t, b.IsIced(honest.ID))
	require.Empty(t, b.RandomForBootstrap(5, nil), "waiting for its retry delay")
	b.clock.Set(int64(RetryDelay.Seconds()))
	require.Len(t, b.RandomForBootstrap(5, nil), 1, "offered again after the delay")
	for range MaxFailures - 1 {
		out, err = b.Failed(bogus)
		require.NoError(t, err)
	}
	require.Equal(t, OutcomeRemoved, out)
	_, where, _ := b.Lookup(honest.ID)
	require.Equal(t, BucketNone, where, "removed after MaxFailures")
	require.False(t, b.IsIced(honest.ID))

	// Its own (self-announced) address failing ices it.
	src := Addr{ID: honest.ID, Addrs: maddrs(t, "/ip4/9.9.9.9/tcp/40000")}
	ok, err := b.AddSelf(honest, src)
	require.NoError(t, err)
	require.True(t, ok)
	out, err = b.Failed(honest)
	require.NoError(t, err)
	require.Equal(t, OutcomeIced, out)
	require.True(t, b.IsIced(honest.ID))
	require.Equal(t, Stats{FailedDials: 4, Removed: 1, Iced: 1}, b.Stats())
	// Iced for being unreachable: not dialled, but its inbound connections are welcome,
	// and when it connects and announces itself again the ice is gone.
	require.False(t, b.RefusesInbound(honest.ID))
	require.True(t, b.Iced()[0].Unreachable)
	require.Empty(t, b.RandomForBootstrap(5, nil))
	ok, err = b.AddSelf(honest, src)
	require.NoError(t, err)
	require.True(t, ok)
	require.False(t, b.IsIced(honest.ID))
	// Misbehaviour is refused at the door, and a failed dial does not soften it.
	require.NoError(t, b.IceAt(Key{ID: honest.ID}, netip.MustParseAddr("9.9.9.9")))
	require.True(t, b.RefusesInbound(honest.ID))
	_, err = b.Failed(honest)
	require.NoError(t, err)
	require.True(t, b.RefusesInbound(honest.ID))

	// A tried address failing ices the peer, as witnet-rust does.
	good := tcpAddr(t, "7.7.7.7:1")
	_, err = b.AddTried(good)
	require.NoError(t, err)
	out, err = b.Failed(good)
	require.NoError(t, err)
	require.Equal(t, OutcomeIced, out)
	require.Empty(t, b.Tried())

	// Not in the book: nothing.
	out, err = b.Failed(tcpAddr(t, "6.6.6.6:1"))
	require.NoError(t, err)
	require.Equal(t, OutcomeUnknown, out)
}

func TestAddSelfChecksIdentity(t *testing.T) {
	b := newTestBook(t, Config{})
	src := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/9.9.9.9/tcp/40000")}
	other := tcpAddr(t, "9.9.9.9:21337")
	ok, err := b.AddSelf(other, src)
	require.ErrorIs(t, err, ErrNotSelf)
	require.False(t, ok)
	newN, _, _ := b.Counts()
	require.Zero(t, newN)

	// Legacy: the announced IP must be the connection's.
	conn := LegacyAddr(netip.MustParseAddrPort("9.9.9.9:51234"))
	ok, err = b.AddSelf(LegacyAddr(netip.MustParseAddrPort("9.9.9.9:21337")), conn)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = b.AddSelf(LegacyAddr(netip.MustParseAddrPort("8.8.8.8:21337")), conn)
	require.ErrorIs(t, err, ErrNotSelf)
	require.Equal(t, uint64(2), b.Stats().NotSelf)
}

// TestIceBounded: the ice bucket keeps at most MaxIced records and MaxIceBytes, evicting
// the oldest.
func TestIceBounded(t *testing.T) {
	b := newTestBook(t, Config{MaxIced: 50, MaxIceBytes: 1 << 20})
	var ids []peer.ID
	for i := range 200 {
		b.clock.Set(int64(i))
		id := genID(t)
		ids = append(ids, id)
		require.NoError(t, b.Ice(id))
	}
	_, _, iced := b.Counts()
	require.Equal(t, 50, iced)
	require.Equal(t, uint64(150), b.Stats().IceEvicted)
	require.False(t, b.IsIced(ids[149]), "evicted")
	require.True(t, b.IsIced(ids[150]))
	require.Equal(t, ids[150], b.Iced()[0].Addr.ID, "the oldest left is the 151st")

	// Bytes: records with many long addresses hit the byte bound first.
	small := newTestBook(t, Config{MaxIceBytes: 20 << 10})
	var addrs []string
	for i := range MaxAddrsPerPeer {
		addrs = append(addrs, fmt.Sprintf("/ip6/2a01::%x/tcp/%d/p2p/%s/p2p-circuit", i+1, i+1, genID(t)))
	}
	for range 100 {
		a := Addr{ID: genID(t), Addrs: maddrs(t, addrs...)}
		_, err := small.AddTried(a)
		require.NoError(t, err)
		_, err = small.RemoveTried(a.ID, true)
		require.NoError(t, err)
	}
	require.LessOrEqual(t, small.IceBytes(), 20<<10)
	_, _, iced = small.Counts()
	require.Less(t, iced, 100)
	require.Positive(t, iced)
}

// TestEscalation: peers iced for misbehaviour from one IP ice the IP.
func TestEscalation(t *testing.T) {
	b := newTestBook(t, Config{IcePeriodBeforeBootstrap: secs(100)})
	ip := netip.MustParseAddr("9.9.9.9")
	for i := range DefaultEscalateAfter {
		require.False(t, b.IsIcedAddr(ip), "after %d", i)
		require.NoError(t, b.IceAt(Key{ID: genID(t)}, ip))
	}
	require.True(t, b.IsIcedAddr(ip))
	require.False(t, b.IsIcedAddr(netip.MustParseAddr("9.9.9.10")), "IPv4 escalates the /32")
	require.Equal(t, uint64(1), b.Stats().Escalations)
	// Its addresses are not dialled meanwhile.
	src := tcpAddr(t, "8.8.8.8:1")
	_, err := b.AddNew([]Addr{tcpAddr(t, "9.9.9.9:21337")}, &src)
	require.NoError(t, err)
	require.Empty(t, b.RandomForBootstrap(5, nil))

	// It melts like a peer.
	b.clock.Set(101)
	_, err = b.Melt()
	require.NoError(t, err)
	require.False(t, b.IsIcedAddr(ip))
	require.Empty(t, b.IcedNets())

	// IPv6 escalates the /48.
	v6 := newTestBook(t, Config{})
	for i := range DefaultEscalateAfter {
		ip := netip.MustParseAddr(fmt.Sprintf("2a01:1:2:%x::1", i))
		require.NoError(t, v6.IceAt(Key{ID: genID(t)}, ip))
	}
	require.True(t, v6.IsIcedAddr(netip.MustParseAddr("2a01:1:2:ffff::9")))
	require.False(t, v6.IsIcedAddr(netip.MustParseAddr("2a01:1:3::1")))

	// Loopback is exempt unless asked; legacy peers never count.
	lo := newTestBook(t, Config{})
	for i := range 2 * DefaultEscalateAfter {
		require.NoError(t, lo.IceAt(Key{ID: genID(t)}, netip.MustParseAddr("127.0.0.1")))
		require.NoError(t, lo.IceAt(Key{Legacy: netip.AddrPortFrom(netip.MustParseAddr("8.8.8.8"), uint16(1000+i))}, netip.MustParseAddr("8.8.8.8")))
	}
	require.False(t, lo.IsIcedAddr(netip.MustParseAddr("127.0.0.1")))
	require.False(t, lo.IsIcedAddr(netip.MustParseAddr("8.8.8.8")))
	require.True(t, lo.IsIcedKey(Key{Legacy: netip.MustParseAddrPort("8.8.8.8:1000")}), "legacy peers are iced by IP:port")
	require.False(t, lo.IsIcedKey(Key{Legacy: netip.MustParseAddrPort("8.8.8.8:65000")}))
	strict := newTestBook(t, Config{EscalateLoopback: true, EscalateAfter: 2})
	for range 2 {
		require.NoError(t, strict.IceAt(Key{ID: genID(t)}, netip.MustParseAddr("127.0.0.5")))
	}
	require.True(t, strict.IsIcedAddr(netip.MustParseAddr("127.0.0.5")))

	// Bounded: the oldest escalated prefix goes first.
	few := newTestBook(t, Config{EscalateAfter: 1, MaxIcedNets: 3})
	for i := range 5 {
		few.clock.Set(int64(i))
		require.NoError(t, few.IceAt(Key{ID: genID(t)}, netip.AddrFrom4([4]byte{9, 0, 0, byte(i)})))
	}
	require.Len(t, few.IcedNets(), 3)
	require.False(t, few.IsIcedAddr(netip.MustParseAddr("9.0.0.1")))
	require.True(t, few.IsIcedAddr(netip.MustParseAddr("9.0.0.4")))
}

// TestAddedTable: operator-added peers survive any gossip and any failure.
func TestAddedTable(t *testing.T) {
	b := newTestBook(t, Config{MaxAdded: 3})
	mine := tcpAddr(t, "9.9.9.9:21337")
	quic := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/9.9.9.6/udp/21337/quic-v1")}
	legacy := LegacyAddr(netip.MustParseAddrPort("9.9.9.8:21337"))
	dns := Addr{ID: genID(t), Addrs: maddrs(t, "/dns4/seed.example/tcp/21337")}
	n, err := b.AddLocal([]Addr{mine, quic, legacy, dns})
	require.ErrorIs(t, err, ErrNoIPAddr, "as in new, a name cannot be indexed")
	require.Equal(t, 3, n)
	_, err = b.AddLocal([]Addr{tcpAddr(t, "9.9.9.7:1")})
	require.ErrorIs(t, err, ErrAddedFull)

	// Gossip overwrites every new slot it can reach, and fails dials: the table stays.
	for i := range 64 {
		src := tcpAddr(t, fmt.Sprintf("%d.1.0.1:1", 20+i))
		var flood []Addr
		for j := range 200 {
			flood = append(flood, tcpAddr(t, fmt.Sprintf("9.9.%d.%d:%d", j/250, j%250, 1000+i)))
		}
		_, err := b.AddNew(flood, &src)
		require.NoError(t, err)
	}
	b.clock.Set(10)
	for range 20 {
		out, err := b.Failed(mine)
		require.NoError(t, err)
		require.NotEqual(t, OutcomeIced, out)
	}
	require.False(t, b.IsIced(mine.ID))
	added := b.Added()
	require.Len(t, added, 3)
	require.Equal(t, mine.ID, added[2].ID, "the one that failed most recently comes last")
	require.ElementsMatch(t, []Key{mine.Key(), quic.Key(), legacy.Key()}, []Key{added[0].Key(), added[1].Key(), added[2].Key()})

	// Persisted, and cleared by Clear.
	b2, err := Open(b.db, Config{Now: b.clock.Now})
	require.NoError(t, err)
	require.Len(t, b2.Added(), 3)
	require.NoError(t, b2.Clear())
	require.Empty(t, b2.Added())
}

// TestRelayAddresses: a private peer's relay address is bucketed by the relay, shared
// while fresh, and ages out.
func TestRelayAddresses(t *testing.T) {
	b := newTestBook(t, Config{AnnounceTTL: secs(3600)})
	relay := genID(t)
	private := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/8.8.8.8/tcp/4001/p2p/"+relay.String()+"/p2p-circuit")}
	conn := Addr{ID: private.ID, Addrs: maddrs(t, "/ip4/8.8.8.8/tcp/4001")} // its relayed connection
	ok, err := b.AddSelf(private, conn)
	require.NoError(t, err)
	require.True(t, ok)
	ep, err := private.Endpoint()
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddrPort("8.8.8.8:4001"), ep, "bucketed by the relay")
	require.Equal(t, []Addr{private}, b.Shared(), "shared with peers while fresh")

	// A third party's relay address for someone is kept but not shared.
	third := tcpAddr(t, "7.7.7.7:1")
	other := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/8.8.8.8/tcp/4001/p2p/"+relay.String()+"/p2p-circuit")}
	_, err = b.AddNew([]Addr{other}, &third)
	require.NoError(t, err)
	require.Len(t, b.Shared(), 1)

	b.clock.Set(3601)
	require.Empty(t, b.Shared(), "stale")
	_, err = b.Melt()
	require.NoError(t, err)
	newN, _, _ := b.Counts()
	require.Zero(t, newN, "relay addresses not heard of for AnnounceTTL age out")
}

// TestLegacyEntries: IP:port entries use witnet-rust's index functions on their IP:port,
// exactly as a libp2p entry on the same IP:port does, and are iced by IP:port.
func TestLegacyEntries(t *testing.T) {
	b := newTestBook(t, Config{})
	b.setSK(0)
	src := tcpAddr(t, "127.0.0.1:21337")
	leg := LegacyAddr(netip.MustParseAddrPort("192.168.1.1:21337"))
	n, err := b.AddNew([]Addr{leg}, &src)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ep, _ := leg.Endpoint()
	srcEP, _ := src.Endpoint()
	b.mu.Lock()
	r := b.refs[leg.Key()]
	b.mu.Unlock()
	require.Equal(t, []uint16{newIndex(&b.sk, ep, srcEP)}, r.news)
	ok, err := b.AddTried(leg)
	require.NoError(t, err)
	require.True(t, ok)
	b.mu.Lock()
	require.Equal(t, triedIndex(&b.sk, ep), b.refs[leg.Key()].tried)
	b.mu.Unlock()

	require.NoError(t, b.IceAt(leg.Key(), ep.Addr()))
	require.True(t, b.IsIcedKey(leg.Key()))
	require.False(t, b.IsIcedKey(Key{Legacy: netip.MustParseAddrPort("192.168.1.1:21338")}), "never the whole IP")
	got, where, ok := b.LookupKey(leg.Key())
	require.True(t, ok)
	require.Equal(t, BucketIce, where)
	require.Equal(t, leg, got)

	// Reopened: the legacy ice record is back.
	b2, err := Open(openDB(t, filepath.Join(t.TempDir(), "x.db")), Config{})
	require.NoError(t, err)
	require.False(t, b2.IsIcedKey(leg.Key()))
	b3, err := Open(b.db, Config{Now: b.clock.Now})
	require.NoError(t, err)
	require.True(t, b3.IsIcedKey(leg.Key()))
}

func TestAnchors(t *testing.T) {
	b := newTestBook(t, Config{})
	as := []Addr{tcpAddr(t, "1.2.3.4:1"), LegacyAddr(netip.MustParseAddrPort("5.6.7.8:21337"))}
	require.NoError(t, b.SetAnchors(as))
	require.Equal(t, as, b.Anchors())
	b2, err := Open(b.db, Config{})
	require.NoError(t, err)
	require.Equal(t, as, b2.Anchors())
	require.NoError(t, b2.SetAnchors(nil))
	require.Empty(t, b2.Anchors())
}

// TestBoundsInBytes: whatever a peer sends, one stored entry stays under MaxEntryBytes.
func TestBoundsInBytes(t *testing.T) {
	var addrs []ma.Multiaddr
	for i := range MaxAddrsPerPeer + 5 {
		addrs = append(addrs, ma.StringCast(fmt.Sprintf("/ip6/2a01::%x/tcp/%d/p2p/%s/p2p-circuit", i+1, i+1, genID(t))))
	}
	c, err := sanitize(Addr{ID: genID(t), Addrs: addrs}, nil)
	require.NoError(t, err)
	size := len(encodeRecord(record{ts: 1, addr: c.addr, meta: meta{attempts: 9, lastTry: 1, lastSuccess: 1}, ip: netip.MustParseAddr("2a01::1")}))
	require.LessOrEqual(t, size, MaxEntryBytes)
	long := peer.ID(append([]byte{0x00, 0x7f}, make([]byte, 127)...))
	_, err = sanitize(Addr{ID: long, Addrs: addrs[:1]}, nil)
	require.ErrorIs(t, err, ErrInvalidPeerID, "peer IDs over 128 bytes are refused")
}
