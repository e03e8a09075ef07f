package session

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

func TestReceiveBudgetPace(t *testing.T) {
	require.Nil(t, NewReceiveBudget(0, -1), "no rate: no budget")

	// 1000 messages per second, bytes free: the first 100 ms are a burst, then one
	// message per millisecond.
	b := NewReceiveBudget(1000, 0)
	now := time.Unix(1_000_000, 0)
	for i := range 100 {
		require.Zero(t, b.reserve(now, 1<<20), "message %d of the burst", i)
	}
	require.Equal(t, time.Millisecond, b.reserve(now, 0))
	require.Equal(t, 2*time.Millisecond, b.reserve(now, 0))
	// Time passing pays the debt; an idle budget does not bank more than the burst.
	later := now.Add(time.Second)
	for range 100 {
		require.Zero(t, b.reserve(later, 0))
	}
	require.Equal(t, time.Millisecond, b.reserve(later, 0))

	// Bytes: 1 MiB/s, messages free; a 1 MiB frame costs a second of the budget.
	b = NewReceiveBudget(-1, 1<<20)
	require.Zero(t, b.reserve(now, 100<<10)) // ~98 ms, within the burst
	require.InDelta(t, float64(time.Second-2*time.Millisecond), float64(b.reserve(now, 1<<20)), float64(2*time.Millisecond))

	// Both terms add up.
	b = NewReceiveBudget(1000, 1<<20)
	require.Zero(t, b.reserve(now, 0))
	before := b.next
	b.reserve(now, 1<<10)
	require.InDelta(t, float64(time.Millisecond+time.Second/1024), float64(b.next-before), 1)
}

// Concurrent sessions share the budget: however many ask at once, the total admitted
// within a period is the rate times the period plus the burst.
func TestReceiveBudgetShared(t *testing.T) {
	b := NewReceiveBudget(10_000, 0) // 100 µs per message, burst 1000 messages
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	admitted := 0
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if b.reserve(now, 0) <= 100*time.Millisecond {
					mu.Lock()
					admitted++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 2000, admitted, "burst (1000) plus 100 ms at 10 000/s")
}

// Over real hosts: a node with a small shared budget completes handshakes without
// waiting, then paces what consolidated peers send, and still delivers all of it.
func TestLibp2pReceiveBudget(t *testing.T) {
	checkLeaks(t)
	budget := NewReceiveBudget(20, 0) // 50 ms per message, a 2-message burst
	b := newNode(t, "127.0.0.1", ManagerConfig{}, Config{ReceiveBudget: budget})
	peers := []*lpNode{newNode(t, "127.0.0.1", ManagerConfig{}, Config{}), newNode(t, "127.0.0.1", ManagerConfig{}, Config{})}
	var sessions []*Session
	for _, p := range peers {
		sessions = append(sessions, p.dial(t, b.info(), Outbound))
	}
	b.waitCounts(t, SessionCounts{InboundConsolidated: 2})
	frames, _ := budget.Delayed()
	require.Zero(t, frames, "handshakes never wait for the budget")

	const each = 6
	for _, s := range sessions {
		for range each {
			require.NoError(t, s.SendLastBeacon(protocol.NewLastBeaconPB(nil, nil)))
		}
	}
	require.Eventually(t, func() bool { return b.chain.inbound.Load() == 2*each }, 10*time.Second, time.Millisecond,
		"every message is delivered, later")
	frames, total := budget.Delayed()
	require.GreaterOrEqual(t, frames, uint64(2*each-4), "all but the burst (and a little drift) waited")
	require.Greater(t, total, 100*time.Millisecond)
}
