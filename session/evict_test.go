package session

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func TestNetgroupOf(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":        "203.0.0.0/16",
		"::ffff:203.0.113.7": "203.0.0.0/16",
		"127.3.2.1":          "127.3.0.0/16",
		"2001:db8:1:2::1":    "2001:db8::/32",
	} {
		require.Equal(t, want, netgroupOf(netip.MustParseAddr(ip)).String(), ip)
	}
	require.False(t, netgroupOf(netip.Addr{}).IsValid())
}

// TestHandshakeRTT: the round trip runs from our Version to the message that completed
// the handshake; a message read before our Version was sent gives none.
func TestHandshakeRTT(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := idleSession(test.RandPeerIDFatal(t), Inbound, "10.0.0.1")
	s.handshakeDone(t0)
	require.Zero(t, s.HandshakeRTT(), "no Version sent")
	s.usage.versionSent = t0
	s.handshakeDone(t0) // pipelined behind the peer's Version
	require.Zero(t, s.HandshakeRTT())
	s.handshakeDone(t0.Add(42 * time.Millisecond))
	require.Equal(t, 42*time.Millisecond, s.HandshakeRTT())

	clock := NewFakeClock(t0)
	s = New(nopConn{}, Peer{ID: test.RandPeerIDFatal(t)}, Inbound, Config{Clock: clock})
	require.True(t, s.LastNewItem().IsZero())
	clock.Advance(time.Minute)
	s.NewItemReceived()
	require.True(t, s.LastNewItem().Equal(t0.Add(time.Minute)), "%v", s.LastNewItem())
}

// candidate builds an eviction candidate registered at since, in the group of ip.
func candidate(t *testing.T, ip string, since time.Time, keyed uint64, rtt time.Duration, lastNew time.Time) evictCandidate {
	s := idleSession(test.RandPeerIDFatal(t), Inbound, ip)
	c := evictCandidate{e: &entry{s: s, since: since}, group: netgroupOf(netip.MustParseAddr(ip)), keyed: keyed, rtt: rtt}
	if !lastNew.IsZero() {
		c.lastNew = lastNew.UnixNano()
	}
	return c
}

// TestSelectVictim walks Bitcoin Core's protections one by one on candidates built by
// hand.
func TestSelectVictim(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

	t.Run("youngest of the largest group", func(t *testing.T) {
		var cands []evictCandidate
		// 16 peers of 10.1/16 registered first, then 8 of eight other groups; no RTT, no relay.
		for i := range 16 {
			cands = append(cands, candidate(t, fmt.Sprintf("10.1.0.%d", i+1), at(i), 1, 0, time.Time{}))
		}
		for i := range 8 {
			cands = append(cands, candidate(t, fmt.Sprintf("10.%d.0.1", 10+i), at(100+i), uint64(100+i), 0, time.Time{}))
		}
		want := cands[15].e // the youngest of 10.1/16, though the others are younger
		require.Same(t, want, selectVictim(cands))
		// Deterministic, whatever the order given.
		for i := range cands {
			j := (i * 7) % len(cands)
			cands[i], cands[j] = cands[j], cands[i]
		}
		require.Same(t, want, selectVictim(cands))
	})

	t.Run("network groups with the highest keyed hash keep one peer each", func(t *testing.T) {
		var cands []evictCandidate
		// Five groups of 3 peers, oldest first; group g has key g.
		for i := range 3 {
			for g := range 5 {
				cands = append(cands, candidate(t, fmt.Sprintf("10.%d.0.%d", g, i+1), at(i*10+g), uint64(g), 0, time.Time{}))
			}
		}
		rest := protectNetgroups(cands)
		require.Len(t, rest, len(cands)-evictProtectNetgroups)
		gone := map[string]bool{}
		for _, c := range cands {
			gone[c.e.s.Peer().IP.String()] = true
		}
		for _, c := range rest {
			delete(gone, c.e.s.Peer().IP.String())
		}
		require.Equal(t, map[string]bool{"10.1.0.1": true, "10.2.0.1": true, "10.3.0.1": true, "10.4.0.1": true}, gone,
			"the oldest peer of the four groups with the highest keys")
		for i := 1; i < len(rest); i++ {
			require.LessOrEqual(t, olderFirst(rest[i-1], rest[i]), 0, "order kept")
		}
	})

	t.Run("lowest round trips are kept", func(t *testing.T) {
		var cands []evictCandidate
		// 20 peers in one group; the 8 youngest have the lowest RTTs.
		for i := range 20 {
			rtt := time.Second
			if i >= 12 {
				rtt = time.Duration(i) * time.Millisecond
			}
			cands = append(cands, candidate(t, fmt.Sprintf("10.1.0.%d", i+1), at(i), 1, rtt, time.Time{}))
		}
		v := selectVictim(cands)
		// Protected: one by group (the oldest), the 8 youngest by RTT, then the older half
		// of the 11 left (5); the youngest of the remaining 6 is peer 11.
		require.Equal(t, "10.1.0.12", v.s.Peer().IP.String())
	})

	t.Run("recent relays are kept", func(t *testing.T) {
		var cands []evictCandidate
		for i := range 20 {
			var last time.Time
			if i >= 15 { // the five youngest relayed; the four most recent are kept
				last = at(1000 + i)
			}
			cands = append(cands, candidate(t, fmt.Sprintf("10.1.0.%d", i+1), at(i), 1, 0, last))
		}
		v := selectVictim(cands)
		// Protected: peer 1 (group), peers 17-20 (relay), the older half of peers 2-16
		// (2-8); the youngest of 9-16 goes.
		require.Equal(t, "10.1.0.16", v.s.Peer().IP.String())
		// Evicting it and asking again: peer 16 was the one that relayed least recently.
		rest := cands[:0:0]
		for _, c := range cands {
			if c.e != v {
				rest = append(rest, c)
			}
		}
		require.Equal(t, "10.1.0.15", selectVictim(rest).s.Peer().IP.String())
	})

	t.Run("everyone protected", func(t *testing.T) {
		var cands []evictCandidate
		for i := range 4 {
			cands = append(cands, candidate(t, fmt.Sprintf("10.%d.0.1", i), at(i), uint64(i), 0, time.Time{}))
		}
		require.Nil(t, selectVictim(cands), "four groups, four protected")
		require.Nil(t, selectVictim(nil))
	})
}

// evictionManager returns a manager with limit inbound slots, a fake clock and a fixed
// eviction key.
func evictionManager(limit int, book AddressBook) (*Manager, *FakeClock) {
	clock := NewFakeClock(time.Unix(1_700_000_000, 0))
	return NewManager(ManagerConfig{InboundLimit: limit, Clock: clock, EvictionKey: 7, AddressBook: book}), clock
}

// TestRegisterEvicts: with every inbound slot taken, a newcomer evicts the youngest
// session of the largest network group, which ends with ReasonEvicted (not iced); the
// newcomer is not refused. A newcomer refused for another reason evicts nobody, and
// NoEviction refuses as witnet-rust does.
func TestRegisterEvicts(t *testing.T) {
	const limit = 24
	book := &mgrBook{}
	m, clock := evictionManager(limit, book)
	var attackers []*Session
	for i := range limit {
		s := idleSession(test.RandPeerIDFatal(t), Inbound, fmt.Sprintf("10.1.%d.%d", i/200, i%200+1))
		require.NoError(t, m.Register(s))
		require.NoError(t, m.Consolidate(s))
		attackers = append(attackers, s)
		clock.Advance(time.Second)
	}
	newcomer := idleSession(test.RandPeerIDFatal(t), Inbound, "10.2.0.1")
	require.True(t, m.Gater().InterceptAccept(acceptAddrs{remote: ma.StringCast("/ip4/10.2.0.1/tcp/4000")}), "the gater lets a newcomer through when a slot can be freed")
	require.NoError(t, m.Register(newcomer))
	victim := attackers[limit-1]
	<-victim.Done()
	require.Equal(t, ReasonEvicted, ReasonOf(victim.Err()), "%v", victim.Err())
	var ee *EvictedError
	require.ErrorAs(t, victim.Err(), &ee)
	require.Equal(t, newcomer.Key(), ee.By)
	require.False(t, ReasonEvicted.Ices(Inbound))
	iced, _, _ := book.snapshot()
	require.Empty(t, iced)
	require.Equal(t, int64(1), m.Evictions())
	require.Equal(t, SessionCounts{InboundConsolidated: limit - 1, InboundUnconsolidated: 1}, m.NumSessions())
	_, ok := m.Lookup(victim.ID(), Inbound)
	require.False(t, ok)

	// A second session of a registered peer evicts nobody.
	dup := idleSession(newcomer.ID(), Inbound, "10.2.0.1")
	require.ErrorIs(t, m.Register(dup), ErrAddressAlreadyRegistered)
	require.Equal(t, int64(1), m.Evictions())

	// Newcomers keep getting in, each evicting an attacker (the largest group), never one
	// of the earlier newcomers.
	newcomers := []*Session{newcomer}
	for i := range 8 {
		clock.Advance(time.Second)
		s := idleSession(test.RandPeerIDFatal(t), Inbound, fmt.Sprintf("10.%d.0.1", 10+i))
		require.NoError(t, m.Register(s))
		require.NoError(t, m.Consolidate(s))
		newcomers = append(newcomers, s)
	}
	for _, s := range newcomers {
		_, ok := m.Lookup(s.ID(), Inbound)
		require.True(t, ok, "newcomer %s evicted", s.Peer().IP)
	}
	require.Equal(t, int64(len(newcomers)), m.Evictions())

	// Off: the newcomer is refused.
	off := NewManager(ManagerConfig{InboundLimit: 1, NoEviction: true})
	require.NoError(t, off.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.1.0.1")))
	require.ErrorIs(t, off.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.2.0.1")), ErrMaxPeersReached)
	require.False(t, off.Gater().InterceptAccept(acceptAddrs{remote: ma.StringCast("/ip4/10.3.0.1/tcp/4000")}))
}

// TestEvictionSpareRelaysAndSybil: peers that recently relayed a new item survive a wave
// of newcomers twice the slots; a newcomer refused by the sybil rule evicts nobody.
func TestEvictionSpareRelaysAndSybil(t *testing.T) {
	const limit = 24
	m, clock := evictionManager(limit, nil)
	var relays []*Session
	for i := range limit {
		s := idleSession(test.RandPeerIDFatal(t), Inbound, fmt.Sprintf("10.1.0.%d", i+1))
		require.NoError(t, m.Register(s))
		require.NoError(t, m.Consolidate(s))
		if i >= limit-evictProtectRelay { // the youngest: first in line without protection
			s.usage.lastNewItem.Store(clock.Now().UnixNano())
			relays = append(relays, s)
		}
		clock.Advance(time.Second)
	}
	for i := range 2 * limit {
		clock.Advance(time.Second)
		require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, fmt.Sprintf("10.1.1.%d", i+1))))
	}
	for _, s := range relays {
		_, ok := m.Lookup(s.ID(), Inbound)
		require.True(t, ok, "a peer that relayed a new item was evicted")
	}
	require.Equal(t, int64(2*limit), m.Evictions())

	// Sybil: a newcomer whose range holds a session is refused without evicting anyone.
	sm := NewManager(ManagerConfig{InboundLimit: 2, RejectSybilInbounds: true, EvictionKey: 7})
	require.NoError(t, sm.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.1.0.1")))
	require.NoError(t, sm.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.1.64.1")))
	err := sm.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "10.1.0.2"))
	require.ErrorIs(t, err, ErrSameRange, "a victim exists, but the newcomer is refused first")
	require.Zero(t, sm.Evictions())
}

// TestEvictionManyRounds: under a long churn of newcomers from the largest network group,
// every victim comes from that group, never from the six others, and with a
// fixed key the victims are the same run after run.
func TestEvictionManyRounds(t *testing.T) {
	run := func() []string {
		m, clock := evictionManager(32, nil)
		registered := map[peer.ID]*Session{}
		add := func(name, ip string) error {
			s := idleSession(peer.ID(name), Inbound, ip) // deterministic IDs
			if err := m.Register(s); err != nil {
				return err
			}
			registered[s.ID()] = s
			clock.Advance(time.Second)
			return nil
		}
		for i := range 32 { // 8 peers in 10.1/16, 4 in each of six other groups
			ip := fmt.Sprintf("10.%d.0.%d", 100+i%8, i+1)
			if i%4 == 0 {
				ip = fmt.Sprintf("10.1.0.%d", i+1)
			}
			require.NoError(t, add(fmt.Sprint("p", i), ip))
		}
		var victims []string
		for i := range 64 {
			if add(fmt.Sprint("n", i), fmt.Sprintf("10.1.1.%d", i+1)) != nil {
				break
			}
			for id, s := range registered {
				if _, ok := m.Lookup(id, Inbound); !ok {
					require.Equal(t, "10.1.0.0/16", netgroupOf(s.Peer().IP).String(), "victim outside the largest group")
					victims = append(victims, string(id))
					delete(registered, id)
				}
			}
		}
		require.NotEmpty(t, victims)
		return victims
	}
	first := run()
	require.Equal(t, first, run())
	t.Logf("%d evictions, all from 10.1/16", len(first))
}
