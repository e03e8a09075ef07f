package legacy

import (
	"encoding/json"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// manualClock is a clock for Book tests.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *manualClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// iceVectors returns the "ice" vectors of protocol/testdata/peers_sessions.json.
func iceVectors(t *testing.T) map[string]struct{ Input, Expected json.RawMessage } {
	t.Helper()
	raw, err := os.ReadFile("../../protocol/testdata/peers_sessions.json")
	require.NoError(t, err)
	var file struct {
		Vectors []struct {
			Name, Category  string
			Input, Expected json.RawMessage
		}
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	out := map[string]struct{ Input, Expected json.RawMessage }{}
	for _, v := range file.Vectors {
		if v.Category == "ice" {
			out[v.Name] = struct{ Input, Expected json.RawMessage }{v.Input, v.Expected}
		}
	}
	require.Len(t, out, 2)
	return out
}

func TestBookIceVectors(t *testing.T) {
	vs := iceVectors(t)
	t0 := time.Unix(1_700_000_000, 0)

	t.Run("ice_melts_after_period", func(t *testing.T) {
		var in struct {
			Period  int64  `json:"ice_period"`
			Address string `json:"address"`
			At      int64  `json:"iced_at"`
		}
		var exp struct {
			Checks []struct {
				T    int64 `json:"t"`
				Iced bool  `json:"iced"`
			} `json:"checks"`
		}
		v := vs["ice_melts_after_period"]
		require.NoError(t, json.Unmarshal(v.Input, &in))
		require.NoError(t, json.Unmarshal(v.Expected, &exp))
		require.NotEmpty(t, exp.Checks)
		clk := &manualClock{now: t0.Add(time.Duration(in.At) * time.Second)}
		b := NewBook(BookConfig{IcePeriod: time.Duration(in.Period) * time.Second, Now: clk.Now})
		ap := netip.MustParseAddrPort(in.Address)
		b.IceAddr(ap)
		for _, c := range exp.Checks {
			clk.set(t0.Add(time.Duration(c.T) * time.Second))
			require.Equal(t, c.Iced, b.IsIced(ap), "t=%d", c.T)
		}
		_, iced := b.Counts()
		require.Zero(t, iced, "a melted address is removed")
	})

	t.Run("ice_is_per_socket_address", func(t *testing.T) {
		var in struct {
			Iced string `json:"iced"`
		}
		var exp struct {
			NotIced []string `json:"not_iced"`
		}
		v := vs["ice_is_per_socket_address"]
		require.NoError(t, json.Unmarshal(v.Input, &in))
		require.NoError(t, json.Unmarshal(v.Expected, &exp))
		require.NotEmpty(t, exp.NotIced)
		b := NewBook(BookConfig{})
		b.Ice(session.Peer{Transport: session.TransportTCP, AddrPort: netip.MustParseAddrPort(in.Iced)})
		require.True(t, b.IsIced(netip.MustParseAddrPort(in.Iced)))
		for _, a := range exp.NotIced {
			require.False(t, b.IsIced(netip.MustParseAddrPort(a)), a)
		}
	})
}

func TestBookTriedAndBounds(t *testing.T) {
	clk := &manualClock{now: time.Unix(1_700_000_000, 0)}
	b := NewBook(BookConfig{MaxIced: 3, MaxTried: 2, IcePeriod: 10 * time.Second, Now: clk.Now})
	p := func(s string) session.Peer {
		return session.Peer{Transport: session.TransportTCP, AddrPort: netip.MustParseAddrPort(s)}
	}

	b.Good(p("10.0.0.1:21337"))
	b.Good(p("[::ffff:10.0.0.2]:21337")) // kept in its IPv4 form: 6 bytes on the wire
	b.Good(p("10.0.0.3:21337"))          // over MaxTried: not kept
	b.Good(session.Peer{ID: "libp2p peer"})
	require.ElementsMatch(t, [][]byte{
		protocol.LegacyAddress(netip.MustParseAddrPort("10.0.0.1:21337")),
		protocol.LegacyAddress(netip.MustParseAddrPort("10.0.0.2:21337")),
	}, b.PeersForGetPeers())
	b.RemoveTried(p("10.0.0.1:21337"))
	b.Ice(p("10.0.0.2:21337"))
	tried, iced := b.Counts()
	require.Equal(t, [2]int{0, 1}, [2]int{tried, iced}, "icing removes from tried")

	// A full ice bucket forgets the address that melts first.
	clk.set(clk.Now().Add(time.Second))
	b.IceAddr(netip.MustParseAddrPort("10.0.1.1:1"))
	b.IceAddr(netip.MustParseAddrPort("10.0.1.2:1"))
	b.IceAddr(netip.MustParseAddrPort("10.0.1.3:1"))
	_, iced = b.Counts()
	require.Equal(t, 3, iced)
	require.False(t, b.IsIced(netip.MustParseAddrPort("10.0.0.2:21337")), "the oldest was dropped")
	require.True(t, b.IsIced(netip.MustParseAddrPort("10.0.1.3:1")))
}
