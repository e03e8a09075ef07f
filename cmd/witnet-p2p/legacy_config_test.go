package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node"
)

func TestLegacyFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "node.toml")
	require.NoError(t, os.WriteFile(file, []byte(`
legacy-listen = "127.0.0.1:0"
legacy-peer = ["127.0.0.9:21337", "[::1]:21337"]
legacy-announce = "203.0.113.7:21337"
listen = ["off"]
rpc-addr = "off"
`), 0o600))
	c, err := resolveWith(t, "--config", file, "--data-dir", filepath.Join(dir, "data"))
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:0", c.String(flagLegacyListen))
	require.Equal(t, []string{"127.0.0.9:21337", "[::1]:21337"}, c.StringSlice(flagLegacyPeer))
	opts, err := nodeOptions(c)
	require.NoError(t, err)
	n, err := node.New(context.Background(), append(opts, node.WithLibp2pMetrics(false))...)
	require.NoError(t, err)
	defer n.Close()
	require.NotNil(t, n.LegacyAddr(), "plain-TCP listener")
	require.Empty(t, n.Host().Addrs(), "--listen off: no libp2p listener")

	t.Setenv("WITNET_P2P_LEGACY_LISTEN", "127.0.0.1:21999")
	c, err = resolveWith(t)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:21999", c.String(flagLegacyListen))

	for _, args := range [][]string{
		{"--legacy-listen", "localhost:21337"},
		{"--legacy-peer", "/ip4/1.2.3.4/tcp/21337"},
		{"--legacy-peer", "1.2.3.4:0"},
		{"--legacy-announce", "0.0.0.0:21337"},
	} {
		c, err := resolveWith(t, args...)
		require.NoError(t, err)
		opts, err := nodeOptions(c)
		if err == nil { // a well-formed address the node refuses
			var n *node.Node
			n, err = node.New(context.Background(), append(opts, node.WithDataDir(t.TempDir()), node.WithRPCAddr(""),
				node.WithListenAddrs(ma.StringCast("/ip4/127.0.0.1/tcp/0")))...)
			if n != nil {
				n.Close()
			}
		}
		require.Error(t, err, "%v", args)
	}
}
