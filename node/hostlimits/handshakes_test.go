package hostlimits

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/stretchr/testify/require"
)

// TestHandshakeCaps: the per-address and per-subnet caps on inbound connections still in
// their upgrade, IPv4 and IPv6, released exactly once; loopback exempt unless told.
func TestHandshakeCaps(t *testing.T) {
	l := Derive(128, 12)
	h := newHandshakes(l)
	take := func(ip string) (*handshakeSlot, string) {
		return h.acquire(netip.MustParseAddr(ip))
	}
	var held []*handshakeSlot
	for range l.HandshakesPerIP {
		s, limit := take("203.0.113.7")
		require.NotNil(t, s, limit)
		held = append(held, s)
	}
	s, limit := take("203.0.113.7")
	require.Nil(t, s)
	require.Contains(t, limit, "per IP address")
	// An IPv4-mapped address is the same address.
	s, _ = take("::ffff:203.0.113.7")
	require.Nil(t, s)

	// The /24 holds HandshakesPerSubnet in all.
	for i := 0; len(held) < l.HandshakesPerSubnet; i++ {
		s, limit := take(fmt.Sprintf("203.0.113.%d", 10+i))
		require.NotNil(t, s, limit)
		held = append(held, s)
	}
	s, limit = take("203.0.113.200")
	require.Nil(t, s)
	require.Contains(t, limit, "per /24")
	s, limit = take("203.0.114.1") // next /24
	require.NotNil(t, s, limit)
	held = append(held, s)
	require.Equal(t, l.HandshakesPerSubnet+1, h.inProgress())
	require.Equal(t, int64(3), h.refusals.Load())

	// Releasing twice frees one slot.
	held[0].release()
	held[0].release()
	require.Equal(t, l.HandshakesPerSubnet, h.inProgress())
	s, limit = take("203.0.113.7")
	require.NotNil(t, s, limit)
	held[0] = s
	for _, s := range held {
		s.release()
	}
	require.Zero(t, h.inProgress())
	require.Empty(t, h.hosts)
	require.Empty(t, h.nets)

	// IPv6: one /64 is one address.
	for i := range l.HandshakesPerIP {
		s, limit := take(fmt.Sprintf("2001:db8:0:1::%x", i+1))
		require.NotNil(t, s, limit)
	}
	s, _ = take("2001:db8:0:1:ffff::1")
	require.Nil(t, s, "same /64")
	s, limit = take("2001:db8:0:2::1")
	require.NotNil(t, s, limit)

	// Loopback: exempt by default, capped with LimitLoopback.
	for range 2 * l.HandshakesPerSubnet {
		s, limit := take("127.0.0.2")
		require.NotNil(t, s, limit)
	}
	l.LimitLoopback = true
	h = newHandshakes(l)
	for range l.HandshakesPerIP {
		s, limit := take("127.0.0.2")
		require.NotNil(t, s, limit)
	}
	s, _ = take("127.0.0.2")
	require.Nil(t, s)
	// No IP (a relayed connection, say): nothing to count.
	s, limit = h.acquire(netip.Addr{})
	require.NotNil(t, s, limit)
}

// limitedHost is a listening host with the resource manager, gater and upgrader timeout
// of l, on 127.0.0.1.
func limitedHost(t *testing.T, l Limits) (host.Host, *ResourceManager) {
	t.Helper()
	rm, err := NewResourceManager(l, false)
	require.NoError(t, err)
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionGater(Gater(nil)),
		UpgraderOption(l),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
	if err != nil {
		rm.Close()
		require.NoError(t, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h, rm
}

// rawConn opens a TCP connection to h from the loopback address from, which sends
// nothing unless the test writes to it.
func rawConn(t *testing.T, h host.Host, from string) net.Conn {
	t.Helper()
	_, addr, err := manet.DialArgs(h.Addrs()[0])
	require.NoError(t, err)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedByPeer waits until the other end closes c and returns how long that took.
func closedByPeer(t *testing.T, c net.Conn, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	require.NoError(t, c.SetReadDeadline(start.Add(within)))
	buf := make([]byte, 1024)
	for { // whatever the host sends first (its multistream header) is read and dropped
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		return time.Since(start)
	}
}

// waitHandshakes waits until rm counts want inbound connections in their upgrade.
func waitHandshakes(t *testing.T, rm *ResourceManager, want int) {
	t.Helper()
	require.Eventually(t, func() bool { return rm.InboundHandshakes() == want }, 5*time.Second, time.Millisecond,
		"inbound connections in handshake: %d, want %d", rm.InboundHandshakes(), want)
}

// TestHandshakeSlotsOnRealHost: on a real host, idle sockets hold their address's slots
// and the next one is closed at once; an idle socket is closed at the upgrade timeout; a
// connection whose upgrade fails, and one whose upgrade succeeds, give their slot back at
// once.
func TestHandshakeSlotsOnRealHost(t *testing.T) {
	t.Run("idle sockets", func(t *testing.T) {
		l := Derive(8, 4)
		l.LimitLoopback = true
		l.UpgradeTimeout = 500 * time.Millisecond
		h, rm := limitedHost(t, l)
		var idle []net.Conn
		for range l.HandshakesPerIP {
			idle = append(idle, rawConn(t, h, "127.0.0.2"))
		}
		waitHandshakes(t, rm, l.HandshakesPerIP)
		extra := rawConn(t, h, "127.0.0.2")
		closedByPeer(t, extra, time.Second) // refused at accept, long before the timeout
		require.Equal(t, int64(1), rm.HandshakeRefusals())
		// Another address is not affected.
		other := rawConn(t, h, "127.0.0.3")
		waitHandshakes(t, rm, l.HandshakesPerIP+1)
		for _, c := range append(idle, other) {
			d := closedByPeer(t, c, l.UpgradeTimeout+2*time.Second)
			t.Logf("idle socket closed by the host after %v", d)
		}
		waitHandshakes(t, rm, 0)
	})
	t.Run("failed and completed upgrades", func(t *testing.T) {
		l := Derive(8, 4)
		l.LimitLoopback = true
		l.UpgradeTimeout = time.Minute // a slot freed before this is freed by the upgrade's end
		h, rm := limitedHost(t, l)
		var garbage []net.Conn
		for range l.HandshakesPerIP {
			garbage = append(garbage, rawConn(t, h, "127.0.0.2"))
		}
		waitHandshakes(t, rm, l.HandshakesPerIP)
		for _, c := range garbage {
			_, err := c.Write([]byte("\x13/not-multistream/1\nGET / HTTP/1.1\r\n\r\n"))
			require.NoError(t, err)
		}
		waitHandshakes(t, rm, 0)
		for _, c := range garbage {
			closedByPeer(t, c, 5*time.Second)
		}

		// A real peer from the same address: its slot is free again once it connected,
		// while its connection stays.
		key, _, err := crypto.GenerateEd25519Key(rand.Reader)
		require.NoError(t, err)
		client, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings("/ip4/127.0.0.2/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport), libp2p.DisableRelay(), libp2p.DisableMetrics(),
			libp2p.ResourceManager(&network.NullResourceManager{}))
		require.NoError(t, err)
		defer client.Close()
		for range l.HandshakesPerIP + 1 { // one more than the cap: each gave its slot back
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			require.NoError(t, client.Connect(ctx, peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}))
			cancel()
			waitHandshakes(t, rm, 0)
			require.Len(t, h.Network().ConnsToPeer(client.ID()), 1)
			require.NoError(t, client.Network().ClosePeer(h.ID()))
			require.Eventually(t, func() bool { return len(h.Network().ConnsToPeer(client.ID())) == 0 }, 5*time.Second, time.Millisecond)
		}
		require.Zero(t, rm.HandshakeRefusals())
	})
}
