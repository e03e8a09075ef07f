package node

import (
	"time"

	"google.golang.org/protobuf/proto"

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
