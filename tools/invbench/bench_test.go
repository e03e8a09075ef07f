package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRegularGraph(t *testing.T) {
	for _, tc := range []struct{ n, d int }{{30, 8}, {8, 3}, {12, 4}, {6, 5}} {
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
	require.True(t, r.percentile(1) > 1e300, "an undelivered item is infinitely late")
}

func TestSmallRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts libp2p hosts")
	}
	o := options{nodes: 6, degree: 3, items: 10, size: 200, rate: 100, seed: 3, timeout: 10 * time.Second}
	results, s, err := measure(o)
	require.NoError(t, err)
	require.Len(t, results, 4)
	for _, r := range results {
		require.Equal(t, o.items, r.delivered, "%s", r)
		require.Positive(t, r.messages)
		require.Positive(t, r.cpu, "%s: CPU time measured", r)
		require.GreaterOrEqual(t, float64(r.bytes)/r.deliveries(s), float64(o.size)/2, "%s: every delivery carries the payload once at least", r)
	}
	require.NoError(t, plotCDF(t.TempDir()+"/cdf.png", "test", results))
}
