package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/witnet-p2p/witnet-p2p/node"
)

// TestDockerFilesAgree checks what a Docker engine would only reveal at run time (the
// engine itself runs in docker/test.sh): every WITNET_P2P_* variable the files set is a
// real run flag's, no private key is kept next to them, the image runs as a non-root user
// and its health check follows the node's address.
func TestDockerFilesAgree(t *testing.T) {
	dir := filepath.Join("..", "..", "docker")
	compose, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	require.NoError(t, err)
	dockerfile, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
	require.NoError(t, err)

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
		require.True(t, known[v] || v == "WITNET_P2P_GO_IMAGE" || v == "WITNET_P2P_RUNTIME_IMAGE", "%s is not a run flag's variable", v)
	}

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NotContains(t, string(data), "PRIVATE KEY", "%s holds a private key", e.Name())
	}
	require.NotRegexp(t, `/p2p/12D3KooW`, string(compose), "no fixed peer ID to bootstrap from")

	port := strconv.Itoa(node.DefaultPort)
	require.Contains(t, string(dockerfile), "EXPOSE "+port+"/tcp "+port+"/udp 21338/tcp", "the image exposes the default libp2p port")
	require.Contains(t, string(compose), `"`+port+":"+port+`/tcp"`, "compose publishes the default libp2p port")
	require.Contains(t, string(dockerfile), "USER 65532:65532")
	require.Contains(t, string(dockerfile), `CMD ["/usr/local/bin/witnet-p2p", "health"]`)
	require.Contains(t, string(dockerfile), "ARG GO_IMAGE=golang:1.26-alpine")
	require.Contains(t, string(dockerfile), "ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot")
}
