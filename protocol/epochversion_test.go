package protocol

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestProtocolVersionText(t *testing.T) {
	for _, tc := range []struct {
		v    ProtocolVersion
		name string
		alts []string
	}{
		{V1_7, "v1.7", []string{"1.7", "V1_7", "v1_7", "V1.7", " v1.7 "}},
		{V1_8, "v1.8", []string{"1.8", "V1_8"}},
		{V2_0, "v2.0", []string{"2.0", "V2_0"}},
		{V2_1, "v2.1", []string{"2.1", "V2_1"}},
	} {
		require.Equal(t, tc.name, tc.v.String())
		require.True(t, tc.v.Valid())
		for _, s := range append([]string{tc.name}, tc.alts...) {
			got, err := ParseProtocolVersion(s)
			require.NoError(t, err, s)
			require.Equal(t, tc.v, got, s)
		}
		text, err := tc.v.MarshalText()
		require.NoError(t, err)
		var back ProtocolVersion
		require.NoError(t, back.UnmarshalText(text))
		require.Equal(t, tc.v, back)
	}
	for _, s := range []string{"", "v", "1", "v1.9", "V2", "2_0_0", "vv2.0", "v2.0x"} {
		_, err := ParseProtocolVersion(s)
		require.ErrorIs(t, err, ErrUnknownProtocolVersion, s)
	}
	bad := ProtocolVersion(9)
	require.False(t, bad.Valid())
	require.Equal(t, "ProtocolVersion(9)", bad.String())
	_, err := bad.MarshalText()
	require.ErrorIs(t, err, ErrUnknownProtocolVersion)

	// As a JSON value (configuration files) it is the text form.
	out, err := json.Marshal(struct{ V ProtocolVersion }{V2_0})
	require.NoError(t, err)
	require.JSONEq(t, `{"V":"v2.0"}`, string(out))
	var in struct{ V ProtocolVersion }
	require.NoError(t, json.Unmarshal([]byte(`{"V":"V1_8"}`), &in))
	require.Equal(t, V1_8, in.V)
}

func TestVersionAt(t *testing.T) {
	tests := []struct {
		name  string
		acts  VersionActivations
		epoch uint32
		want  ProtocolVersion
	}{
		{"mainnet genesis", MainnetActivations, 0, V1_7},
		{"mainnet last V1.7 epoch", MainnetActivations, 3_048_959, V1_7},
		{"mainnet V1.8 activation", MainnetActivations, 3_048_960, V1_8},
		{"mainnet last V1.8 epoch", MainnetActivations, 3_108_949, V1_8},
		{"mainnet V2.0 activation", MainnetActivations, 3_108_950, V2_0},
		{"mainnet far future", MainnetActivations, math.MaxUint32, V2_0},
		{"testnet genesis", TestnetActivations, 0, V1_7},
		{"testnet 14", TestnetActivations, 14, V1_7},
		{"testnet 15", TestnetActivations, 15, V1_8},
		{"testnet 59", TestnetActivations, 59, V1_8},
		{"testnet 60", TestnetActivations, 60, V2_0},
		{"nothing activated", VersionActivations{}, math.MaxUint32, V1_7},
		{"V2.1 set, before", VersionActivations{V1_8: 10, V2_0: 20, V2_1: 30}, 29, V2_0},
		{"V2.1 set, at", VersionActivations{V1_8: 10, V2_0: 20, V2_1: 30}, 30, V2_1},
		{"V2.0 without V1.8", VersionActivations{V2_0: 20}, 25, V2_0},
		// Out-of-order activations: the latest activation epoch reached wins, as in
		// witnet-rust's epoch-keyed map; on a tie the later version wins.
		{"out of order, between", VersionActivations{V1_8: 20, V2_0: 10}, 15, V2_0},
		{"out of order, after both", VersionActivations{V1_8: 20, V2_0: 10}, 25, V1_8},
		{"same epoch", VersionActivations{V1_8: 10, V2_0: 10}, 10, V2_0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.acts.VersionAt(tc.epoch))
		})
	}
}
