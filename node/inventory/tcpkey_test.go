package inventory

import (
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Two witnet-rust peers on one host have no peer ID: the engine must still tell them
// apart (by session.Key, their socket addresses) when it asks announcers in turn, skips
// holders and ices the one that does not deliver.
func TestTCPPeersOfOneHostAreDistinct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := session.NewFakeClock(time.Unix(1_700_000_000, 0))
		var iced []session.Peer
		var mu sync.Mutex
		e := newTestEngine(t, Config{Clock: clock, RequestTimeout: time.Second, BlocksTimeout: 10 * time.Second, Ice: func(p session.Peer) {
			mu.Lock()
			iced = append(iced, p)
			mu.Unlock()
		}})
		net := newFakeNet(t)
		// Two plain-TCP peers: the engine knows a session by the key it had when added.
		tcpLink := func(ap string) *fakeConn {
			c, _ := net.link(e, pid(1), nil, "")
			e.removeConn(c)
			c.id, c.tcp = "", netip.MustParseAddrPort(ap)
			e.addConn(c)
			return c
		}
		liar, honest := tcpLink("192.0.2.1:21337"), tcpLink("192.0.2.1:21338")
		require.NotEqual(t, liar.Key(), honest.Key())

		tx := inventorytest.Tx(7)
		it, _, err := Decoder{}.Decode(protocol.KindTransaction, rawOf(t, tx))
		require.NoError(t, err)
		entries := []*pb.InventoryEntry{protocol.TxEntry(it.Hash)}
		asked, _ := e.missing(liar, entries, 0)
		require.Len(t, asked, 1, "first announcer is asked")
		asked, _ = e.missing(honest, entries, 0)
		require.Empty(t, asked, "the other port waits its turn")

		advanceClock(t, clock, 1, 1500*time.Millisecond)
		require.Len(t, honest.sentOf(protocol.KindInventoryRequest), 1, "the second announcer is asked next")
		e.received(honest, txMsg(tx))
		e.flush()
		require.True(t, storedBy(e, it.Hash))
		for range 9 {
			advanceClock(t, clock, 1, time.Second)
		}
		mu.Lock()
		defer mu.Unlock()
		require.Len(t, iced, 1)
		require.Equal(t, liar.tcp, iced[0].AddrPort, "the port that owes the item is iced, not the host")
	})
}
