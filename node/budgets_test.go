package node

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The node's session budgets reach its sessions: 60 LastBeacons in a row are within the
// default message burst, and exceed a burst of 50 set with WithSessionBudgets, which ends
// the session as misbehaviour and ices the peer.
func TestSessionBudgetsApply(t *testing.T) {
	beacon := protocol.NewLastBeacon(protocol.Magic, DefaultBeacon())
	const sent = 60
	cases := []struct {
		name    string
		budgets *session.Budgets
		dropped bool
	}{
		{"defaults", nil, false},
		{"burst of 50", &session.Budgets{MessageRate: 1, MessageBurst: 50}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureHostileLogs(t)
			var opts []Option
			if tc.budgets != nil {
				opts = append(opts, WithSessionBudgets(*tc.budgets))
			}
			n := hostileNode(t, opts...)
			h := rawHost(t, "127.0.0.1", nil)
			s := openRaw(t, h, n)
			handshakeRaw(t, s, n)
			for range sent {
				if err := s.WriteMsg(beacon); err != nil {
					break // the node reset the stream
				}
			}
			if !tc.dropped {
				ss, ok := n.Manager().Lookup(h.ID(), session.Inbound)
				require.True(t, ok)
				require.Eventually(t, func() bool {
					return ss.Stats().MessagesIn[protocol.KindLastBeacon] == sent
				}, 5*time.Second, time.Millisecond)
				require.Equal(t, session.Consolidated, ss.Status())
				require.False(t, n.Book().IsIced(h.ID()))
				return
			}
			logs.requireEnded(t, h.ID(), session.ReasonMisbehaviour, session.OffenceMessageBudget.String())
			noSessionOf(t, n, h.ID())
			require.True(t, n.Book().IsIced(h.ID()))
		})
	}
}

func TestWithSessionBudgetsRefusesNonsense(t *testing.T) {
	for _, b := range []session.Budgets{
		{MessageBurst: -1},
		{ByteBurst: -1},
		{WriteTimeout: -time.Second},
		{SendQueueSize: -1},
	} {
		var c config
		require.Error(t, WithSessionBudgets(b)(&c), "%+v", b)
	}
	var c config
	b := session.Budgets{MessageRate: -1, MisbehaviourThreshold: -1, WriteTimeout: time.Second}
	require.NoError(t, WithSessionBudgets(b)(&c), "negative rates and thresholds turn budgets off")
	require.Equal(t, b, c.budgets)
}

// WithMaxFrameSize refuses sizes that would not hold a Peers reply or that would let one
// frame cost hundreds of MiB, and keeps a sane one.
func TestMaxFrameSizeOption(t *testing.T) {
	var c config
	require.Error(t, WithMaxFrameSize(1024)(&c), "too small for a Peers reply")
	require.Error(t, WithMaxFrameSize(1<<30)(&c), "too large")
	require.NoError(t, WithMaxFrameSize(128<<10)(&c))
	require.Equal(t, 128<<10, c.maxFrameSize)
}

// A node built with WithMaxFrameSize drops a peer whose frame announces more than the
// limit, before reading it (ReasonDecode, iced); a node with the default limit takes the
// same frame, a valid InventoryRequest it ignores, and keeps the session.
func TestMaxFrameSizeDropsLargerFrames(t *testing.T) {
	const limit = 128 << 10
	frame := inventoryPayload(t, true, limit/32) // unknown block hashes, about 38 bytes each
	require.Greater(t, len(frame), limit)
	require.Less(t, len(frame), codec.DefaultMaxFrameSize)
	cases := []struct {
		name    string
		opts    []Option
		dropped bool
	}{
		{"128 KiB limit", []Option{WithMaxFrameSize(limit)}, true},
		{"default limit", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureHostileLogs(t)
			n := hostileNode(t, tc.opts...)
			h := rawHost(t, "127.0.0.1", nil)
			s := openRaw(t, h, n)
			handshakeRaw(t, s, n)
			ss, ok := n.Manager().Lookup(h.ID(), session.Inbound)
			require.True(t, ok)
			if tc.dropped {
				writeAsync(t, s, frame) // the node resets the stream after the header
				logs.requireEnded(t, h.ID(), session.ReasonDecode, "exceeds the maximum")
				noSessionOf(t, n, h.ID())
				require.True(t, n.Book().IsIced(h.ID()))
				require.Zero(t, ss.Stats().MessagesIn[protocol.KindInventoryRequest])
				return
			}
			require.NoError(t, s.WriteFrame(frame))
			waitFor(t, 5*time.Second, func() bool { return ss.Stats().MessagesIn[protocol.KindInventoryRequest] == 1 }, nil)
			require.Equal(t, session.Consolidated, ss.Status())
			require.False(t, n.Book().IsIced(h.ID()))
		})
	}
}
