package inventory

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// counters are the engine's statistics (see Stats).
type counters struct {
	announcedIn, announcedOut, announcementsOut atomic.Uint64
	requestedIn, requestedOut                   atomic.Uint64
	pushedOut                                   atomic.Uint64
	received, receivedNew, duplicates           atomic.Uint64
	unsolicited, invalid                        atomic.Uint64
	dupAnnouncements                            atomic.Uint64
	announcedIgnored, announcementOverflows     atomic.Uint64
	unsolicitedDropped, unsolicitedOverBudget   atomic.Uint64
	votesRefused, relayDropped                  atomic.Uint64
	submitted, iced                             atomic.Uint64
	stored                                      [protocol.NumKinds]atomic.Uint64
}

// Stats is a snapshot of an engine's counters. Entry counts count inventory entries,
// not messages.
type Stats struct {
	// AnnouncedIn counts announced entries received; AnnouncedOut entries sent.
	AnnouncedIn, AnnouncedOut uint64
	// AnnouncementsOut counts InventoryAnnouncement messages sent.
	AnnouncementsOut uint64
	// RequestedIn counts requested entries received (served or not); RequestedOut entries
	// requested from peers.
	RequestedIn, RequestedOut uint64
	// PushedOut counts items sent in full without a request: submitted items (see
	// Config.PushMaxSize) and superblock votes.
	PushedOut uint64
	// Received counts items received from peers, whatever became of them.
	Received uint64
	// ReceivedNew counts received items that were new (stored and gossiped).
	ReceivedNew uint64
	// Duplicates counts received items that were already known (dropped, not gossiped).
	Duplicates uint64
	// DuplicateAnnouncements counts announced entries not requested because the item was
	// known or already requested from another peer.
	DuplicateAnnouncements uint64
	// AnnouncedIgnored counts announced entries not tracked because the peer, or all
	// peers together, had as many tracked as the engine's bounds allow.
	AnnouncedIgnored uint64
	// AnnouncementOverflows counts announcements that brought a peer beyond its bound
	// (scored as session.OffenceAnnouncementOverflow).
	AnnouncementOverflows uint64
	// Unsolicited counts received items that were not requested from that peer: pushes
	// (a neighbour's own submitted items, votes) and anything else sent unasked.
	Unsolicited uint64
	// UnsolicitedDropped counts unsolicited items dropped because all peers together
	// exceeded the node's budget (Config.UnsolicitedRate).
	UnsolicitedDropped uint64
	// UnsolicitedOverBudget counts unsolicited items beyond their peer's budget (each
	// ends the peer's session).
	UnsolicitedOverBudget uint64
	// VotesRefused counts superblock votes dropped because their index had
	// StoreConfig.MaxVotesPerIndex votes.
	VotesRefused uint64
	// RelayDropped counts items not relayed to a session that takes them only in full
	// (a witnet-rust peer) because a burst queued more than it may be pushed at once.
	RelayDropped uint64
	// Invalid counts received items that could not be hashed or were too large.
	Invalid uint64
	// Submitted counts new items submitted locally.
	Submitted uint64
	// Stored counts new items stored, by kind.
	Stored map[string]uint64
	// Iced counts peers iced and dropped for not delivering.
	Iced uint64
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{
		AnnouncedIn: c.announcedIn.Load(), AnnouncedOut: c.announcedOut.Load(),
		AnnouncementsOut: c.announcementsOut.Load(),
		RequestedIn:      c.requestedIn.Load(), RequestedOut: c.requestedOut.Load(),
		PushedOut: c.pushedOut.Load(), Received: c.received.Load(), ReceivedNew: c.receivedNew.Load(), Duplicates: c.duplicates.Load(),
		DuplicateAnnouncements: c.dupAnnouncements.Load(), Unsolicited: c.unsolicited.Load(),
		AnnouncedIgnored: c.announcedIgnored.Load(), AnnouncementOverflows: c.announcementOverflows.Load(),
		UnsolicitedDropped: c.unsolicitedDropped.Load(), UnsolicitedOverBudget: c.unsolicitedOverBudget.Load(),
		VotesRefused: c.votesRefused.Load(),
		Invalid:      c.invalid.Load(), Submitted: c.submitted.Load(), Iced: c.iced.Load(),
		Stored: make(map[string]uint64, len(itemKinds)),
	}
	s.RelayDropped = c.relayDropped.Load()
	for _, k := range itemKinds {
		s.Stored[kindLabel(k)] = c.stored[k].Load()
	}
	return s
}

// collector exposes an engine's counters and its store's pool sizes. It reads them at
// scrape time, so the gossip path keeps only atomic counters.
type collector struct {
	e *Engine

	items, stored, received, unsolicited, pushed, entries, messagesOut, duplicates, iced, submitted *prometheus.Desc
	bytes, refused                                                                                  *prometheus.Desc
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
		entries:     d("entries_total", "Inventory entries announced and requested, by message and direction.", "message", "direction"),
		messagesOut: d("announcements_sent_total", "InventoryAnnouncement messages sent."),
		duplicates:  d("duplicates_suppressed_total", "Duplicates suppressed: items received again, announced entries not requested.", "stage"),
		iced:        d("peers_iced_total", "Peers iced and dropped for not delivering announced items."),
		submitted:   d("items_submitted_total", "New items submitted locally."),
		bytes:       d("item_bytes", "Bytes of item encodings held in the store, by kind.", "kind"),
		refused:     d("refused_total", "Announced entries and items refused by the bounds, by bound.", "bound"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.items, c.stored, c.received, c.unsolicited, c.pushed, c.entries, c.messagesOut, c.duplicates, c.iced, c.submitted, c.bytes, c.refused} {
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
		gauge(c.bytes, uint64(c.e.store.Bytes(k)), kindLabel(k))
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
	counter(c.refused, s.AnnouncedIgnored, "announcements_tracked")
	counter(c.refused, s.UnsolicitedOverBudget, "unsolicited_peer")
	counter(c.refused, s.UnsolicitedDropped, "unsolicited_node")
	counter(c.refused, s.VotesRefused, "votes_per_index")
	counter(c.refused, s.RelayDropped, "full_pushes_per_flush")
}
