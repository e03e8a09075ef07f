package session

import (
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// blockDownload is a session's block download (PROTOCOL.md 7.5): the block hashes requested
// from the peer's last InventoryAnnouncement, in announcement order, and the blocks
// received so far. The reader goroutine owns it; after the reader returned, finish reads
// it. Only started is read by other goroutines.
type blockDownload struct {
	// beaconEpoch is our highest block checkpoint when the session was created: serving
	// a block of that epoch is followed by our superblock votes. Set by New, then
	// read-only. witnet-rust also keeps the beacon of the session's creation (PROTOCOL.md
	// 13.10).
	beaconEpoch uint32

	want    []protocol.Hash       // requested hashes in announcement order; nil: no download
	pos     map[protocol.Hash]int // hash -> index in want
	got     []*pb.Block           // received blocks, by index in want
	pending int                   // requested blocks not received yet
	bytes   int                   // encoded size of the blocks in got

	// started is the clock time (UnixNano) at which the download in progress began, 0
	// when none is in progress.
	started atomic.Int64
}

// initBlocks records what the block download rules need from the session's creation.
func (s *Session) initBlocks() {
	s.blocks.beaconEpoch = s.cfg.Chain.LastBeacon().GetHighestBlockCheckpoint().GetCheckpoint()
}

// DownloadStarted returns when the session's block download in progress started (the
// time of the InventoryAnnouncement it answers), and false when no download is in
// progress. The blocks timeout is the inventory's; this is only for observers.
func (s *Session) DownloadStarted() (time.Time, bool) {
	ns := s.blocks.started.Load()
	if ns == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, ns), true
}

// blockSink returns where completed downloads go (see Config.Blocks), or nil.
func (s *Session) blockSink() BlockSink {
	if s.cfg.Blocks != nil {
		return s.cfg.Blocks
	}
	if b, ok := s.cfg.Chain.(BlockSink); ok {
		return b
	}
	if b, ok := s.cfg.Inventory.(BlockSink); ok {
		return b
	}
	return nil
}

// startDownload makes the block entries of a request just sent the session's download.
// A download in progress is replaced (witnet-rust logs a warning and starts over, the
// blocks received for the old one are dropped). A request without block entries leaves
// the download as it is: unlike witnet-rust (PROTOCOL.md 13.9), an announcement that asks
// nothing does not start a download the peer can never complete.
func (s *Session) startDownload(requested []*pb.InventoryEntry, now time.Time) {
	var want []protocol.Hash
	var pos map[protocol.Hash]int
	for _, e := range requested {
		b, ok := e.GetKind().(*pb.InventoryEntry_Block)
		if !ok {
			continue
		}
		h, err := protocol.HashFromBytes(b.Block.GetSHA256())
		if err != nil {
			continue
		}
		if pos == nil {
			pos = make(map[protocol.Hash]int, len(requested))
		}
		if _, dup := pos[h]; dup { // one copy suffices; a duplicate would never arrive twice
			continue
		}
		pos[h] = len(want)
		want = append(want, h)
	}
	if len(want) == 0 {
		return
	}
	d := &s.blocks
	if d.want != nil {
		s.log.Warnw("new announcement replaces the block download in progress",
			"requested", len(d.want), "received", len(d.want)-d.pending, "new", len(want))
	}
	d.want, d.pos, d.got, d.pending, d.bytes = want, pos, make([]*pb.Block, len(want)), len(want), 0
	d.started.Store(now.UnixNano())
}

// blockArrived matches a received block against the download in progress. The block's
// hash uses the protocol version of its epoch; if that is not a requested hash, the next
// version's hash is tried too, since a version change may fall inside a batch (PROTOCOL.md
// 7.5). A block that matches nothing is a candidate, which the Inventory already got.
// When the last requested block arrives, the batch goes to the BlockSink.
func (s *Session) blockArrived(b *pb.Block) {
	d := &s.blocks
	if d.want == nil || b == nil {
		return
	}
	i, ok := d.match(b, s.cfg.Activations)
	if !ok || d.got[i] != nil {
		return
	}
	if d.bytes += proto.Size(b); d.bytes > s.cfg.MaxDownloadBytes {
		s.log.Warnw("block download abandoned: its blocks exceed the download size limit",
			"requested", len(d.want), "received", len(d.want)-d.pending, "limit_bytes", s.cfg.MaxDownloadBytes)
		d.reset()
		if sink := s.blockSink(); sink != nil {
			sink.Blocks(s, nil)
		}
		return
	}
	d.got[i] = b
	d.pending--
	if d.pending > 0 {
		return
	}
	batch := d.got
	d.reset()
	s.log.Debugw("block download complete", "blocks", len(batch),
		"first_epoch", blockEpoch(batch[0]), "last_epoch", blockEpoch(batch[len(batch)-1]))
	if sink := s.blockSink(); sink != nil {
		sink.Blocks(s, batch)
	}
}

// match returns the index in want of b's hash under its epoch's version, or under the
// next version.
func (d *blockDownload) match(b *pb.Block, act protocol.VersionActivations) (int, bool) {
	v := act.VersionAt(blockEpoch(b))
	h, err := protocol.BlockHash(b, v)
	if err != nil {
		return 0, false
	}
	if i, ok := d.pos[h]; ok {
		return i, true
	}
	if next := v + 1; next.Valid() {
		if h2, err := protocol.BlockHash(b, next); err == nil && h2 != h {
			i, ok := d.pos[h2]
			return i, ok
		}
	}
	return 0, false
}

// reset ends the download in progress.
func (d *blockDownload) reset() {
	d.want, d.pos, d.got, d.pending, d.bytes = nil, nil, nil, 0, 0
	d.started.Store(0)
}

// abortDownload runs when the session ends: a download still in progress is reported
// to the BlockSink as an empty batch, as witnet-rust's session tells the chain manager.
func (s *Session) abortDownload() {
	d := &s.blocks
	if d.want == nil {
		return
	}
	s.log.Debugw("block download aborted: session ended", "requested", len(d.want), "received", len(d.want)-d.pending)
	d.reset()
	if sink := s.blockSink(); sink != nil {
		sink.Blocks(s, nil)
	}
}

// votesToSend returns the superblock votes of the VoteSource (the Inventory, else the
// Chain), sent after a served block of the beacon epoch (PROTOCOL.md 7.5).
func (s *Session) votesToSend() []*pb.SuperBlockVote {
	src, ok := s.cfg.Inventory.(VoteSource)
	if !ok {
		if src, ok = s.cfg.Chain.(VoteSource); !ok {
			return nil
		}
	}
	votes := slices.DeleteFunc(slices.Clone(src.SuperBlockVotes()), func(v *pb.SuperBlockVote) bool { return v == nil })
	if len(votes) > 0 {
		s.log.Debugw("superblock votes follow the beacon block", "votes", len(votes))
	}
	return votes
}

// blockEpoch is the epoch (beacon checkpoint) of b.
func blockEpoch(b *pb.Block) uint32 { return b.GetBlockHeader().GetBeacon().GetCheckpoint() }
