package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// builtBinary builds the command once per test run and returns its path.
func builtBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "witnet-p2p-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "witnet-p2p")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			binErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	require.NoError(t, binErr)
	return binPath
}

// runningNode is a `witnet-p2p run` process.
type runningNode struct {
	cmd    *exec.Cmd
	id     string
	addrs  []string
	rpc    string
	stderr *strings.Builder
	done   chan error
}

// startRun starts `witnet-p2p run` with args and env and reads what it prints at start.
func startRun(t *testing.T, env []string, args ...string) *runningNode {
	t.Helper()
	cmd := exec.Command(builtBinary(t), append([]string{"run"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	r := &runningNode{cmd: cmd, stderr: &strings.Builder{}, done: make(chan error, 1)}
	cmd.Stderr = r.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		r.done <- cmd.Wait()
	}()
	timeout := time.After(20 * time.Second)
	for r.rpc == "" {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "run exited early: %s", r.stderr)
			switch {
			case strings.HasPrefix(l, "peer ID: "):
				r.id = strings.TrimPrefix(l, "peer ID: ")
			case strings.HasPrefix(l, "  /"):
				r.addrs = append(r.addrs, strings.TrimSpace(l))
			case strings.HasPrefix(l, "JSON-RPC: http://"):
				r.rpc = strings.TrimSuffix(strings.Fields(strings.TrimPrefix(l, "JSON-RPC: http://"))[0], "/")
			}
		case <-timeout:
			t.Fatalf("run printed no JSON-RPC address; stderr: %s", r.stderr)
		}
	}
	go func() {
		for range lines { // drain the rest
		}
	}()
	return r
}

// stop sends SIGTERM and returns the exit code.
func (r *runningNode) stop(t *testing.T) int {
	t.Helper()
	require.NoError(t, r.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-r.done:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return exitErr.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(20 * time.Second):
		t.Fatalf("run did not stop on SIGTERM; stderr: %s", r.stderr)
		return -1
	}
}

// cli runs the built binary and returns stdout, stderr and the exit code.
func cliRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(builtBinary(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), code
}

// TestRunBinary starts two nodes as real processes (the second bootstrapped from the
// first, configured through environment variables), queries them with the client
// commands, and stops them with SIGTERM: exit code 0.
func TestRunBinary(t *testing.T) {
	a := startRun(t, nil, "--data-dir", t.TempDir(), "--listen", "/ip4/127.0.0.1/tcp/0", "--rpc-addr", "127.0.0.1:0")
	require.True(t, strings.HasPrefix(a.id, "12D3KooW"), a.id)
	require.Len(t, a.addrs, 1)
	require.True(t, strings.HasSuffix(a.addrs[0], "/p2p/"+a.id))

	b := startRun(t, []string{
		"WITNET_P2P_DATA_DIR=" + t.TempDir(),
		"WITNET_P2P_LISTEN=/ip4/127.0.0.1/tcp/0",
		"WITNET_P2P_RPC_ADDR=127.0.0.1:0",
		"WITNET_P2P_BOOTSTRAP=" + a.addrs[0],
		"WITNET_P2P_BOOTSTRAP_PERIOD=200ms",
	})

	// b dials a: a lists b as an inbound peer and b lists a as an outbound one (each side
	// consolidates on its own, so both are waited for).
	hasPeer := func(rpcAddr, id string) bool {
		out, _, code := cliRun(t, "peers", "--rpc-addr", rpcAddr, "--json")
		var list []rpc.Peer
		return code == 0 && json.Unmarshal([]byte(out), &list) == nil &&
			len(list) > 0 && strings.HasSuffix(list[0].Address, "/p2p/"+id)
	}
	require.Eventually(t, func() bool { return hasPeer(a.rpc, b.id) && hasPeer(b.rpc, a.id) }, 15*time.Second, 200*time.Millisecond)

	out, stderr, code := cliRun(t, "peers", "--rpc-addr", b.rpc)
	require.Zero(t, code, stderr)
	require.Contains(t, out, "TYPE")
	require.Contains(t, out, "outbound  "+a.addrs[0])

	out, stderr, code = cliRun(t, "stats", "--rpc-addr", b.rpc)
	require.Zero(t, code, stderr)
	require.Contains(t, out, "peer ID            "+b.id)
	require.Contains(t, out, "outbound sessions  1 consolidated")

	// A loopback address with nothing listening: a's feeler may dial it.
	fake := "/ip4/127.7.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
	out, stderr, code = cliRun(t, "add-peers", "--rpc-addr", a.rpc, fake)
	require.Zero(t, code, stderr)
	require.Equal(t, "address book updated with 1 addresses\n", out)
	out, _, code = cliRun(t, "known-peers", "--rpc-addr", a.rpc)
	require.Zero(t, code)
	require.Contains(t, out, "BUCKET")

	require.Zero(t, b.stop(t), "b exits 0 on SIGTERM; stderr: %s", b.stderr)
	require.Zero(t, a.stop(t), "a exits 0 on SIGTERM; stderr: %s", a.stderr)
	require.Contains(t, a.stderr.String(), "node stopped")

	// The node is gone: a one-line error and a non-zero exit.
	_, stderr, code = cliRun(t, "peers", "--rpc-addr", a.rpc)
	require.Equal(t, 1, code)
	require.True(t, strings.HasPrefix(stderr, "witnet-p2p: rpc: node unreachable at "), stderr)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}

// TestBinaryBadFlags: bad flags and values give one line on standard error and exit 1.
func TestBinaryBadFlags(t *testing.T) {
	dir := t.TempDir()
	badConfig := filepath.Join(dir, "bad.toml")
	require.NoError(t, os.WriteFile(badConfig, []byte("inbound-limt = 3\n"), 0o600))
	for _, args := range [][]string{
		{"run", "--nope"},
		{"run", "--inbound-limit", "many"},
		{"run", "--data-dir", dir, "--bootstrap", "/ip4/1.2.3.4/tcp/1"},
		{"run", "--data-dir", dir, "--listen", "not-a-multiaddr"},
		{"run", "--data-dir", dir, "--magic", "70000"},
		{"run", "--data-dir", dir, "--outbound-limit", "0"},
		{"run", "--data-dir", dir, "--rpc-addr", "nohost"},
		{"run", "--data-dir", dir, "--max-frame-size", "1000"},
		{"run", "--config", badConfig},
		{"run", "--config", filepath.Join(dir, "missing.toml")},
		{"run", "extra"},
		{"peers", "--rpc-addr", "127.0.0.1:1"},
		{"add-peers", "/ip4/1.2.3.4/tcp/1"},
		{"add-peers"},
		{"inventory", "get", "--timeout", "soon", "00"},
		{"identity", "--data-dir", filepath.Join(dir, "none"), "--no-create"},
		{"devnet", "--nodes", "1"},
	} {
		stdout, stderr, code := cliRun(t, args...)
		require.Equal(t, 1, code, "%v: %s", args, stderr)
		require.Empty(t, stdout, "%v", args)
		require.True(t, strings.HasPrefix(stderr, "witnet-p2p: "), "%v: %q", args, stderr)
		require.Equal(t, 1, strings.Count(stderr, "\n"), "%v: %q", args, stderr)
	}
}

// startTestNode starts an in-process node on 127.0.0.1 with its JSON-RPC listener on a
// free port and loops that do not run during a test; it is closed when the test ends.
func startTestNode(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.New(context.Background(), node.WithDataDir(t.TempDir()),
		node.WithListenAddrs(ma.StringCast("/ip4/127.0.0.1/tcp/0")), node.WithRPCAddr("127.0.0.1:0"),
		node.WithLibp2pMetrics(false), node.WithPeriods(time.Hour, time.Hour, 0))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestClientCommands runs the client commands in-process against an in-process node.
func TestClientCommands(t *testing.T) {
	n := startTestNode(t)
	addr := n.RPCAddr().String()

	require.Equal(t, "(none)\n", mustRun(t, "", "peers", "--rpc-addr", addr))
	require.Equal(t, "[]\n", mustRun(t, "", "peers", "--rpc-addr", addr, "--json"))
	require.Equal(t, "(none)\n", mustRun(t, "", "known-peers", "--rpc-addr", addr))

	// Two loopback addresses (never dialled: the node's loops do not run) from different
	// /16 groups, each its own source as operator-added entries are. The new-table index
	// hashes the source group, the address group and the host with the book's random key
	// (node/peers/index.go), so no choice of addresses rules out a shared slot, in which
	// the second entry replaces the first; from different groups that takes both the bucket
	// (1 in 256) and the slot (1 in 64) to coincide, against 1 in 64 within one /16. The
	// listing is checked against what the book holds, so it cannot fail on that chance.
	p1 := "/ip4/127.1.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"
	p2 := "/ip4/127.2.0.2/tcp/1/p2p/12D3KooWJwwpzxiAzBTkAsw3jVfW1JSBhzeJzyJdnDGYnonkzVnH"
	require.Equal(t, "address book updated with 2 addresses\n", mustRun(t, "", "add-peers", "--rpc-addr", addr, p1, p2))
	held := map[string]bool{}
	for _, a := range n.Book().New() {
		held[a.ID.String()] = true
	}
	want, rows := "BUCKET  ADDRESS\n", 0
	for _, p := range []string{p1, p2} {
		if held[p[strings.LastIndex(p, "/")+1:]] {
			want += "new     " + p + "\n"
			rows++
		}
	}
	require.Positive(t, rows, "the book holds the added peers")
	require.Len(t, held, rows, "and nothing else")
	require.Equal(t, want, mustRun(t, "", "known-peers", "--rpc-addr", addr))

	var stats rpc.NodeStats
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "stats", "--rpc-addr", addr, "--json")), &stats))
	require.Equal(t, n.ID().String(), stats.PeerID)
	require.Equal(t, len(held), stats.KnownPeers.New)
	require.Equal(t, "unknown", stats.Reachability, "AutoNAT never decides on loopback")
	require.NotEmpty(t, stats.Addresses)
	out := mustRun(t, "", "stats", "--rpc-addr", addr)
	require.Contains(t, out, fmt.Sprintf("known peers        %d new, 0 tried, 0 iced\n", len(held)))
	require.Contains(t, out, "reachability       unknown\n")
	require.Contains(t, out, "addresses          "+stats.Addresses[0]+"\n")

	_, _, err := runApp(t, "", "stats", "--rpc-addr", "http://"+addr+"/", "extra")
	require.ErrorContains(t, err, "stats takes no arguments")
}
