package session

import (
	"encoding/json"
	"net/netip"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// mgrVector is one entry of protocol/testdata/peers_sessions.json, decoded only as far as
// the manager's tests need.
type mgrVector struct {
	Name     string          `json:"name"`
	Category string          `json:"category"`
	Input    json.RawMessage `json:"input"`
	Expected json.RawMessage `json:"expected"`
}

// mgrVectors returns the vectors of one category from peers_sessions.json, failing the
// test when there are none (a renamed category must not turn the test into a no-op).
func mgrVectors(t testing.TB, category string) []mgrVector {
	t.Helper()
	raw, err := os.ReadFile("../protocol/testdata/peers_sessions.json")
	require.NoError(t, err)
	var file struct {
		Vectors []mgrVector `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(raw, &file))
	var out []mgrVector
	for _, v := range file.Vectors {
		if v.Category == category {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out, "no %q vectors", category)
	return out
}

// sybilQuery is one query of a sybil_range vector: the colliding range, or nil.
type sybilQuery struct {
	Query string `json:"query"`
	Range *Range `json:"range"`
}

func TestRangeOf(t *testing.T) {
	tests := []struct {
		ip    string
		limit int
		want  string
	}{
		{"127.0.0.1", 18, "127.0.0.0"},
		{"127.0.63.255", 18, "127.0.0.0"},
		{"127.0.64.1", 18, "127.0.64.0"},
		{"128.0.0.1", 18, "128.0.0.0"},
		{"255.255.255.255", 18, "255.255.192.0"},
		{"10.1.2.3", 8, "10.0.0.0"},
		{"10.1.2.3", 24, "10.1.2.0"},
		{"10.1.2.3", 31, "10.1.2.2"},
		{"10.1.2.3", 1, "0.0.0.0"},
		{"200.1.2.3", 1, "128.0.0.0"},
		{"10.1.2.3", 0, "0.0.0.0"},
		{"10.1.2.3", -5, "0.0.0.0"},
		{"10.1.2.3", 32, "10.1.2.3"},
		{"10.1.2.3", 64, "10.1.2.3"},
		{"::1", 18, "::/32"},
		{"2001:db8::1", 32, "2001:db8::/32"},
		{"2001:db8:ffff::1", 18, "2001:db8::/32"},
		{"2a01:4f8::1", 18, "2a01:4f8::/32"},
		{"::ffff:10.1.2.3", 24, "10.1.2.0"},
	}
	for _, tt := range tests {
		got := RangeOf(netip.MustParseAddr(tt.ip), tt.limit)
		require.Equal(t, tt.want, got.String(), "RangeOf(%s, %d)", tt.ip, tt.limit)
	}
	require.Equal(t, Range{}, RangeOf(netip.Addr{}, 18), "zero Addr")
	require.Equal(t, Range{127, 0, 0, 0}, RangeOf(netip.MustParseAddr("127.0.0.1"), 18), "IPv4 ranges keep witnet-rust's 4 bytes")
}

func TestRangeOfIPv6(t *testing.T) {
	tests := []struct {
		ip    string
		bits6 int
		want  string
	}{
		{"2001:db8:1:2::3", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2::3", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2::3", 0, "::/0"},
		{"2001:db8:1:2::3", -1, "::/0"},
		{"2001:db8:1:2::3", 200, "2001:db8:1:2::3/128"},
		{"fe80::1%eth0", 32, "fe80::/32"},
	}
	for _, tt := range tests {
		r := RangeOfBits(netip.MustParseAddr(tt.ip), 18, tt.bits6)
		require.True(t, r.Is6())
		require.Equal(t, tt.want, r.String(), "RangeOfBits(%s, _, %d)", tt.ip, tt.bits6)
		require.Equal(t, tt.want, r.Prefix().String())
	}
	// Two peers of one /32 collide; of two /32s do not; an IPv6 range never equals an IPv4 one.
	a := RangeOf(netip.MustParseAddr("2a01:4f8:1::1"), 18)
	require.Equal(t, a, RangeOf(netip.MustParseAddr("2a01:4f8:ffff::1"), 18))
	require.NotEqual(t, a, RangeOf(netip.MustParseAddr("2a01:4f9::1"), 18))
	require.NotEqual(t, RangeOfBits(netip.MustParseAddr("::"), 18, 0), RangeOf(netip.MustParseAddr("0.0.0.1"), 0))
	require.Equal(t, "127.0.0.0/32", RangeOf(netip.MustParseAddr("127.0.0.1"), 18).Prefix().String())
}

// sybilVector is the input and expected value of a sybil_range vector.
type sybilVector struct {
	Limit      int    `json:"range_limit"`
	Registered string `json:"registered_inbound"`
}

type sybilExpected struct {
	While []sybilQuery `json:"while_registered"`
	After []sybilQuery `json:"after_unregister"`
}

// decodeSybilVector reads a sybil_range vector's input and expected value.
func decodeSybilVector(t *testing.T, v mgrVector) (sybilVector, sybilExpected) {
	t.Helper()
	var in sybilVector
	var exp sybilExpected
	require.NoError(t, json.Unmarshal(v.Input, &in))
	require.NoError(t, json.Unmarshal(v.Expected, &exp))
	return in, exp
}

// TestRangeSetVector replays witnet-rust's p2p_peer_address_is_similar_to_inbound_session
// against the range bookkeeping alone; manager_test.go replays it through the Manager.
func TestRangeSetVector(t *testing.T) {
	for _, v := range mgrVectors(t, "sybil_range") {
		t.Run(v.Name, func(t *testing.T) {
			in, exp := decodeSybilVector(t, v)
			require.NotEmpty(t, exp.While)
			require.NotEmpty(t, exp.After)

			check := func(set rangeSet, qs []sybilQuery) {
				t.Helper()
				for _, q := range qs {
					r := RangeOf(netip.MustParseAddrPort(q.Query).Addr(), in.Limit)
					if q.Range == nil {
						require.False(t, set.holds(r), "query %s", q.Query)
					} else {
						require.True(t, set.holds(r), "query %s", q.Query)
						require.Equal(t, *q.Range, r, "query %s", q.Query)
					}
				}
			}
			set := rangeSet{}
			reg := RangeOf(netip.MustParseAddrPort(in.Registered).Addr(), in.Limit)
			set.add(reg)
			check(set, exp.While)
			set.remove(reg)
			check(set, exp.After)
			require.Empty(t, set)
		})
	}
}

func TestRangeSetCounts(t *testing.T) {
	set := rangeSet{}
	r := Range{127, 0, 0, 0}
	set.add(r)
	set.add(r)
	set.remove(r)
	require.True(t, set.holds(r), "one of two sessions still holds the range")
	set.remove(r)
	require.False(t, set.holds(r))
	set.remove(r) // removing from an empty set must not go negative
	require.Empty(t, set)
	set.add(r)
	require.True(t, set.holds(r))
}
