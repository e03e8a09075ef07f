package session

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/test"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

// TestRelayedConnectionNotCountedAgainstRelayRange: a relayed connection's remote address
// carries the relay's IP, not the peer's; the sybil rule must not count it against the
// relay's range (which may well hold an inbound session: the relay's own), or every private
// peer relayed by one relay would share one inbound slot. Only the inbound limit applies.
func TestRelayedConnectionNotCountedAgainstRelayRange(t *testing.T) {
	m := NewManager(ManagerConfig{RejectSybilInbounds: true, InboundLimit: 3})
	g := m.Gater()
	relay := test.RandPeerIDFatal(t)
	require.NoError(t, m.Register(idleSession(relay, Inbound, "203.0.113.7")), "the relay's own inbound session")

	direct := acceptAddrs{ma.StringCast("/ip4/203.0.113.9/tcp/4001")}
	require.False(t, g.InterceptAccept(direct), "a direct connection from the relay's range is a sybil")

	relayed := ma.StringCast("/ip4/203.0.113.7/tcp/21337/p2p/" + relay.String() + "/p2p-circuit")
	require.False(t, ipOf(relayed).IsValid(), "a relay address has no IP of the peer")
	require.True(t, g.InterceptAccept(acceptAddrs{relayed}), "relayed connection refused for the relay's range")

	// A session described from such a connection (peerOf uses ipOf) is not ranged either.
	require.NoError(t, m.Register(New(nopConn{}, Peer{ID: test.RandPeerIDFatal(t), Addr: relayed, IP: ipOf(relayed)}, Inbound, Config{})))

	// The inbound limit still counts.
	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "198.51.100.1")))
	require.False(t, g.InterceptAccept(acceptAddrs{relayed}), "inbound limit reached")
}

// TestSecondConnectionOfKnownHost: an AutoNAT server dials us back from its own IP to
// check our address, while its range may already hold an inbound session (its own, or
// another host's while we have an outbound session with the server). Such a connection,
// from the IP of a peer we have a session with, passes the gater; a new host of the range
// does not, and a second inbound session from the range is still refused by Register.
func TestSecondConnectionOfKnownHost(t *testing.T) {
	m := NewManager(ManagerConfig{RejectSybilInbounds: true})
	g := m.Gater()
	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "7.0.64.1")))
	require.NoError(t, m.Register(idleSession(test.RandPeerIDFatal(t), Outbound, "7.0.70.9")))

	require.True(t, g.InterceptAccept(acceptAddrs{ma.StringCast("/ip4/7.0.64.1/tcp/40000")}), "the holder's own second connection")
	require.True(t, g.InterceptAccept(acceptAddrs{ma.StringCast("/ip4/7.0.70.9/udp/40000/quic-v1")}), "an outbound peer dialling back")
	require.False(t, g.InterceptAccept(acceptAddrs{ma.StringCast("/ip4/7.0.64.2/tcp/40000")}), "a new host of the range")
	require.ErrorIs(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "7.0.64.1")), ErrSameRange)
	require.ErrorIs(t, m.Register(idleSession(test.RandPeerIDFatal(t), Inbound, "7.0.70.9")), ErrSameRange)
}

// remoteConn is a connection of which only the remote end is known.
type remoteConn struct {
	network.Conn
	id   peer.ID
	addr ma.Multiaddr
}

func (c remoteConn) RemotePeer() peer.ID           { return c.id }
func (c remoteConn) RemoteMultiaddr() ma.Multiaddr { return c.addr }

// TestDialledPeerAtRelayAddress: a session dialled only at relay addresses (its stream on
// the direct connection hole punching made) describes its peer by the relay address,
// which others can dial, not by the connection's NAT mapping; any other session by its
// connection.
func TestDialledPeerAtRelayAddress(t *testing.T) {
	id := test.RandPeerIDFatal(t)
	nat := ma.StringCast("/ip4/198.51.100.7/tcp/40123")
	circuit := ma.StringCast("/ip4/203.0.113.7/tcp/21337/p2p/" + test.RandPeerIDFatal(t).String() + "/p2p-circuit")
	direct := ma.StringCast("/ip4/198.51.100.7/tcp/21337")
	c := remoteConn{id: id, addr: nat}

	p := dialledPeer(c, []ma.Multiaddr{circuit})
	require.Equal(t, circuit, p.Addr)
	require.False(t, p.IP.IsValid())
	require.Equal(t, id, p.ID)

	require.Equal(t, nat, dialledPeer(c, []ma.Multiaddr{direct, circuit}).Addr, "a direct address was dialled too")
	require.Equal(t, nat, dialledPeer(c, nil).Addr)
	require.Equal(t, "198.51.100.7", dialledPeer(c, nil).IP.String())
}
