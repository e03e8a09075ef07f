package protocol

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(s)
	require.NoError(t, err)
	return ap
}

// testPeerID returns a fresh Ed25519 peer ID.
func testPeerID(t testing.TB) peer.ID {
	t.Helper()
	_, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	id, err := peer.IDFromPublicKey(pub)
	require.NoError(t, err)
	return id
}

func TestLegacyAddressRoundTrip(t *testing.T) {
	tests := []struct {
		socket string
		hex    string
	}{
		{"192.168.1.1:8000", "c0a801011f40"},
		{"127.0.0.1:3000", "7f0000010bb8"},
		{"0.0.0.0:0", "000000000000"},
		{"255.255.255.255:65535", "ffffffffffff"},
		{"[::1]:3000", strings.Repeat("00", 15) + "01" + "0bb8"},
		// IPv4-mapped IPv6 stays 18 bytes (PROTOCOL.md 5).
		{"[::ffff:1.2.3.4]:21337", strings.Repeat("00", 10) + "ffff01020304" + "5359"},
		{"[2001:db8::7]:1", "20010db8" + strings.Repeat("00", 11) + "07" + "0001"},
	}
	for _, tt := range tests {
		t.Run(tt.socket, func(t *testing.T) {
			ap := mustAddrPort(t, tt.socket)
			b := LegacyAddress(ap)
			require.Equal(t, tt.hex, hex.EncodeToString(b))
			back, err := ParseLegacyAddress(b)
			require.NoError(t, err)
			require.Equal(t, ap, back)

			a, err := ParseAddress(b)
			require.NoError(t, err)
			require.False(t, a.IsMultiaddr())
			require.Empty(t, a.PeerID())
			require.Equal(t, b, a.Bytes())
			got, ok := a.AddrPort()
			require.True(t, ok)
			require.Equal(t, ap, got)
			require.Equal(t, ap.String(), a.String())
			require.Equal(t, a, AddressFromAddrPort(ap))
			require.True(t, a.Equal(AddressFromAddrPort(ap)))
			require.False(t, a.Equal(Address{}) && ap.Port() != 0)
		})
	}
}

func TestLegacyAddressZeroAndZone(t *testing.T) {
	require.Equal(t, make([]byte, 6), LegacyAddress(netip.AddrPort{}), "invalid AddrPort is 0.0.0.0:0")
	var zero Address
	ap, ok := zero.AddrPort()
	require.True(t, ok)
	require.Equal(t, "0.0.0.0:0", ap.String())
	require.Equal(t, make([]byte, 6), zero.Bytes())
	m, err := zero.Multiaddr()
	require.NoError(t, err)
	require.Equal(t, "/ip4/0.0.0.0/tcp/0", m.String())

	// The zone is not representable and is dropped.
	zoned := netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth0"), 80)
	back, err := ParseLegacyAddress(LegacyAddress(zoned))
	require.NoError(t, err)
	require.Equal(t, netip.AddrPortFrom(netip.MustParseAddr("fe80::1"), 80), back)
}

func TestLegacyAddressMultiaddr(t *testing.T) {
	tests := map[string]string{
		"10.0.0.1:21337":         "/ip4/10.0.0.1/tcp/21337",
		"[::1]:80":               "/ip6/::1/tcp/80",
		"[::ffff:1.2.3.4]:21337": "/ip6/::ffff:1.2.3.4/tcp/21337",
	}
	for socket, want := range tests {
		a := AddressFromAddrPort(mustAddrPort(t, socket))
		m, err := a.Multiaddr()
		require.NoError(t, err)
		require.Equal(t, want, m.String(), socket)
	}
}

func TestParseLegacyAddressBadLengths(t *testing.T) {
	for _, n := range []int{0, 1, 5, 7, 16, 17, 19, 32} {
		_, err := ParseLegacyAddress(make([]byte, n))
		var ae *AddressError
		require.ErrorAs(t, err, &ae, "len %d", n)
		require.Equal(t, n, ae.Len)
		require.ErrorIs(t, err, ErrInvalidAddress)
	}
}

func TestMultiaddrAddress(t *testing.T) {
	id := testPeerID(t)
	for _, s := range []string{
		"/ip4/203.0.113.5/tcp/4001/p2p/" + id.String(),
		"/ip6/2001:db8::1/udp/4001/quic-v1/p2p/" + id.String(),
		"/dns4/example.com/tcp/443/p2p/" + id.String(),
	} {
		t.Run(s, func(t *testing.T) {
			m := ma.StringCast(s)
			b, err := MultiaddrAddress(m)
			require.NoError(t, err)
			require.Equal(t, m.Bytes(), b)

			a, err := ParseAddress(b)
			require.NoError(t, err)
			require.True(t, a.IsMultiaddr())
			require.Equal(t, id, a.PeerID())
			require.Equal(t, b, a.Bytes())
			require.Equal(t, s, a.String())
			back, err := a.Multiaddr()
			require.NoError(t, err)
			require.True(t, m.Equal(back))

			fromMA, err := AddressFromMultiaddr(m)
			require.NoError(t, err)
			require.True(t, a.Equal(fromMA))
			require.False(t, a.Equal(AddressFromAddrPort(netip.MustParseAddrPort("203.0.113.5:4001"))))
		})
	}
}

func TestMultiaddrAddrPort(t *testing.T) {
	id := testPeerID(t)
	tests := []struct {
		s    string
		want string // "" = not available
	}{
		{"/ip4/203.0.113.5/tcp/4001/p2p/" + id.String(), "203.0.113.5:4001"},
		{"/ip6/2001:db8::1/udp/9/quic-v1/p2p/" + id.String(), "[2001:db8::1]:9"},
		{"/dns4/example.com/tcp/443/p2p/" + id.String(), ""},
		{"/ip4/1.2.3.4/p2p/" + id.String(), ""},
	}
	for _, tt := range tests {
		a, err := AddressFromMultiaddr(ma.StringCast(tt.s))
		require.NoError(t, err, tt.s)
		ap, ok := a.AddrPort()
		if tt.want == "" {
			require.False(t, ok, tt.s)
			continue
		}
		require.True(t, ok, tt.s)
		require.Equal(t, tt.want, ap.String())
	}
}

func TestParseAddressRejects(t *testing.T) {
	id := testPeerID(t)
	noP2P := ma.StringCast("/ip4/1.2.3.4/tcp/5").Bytes()
	onlyP2P := ma.StringCast("/p2p/" + id.String()).Bytes()
	p2pNotLast := ma.StringCast("/ip4/1.2.3.4/p2p/" + id.String() + "/tcp/5").Bytes()
	long := append(ma.StringCast("/ip4/1.2.3.4/tcp/5/p2p/"+id.String()).Bytes(), make([]byte, MaxMultiaddrLen)...)
	tests := map[string][]byte{
		"empty":          nil,
		"one byte":       {0x04},
		"seven bytes":    make([]byte, 7),
		"garbage":        []byte("not a multiaddr at all"),
		"no p2p":         noP2P,
		"only p2p":       onlyP2P,
		"p2p not last":   p2pNotLast,
		"too long":       long,
		"truncated":      ma.StringCast("/ip4/1.2.3.4/tcp/5/p2p/" + id.String()).Bytes()[:20],
		"trailing bytes": append(ma.StringCast("/ip4/1.2.3.4/tcp/5/p2p/"+id.String()).Bytes(), 0),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAddress(b)
			var ae *AddressError
			require.True(t, errors.As(err, &ae), "got %v", err)
			require.ErrorIs(t, err, ErrInvalidAddress)
			require.Equal(t, len(b), ae.Len)
		})
	}
	_, err := AddressFromMultiaddr(nil)
	require.ErrorIs(t, err, ErrInvalidAddress)
	_, err = MultiaddrAddress(ma.StringCast("/ip4/1.2.3.4/tcp/5"))
	require.ErrorIs(t, err, ErrInvalidAddress)
}

// FuzzParseAddress checks that any input either fails with an *AddressError or yields an
// Address whose Bytes parse back to the same value.
func FuzzParseAddress(f *testing.F) {
	f.Add([]byte{0xc0, 0xa8, 0x01, 0x01, 0x1f, 0x40})
	f.Add(make([]byte, 18))
	f.Add(ma.StringCast("/ip4/1.2.3.4/tcp/5/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA").Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAddress(b)
		if err != nil {
			var ae *AddressError
			if !errors.As(err, &ae) {
				t.Fatalf("untyped error %T: %v", err, err)
			}
			return
		}
		again, err := ParseAddress(a.Bytes())
		if err != nil {
			t.Fatalf("re-parse of %x: %v", a.Bytes(), err)
		}
		if again.String() != a.String() || again.PeerID() != a.PeerID() {
			t.Fatalf("unstable: %s vs %s", a, again)
		}
		if _, err := a.Multiaddr(); err != nil {
			t.Fatalf("Multiaddr of %s: %v", a, err)
		}
		_, _ = a.AddrPort()
	})
}
