// Command invbench measures how fast a transaction submitted at one node reaches every
// node, with three designs on the same in-process libp2p hosts (127.0.0.1), the same
// random regular topology, the same payloads and the same schedules:
//
//   - gossipsub: go-libp2p-pubsub's GossipSub with its defaults (messages signed and
//     verified);
//   - inv-flood: an ideal announce → request → item flood with no store and no
//     validation, in Witnet messages and frames (invflood.go): the limit of our design
//     on libp2p, and the yardstick of the next;
//   - ours: this repository's inventory gossip (node/inventory over witnet sessions),
//     configured as the node runs it.
//
// Each round runs the systems one after the other, the order rotated from round to round
// (A B C, B C A, C A B, ...), once paced and once as a single burst, on fresh hosts every
// run. Every run records the load average and the CPU other processes used while it was
// measured; a round where that exceeds -max-other is dropped (and said so), and more
// rounds run, up to -max-rounds, until -rounds are kept. The report is a markdown table
// of the medians of the kept rounds (p99 latency, CPU and bytes per delivered item,
// delivery), the per-round ratios of ours to the others, the goals of issue 15 and,
// with several -nodes, how the CPU per delivered item scales.
//
//	cd tools/invbench && go run . -rounds 5 -png ../../BENCHMARKS-inventory-cdf.png
//	cd tools/invbench && go run . -rounds 5 -scale
//	cd tools/invbench && go run . -systems ours -modes burst -items 1000 -rounds 1 -cpuprofile /tmp/ours.prof
package main

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func log(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

var nan = math.NaN()

// defaultProbe is the shortest interval over which a run measures the CPU of other
// processes: a few ticks of /proc's 10 ms resolution are then a few hundredths of a core.
const defaultProbe = time.Second

type options struct {
	nodes               []int
	degree, items, size int
	rate                float64
	seed                uint64
	timeout             time.Duration
	png                 string
	systems             []system
	modes               []bool // burst?
	rounds, maxRounds   int
	maxOther            float64
	probe               time.Duration // see scenario.probe
	quietWait           time.Duration
	noSync              bool
	cpuProfile          string
	commitDelay         time.Duration
	pushMaxSize         int
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		log("invbench: %v", err)
		os.Exit(2)
	}
	start := time.Now()
	startLoad, _ := loadAverage()
	groups, err := bench(o)
	if err != nil {
		log("invbench: %v", err)
		os.Exit(1)
	}
	if err := report(os.Stdout, o, groups, start, startLoad, os.Args[1:]); err != nil {
		log("invbench: %v", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var (
		o                         options
		nodes, systemsList, modes string
		scale                     bool
	)
	fs := flag.NewFlagSet("invbench", flag.ContinueOnError)
	fs.StringVar(&nodes, "nodes", "30", "numbers of in-process nodes, comma-separated (several: the scaling table)")
	fs.BoolVar(&scale, "scale", false, "scaling mode: the same as -nodes 10,30,60")
	fs.IntVar(&o.degree, "degree", 8, "every node's number of neighbours (random regular topology)")
	fs.IntVar(&o.items, "items", 200, "transactions submitted per run")
	fs.IntVar(&o.size, "size", 200, "approximate transaction size in bytes")
	fs.Float64Var(&o.rate, "rate", 50, "submissions per second in the paced runs")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the topology, payloads and origins")
	fs.DurationVar(&o.timeout, "timeout", 60*time.Second, "how long to wait for every node to hold every item")
	fs.StringVar(&o.png, "png", "", "write the latency CDF plot of the last kept round (first -nodes value) to this PNG file")
	fs.StringVar(&systemsList, "systems", "gossipsub,inv-flood,ours", "systems to measure, in the first round's order")
	fs.StringVar(&modes, "modes", "paced,burst", "schedules to run: paced, burst or both")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds to keep (median over them)")
	fs.IntVar(&o.maxRounds, "max-rounds", 0, "rounds to run at most, dropped ones included (0: twice -rounds)")
	fs.Float64Var(&o.maxOther, "max-other", 0.3, "drop a round when other processes used more than this many cores during one of its runs")
	fs.DurationVar(&o.quietWait, "quiet-wait", 2*time.Minute, "before each round, wait up to this long for other processes to use at most -max-other cores (0: do not wait)")
	fs.BoolVar(&o.noSync, "nosync", false, "open our nodes' bbolt files without fsync (isolates the gossip from the disk)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each run's measured window to this file (one run: the file itself; several: FILE.<nodes>-<system>-<schedule>-r<round>)")
	fs.DurationVar(&o.commitDelay, "commit-delay", 0, "our engine's commit batching window (0: its default; negative: commit at once)")
	fs.IntVar(&o.pushMaxSize, "push-max-size", 0, "largest submitted item our engine pushes instead of announcing (0: its default; negative: never)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if scale {
		nodes = "10,30,60"
	}
	for _, f := range strings.Split(nodes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 2 {
			return o, fmt.Errorf("-nodes: %q is not a node count", f)
		}
		o.nodes = append(o.nodes, n)
	}
	for _, name := range strings.Split(systemsList, ",") {
		i := slices.IndexFunc(systems, func(s system) bool { return s.name == strings.TrimSpace(name) })
		if i < 0 {
			return o, fmt.Errorf("-systems: unknown system %q (want gossipsub, inv-flood or ours)", name)
		}
		o.systems = append(o.systems, systems[i])
	}
	for _, m := range strings.Split(modes, ",") {
		switch strings.TrimSpace(m) {
		case "paced":
			o.modes = append(o.modes, false)
		case "burst":
			o.modes = append(o.modes, true)
		default:
			return o, fmt.Errorf("-modes: unknown schedule %q (want paced or burst)", m)
		}
	}
	if o.rounds < 1 || o.items < 1 || o.rate <= 0 {
		return o, errors.New("-rounds and -items must be at least 1, -rate positive")
	}
	o.probe = defaultProbe
	if o.maxRounds == 0 {
		o.maxRounds = 2 * o.rounds
	}
	o.maxRounds = max(o.maxRounds, o.rounds)
	return o, nil
}
