//go:build linux

package natlab

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EnvMeasure names the environment variable that turns the measurement on: the number of
// private pairs to try per transport.
const EnvMeasure = "WITNET_NATLAB_MEASURE"

// tryTimeout bounds one try: a pair without a direct session by then failed.
const tryTimeout = 60 * time.Second

// tryResult is what one private pair did.
type tryResult struct {
	direct     bool
	sinceStart time.Duration // from the dialling node's start to the consolidated session
	punch      time.Duration // from its relayed connection to the direct one
	relayBytes float64       // bytes the relays carried for the pair
	transport  string        // of the direct connection, as the dialled node saw it
}

// TestNATLabMeasure measures hole punching in the lab: for each transport, it starts
// fresh pairs of nodes behind port-preserving NATs, one dialling the other's relay
// address, and records whether they end with a direct session, how long it took and how
// many bytes the relays carried. WITNET_NATLAB_MEASURE=N tries N pairs per transport;
// WITNET_NATLAB_TRANSPORTS=tcp (or udp) limits it to one.
func TestNATLabMeasure(t *testing.T) {
	Require(t)
	tries, _ := strconv.Atoi(os.Getenv(EnvMeasure))
	if tries <= 0 {
		t.Skipf("measurement off: set %s to the number of tries per transport", EnvMeasure)
	}
	w := startWorld(t)
	var report strings.Builder
	transports := []string{"tcp", "udp"}
	if v := os.Getenv("WITNET_NATLAB_TRANSPORTS"); v != "" {
		transports = strings.Split(v, ",")
	}
	for _, transport := range transports {
		var results []tryResult
		for i := range tries {
			r := w.try(t, transport, i)
			t.Logf("%s try %d: direct=%v start->session=%v punch=%v relay_bytes=%.0f over=%s",
				transport, i, r.direct, r.sinceStart.Round(time.Millisecond), r.punch.Round(time.Millisecond), r.relayBytes, r.transport)
			results = append(results, r)
		}
		report.WriteString(summarize(transport, results))
	}
	t.Log("\n" + report.String())
}

// try runs one pair over transport ("tcp" or "udp").
func (w *world) try(t *testing.T, transport string, i int) tryResult {
	name := fmt.Sprintf("%s%d", transport[:1], i)
	b, _ := w.startPrivate(name+"b", false, transport, dialled)
	bRelay := w.waitRelayAddr(b, transport)
	before := w.relayBytes(t)
	start := time.Now()
	a, _ := w.startPrivate(name+"a", false, transport, nil, bRelay)
	defer a.Stop()
	defer b.Stop()
	var r tryResult
	deadline := time.NewTimer(tryTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !r.direct {
		select {
		case <-deadline.C:
			return r
		case <-tick.C:
			r.direct, _ = session(a, b)
		}
	}
	r.sinceStart = time.Since(start)
	if s, err := a.Metric("witnet_nat_direct_connection_seconds_sum"); err == nil {
		r.punch = time.Duration(s * float64(time.Second))
	}
	// The dialling node closes its relayed connection once the session runs; the relays'
	// count is final then.
	w.l.Eventually(10*time.Second, "relayed connection closed", func() (bool, string) {
		v, err := a.Metric("witnet_nat_connections", `kind="relayed"`)
		return err == nil && v == 0, fmt.Sprint(v, err)
	})
	r.relayBytes = w.relayBytes(t) - before
	if ps, err := b.Peers(); err == nil {
		for _, p := range ps {
			if strings.HasSuffix(p.Address, a.ID) {
				r.transport = strings.Split(strings.TrimPrefix(p.Address, "/ip4/"), "/")[1]
			}
		}
	}
	return r
}

// relayBytes sums the bytes the public nodes' relay services carried.
func (w *world) relayBytes(t *testing.T) float64 {
	sum := 0.0
	for _, p := range w.pubs {
		v, err := p.Metric("libp2p_relaysvc_data_transferred_bytes_total")
		if err != nil {
			continue // no byte relayed yet: the counter has no sample
		}
		sum += v
	}
	return sum
}

// summarize formats the results of one transport as a Markdown table row.
func summarize(transport string, rs []tryResult) string {
	var starts, punches []time.Duration
	bytes := 0.0
	for _, r := range rs {
		if r.direct {
			starts = append(starts, r.sinceStart)
			punches = append(punches, r.punch)
			bytes += r.relayBytes
		}
	}
	ok := len(starts)
	perSuccess := 0.0
	if ok > 0 {
		perSuccess = bytes / float64(ok)
	}
	return fmt.Sprintf("| %s | %d/%d (%.0f %%) | %v / %v | %v / %v | %.0f |\n", transport, ok, len(rs), 100*float64(ok)/float64(len(rs)),
		quantile(starts, 0.5), quantile(starts, 0.99), quantile(punches, 0.5), quantile(punches, 0.99), perSuccess)
}

// quantile returns the nearest-rank q-quantile of ds, rounded to the millisecond.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.999999) - 1
	i = max(0, min(i, len(s)-1))
	return s[i].Round(time.Millisecond)
}
