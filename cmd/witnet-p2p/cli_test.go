package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// TestVersionFlag: --version and -v print the version line, as the version command does.
func TestVersionFlag(t *testing.T) {
	want := mustRun(t, "", "version")
	require.True(t, strings.HasPrefix(want, "witnet-p2p "), want)
	for _, flag := range []string{"--version", "-v"} {
		code, stdout, stderr := runMainCapture(t, flag)
		require.Zero(t, code, stderr)
		require.Equal(t, want, stdout, flag)
	}
}

func TestFlagsFirst(t *testing.T) {
	app := newApp()
	tests := []struct{ in, want string }{
		{"add-peers A B --rpc-addr X --json", "add-peers --rpc-addr X --json -- A B"},
		{"add-peers --rpc-addr=X A", "add-peers --rpc-addr=X -- A"},
		{"add-peers A --json B", "add-peers --json -- A B"},
		{"add-peers A -- --rpc-addr X", "add-peers A -- --rpc-addr X"},
		{"inventory get HASH --timeout 2s --rpc X", "inventory get --timeout 2s --rpc X -- HASH"},
		{"peers --json", "peers --json"},
		{"message decode 08cc --rpc", "message decode --rpc -- 08cc"},
		{"bogus A --x", "bogus A --x"},
		{"message", "message"},
		{"", ""},
	}
	for _, tc := range tests {
		args := append([]string{"witnet-p2p"}, strings.Fields(tc.in)...)
		got := flagsFirst(app, args)
		require.Equal(t, tc.want, strings.Join(got[1:], " "), tc.in)
	}
}

// TestClientCommandsFlagsAfterArguments: the client commands read flags that follow their
// arguments, and clear-peers / initialize-peers drive the node's book.
func TestClientCommandsFlagsAfterArguments(t *testing.T) {
	n := startTestNode(t)
	addr := n.RPCAddr().String()
	p1 := "/ip4/127.1.0.1/tcp/1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

	// Through runMain, as a shell would run it.
	code, stdout, stderr := runMainCapture(t, "add-peers", p1, "--rpc-addr", addr)
	require.Zero(t, code, stderr)
	require.Equal(t, "address book updated with 1 addresses\n", stdout)
	require.NotEmpty(t, n.Book().New())

	code, stdout, stderr = runMainCapture(t, "known-peers", "--json", "--rpc-addr", addr)
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, p1)

	require.Equal(t, "address book cleared\n", mustRun(t, "", "clear-peers", "--rpc-addr", addr))
	require.Empty(t, n.Book().New())
	require.Equal(t, "(none)\n", mustRun(t, "", "known-peers", "--rpc-addr", addr))

	require.Equal(t, "address book reset to the bootstrap peers; sessions dropped\n",
		mustRun(t, "", "initialize-peers", "--rpc-addr", addr))
	require.Equal(t, "true\n", mustRun(t, "", "clear-peers", "--json", "--rpc-addr", addr))
}

// TestDidYouMean: a mistyped command gets the closest one suggested; a word far from
// every command does not.
func TestDidYouMean(t *testing.T) {
	tests := []struct{ args, stderr string }{
		{"sats", `witnet-p2p: unknown command "sats" (did you mean "stats"?)`},
		{"knownpeers", `witnet-p2p: unknown command "knownpeers" (did you mean "known-peers"?)`},
		{"clear", `witnet-p2p: unknown command "clear" (did you mean "clear-peers"?)`},
		{"bogus", `witnet-p2p: unknown command "bogus"`},
		{"message decod", `witnet-p2p: unknown message command "decod" (did you mean "decode"?)`},
		{"inventory gett", `witnet-p2p: unknown inventory command "gett" (did you mean "get"?)`},
	}
	for _, tc := range tests {
		code, stdout, stderr := runMainCapture(t, strings.Fields(tc.args)...)
		require.Equal(t, 1, code, tc.args)
		require.Empty(t, stdout)
		require.Equal(t, tc.stderr+"\n", stderr)
	}
}

// TestStatsAddresses: nodeStats and stats show what `ipfs id` would: the listen and
// announced addresses, and the data directory and version.
func TestStatsAddresses(t *testing.T) {
	n := startTestNode(t)
	addr := n.RPCAddr().String()
	var s rpc.NodeStats
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "stats", "--json", "--rpc-addr", addr)), &s))
	require.Len(t, s.ListenAddresses, 1)
	listen, err := ma.NewMultiaddr(s.ListenAddresses[0])
	require.NoError(t, err)
	port, err := listen.ValueForProtocol(ma.P_TCP)
	require.NoError(t, err)
	require.NotEqual(t, "0", port, "the bound port")
	require.Equal(t, []string{n.Addrs()[0].String()}, s.Addresses)
	require.NotEmpty(t, s.DataDir)
	require.NotEmpty(t, s.Version)

	out := mustRun(t, "", "stats", "--rpc-addr", addr)
	require.Contains(t, out, "listening on       "+s.ListenAddresses[0]+"\n")
	require.Contains(t, out, "addresses          "+s.Addresses[0]+"\n")
	require.Contains(t, out, "data directory     "+s.DataDir+"\n")
	require.Contains(t, out, "version            "+s.Version+"\n")
}

func TestHealthCommand(t *testing.T) {
	n := startTestNode(t)
	require.Equal(t, "ok\n", mustRun(t, "", "health", "--rpc-addr", n.RPCAddr().String()))
	_, _, err := runApp(t, "", "health", "--rpc-addr", "127.0.0.1:1")
	require.ErrorContains(t, err, "node unreachable")
	_, _, err = runApp(t, "", "health", "--rpc-addr", "off")
	require.ErrorContains(t, err, "listener is off")

	for in, want := range map[string]string{
		"0.0.0.0:21338":   "127.0.0.1:21338",
		"[::]:21338":      "[::1]:21338",
		":21338":          "127.0.0.1:21338",
		"10.1.2.3:21338":  "10.1.2.3:21338",
		"http://x:1/":     "http://x:1/",
		"localhost:21338": "localhost:21338",
	} {
		require.Equal(t, want, loopbackFor(in), in)
	}
}

// TestAddrsAndBootstrapFiles: what --addrs-file writes, --bootstrap-file reads; a missing
// file is waited for, then reported.
func TestAddrsAndBootstrapFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node1.addrs")
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"),
		ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"),
	}
	ctx := context.Background()
	_, err := readBootstrapFile(ctx, path, 0)
	require.ErrorContains(t, err, "--bootstrap-file")
	require.ErrorIs(t, err, os.ErrNotExist)

	require.NoError(t, writeAddrsFile(path, addrs))
	got, err := readBootstrapFile(ctx, path, time.Minute)
	require.NoError(t, err)
	require.Equal(t, addrs, got)

	require.NoError(t, os.WriteFile(path, []byte("# node1\n\n/ip4/127.0.0.1/tcp/1\n"), 0o644))
	_, err = readBootstrapFile(ctx, path, 0)
	require.ErrorContains(t, err, "does not end in /p2p/")
}
