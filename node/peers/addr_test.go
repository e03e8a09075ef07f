package peers

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
)

func maddrs(t *testing.T, ss ...string) []ma.Multiaddr {
	t.Helper()
	out := make([]ma.Multiaddr, len(ss))
	for i, s := range ss {
		m, err := ma.NewMultiaddr(s)
		require.NoError(t, err, s)
		out[i] = m
	}
	return out
}

func TestAddrFromP2P(t *testing.T) {
	id := genID(t)
	tests := []struct {
		name      string
		in        string
		wantAddrs []string
		wantErr   error
	}{
		{"tcp", "/ip4/1.2.3.4/tcp/21337/p2p/" + id.String(), []string{"/ip4/1.2.3.4/tcp/21337"}, nil},
		{"quic ip6", "/ip6/2001:db8::1/udp/9/quic-v1/p2p/" + id.String(), []string{"/ip6/2001:db8::1/udp/9/quic-v1"}, nil},
		{"bare id", "/p2p/" + id.String(), nil, nil},
		{"no id", "/ip4/1.2.3.4/tcp/21337", nil, ErrNoPeerID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := AddrFromP2P(maddrs(t, tc.in)[0])
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				var ae *AddrError
				require.ErrorAs(t, err, &ae)
				return
			}
			require.NoError(t, err)
			require.Equal(t, id, a.ID)
			require.Len(t, a.Addrs, len(tc.wantAddrs))
			for i, s := range tc.wantAddrs {
				require.Equal(t, s, a.Addrs[i].String())
			}
			p2p, err := a.P2PAddrs()
			require.NoError(t, err)
			require.Len(t, p2p, max(1, len(tc.wantAddrs)))
			back, err := AddrFromP2P(p2p[0])
			require.NoError(t, err)
			require.Equal(t, a, back)
		})
	}
}

func TestAddrInfoConversions(t *testing.T) {
	a := Addr{ID: genID(t), Addrs: maddrs(t, "/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/udp/1/quic-v1")}
	ai := a.Info()
	require.Equal(t, a.ID, ai.ID)
	require.Equal(t, a.Addrs, ai.Addrs)
	ai.Addrs[0] = nil // must not alias a
	require.NotNil(t, a.Addrs[0])

	back := AddrFromInfo(peer.AddrInfo{ID: a.ID, Addrs: a.Addrs})
	require.Equal(t, a, back)
	back.Addrs[1] = nil
	require.NotNil(t, a.Addrs[1])
	require.Contains(t, a.String(), a.ID.String())
}

func TestEndpoint(t *testing.T) {
	relay := genID(t)
	tests := []struct {
		name  string
		addrs []string
		want  string // "" means ErrNoIPAddr
	}{
		{"ip4 tcp", []string{"/ip4/1.2.3.4/tcp/21337"}, "1.2.3.4:21337"},
		{"tcp preferred over earlier quic", []string{"/ip4/1.2.3.4/udp/5/quic-v1", "/ip4/5.6.7.8/tcp/9"}, "5.6.7.8:9"},
		{"quic only", []string{"/ip4/1.2.3.4/udp/5/quic-v1"}, "1.2.3.4:5"},
		{"ip6", []string{"/ip6/2001:db8::1/tcp/7"}, "[2001:db8::1]:7"},
		{"ip4-mapped ip6 stays ip6", []string{"/ip6/::ffff:1.2.3.4/tcp/80"}, "[::ffff:1.2.3.4]:80"},
		{"websocket over tcp", []string{"/ip4/1.2.3.4/tcp/8/ws"}, "1.2.3.4:8"},
		{"dns only", []string{"/dns4/example.com/tcp/1"}, ""},
		{"dns then ip", []string{"/dns4/example.com/tcp/1", "/ip4/9.9.9.9/tcp/2"}, "9.9.9.9:2"},
		{"relayed: the relay's endpoint", []string{"/ip4/1.2.3.4/tcp/1/p2p/" + relay.String() + "/p2p-circuit"}, "1.2.3.4:1"},
		{"direct preferred over relayed", []string{"/ip4/1.2.3.4/tcp/1/p2p/" + relay.String() + "/p2p-circuit", "/ip4/5.6.7.8/udp/2/quic-v1"}, "5.6.7.8:2"},
		{"relay by name only", []string{"/dns4/relay.example/tcp/1/p2p/" + relay.String() + "/p2p-circuit"}, ""},
		{"ip without port", []string{"/ip4/1.2.3.4"}, ""},
		{"none", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := Addr{ID: genID(t), Addrs: maddrs(t, tc.addrs...)}
			ep, err := a.Endpoint()
			if tc.want == "" {
				require.ErrorIs(t, err, ErrNoIPAddr)
				var ae *AddrError
				require.ErrorAs(t, err, &ae)
				require.Equal(t, a.ID, ae.ID)
				return
			}
			require.NoError(t, err)
			want := netip.MustParseAddrPort(tc.want)
			require.Equal(t, want, ep)
			require.Equal(t, want.Addr().Is4(), ep.Addr().Is4())
		})
	}
}

func TestSanitize(t *testing.T) {
	id, other := genID(t), genID(t)
	many := make([]string, 0, MaxAddrsPerPeer+3)
	for i := range MaxAddrsPerPeer + 3 {
		many = append(many, fmt.Sprintf("/ip4/10.0.0.%d/tcp/1", i+1))
	}
	circuit := "/ip4/1.2.3.4/tcp/1/p2p/" + other.String() + "/p2p-circuit"
	tests := []struct {
		name    string
		id      peer.ID
		addrs   []string
		want    []string
		wantErr error
	}{
		{"relay address kept", id, []string{circuit + "/p2p/" + id.String()}, []string{circuit}, nil},
		{"relay through itself dropped", id, []string{"/ip4/1.2.3.4/tcp/1/p2p/" + id.String() + "/p2p-circuit", "/ip4/5.6.7.8/tcp/2"}, []string{"/ip4/5.6.7.8/tcp/2"}, nil},
		{"relay without relay id dropped", id, []string{"/ip4/1.2.3.4/tcp/1/p2p-circuit", "/ip4/5.6.7.8/tcp/2"}, []string{"/ip4/5.6.7.8/tcp/2"}, nil},
		{"kept", id, []string{"/ip4/1.2.3.4/tcp/1"}, []string{"/ip4/1.2.3.4/tcp/1"}, nil},
		{"own p2p suffix stripped", id, []string{"/ip4/1.2.3.4/tcp/1/p2p/" + id.String()}, []string{"/ip4/1.2.3.4/tcp/1"}, nil},
		{"other peer's address dropped", id, []string{"/ip4/1.2.3.4/tcp/1/p2p/" + other.String(), "/ip4/5.6.7.8/tcp/2"}, []string{"/ip4/5.6.7.8/tcp/2"}, nil},
		{"duplicates dropped", id, []string{"/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/tcp/1"}, []string{"/ip4/1.2.3.4/tcp/1"}, nil},
		{"unspecified dropped", id, []string{"/ip4/0.0.0.0/tcp/1", "/ip4/1.2.3.4/tcp/1"}, []string{"/ip4/1.2.3.4/tcp/1"}, nil},
		{"dns kept beside ip", id, []string{"/dns4/a.example/tcp/1", "/ip4/1.2.3.4/tcp/1"}, []string{"/dns4/a.example/tcp/1", "/ip4/1.2.3.4/tcp/1"}, nil},
		{"capped", id, many, many[:MaxAddrsPerPeer], nil},
		{"only unspecified", id, []string{"/ip4/0.0.0.0/tcp/1", "/ip6/::/tcp/1"}, nil, errUnspecified},
		{"dns only", id, []string{"/dns4/a.example/tcp/1"}, nil, ErrNoIPAddr},
		{"empty id", "", []string{"/ip4/1.2.3.4/tcp/1"}, nil, ErrInvalidPeerID},
		{"garbage id", peer.ID("not a multihash"), []string{"/ip4/1.2.3.4/tcp/1"}, nil, ErrInvalidPeerID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := sanitize(Addr{ID: tc.id, Addrs: maddrs(t, tc.addrs...)}, nil)
			out := c.addr
			if tc.wantErr != nil {
				require.True(t, errors.Is(err, tc.wantErr), "got %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.id, out.ID)
			got := make([]string, len(out.Addrs))
			for i, m := range out.Addrs {
				got[i] = m.String()
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSanitizeLegacy(t *testing.T) {
	c, err := sanitize(LegacyAddr(netip.MustParseAddrPort("[fe80::1%eth0]:21337")), nil)
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddrPort("[fe80::1]:21337"), c.ep, "zone dropped")
	require.True(t, c.addr.IsLegacy())
	_, err = sanitize(LegacyAddr(netip.MustParseAddrPort("0.0.0.0:21337")), nil)
	require.ErrorIs(t, err, errUnspecified)
	_, err = sanitize(Addr{}, nil)
	require.ErrorIs(t, err, ErrInvalidPeerID)
	_, err = sanitize(Addr{ID: peer.ID("\xff" + string(genID(t))), Addrs: maddrs(t, "/ip4/1.2.3.4/tcp/1")}, nil)
	require.ErrorIs(t, err, ErrInvalidPeerID, "IDs starting with 0xff are refused (storeKey)")
}

func TestParseAddr(t *testing.T) {
	id := genID(t)
	a, err := ParseAddr("/ip4/1.2.3.4/tcp/21337/p2p/" + id.String())
	require.NoError(t, err)
	require.Equal(t, id, a.ID)
	require.Equal(t, "/ip4/1.2.3.4/tcp/21337", a.Addrs[0].String())

	a, err = ParseAddr(" 1.2.3.4:21337 ")
	require.NoError(t, err)
	require.True(t, a.IsLegacy())
	require.Equal(t, Key{Legacy: netip.MustParseAddrPort("1.2.3.4:21337")}, a.Key())
	require.Equal(t, "1.2.3.4:21337", a.String())

	a, err = ParseAddr("[2a01::1]:21337")
	require.NoError(t, err)
	require.Equal(t, "[2a01::1]:21337", a.Key().String())

	for _, bad := range []string{"", "1.2.3.4", "/ip4/1.2.3.4/tcp/1", "example.com:21337", "/nope"} {
		_, err := ParseAddr(bad)
		require.Error(t, err, bad)
	}
}
