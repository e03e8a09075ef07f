package session

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
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

// bigBlock is a block of epoch e whose signature carries size bytes: an item of about that
// size, distinct for each e.
func bigBlock(e uint32, size int) *pb.Message {
	m := testBlock(e)
	b := m.GetKind().GetBlock()
	b.BlockSig = &pb.KeyedSignature{
		Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: make([]byte, size)}}},
		PublicKey: testSig.GetPublicKey(),
	}
	return m
}

// holdBigBlocks puts n blocks of size bytes in inv and returns their entries.
func holdBigBlocks(t testing.TB, inv *fakeInventory, first uint32, n, size int) []*pb.InventoryEntry {
	t.Helper()
	var entries []*pb.InventoryEntry
	for i := range n {
		m := bigBlock(first+uint32(i), size)
		h, err := protocol.BlockHash(m.GetKind().GetBlock(), protocol.V1_7)
		require.NoError(t, err)
		e := protocol.BlockEntry(h)
		inv.hold(e, m.GetKind())
		entries = append(entries, e)
	}
	return entries
}

// frameSize is the size of m's frame on the wire.
func frameSize(t testing.TB, m *pb.Message) int {
	b, err := protocol.Marshal(m)
	require.NoError(t, err)
	return codec.HeaderSize + len(b)
}

// gatedPeer is the remote end of a session that reads only when the test says so: a
// peer that reads slowly, however steadily.
type gatedPeer struct {
	t testing.TB
	r *codec.Reader
	w *codec.Writer
}

func newGatedPeer(t testing.TB, c net.Conn) *gatedPeer {
	return &gatedPeer{t: t, r: codec.NewReader(c, 0), w: codec.NewWriter(c, 0)}
}

func (p *gatedPeer) send(m *pb.Message) {
	p.t.Helper()
	b, err := protocol.Marshal(m)
	require.NoError(p.t, err)
	require.NoError(p.t, p.w.WriteFrame(b))
}

func (p *gatedPeer) recv() *pb.Message {
	p.t.Helper()
	b, err := p.r.ReadFrame()
	require.NoError(p.t, err)
	m, err := protocol.Unmarshal(b)
	require.NoError(p.t, err)
	return m
}

// gatedSession starts an Inbound session with cfg over a pipe and consolidates it from a
// gated peer.
func gatedSession(t *testing.T, cfg Config, clock *FakeClock, n int) (*Session, *gatedPeer) {
	t.Helper()
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c2.Close() })
	s := startSession(t, c1, testPeer(t, n), Inbound, cfg)
	p := newGatedPeer(t, c2)
	p.send(peerVersion(clock, nil, uint64(100+n)))
	require.Equal(t, protocol.KindVerack, protocol.KindOf(p.recv()))
	require.Equal(t, protocol.KindVersion, protocol.KindOf(p.recv()))
	p.send(protocol.NewVerack(protocol.Magic))
	requireSettled(t, func() bool { return s.Status() == Consolidated }, "consolidation")
	return s, p
}

func request(t testing.TB, entries []*pb.InventoryEntry) *pb.Message {
	t.Helper()
	m, err := protocol.NewInventoryRequest(protocol.Magic, entries)
	require.NoError(t, err)
	return m
}

// queued returns the bytes s holds in its send queue.
func (s *Session) queued() int {
	s.queue.mu.Lock()
	defer s.queue.mu.Unlock()
	return s.queue.bytes
}

// TestServeBoundedByQueueBytes: a request for many large items, read one frame at a time,
// never makes the session hold more than ServeQueueBytes and one item, and is served in
// full and in order as the peer reads.
func TestServeBoundedByQueueBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const items, size, limit = 40, 100_000, 256 << 10
		e := newEnv(NewFakeClock(t0))
		e.cfg.ServeQueueBytes = limit
		entries := holdBigBlocks(t, e.inv, 1000, items, size)
		s, p := gatedSession(t, e.cfg, e.clock, 1)
		p.send(request(t, entries))
		most := 0
		for i := range items {
			synctest.Wait()
			most = max(most, s.queued())
			m := p.recv()
			require.Equal(t, uint32(1000+i), blockEpoch(m.GetKind().GetBlock()), "item %d in request order", i)
		}
		t.Logf("at most %d bytes queued for a request of %d bytes of items", most, items*size)
		require.LessOrEqual(t, most, limit+frameSize(t, bigBlock(1000, size)))
		requireSettled(t, func() bool { return s.queued() == 0 && !s.serving.pending.Load() }, "all served")
		require.Nil(t, s.Err())
	})
}

// TestServeBacklogCap: requests piled up beyond MaxServeBacklog entries end the session
// (ReasonMisbehaviour, OffenceServeBacklog, iced); one request of the largest size does not.
func TestServeBacklogCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.cfg.ServeQueueBytes = 1 // one item at a time
		e.cfg.MaxServeBacklog = 10
		entries := holdBigBlocks(t, e.inv, 1000, 10, 1000)
		s, p := gatedSession(t, e.cfg, e.clock, 1)
		p.send(request(t, entries)) // 10: the first is queued, 9 wait
		stillRunning(t, s)
		p.send(request(t, entries[:2])) // 11 wait
		waitDone(t, s)
		require.ErrorIs(t, s.Err(), ReasonMisbehaviour)
		require.ErrorContains(t, s.Err(), OffenceServeBacklog.String())
		require.Equal(t, 1, e.book.icedCount())
	})
}

// TestServeNodeBudget: sessions that share a SendBudget serve no more while together they
// hold its limit, and go on as the others' peers read.
func TestServeNodeBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const items, size = 6, 100_000
		budget := NewSendBudget(250_000)
		e := newEnv(NewFakeClock(t0))
		e.cfg.SendBudget = budget
		entries := holdBigBlocks(t, e.inv, 1000, items, size)
		frame := frameSize(t, bigBlock(1000, size))
		s1, p1 := gatedSession(t, e.cfg, e.clock, 1)
		s2, p2 := gatedSession(t, e.cfg, e.clock, 2)
		p1.send(request(t, entries))
		synctest.Wait()
		require.Equal(t, 3*frame, s1.queued(), "served until the budget was full")
		p2.send(request(t, entries))
		synctest.Wait()
		require.Zero(t, s2.queued(), "nothing served while the node holds its limit")
		require.Equal(t, int64(s1.queued()), budget.Queued())
		for range items {
			p1.recv()
		}
		synctest.Wait()
		require.Positive(t, s2.queued(), "served once the other peer read")
		require.LessOrEqual(t, budget.Queued(), int64(250_000+frame))
		for range items {
			p2.recv()
		}
		requireSettled(t, func() bool { return budget.Queued() == 0 }, "all released")
	})
}

// TestSendQueueBytes: Send beyond SendQueueBytes ends the session as a slow peer; a
// message always fits in an empty queue.
func TestSendQueueBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.cfg.SendQueueBytes = 100_000
		s, _ := gatedSession(t, e.cfg, e.clock, 1)
		big := bigBlock(7, 150_000) // larger than the bound: fits an empty queue
		require.NoError(t, s.SendInventoryItem(big))
		synctest.Wait() // the writer took it and blocks on the unread pipe
		require.ErrorIs(t, s.Send(protocol.NewGetPeers(protocol.Magic)), ReasonSlowPeer)
		waitDone(t, s)
		require.ErrorIs(t, s.Err(), ReasonSlowPeer)
		require.Zero(t, e.book.icedCount())
	})
}
