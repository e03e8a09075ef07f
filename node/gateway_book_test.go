package node

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Plain-TCP peers in the node's one address book: tried on outbound consolidation, new
// from their Peers replies, dialled by the dialer's legacy rounds and feelers, added by
// addPeers as IP:PORT, persisted across a restart.

// expectSkipping reads until a message of kind cmd, skipping LastBeacons and whatever else the
// node sends meanwhile, and returns its body.
func (c *wrClient) expectSkipping(cmd protowire.Number) []byte {
	c.t.Helper()
	for {
		got, body := c.recv()
		if got == cmd {
			return body
		}
	}
}

func TestLegacyPeersInTheBook(t *testing.T) {
	boot := newWRListener(t, "127.0.0.3")
	found := newWRListener(t, "127.0.0.4")
	added := newWRListener(t, "127.0.0.5")
	dir := t.TempDir()
	n := tcpOnlyNode(t, WithDataDir(dir), WithLegacyPeers(boot.addr()))

	// The configured peer is dialled; once consolidated it is tried, and the node asks it
	// for peers at once (its book is small).
	c := boot.accept()
	c.handshakeListener()
	tcpSession(t, n, boot.addr(), session.Outbound)
	waitFor(t, 5*time.Second, func() bool {
		_, where, ok := n.Book().LookupKey(peers.Key{Legacy: boot.addr()})
		return ok && where == peers.BucketTried
	}, func() string { return "the consolidated --legacy-peer is not tried" })
	c.expectSkipping(wrGetPeersCmd)

	// The address it tells goes to the new bucket and is dialled (feeler or outbound).
	require.NoError(t, c.send(wrPeersCmd, wrPeersBody([][]byte{wrAddr(found.addr())})))
	f := found.accept()
	f.handshakeListener()
	_, where, ok := n.Book().LookupKey(peers.Key{Legacy: found.addr()})
	require.True(t, ok, "a discovered witnet-rust peer is in the book")
	require.Contains(t, []peers.Bucket{peers.BucketNew, peers.BucketTried}, where)

	// addPeers takes witnet-rust's IP:PORT form; the dialer dials it.
	cl := rpc.NewClient(n.RPCAddr().String(), 5*time.Second)
	require.NoError(t, cl.AddPeers(context.Background(), []string{added.addr().String()}))
	a := added.accept()
	a.handshakeListener()
	known, err := cl.KnownPeers(context.Background())
	require.NoError(t, err)
	require.Contains(t, known, rpc.KnownPeer{Address: boot.addr().String(), Type: rpc.KnownTried}, "IP:PORT rows in knownPeers")

	// The book is on disk: a restart without --legacy-peer still knows the tried peer.
	require.NoError(t, n.Close())
	n2 := startNode(t, dir, WithNoLibp2pListen(), WithLegacyListen(legacyLoopback), WithPeriods(time.Hour, time.Hour, 0))
	_, where, ok = n2.Book().LookupKey(peers.Key{Legacy: boot.addr()})
	require.True(t, ok)
	require.Equal(t, peers.BucketTried, where)
}

// TestLegacyIcePerAddress: a misbehaving plain-TCP peer is iced by its
// IP:port in the node's book, never by its whole IP, and a later connection from the same
// IP handshakes.
func TestLegacyIcePerAddress(t *testing.T) {
	n := tcpOnlyNode(t)
	c := wrDial(t, n.LegacyAddr(), "127.0.0.2")
	c.handshakeDialer()
	tcpSession(t, n, c.local(), session.Inbound)
	require.NoError(t, c.write([]byte{0, 0, 0, 3, 0xff, 0xff, 0xff})) // does not decode
	waitFor(t, 5*time.Second, func() bool { return n.Book().IsIcedKey(peers.Key{Legacy: c.local()}) }, nil)
	other := netip.AddrPortFrom(c.local().Addr(), c.local().Port()+1)
	require.False(t, n.Book().IsIcedKey(peers.Key{Legacy: other}))
	require.False(t, n.Book().IsIcedAddr(c.local().Addr()))
	c2 := wrDial(t, n.LegacyAddr(), "127.0.0.2")
	c2.handshakeDialer()
	tcpSession(t, n, c2.local(), session.Inbound)
}
