package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// A metric is one measure of a run, compared across systems.
type metric struct {
	label  string
	value  func(result) float64
	format string
}

var (
	p99Metric      = metric{"p99, ms", func(r result) float64 { return r.percentile(0.99) }, "%.1f"}
	cpuMetric      = metric{"CPU ms per delivered item", result.cpuPerItem, "%.4f"}
	bytesMetric    = metric{"bytes per delivered item", result.bytesPerItem, "%.0f"}
	deliveryMetric = metric{"delivery, %", func(r result) float64 { return 100 * r.deliveryRatio() }, "%.2f"}
	ratioFormat    = "%.2f"
)

// stat is the median of a measure over rounds, with its range.
type stat struct {
	median, min, max float64
	n                int
}

func statOf(xs []float64) stat {
	if len(xs) == 0 {
		return stat{median: nan, min: nan, max: nan}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{median: m, min: s[0], max: s[len(s)-1], n: len(s)}
}

// format prints the median and, over several rounds, the range: "12.1 (10.2–22.1)".
func (s stat) format(f string) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 || s.min == s.max {
		return num(f, s.median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(f, s.median), num(f, s.min), num(f, s.max))
}

func num(f string, v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "∞"
	case math.IsNaN(v):
		return "?"
	}
	return fmt.Sprintf(f, v)
}

// values returns m of system sys in each kept round of g.
func values(g *group, sys string, m metric) []float64 {
	var xs []float64
	for _, r := range g.kept() {
		if res, ok := r.results[sys]; ok {
			xs = append(xs, m.value(res))
		}
	}
	return xs
}

// ratios returns m of a divided by m of b, round by round, over g's kept rounds.
func ratios(g *group, a, b string, m metric) []float64 {
	var xs []float64
	for _, r := range g.kept() {
		ra, okA := r.results[a]
		rb, okB := r.results[b]
		if okA && okB {
			xs = append(xs, m.value(ra)/m.value(rb))
		}
	}
	return xs
}

// comparison is a ratio column: ours divided by another system.
type comparison struct{ of, to, label string }

// report writes the markdown report of groups to w: the bench started at start, with
// the 1-minute load average at startLoad, and was given args.
func report(w io.Writer, o options, groups []*group, start time.Time, startLoad float64, args []string) error {
	p := &printer{w: w}
	names := make([]string, len(o.systems))
	for i, s := range o.systems {
		names[i] = s.name
	}
	var shown []system // in the canonical column order
	for _, s := range systems {
		if slices.Contains(names, s.name) {
			shown = append(shown, s)
		}
	}
	var comps []comparison
	if slices.Contains(names, "ours") {
		for _, other := range []system{systems[1], systems[0]} {
			if slices.Contains(names, other.name) {
				comps = append(comps, comparison{of: "ours", to: other.name, label: "ours ÷ " + other.label})
			}
		}
	}

	load, _ := loadAverage()
	var waited time.Duration
	for _, g := range groups {
		waited += g.waited
	}
	p.line("Measured %s; run time %s, of which %s waiting for a quiet machine.", start.UTC().Format("2006-01-02 15:04 MST"),
		time.Since(start).Round(time.Second), waited.Round(time.Second))
	p.line("")
	p.line("Command: `cd tools/invbench && go run . %s`", strings.Join(quoteArgs(args), " "))
	p.line("")
	host, _ := os.Hostname()
	p.line("Machine: %s, %d CPUs (GOMAXPROCS %d), %s %s/%s; load average %s at the start, %s at the end.", host, runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.Version(), runtime.GOOS, runtime.GOARCH, num("%.2f", startLoad), num("%.2f", load))
	s0 := groups[0].s
	p.line("")
	p.line("Scenario: random %d-regular topology (seed %d), %d value transfers of %.0f bytes on average from random origins; paced at %g/s and/or as one burst. A round is dropped when other processes used more than %.2f cores during one of its runs.",
		o.degree, o.seed, len(s0.items), meanSize(s0.items), o.rate, o.maxOther)
	p.line("")
	for _, g := range groups {
		kept := g.kept()
		var dropped []string
		for _, r := range g.rounds {
			if r.dropped != "" {
				dropped = append(dropped, fmt.Sprintf("round %d: %s", r.n, r.dropped))
			}
		}
		line := fmt.Sprintf("* %s: %d rounds kept of %d", g.label(), len(kept), len(g.rounds))
		if len(dropped) > 0 {
			line += "; dropped " + strings.Join(dropped, "; ")
		}
		if len(kept) < o.rounds {
			line += fmt.Sprintf(" (fewer than the %d asked: the medians below are over what was kept)", o.rounds)
		}
		p.line("%s", line)
	}

	for _, n := range o.nodes {
		var gs []*group
		for _, g := range groups {
			if g.nodes == n {
				gs = append(gs, g)
			}
		}
		p.line("")
		p.summary(n, gs, shown, comps)
		p.line("")
		p.rounds(gs, shown, comps)
		if len(comps) == 2 {
			p.line("")
			p.goals(n, gs)
		}
	}
	if len(o.nodes) > 1 {
		p.line("")
		p.scaling(o, groups, shown)
	}
	if o.png != "" {
		if err := plotLastRound(o, groups); err != nil {
			return fmt.Errorf("plot: %w", err)
		}
	}
	return p.err
}

// printer writes markdown lines and remembers the first error.
type printer struct {
	w   io.Writer
	err error
}

func (p *printer) line(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format+"\n", args...)
	}
}

func (p *printer) table(header []string, rows [][]string) {
	p.line("| %s |", strings.Join(header, " | "))
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = "---"
	}
	p.line("| %s |", strings.Join(sep, " | "))
	for _, r := range rows {
		p.line("| %s |", strings.Join(r, " | "))
	}
}

// summary prints the medians of the kept rounds of node count n, one row per measure
// and schedule, one column per system and per comparison.
func (p *printer) summary(n int, gs []*group, shown []system, comps []comparison) {
	header := []string{fmt.Sprintf("N = %d, median of kept rounds (range)", n)}
	for _, s := range shown {
		header = append(header, s.label)
	}
	for _, c := range comps {
		header = append(header, c.label)
	}
	var rows [][]string
	for _, m := range []metric{p99Metric, cpuMetric, bytesMetric, deliveryMetric} {
		for _, g := range gs {
			row := []string{modeName(g.burst) + " " + m.label}
			for _, s := range shown {
				row = append(row, statOf(values(g, s.name, m)).format(m.format))
			}
			for _, c := range comps {
				if m.label == deliveryMetric.label {
					row = append(row, "")
					continue
				}
				row = append(row, statOf(ratios(g, c.of, c.to, m)).format(ratioFormat))
			}
			rows = append(rows, row)
		}
	}
	p.table(header, rows)
}

// rounds prints every round of gs, dropped ones included.
func (p *printer) rounds(gs []*group, shown []system, comps []comparison) {
	header := []string{"schedule", "round", "order", "load avg", "other CPU, cores", "kept"}
	for _, s := range shown {
		header = append(header, s.label+" p99 ms / CPU ms / bytes")
	}
	for _, c := range comps {
		header = append(header, c.label+" p99 / CPU / bytes")
	}
	var rows [][]string
	for _, g := range gs {
		for _, r := range g.rounds {
			first, last := r.results[r.order[0]], r.results[r.order[len(r.order)-1]]
			other := 0.0
			for _, res := range r.results {
				other = max(other, res.otherCores)
			}
			kept := "yes"
			if r.dropped != "" {
				kept = "no"
			}
			row := []string{modeName(g.burst), fmt.Sprint(r.n), strings.Join(r.order, " "),
				fmt.Sprintf("%.2f→%.2f", first.loadBefore, last.loadAfter), num("%.2f", other), kept}
			for _, s := range shown {
				res := r.results[s.name]
				row = append(row, fmt.Sprintf("%s / %s / %s", num(p99Metric.format, p99Metric.value(res)),
					num(cpuMetric.format, res.cpuPerItem()), num(bytesMetric.format, res.bytesPerItem())))
			}
			for _, c := range comps {
				a, b := r.results[c.of], r.results[c.to]
				var cells []string
				for _, m := range []metric{p99Metric, cpuMetric, bytesMetric} {
					cells = append(cells, num(ratioFormat, m.value(a)/m.value(b)))
				}
				row = append(row, strings.Join(cells, " / "))
			}
			rows = append(rows, row)
		}
	}
	p.table(header, rows)
}

// goals prints issue 15's propagation goals for node count n and where each stands.
func (p *printer) goals(n int, gs []*group) {
	var rows [][]string
	for _, g := range gs {
		sched := modeName(g.burst)
		for _, goal := range []struct {
			m     metric
			limit float64
		}{{p99Metric, 1.5}, {cpuMetric, 1.5}, {bytesMetric, 1.3}} {
			st := statOf(ratios(g, "ours", "inv-flood", goal.m))
			measured := st.format(ratioFormat)
			if st.n > 0 {
				measured += "×"
			}
			rows = append(rows, []string{
				fmt.Sprintf("%s %s ≤ %.1f× ideal inv-flood", sched, goal.m.label, goal.limit),
				measured, status(st.n > 0 && st.median <= goal.limit, st.median/goal.limit, st.n > 0),
			})
		}
		for _, m := range []metric{p99Metric, bytesMetric} {
			rs := ratios(g, "ours", "gossipsub", m)
			ok := 0
			for _, x := range rs {
				if x <= 1 {
					ok++
				}
			}
			rows = append(rows, []string{
				fmt.Sprintf("%s %s ≤ GossipSub's in every round", sched, m.label),
				fmt.Sprintf("%d of %d rounds", ok, len(rs)), status(len(rs) > 0 && ok == len(rs), nan, len(rs) > 0),
			})
		}
		ds := values(g, "ours", deliveryMetric)
		full := 0
		for _, d := range ds {
			if d == 100 {
				full++
			}
		}
		rows = append(rows, []string{fmt.Sprintf("%s 100 %% delivery (ours)", sched),
			fmt.Sprintf("%d of %d rounds", full, len(ds)), status(len(ds) > 0 && full == len(ds), nan, len(ds) > 0)})
	}
	p.line("Goals of issue 15 at N = %d (ratios: median of the kept rounds' ratios, range):", n)
	p.line("")
	p.table([]string{"goal", "measured", "status"}, rows)
}

// status is "met", "not met" (with the gap when known) or "not measured".
func status(met bool, gap float64, measured bool) string {
	switch {
	case !measured:
		return "not measured"
	case met:
		return "met"
	case !math.IsNaN(gap) && !math.IsInf(gap, 0):
		return fmt.Sprintf("**not met** (%.2f× the limit)", gap)
	}
	return "**not met**"
}

// scaleTolerance is how much the median CPU per delivered item may grow from one node
// count to the next and still count as not rising: rounds vary by about that much.
const scaleTolerance = 1.10

// scaling prints the CPU per delivered item of every system by node count, and whether
// ours rises.
func (p *printer) scaling(o options, groups []*group, shown []system) {
	header := []string{"N"}
	for _, burst := range o.modes {
		for _, s := range shown {
			header = append(header, fmt.Sprintf("%s CPU ms / item, %s", s.label, modeName(burst)))
		}
	}
	find := func(n int, burst bool) *group {
		for _, g := range groups {
			if g.nodes == n && g.burst == burst {
				return g
			}
		}
		return nil
	}
	var rows [][]string
	for _, n := range o.nodes {
		row := []string{fmt.Sprint(n)}
		for _, burst := range o.modes {
			for _, s := range shown {
				row = append(row, statOf(values(find(n, burst), s.name, cpuMetric)).format(cpuMetric.format))
			}
		}
		rows = append(rows, row)
	}
	p.line("CPU per delivered item by node count (median of kept rounds, range):")
	p.line("")
	p.table(header, rows)
	if !slices.ContainsFunc(shown, func(s system) bool { return s.name == "ours" }) {
		return
	}
	p.line("")
	for _, burst := range o.modes {
		var steps []string
		rises := false
		for i := 1; i < len(o.nodes); i++ {
			a := statOf(values(find(o.nodes[i-1], burst), "ours", cpuMetric)).median
			b := statOf(values(find(o.nodes[i], burst), "ours", cpuMetric)).median
			steps = append(steps, fmt.Sprintf("N %d → %d ×%s", o.nodes[i-1], o.nodes[i], num("%.2f", b/a)))
			if !(b/a <= scaleTolerance) {
				rises = true
			}
		}
		verdict := fmt.Sprintf("does not rise (no step above ×%.2f): met", scaleTolerance)
		if rises {
			verdict = fmt.Sprintf("**rises** (a step above ×%.2f): not met", scaleTolerance)
		}
		p.line("* ours, %s: %s; CPU per delivered item %s.", modeName(burst), strings.Join(steps, ", "), verdict)
	}
}

func modeName(burst bool) string {
	if burst {
		return "burst"
	}
	return "paced"
}

// quoteArgs quotes the arguments that need it for a shell.
func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$\\*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return out
}
