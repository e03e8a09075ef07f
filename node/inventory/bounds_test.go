package inventory

import (
	"encoding/binary"
	"net"
	"runtime"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Tests of the bounds on what peers can make the engine hold: announcements tracked per
// peer and node-wide, requests in flight.

// txEntries returns n transaction entries for hashes that name no item, from base on.
func txEntries(base, n int) []*pb.InventoryEntry {
	out := make([]*pb.InventoryEntry, n)
	for i := range out {
		var h protocol.Hash
		binary.BigEndian.PutUint64(h[:], uint64(base+i)+1)
		h[31] = 0x7a
		out[i] = protocol.TxEntry(h)
	}
	return out
}

// trackedOf returns how many entries the engine tracks for peer c, its requests in flight,
// and the node-wide count.
func (e *Engine) trackedOf(c conn) (tracked, inFlight, total int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ps := e.peers[c.Key()]; ps != nil {
		tracked, inFlight = ps.tracked(), ps.inFlight()
	}
	return tracked, inFlight, e.tracked
}

// requested returns the entries of every InventoryRequest sent on c.
func (c *fakeConn) requested() []*pb.InventoryEntry {
	var out []*pb.InventoryEntry
	for _, m := range c.sentOf(protocol.KindInventoryRequest) {
		out = append(out, m.GetKind().GetInventoryRequest().GetInventory()...)
	}
	return out
}

// TestAnnouncementBounds: a peer that announces without end is asked for at most
// MaxInFlightPerPeer items, tracked for at most MaxAnnouncedPerPeer, and every
// announcement beyond that returns OffenceAnnouncementOverflow; the peer's end frees all
// it held.
func TestAnnouncementBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
		e := newTestEngine(t, Config{Clock: clock, MaxInFlightPerPeer: 100, MaxAnnouncedPerPeer: 500})
		net := newFakeNet(t)
		flood, _ := net.link(e, pid(1), nil, pid(9))

		out, o := e.missing(flood, txEntries(0, 300), 0)
		require.Len(t, out, 100, "asked for at most MaxInFlightPerPeer")
		require.Equal(t, session.OffenceNone, o, "300 tracked: within the bound")
		tracked, inFlight, _ := e.trackedOf(flood)
		require.Equal(t, 300, tracked)
		require.Equal(t, 100, inFlight)

		out, o = e.missing(flood, txEntries(300, 10_000), 0)
		require.Empty(t, out)
		require.Equal(t, session.OffenceAnnouncementOverflow, o)
		tracked, _, total := e.trackedOf(flood)
		require.Equal(t, 500, tracked, "tracked up to MaxAnnouncedPerPeer")
		require.Equal(t, 500, total)
		out, o = e.missing(flood, txEntries(20_000, 10), 0)
		require.Empty(t, out)
		require.Equal(t, session.OffenceAnnouncementOverflow, o, "every announcement beyond the bound")
		require.EqualValues(t, 2, e.Stats().AnnouncementOverflows)

		// Another peer announcing the same items is tracked as a fall-back, within its own
		// bound, and is not blamed for the first one's flood.
		other, _ := net.link(e, pid(1), nil, pid(8))
		out, o = e.missing(other, txEntries(0, 300), 0)
		require.Len(t, out, 100, "those nobody was asked for are asked from it, as its room allows")
		require.Equal(t, session.OffenceNone, o)
		tracked, _, total = e.trackedOf(other)
		require.Equal(t, 300, tracked)
		require.Equal(t, 800, total)

		// The flooder's session ends: everything it held is forgotten.
		e.removeConn(flood)
		_, _, total = e.trackedOf(other)
		require.Equal(t, 300, total, "only the other peer's fall-backs are left")
		e.removeConn(other)
		_, _, total = e.trackedOf(other)
		require.Zero(t, total)
	})
}

// TestAnnouncementBoundNodeWide: beyond MaxTrackedBytes, announcements are ignored for
// every peer, without blaming any.
func TestAnnouncementBoundNodeWide(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t, Config{Clock: session.NewFakeClock(time.Unix(1_700_000_000, 0)),
			MaxAnnouncedPerPeer: 1000, MaxTrackedBytes: 1500 * trackedEntryCost})
		net := newFakeNet(t)
		a, _ := net.link(e, pid(1), nil, pid(9))
		b, _ := net.link(e, pid(1), nil, pid(8))
		out, o := e.missing(a, txEntries(0, 1000), 0)
		require.Len(t, out, 1000)
		require.Equal(t, session.OffenceNone, o)
		out, o = e.missing(b, txEntries(5000, 1000), 0)
		require.Len(t, out, 500, "the node-wide bound leaves room for 500")
		require.Equal(t, session.OffenceNone, o, "no single peer is at fault")
		require.EqualValues(t, 500, e.Stats().AnnouncedIgnored)
	})
}

// TestWaitingAnnouncementsAskedOnDelivery: items announced beyond a peer's requests in
// flight are asked from it as it delivers, and by the sweep when nobody else can be asked.
func TestWaitingAnnouncementsAskedOnDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
		e := newTestEngine(t, Config{Clock: clock, RequestTimeout: time.Second, MaxInFlightPerPeer: 4})
		net := newFakeNet(t)
		p, _ := net.link(e, pid(1), nil, pid(9))
		var entries []*pb.InventoryEntry
		for i := range 10 {
			it, _, err := Decoder{}.Decode(protocol.KindTransaction, inventorytest.TxBytes(uint64(i)))
			require.NoError(t, err)
			entries = append(entries, it.Entry())
		}
		require.Len(t, e.announced(p, entries...), 4)
		// Two deliveries make room for two more requests, sent at once.
		e.received(p, txMsg(inventorytest.Tx(0)))
		e.received(p, txMsg(inventorytest.Tx(1)))
		require.Equal(t, keysOf(entries[4:6]), keysOf(p.requested()))
		_, inFlight, _ := e.trackedOf(p)
		require.Equal(t, 4, inFlight)
		// The peer delivers nothing more: past the request timeout the waiting items stay
		// waiting (it has no room), and nothing is dropped.
		advanceClock(t, clock, 1, 1500*time.Millisecond)
		tracked, _, _ := e.trackedOf(p)
		require.Equal(t, 8, tracked)
		for i := 2; i < 10; i++ {
			e.received(p, txMsg(inventorytest.Tx(uint64(i))))
		}
		require.Equal(t, keysOf(entries[4:]), keysOf(p.requested()), "each item asked once")
		tracked, _, total := e.trackedOf(p)
		require.Zero(t, tracked)
		require.Zero(t, total)
		require.Zero(t, e.Stats().Unsolicited)
	})
}

// TestBlockLimitRecordsOnlyRequested: the blocks of an announcement beyond the block limit
// are neither requested nor owed, so a peer that delivers every block it was asked for is
// never iced for the others (a session used to cut the request after the inventory had
// recorded every block as owed).
func TestBlockLimitRecordsOnlyRequested(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
		e := newTestEngine(t, Config{Clock: clock, RequestTimeout: time.Second, BlocksTimeout: 10 * time.Second})
		net := newFakeNet(t)
		p, _ := net.link(e, pid(1), nil, pid(9))
		var blocks []*pb.Block
		var entries []*pb.InventoryEntry
		for i := range 12 {
			b := testBlock(t, uint32(100+i), 0)
			h, err := protocol.BlockHashAt(b, protocol.VersionActivations{})
			require.NoError(t, err)
			blocks = append(blocks, b)
			entries = append(entries, protocol.BlockEntry(h))
		}
		entries = append(entries, txEntries(0, 3)...) // entries of other kinds are not limited
		out, o := e.missing(p, entries, 10)
		require.Equal(t, session.OffenceNone, o)
		require.Equal(t, keysOf(append(entries[:10:10], entries[12:]...)), keysOf(out))
		_, inFlight, _ := e.trackedOf(p)
		require.Equal(t, 13, inFlight)
		for _, b := range blocks[:10] {
			e.received(p, protocol.NewBlock(protocol.Magic, b))
		}
		for range 12 {
			advanceClock(t, clock, 1, time.Second)
		}
		// The three transactions it never delivered get it iced; not the two blocks it
		// was never asked for: those are not even known to the engine.
		p.mu.Lock()
		closed := p.closeErr
		p.mu.Unlock()
		require.ErrorIs(t, closed, ErrNotDelivered)
		e.mu.Lock()
		_, b10 := e.inflight[entryKeyOf(entries[10])]
		e.mu.Unlock()
		require.False(t, b10)
	})
}

// keysOf returns the keys entries name, in order (short to print when a test fails).
func keysOf(entries []*pb.InventoryEntry) []entryKey {
	out := make([]entryKey, len(entries))
	for i, en := range entries {
		out[i] = entryKeyOf(en)
	}
	return out
}

func entryKeyOf(en *pb.InventoryEntry) entryKey {
	k, _, _ := keyOfEntry(en)
	return k
}

// TestTrackedEntryCost measures the heap one tracked entry costs, in the three ways an
// entry is tracked (a request in flight, an item waiting for its announcer to have room, a
// fall-back announcer): trackedEntryCost must cover each, so that MaxTrackedBytes bounds
// bytes.
func TestTrackedEntryCost(t *testing.T) {
	const n = 20_000
	for _, tc := range []struct {
		name     string
		inFlight int
		second   bool
	}{
		{"requests in flight", n, false},
		{"waiting for room", 1, false},
		{"in flight, and a fall-back", n, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newTestEngine(t, Config{Clock: session.NewFakeClock(time.Unix(1_700_000_000, 0)),
					MaxAnnouncedPerPeer: n, MaxInFlightPerPeer: tc.inFlight})
				net := newFakeNet(t)
				a, _ := net.link(e, pid(1), nil, pid(9))
				b, _ := net.link(e, pid(1), nil, pid(8))
				entries := txEntries(0, n)
				before := heapInUse()
				e.announced(a, entries...)
				if tc.second {
					e.announced(b, entries...)
				}
				after := heapInUse()
				_, _, total := e.trackedOf(a)
				per := float64(after-before) / float64(total)
				t.Logf("%d entries tracked: %.0f bytes each (bound %d)", total, per, trackedEntryCost)
				require.Less(t, per, float64(trackedEntryCost))
				runtime.KeepAlive(entries)
			})
		})
	}
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestSessionBlockLimitOwesOnlyRequested runs the block limit through a real session: a
// peer announcing more blocks than the batch limit is asked for the first
// DefaultBlocksBatchLimit of them, and owes exactly those.
func TestSessionBlockLimitOwesOnlyRequested(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
		e := newTestEngine(t, Config{Clock: clock})
		c1, c2 := net.Pipe()
		s := session.New(c1, session.Peer{ID: pid(9)}, session.Inbound, session.Config{Clock: clock, Inventory: e})
		s.Start()
		t.Cleanup(func() { s.Close(nil); <-s.Done(); c2.Close() })
		r, w := codec.NewReader(c2, 0), codec.NewWriter(c2, 0)
		send := func(m *pb.Message) {
			b, err := protocol.Marshal(m)
			require.NoError(t, err)
			require.NoError(t, w.WriteFrame(b))
		}
		recv := func() *pb.Message {
			b, err := r.ReadFrame()
			require.NoError(t, err)
			m, err := protocol.Unmarshal(b)
			require.NoError(t, err)
			return m
		}
		send(protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: clock.Now().Unix(), Nonce: 7}))
		recv() // Verack
		recv() // Version
		send(protocol.NewVerack(protocol.Magic))
		const announced = session.DefaultBlocksBatchLimit + 100
		entries := make([]*pb.InventoryEntry, announced)
		for i := range entries {
			var h protocol.Hash
			binary.BigEndian.PutUint64(h[:], uint64(i)+1)
			entries[i] = protocol.BlockEntry(h)
		}
		ann, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
		require.NoError(t, err)
		send(ann)
		req := recv().GetKind().GetInventoryRequest().GetInventory()
		require.Len(t, req, session.DefaultBlocksBatchLimit)
		require.Equal(t, keysOf(entries[:session.DefaultBlocksBatchLimit]), keysOf(req))
		synctest.Wait()
		e.mu.Lock()
		owed := e.peers[session.PeerKey(pid(9))].inFlight()
		e.mu.Unlock()
		require.Equal(t, session.DefaultBlocksBatchLimit, owed, "the blocks left out are not owed")
	})
}
