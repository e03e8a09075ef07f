package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// goLogLine is a line of go-log's console format: time, level, logger, caller, message.
var goLogLine = regexp.MustCompile(`^\d{4}-\d\d-\d\dT[\d:.]+Z\t(DEBUG|INFO|WARN|ERROR|DPANIC|PANIC|FATAL)\t[\w/.-]+\t[\w/.-]+:\d+\t\S`)

// TestRunLogFormat starts the binary with every logger at DEBUG (libp2p's, which log
// through log/slog, included): every line of standard error is in go-log's format, in the
// console format and with GOLOG_LOG_FMT=json alike, and no line's caller is a
// module-cache path (slog's own format printed source=/root/go/pkg/mod/...).
func TestRunLogFormat(t *testing.T) {
	for _, format := range []string{"", "json"} {
		t.Run("format="+format, func(t *testing.T) {
			env := []string{"GOLOG_LOG_LEVEL=debug"}
			if format != "" {
				env = append(env, "GOLOG_LOG_FMT="+format)
			}
			n := startRun(t, env, "--data-dir", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--rpc-addr", "127.0.0.1:0")
			require.Zero(t, n.stop(t))
			lines := strings.Split(strings.TrimSpace(n.stderr.String()), "\n")
			require.Greater(t, len(lines), 10)
			loggers := map[string]bool{}
			for _, l := range lines {
				var logger, caller string
				if format == "json" {
					var v map[string]any
					require.NoError(t, json.Unmarshal([]byte(l), &v), "not a JSON line: %s", l)
					require.Contains(t, v, "level", l)
					require.Contains(t, v, "msg", l)
					logger, _ = v["logger"].(string)
					caller, _ = v["caller"].(string)
				} else {
					require.Regexp(t, goLogLine, l, "not a go-log line")
					fields := strings.Split(l, "\t")
					logger, caller = fields[2], fields[3]
				}
				require.False(t, strings.HasPrefix(caller, "/"), "caller %q is a full path: %s", caller, l)
				loggers[strings.SplitN(logger, "/", 2)[0]] = true
			}
			require.True(t, loggers["witnet"], "our loggers: %v", loggers)
			require.Greater(t, len(loggers), 1, "libp2p's loggers came through too: %v", loggers)
		})
	}
}

// TestStartErrorsOneLine: a start that fails says so in one line with one prefix per
// layer (no "node: ... node: ..."), and libp2p's start-up framework adds no lines of its
// own.
func TestStartErrorsOneLine(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"--listen", "/ip4/192.0.2.1/tcp/1"}, // TEST-NET-1: not an address of this machine
		{"--listen", "/ip4/127.0.0.1/tcp/0", "--rpc-addr", "192.0.2.1:80"},
		{"--identity", dir + "/missing.key"},
	} {
		_, out, code := runWithTimeout(t, 20*time.Second, append([]string{"run", "--data-dir", dir}, args...)...)
		require.Equal(t, 1, code, "%v: %s", args, out)
		var other []string // lines that are not log lines (the node logs "identity created")
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !goLogLine.MatchString(l) {
				other = append(other, l)
			}
		}
		require.Len(t, other, 1, "%v: one line besides the logs: %q", args, out)
		stderr := other[0]
		require.True(t, strings.HasPrefix(stderr, "witnet-p2p: "), stderr)
		seen := map[string]bool{}
		for _, part := range strings.Split(strings.TrimSpace(stderr), ": ") {
			if strings.ContainsAny(part, " /") {
				continue // a message or a path, not a prefix
			}
			require.False(t, seen[part], "prefix %q repeated: %s", part, stderr)
			seen[part] = true
		}
	}
}
