package node

import (
	"context"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

func TestOptionsRejectBadValues(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"empty data dir", WithDataDir("")},
		{"no listen addrs", WithListenAddrs()},
		{"bootstrap without /p2p", WithBootstrap(ma.StringCast("/ip4/1.2.3.4/tcp/21337"))},
		{"negative inbound", WithLimits(-1, 8)},
		{"zero outbound", WithLimits(8, 0)},
		{"zero magic", WithMagic(0)},
		{"zero handshake timeout", WithHandshake(0, time.Second)},
		{"negative drift", WithHandshake(time.Second, -1)},
		{"sybil bits", WithSybilRule(true, 33)},
		{"negative period", WithPeriods(-1, 0, 0)},
		{"negative ice", WithIce(-1, 0)},
		{"zero dial timeout", WithDialTimeout(0)},
		{"bad rpc addr", WithRPCAddr("localhost")},
		{"nil identity", WithIdentity(nil)},
		{"beacon without checkpoints", WithBeacon(&pb.LastBeacon{})},
		{"zero epoch period", WithEpochs(protocol.EpochConstants{})},
		{"nil chain", WithChain(nil)},
		{"nil clock", WithClock(nil)},
		{"nil rpc method", WithRPCMethods(map[string]rpc.Method{"x": nil})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConfig()
			require.Error(t, tc.opt(&c))
			_, err := New(context.Background(), WithDataDir(t.TempDir()), tc.opt)
			require.Error(t, err)
		})
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	c := defaultConfig()
	require.NoError(t, c.validate())
	require.Equal(t, "/ip4/0.0.0.0/tcp/21342", c.listen[0].String())
	require.Equal(t, "/ip4/0.0.0.0/udp/21342/quic-v1", c.listen[1].String())
	require.Equal(t, "127.0.0.1:21338", c.rpcAddr)
	require.Equal(t, 128, c.inboundLimit)
	require.Equal(t, 12, c.outboundLimit)
	require.Equal(t, 15*time.Second, c.bootstrapPeriod)
	require.Equal(t, 30*time.Second, c.discoveryPeriod)
	require.Equal(t, 2*time.Second, c.feelerPeriod)
	require.Equal(t, protocol.Magic, c.magic)
}

func TestStaticChain(t *testing.T) {
	b := DefaultBeacon()
	c := NewStaticChain(b, protocol.MainnetEpochs)
	b.HighestBlockCheckpoint.Checkpoint = 99 // the chain keeps its own copy
	require.Equal(t, uint32(0), c.LastBeacon().GetHighestBlockCheckpoint().GetCheckpoint())
	require.Equal(t, protocol.MainnetGenesisHash[:], c.LastBeacon().GetHighestSuperblockCheckpoint().GetHashPrevBlock().GetSHA256())
	require.Nil(t, c.SuperBlockTarget())
	require.Equal(t, uint32(0), c.Epoch(time.Unix(1_602_666_000-1, 0)))
	require.Equal(t, uint32(2), c.Epoch(time.Unix(1_602_666_000+90, 0)))
	require.Equal(t, uint32(3_108_951), c.Epoch(time.Unix(1_742_568_750+20, 0)), "20 s epochs after V2.0")
}
