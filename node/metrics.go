package node

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/witnet-p2p/witnet-p2p/node/hostlimits"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Metric names are prefixed with this namespace.
const metricNamespace = "witnet"

// traffic accumulates the message counters of the node's sessions, per transport: those
// of ended sessions are added up, those of live ones are read when asked. A session moves
// from live to ended under the same lock, with its final counters, so totals never go
// down.
type traffic struct {
	mu    sync.Mutex
	live  map[*session.Session]struct{}
	ended [session.NumTransports]session.Stats
}

func newTraffic() *traffic { return &traffic{live: map[*session.Session]struct{}{}} }

// add starts following s; it reports false if s is already followed.
func (t *traffic) add(s *session.Session) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[s]; ok {
		return false
	}
	t.live[s] = struct{}{}
	return true
}

// end moves s's final counters to the ended totals.
func (t *traffic) end(s *session.Session) {
	st := s.Stats()
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.live[s]; !ok {
		return
	}
	delete(t.live, s)
	addStats(&t.ended[s.Peer().Transport], &st)
}

// closeAll closes every live session.
func (t *traffic) closeAll() {
	t.mu.Lock()
	live := make([]*session.Session, 0, len(t.live))
	for s := range t.live {
		live = append(live, s)
	}
	t.mu.Unlock()
	for _, s := range live {
		s.Close(nil)
	}
}

// total returns the counters of every session, ended and live.
func (t *traffic) total() session.Stats {
	var sum session.Stats
	for _, st := range t.byTransport() {
		addStats(&sum, &st)
	}
	return sum
}

// byTransport returns the counters of every session, ended and live, per transport.
func (t *traffic) byTransport() [session.NumTransports]session.Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	sums := t.ended
	for s := range t.live {
		st := s.Stats()
		addStats(&sums[s.Peer().Transport], &st)
	}
	return sums
}

func addStats(dst, src *session.Stats) {
	for k := range dst.MessagesIn {
		dst.MessagesIn[k] += src.MessagesIn[k]
		dst.MessagesOut[k] += src.MessagesOut[k]
		dst.BytesIn[k] += src.BytesIn[k]
		dst.BytesOut[k] += src.BytesOut[k]
		dst.Unexpected[k] += src.Unexpected[k]
	}
}

// metrics are the node's Prometheus metrics. Gauges and traffic counters are computed
// when scraped, from the manager, the book and the traffic; events are counted as they
// happen.
type metrics struct {
	handshakeFailures *prometheus.CounterVec
	sessionsClosed    *prometheus.CounterVec
	blockBatches      *prometheus.CounterVec
	batchBlocks       prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "handshake_failures_total",
			Help: "Sessions that ended before their handshake completed, by session type, reason and transport (libp2p, tcp).",
		}, []string{"type", "reason", "transport"}),
		sessionsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "sessions_closed_total",
			Help: "Sessions that ended, by session type, reason and transport (libp2p, tcp).",
		}, []string{"type", "reason", "transport"}),
		blockBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "block_batches_total",
			Help: "Block downloads (the blocks requested from one InventoryAnnouncement) that ended, by result: complete, or aborted when the session ended first.",
		}, []string{"result"}),
		batchBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "block_batch_blocks_total",
			Help: "Blocks received in completed block downloads.",
		}),
	}
	// Every known label value is exported from the start, at 0, so that a dashboard's rate
	// or increase has a series to work on before the first event.
	for tr := range session.Transport(session.NumTransports) {
		for _, t := range []session.Type{session.Inbound, session.Outbound, session.Feeler} {
			for _, r := range session.Reasons() {
				m.sessionsClosed.WithLabelValues(t.String(), r.Label(), tr.String())
				if r != session.ReasonFeelerDone {
					m.handshakeFailures.WithLabelValues(t.String(), r.Label(), tr.String())
				}
			}
		}
	}
	for _, result := range []string{batchComplete, batchAborted} {
		m.blockBatches.WithLabelValues(result)
	}
	return m
}

// Results of witnet_block_batches_total.
const (
	batchComplete = "complete"
	batchAborted  = "aborted"
)

// Descriptions of the metrics computed at scrape time.
var (
	descSessions = prometheus.NewDesc(metricNamespace+"_sessions",
		"Live sessions by type (inbound, outbound, feeler), status (unconsolidated, consolidated) and transport (libp2p, tcp).",
		[]string{"type", "status", "transport"}, nil)
	descMessages = prometheus.NewDesc(metricNamespace+"_messages_total",
		"Witnet messages received (in) and sent (out), by command kind and transport; kind None counts frames that did not decode.",
		[]string{"direction", "kind", "transport"}, nil)
	descBytes = prometheus.NewDesc(metricNamespace+"_message_bytes_total",
		"Bytes of Witnet frames received (in) and sent (out), 4-byte length prefix included, by command kind and transport.",
		[]string{"direction", "kind", "transport"}, nil)
	descUnexpected = prometheus.NewDesc(metricNamespace+"_messages_unexpected_total",
		"Received messages ignored because their kind was not valid in the session's state, by kind and transport.",
		[]string{"kind", "transport"}, nil)
	descBook = prometheus.NewDesc(metricNamespace+"_address_book_peers",
		"Address-book entries by bucket (new, tried, ice).",
		[]string{"bucket"}, nil)
	descUptime = prometheus.NewDesc(metricNamespace+"_uptime_seconds",
		"Seconds since the node started.", nil, nil)
	descBudgetFrames = prometheus.NewDesc(metricNamespace+"_receive_budget_delayed_frames_total",
		"Received frames a consolidated session held back for the node-wide receive budget (peers together sent more than it allows).", nil, nil)
	descBudgetDelay = prometheus.NewDesc(metricNamespace+"_receive_budget_delay_seconds_total",
		"Total time sessions waited for the node-wide receive budget.", nil, nil)
	descEvictions = prometheus.NewDesc(metricNamespace+"_inbound_evictions_total",
		"Inbound sessions evicted to make room for a newcomer when every inbound slot was taken.", nil, nil)
	descHandshakes = prometheus.NewDesc(metricNamespace+"_inbound_handshakes",
		"Inbound libp2p connections still in their security and muxer upgrade.", nil, nil)
	descHandshakeRefusals = prometheus.NewDesc(metricNamespace+"_inbound_handshake_refusals_total",
		"Inbound libp2p connections refused by the per-address caps on connections still in their upgrade.", nil, nil)
)

// collector is the node seen as a prometheus.Collector of its scrape-time metrics.
type collector Node

var _ prometheus.Collector = (*collector)(nil)

// Describe sends the descriptions of the scrape-time metrics.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descMessages, descBytes, descUnexpected, descBook, descUptime, descBudgetFrames, descBudgetDelay,
		descEvictions, descHandshakes, descHandshakeRefusals} {
		ch <- d
	}
}

// Collect computes the scrape-time metrics.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	n := (*Node)(c)
	gauge := func(v int, labels ...string) {
		ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(v), labels...)
	}
	byTransport := n.traffic.byTransport()
	for tr := range session.Transport(session.NumTransports) {
		counts, label := n.mgr.NumSessionsOf(tr), tr.String()
		gauge(counts.InboundUnconsolidated, "inbound", "unconsolidated", label)
		gauge(counts.InboundConsolidated, "inbound", "consolidated", label)
		gauge(counts.OutboundUnconsolidated, "outbound", "unconsolidated", label)
		gauge(counts.OutboundConsolidated, "outbound", "consolidated", label)
		st := &byTransport[tr]
		for k := protocol.Kind(0); k < protocol.NumKinds; k++ {
			kind := k.String()
			ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, float64(st.MessagesIn[k]), "in", kind, label)
			ch <- prometheus.MustNewConstMetric(descMessages, prometheus.CounterValue, float64(st.MessagesOut[k]), "out", kind, label)
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.BytesIn[k]), "in", kind, label)
			ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(st.BytesOut[k]), "out", kind, label)
			ch <- prometheus.MustNewConstMetric(descUnexpected, prometheus.CounterValue, float64(st.Unexpected[k]), kind, label)
		}
	}
	gauge(n.dialer.Feelers(), "feeler", "unconsolidated", session.TransportLibp2p.String())

	newN, triedN, iceN := n.book.Counts()
	ch <- prometheus.MustNewConstMetric(descBook, prometheus.GaugeValue, float64(newN), "new")
	ch <- prometheus.MustNewConstMetric(descBook, prometheus.GaugeValue, float64(triedN), "tried")
	ch <- prometheus.MustNewConstMetric(descBook, prometheus.GaugeValue, float64(iceN), "ice")

	ch <- prometheus.MustNewConstMetric(descUptime, prometheus.GaugeValue, time.Since(n.started).Seconds())

	var frames uint64
	var delay time.Duration
	if n.recvBudget != nil {
		frames, delay = n.recvBudget.Delayed()
	}
	ch <- prometheus.MustNewConstMetric(descBudgetFrames, prometheus.CounterValue, float64(frames))
	ch <- prometheus.MustNewConstMetric(descBudgetDelay, prometheus.CounterValue, delay.Seconds())

	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(n.mgr.Evictions()))
	var inUpgrade int
	var refusals int64
	if rm, ok := n.host.Network().ResourceManager().(*hostlimits.ResourceManager); ok {
		inUpgrade, refusals = rm.InboundHandshakes(), rm.HandshakeRefusals()
	}
	ch <- prometheus.MustNewConstMetric(descHandshakes, prometheus.GaugeValue, float64(inUpgrade))
	ch <- prometheus.MustNewConstMetric(descHandshakeRefusals, prometheus.CounterValue, float64(refusals))
}

// newRegistry returns the node's registry with the Go runtime and process collectors,
// the event counters of m and the scrape-time collector of n. The dialer and the inventory
// register their own metrics in it.
func newRegistry(n *Node, m *metrics) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.handshakeFailures, m.sessionsClosed, m.blockBatches, m.batchBlocks,
		(*collector)(n),
	)
	return reg
}
