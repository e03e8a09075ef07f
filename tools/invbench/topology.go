package main

import (
	"fmt"
	"math/rand/v2"
)

// edge is an undirected link between two nodes, lower index first.
type edge struct{ a, b int }

func mkEdge(a, b int) edge {
	if a > b {
		a, b = b, a
	}
	return edge{a, b}
}

// regularGraph returns a random connected d-regular simple graph on n nodes, drawn from
// rng: it starts from the circulant graph (i linked to i±1 … i±d/2, plus the opposite node
// when d is odd) and applies degree-preserving double-edge swaps, a standard Markov chain
// over d-regular graphs. Rejection of whole random pairings would almost never succeed for
// d = 8 (the chance of a simple graph is about e^-(d²-1)/4).
func regularGraph(n, d int, rng *rand.Rand) ([]edge, error) {
	if d >= n || n*d%2 != 0 || (d%2 == 1 && n%2 == 1) {
		return nil, fmt.Errorf("no %d-regular graph on %d nodes", d, n)
	}
	set := make(map[edge]bool)
	for i := range n {
		for k := 1; k <= d/2; k++ {
			set[mkEdge(i, (i+k)%n)] = true
		}
		if d%2 == 1 {
			set[mkEdge(i, (i+n/2)%n)] = true
		}
	}
	edges := make([]edge, 0, len(set))
	for e := range set {
		edges = append(edges, e)
	}
	// Map iteration order is random: sort for a reproducible start.
	sortEdges(edges)
	if d == n-1 {
		return edges, nil // the complete graph: the only one
	}
	swaps := 0
	for tries := 0; swaps < 100*len(edges) || !connected(n, edges); tries++ {
		if tries > 10_000*len(edges) {
			return nil, fmt.Errorf("could not randomise the %d-regular graph", d)
		}
		i, j := rng.IntN(len(edges)), rng.IntN(len(edges))
		e1, e2 := edges[i], edges[j]
		a, b, c, dd := e1.a, e1.b, e2.a, e2.b
		if rng.IntN(2) == 0 {
			c, dd = dd, c
		}
		// Replace a-b, c-d by a-c, b-d.
		if a == c || b == dd || a == dd || b == c {
			continue
		}
		n1, n2 := mkEdge(a, c), mkEdge(b, dd)
		if set[n1] || set[n2] {
			continue
		}
		delete(set, e1)
		delete(set, e2)
		set[n1], set[n2] = true, true
		edges[i], edges[j] = n1, n2
		swaps++
	}
	sortEdges(edges)
	return edges, nil
}

func sortEdges(es []edge) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && (es[j].a < es[j-1].a || (es[j].a == es[j-1].a && es[j].b < es[j-1].b)); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func connected(n int, edges []edge) bool {
	adj := make([][]int, n)
	for _, e := range edges {
		adj[e.a] = append(adj[e.a], e.b)
		adj[e.b] = append(adj[e.b], e.a)
	}
	seen := make([]bool, n)
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, w := range adj[v] {
			if !seen[w] {
				seen[w] = true
				count++
				stack = append(stack, w)
			}
		}
	}
	return count == n
}
