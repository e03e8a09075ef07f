package inventory

import (
	"net/netip"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// tcpPeerLink links e to a scripted plain-TCP peer at ap (a witnet-rust node) and returns
// e's session with it.
func tcpPeerLink(net *fakeNet, e *Engine, ap string) *fakeConn {
	c, _ := net.link(e, pid(90), nil, "")
	e.removeConn(c)
	c.id, c.tcp = "", netip.MustParseAddrPort(ap)
	e.addConn(c)
	return c
}

// itemHashes returns the hashes of the items of kind k sent on c.
func itemHashes(t *testing.T, c *fakeConn, k protocol.Kind) []protocol.Hash {
	t.Helper()
	var out []protocol.Hash
	for _, m := range c.sentOf(k) {
		it, err := Decoder{}.FromMessage(m)
		require.NoError(t, err)
		out = append(out, it.Hash)
	}
	return out
}

// announcedTo returns the entries announced on c.
func announcedTo(c *fakeConn) []*pb.InventoryEntry {
	var out []*pb.InventoryEntry
	for _, m := range c.sentOf(protocol.KindInventoryAnnouncement) {
		out = append(out, m.GetKind().GetInventoryAnnouncement().GetInventory()...)
	}
	return out
}

// TestRelayToTCPPeers: a witnet-rust peer gets transactions and block candidates pushed
// in full, whoever they came from, blocks the engine fetched announced, superblocks not at
// all; nothing goes back to the peer it came from. libp2p peers keep their relay.
func TestRelayToTCPPeers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t, Config{})
		net := newFakeNet(t)
		lp, _ := net.link(e, pid(1), nil, pid(2)) // e's session with a libp2p peer
		tcp := tcpPeerLink(net, e, "192.0.2.1:21337")
		other := tcpPeerLink(net, e, "192.0.2.2:21337")

		// A transaction the node submits: pushed to every peer (small, its own).
		sub, _, err := e.Submit(protocol.KindTransaction, inventorytest.TxBytes(1))
		require.NoError(t, err)
		settle(e)
		for _, c := range []*fakeConn{lp, tcp, other} {
			require.Equal(t, []protocol.Hash{sub.Hash}, itemHashes(t, c, protocol.KindTransaction), "%v", c.Peer())
		}

		// One a witnet-rust peer pushes: announced to the libp2p peer, pushed to the
		// other witnet-rust peer, never sent back.
		fromTCP := inventorytest.Tx(2)
		e.received(tcp, txMsg(fromTCP))
		settle(e)
		h2 := hashOf(t, fromTCP)
		require.Len(t, itemHashes(t, tcp, protocol.KindTransaction), 1, "not back to its sender")
		require.Contains(t, itemHashes(t, other, protocol.KindTransaction), h2)
		require.Contains(t, announcedTo(lp), protocol.TxEntry(h2))

		// One a libp2p peer relays: pushed in full to both witnet-rust peers (an
		// announcement of it would never be requested).
		fromLP := inventorytest.Tx(3)
		e.received(lp, txMsg(fromLP))
		settle(e)
		h3 := hashOf(t, fromLP)
		for _, c := range []*fakeConn{tcp, other} {
			require.Contains(t, itemHashes(t, c, protocol.KindTransaction), h3)
		}

		// A block candidate (nobody asked for it): pushed to witnet-rust peers.
		cand := testBlock(t, 5, 1)
		e.received(lp, protocol.NewBlock(protocol.Magic, cand))
		settle(e)
		hc := hashOf(t, cand)
		for _, c := range []*fakeConn{tcp, other} {
			require.Equal(t, []protocol.Hash{hc}, itemHashes(t, c, protocol.KindBlock))
		}

		// A block fetched after an announcement: announced to witnet-rust peers, which
		// request Block entries.
		blk := testBlock(t, 6, 1)
		hb := hashOf(t, blk)
		require.Len(t, e.announced(lp, protocol.BlockEntry(hb)), 1)
		e.received(lp, protocol.NewBlock(protocol.Magic, blk))
		settle(e)
		for _, c := range []*fakeConn{tcp, other} {
			require.Contains(t, announcedTo(c), protocol.BlockEntry(hb))
			require.NotContains(t, itemHashes(t, c, protocol.KindBlock), hb)
		}

		// A superblock: witnet-rust never requests one from an announcement.
		sb := testSuperBlock(8)
		require.Len(t, e.announced(lp, protocol.SuperBlockEntry(8)), 1)
		e.received(lp, protocol.NewSuperBlock(protocol.Magic, sb))
		settle(e)
		for _, c := range []*fakeConn{tcp, other} {
			require.NotContains(t, announcedTo(c), protocol.SuperBlockEntry(8))
			require.Empty(t, c.sentOf(protocol.KindSuperBlock))
		}

		// A vote: pushed to everyone but its sender.
		e.received(tcp, protocol.NewSuperBlockVote(protocol.Magic, testVote(8)))
		settle(e)
		require.Len(t, other.sentOf(protocol.KindSuperBlockVote), 1)
		require.Len(t, lp.sentOf(protocol.KindSuperBlockVote), 1)
		require.Empty(t, tcp.sentOf(protocol.KindSuperBlockVote))
		for _, c := range []*fakeConn{tcp, other} {
			for _, en := range announcedTo(c) {
				require.NotNil(t, en.GetBlock(), "a witnet-rust peer is announced blocks only: %v", en)
			}
		}
	})
}

// TestFullPushesBounded: a burst queued for a witnet-rust peer in one flush is pushed up
// to maxFullPushesPerFlush; the rest is dropped for it (and counted), never announced.
func TestFullPushesBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newTestEngine(t, Config{})
		net := newFakeNet(t)
		tcp := tcpPeerLink(net, e, "192.0.2.1:21337")
		var queued []outbound
		for i := range maxFullPushesPerFlush + 10 {
			tx := inventorytest.Tx(uint64(100 + i))
			queued = append(queued, outbound{entry: protocol.TxEntry(hashOf(t, tx)), push: txMsg(tx), full: true})
		}
		e.sendQueued(tcp, queued)
		settle(e)
		require.Len(t, tcp.sentOf(protocol.KindTransaction), maxFullPushesPerFlush)
		require.Empty(t, tcp.sentOf(protocol.KindInventoryAnnouncement))
		require.Equal(t, uint64(10), e.Stats().RelayDropped)
	})
}

// hashOf returns the inventory hash of a transaction or block.
func hashOf(t *testing.T, m any) protocol.Hash {
	t.Helper()
	var msg *pb.Message
	switch v := m.(type) {
	case *pb.Transaction:
		msg = txMsg(v)
	case *pb.Block:
		msg = protocol.NewBlock(protocol.Magic, v)
	default:
		t.Fatalf("hashOf %T", m)
	}
	it, err := Decoder{}.FromMessage(msg)
	require.NoError(t, err)
	return it.Hash
}
