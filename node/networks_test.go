package node

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
)

// TestNetworkPresetPeers: only the mainnet preset dials anything by itself (witnet-rust's
// known_peers, over plain TCP, all public addresses); the default is the local network,
// which dials nothing it is not given.
func TestNetworkPresetPeers(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		n    int
	}{
		{"default", nil, 0},
		{"local", []Option{WithNetwork(NetworkLocal)}, 0},
		{"testnet", []Option{WithNetwork(NetworkTestnet)}, 0},
		{"mainnet", []Option{WithNetwork(NetworkMainnet)}, 36},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := newConfig(append([]Option{WithDataDir(t.TempDir())}, tc.opts...))
			require.NoError(t, err)
			require.Len(t, cfg.legacy.peers, tc.n)
			require.Empty(t, cfg.bootstrap)
			require.Equal(t, tc.n > 0, cfg.legacy.enabled(), "the plain-TCP transport runs only to dial them")
			for _, ap := range cfg.legacy.peers {
				require.Equal(t, peers.ScopePublic, peers.ScopeOf(ap.Addr()), "%s", ap)
			}
		})
	}
	local, err := newConfig([]Option{WithDataDir(t.TempDir()), WithNetwork(NetworkLocal)})
	require.NoError(t, err)
	mainnet, err := newConfig([]Option{WithDataDir(t.TempDir()), WithNetwork(NetworkMainnet)})
	require.NoError(t, err)
	require.Equal(t, mainnet.epochs, local.epochs, "local uses mainnet's constants")
	require.Equal(t, mainnet.inventory.versions(), local.inventory.versions())
	require.Equal(t, mainnet.magic, local.magic)
}
