package node

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// StaticChain is the chain state of a node that keeps no chain: it announces a fixed
// beacon and computes the epoch from consensus constants. It has no superblock target and
// ignores the beacons inbound peers send. A real chain replaces it through WithChain.
type StaticChain struct {
	beacon *pb.LastBeacon // immutable
	epochs protocol.EpochConstants
}

var _ session.Chain = (*StaticChain)(nil)

// NewStaticChain returns a chain announcing beacon (copied) at the epochs of e.
func NewStaticChain(beacon *pb.LastBeacon, e protocol.EpochConstants) *StaticChain {
	return &StaticChain{beacon: proto.Clone(beacon).(*pb.LastBeacon), epochs: e}
}

// LastBeacon returns the configured beacon. Callers must not modify it.
func (c *StaticChain) LastBeacon() *pb.LastBeacon { return c.beacon }

// Epoch returns the epoch in force at now.
func (c *StaticChain) Epoch(now time.Time) uint32 { return c.epochs.EpochAt(now.Unix()) }

// SuperBlockTarget returns nil: without a chain there is no superblock consensus.
func (c *StaticChain) SuperBlockTarget() *pb.CheckpointBeacon { return nil }

// InboundBeacon ignores the beacon: without blocks there is nothing to announce back.
func (c *StaticChain) InboundBeacon(s *session.Session, b *pb.LastBeacon) {
	log.Debugw("inbound beacon", "peer", s.ID(), "epoch", b.GetHighestBlockCheckpoint().GetCheckpoint())
}

// RelayChain is the chain state of a node that keeps no chain but relays items, the
// default when neither WithChain nor WithBeacon is given. Its beacon claims no more than
// the node can serve and its peers agree on (PROTOCOL.md 8.6):
//
//   - the block checkpoint is the majority block of the last peers-beacon consensus
//     round when the node stores it and stores no block of a later epoch, else the
//     highest block it stores of an epoch before the current one, else genesis
//     (checkpoint 0: its peers then leave it out of their consensus);
//   - the superblock checkpoint is the majority's of the last round that found one
//     (a majority on superblock 0 does not replace a known superblock), else genesis.
//
// A witnet-rust node that dials us compares our superblock checkpoint with its own and
// drops us if ours is behind (PROTOCOL.md 7.2): until a consensus of our outbound peers
// names one, witnet-rust nodes past genesis refuse us.
//
// Peers are checked against genesis, not against the superblock we follow
// (SuperBlockTarget): without a chain we cannot tell which of two superblocks is right,
// and the consensus drops the peers that differ.
type RelayChain struct {
	*StaticChain // the genesis beacon, and the epochs
	clock        session.Clock
	// tipBefore returns our highest stored block of an epoch before the one given, a zero
	// checkpoint if none; stored reports whether a block is stored.
	tipBefore func(epoch uint32) *pb.CheckpointBeacon
	stored    func(protocol.Hash) bool

	mu       sync.Mutex
	block    checkpoint // the last majority block; valid if hasBlock
	hasBlock bool
	super    checkpoint // the superblock we follow; valid if hasSuper
	hasSuper bool
}

var _ session.Chain = (*RelayChain)(nil)

// NewRelayChain returns a relay chain with genesis as its fallback beacon, at the epochs
// of e on clock, reading the blocks stored through tipBefore and stored (inventory.Engine's
// BlockBeaconBefore and its store's Has).
func NewRelayChain(genesis *pb.LastBeacon, e protocol.EpochConstants, clock session.Clock,
	tipBefore func(epoch uint32) *pb.CheckpointBeacon, stored func(protocol.Hash) bool) *RelayChain {
	return &RelayChain{StaticChain: NewStaticChain(genesis, e), clock: clock, tipBefore: tipBefore, stored: stored}
}

// LastBeacon returns the beacon as of now, a new message each time.
func (c *RelayChain) LastBeacon() *pb.LastBeacon {
	genesis := c.StaticChain.LastBeacon()
	now := c.Epoch(c.clock.Now())
	tip := c.tipBefore(now)
	c.mu.Lock()
	block, hasBlock, super, hasSuper := c.block, c.hasBlock, c.super, c.hasSuper
	c.mu.Unlock()
	b := genesis.GetHighestBlockCheckpoint()
	if tip.GetCheckpoint() > 0 {
		b = tip
	}
	if hasBlock && block.epoch < now && block.epoch >= tip.GetCheckpoint() && block.epoch > 0 && c.stored(block.hash) {
		b = block.pb()
	}
	s := genesis.GetHighestSuperblockCheckpoint()
	if hasSuper {
		s = super.pb()
	}
	return protocol.NewLastBeaconPB(b, s)
}

// SuperBlockTarget returns the genesis superblock checkpoint: an outbound peer on our
// network passes the handshake's beacon check whatever superblock it names.
func (c *RelayChain) SuperBlockTarget() *pb.CheckpointBeacon {
	return c.StaticChain.LastBeacon().GetHighestSuperblockCheckpoint()
}

// follow takes the majority of a consensus round (block and superblock checkpoints).
func (c *RelayChain) follow(block, super checkpoint) {
	c.mu.Lock()
	c.block, c.hasBlock = block, true
	changed := !c.hasSuper || (c.super != super && (super.epoch > 0 || c.super.epoch == 0))
	if changed {
		c.super, c.hasSuper = super, true
	}
	c.mu.Unlock()
	if changed {
		log.Infow("beacon follows the consensus superblock", "superblock_epoch", super.epoch, "superblock_hash", super.hash.String())
	}
}

// buildChain sets the chain the sessions use, wrapped so that the inventory answers the
// LastBeacons of inbound peers, and the consensus rounds on it: the one given with
// WithChain, a StaticChain with WithBeacon, else a RelayChain on the inventory.
func (n *Node) buildChain() {
	cfg := &n.cfg
	var relay *RelayChain
	switch {
	case cfg.chain != nil:
		n.chain = cfg.chain
	case cfg.beaconFixed:
		n.chain = NewStaticChain(cfg.beacon, cfg.epochs)
	default:
		relay = NewRelayChain(cfg.beacon, cfg.epochs, cfg.clock, n.inv.BlockBeaconBefore, n.stored)
		n.chain = relay
		if cfg.legacy.listen.IsValid() {
			log.Infow("announcing the genesis superblock until the outbound peers' beacon consensus names one: "+
				"witnet-rust nodes past genesis that dial us refuse us until then (PeerBeaconOld)",
				"legacy_listen", cfg.legacy.listen)
		}
	}
	n.chain = inventory.Chain{Chain: n.chain, Engine: n.inv}
	n.rounds = n.newRounds(relay)
}

// blockBatches is the node's session.BlockSink: each completed block download is logged
// and counted (the blocks themselves reached the inventory one by one as they arrived),
// then handed to the chain given with WithChain if it implements session.BlockSink. An
// aborted download (the session ended with blocks owed) is counted as aborted.
type blockBatches struct {
	metrics *metrics
	next    session.BlockSink // nil: nobody else wants batches
	rounds  *beaconRounds     // told of each complete batch (a sync may go on); nil: none
}

var _ session.BlockSink = blockBatches{}

// blockSink returns the BlockSink of the node's sessions.
func (n *Node) blockSink() session.BlockSink {
	b := blockBatches{metrics: n.metrics, rounds: n.rounds}
	if next, ok := n.cfg.chain.(session.BlockSink); ok {
		b.next = next
	}
	return b
}

// Blocks implements session.BlockSink.
func (b blockBatches) Blocks(s *session.Session, blocks []*pb.Block) {
	if len(blocks) == 0 {
		b.metrics.blockBatches.WithLabelValues(batchAborted).Inc()
		log.Debugw("block download aborted", "peer", s.ID())
	} else {
		b.metrics.blockBatches.WithLabelValues(batchComplete).Inc()
		b.metrics.batchBlocks.Add(float64(len(blocks)))
		log.Debugw("block batch downloaded", "peer", s.ID(), "blocks", len(blocks),
			"first_epoch", blocks[0].GetBlockHeader().GetBeacon().GetCheckpoint(),
			"last_epoch", blocks[len(blocks)-1].GetBlockHeader().GetBeacon().GetCheckpoint())
	}
	if b.next != nil {
		b.next.Blocks(s, blocks)
	}
	if b.rounds != nil && len(blocks) > 0 {
		b.rounds.blocksArrived()
	}
}
