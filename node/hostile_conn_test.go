package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/node/hostlimits"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// The connection rows of the hostile-peer suite (RELIABILITY.md): sockets that never
// finish the libp2p upgrade, inbound slots filled with idle sessions, and an iced peer's
// connection. Each row runs a real node on 127.0.0.0/8 and attackers that are real
// sockets or libp2p hosts on other loopback addresses, with the loopback exemption of the
// per-address caps off, and measures what honest newcomers get during the attack.
//
// Run it alone with: go test -race -run TestHostileConnections -v ./node/

// honestRounds is how many honest handshakes a row measures during its attack.
const honestRounds = 40

// honestTry is one honest newcomer's handshake: how long it took until both ends were
// consolidated, or why they were not.
type honestTry struct {
	d   time.Duration
	id  peer.ID          // the newcomer
	s   *session.Session // its outbound session, nil if the dial failed
	err error
}

// honestAttempt has a fresh honest peer on ip dial n, waiting at most timeout for both
// ends to consolidate. The peer's session and host live until the test ends.
func honestAttempt(t *testing.T, n *Node, ip string, timeout time.Duration) honestTry {
	t.Helper()
	h := rawHost(t, ip, nil)
	m := session.NewManager(session.ManagerConfig{})
	svc := session.NewService(h, m, session.Config{Chain: honestChain{}})
	t.Cleanup(func() { _ = svc.Close(); _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	s, err := svc.Dial(ctx, nodeInfo(n), session.Outbound)
	if err != nil {
		return honestTry{d: time.Since(start), id: h.ID(), err: err}
	}
	if !eventually(timeout-time.Since(start), pollInterval, func() bool { return bothConsolidated(n, h.ID(), s) }) {
		return honestTry{d: time.Since(start), id: h.ID(), s: s, err: fmt.Errorf("not consolidated within %v: ours %v (%v)", timeout, s.Status(), s.Err())}
	}
	return honestTry{d: time.Since(start), id: h.ID(), s: s}
}

// honestFigures are the honest handshakes of a row.
type honestFigures struct {
	ok, tried int
	times     []time.Duration
}

func (f *honestFigures) add(r honestTry) {
	f.tried++
	if r.err == nil {
		f.ok++
		f.times = append(f.times, r.d)
	}
}

// p99 returns the 99th percentile of the successful handshakes (the largest of fewer than
// 100).
func (f *honestFigures) p99() time.Duration {
	if len(f.times) == 0 {
		return 0
	}
	s := slices.Clone(f.times)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

func (f *honestFigures) String() string {
	return fmt.Sprintf("%d/%d honest handshakes, p99 %v", f.ok, f.tried, f.p99().Round(time.Millisecond))
}

// idleSockets is an attacker that keeps slots TCP connections open to a node from each of
// its addresses, sending nothing, and opens a new one whenever the node closes one.
type idleSockets struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	refused  int             // closed by the node at accept, before a byte
	lifetime []time.Duration // of the others, until the node closed them
}

// retryRefused is how long a slot of the attacker waits after a socket refused at accept.
const retryRefused = 50 * time.Millisecond

// startIdleSockets starts the attacker; it stops with the test or with halt.
func startIdleSockets(t *testing.T, n *Node, ips []string, slots int) *idleSockets {
	t.Helper()
	_, target, err := manet.DialArgs(n.Host().Addrs()[0])
	require.NoError(t, err)
	a := &idleSockets{stop: make(chan struct{})}
	for _, ip := range ips {
		for range slots {
			a.wg.Add(1)
			go a.hold(ip, target)
		}
	}
	t.Cleanup(a.halt)
	return a
}

// hold keeps one socket slot from ip open until stop.
func (a *idleSockets) hold(ip, target string) {
	defer a.wg.Done()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: time.Second}
	buf := make([]byte, 512)
	for {
		select {
		case <-a.stop:
			return
		default:
		}
		c, err := d.Dial("tcp", target)
		if err != nil {
			select {
			case <-a.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		opened := time.Now()
		done := make(chan struct{})
		go func() {
			select {
			case <-a.stop:
				_ = c.Close()
			case <-done:
			}
		}()
		// A socket the node took into its upgrade gets its multistream header at once
		// (read and ignored: we never answer); a socket refused at accept gets nothing.
		upgrading := false
		for {
			n, err := c.Read(buf)
			upgrading = upgrading || n > 0
			if err != nil {
				break
			}
		}
		close(done)
		_ = c.Close()
		life := time.Since(opened)
		a.mu.Lock()
		select {
		case <-a.stop: // closed by us
		default:
			if upgrading {
				a.lifetime = append(a.lifetime, life)
			} else {
				a.refused++
			}
		}
		a.mu.Unlock()
		if !upgrading {
			// Retried after retryRefused: from another machine an attacker could retry at
			// once, but libp2p's rate limiter (which exempts loopback) would then hold each
			// address to 0.2 connections/s after a burst of 16.
			select {
			case <-a.stop:
				return
			case <-time.After(retryRefused):
			}
		}
	}
}

// halt stops the attacker and waits for it; it is idempotent.
func (a *idleSockets) halt() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	a.wg.Wait()
}

// figures returns the sockets refused at once and the lifetimes of those the node held.
func (a *idleSockets) figures() (refused int, held []time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.refused, slices.Clone(a.lifetime)
}

// sampleMax records the largest value of f until the returned stop is called, which
// returns it.
func sampleMax(f func() int) (stop func() int) {
	var most atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			if v := int64(f()); v > most.Load() {
				most.Store(v)
			}
			select {
			case <-quit:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() int {
		close(quit)
		<-done
		return int(most.Load())
	}
}

// addrs returns count loopback addresses 127.a.b.first, 127.a.b.first+1, ...
func addrs(prefix string, first, count int) []string {
	out := make([]string, count)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%d", prefix, first+i)
	}
	return out
}

func TestHostileConnections(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	logs := captureHostileLogs(t)

	// Issue 11 row 5: sockets that never finish the libp2p upgrade.
	for _, row := range []struct {
		name  string
		ips   []string
		slots int
		held  int // the most the caps let the attacker hold
	}{
		{"17 32 idle sockets from one address", addrs("127.0.0", 2, 1), 32, 4},
		{"18 idle sockets from 16 addresses of one /24, 8 each", addrs("127.0.0", 2, 16), 8, 16},
	} {
		t.Run(row.name, func(t *testing.T) {
			n := hostileNode(t, WithPerIPLoopback(false))
			rm := n.Host().Network().ResourceManager().(*hostlimits.ResourceManager)
			stopSampling := sampleMax(rm.InboundHandshakes)
			atk := startIdleSockets(t, n, row.ips, row.slots)
			waitFor(t, 5*time.Second, func() bool { return rm.InboundHandshakes() >= row.held }, nil)

			var f honestFigures
			for i := range honestRounds {
				f.add(honestAttempt(t, n, fmt.Sprintf("127.0.1.%d", i+1), honestDeadline))
			}
			// Keep attacking until the node closed held sockets at its upgrade timeout.
			waitFor(t, hostlimits.DefaultUpgradeTimeout+5*time.Second, func() bool {
				_, held := atk.figures()
				return len(held) >= row.held
			}, nil)
			atk.halt()
			most := stopSampling()
			refused, held := atk.figures()
			t.Logf("attack: %d sockets at a time from %d addresses; held at most %d in handshake (1 may be an honest peer's), %d refused at accept, %d closed by the upgrade timeout after %v..%v; %v",
				row.slots*len(row.ips), len(row.ips), most, refused, len(held), slices.Min(held).Round(time.Millisecond), slices.Max(held).Round(time.Millisecond), &f)
			require.Equal(t, honestRounds, f.ok, "every honest handshake completes: %v", &f)
			require.Less(t, f.p99(), honestDeadline)
			require.LessOrEqual(t, most, row.held+1, "the caps bound the attacker's handshakes")
			require.Positive(t, refused)
			require.Less(t, slices.Max(held), hostlimits.DefaultUpgradeTimeout+time.Second, "an idle socket is closed at the upgrade timeout")
			require.Eventually(t, func() bool {
				return len(logs.Find(func(l map[string]any) bool {
					return l["msg"] == "connection refused by a limit" && l["limit"] != nil &&
						slices.Contains([]string{
							fmt.Sprintf("inbound connections per IP address (IPv6 /64) still in handshake: %d", 4),
							fmt.Sprintf("inbound connections per /24 (IPv6 /48) still in handshake: %d", 16),
						}, l["limit"].(string))
				})) > 0
			}, 5*time.Second, time.Millisecond, "refusals are logged with the limit")
			waitFor(t, 5*time.Second, func() bool { return rm.InboundHandshakes() == 0 }, nil)
		})
	}

	// Issue 11 row 6: the inbound slots filled with idle consolidated sessions.
	t.Run("19 inbound slots filled with idle consolidated sessions", func(t *testing.T) {
		const slots, newcomers, relays = 24, 24, 4
		got := map[bool]int{}
		for _, eviction := range []bool{false, true} {
			n := hostileNode(t, WithLimits(slots, 4), WithSybilRule(false, 18), WithInboundEviction(eviction))
			var attackers []peer.ID
			for i := range slots {
				h := rawHost(t, fmt.Sprintf("127.0.0.%d", 2+i), nil) // all in 127.0/16
				handshakeRaw(t, openRaw(t, h, n), n)
				attackers = append(attackers, h.ID())
			}
			require.Equal(t, slots, n.Manager().NumSessions().InboundConsolidated)

			var f honestFigures
			var relayed []peer.ID
			for i := range newcomers {
				r := honestAttempt(t, n, fmt.Sprintf("127.%d.0.1", 1+i), honestDeadline) // one /16 each
				f.add(r)
				if r.err != nil || len(relayed) == relays {
					continue
				}
				// The first newcomers relay a transaction the node has not seen.
				require.NoError(t, r.s.SendInventoryItem(protocol.NewTransaction(protocol.Magic, inventorytest.Tx(uint64(1000+i)))))
				id := r.id
				waitFor(t, 5*time.Second, func() bool {
					in, ok := n.Manager().Lookup(id, session.Inbound)
					return ok && !in.LastNewItem().IsZero()
				}, nil)
				relayed = append(relayed, id)
			}
			got[eviction] = f.ok
			counts := n.Manager().NumSessions()
			left := 0
			for _, id := range attackers {
				if _, ok := n.Manager().Lookup(id, session.Inbound); ok {
					left++
				}
			}
			t.Logf("eviction %v: %d of %d newcomers got in (p99 %v); %d evictions; at the end %d inbound sessions, %d of them attackers",
				eviction, f.ok, newcomers, f.p99().Round(time.Millisecond), n.Manager().Evictions(), counts.Inbound(), left)
			if !eviction {
				require.Zero(t, f.ok, "witnet-rust's rule: a full node refuses newcomers")
				continue
			}
			require.Equal(t, newcomers, f.ok, "every newcomer gets a slot")
			require.Less(t, f.p99(), honestDeadline)
			for _, id := range relayed {
				_, ok := n.Manager().Lookup(id, session.Inbound)
				require.True(t, ok, "a newcomer that relayed a new item was evicted")
			}
			// Attackers keep only what the protections leave them: one peer for their
			// network group, the lowest round trips (theirs are as low as anyone's on
			// loopback) and the older half of the rest.
			require.Less(t, left, slots, "idle attackers were evicted")
			// Each victim ended with ReasonEvicted, logged, and was not iced.
			evicted := 0
			for _, id := range attackers {
				if _, ok := n.Manager().Lookup(id, session.Inbound); ok {
					continue
				}
				logs.requireEnded(t, id, session.ReasonEvicted, "made room for")
				require.False(t, n.Book().IsIced(id), "an evicted peer is not iced")
				evicted++
			}
			require.Positive(t, evicted)
		}
		t.Logf("newcomers that got in: %d/%d without eviction, %d/%d with it", got[false], newcomers, got[true], newcomers)
	})

	// An iced peer's connection is closed.
	oversized := func(s *sessiontest.RawStream) {
		_, _ = s.Stream().Write(binary.BigEndian.AppendUint32(nil, codec.DefaultMaxFrameSize+1))
	}
	for _, row := range []struct {
		name   string
		reason session.Reason
		send   func(s *sessiontest.RawStream)
	}{
		{"20a wrong magic: the iced peer's connection is closed", session.ReasonBadMagic, func(s *sessiontest.RawStream) {
			v := version(time.Now())
			v.Magic = 1234
			_ = s.WriteMsg(v)
		}},
		{"20b garbage: the iced peer's connection is closed", session.ReasonDecode, func(s *sessiontest.RawStream) {
			_ = s.WriteFrame(noiseThatDoesNotDecode(t, 256))
		}},
		{"20c oversized frame: the iced peer's connection is closed", session.ReasonDecode, oversized},
	} {
		t.Run(row.name, func(t *testing.T) {
			n := hostileNode(t)
			h := rawHost(t, "127.0.0.2", nil)
			s := openRaw(t, h, n)
			handshakeRaw(t, s, n)
			start := time.Now()
			row.send(s)
			logs.requireEnded(t, h.ID(), row.reason, "")
			require.True(t, n.Book().IsIced(h.ID()))
			waitFor(t, 5*time.Second, func() bool {
				return len(n.Host().Network().ConnsToPeer(h.ID())) == 0 && len(h.Network().ConnsToPeer(n.ID())) == 0
			}, func() string {
				return fmt.Sprintf("connections: node %d, attacker %d", len(n.Host().Network().ConnsToPeer(h.ID())), len(h.Network().ConnsToPeer(n.ID())))
			})
			closed := time.Since(start)
			require.Eventually(t, func() bool {
				return len(logs.Find(func(l map[string]any) bool {
					return l["msg"] == "iced peer disconnected" && l["peer"] == h.ID().String()
				})) > 0
			}, 5*time.Second, time.Millisecond)
			// The gater refuses it from now on.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err := h.Connect(ctx, nodeInfo(n))
			if err == nil {
				waitFor(t, 5*time.Second, func() bool { return len(h.Network().ConnsToPeer(n.ID())) == 0 }, nil)
			}
			var f honestFigures
			f.add(honestAttempt(t, n, "127.0.1.1", honestDeadline))
			require.Equal(t, 1, f.ok, "honest handshake: %v", &f)
			t.Logf("attacker's connections at 0 on both ends %v after its bad input; reconnect: %v; %v", closed.Round(time.Millisecond), errOrNil(err), &f)
		})
	}
}

// errOrNil describes a reconnection result.
func errOrNil(err error) string {
	if err == nil {
		return "connected, then closed by the node"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return "refused"
}
