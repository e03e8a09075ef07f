package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
)

// TestCorruptDatabase damages the database of a used data directory in five ways and
// starts the real binary on each: one line saying "database corrupt", exit 1, never a Go
// panic trace, and never a silent start with an empty store.
func TestCorruptDatabase(t *testing.T) {
	base := populatedDataDir(t)
	db, err := os.ReadFile(datadir.DBPath(base))
	require.NoError(t, err)
	const page = 4096
	require.Greater(t, len(db), 4*page)

	cases := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated mid-page", func(b []byte) []byte { return b[:2*page+page/2] }},
		{"the root page zeroed", func(b []byte) []byte {
			root := rootPage(b, page)
			clear(b[root*page : (root+1)*page])
			return b
		}},
		{"bytes flipped in both meta pages", func(b []byte) []byte {
			for _, off := range []int{0, page} {
				for i := off + 16; i < off+80; i++ {
					b[i] ^= 0xff
				}
			}
			return b
		}},
		{"garbage", func(b []byte) []byte { _, _ = rand.Read(b); return b }},
		{"0 bytes", func([]byte) []byte { return nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			require.NoError(t, os.MkdirAll(dir, 0o700))
			key, err := os.ReadFile(datadir.IdentityPath(base))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(datadir.IdentityPath(dir), key, 0o600))
			require.NoError(t, os.WriteFile(datadir.DBPath(dir), tc.damage(append([]byte(nil), db...)), 0o600))

			stdout, stderr, code := runWithTimeout(t, 20*time.Second, "run", "--data-dir", dir,
				"--listen", "/ip4/127.0.0.1/tcp/0", "--rpc-addr", "off")
			t.Logf("%s", strings.TrimSpace(stderr))
			require.Equal(t, 1, code, "exit code; stderr: %s", stderr)
			require.Empty(t, stdout, "the node never started")
			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			require.True(t, strings.HasPrefix(stderr, "witnet-p2p: database corrupt: "+datadir.DBPath(dir)+": "), stderr)
			require.NotContains(t, stderr, "goroutine")
			require.NotContains(t, stderr, "panic")
		})
	}
}

// rootPage returns the page of the root bucket named by the newer of the two meta pages
// of a bbolt file: after the 16-byte page header, a meta page holds magic, version, page
// size and flags (4 bytes each), the root bucket (its page, 8 bytes, then a sequence),
// the freelist page, the high-water page and the transaction id (8 bytes each).
func rootPage(b []byte, pageSize int) int {
	best, bestTx := 0, uint64(0)
	for _, off := range []int{0, pageSize} {
		meta := b[off+16:]
		if tx := binary.LittleEndian.Uint64(meta[48:]); tx >= bestTx {
			best, bestTx = int(binary.LittleEndian.Uint64(meta[16:])), tx
		}
	}
	return best
}

// populatedDataDir runs the binary once on a new data directory, fills its address
// book with a few hundred entries and stops it; it returns the directory.
func populatedDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "base")
	// No dialling: the addresses below are loopback ones with nothing listening.
	n := startRun(t, nil, "--data-dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--rpc-addr", "127.0.0.1:0",
		"--bootstrap-period", "0", "--feeler-period", "0", "--discovery-period", "0")
	addrs := make([]string, 0, 250) // the operator-added table holds 256
	for i := range cap(addrs) {
		_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		id, err := peer.IDFromPublicKey(pub)
		require.NoError(t, err)
		octet, err := rand.Int(rand.Reader, big.NewInt(250))
		require.NoError(t, err)
		addrs = append(addrs, fmt.Sprintf("/ip4/127.%d.%d.%d/tcp/1/p2p/%s", 1+i%200, octet.Int64(), 1+i/200, id))
	}
	require.NoError(t, rpc.NewClient(n.rpc, 0).AddPeers(context.Background(), addrs))
	require.Zero(t, n.stop(t), "stderr: %s", n.stderr)
	return dir
}

// runWithTimeout runs the built binary with args, killing it after d (a node that
// started despite the damage would otherwise run forever), and returns stdout, stderr and
// the exit code (-1 when it had to be killed).
func runWithTimeout(t *testing.T, d time.Duration, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, builtBinary(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return out.String(), errOut.String(), -1
	case errors.As(err, &exitErr):
		return out.String(), errOut.String(), exitErr.ExitCode()
	}
	require.NoError(t, err)
	return out.String(), errOut.String(), 0
}
