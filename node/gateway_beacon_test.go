package node

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// The beacon a gateway without a chain announces, as witnet-rust nodes judge it: a
// witnet-rust node that dials the gateway checks the gateway's Version beacon
// (PROTOCOL.md 7.2) and, once the session is up, counts the gateway's LastBeacons in its
// peers-beacon consensus (8.5). The witnet-rust side is the independent client of
// wrclient_test.go.

// wrChainBlock returns a block of epoch ep as the client pushes it (the body of a Block
// message) and the checkpoint the node names it by.
func wrChainBlock(t *testing.T, ep uint32) ([]byte, checkpoint) {
	t.Helper()
	b := proto.Clone(vectorBlock(t)).(*pb.Block)
	b.BlockHeader.Beacon.Checkpoint = ep
	msg, err := protocol.Marshal(protocol.NewBlock(protocol.Magic, b))
	require.NoError(t, err)
	_, cmd, body, err := wrParseMessage(msg)
	require.NoError(t, err)
	require.Equal(t, wrBlockCmd, cmd)
	h, err := protocol.BlockHash(b, protocol.V1_7)
	require.NoError(t, err)
	return body, checkpoint{epoch: ep, hash: h}
}

func wrBeaconOf(block, super checkpoint) wrBeacon {
	return wrBeacon{BlockCP: block.epoch, BlockHash: bytes.Clone(block.hash[:]), SuperCP: super.epoch, SuperHash: bytes.Clone(super.hash[:])}
}

// TestGatewayBeaconForWitnetRustDialer: a gateway dials three witnet-rust nodes (its
// plain-TCP outbound slots), which agree on a chain past genesis: block X, superblock 8.
// The gateway's round finds the majority; it lacks X, so it sends its beacon to one of
// them, which announces X, and the gateway fetches it. Its beacon becomes (X, 8). A fourth witnet-rust node then dials the
// gateway: the gateway's Version beacon passes its check as the dialling side, the
// session consolidates, and the gateway's next LastBeacon is the dialler's own beacon,
// so the dialler's consensus keeps it.
func TestGatewayBeaconForWitnetRustDialer(t *testing.T) {
	epochs := shortEpochs()
	body, x := wrChainBlock(t, 90)
	super := checkpoint{8, hashOfByte(0x5b)}
	chain := wrBeaconOf(x, super)

	ws := []*wrListener{newWRListener(t, "127.0.0.3"), newWRListener(t, "127.0.0.4"), newWRListener(t, "127.0.0.5")}
	var peers []netip.AddrPort
	for _, w := range ws {
		peers = append(peers, w.addr())
	}
	gw := startNode(t, t.TempDir(), WithEpochs(epochs), WithLegacyListen(legacyLoopback), WithLegacyPeers(peers...), WithLegacyLimits(8, 3))
	for _, w := range ws {
		c := w.accept()
		c.beacon = chain
		c.handshakeListener()
		c.serveChain(body, 200*time.Millisecond)
	}
	waitFor(t, 10*time.Second, func() bool {
		lb := gw.chain.LastBeacon()
		return checkpointOf(lb.GetHighestBlockCheckpoint()) == x && checkpointOf(lb.GetHighestSuperblockCheckpoint()) == super
	}, func() string { return "gateway beacon: " + gw.chain.LastBeacon().String() })
	waitFor(t, 5*time.Second, func() bool { return gw.rounds.stats().Synced }, nil)
	st := gw.rounds.stats()
	require.Equal(t, "tcp", st.Transport)
	require.Equal(t, [2]int{3, 3}, [2]int{st.Agreeing, st.Slots})
	require.Equal(t, super.epoch, st.Majority.SuperblockEpoch)

	d := wrDial(t, gw.LegacyAddr(), "127.0.0.2")
	d.beacon = chain
	v, err := d.handshakeDialerChecked(epochs.EpochAt(time.Now().Unix()))
	require.NoError(t, err, "witnet-rust's check of the gateway's Version beacon")
	require.Equal(t, [2]uint32{x.epoch, super.epoch}, [2]uint32{v.Beacon.BlockCP, v.Beacon.SuperCP})
	tcpSession(t, gw, d.local(), session.Inbound)
	got, err := wrParseBeacon(d.expectSkipping(wrLastBeacon))
	require.NoError(t, err)
	require.Equal(t, chain, got, "the dialler's consensus block: it keeps the gateway")
}

// TestGatewayBeaconWithoutConsensus: a gateway whose outbound peers have made no
// consensus yet announces the genesis superblock, and says so in its log. A witnet-rust
// node past genesis that dials it finds the gateway's superblock behind its own
// (PeerBeaconOld) and drops it (and ices it, outside superblock-update epochs): the
// session never consolidates.
func TestGatewayBeaconWithoutConsensus(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "info", "witnet/node")
	epochs := shortEpochs()
	gw := startNode(t, t.TempDir(), WithEpochs(epochs), WithLegacyListen(legacyLoopback))
	require.NotEmpty(t, logs.Find(func(l map[string]any) bool {
		msg, _ := l["msg"].(string)
		return bytes.Contains([]byte(msg), []byte("announcing the genesis superblock"))
	}), "the gateway says it announces genesis")

	_, x := wrChainBlock(t, 90)
	d := wrDial(t, gw.LegacyAddr(), "127.0.0.2")
	d.beacon = wrBeaconOf(x, checkpoint{8, hashOfByte(0x5b)})
	v, err := d.handshakeDialerChecked(epochs.EpochAt(time.Now().Unix()))
	require.ErrorIs(t, err, errWRPeerBeaconOld)
	require.Equal(t, uint32(0), v.Beacon.SuperCP)
	require.Equal(t, protocol.MainnetGenesisHash[:], v.Beacon.SuperHash)
	waitFor(t, 10*time.Second, func() bool { return gw.Manager().NumSessionsOf(session.TransportTCP).InboundUnconsolidated == 0 }, nil)
	require.Zero(t, gw.Manager().NumSessionsOf(session.TransportTCP).InboundConsolidated)
}
