package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// scenario is one measured run: a system, a topology, the items and their schedule.
type scenario struct {
	nodes   int
	edges   []edge
	origins []int    // node submitting item k
	items   [][]byte // protobuf Transaction bytes
	burst   bool     // all items at once, else paced
	rate    float64  // items per second when paced
	timeout time.Duration
	noSync  bool // open our nodes' bbolt files without fsync
	// commitDelay and pushMaxSize, when not 0, override our engine's defaults.
	commitDelay time.Duration
	pushMaxSize int
}

// result is what a run measured.
type result struct {
	system, mode string
	// latency[k] is the time from item k's submission until the last node held it; -1
	// when some node never got it before the timeout.
	latency   []time.Duration
	delivered int // items held by every node
	// stored[k], for our system only, is the time until the last node committed item k to
	// its bbolt file (-1: some node did not before the timeout).
	stored   []time.Duration
	messages uint64
	bytes    uint64
	// cpu is the process's CPU time (user and system) from the first submission until
	// every node held every item (for ours: until every node committed it, so that the
	// commits are counted): the work the run cost, which the latency depends on when the
	// machine's cores are busy.
	cpu time.Duration
}

// deliveries is the number of (item, node) pairs that travelled over the network: every
// node except the item's origin.
func (r result) deliveries(s scenario) float64 { return float64(len(s.items) * (s.nodes - 1)) }

// percentile returns the q-quantile (0 ≤ q ≤ 1) of the delivered items' latencies, or
// +Inf when q falls among the undelivered ones.
func (r result) percentile(q float64) float64 { return percentile(r.latency, q) }

// percentile returns the q-quantile of latencies, counting -1 as +Inf.
func percentile(latencies []time.Duration, q float64) float64 {
	lat := make([]float64, 0, len(latencies))
	for _, d := range latencies {
		if d < 0 {
			lat = append(lat, math.Inf(1))
		} else {
			lat = append(lat, float64(d)/float64(time.Millisecond))
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(lat)))) - 1
	return lat[max(0, min(i, len(lat)-1))]
}

// tracker records when each node first held each item.
type tracker struct {
	mu        sync.Mutex
	start     []time.Time
	last      []time.Time
	count     []int
	nodes     int
	remaining int
	done      chan struct{}
}

func newTracker(items, nodes int) *tracker {
	return &tracker{
		start: make([]time.Time, items), last: make([]time.Time, items), count: make([]int, items),
		nodes: nodes, remaining: items * nodes, done: make(chan struct{}),
	}
}

func (t *tracker) submitted(k int) {
	t.mu.Lock()
	t.start[k] = time.Now()
	t.mu.Unlock()
}

// held records that one more node holds item k (each node must report an item once).
func (t *tracker) held(k int) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.count[k]++
	if now.After(t.last[k]) {
		t.last[k] = now
	}
	t.remaining--
	if t.remaining == 0 {
		close(t.done)
	}
}

// wait returns when every node holds every item or after timeout, with the per-item
// latencies.
func (t *tracker) wait(timeout time.Duration) ([]time.Duration, int) {
	select {
	case <-t.done:
	case <-time.After(timeout):
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lat := make([]time.Duration, len(t.start))
	full := 0
	for k := range lat {
		if t.count[k] >= t.nodes {
			lat[k] = t.last[k].Sub(t.start[k])
			full++
		} else {
			lat[k] = -1
		}
	}
	return lat, full
}

// drive calls submit(k) for every item: all at once for a burst, else one every 1/rate
// seconds. Each call runs in its own goroutine so that a slow submission does not delay
// the schedule. drive returns when every call returned.
func drive(s scenario, submit func(k int)) {
	var wg sync.WaitGroup
	start := time.Now()
	for k := range s.items {
		if !s.burst {
			at := start.Add(time.Duration(float64(k) / s.rate * float64(time.Second)))
			time.Sleep(time.Until(at))
		}
		wg.Go(func() { submit(k) })
	}
	wg.Wait()
}

// makeItems returns count distinct value transfers of about size bytes each, and the
// origin node of each, drawn from rng.
func makeItems(count, size, nodes int, rng *rand.Rand) ([][]byte, []int, error) {
	items := make([][]byte, count)
	origins := make([]int, count)
	for k := range items {
		origins[k] = rng.IntN(nodes)
		txid := make([]byte, 32)
		binary.BigEndian.PutUint64(txid, rng.Uint64())
		binary.BigEndian.PutUint64(txid[8:], uint64(k))
		body := &pb.VTTransactionBody{Inputs: []*pb.Input{{OutputPointer: &pb.OutputPointer{TransactionId: &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: txid}}}}}}
		tx := &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{Body: body}}}
		for {
			raw, err := protocol.CanonicalBytes(tx)
			if err != nil {
				return nil, nil, err
			}
			if len(raw) >= size {
				items[k] = raw
				break
			}
			pkh := make([]byte, 20)
			binary.BigEndian.PutUint64(pkh, rng.Uint64())
			body.Outputs = append(body.Outputs, &pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{Hash: pkh}, Value: rng.Uint64N(1 << 40)})
		}
	}
	return items, origins, nil
}

// cpuTime returns the CPU time (user and system) the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func meanSize(items [][]byte) float64 {
	total := 0
	for _, it := range items {
		total += len(it)
	}
	return float64(total) / float64(len(items))
}

func (r result) String() string {
	s := fmt.Sprintf("%s %s: delivered %d/%d, p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		r.system, r.mode, r.delivered, len(r.latency), r.percentile(0.5), r.percentile(0.99), r.percentile(1))
	if r.stored != nil {
		s += fmt.Sprintf("; committed everywhere: p50 %.1f ms, p99 %.1f ms", percentile(r.stored, 0.5), percentile(r.stored, 0.99))
	}
	return s
}
