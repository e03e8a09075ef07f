package main

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// group is every round of one node count and one schedule.
type group struct {
	nodes  int
	burst  bool
	s      scenario
	rounds []round
	waited time.Duration // spent waiting for a quiet machine before its rounds
}

// round is one run of each system on a group's scenario, in the round's order.
type round struct {
	n       int      // 1-based, counted over the whole bench
	order   []string // system names in the order they ran
	results map[string]result
	// dropped says why the round is not counted ("" when it is kept): other processes
	// took too much CPU during one of its runs.
	dropped string
}

// kept returns the group's rounds that count.
func (g *group) kept() []round {
	var k []round
	for _, r := range g.rounds {
		if r.dropped == "" {
			k = append(k, r)
		}
	}
	return k
}

func (g *group) label() string {
	if g.burst {
		return fmt.Sprintf("N=%d burst", g.nodes)
	}
	return fmt.Sprintf("N=%d paced", g.nodes)
}

// bench runs the rounds: in round r (from 0), every group not yet complete runs the
// systems in o.systems' order rotated by r, until each group has o.rounds kept rounds
// or o.maxRounds rounds ran.
func bench(o options) ([]*group, error) {
	var groups []*group
	for _, n := range o.nodes {
		// The same seed for every node count: a run with -nodes 30 alone measures the
		// scenario of the N=30 part of a scaling run.
		rng := rand.New(rand.NewPCG(o.seed, o.seed^0x9e3779b97f4a7c15))
		edges, err := regularGraph(n, o.degree, rng)
		if err != nil {
			return nil, err
		}
		items, origins, err := makeItems(o.items, o.size, n, rng)
		if err != nil {
			return nil, err
		}
		base := scenario{nodes: n, edges: edges, origins: origins, items: items, rate: o.rate, timeout: o.timeout, probe: o.probe, noSync: o.noSync,
			commitDelay: o.commitDelay, pushMaxSize: o.pushMaxSize}
		for _, burst := range o.modes {
			s := base
			s.burst = burst
			groups = append(groups, &group{nodes: n, burst: burst, s: s})
		}
	}
	profiles := len(groups) * len(o.systems) * o.maxRounds
	for r := range o.maxRounds {
		order := rotate(o.systems, r)
		ran := false
		for _, g := range groups {
			if len(g.kept()) >= o.rounds {
				continue
			}
			ran = true
			if o.quietWait > 0 {
				t0 := time.Now()
				if !awaitQuiet(o.maxOther, o.quietWait) {
					log("round %d of %s: the machine stayed busy for %v; running anyway", r+1, g.label(), o.quietWait)
				}
				g.waited += time.Since(t0)
			}
			rd := round{n: r + 1, results: map[string]result{}}
			for _, sys := range order {
				profile := o.cpuProfile
				if profile != "" && profiles > 1 {
					profile = fmt.Sprintf("%s.%d-%s-%s-r%d", o.cpuProfile, g.nodes, sys.name, modeName(g.burst), r+1)
				}
				res, err := runOnce(sys, g.s, profile)
				if err != nil {
					return nil, fmt.Errorf("%s, round %d, %s: %w", g.label(), r+1, sys.name, err)
				}
				log("round %d: %s", r+1, res)
				rd.order = append(rd.order, sys.name)
				rd.results[sys.name] = res
				if rd.dropped == "" && res.otherCores > o.maxOther {
					rd.dropped = fmt.Sprintf("other processes used %.2f cores during %s", res.otherCores, sys.name)
				}
			}
			if rd.dropped != "" {
				log("round %d of %s dropped: %s", r+1, g.label(), rd.dropped)
			}
			g.rounds = append(g.rounds, rd)
		}
		if !ran {
			break
		}
	}
	return groups, nil
}

// rotate returns systems rotated left by r: round 0 A B C, round 1 B C A, ...
func rotate(systems []system, r int) []system {
	out := make([]system, 0, len(systems))
	for i := range systems {
		out = append(out, systems[(i+r)%len(systems)])
	}
	return out
}

// quietSample is how long the machine must stay quiet before a round starts.
const quietSample = 3 * time.Second

// awaitQuiet waits until other processes use at most maxOther cores over quietSample,
// for at most limit, and reports whether they did: a round started on a busy machine
// would only be dropped.
func awaitQuiet(maxOther float64, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for {
		a := sampleMachine()
		time.Sleep(quietSample)
		if otherCores(a, sampleMachine()) <= maxOther {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}
