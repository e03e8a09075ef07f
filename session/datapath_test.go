package session

import (
	"encoding/binary"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Tests of the bounds on what a peer can make a session hold: frame size before the
// handshake, queued bytes, the serving backlog, announcements.

// TestHandshakeFrameCap: before consolidation a frame above MaxHandshakeFrameSize ends the
// session from its header (ReasonDecode, iced), so a Version with a megabyte user agent
// is never read; after consolidation frames up to MaxFrameSize are read again.
func TestHandshakeFrameCap(t *testing.T) {
	t.Run("large frame before the handshake", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(NewFakeClock(t0))
			s, p := pipeSession(t, Inbound, e)
			v := peerVersion(e.clock, nil, 42)
			v.GetKind().GetVersion().UserAgent = strings.Repeat("a", 8<<20)
			b, err := protocol.Marshal(v)
			require.NoError(t, err)
			// Only the header: the session must refuse the frame before reading its body.
			_ = p.sendHeader(len(b))
			waitDone(t, s)
			require.ErrorIs(t, s.Err(), ReasonDecode)
			require.ErrorContains(t, s.Err(), "exceeds the maximum of 65536 bytes")
			require.Equal(t, 1, e.book.icedCount())
		})
	})
	t.Run("long user agent within the frame cap", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(NewFakeClock(t0))
			s, p := pipeSession(t, Inbound, e)
			v := peerVersion(e.clock, nil, 42)
			v.GetKind().GetVersion().UserAgent = strings.Repeat("a", protocol.MaxUserAgentLength+1)
			require.NoError(t, p.send(v))
			waitDone(t, s)
			require.ErrorIs(t, s.Err(), ReasonDecode)
			require.ErrorIs(t, s.Err(), protocol.ErrUserAgentTooLong)
			require.Equal(t, 1, e.book.icedCount())
		})
	})
	t.Run("large frames after the handshake", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(NewFakeClock(t0))
			s, p := pipeSession(t, Inbound, e)
			consolidateInbound(t, p, e.clock, s)
			entries := make([]*pb.InventoryEntry, 5000) // ~190 KB
			for i := range entries {
				var h protocol.Hash
				binary.BigEndian.PutUint32(h[:], uint32(i))
				entries[i] = protocol.TxEntry(h)
			}
			ann, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
			require.NoError(t, err)
			require.NoError(t, p.send(ann))
			requireSettled(t, func() bool { return s.Stats().MessagesIn[protocol.KindInventoryAnnouncement] == 1 }, "announcement read")
			require.Nil(t, s.Err())
		})
	})
}

// sendHeader writes a frame header announcing n bytes and nothing else.
func (p *pipePeer) sendHeader(n int) error {
	_, err := p.conn.Write(binary.BigEndian.AppendUint32(nil, uint32(n)))
	return err
}

// overflowingInventory is an AnnouncedBy inventory that records the block limit it is
// given and reports every announcement as overflowing its bounds.
type overflowingInventory struct {
	nopInventory
	limits chan int
}

func (inv overflowingInventory) MissingFrom(_ *Session, entries []*pb.InventoryEntry, maxBlocks int) ([]*pb.InventoryEntry, Offence) {
	inv.limits <- maxBlocks
	return nil, OffenceAnnouncementOverflow
}

// TestAnnouncementOverflowScored: the session gives the inventory its block limit, and
// scores every announcement the inventory reports beyond its bounds, ending the session
// (ReasonMisbehaviour, iced) at the threshold.
func TestAnnouncementOverflowScored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		inv := overflowingInventory{limits: make(chan int, 100)}
		e.cfg.Inventory = inv
		s, p := pipeSession(t, Inbound, e)
		consolidateInbound(t, p, e.clock, s)
		ann, err := protocol.NewInventoryAnnouncement(protocol.Magic, []*pb.InventoryEntry{protocol.TxEntry(protocol.Hash{1})})
		require.NoError(t, err)
		perOverflow := DefaultMisbehaviourThreshold / scoreAnnouncementOverflow
		for range perOverflow - 1 {
			require.NoError(t, p.send(ann))
		}
		requireSettled(t, func() bool { return s.Stats().Offences[OffenceAnnouncementOverflow] == uint64(perOverflow-1) }, "overflows scored")
		require.Nil(t, s.Err(), "below the threshold")
		require.Equal(t, DefaultBlocksBatchLimit, <-inv.limits)
		_ = p.send(ann)
		waitDone(t, s)
		require.ErrorIs(t, s.Err(), ReasonMisbehaviour)
		require.ErrorContains(t, s.Err(), OffenceAnnouncementOverflow.String())
		require.Equal(t, 1, e.book.icedCount())
	})
}
