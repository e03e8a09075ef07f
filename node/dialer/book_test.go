package dialer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/core/test"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// peerAt returns the address of a new peer at ip, answering with o.
func (h *harness) peerAt(o outcome, ip string) peers.Addr {
	id := test.RandPeerIDFatal(h.t)
	h.mu.Lock()
	h.outcomes[id] = o
	h.mu.Unlock()
	return peers.Addr{ID: id, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/" + ip + "/tcp/21337")}}
}

// addLocal puts peers in the new bucket as configuration does, failing if one is evicted.
func (h *harness) addLocal(as ...peers.Addr) {
	_, err := h.book.AddNew(as, nil)
	require.NoError(h.t, err)
	for _, a := range as {
		_, where, _ := h.book.Lookup(a.ID)
		require.Equal(h.t, peers.BucketNew, where, "%s evicted", a)
	}
}

// addIn puts n new peers of the /16 net ("10.7") in the new bucket, answering with o.
// Peers of one /16 share a bucket, so one may evict another: a peer whose slot is taken
// is replaced by one on another host.
func (h *harness) addIn(o outcome, net string, n int) []peers.Addr {
	var out []peers.Addr
	for host := 1; len(out) < n; host++ {
		require.Less(h.t, host, 250, "no free slot")
		a := h.peerAt(o, fmt.Sprintf("%s.%d.1", net, host))
		_, err := h.book.AddNew([]peers.Addr{a}, nil)
		require.NoError(h.t, err)
		out = slices.DeleteFunc(append(out, a), func(a peers.Addr) bool {
			_, where, _ := h.book.Lookup(a.ID)
			return where != peers.BucketNew
		})
	}
	return out
}

// TestNetgroupBound: peers of the book are dialled at most MaxPerNetgroup per netgroup;
// configured peers are dialled regardless but count.
func TestNetgroupBound(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 6)
		boot := h.bootstrapAddr(connect) // 10.0.x.1, in 10.0/16
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{boot}, MaxPerNetgroup: 1, NetgroupLocal: true, BootstrapPeriod: 10 * time.Second})
		sameAsBoot := h.addIn(connect, "10.0", 1)[0]
		sevens := h.addIn(connect, "10.7", 2)
		a1, a2 := sevens[0], sevens[1]
		other := h.addIn(connect, "10.8", 1)[0]
		return h, []round{
			{name: "one per /16", want: []dialEvent{outbound(idOf(t, boot)), outbound(other.ID), outbound("")},
				check: func(t *testing.T, h *harness) {
					require.Equal(t, 3, h.mgr.NumSessions().OutboundConsolidated, "limit 6, but only three /16s")
					opened := map[peer.ID]bool{}
					for _, s := range h.opened {
						opened[s.ID()] = true
					}
					require.NotEqual(t, opened[a1.ID], opened[a2.ID], "one of the two in 10.7/16")
					require.False(t, opened[sameAsBoot.ID], "the configured peer holds 10.0/16")
				}},
			{name: "nothing more while the groups are full", advance: 10 * time.Second},
		}
	})
}

// TestNetgroupLocalExempt: by default loopback and private peers are not bounded.
func TestNetgroupLocalExempt(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, 3).newDialer(Config{MaxPerNetgroup: 1})
		los := h.addIn(connect, "127.0", 2)
		a, b := los[0], los[1]
		c := h.addIn(connect, "10.7", 1)[0]
		return h, []round{{name: "all three", want: []dialEvent{outbound(a.ID), outbound(b.ID), outbound(c.ID)}}}
	})
}

// TestAnchors: the longest-lived outbound peers that delivered items are saved, and
// dialled first by the next dialer on the same book.
func TestAnchors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 3).newDialer(Config{BootstrapPeriod: time.Minute})
		old := h.peerAt(connect, "10.1.0.1")
		h.addLocal(old)
		h.d.Start()
		synctest.Wait()
		requireDials(t, []dialEvent{outbound(old.ID)}, h.takeDials())
		useful, idle := h.peerAt(connect, "10.2.0.1"), h.peerAt(connect, "10.3.0.1")
		h.addLocal(useful, idle)
		h.clock.Advance(time.Minute)
		synctest.Wait()
		requireDials(t, []dialEvent{outbound(useful.ID), outbound(idle.ID)}, h.takeDials())
		require.NoError(t, h.remote(useful.ID).Send(protocol.NewTransaction(protocol.Magic, inventorytest.Tx(1))))
		synctest.Wait()

		h.clock.Advance(time.Minute) // a round saves the anchors
		synctest.Wait()
		anchors := h.book.Anchors()
		require.Len(t, anchors, 2)
		require.Equal(t, useful.ID, anchors[0].ID, "delivered items")
		require.Equal(t, old.ID, anchors[1].ID, "then the longest-lived")

		// A restart: a new dialer with one outbound slot dials an anchor before the
		// configured peer.
		h.d.Close()
		for _, id := range []peer.ID{old.ID, useful.ID, idle.ID} {
			h.remote(id).Close(nil)
		}
		synctest.Wait()
		boot := h.bootstrapAddr(connect)
		h.mgr.SetLimits(0, 1)
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{boot}})
		h.d.Start()
		synctest.Wait()
		requireDials(t, []dialEvent{outbound(useful.ID)}, h.takeDials())
	})
}

// legacyHarness adds a DialLegacy to a harness: it records the dials and answers with a
// session over a pipe that completes its handshake.
type legacyDials struct {
	mu     sync.Mutex
	dialed []netip.AddrPort
}

func (l *legacyDials) dial(h *harness) LegacyDialFunc {
	return func(_ context.Context, ap netip.AddrPort, t session.Type) (*session.Session, error) {
		l.mu.Lock()
		l.dialed = append(l.dialed, ap)
		l.mu.Unlock()
		near, far := net.Pipe()
		p := session.Peer{Transport: session.TransportTCP, AddrPort: ap, IP: ap.Addr(), Addr: ma.StringCast(fmt.Sprintf("/ip4/%s/tcp/%d", ap.Addr(), ap.Port()))}
		local := session.New(near, p, t, session.Config{Clock: h.clock})
		remote := session.New(far, session.Peer{}, session.Inbound, session.Config{Clock: h.clock})
		remote.Start()
		local.Start()
		h.t.Cleanup(func() { remote.Close(nil); local.Close(nil) })
		return local, nil
	}
}

func (l *legacyDials) take() []netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.dialed
	l.dialed = nil
	return out
}

// TestLegacyRounds: with a DialLegacy, legacy bootstrap rounds keep LegacyOutbound
// witnet-rust sessions, configured peers first, and legacy entries never reach the libp2p
// dial function; without one they are never dialled.
func TestLegacyRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		var l legacyDials
		boot := netip.MustParseAddrPort("10.9.0.1:21337")
		book1 := peers.LegacyAddr(netip.MustParseAddrPort("10.9.0.2:21337"))
		book2 := peers.LegacyAddr(netip.MustParseAddrPort("10.9.0.3:21337"))
		_, err := h.book.AddNew([]peers.Addr{book1, book2}, nil)
		require.NoError(t, err)
		n := h.peerAt(connect, "10.1.0.1")
		h.addLocal(n)
		h.newDialer(Config{DialLegacy: l.dial(h), LegacyBootstrap: []netip.AddrPort{boot}, LegacyOutbound: 2, BootstrapPeriod: time.Minute})
		h.d.Start()
		synctest.Wait()
		requireDials(t, []dialEvent{outbound(n.ID)}, h.takeDials()) // the libp2p side
		got := l.take()
		require.Len(t, got, 2)
		require.Contains(t, got, boot, "the configured witnet-rust peer comes first")
		h.clock.Advance(time.Minute)
		synctest.Wait()
		require.Empty(t, l.take(), "two legacy sessions: nothing to do")
		require.Empty(t, h.takeDials())
	})

	t.Run("off without DialLegacy", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, 2).newDialer(Config{FeelerPeriod: time.Second})
			_, err := h.book.AddNew([]peers.Addr{peers.LegacyAddr(netip.MustParseAddrPort("10.9.0.2:21337"))}, nil)
			require.NoError(t, err)
			h.d.Start()
			h.clock.Advance(time.Second)
			synctest.Wait()
			require.Empty(t, h.takeDials(), "a legacy entry is neither dialled nor felt")
		})
	})
}

// TestFeelerSkipsConnected: a peer we hold a connection to is not tested by a feeler,
// whose session would run over that connection.
func TestFeelerSkipsConnected(t *testing.T) {
	run(t, func(t *testing.T) (*harness, []round) {
		h := newHarness(t, -1)
		connected := h.peerAt(connect, "10.1.0.1")
		h.newDialer(Config{FeelerPeriod: time.Second, Connected: func(id peer.ID) bool { return id == connected.ID }})
		h.addLocal(connected)
		var other peers.Addr
		return h, []round{
			{name: "start"},
			{name: "connected: no feeler", advance: time.Second},
			{name: "another peer", before: func(h *harness) { other = h.peerAt(connect, "10.2.0.1"); h.addLocal(other) },
				advance: time.Second, want: []dialEvent{anyFeeler},
				check: func(t *testing.T, h *harness) {
					_, where, _ := h.book.Lookup(connected.ID)
					require.Equal(t, peers.BucketNew, where)
				}},
		}
	})
}

func TestClassify(t *testing.T) {
	ip := peers.Addr{ID: test.RandPeerIDFatal(t), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/10.0.0.1/tcp/1")}}
	name := peers.Addr{ID: ip.ID, Addrs: []ma.Multiaddr{ma.StringCast("/dns4/seed.invalid/tcp/1")}}
	tests := []struct {
		a    peers.Addr
		err  error
		want string
	}{
		{ip, fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "connection_refused"},
		{ip, fmt.Errorf("failed to negotiate: %w", sec.ErrPeerIDMismatch{}), "wrong_peer_id"},
		{name, fmt.Errorf("failed to dial: %w", swarm.ErrNoGoodAddresses), "dns_unresolved"},
		{ip, fmt.Errorf("failed to dial: %w", swarm.ErrNoGoodAddresses), "no_usable_address"},
		{ip, context.DeadlineExceeded, "timeout"},
		{ip, fmt.Errorf("x: %w", syscall.EHOSTUNREACH), "unreachable"},
		{ip, fmt.Errorf("x: %w", swarm.ErrDialBackoff), ""},
		{ip, errors.New("something else"), "other"},
	}
	for _, tc := range tests {
		got, _ := classify(tc.a, tc.err)
		require.Equal(t, tc.want, got, "%v", tc.err)
	}
}

// TestBootstrapWarnings: a configured peer that cannot be reached is logged at WARN with
// its address and reason, once per reason, not once per round; a node without sessions
// says how to bootstrap every NoPeersHint.
func TestBootstrapWarnings(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "warn", "witnet/dialer") // outside the bubble
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		boot := h.bootstrapAddr(unreachable)
		h.newDialer(Config{Bootstrap: []ma.Multiaddr{boot}, BootstrapPeriod: 10 * time.Second, NoPeersHint: 3 * time.Minute})
		h.d.Start()
		for range 30 { // five minutes of rounds
			h.clock.Advance(10 * time.Second)
			synctest.Wait()
		}
		h.d.Close()
	})
	msg := func(m string) []map[string]any {
		return logs.Find(func(l map[string]any) bool { return l["msg"] == m })
	}
	warned := msg("bootstrap peer unreachable")
	require.Len(t, warned, 1, "once per address and reason, not per round")
	require.Contains(t, warned[0]["addr"], "/tcp/21337/p2p/")
	require.Equal(t, "connection_refused", warned[0]["reason"])
	hints := msg("no peers: this node has no session")
	require.Len(t, hints, 1, "one hint in five minutes at a 3-minute period")
	require.Contains(t, hints[0]["hint"], "--bootstrap /ip4/<IP>/tcp/<PORT>/p2p/<PEER ID>")
}
