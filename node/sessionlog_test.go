package node

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// TestSessionStartEndLogged: a session is logged at INFO once when it starts and once
// when it ends, with the peer and direction; a peer that stops cleanly is logged as a
// clean close (remote_close), never as a connection error, and counted as such.
func TestSessionStartEndLogged(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "info", "witnet/session", "witnet/node")
	a := startNode(t, t.TempDir(), WithPeriods(time.Hour, time.Hour, 0))
	b, err := New(context.Background(), WithDataDir(t.TempDir()), WithListenAddrs(loopback),
		WithPeriods(time.Hour, time.Hour, 0), WithRPCAddr(""), WithLibp2pMetrics(false), WithBootstrap(a.Addrs()[0]))
	require.NoError(t, err)
	waitFor(t, 10*time.Second, func() bool { return a.Manager().NumSessions().InboundConsolidated == 1 },
		func() string { return fmt.Sprint(a.Manager().NumSessions()) })

	lines := func(msg, peer string) []map[string]any {
		return logs.Find(func(l map[string]any) bool { return l["msg"] == msg && l["peer"] == peer })
	}
	waitFor(t, 5*time.Second, func() bool { return len(lines("session started", b.ID().String())) == 1 },
		func() string { return "no 'session started' at a" })
	started := lines("session started", b.ID().String())[0]
	require.Equal(t, "info", started["level"])
	require.Equal(t, "inbound", started["dir"])

	require.NoError(t, b.Close()) // b leaves cleanly
	waitFor(t, 10*time.Second, func() bool { return len(lines("session ended", b.ID().String())) > 0 },
		func() string { return "no 'session ended' at a" })
	ended := lines("session ended", b.ID().String())
	require.Len(t, ended, 1, "one end line: %v", ended)
	require.Equal(t, "info", ended[0]["level"])
	require.Equal(t, "inbound", ended[0]["dir"])
	// Whichever a sees first: the end of the stream, or its connection closing.
	label, _ := ended[0]["label"].(string)
	require.Contains(t, []string{session.ReasonRemoteClosed.Label(), session.ReasonConnectionClosed.Label()}, label,
		"a clean leave: %v", ended[0]["reason"])
	require.Equal(t, false, ended[0]["iced"])

	// The counter says the same.
	clean := counterSum(t, a, "witnet_sessions_closed_total", func(l map[string]string) bool {
		return l["type"] == "inbound" && (l["reason"] == "remote_close" || l["reason"] == "connection_closed")
	})
	require.Zero(t, counterSum(t, a, "witnet_sessions_closed_total", func(l map[string]string) bool {
		return l["reason"] == "connection_error"
	}), "no connection error counted")
	require.Equal(t, 1.0, clean)
}
