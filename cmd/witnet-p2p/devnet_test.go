package main

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is an output the test reads while the command writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// devnetConnected returns the first complete table in out (one followed by the next
// refresh) whose count node rows all show outbound and inbound sessions: its header line
// and rows.
func devnetConnected(out string, count int) (header string, rows []string, ok bool) {
	tables := strings.Split(out, "-- ")
	for i := 1; i < len(tables)-1; i++ {
		lines := strings.Split(strings.TrimSpace(tables[i]), "\n")
		if len(lines) != count+2 { // time, header, one row per node
			continue
		}
		connected := true
		for _, row := range lines[2:] {
			f := strings.Fields(row)
			outN, err1 := strconv.Atoi(f[2])
			inN, err2 := strconv.Atoi(f[3])
			connected = connected && err1 == nil && err2 == nil && outN > 0 && inN > 0
		}
		if connected {
			return lines[1], lines[2:], true
		}
	}
	return "", nil, false
}

// TestDevnet runs a three-node devnet until its table shows every node with outbound and
// inbound sessions, then stops it through its context as Ctrl-C would.
func TestDevnet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncBuffer{}
	app := newApp()
	app.Writer, app.ErrWriter = out, out
	done := make(chan error, 1)
	go func() { done <- app.RunContext(ctx, []string{"witnet-p2p", "devnet", "--nodes", "3"}) }()

	if !assert.Eventually(t, func() bool {
		_, _, ok := devnetConnected(out.String(), 3)
		return ok
	}, 30*time.Second, 100*time.Millisecond, "every node connected, both ways") {
		t.Fatalf("devnet output:\n%s", out)
	}
	header, rows, _ := devnetConnected(out.String(), 3)
	require.Equal(t, []string{"NODE", "PEER", "ID", "OUT", "IN", "NEW", "TRIED", "ICE", "MSGS", "IN", "MSGS", "OUT"}, strings.Fields(header))
	for i, row := range rows {
		require.Equal(t, strconv.Itoa(i+1), strings.Fields(row)[0], row)
	}
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("devnet did not stop when its context ended")
	}
	text := out.String()
	require.True(t, strings.HasPrefix(text, "devnet: 3 nodes on 127.0.0.1"), text)
	require.Contains(t, text, "node 1 JSON-RPC: 127.0.0.1:")
	require.True(t, strings.HasSuffix(text, "devnet stopping\n"), text)
}
