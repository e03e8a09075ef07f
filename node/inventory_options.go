package node

import (
	"fmt"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// Network names accepted by WithNetwork (see networks.go).
const (
	NetworkLocal   = "local"
	NetworkMainnet = "mainnet"
	NetworkTestnet = "testnet"
)

// inventoryConfig holds the settings of the node's inventory. Its zero value means
// mainnet.
type inventoryConfig struct {
	activations    protocol.VersionActivations
	activationsSet bool // false: protocol.MainnetActivations
}

// versions returns the configured protocol version activations. The inventory and the
// sessions (which match received blocks to their downloads by hash) must use the same.
func (c inventoryConfig) versions() protocol.VersionActivations {
	if c.activationsSet {
		return c.activations
	}
	return protocol.MainnetActivations
}

// decoder returns the inventory decoder for the configured network.
func (c inventoryConfig) decoder() inventory.Decoder {
	return inventory.Decoder{Activations: c.versions()}
}

// WithActivations sets the epochs at which the protocol versions activate; the inventory
// hashes (and so names, deduplicates and serves) every block with the version in force at
// its epoch, and the sessions hash the same way to match received blocks to a block
// download, so a node must use its network's activations or it gossips blocks under
// hashes its peers do not know. The zero value keeps V1.7 for every epoch (a development
// network). Default: protocol.MainnetActivations, or the network's (see WithNetwork).
func WithActivations(a protocol.VersionActivations) Option {
	return func(c *config) error {
		c.inventory.activations, c.inventory.activationsSet = a, true
		return nil
	}
}

// WithNetwork selects a network preset: NetworkLocal (the default), NetworkMainnet or
// NetworkTestnet. It sets the protocol version activations (WithActivations), the epoch
// constants (WithEpochs), the genesis hash of the beacon (unless WithBeacon fixed one) and
// reject_sybil_inbounds (WithSybilRule, whose range is kept), as witnet-rust's
// environment does; NetworkLocal uses mainnet's. NetworkMainnet also adds witnet-rust's
// mainnet known_peers (MainnetKnownPeers) as plain-TCP peers to dial (WithLegacyPeers),
// which is what joins the node to today's Witnet network; the other presets dial nothing
// they are not told to. Options given after it override its choices. The magic stays what
// it is: witnet-rust uses 10700 on every network (PROTOCOL.md section 10).
func WithNetwork(name string) Option {
	return func(c *config) error {
		var (
			act     protocol.VersionActivations
			epochs  protocol.EpochConstants
			genesis protocol.Hash
			sybil   bool
		)
		switch name {
		case NetworkLocal, NetworkMainnet:
			act, epochs, genesis, sybil = protocol.MainnetActivations, protocol.MainnetEpochs, protocol.MainnetGenesisHash, true
		case NetworkTestnet:
			act, epochs, genesis, sybil = protocol.TestnetActivations, protocol.TestnetEpochs, protocol.TestnetGenesisHash, false
		default:
			return fmt.Errorf("node: unknown network %q (want %s, %s or %s)", name, NetworkLocal, NetworkMainnet, NetworkTestnet)
		}
		if name == NetworkMainnet {
			c.legacy.peers = append(c.legacy.peers, MainnetKnownPeers()...)
		}
		c.inventory.activations, c.inventory.activationsSet = act, true
		c.epochs = epochs
		if !c.beaconFixed {
			c.beacon = protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(0, genesis), protocol.NewCheckpointBeacon(0, genesis))
		}
		c.rejectSybil = sybil
		return nil
	}
}
