package inventory

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes an engine's counters and its store's pool sizes. It reads them at
// scrape time, so the gossip path keeps only atomic counters.
type collector struct {
	e *Engine

	items, stored, received, unsolicited, pushed, entries, messagesOut, duplicates, iced, submitted *prometheus.Desc
}

func newCollector(e *Engine) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("witnet_inventory_"+name, help, labels, nil)
	}
	return &collector{
		e:           e,
		items:       d("items", "Items held in the store, by kind.", "kind"),
		stored:      d("items_stored_total", "New items stored, by kind.", "kind"),
		received:    d("items_received_total", "Items received from peers, by outcome: new (stored and gossiped), duplicate, invalid.", "result"),
		unsolicited: d("items_unsolicited_total", "Items received from a peer they were not requested from (pushed)."),
		pushed:      d("items_pushed_total", "Items sent to a peer in full without a request: submitted items, superblock votes."),
		entries:     d("entries_total", "Inventory entries announced and requested, by message and direction.", "message", "dir"),
		messagesOut: d("announcements_sent_total", "InventoryAnnouncement messages sent."),
		duplicates:  d("duplicates_suppressed_total", "Duplicates suppressed: items received again, announced entries not requested.", "stage"),
		iced:        d("peers_iced_total", "Peers iced and dropped for not delivering announced items."),
		submitted:   d("items_submitted_total", "New items submitted locally."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.items, c.stored, c.received, c.unsolicited, c.pushed, c.entries, c.messagesOut, c.duplicates, c.iced, c.submitted} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	gauge := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	for _, k := range itemKinds {
		gauge(c.items, uint64(c.e.store.Count(k)), kindLabel(k))
		counter(c.stored, s.Stored[kindLabel(k)], kindLabel(k))
	}
	counter(c.received, s.ReceivedNew, "new")
	counter(c.received, s.Duplicates, "duplicate")
	counter(c.received, s.Invalid, "invalid")
	counter(c.unsolicited, s.Unsolicited)
	counter(c.pushed, s.PushedOut)
	counter(c.entries, s.AnnouncedIn, "announcement", "in")
	counter(c.entries, s.AnnouncedOut, "announcement", "out")
	counter(c.entries, s.RequestedIn, "request", "in")
	counter(c.entries, s.RequestedOut, "request", "out")
	counter(c.messagesOut, s.AnnouncementsOut)
	counter(c.duplicates, s.Duplicates, "item")
	counter(c.duplicates, s.DuplicateAnnouncements, "announcement")
	counter(c.iced, s.Iced)
	counter(c.submitted, s.Submitted)
}
