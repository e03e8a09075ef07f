package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// scenario is one measured run's input: a topology, the items and their schedule.
type scenario struct {
	nodes   int
	edges   []edge
	origins []int    // node submitting item k
	items   [][]byte // protobuf Transaction bytes
	burst   bool     // all items at once, else paced
	rate    float64  // items per second when paced
	timeout time.Duration
	// probe is the shortest interval over which the CPU of other processes is
	// measured: from the start of the measured window to at least probe later.
	probe  time.Duration
	noSync bool // open our nodes' bbolt files without fsync
	// commitDelay and pushMaxSize, when not 0, override our engine's defaults.
	commitDelay time.Duration
	pushMaxSize int
}

// system is one of the measured gossip designs.
type system struct {
	name  string // as given to -systems
	label string // in the tables
	// start builds the system's nodes on s's topology and connects them; each node
	// reports to tr when it first holds an item.
	start func(s scenario, tr *tracker) (testbed, error)
}

// systems are the measured designs, in the default order of the first round.
var systems = []system{
	{name: "gossipsub", label: "GossipSub", start: startGossipSub},
	{name: "inv-flood", label: "ideal inv-flood", start: startFlood},
	{name: "ours", label: "ours", start: startOurs},
}

// testbed is one system's running, connected nodes.
type testbed interface {
	// submit hands item k to its origin node.
	submit(k int) error
	// settle waits, after every node held every item, for work the system still owes
	// them (ours: the commits to bbolt), and returns the per-item latencies of that
	// work, or nil when there is none.
	settle(timeout time.Duration) []time.Duration
	// traffic returns the messages and bytes the nodes have sent so far.
	traffic() (msgs, bytes uint64)
	close()
}

// newHost returns a libp2p host on a fresh 127.0.0.1 TCP port with the libp2p defaults
// the node also uses (TLS preferred over Noise, yamux), without relay. Every system runs
// on hosts built here.
func newHost(opts ...libp2p.Option) (host.Host, error) {
	return libp2p.New(append([]libp2p.Option{libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay()}, opts...)...)
}

// result is what one run measured.
type result struct {
	system, mode string
	nodes        int
	// latency[k] is the time from item k's submission until the last node held it; -1
	// when some node never got it before the timeout.
	latency   []time.Duration
	delivered int // items held by every node
	// pairs is how many (item, node) pairs travelled over the network and arrived: every
	// node holding an item except its origin.
	pairs int
	// stored[k], for our system only, is the time until the last node committed item k to
	// its bbolt file (-1: some node did not before the timeout).
	stored   []time.Duration
	messages uint64
	bytes    uint64
	// cpu is the process's CPU time (user and system) from the first submission until
	// every node held every item and settled (for ours: committed it): the work the run
	// cost. wall is that window's length.
	cpu, wall time.Duration
	// The machine during the window: the 1-minute load average at its start and end, and
	// the CPU other processes used, in cores (CPU seconds per second), over the window
	// extended to scenario.probe.
	loadBefore, loadAfter, otherCores float64
}

// expected is the number of (item, node) pairs a run must deliver.
func (r result) expected() int { return len(r.latency) * (r.nodes - 1) }

// deliveryRatio is the fraction of the expected (item, node) pairs that arrived.
func (r result) deliveryRatio() float64 { return float64(r.pairs) / float64(r.expected()) }

// cpuPerItem is the CPU milliseconds per delivered (item, node) pair.
func (r result) cpuPerItem() float64 {
	return float64(r.cpu) / float64(time.Millisecond) / float64(max(r.pairs, 1))
}

// bytesPerItem is the bytes sent per delivered (item, node) pair.
func (r result) bytesPerItem() float64 { return float64(r.bytes) / float64(max(r.pairs, 1)) }

// percentile returns the q-quantile (0 ≤ q ≤ 1) of the delivered items' latencies, or
// +Inf when q falls among the undelivered ones.
func (r result) percentile(q float64) float64 { return percentile(r.latency, q) }

// percentile returns the q-quantile of latencies in milliseconds, counting -1 as +Inf.
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

func (r result) String() string {
	s := fmt.Sprintf("N=%d %s %s: delivered %d/%d items (%d/%d pairs), p50 %.1f ms, p99 %.1f ms, max %.1f ms, %.4f CPU ms and %.0f bytes per delivered item, load %.2f→%.2f, other processes %.2f cores",
		r.nodes, r.system, r.mode, r.delivered, len(r.latency), r.pairs, r.expected(), r.percentile(0.5), r.percentile(0.99), r.percentile(1),
		r.cpuPerItem(), r.bytesPerItem(), r.loadBefore, r.loadAfter, r.otherCores)
	if r.stored != nil {
		s += fmt.Sprintf("; committed everywhere: p50 %.1f ms, p99 %.1f ms", percentile(r.stored, 0.5), percentile(r.stored, 0.99))
	}
	return s
}

// runOnce builds sys on s, measures one run and tears it down. When profile is not
// empty, the CPU profile of the measured window is written there.
func runOnce(sys system, s scenario, profile string) (result, error) {
	res := result{system: sys.name, mode: modeName(s.burst), nodes: s.nodes}
	tr := newTracker(len(s.items), s.nodes)
	tb, err := sys.start(s, tr)
	if err != nil {
		return res, err
	}
	defer tb.close()
	runtime.GC() // the previous run's garbage is not this run's work

	msgs0, bytes0 := tb.traffic()
	stop, err := startProfile(profile)
	if err != nil {
		return res, err
	}
	m0 := sampleMachine()
	drive(s, func(k int) {
		tr.submitted(k)
		if err := tb.submit(k); err != nil {
			log("%s: submit %d: %v", sys.name, k, err)
		}
	})
	res.latency, res.delivered, res.pairs = tr.wait(s.timeout)
	res.stored = tb.settle(s.timeout)
	m1 := sampleMachine()
	if err := stop(); err != nil {
		return res, err
	}
	res.cpu, res.wall = m1.cpu-m0.cpu, m1.at.Sub(m0.at)

	// Count stragglers' traffic too, and let the other processes' CPU be measured over
	// at least s.probe: /proc counts in 10 ms ticks, too coarse for a short burst.
	time.Sleep(max(300*time.Millisecond, time.Until(m0.at.Add(s.probe))))
	m2 := sampleMachine()
	res.loadBefore, res.loadAfter, res.otherCores = m0.load1, m2.load1, otherCores(m0, m2)
	msgs1, bytes1 := tb.traffic()
	res.messages, res.bytes = msgs1-msgs0, bytes1-bytes0
	return res, nil
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
// latencies, the number of items every node holds and the number of (item, node) pairs
// held beyond the items' origins.
func (t *tracker) wait(timeout time.Duration) (lat []time.Duration, full, pairs int) {
	select {
	case <-t.done:
	case <-time.After(timeout):
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	lat = make([]time.Duration, len(t.start))
	for k := range lat {
		pairs += max(t.count[k]-1, 0)
		if t.count[k] >= t.nodes {
			lat[k] = t.last[k].Sub(t.start[k])
			full++
		} else {
			lat[k] = -1
		}
	}
	return lat, full, pairs
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

func meanSize(items [][]byte) float64 {
	total := 0
	for _, it := range items {
		total += len(it)
	}
	return float64(total) / float64(len(items))
}
