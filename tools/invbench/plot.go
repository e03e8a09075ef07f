package main

import (
	"fmt"
	"image/color"
	"slices"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// plotLastRound draws the latency CDFs of the last kept round (the last round when none
// was kept) of each schedule at the first node count into o.png.
func plotLastRound(o options, groups []*group) error {
	var results []result
	n := o.nodes[0]
	for _, g := range groups {
		if g.nodes != n || len(g.rounds) == 0 {
			continue
		}
		r := g.rounds[len(g.rounds)-1]
		if kept := g.kept(); len(kept) > 0 {
			r = kept[len(kept)-1]
		}
		for _, s := range systems {
			if res, ok := r.results[s.name]; ok {
				results = append(results, res)
			}
		}
	}
	title := fmt.Sprintf("%d nodes, %d-regular, %d txs of ~%d B", n, o.degree, o.items, o.size)
	return plotCDF(o.png, title, results)
}

// plotCDF draws the distribution of the per-item latencies of each result (time until
// every node holds the item), as the fraction of items delivered everywhere within x ms,
// on a logarithmic time axis, and saves it as a PNG. Each system has its colour; burst
// runs are dashed.
func plotCDF(path, title string, results []result) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "time until every node holds the item (ms, log scale)"
	p.Y.Label.Text = "fraction of items"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Y.Min, p.Y.Max = 0, 1
	// Lower middle: the fast curves rise on the left, the burst ones on the right.
	p.Legend.Top = false
	p.Legend.Left = true
	p.Add(plotter.NewGrid())

	palette := map[string]color.Color{
		"gossipsub": color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		"inv-flood": color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
		"ours":      color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	}
	for _, r := range results {
		var ms []float64
		for _, d := range r.latency {
			if d >= 0 {
				ms = append(ms, max(float64(d)/float64(time.Millisecond), 0.01))
			}
		}
		if len(ms) == 0 {
			continue
		}
		slices.Sort(ms)
		pts := make(plotter.XYs, 0, 2*len(ms))
		for j, v := range ms {
			prev := float64(j) / float64(len(r.latency))
			pts = append(pts, plotter.XY{X: v, Y: prev}, plotter.XY{X: v, Y: float64(j+1) / float64(len(r.latency))})
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		line.Color = palette[r.system]
		line.Width = vg.Points(1.5)
		if r.mode == "burst" {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s, %s (p99 %.0f ms)", r.system, r.mode, r.percentile(0.99)), line)
	}
	p.Legend.XOffs = 2.6 * vg.Inch
	p.Legend.YOffs = 1.0 * vg.Inch
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
