package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
)

func TestIdentityCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{{"--data-dir", dir}, {"--data-dir", dir, "--no-create"}} {
		_, _, err := runApp(t, "", append([]string{"identity"}, args...)...)
		require.ErrorContains(t, err, "no identity key at "+datadir.IdentityPath(dir), "never created silently")
		_, err = os.Stat(dir)
		require.ErrorIs(t, err, os.ErrNotExist, "nothing was written")
	}

	out := mustRun(t, "", "identity", "--data-dir", dir, "--create")
	require.True(t, strings.HasPrefix(out, "created a new identity\npeer ID:  12D3KooW"), out)
	require.Contains(t, out, "key file: "+datadir.IdentityPath(dir))

	var shown struct {
		PeerID  string `json:"peerId"`
		KeyFile string `json:"keyFile"`
		Created bool   `json:"created"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "identity", "--data-dir", dir, "--json")), &shown))
	require.False(t, shown.Created)
	require.Contains(t, out, shown.PeerID, "the same key is shown again")

	// The key a node would use is the one shown.
	key, err := datadir.LoadIdentity(shown.KeyFile)
	require.NoError(t, err)
	id, err := datadir.PeerIDOf(key)
	require.NoError(t, err)
	require.Equal(t, shown.PeerID, id.String())

	require.NoError(t, os.WriteFile(shown.KeyFile, []byte("junk"), 0o600))
	_, _, err = runApp(t, "", "identity", "--data-dir", dir)
	require.ErrorIs(t, err, datadir.ErrIdentityFormat)
}

// TestIdentityFollowsRunSettings: identity shows the key run would use, whether it comes
// from --identity, WITNET_P2P_IDENTITY, or a --config file (which may hold any of run's
// settings), and never the data directory's when one of those names another key.
func TestIdentityFollowsRunSettings(t *testing.T) {
	other := filepath.Join(t.TempDir(), "other")
	peerID := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "peer ID:") {
				return strings.TrimSpace(strings.TrimPrefix(l, "peer ID:"))
			}
		}
		return ""
	}
	want := peerID(mustRun(t, "", "identity", "--data-dir", other, "--create"))
	require.NotEmpty(t, want)
	keyFile := datadir.IdentityPath(other)
	dataDir := t.TempDir() // has no key: showing it would fail, creating one would be wrong
	require.Equal(t, want, peerID(mustRun(t, "", "identity", "--data-dir", dataDir, "--identity", keyFile)))

	t.Setenv("WITNET_P2P_IDENTITY", keyFile)
	require.Equal(t, want, peerID(mustRun(t, "", "identity", "--data-dir", dataDir)))
	os.Unsetenv("WITNET_P2P_IDENTITY")

	config := filepath.Join(t.TempDir(), "node.toml")
	require.NoError(t, os.WriteFile(config, []byte("data-dir = \""+other+"\"\ninbound-limit = 64\nlisten = [\"/ip4/0.0.0.0/tcp/1\"]\n"), 0o600))
	require.Equal(t, want, peerID(mustRun(t, "", "identity", "--config", config)))

	entries, err := os.ReadDir(dataDir)
	require.NoError(t, err)
	require.Empty(t, entries, "no key was created in the unused data directory")
}
