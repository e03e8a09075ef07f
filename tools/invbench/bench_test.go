package main

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRegularGraph(t *testing.T) {
	for _, tc := range []struct{ n, d int }{{30, 8}, {8, 3}, {12, 4}, {6, 5}, {4, 2}} {
		edges, err := regularGraph(tc.n, tc.d, rand.New(rand.NewPCG(1, 2)))
		require.NoError(t, err)
		require.Len(t, edges, tc.n*tc.d/2)
		deg := make([]int, tc.n)
		seen := map[edge]bool{}
		for _, e := range edges {
			require.Less(t, e.a, e.b, "no self-loop, normalised")
			require.False(t, seen[e], "no multi-edge")
			seen[e] = true
			deg[e.a]++
			deg[e.b]++
		}
		for i, d := range deg {
			require.Equal(t, tc.d, d, "degree of %d", i)
		}
		require.True(t, connected(tc.n, edges))
		again, err := regularGraph(tc.n, tc.d, rand.New(rand.NewPCG(1, 2)))
		require.NoError(t, err)
		require.Equal(t, edges, again, "same seed, same graph")
	}
	_, err := regularGraph(5, 3, rand.New(rand.NewPCG(1, 2)))
	require.Error(t, err)
}

func TestPercentile(t *testing.T) {
	r := result{latency: []time.Duration{4 * time.Millisecond, 1 * time.Millisecond, 3 * time.Millisecond, -1}}
	require.Equal(t, 1.0, r.percentile(0))
	require.Equal(t, 3.0, r.percentile(0.5))
	require.Equal(t, 4.0, r.percentile(0.75))
	require.True(t, math.IsInf(r.percentile(1), 1), "an undelivered item is infinitely late")
}

func TestStat(t *testing.T) {
	s := statOf([]float64{3, 1, 2})
	require.Equal(t, stat{median: 2, min: 1, max: 3, n: 3}, s)
	require.Equal(t, "2.0 (1.0–3.0)", s.format("%.1f"))
	require.Equal(t, 2.5, statOf([]float64{4, 1, 2, 3}).median)
	require.Equal(t, "∞ (1.0–∞)", statOf([]float64{1, math.Inf(1), math.Inf(1)}).format("%.1f"), "undelivered items make an infinite p99")
	require.Equal(t, "–", statOf(nil).format("%.1f"))
}

func TestProcParsers(t *testing.T) {
	l, err := parseLoadAverage([]byte("1.25 0.80 0.50 2/345 6789\n"))
	require.NoError(t, err)
	require.Equal(t, 1.25, l)

	busy, err := parseBusyTicks([]byte("cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n"))
	require.NoError(t, err)
	require.Equal(t, int64(100+5+50+3+2+1), busy, "idle and iowait are not busy")
	_, err = parseBusyTicks([]byte("intr 1 2 3\n"))
	require.Error(t, err)

	self, err := parseSelfTicks([]byte("4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 4 0 0 20 0 9 0 123 456 78\n"))
	require.NoError(t, err)
	require.Equal(t, int64(17+4), self)
	_, err = parseSelfTicks([]byte("4242 (x) S 1"))
	require.Error(t, err)

	a, b := sampleMachine(), sampleMachine()
	require.True(t, a.ok, "this machine's /proc is readable")
	require.GreaterOrEqual(t, b.cpu, a.cpu)
}

// TestSystemsDeliver runs each system on a 4-node ring with 10 items, paced and in a
// burst, and checks that every node gets every item, over real libp2p hosts.
func TestSystemsDeliver(t *testing.T) {
	if testing.Short() {
		t.Skip("starts libp2p hosts")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	edges, err := regularGraph(4, 2, rng)
	require.NoError(t, err)
	items, origins, err := makeItems(10, 200, 4, rng)
	require.NoError(t, err)
	var results []result
	for _, burst := range []bool{false, true} {
		s := scenario{nodes: 4, edges: edges, origins: origins, items: items, burst: burst, rate: 100, timeout: 20 * time.Second}
		for _, sys := range systems {
			r, err := runOnce(sys, s, "")
			require.NoError(t, err, "%s %s", sys.name, modeName(burst))
			require.Equal(t, len(items), r.delivered, "%s", r)
			require.Equal(t, r.expected(), r.pairs, "%s", r)
			require.Equal(t, 1.0, r.deliveryRatio())
			require.Positive(t, r.messages, "%s", r)
			require.Positive(t, r.cpu, "%s: CPU time measured", r)
			require.GreaterOrEqual(t, r.bytesPerItem(), 200.0, "%s: every delivery carries the payload once at least", r)
			if sys.name == "inv-flood" {
				// Each item crosses each of the 4 links at most once, and each node
				// announces it to at most its 2 neighbours.
				require.LessOrEqual(t, r.bytesPerItem(), 300.0+2*(4+42), "%s", r)
			}
			results = append(results, r)
		}
	}
	require.NoError(t, plotCDF(t.TempDir()+"/cdf.png", "test", results))
}

// instant is a system whose nodes hold every item as soon as it is submitted: it lets
// the rounds and the report be tested without hosts.
func instant(name string) system {
	return system{name: name, start: func(s scenario, tr *tracker) (testbed, error) {
		return &instantBed{s: s, tr: tr}, nil
	}}
}

type instantBed struct {
	s  scenario
	tr *tracker
	n  atomic.Uint64 // submissions: submit runs on one goroutine per item
}

func (b *instantBed) submit(k int) error {
	for range b.s.nodes {
		b.tr.held(k)
	}
	b.n.Add(1)
	return nil
}
func (b *instantBed) settle(time.Duration) []time.Duration { return nil }
func (b *instantBed) traffic() (uint64, uint64)            { return b.n.Load(), 300 * b.n.Load() }
func (b *instantBed) close()                               {}

func TestRoundsRotateAndDrop(t *testing.T) {
	o, err := parseFlags([]string{"-nodes", "4,6", "-degree", "2", "-items", "5", "-rate", "1000", "-rounds", "2", "-timeout", "5s"})
	require.NoError(t, err)
	o.systems = []system{instant("gossipsub"), instant("inv-flood"), instant("ours")}
	o.probe, o.maxOther, o.quietWait = 0, math.Inf(1), 0 // /proc's ticks make a short run look disturbed
	groups, err := bench(o)
	require.NoError(t, err)
	require.Len(t, groups, 4, "two node counts, two schedules")
	for _, g := range groups {
		require.Len(t, g.rounds, 2, "enough rounds kept: no more run")
		require.Equal(t, []string{"gossipsub", "inv-flood", "ours"}, g.rounds[0].order)
		require.Equal(t, []string{"inv-flood", "ours", "gossipsub"}, g.rounds[1].order)
	}
	var out bytes.Buffer
	require.NoError(t, report(&out, o, groups, time.Now(), 1, []string{"-nodes", "4,6"}))
	text := out.String()
	require.Contains(t, text, "Command: `cd tools/invbench && go run . -nodes 4,6`")
	require.Contains(t, text, "| paced p99, ms |")
	// 300 bytes per submission over 3 deliveries (N = 4).
	require.Contains(t, text, "| burst bytes per delivered item | 100 | 100 | 100 | 1.00 | 1.00 |")
	require.Contains(t, text, "* N=4 paced: 2 rounds kept of 2\n")
	require.Contains(t, text, "CPU per delivered item by node count")
	require.Contains(t, text, "| burst 100 % delivery (ours) | 2 of 2 rounds | met |")

	// Every run is disturbed: the group runs -max-rounds rounds and keeps none.
	o.nodes, o.modes, o.maxOther = []int{4}, []bool{true}, -1
	o.rounds, o.maxRounds = 1, 3
	groups, err = bench(o)
	require.NoError(t, err)
	require.Len(t, groups, 1)
	g := groups[0]
	require.Len(t, g.rounds, 3)
	require.Equal(t, []string{"ours", "gossipsub", "inv-flood"}, g.rounds[2].order)
	require.Empty(t, g.kept())
	require.Contains(t, g.rounds[0].dropped, "other processes used")
	out.Reset()
	require.NoError(t, report(&out, o, groups, time.Now(), 1, nil))
	require.Contains(t, out.String(), "0 rounds kept of 3")
	require.True(t, strings.Contains(out.String(), "| burst p99, ms ≤ 1.5× ideal inv-flood | – | not measured |"))
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"-scale", "-systems", "ours,inv-flood", "-modes", "burst"})
	require.NoError(t, err)
	require.Equal(t, []int{10, 30, 60}, o.nodes)
	require.Equal(t, "ours", o.systems[0].name)
	require.Equal(t, []bool{true}, o.modes)
	require.Equal(t, 10, o.maxRounds)
	for _, bad := range [][]string{{"-systems", "floodsub"}, {"-modes", "fast"}, {"-nodes", "x"}, {"-rounds", "0"}, {"stray"}} {
		_, err := parseFlags(bad)
		require.Error(t, err, "%v", bad)
	}
}
