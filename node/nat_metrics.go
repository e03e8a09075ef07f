package node

import (
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	pbv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/pb"
	"github.com/prometheus/client_golang/prometheus"
)

// relayStatus is the status a relay answers a request with.
type relayStatus = pbv2.Status

const relayOK = pbv2.Status_OK

// natMetrics are the node's NAT-traversal metrics; libp2p's own (AutoNAT, relay service
// and client, hole punching) sit beside them when libp2p metrics are on.
type natMetrics struct {
	reachability  *prometheus.GaugeVec
	reservations  prometheus.Gauge
	holePunches   *prometheus.CounterVec
	relayedDials  *prometheus.CounterVec
	directWait    prometheus.Histogram
	relayRefusals *prometheus.CounterVec
}

func newNATMetrics() *natMetrics {
	m := &natMetrics{
		reachability: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: metricNamespace, Name: "nat_reachability",
			Help: "1 for the node's current reachability (public, private, unknown) as AutoNAT found it, 0 for the others.",
		}, []string{"reachability"}),
		reservations: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: metricNamespace, Name: "nat_relay_reservations",
			Help: "Relays the node holds a reservation with (a private node is reachable through them).",
		}),
		holePunches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "nat_hole_punches_total",
			Help: "Hole punches that ended, by side (initiator: the peer that got the relayed connection, counted once for all its attempts; receiver: counted per attempt) and result (direct, failed).",
		}, []string{"side", "result"}),
		relayedDials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "nat_relayed_dials_total",
			Help: "Session dials to peers reachable only through a relay, by result: direct (a direct connection came and the session runs on it), no_direct (none came in time), not_ready (we have no public address to punch from yet), failed (the relay could not reach the peer).",
		}, []string{"result"}),
		directWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metricNamespace, Name: "nat_direct_connection_seconds",
			Help:    "Time from a relayed connection to the direct connection hole punching made, for session dials.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30},
		}),
		relayRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricNamespace, Name: "nat_relay_refusals_total",
			Help: "Requests the relay service refused, by request (reservation, circuit) and status (reservation_refused, resource_limit_exceeded, permission_denied, no_reservation, ...).",
		}, []string{"request", "status"}),
	}
	for _, side := range []string{"initiator", "receiver"} {
		for _, r := range []string{"direct", "failed"} {
			m.holePunches.WithLabelValues(side, r)
		}
	}
	for _, r := range []string{"direct", "no_direct", "not_ready", "failed"} {
		m.relayedDials.WithLabelValues(r)
	}
	// The refusals the relay's limits produce (relayed connections also fail for reasons
	// of the destination's, which appear once they happen).
	for request, statuses := range map[string][]relayStatus{
		"reservation": {pbv2.Status_RESERVATION_REFUSED, pbv2.Status_RESOURCE_LIMIT_EXCEEDED, pbv2.Status_PERMISSION_DENIED},
		"circuit":     {pbv2.Status_NO_RESERVATION, pbv2.Status_RESOURCE_LIMIT_EXCEEDED, pbv2.Status_PERMISSION_DENIED},
	} {
		for _, st := range statuses {
			m.relayRefusals.WithLabelValues(request, strings.ToLower(st.String()))
		}
	}
	return m
}

// setReachability sets the reachability gauge.
func (m *natMetrics) setReachability(r network.Reachability) {
	for _, name := range []string{ReachabilityPublic, ReachabilityPrivate, ReachabilityUnknown} {
		v := 0.0
		if name == reachabilityName(r) {
			v = 1
		}
		m.reachability.WithLabelValues(name).Set(v)
	}
}

// descConns describes the scrape-time count of libp2p connections by kind.
var descConns = prometheus.NewDesc(metricNamespace+"_nat_connections",
	"Open libp2p connections by kind: direct, or relayed (limited, through a relay; they carry hole punching, never a session).",
	[]string{"kind"}, nil)

// natCollector is the NAT state seen as a collector of its metrics and of the scrape-time
// connection counts.
type natCollector natState

var _ prometheus.Collector = (*natCollector)(nil)

// Describe sends every description.
func (c *natCollector) Describe(ch chan<- *prometheus.Desc) {
	m := c.metrics
	m.reachability.Describe(ch)
	m.reservations.Describe(ch)
	m.holePunches.Describe(ch)
	m.relayedDials.Describe(ch)
	m.directWait.Describe(ch)
	m.relayRefusals.Describe(ch)
	ch <- descConns
}

// Collect sends the metrics, counting the host's connections now.
func (c *natCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.metrics
	m.reachability.Collect(ch)
	m.reservations.Collect(ch)
	m.holePunches.Collect(ch)
	m.relayedDials.Collect(ch)
	m.directWait.Collect(ch)
	m.relayRefusals.Collect(ch)
	var direct, relayed int
	if h := (*natState)(c).getHost(); h != nil {
		for _, conn := range h.Network().Conns() {
			if conn.Stat().Limited || isRelayed(conn.RemoteMultiaddr()) {
				relayed++
			} else {
				direct++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(direct), "direct")
	ch <- prometheus.MustNewConstMetric(descConns, prometheus.GaugeValue, float64(relayed), "relayed")
}

// throttleEvery is the least time between two log lines of one throttled kind.
const throttleEvery = 10 * time.Second

// throttle lets one event in per throttleEvery and counts the others.
type throttle struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// allow reports whether to log now, and how many events were held back since the last
// time it said yes.
func (t *throttle) allow() (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	if !t.last.IsZero() && now.Sub(t.last) < throttleEvery {
		t.suppressed++
		return 0, false
	}
	n := t.suppressed
	t.last, t.suppressed = now, 0
	return n, true
}
