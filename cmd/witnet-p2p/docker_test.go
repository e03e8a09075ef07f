package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
)

// TestDockerFilesAgree checks what a Docker engine would only reveal at run time: the
// peer ID nodes 2-4 bootstrap from is node1's fixed key, the key says it is for testing
// only, and every WITNET_P2P_* variable the files set is a real run flag.
func TestDockerFilesAgree(t *testing.T) {
	dir := filepath.Join("..", "..", "docker")
	compose, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	require.NoError(t, err)
	dockerfile, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "node1-identity.key")
	keyText, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(keyText), "# FOR LOCAL TESTING ONLY"))

	key, err := datadir.LoadIdentity(keyFile)
	require.NoError(t, err)
	id, err := datadir.PeerIDOf(key)
	require.NoError(t, err)
	ids := regexp.MustCompile(`/p2p/(\w+)`).FindAllStringSubmatch(string(compose), -1)
	require.NotEmpty(t, ids)
	for _, m := range ids {
		require.Equal(t, id.String(), m[1], "compose bootstraps from node1's key")
	}

	known := map[string]bool{}
	for _, f := range runFlags() {
		if sf, ok := f.(interface{ GetEnvVars() []string }); ok {
			for _, e := range sf.GetEnvVars() {
				known[e] = true
			}
		}
	}
	vars := regexp.MustCompile(`WITNET_P2P_\w+`).FindAllString(string(compose)+string(dockerfile), -1)
	require.NotEmpty(t, vars)
	for _, v := range vars {
		require.True(t, known[v], "%s is not a run flag's variable", v)
	}
	require.Contains(t, string(dockerfile), "EXPOSE 21337/tcp 21337/udp 21338/tcp")
	require.Contains(t, string(dockerfile), "USER nonroot")
}
