package node

import (
	"testing"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/hostlimits"
)

// TestHostUsesDerivedLimits: the host runs the connection and resource managers derived
// from the session limits, not libp2p's silent defaults (160/192 trimming,
// memory-scaled connection caps).
func TestHostUsesDerivedLimits(t *testing.T) {
	n := startNode(t, t.TempDir(), WithLimits(20, 5))
	cm, ok := n.Host().ConnManager().(*connmgr.BasicConnMgr)
	require.True(t, ok, "connection manager is %T", n.Host().ConnManager())
	want := hostlimits.Derive(20, 5)
	info := cm.GetInfo()
	require.Equal(t, want.TrimLow, info.LowWater)
	require.Equal(t, want.TrimHigh, info.HighWater)
	require.Equal(t, hostlimits.ConnGracePeriod, info.GracePeriod)

	rm, ok := n.Host().Network().ResourceManager().(*hostlimits.ResourceManager)
	require.True(t, ok, "resource manager is %T", n.Host().Network().ResourceManager())
	require.Equal(t, want, rm.Limits())
	err := rm.ViewSystem(func(s network.ResourceScope) error {
		require.Equal(t, 0, s.Stat().NumConnsInbound)
		return nil
	})
	require.NoError(t, err)
}
