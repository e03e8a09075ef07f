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
	_, _, err := runApp(t, "", "identity", "--data-dir", dir, "--no-create")
	require.ErrorContains(t, err, "no identity key at")

	out := mustRun(t, "", "identity", "--data-dir", dir)
	require.True(t, strings.HasPrefix(out, "created a new identity\npeer ID:  12D3KooW"), out)
	require.Contains(t, out, "key file: "+datadir.IdentityPath(dir))

	var shown struct {
		PeerID  string `json:"peerId"`
		KeyFile string `json:"keyFile"`
		Created bool   `json:"created"`
	}
	require.NoError(t, json.Unmarshal([]byte(mustRun(t, "", "identity", "--data-dir", dir, "--json", "--no-create")), &shown))
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
