package peers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// vectorFile is the shared vector file; only the categories owned by this package are run.
var vectorFile = filepath.Join("..", "..", "protocol", "testdata", "peers_sessions.json")

type vector struct {
	Name     string          `json:"name"`
	Category string          `json:"category"`
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected"`
}

func loadVectors(t *testing.T, category string) []vector {
	t.Helper()
	raw, err := os.ReadFile(vectorFile)
	require.NoError(t, err)
	var f struct {
		Format  string   `json:"format"`
		Vectors []vector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(raw, &f))
	require.Equal(t, "witnet-p2p-vectors/1", f.Format)
	var out []vector
	for _, v := range f.Vectors {
		if v.Category == category {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out, "no %s vectors", category)
	return out
}

// TestVectorsBucketIndexRelation places each side of a vector in a book with the vector's
// sk, through the public path (ip4/tcp multiaddr with a generated peer ID, AddNew with the
// source or AddTried), and checks the relation between the two slots the book chose.
func TestVectorsBucketIndexRelation(t *testing.T) {
	for _, v := range loadVectors(t, "bucket_index_relation") {
		t.Run(v.Name, func(t *testing.T) {
			var in struct {
				Fn string   `json:"fn"`
				SK uint64   `json:"sk"`
				A  []string `json:"a"`
				B  []string `json:"b"`
			}
			var exp struct {
				Relation string `json:"relation"`
			}
			require.NoError(t, json.Unmarshal(v.Input, &in))
			require.NoError(t, json.Unmarshal(v.Expected, &exp))

			place := func(side []string) int {
				require.NotEmpty(t, side)
				b := newTestBook(t, Config{})
				b.setSK(in.SK)
				a := tcpAddr(t, side[0])
				switch in.Fn {
				case "new":
					var src *Addr
					if len(side) > 1 {
						s := tcpAddr(t, side[1])
						src = &s
					}
					n, err := b.AddNew([]Addr{a}, src)
					require.NoError(t, err)
					require.Equal(t, 1, n)
					news, _ := b.slotOf(a.ID)
					require.Len(t, news, 1)
					return int(news[0])
				case "tried":
					ok, err := b.AddTried(a)
					require.NoError(t, err)
					require.True(t, ok)
					_, tried := b.slotOf(a.ID)
					require.GreaterOrEqual(t, tried, 0)
					return tried
				}
				t.Fatalf("unknown index function %q", in.Fn)
				return 0
			}
			ia, ib := place(in.A), place(in.B)
			switch exp.Relation {
			case "equal":
				require.Equal(t, ia, ib)
			case "different":
				require.NotEqual(t, ia, ib)
			case "different, |a-b| < 64":
				require.NotEqual(t, ia, ib)
				require.Less(t, max(ia-ib, ib-ia), 64)
			default:
				t.Fatalf("unknown relation %q", exp.Relation)
			}
		})
	}
}

// TestVectorsIce runs the ice timing and scope vectors. Scope is per peer here (see the
// package doc): the vector's other socket addresses belong to other peers and stay
// unaffected, and in addition a different peer on the very same socket address is
// unaffected while the iced peer is refused at any address.
func TestVectorsIce(t *testing.T) {
	for _, v := range loadVectors(t, "ice") {
		t.Run(v.Name, func(t *testing.T) {
			switch v.Name {
			case "ice_melts_after_period":
				runIceTiming(t, v)
			case "ice_is_per_socket_address":
				runIceScope(t, v)
			default:
				t.Fatalf("unknown ice vector %q", v.Name)
			}
		})
	}
}

func runIceTiming(t *testing.T, v vector) {
	var in struct {
		Bootstrapped bool   `json:"bootstrapped"`
		IcePeriod    int64  `json:"ice_period"`
		Address      string `json:"address"`
		IcedAt       int64  `json:"iced_at"`
	}
	var exp struct {
		Checks []struct {
			T    int64 `json:"t"`
			Iced bool  `json:"iced"`
		} `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(v.Input, &in))
	require.NoError(t, json.Unmarshal(v.Expected, &exp))
	require.NotEmpty(t, exp.Checks)

	period := secs(in.IcePeriod)
	cfg := Config{IcePeriod: period, IcePeriodBeforeBootstrap: period, Bootstrapped: in.Bootstrapped}
	b := newTestBook(t, cfg)
	a := tcpAddr(t, in.Address)
	b.clock.Set(in.IcedAt)
	_, err := b.AddNew([]Addr{a}, nil)
	require.NoError(t, err)
	require.NoError(t, b.Ice(a.ID))

	for _, c := range exp.Checks {
		b.clock.Set(c.T)
		require.Equal(t, c.Iced, b.IsIced(a.ID), "t=%d", c.T)
		if c.Iced {
			// Still iced: Melt must leave it alone.
			n, err := b.Melt()
			require.NoError(t, err)
			require.Zero(t, n, "t=%d", c.T)
		} else {
			// Melted: Melt removes it from ice and returns it to new.
			n, err := b.Melt()
			require.NoError(t, err)
			require.Equal(t, 1, n, "t=%d", c.T)
			_, _, iced := b.Counts()
			require.Zero(t, iced)
			_, where, ok := b.Lookup(a.ID)
			require.True(t, ok)
			require.Equal(t, BucketNew, where)
		}
	}
}

func runIceScope(t *testing.T, v vector) {
	var in struct {
		Iced string `json:"iced"`
	}
	var exp struct {
		NotIced []string `json:"not_iced"`
	}
	require.NoError(t, json.Unmarshal(v.Input, &in))
	require.NoError(t, json.Unmarshal(v.Expected, &exp))
	require.NotEmpty(t, exp.NotIced)

	b := newTestBook(t, Config{})
	iced := tcpAddr(t, in.Iced)
	require.NoError(t, b.Ice(iced.ID))
	require.True(t, b.IsIced(iced.ID))

	src := tcpAddr(t, "10.0.0.1:21337")
	others := []string{in.Iced} // same socket address, different peer
	others = append(others, exp.NotIced...)
	for _, s := range others {
		o := tcpAddr(t, s)
		require.False(t, b.IsIced(o.ID), s)
		n, err := b.AddNew([]Addr{o}, &src)
		require.NoError(t, err)
		require.Equal(t, 1, n, "%s must be accepted", s)
	}
	// The iced peer itself is refused at any of these addresses.
	for _, s := range others {
		moved := Addr{ID: iced.ID, Addrs: tcpAddr(t, s).Addrs}
		n, err := b.AddNew([]Addr{moved}, &src)
		require.NoError(t, err)
		require.Zero(t, n, "iced peer at %s must be refused", s)
	}
}
