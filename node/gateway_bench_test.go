package node

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/legacy"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// BenchmarkGatewayLatency measures the latency a gateway adds to an item crossing from
// one transport to the other, on loopback, in one process. One real node (the gateway,
// with a libp2p host and a plain-TCP listener) relays transactions between four peers
// that dial it: two libp2p peers and two plain-TCP peers, each a bare session with an
// inventory that only records arrivals. A peer pushes a transaction as witnet-rust does;
// the time until the receiving peer's session hands it to its inventory is one sample.
// Items go one at a time (latency, not throughput). Routes, each two hops through the
// gateway:
//
//   - tcp->libp2p and libp2p->tcp: the gateway's crossings.
//   - libp2p->libp2p and tcp->tcp: the baselines, the same node relaying within one
//     transport.
//
// The first hop is a push in every route; the second is what the gateway does for the
// receiver: a libp2p peer is announced the item and requests it (a round trip more), a
// TCP peer gets it pushed (PROTOCOL.md 7.5). So, hop for hop, the two crossings together
// are the two baselines together, and what a crossing adds beyond its two hops' own cost
// is estimated as its p50 minus the mean of the baselines' p50s ("added"). Each round
// runs every route in an order rotated round by round; medians over rounds are reported.
// Results and the command are in BENCHMARKS.md ("gateway latency"). Run with -benchtime
// 1x; WITNET_P2P_BENCH_ROUNDS sets the rounds (default 7), WITNET_P2P_BENCH_ITEMS the
// items per route and round (default 300).
func BenchmarkGatewayLatency(b *testing.B) {
	rounds, items := envInt("WITNET_P2P_BENCH_ROUNDS", 7, 5), envInt("WITNET_P2P_BENCH_ITEMS", 300, 20)
	gw, err := New(context.Background(), WithDataDir(b.TempDir()), WithListenAddrs(loopback), WithLegacyListen(legacyLoopback),
		WithRPCAddr(""), WithLibp2pMetrics(false), WithPeriods(time.Hour, time.Hour, 0), WithLimits(16, 1))
	require.NoError(b, err)
	b.Cleanup(func() { _ = gw.Close() })
	peers := map[string]*benchPeer{
		"libp2p-a": newLibp2pBenchPeer(b, gw), "libp2p-b": newLibp2pBenchPeer(b, gw),
		"tcp-a": newTCPBenchPeer(b, gw), "tcp-b": newTCPBenchPeer(b, gw),
	}
	waitFor(b, 10*time.Second, func() bool {
		for _, p := range peers {
			if p.s.Status() != session.Consolidated {
				return false
			}
		}
		return gw.Manager().NumSessions().InboundConsolidated == len(peers)
	}, nil)
	routes := []struct{ name, from, to string }{
		{"tcp->libp2p", "tcp-a", "libp2p-b"},
		{"libp2p->tcp", "libp2p-a", "tcp-b"},
		{"libp2p->libp2p", "libp2p-a", "libp2p-b"},
		{"tcp->tcp", "tcp-a", "tcp-b"},
	}
	var seq uint64 = 1 << 32
	p50s, p99s := map[string][]float64{}, map[string][]float64{}
	added := map[string][]float64{}
	for range b.N {
		for r := range rounds {
			got := map[string]time.Duration{}
			for i := range routes {
				rt := routes[(r+i)%len(routes)]
				runtime.GC()
				lat := make([]time.Duration, items)
				for j := range lat {
					seq++
					lat[j] = peers[rt.from].relay(b, peers[rt.to], seq)
				}
				slices.Sort(lat)
				p50, p99 := quantile(lat, 0.50), quantile(lat, 0.99)
				got[rt.name] = p50
				p50s[rt.name] = append(p50s[rt.name], ms(p50))
				p99s[rt.name] = append(p99s[rt.name], ms(p99))
			}
			base := (ms(got["libp2p->libp2p"]) + ms(got["tcp->tcp"])) / 2
			for _, name := range []string{"tcp->libp2p", "libp2p->tcp"} {
				added[name] = append(added[name], ms(got[name])-base)
			}
		}
	}
	for _, rt := range routes {
		b.ReportMetric(medianOf(p50s[rt.name]), rt.name+"-p50-ms")
		b.ReportMetric(medianOf(p99s[rt.name]), rt.name+"-p99-ms")
		b.Logf("%-15s p50 by round %s ms, median %.3f; p99 median %.3f ms", rt.name, fmtMs(p50s[rt.name]), medianOf(p50s[rt.name]), medianOf(p99s[rt.name]))
	}
	for _, name := range []string{"tcp->libp2p", "libp2p->tcp"} {
		b.ReportMetric(medianOf(added[name]), name+"-added-p50-ms")
		b.Logf("%-15s added beyond its hops (p50 minus the baselines' mean p50) by round %s ms, median %.3f", name, fmtMs(added[name]), medianOf(added[name]))
	}
	require.Zero(b, gw.inv.Stats().RelayDropped)
}

func envInt(name string, def, least int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= least {
		return v
	}
	return def
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func medianOf(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

func fmtMs(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.3f", x)
	}
	return strings.Join(parts, " ")
}

// benchPeer is a peer of the gateway: a bare session whose inventory records arrivals.
type benchPeer struct {
	s    *session.Session
	sink *arrivalSink
}

// relay pushes transaction n from p and returns the time until to's session received it.
func (p *benchPeer) relay(b *testing.B, to *benchPeer, n uint64) time.Duration {
	tx := inventorytest.Tx(n)
	h, err := protocol.TransactionHash(tx)
	require.NoError(b, err)
	arrived := to.sink.expect(h)
	start := time.Now()
	require.NoError(b, p.s.SendInventoryItem(protocol.NewTransaction(protocol.Magic, tx)))
	select {
	case at := <-arrived:
		return at.Sub(start)
	case <-time.After(10 * time.Second):
		b.Fatalf("transaction %d not relayed to %v within 10 s", n, to.s.Peer())
		return 0
	}
}

// arrivalSink is a session.Inventory that holds nothing, requests every announced entry
// (as a witnet-p2p node does, session.AnnouncedBy) and reports when the item it waits for
// arrives.
type arrivalSink struct {
	mu   sync.Mutex
	want protocol.Hash
	ch   chan time.Time
}

func newArrivalSink() *arrivalSink { return &arrivalSink{ch: make(chan time.Time, 1)} }

// expect sets the hash to wait for and returns the channel its arrival time comes on.
func (s *arrivalSink) expect(h protocol.Hash) <-chan time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.want = h
	select {
	case <-s.ch: // a late duplicate of the last one
	default:
	}
	return s.ch
}

func (s *arrivalSink) Missing(e []*pb.InventoryEntry) []*pb.InventoryEntry { return e }
func (s *arrivalSink) MissingFrom(_ *session.Session, e []*pb.InventoryEntry, _ int) ([]*pb.InventoryEntry, session.Offence) {
	return e, session.OffenceNone
}
func (s *arrivalSink) Item(*pb.InventoryEntry) (*pb.Message_Command, bool) { return nil, false }
func (s *arrivalSink) Received(_ *session.Session, m *pb.Message) session.Offence {
	now := time.Now()
	tx := m.GetKind().GetTransaction()
	if tx == nil {
		return session.OffenceNone
	}
	h, err := protocol.TransactionHash(tx)
	s.mu.Lock()
	hit := err == nil && h == s.want
	s.mu.Unlock()
	if hit {
		select {
		case s.ch <- now:
		default:
		}
	}
	return session.OffenceNone
}

// benchSessionConfig is a bench peer's session configuration: no budgets (the gateway's
// own apply), an honest chain.
func benchSessionConfig(sink *arrivalSink) session.Config {
	return session.Config{Chain: honestChain{}, Inventory: sink, Budgets: session.Budgets{MessageRate: -1, ByteRate: -1}}
}

func newLibp2pBenchPeer(b *testing.B, gw *Node) *benchPeer {
	h, err := newRawHost("127.0.0.1", nil)
	require.NoError(b, err)
	sink := newArrivalSink()
	m := session.NewManager(session.ManagerConfig{})
	svc := session.NewService(h, m, benchSessionConfig(sink))
	b.Cleanup(func() { closeBenchLibp2p(svc, m, h) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := svc.Dial(ctx, nodeInfo(gw), session.Outbound)
	require.NoError(b, err)
	return &benchPeer{s: s, sink: sink}
}

func closeBenchLibp2p(svc *session.Service, m *session.Manager, h host.Host) {
	_ = svc.Close()
	_ = m.Close()
	_ = h.Close()
}

func newTCPBenchPeer(b *testing.B, gw *Node) *benchPeer {
	sink := newArrivalSink()
	m := session.NewManager(session.ManagerConfig{})
	tr, err := legacy.New(legacy.Config{Manager: m, Session: benchSessionConfig(sink)})
	require.NoError(b, err)
	b.Cleanup(func() { _ = tr.Close(); _ = m.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := tr.Dial(ctx, addrPort(gw.LegacyAddr()), session.Outbound)
	require.NoError(b, err)
	return &benchPeer{s: s, sink: sink}
}
