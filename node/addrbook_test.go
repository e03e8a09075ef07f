package node

import (
	"crypto/rand"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

func newID(t *testing.T) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	id, err := peer.IDFromPublicKey(pub)
	require.NoError(t, err)
	return id
}

func testBook(t *testing.T) *peers.Book {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "b.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	b, err := peers.Open(db, peers.Config{})
	require.NoError(t, err)
	return b
}

func TestBookAdapter(t *testing.T) {
	book := testBook(t)
	a := bookAdapter{book: book}
	src := session.Peer{ID: newID(t), Addr: ma.StringCast("/ip4/10.0.0.1/tcp/5000"), IP: netip.MustParseAddr("10.0.0.1")}

	x, y := newID(t), newID(t)
	xTCP := ma.StringCast("/ip4/10.1.0.1/tcp/21337")
	xQUIC := ma.StringCast("/ip4/10.1.0.1/udp/21337/quic-v1")
	leg := netip.MustParseAddrPort("10.3.0.1:21337")
	a.AddPeers(src, [][]byte{
		wire(t, xTCP, x),
		wire(t, xQUIC, x), // same peer: merged into one entry
		wire(t, ma.StringCast("/ip4/10.2.0.1/tcp/21337"), y),
		protocol.LegacyAddress(leg), // a witnet-rust peer: an IP:port entry
		{1, 2, 3},                   // garbage: dropped
	})
	got := uniqueIDs(book.New())
	require.Len(t, got, 3)
	require.True(t, got[x] && got[y] && got[""])
	entry, where, ok := book.Lookup(x)
	require.True(t, ok)
	require.Equal(t, peers.BucketNew, where)
	require.Len(t, entry.Addrs, 2)
	_, where, _ = book.LookupKey(peers.Key{Legacy: leg})
	require.Equal(t, peers.BucketNew, where)

	// Good moves the dialled address to tried, and GetPeers serves tried as /p2p multiaddrs.
	a.Good(session.Peer{ID: x, Addr: xTCP})
	_, where, _ = book.Lookup(x)
	require.Equal(t, peers.BucketTried, where)
	out := a.PeersForGetPeers(session.Peer{})
	require.Len(t, out, 1)
	pa, err := protocol.ParseAddress(out[0])
	require.NoError(t, err)
	require.Equal(t, x, pa.PeerID())
	require.Equal(t, xTCP.Encapsulate(mustP2P(x)).String(), pa.String())

	// A witnet-rust peer reached over TCP: its IP:port goes to tried. A libp2p peer gets
	// both forms, a TCP peer only the 6/18-byte one.
	tcpPeer := session.Peer{Transport: session.TransportTCP, AddrPort: leg, Addr: ma.StringCast("/ip4/10.3.0.1/tcp/21337"), IP: leg.Addr()}
	a.Good(tcpPeer)
	require.Len(t, a.PeersForGetPeers(session.Peer{}), 2)
	legacyReply := a.PeersForGetPeers(tcpPeer)
	require.Equal(t, [][]byte{protocol.LegacyAddress(leg)}, legacyReply)
	// A requester on the Internet is not told private addresses.
	require.Empty(t, a.PeersForGetPeers(session.Peer{IP: netip.MustParseAddr("8.8.8.8")}))

	// Ice removes from tried and ices; RemoveTried only removes. A TCP peer is iced by
	// its IP:port.
	a.Ice(session.Peer{ID: x})
	require.True(t, book.IsIced(x))
	a.Ice(tcpPeer)
	require.True(t, book.IsIcedKey(peers.Key{Legacy: leg}))
	require.False(t, book.IsIcedKey(peers.Key{Legacy: netip.MustParseAddrPort("10.3.0.1:21338")}))
	require.Empty(t, a.PeersForGetPeers(session.Peer{}))
	a.Good(session.Peer{ID: y, Addr: ma.StringCast("/ip4/10.2.0.1/tcp/21337")})
	a.RemoveTried(session.Peer{ID: y})
	require.False(t, book.IsIced(y))
	require.Empty(t, book.Tried())

	// A source without any IP cannot index the new bucket: nothing is added.
	before, _, _ := book.Counts()
	a.AddPeers(session.Peer{ID: newID(t)}, [][]byte{wire(t, ma.StringCast("/ip4/10.4.0.1/tcp/1"), newID(t))})
	after, _, _ := book.Counts()
	require.Equal(t, before, after)
	// A source known only by its IP still works.
	a.AddPeers(session.Peer{ID: newID(t), IP: netip.MustParseAddr("10.5.0.1")}, [][]byte{wire(t, ma.StringCast("/ip4/10.4.0.1/tcp/1"), newID(t))})
	after, _, _ = book.Counts()
	require.Equal(t, before+1, after)
}

// TestAddSender: an inbound peer's sender address is taken only when it is the peer's own.
func TestAddSender(t *testing.T) {
	book := testBook(t)
	a := bookAdapter{book: book}
	me := session.Peer{ID: newID(t), Addr: ma.StringCast("/ip4/8.8.8.8/tcp/40000"), IP: netip.MustParseAddr("8.8.8.8")}
	victim := newID(t)
	a.AddSender(me, wire(t, ma.StringCast("/ip4/9.9.9.9/tcp/21337"), victim))
	_, where, _ := book.Lookup(victim)
	require.Equal(t, peers.BucketNone, where, "a peer must not plant another peer's address")
	require.Equal(t, uint64(1), book.Stats().NotSelf)
	a.AddSender(me, wire(t, ma.StringCast("/ip4/8.8.8.8/tcp/21337"), me.ID))
	_, where, _ = book.Lookup(me.ID)
	require.Equal(t, peers.BucketNew, where)
	// Its own address failing ices it: it attested it.
	out, err := book.Failed(peers.Addr{ID: me.ID, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/8.8.8.8/tcp/21337")}})
	require.NoError(t, err)
	require.Equal(t, peers.OutcomeIced, out)
}

func wire(t *testing.T, m ma.Multiaddr, id peer.ID) []byte {
	t.Helper()
	b, err := protocol.MultiaddrAddress(m.Encapsulate(mustP2P(id)))
	require.NoError(t, err)
	return b
}

func TestPickAddrs(t *testing.T) {
	tcp1 := ma.StringCast("/ip4/1.1.1.1/tcp/1")
	tcp2 := ma.StringCast("/ip4/1.1.1.2/tcp/1")
	quic1 := ma.StringCast("/ip4/1.1.1.1/udp/1/quic-v1")
	tests := []struct {
		in   []ma.Multiaddr
		want []ma.Multiaddr
	}{
		{nil, nil},
		{[]ma.Multiaddr{tcp1}, []ma.Multiaddr{tcp1}},
		{[]ma.Multiaddr{tcp1, tcp2, quic1}, []ma.Multiaddr{tcp1, quic1}},
		{[]ma.Multiaddr{tcp1, tcp2}, []ma.Multiaddr{tcp1, tcp2}},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, pickAddrs(tc.in, 2))
	}
}

func TestBestAddr(t *testing.T) {
	lo := ma.StringCast("/ip4/127.0.0.1/tcp/1")
	loQUIC := ma.StringCast("/ip4/127.0.0.1/udp/1/quic-v1")
	lan := ma.StringCast("/ip4/192.168.1.5/tcp/1")
	lanQUIC := ma.StringCast("/ip4/192.168.1.5/udp/1/quic-v1")
	any4 := ma.StringCast("/ip4/0.0.0.0/tcp/1")
	require.Equal(t, lan, bestAddr([]ma.Multiaddr{lo, loQUIC, lanQUIC, lan}))
	require.Equal(t, lanQUIC, bestAddr([]ma.Multiaddr{lo, lanQUIC}))
	require.Equal(t, lo, bestAddr([]ma.Multiaddr{loQUIC, lo}))
	require.Nil(t, bestAddr([]ma.Multiaddr{any4}))
	require.Nil(t, bestAddr(nil))
}
