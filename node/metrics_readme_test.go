package node

import (
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/session"
)

// readmeMetrics returns the witnet_* metrics the README documents (the metrics table and
// the inventory section), each with the label names its table row gives.
func readmeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	out := map[string][]string{}
	row := regexp.MustCompile("^\\| `(witnet_[a-z_]+)` \\|([^|]*)\\|")
	label := regexp.MustCompile("`([a-z_]+)`")
	for _, line := range strings.Split(string(data), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			var labels []string
			for _, l := range label.FindAllStringSubmatch(m[2], -1) {
				labels = append(labels, l[1])
			}
			out[m[1]] = labels
		}
	}
	// The inventory section names its metrics in a sentence.
	for _, m := range regexp.MustCompile("`(witnet_inventory_[a-z_]+)`").FindAllStringSubmatch(string(data), -1) {
		if _, ok := out[m[1]]; !ok {
			out[m[1]] = nil
		}
	}
	require.NotEmpty(t, out)
	for _, r := range session.Reasons() {
		require.Contains(t, string(data), "`"+r.Label()+"`", "the README lists every reason label")
	}
	return out
}

// TestMetricsMatchREADME scrapes /metrics of a fresh node: every witnet_* series the
// README documents is there (counters at 0 for their known label values, before any
// event), with the documented label names; every witnet_* metric served is documented;
// label values are snake_case identifiers.
func TestMetricsMatchREADME(t *testing.T) {
	n := startNode(t, t.TempDir(), WithRPCAddr("127.0.0.1:0"))
	resp, err := http.Get("http://" + n.RPCAddr().String() + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)

	documented := readmeMetrics(t)
	for name, labels := range documented {
		f, ok := families[name]
		require.True(t, ok, "README documents %s, a fresh node does not serve it", name)
		require.NotEmpty(t, f.GetMetric(), name)
		for _, m := range f.GetMetric() {
			var got []string
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetName())
			}
			if labels != nil || !strings.HasPrefix(name, "witnet_inventory_") {
				require.ElementsMatch(t, labels, got, "label names of %s", name)
			}
		}
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for name, f := range families {
		if !strings.HasPrefix(name, "witnet_") {
			continue
		}
		_, ok := documented[name]
		require.True(t, ok, "%s is served but not in the README", name)
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "kind" {
					continue // Witnet command names (Version, LastBeacon), as the protocol spells them
				}
				require.Regexp(t, snake, lp.GetValue(), "%s{%s}", name, lp.GetName())
			}
		}
	}

	// Counters of events that have not happened yet exist at 0.
	zero := func(name string, labels map[string]string) {
		t.Helper()
		f := families[name]
		require.NotNil(t, f, name)
		i := slices.IndexFunc(f.GetMetric(), func(m *dto.Metric) bool {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					return false
				}
			}
			return true
		})
		require.GreaterOrEqual(t, i, 0, "%s%v missing", name, labels)
		require.Zero(t, f.GetMetric()[i].GetCounter().GetValue())
	}
	for _, tr := range []string{"libp2p", "tcp"} {
		for _, r := range session.Reasons() {
			zero("witnet_sessions_closed_total", map[string]string{"type": "outbound", "reason": r.Label(), "transport": tr})
		}
		zero("witnet_sessions_closed_total", map[string]string{"type": "feeler", "reason": "feeler_done", "transport": tr})
		zero("witnet_handshake_failures_total", map[string]string{"type": "inbound", "reason": "handshake_timeout", "transport": tr})
	}
	zero("witnet_block_batches_total", map[string]string{"result": "complete"})
	zero("witnet_block_batches_total", map[string]string{"result": "aborted"})
}
