// Command bench measures how fast a transaction submitted at one node reaches every node,
// with this repository's inventory gossip (announce → request → item over witnet
// sessions) and with go-libp2p-pubsub's GossipSub (default settings, signed messages), on
// the same random regular topology of in-process nodes on 127.0.0.1 and the same payloads,
// once paced and once as a single burst. It prints p50/p99/max of the time until every
// node holds each item, messages and bytes sent per delivered item, and draws the latency
// distributions (CDF) into a PNG.
//
//	cd tools/invbench && go run . -png ../../BENCHMARKS-inventory-cdf.png
package main

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"time"
)

func log(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

type options struct {
	nodes, degree, items, size int
	rate                       float64
	seed                       uint64
	timeout                    time.Duration
	png                        string
	skipGossipSub              bool
	noSync                     bool
	cpuProfile                 string
	commitDelay                time.Duration
	pushMaxSize                int
}

func main() {
	var o options
	flag.IntVar(&o.nodes, "nodes", 30, "number of in-process nodes")
	flag.IntVar(&o.degree, "degree", 8, "every node's number of neighbours (random regular topology)")
	flag.IntVar(&o.items, "items", 200, "transactions submitted per run")
	flag.IntVar(&o.size, "size", 200, "approximate transaction size in bytes")
	flag.Float64Var(&o.rate, "rate", 50, "submissions per second in the paced runs")
	flag.Uint64Var(&o.seed, "seed", 1, "seed of the topology, payloads and origins")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for every node to hold every item")
	flag.StringVar(&o.png, "png", "", "write the latency CDF plot to this PNG file")
	flag.BoolVar(&o.skipGossipSub, "no-gossipsub", false, "measure only this repository's gossip")
	flag.BoolVar(&o.noSync, "nosync", false, "open our nodes' bbolt files without fsync (isolates the gossip from the disk)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.DurationVar(&o.commitDelay, "commit-delay", 0, "our engine's commit batching window (0: its default; negative: commit at once)")
	flag.IntVar(&o.pushMaxSize, "push-max-size", 0, "largest submitted item our engine pushes instead of announcing (0: its default; negative: never)")
	flag.Parse()
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			log("bench: %v", err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log("bench: %v", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(o); err != nil {
		log("bench: %v", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(o options) error {
	results, s, err := measure(o)
	if err != nil {
		return err
	}
	fmt.Printf("%d nodes, random %d-regular topology (seed %d), %d transactions of %.0f bytes on average\n\n",
		o.nodes, o.degree, o.seed, len(s.items), meanSize(s.items))
	fmt.Println("| system | schedule | delivered | p50 ms | p99 ms | max ms | p99 ms until committed | messages / delivered item | bytes / delivered item | CPU ms |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		d := r.deliveries(s)
		committed := "–"
		if r.stored != nil {
			committed = fmt.Sprintf("%.1f", percentile(r.stored, 0.99))
		}
		fmt.Printf("| %s | %s | %d/%d | %.1f | %.1f | %.1f | %s | %.2f | %.0f | %.0f |\n", r.system, r.mode, r.delivered, len(r.latency),
			r.percentile(0.5), r.percentile(0.99), r.percentile(1), committed, float64(r.messages)/d, float64(r.bytes)/d, float64(r.cpu)/float64(time.Millisecond))
	}
	if len(results) == 4 {
		fmt.Println()
		for i, m := range []string{"paced", "burst"} {
			ours, gs := results[i], results[2+i]
			ratio := fmt.Sprintf("%.3f", ours.percentile(0.99)/gs.percentile(0.99))
			if math.IsInf(ours.percentile(0.99), 1) || math.IsInf(gs.percentile(0.99), 1) {
				// Undelivered items made a p99 infinite: say so rather than print 0 or NaN.
				ratio = fmt.Sprintf("n/a (delivered: ours %d/%d, gossipsub %d/%d)", ours.delivered, len(ours.latency), gs.delivered, len(gs.latency))
			}
			fmt.Printf("%s: p99 ratio (ours / gossipsub) %s, bytes ratio (gossipsub / ours) %.2f\n", m,
				ratio, float64(gs.bytes)/float64(ours.bytes))
		}
	}
	if o.png != "" {
		title := fmt.Sprintf("%d nodes, %d-regular, %d txs of ~%d B", o.nodes, o.degree, o.items, o.size)
		if err := plotCDF(o.png, title, results); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	return nil
}

// measure runs the four scenarios (ours paced, ours burst, GossipSub paced, GossipSub
// burst) on one topology and one set of payloads.
func measure(o options) ([]result, scenario, error) {
	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
	edges, err := regularGraph(o.nodes, o.degree, rng)
	if err != nil {
		return nil, scenario{}, err
	}
	items, origins, err := makeItems(o.items, o.size, o.nodes, rng)
	if err != nil {
		return nil, scenario{}, err
	}
	base := scenario{nodes: o.nodes, edges: edges, origins: origins, items: items, rate: o.rate, timeout: o.timeout, noSync: o.noSync,
		commitDelay: o.commitDelay, pushMaxSize: o.pushMaxSize}
	paced, burst := base, base
	burst.burst = true

	var results []result
	for _, s := range []scenario{paced, burst} {
		dir, err := os.MkdirTemp("", "witnet-bench-")
		if err != nil {
			return nil, base, err
		}
		r, err := runOurs(s, dir)
		_ = os.RemoveAll(dir)
		if err != nil {
			return nil, base, fmt.Errorf("witnet-p2p %s: %w", mode(s), err)
		}
		log("%s", r)
		results = append(results, r)
	}
	if !o.skipGossipSub {
		for _, s := range []scenario{paced, burst} {
			r, err := runGossipSub(s)
			if err != nil {
				return nil, base, fmt.Errorf("gossipsub %s: %w", mode(s), err)
			}
			log("%s", r)
			results = append(results, r)
		}
	}
	return results, base, nil
}
