package protocol

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

func TestCheckTimestamp(t *testing.T) {
	const (
		maxI = math.MaxInt64
		minI = math.MinInt64
	)
	tests := []struct {
		name               string
		received, now, max int64
		ok                 bool
	}{
		{"equal", 1000, 1000, 10, true},
		{"lower edge", 990, 1000, 10, true},
		{"upper edge", 1010, 1000, 10, true},
		{"below", 989, 1000, 10, false},
		{"above", 1011, 1000, 10, false},
		{"disabled", minI, 1000, 0, true},
		{"negative max fails closed", 1000, 1000, -1, false},
		{"now at max, received at max", maxI, maxI, 10, true},
		{"now at max, received below window", maxI - 11, maxI, 10, false},
		{"now at min, received at min", minI, minI, 10, true},
		{"now at min, received above window", minI + 11, minI, 10, false},
		{"max window, no saturation needed", minI + 1, 0, maxI, true},
		{"max window, just outside", minI, 0, maxI, false},
		{"upper bound saturates", maxI, 1, maxI, true},
		{"lower bound saturates", minI, -2, maxI, true},
		{"window from min does not wrap", maxI, minI, maxI, false},
		{"negative timestamps", -5, -3, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckTimestamp(tt.received, tt.now, tt.max)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, DifferentTimestamp)
			var he HandshakeError
			require.True(t, errors.As(err, &he))
			require.Equal(t, "DifferentTimestamp", he.String())
		})
	}
}

func TestSaturatingArithmetic(t *testing.T) {
	require.Equal(t, int64(math.MaxInt64), satAdd(math.MaxInt64, 1))
	require.Equal(t, int64(math.MinInt64), satAdd(math.MinInt64, -1))
	require.Equal(t, int64(math.MaxInt64), satSub(0, math.MinInt64))
	require.Equal(t, int64(-1), satSub(math.MinInt64, math.MinInt64+1))
	require.Equal(t, int64(0), satSub(math.MinInt64, math.MinInt64))
	require.Equal(t, int64(math.MinInt64), satSub(math.MinInt64, 1))
	require.Equal(t, int64(5), TimestampDiff(1005, 1000))
	require.Equal(t, int64(math.MaxInt64), TimestampDiff(math.MaxInt64, -1))
}

func TestCheckBeacon(t *testing.T) {
	lb := func(block, super uint32, superHash byte) *pb.LastBeacon {
		return NewLastBeaconPB(NewCheckpointBeacon(block, Hash{0xb0}), NewCheckpointBeacon(super, Hash{superHash}))
	}
	tests := []struct {
		name              string
		current, received *pb.LastBeacon
		epoch             uint32
		target            *pb.CheckpointBeacon
		want              error
	}{
		{"genesis", lb(0, 0, 1), lb(0, 0, 1), 0, nil, nil},
		{"peer block at current epoch", lb(5, 0, 1), lb(5, 0, 1), 5, nil, nil},
		{"peer block beyond epoch", lb(5, 0, 1), lb(6, 0, 1), 5, nil, DifferentEpoch},
		{"epoch checked before superblocks", lb(5, 3, 1), lb(6, 0, 1), 5, nil, DifferentEpoch},
		{"peer superblock ahead", lb(5, 1, 1), lb(5, 2, 9), 5, nil, nil},
		{"peer superblock behind", lb(5, 2, 1), lb(5, 1, 1), 5, nil, PeerBeaconOld},
		{"same superblock, other hash", lb(5, 2, 1), lb(5, 2, 2), 5, nil, PeerBeaconDifferentBlockHash},
		{"block hashes are not compared", lb(5, 2, 1), NewLastBeaconPB(NewCheckpointBeacon(5, Hash{0xff}), NewCheckpointBeacon(2, Hash{1})), 5, nil, nil},
		{"target replaces our superblock", lb(5, 2, 1), lb(5, 3, 7), 5, NewCheckpointBeacon(3, Hash{7}), nil},
		{"target ahead of peer", lb(5, 2, 1), lb(5, 2, 1), 5, NewCheckpointBeacon(3, Hash{7}), PeerBeaconOld},
		{"target same index, other hash", lb(5, 2, 1), lb(5, 2, 1), 5, NewCheckpointBeacon(2, Hash{7}), PeerBeaconDifferentBlockHash},
		{"max epoch", lb(0, 0, 1), lb(math.MaxUint32, 0, 1), math.MaxUint32, nil, nil},
		{"nil beacons read as zero", nil, nil, 0, nil, nil},
		{"nil received vs our superblock 1", lb(0, 1, 1), nil, 0, nil, PeerBeaconOld},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBeacon(tt.current, tt.received, tt.epoch, tt.target)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestHandshakeErrorIces(t *testing.T) {
	tests := []struct {
		err   HandshakeError
		epoch uint32
		ices  bool
	}{
		{DifferentTimestamp, 0, true},
		{DifferentTimestamp, 15, true},
		{DifferentEpoch, 10, true},
		{PeerBeaconOld, 10, false},
		{PeerBeaconOld, 0, false},
		{PeerBeaconOld, 11, true},
		{PeerBeaconDifferentBlockHash, 3_108_950, false},
		{PeerBeaconDifferentBlockHash, 3_108_951, true},
	}
	for _, tt := range tests {
		require.Equal(t, tt.ices, tt.err.Ices(tt.epoch), "%s at %d", tt.err, tt.epoch)
	}
}

func TestHandshakeErrorNames(t *testing.T) {
	for e, name := range map[HandshakeError]string{
		DifferentTimestamp:           "DifferentTimestamp",
		DifferentEpoch:               "DifferentEpoch",
		PeerBeaconOld:                "PeerBeaconOld",
		PeerBeaconDifferentBlockHash: "PeerBeaconDifferentBlockHash",
	} {
		require.Equal(t, name, e.String())
		require.Equal(t, "protocol: handshake: "+name, e.Error())
	}
	require.Equal(t, "HandshakeError(0)", HandshakeError(0).String())
	require.Equal(t, "HandshakeError(99)", HandshakeError(99).String())
}

func TestEpochAt(t *testing.T) {
	const t2 = 1_742_568_750 // PROTOCOL.md 7.7
	zero := MainnetEpochs.CheckpointZeroTimestamp
	tests := []struct {
		name  string
		c     EpochConstants
		unix  int64
		epoch uint32
	}{
		{"before zero", MainnetEpochs, zero - 1, 0},
		{"far before zero", MainnetEpochs, math.MinInt64, 0},
		{"zero", MainnetEpochs, zero, 0},
		{"end of epoch 0", MainnetEpochs, zero + 44, 0},
		{"epoch 1", MainnetEpochs, zero + 45, 1},
		{"V1.8 activation", MainnetEpochs, zero + 3_048_960*45, 3_048_960},
		{"last 45 s epoch", MainnetEpochs, t2 - 1, 3_108_949},
		{"V2.0 first epoch", MainnetEpochs, t2, 3_108_950},
		{"V2.0 end of first epoch", MainnetEpochs, t2 + 19, 3_108_950},
		{"V2.0 second epoch", MainnetEpochs, t2 + 20, 3_108_951},
		{"saturates", MainnetEpochs, math.MaxInt64, math.MaxUint32},
		{"testnet zero", TestnetEpochs, 1_754_997_300, 0},
		{"testnet V2.0", TestnetEpochs, 1_754_997_300 + 60*45, 60},
		{"testnet V2.0 + 1", TestnetEpochs, 1_754_997_300 + 60*45 + 20, 61},
		{"no V2", EpochConstants{CheckpointZeroTimestamp: 100, CheckpointsPeriod: 10}, 1_000_100, 100_000},
		{"zero period", EpochConstants{CheckpointZeroTimestamp: 100}, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.epoch, tt.c.EpochAt(tt.unix))
		})
	}
	// t2 is the documented date.
	require.Equal(t, "2025-03-21T14:52:30Z", time.Unix(t2, 0).UTC().Format(time.RFC3339))
	require.Equal(t, int64(t2), MainnetEpochs.EpochStart(MainnetEpochs.V2Epoch))
}

func TestEpochStartInvertsEpochAt(t *testing.T) {
	for _, c := range []EpochConstants{MainnetEpochs, TestnetEpochs} {
		for _, e := range []uint32{0, 1, 59, 60, 61, 3_048_960, 3_108_949, 3_108_950, 3_108_951, 4_000_000} {
			start := c.EpochStart(e)
			require.Equal(t, e, c.EpochAt(start), "epoch %d starts at %d", e, start)
			if start > c.CheckpointZeroTimestamp {
				require.Equal(t, e-1, c.EpochAt(start-1), "epoch %d", e)
			}
		}
	}
}

func TestGenesisHashes(t *testing.T) {
	require.Equal(t, "6ca267d9accde3336739331d42d63509b799c6431e8d02b2d2cc9d3943d7ab02", MainnetGenesisHash.String())
	require.Equal(t, "1eed88826bdaf4b1f222bf19c0ebd372d2f6a6af2f23430fc22ee0d0911d8db0", TestnetGenesisHash.String())
	require.Equal(t, "666564676f6573627272727c2f3030312f3738392f3432382f6130312e676966", BootstrapHash.String())
	require.Panics(t, func() { mustHash("zz") })
}
