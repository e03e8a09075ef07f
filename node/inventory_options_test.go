package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// vectorBlock returns witnet-rust's block_example() from the message vectors.
func vectorBlock(t *testing.T) *pb.Block {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "protocol", "testdata", "messages.json"))
	require.NoError(t, err)
	var f struct {
		Vectors []struct {
			Name     string `json:"name"`
			Expected struct {
				Bytes string `json:"bytes"`
			} `json:"expected"`
		} `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(b, &f))
	for _, v := range f.Vectors {
		if v.Name == "message_block_example_v2_0" {
			raw, err := hex.DecodeString(v.Expected.Bytes)
			require.NoError(t, err)
			m, err := protocol.Unmarshal(raw)
			require.NoError(t, err)
			return m.GetKind().GetBlock()
		}
	}
	t.Fatal("vector message_block_example_v2_0 not found")
	return nil
}

func TestNetworkOptions(t *testing.T) {
	custom := protocol.VersionActivations{V1_8: 5, V2_0: 50}
	tests := []struct {
		name    string
		opts    []Option
		act     protocol.VersionActivations
		epochs  protocol.EpochConstants
		genesis protocol.Hash
		sybil   bool
	}{
		{"default", nil, protocol.MainnetActivations, protocol.MainnetEpochs, protocol.MainnetGenesisHash, true},
		{"mainnet", []Option{WithNetwork(NetworkMainnet)}, protocol.MainnetActivations, protocol.MainnetEpochs, protocol.MainnetGenesisHash, true},
		{"testnet", []Option{WithNetwork(NetworkTestnet)}, protocol.TestnetActivations, protocol.TestnetEpochs, protocol.TestnetGenesisHash, false},
		{"testnet, activations overridden", []Option{WithNetwork(NetworkTestnet), WithActivations(custom)}, custom, protocol.TestnetEpochs, protocol.TestnetGenesisHash, false},
		{"development: no activations", []Option{WithActivations(protocol.VersionActivations{})}, protocol.VersionActivations{}, protocol.MainnetEpochs, protocol.MainnetGenesisHash, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := defaultConfig()
			for _, o := range tc.opts {
				require.NoError(t, o(&cfg))
			}
			require.Equal(t, tc.act, cfg.inventory.decoder().Activations)
			require.Equal(t, tc.epochs, cfg.epochs)
			g, err := protocol.HashFromBytes(cfg.beacon.GetHighestBlockCheckpoint().GetHashPrevBlock().GetSHA256())
			require.NoError(t, err)
			require.Equal(t, tc.genesis, g)
			require.Equal(t, tc.sybil, cfg.rejectSybil)
		})
	}
	cfg := defaultConfig()
	require.ErrorContains(t, WithNetwork("devnet")(&cfg), "unknown network")
}

// TestNetworkActivationsHashBlocks submits, over JSON-RPC, a block of an epoch where
// mainnet still uses V1.7 and testnet uses V2.0: each node names it by the hash of its
// network's version.
func TestNetworkActivationsHashBlocks(t *testing.T) {
	b := proto.Clone(vectorBlock(t)).(*pb.Block)
	const epoch = 1000 // testnet: V2.0 from 60; mainnet: V1.7 until 3 048 960
	b.BlockHeader.Beacon.Checkpoint = epoch
	raw, err := protocol.CanonicalBytes(b)
	require.NoError(t, err)
	mainnet, err := protocol.BlockHash(b, protocol.V1_7)
	require.NoError(t, err)
	testnet, err := protocol.BlockHash(b, protocol.V2_0)
	require.NoError(t, err)
	require.NotEqual(t, mainnet, testnet, "the test needs a block whose hash depends on the version")

	for _, tc := range []struct {
		name string
		opts []Option
		want protocol.Hash
	}{
		{"default", nil, mainnet},
		{"testnet", []Option{WithNetwork(NetworkTestnet)}, testnet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, t.TempDir(), append([]Option{WithRPCAddr("127.0.0.1:0")}, tc.opts...)...)
			c := rpc.NewClient(n.RPCAddr().String(), 0)
			h, err := inventory.SubmitItem(context.Background(), c, protocol.KindBlock, raw)
			require.NoError(t, err)
			require.Equal(t, tc.want, h)
			got, err := inventory.GetItem(context.Background(), c, h)
			require.NoError(t, err)
			require.Equal(t, inventory.LabelBlock, got.Kind)
		})
	}
}
