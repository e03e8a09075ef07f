package sessiontest

import (
	"bufio"
	"encoding/json"
	"sync"
	"testing"

	logging "github.com/ipfs/go-log/v2"
	"github.com/stretchr/testify/require"
)

// Logs collects the JSON log lines of the loggers given to CaptureLogs.
type Logs struct {
	mu    sync.Mutex
	lines []map[string]any
}

// CaptureLogs sets the named go-log loggers to level for the duration of the test and
// records every line they write at that level or above. The previous levels come back
// at cleanup.
func CaptureLogs(t testing.TB, level string, names ...string) *Logs {
	t.Helper()
	pipeLevel, err := logging.LevelFromString(level)
	require.NoError(t, err)
	restore := map[string]string{}
	for _, name := range names {
		lvl, err := logging.SubsystemLevelName(name)
		require.NoError(t, err)
		restore[name] = lvl
		require.NoError(t, logging.SetLogLevel(name, level))
	}
	pr := logging.NewPipeReader(logging.PipeFormat(logging.JSONOutput), logging.PipeLevel(pipeLevel))
	c := &Logs{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil {
				c.mu.Lock()
				c.lines = append(c.lines, line)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = pr.Close()
		<-done
		for name, lvl := range restore {
			_ = logging.SetLogLevel(name, lvl)
		}
	})
	return c
}

// Find returns the recorded lines for which match holds, in the order they were logged.
func (c *Logs) Find(match func(map[string]any) bool) []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, l := range c.lines {
		if match(l) {
			out = append(out, l)
		}
	}
	return out
}
