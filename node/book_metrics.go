package node

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
)

// Address book metrics, read from peers.Book.Stats at each scrape.
var (
	bookDroppedDesc = prometheus.NewDesc(metricNamespace+"_book_addrs_dropped_total",
		"Addresses heard from peers and dropped: out_of_scope (refused by the address policy), rate_limited (over the peer's token bucket), not_self (a sender address naming another peer).",
		[]string{"reason"}, nil)
	bookIceEvictedDesc = prometheus.NewDesc(metricNamespace+"_book_ice_evicted_total",
		"Ice records evicted by the bounds of the ice bucket.", nil, nil)
	bookEscalationsDesc = prometheus.NewDesc(metricNamespace+"_book_escalations_total",
		"Network prefixes iced because too many peers were iced from them.", nil, nil)
	bookIceBytesDesc = prometheus.NewDesc(metricNamespace+"_book_ice_bytes",
		"Stored bytes of the ice bucket.", nil, nil)
	bookIcedNetsDesc = prometheus.NewDesc(metricNamespace+"_book_iced_nets",
		"Network prefixes iced by escalation (expired ones until the next melt round).", nil, nil)
)

// bookCollector exports the address book's counters.
type bookCollector struct{ book *peers.Book }

// Describe implements prometheus.Collector.
func (bookCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{bookDroppedDesc, bookIceEvictedDesc, bookEscalationsDesc, bookIceBytesDesc, bookIcedNetsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c bookCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.book.Stats()
	for reason, v := range map[string]uint64{"out_of_scope": st.OutOfScope, "rate_limited": st.RateLimited, "not_self": st.NotSelf} {
		ch <- prometheus.MustNewConstMetric(bookDroppedDesc, prometheus.CounterValue, float64(v), reason)
	}
	ch <- prometheus.MustNewConstMetric(bookIceEvictedDesc, prometheus.CounterValue, float64(st.IceEvicted))
	ch <- prometheus.MustNewConstMetric(bookEscalationsDesc, prometheus.CounterValue, float64(st.Escalations))
	ch <- prometheus.MustNewConstMetric(bookIceBytesDesc, prometheus.GaugeValue, float64(c.book.IceBytes()))
	ch <- prometheus.MustNewConstMetric(bookIcedNetsDesc, prometheus.GaugeValue, float64(len(c.book.IcedNets())))
}
