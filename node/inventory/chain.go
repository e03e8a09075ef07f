package inventory

import (
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// MaxBlocksSync is witnet-rust's MAX_BLOCKS_SYNC: the most block hashes announced to an
// inbound peer whose beacon is behind ours.
const MaxBlocksSync = 500

// Chain wraps a node's chain state so that the LastBeacon of an inbound peer is answered
// by the engine with the stored blocks the peer lacks (PROTOCOL.md 7.6); every other method is
// the wrapped chain's.
type Chain struct {
	session.Chain
	Engine *Engine
}

var _ session.Chain = Chain{}

// InboundBeacon implements session.Chain.
func (c Chain) InboundBeacon(s *session.Session, b *pb.LastBeacon) {
	c.Engine.InboundBeacon(s, b)
}

// InboundBeacon answers a LastBeacon received on an inbound session (PROTOCOL.md 7.6): if the
// peer's block checkpoint is behind our highest stored block, it is announced the stored
// blocks of the epochs after its checkpoint, in epoch order, at most MaxBlocksSync. The
// node's session.Chain implementation delegates to it.
func (e *Engine) InboundBeacon(s *session.Session, b *pb.LastBeacon) { e.inboundBeacon(s, b) }

func (e *Engine) inboundBeacon(c conn, b *pb.LastBeacon) {
	theirs := b.GetHighestBlockCheckpoint().GetCheckpoint()
	tip, ok, err := e.store.Tip()
	if err != nil || !ok {
		return
	}
	switch {
	case theirs > tip.Epoch:
		log.Debugw("inbound peer is ahead of us", "peer", c.Peer(), "theirs", theirs, "ours", tip.Epoch)
		return
	case theirs == tip.Epoch:
		return
	}
	refs, err := e.store.Blocks(theirs+1, tip.Epoch, MaxBlocksSync)
	if err != nil || len(refs) == 0 {
		return
	}
	entries := make([]*pb.InventoryEntry, len(refs))
	for i, r := range refs {
		entries[i] = protocol.BlockEntry(r.Hash)
	}
	if err := c.AnnounceItems(entries); err == nil {
		e.stats.announcedOut.Add(uint64(len(entries)))
		e.stats.announcementsOut.Add(1)
	}
}

// SendBeacons sends b to every consolidated inbound session, of either transport, and
// returns how many took it. The node calls it once per epoch with its LastBeacon, as
// witnet-rust's chain manager broadcasts its beacon to its inbound sessions only
// (PROTOCOL.md 7.6): the peers that connected to us count it in their peers-beacon
// consensus. A node that lacks blocks asks for them by sending its beacon to one
// outbound peer of its consensus (the node's sync request), which answers as
// InboundBeacon does.
func (e *Engine) SendBeacons(b *pb.LastBeacon) int {
	e.mu.Lock()
	var out []conn
	for c := range e.sessions {
		if c.Type() == session.Inbound {
			out = append(out, c)
		}
	}
	e.mu.Unlock()
	n := 0
	for _, c := range out {
		if c.SendLastBeacon(b) == nil {
			n++
		}
	}
	return n
}

// BlockBeacon returns the checkpoint of our highest stored block (epoch and hash), or a
// zero checkpoint when no block is stored.
func (e *Engine) BlockBeacon() *pb.CheckpointBeacon {
	return checkpointOf(e.store.Tip())
}

// BlockBeaconBefore is BlockBeacon among the blocks of epochs before epoch. A node
// without a chain of its own names it in its LastBeacon with the current epoch: a block
// of the current epoch is at best a candidate, and one of a later epoch (which any peer
// can push) would make witnet-rust peers refuse us (PROTOCOL.md 7.2, DifferentEpoch).
func (e *Engine) BlockBeaconBefore(epoch uint32) *pb.CheckpointBeacon {
	return checkpointOf(e.store.TipBefore(epoch))
}

func checkpointOf(tip BlockRef, ok bool, err error) *pb.CheckpointBeacon {
	if err != nil || !ok {
		return protocol.NewCheckpointBeacon(0, protocol.Hash{})
	}
	return protocol.NewCheckpointBeacon(tip.Epoch, tip.Hash)
}
