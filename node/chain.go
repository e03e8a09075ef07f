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
