package session

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
)

// isIced reports whether the book has iced id, as ManagerConfig.Iced.
func (b *mgrBook) isIced(id peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Contains(b.iced, id)
}

// An iced peer is refused twice over: a new session on a connection it already has
// (Register) and a new connection (the gater, once the security handshake names the
// peer). Other peers, and our own dials to the iced peer, are not affected.
func TestLibp2pIcedPeerRefused(t *testing.T) {
	checkLeaks(t)
	logs := captureLogs(t)
	n := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	n.m.cfg.Iced = n.book.isIced // the book is created by newNode
	bad := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})
	honest := newNode(t, "127.0.0.1", ManagerConfig{}, Config{})

	first := bad.dial(t, n.info(), Outbound)
	n.waitCounts(t, SessionCounts{InboundConsolidated: 1})

	// n ices bad (as its inventory engine or a failed rule would), then bad opens a second
	// session on the connection it still has.
	n.book.Ice(Peer{ID: bad.h.ID()})
	first.Close(nil)
	select {
	case <-first.Done(): // bad's manager has unregistered it
	case <-time.After(5 * time.Second):
		t.Fatal("bad's first session did not end")
	}
	in := n.nextEnded(t)
	require.Equal(t, bad.h.ID(), in.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	second, err := bad.svc.Dial(ctx, n.info(), Outbound)
	require.NoError(t, err, "bad's own manager accepts its outbound session")
	select {
	case <-second.Done(): // n refused the session and reset the stream
	case <-time.After(5 * time.Second):
		t.Fatal("n did not refuse the iced peer's new session")
	}
	var refused []map[string]any
	require.Eventually(t, func() bool {
		refused = logs.Find(func(l map[string]any) bool {
			return l["msg"] == "session ended" && l["peer"] == bad.h.ID().String() && l["dir"] == "inbound" &&
				strings.Contains(fmt.Sprint(l["reason"]), ErrPeerIced.Error())
		})
		return len(refused) > 0
	}, 5*time.Second, time.Millisecond, "the refused session is logged with the peer and the reason")
	require.Equal(t, SessionCounts{}, n.m.NumSessions())

	// A new connection from bad is refused by the gater, with the peer in the log line.
	require.NoError(t, bad.h.Network().ClosePeer(n.h.ID()))
	require.Eventually(t, func() bool { return n.h.Network().Connectedness(bad.h.ID()) != network.Connected },
		5*time.Second, time.Millisecond)
	bad.clearBackoff(n)
	_, err = bad.svc.Dial(ctx, n.info(), Outbound)
	require.Error(t, err)
	require.Equal(t, network.NotConnected, n.h.Network().Connectedness(bad.h.ID()))
	require.Eventually(t, func() bool {
		return len(logs.Find(func(l map[string]any) bool {
			return l["msg"] == "inbound connection refused: peer is iced" && l["peer"] == bad.h.ID().String()
		})) > 0
	}, 5*time.Second, time.Millisecond)

	// Everyone else still gets in, and n may still dial bad (the node's loops simply do
	// not pick iced peers).
	honest.dial(t, n.info(), Outbound)
	n.waitCounts(t, SessionCounts{InboundConsolidated: 1})
	n.dial(t, bad.info(), Outbound)
	n.waitCounts(t, SessionCounts{InboundConsolidated: 1, OutboundConsolidated: 1})
}
