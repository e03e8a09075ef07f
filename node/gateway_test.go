package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The gateway: a node with both transports relays between witnet-rust nodes (over plain
// TCP) and libp2p nodes through its one inventory engine. These tests run real nodes on
// loopback; the witnet-rust side is a TCP-only node or the independent client of
// wrclient_test.go.

// Item commands of Message.Command (PROTOCOL.md 3), for the witnet-rust stand-in.
const (
	wrBlockCmd       protowire.Number = 5
	wrTransactionCmd protowire.Number = 9
)

// wrVectorTx is a witnet-rust value transfer (its canonical encoding) and its hash.
const (
	wrVectorTx     = "0ad9010a630a260a240a220a20aa27cffcdc685c99c030e67a4d65b49803870f4277a7620e83b2e55fc6ed5bc2121a0a160a14153f9050e14523266b9e500bb667e1ae4ad188421001121d0a160a141de42db8d29472378197eaf88b9dfeba4ec0bf5e10b18be80312720a4b0a490a47304502210081ffe5c085a8aa95b71b91ba987f97265054b58a742bcebcc1a3a2bba21f4e3202206d7d82b5519b82063b6aeb962ec2fde7fc602c870cbbf150750f652dddaf28fa12230a2102fe4a2f859572fed6076fceb66ea8f56daac889616c72e5c2cd1ade5a0784fb2f"
	wrVectorTxHash = "dbb328838b6dc40ba6fabe007f97d6f948532e68590db0ff8ea6a75b11ae432d"
)

// recvItem reads until a message of kind cmd whose body is want, within 10 s, skipping
// everything else (LastBeacons, announcements, other items), and returns how long it took.
func (c *wrClient) recvItem(cmd protowire.Number, want []byte) time.Duration {
	c.t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for time.Now().Before(deadline) {
		got, body := c.recv()
		if got == cmd && bytes.Equal(body, want) {
			return time.Since(start)
		}
	}
	c.t.Fatalf("no message %d with the expected body within 10 s", cmd)
	return 0
}

// addrPort converts a bound TCP address.
func addrPort(a net.Addr) netip.AddrPort { return a.(*net.TCPAddr).AddrPort() }

// itemAt waits until the node behind c holds the item h and returns its bytes.
func itemAt(t *testing.T, c *rpc.Client, h protocol.Hash) []byte {
	t.Helper()
	var got inventory.ItemResult
	waitFor(t, 10*time.Second, func() bool {
		var err error
		got, err = inventory.GetItem(context.Background(), c, h)
		return err == nil
	}, func() string { return "item " + h.String() + " did not arrive" })
	raw, err := hex.DecodeString(got.Hex)
	require.NoError(t, err)
	return raw
}

// consolidatedBoth waits until a and b hold consolidated libp2p sessions with each other.
func consolidatedBoth(t *testing.T, a, b *Node) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool {
		in, ok1 := a.Manager().Lookup(b.ID(), session.Inbound)
		out, ok2 := b.Manager().Lookup(a.ID(), session.Outbound)
		return ok1 && ok2 && in.Status() == session.Consolidated && out.Status() == session.Consolidated
	}, func() string { return "libp2p sessions not consolidated" })
}

// TestMixedDevnet runs a libp2p-only node, a gateway (libp2p and a plain-TCP listener)
// and a TCP-only node that dials the gateway, as a witnet-rust node would: a transaction
// submitted at either end reaches the other end byte for byte, and the TCP-only node's
// peers-beacon consensus, counted on its one outbound slot, shows in nodeStats.
func TestMixedDevnet(t *testing.T) {
	// A chain tip at block 5 (a beacon at checkpoint 0, no block, abstains from the
	// consensus).
	beacon := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(5, hashOfByte(5)), DefaultBeacon().GetHighestSuperblockCheckpoint())
	lp := startNode(t, t.TempDir(), WithRPCAddr("127.0.0.1:0"), WithBeacon(beacon))
	gw := startNode(t, t.TempDir(), WithLegacyListen(legacyLoopback), WithBootstrap(lp.Addrs()[0]), WithBeacon(beacon))
	tcp := tcpOnlyNode(t, WithLegacyPeers(addrPort(gw.LegacyAddr())), WithLegacyLimits(8, 1), WithBeacon(beacon))
	consolidatedBoth(t, lp, gw)
	tcpSession(t, tcp, addrPort(gw.LegacyAddr()), session.Outbound)
	waitFor(t, 10*time.Second, func() bool { return gw.Manager().NumSessionsOf(session.TransportTCP).InboundConsolidated == 1 }, nil)

	ctx := context.Background()
	lpc := rpc.NewClient(lp.RPCAddr().String(), 5*time.Second)
	tcpc := rpc.NewClient(tcp.RPCAddr().String(), 5*time.Second)

	// libp2p end to TCP end.
	raw := inventorytest.TxBytes(1)
	start := time.Now()
	h, err := inventory.SubmitItem(ctx, lpc, protocol.KindTransaction, raw)
	require.NoError(t, err)
	require.Equal(t, raw, itemAt(t, tcpc, h), "byte-identical at the TCP end")
	t.Logf("libp2p -> gateway -> TCP: %v", time.Since(start))

	// TCP end to libp2p end.
	raw = inventorytest.TxBytes(2)
	start = time.Now()
	h, err = inventory.SubmitItem(ctx, tcpc, protocol.KindTransaction, raw)
	require.NoError(t, err)
	require.Equal(t, raw, itemAt(t, lpc, h), "byte-identical at the libp2p end")
	t.Logf("TCP -> gateway -> libp2p: %v", time.Since(start))

	// The TCP-only node's one outbound slot is filled: its round is decided, on the
	// gateway's beacon, which is also its own.
	var stats rpc.NodeStats
	waitFor(t, 10*time.Second, func() bool {
		stats, err = tcpc.NodeStats(ctx)
		return err == nil && stats.Consensus != nil
	}, nil)
	c := stats.Consensus
	require.NotNil(t, c.Majority)
	require.Equal(t, uint32(5), c.Majority.BlockEpoch)
	require.Equal(t, [3]int{1, 1, 1}, [3]int{c.Agreeing, c.Beacons, c.Slots})
	require.True(t, c.Majority.BlockConsensus)
	require.True(t, c.Synced)
	require.Equal(t, []session.Key{session.TCPKey(addrPort(gw.LegacyAddr()))}, tcp.Manager().ConsensusPeers())
}

// TestGatewayWitnetRustClient is issue 13's "done when": a client that behaves like
// witnet-rust completes the handshake with a gateway, gets only 6/18-byte addresses, gets
// the gateway's LastBeacon each epoch on its inbound session, and sees items relayed both
// ways through the gateway to a libp2p node: its transaction and its block candidate
// reach the libp2p node, and the libp2p node's reach it, whole, byte for byte.
func TestGatewayWitnetRustClient(t *testing.T) {
	lp := startNode(t, t.TempDir(), WithRPCAddr("127.0.0.1:0"))
	// One-second epochs, so that the epoch's LastBeacon comes within the test.
	epochs := protocol.EpochConstants{CheckpointZeroTimestamp: time.Now().Unix() - 100, CheckpointsPeriod: 1}
	w := newWRListener(t, "127.0.0.3")
	gw := startNode(t, t.TempDir(), WithLegacyListen(legacyLoopback), WithBootstrap(lp.Addrs()[0]), WithLegacyPeers(w.addr()), WithEpochs(epochs))
	wc := w.accept()
	wc.handshakeListener()
	consolidatedBoth(t, lp, gw)

	c := wrDial(t, gw.LegacyAddr(), "127.0.0.2")
	requireWitnetVersion(t, c.handshakeDialer(), make([]byte, 6), wrAddr(c.local()))
	tcpSession(t, gw, c.local(), session.Inbound)
	var got [][]byte
	waitFor(t, 10*time.Second, func() bool {
		got = c.getPeers() // fails the test on any address that is not 6 or 18 bytes
		return len(got) == 1 && bytes.Equal(got[0], wrAddr(w.addr()))
	}, func() string { return "peers offered: " + formatAddrs(got) })
	c.expectSkipping(wrLastBeacon)

	ctx := context.Background()
	lpc := rpc.NewClient(lp.RPCAddr().String(), 5*time.Second)

	// The client's transaction, pushed as witnet-rust pushes it.
	tx, err := hex.DecodeString(wrVectorTx)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, c.send(wrTransactionCmd, tx))
	h, err := protocol.ParseHash(wrVectorTxHash)
	require.NoError(t, err)
	require.Equal(t, tx, itemAt(t, lpc, h), "byte-identical at the libp2p node")
	t.Logf("witnet-rust client -> gateway -> libp2p: %v", time.Since(start))

	// The client's block candidate.
	_, cmd, block, err := wrParseMessage(func() []byte {
		b, err := protocol.Marshal(protocol.NewBlock(protocol.Magic, vectorBlock(t)))
		require.NoError(t, err)
		return b
	}())
	require.NoError(t, err)
	require.Equal(t, wrBlockCmd, cmd)
	require.NoError(t, c.send(wrBlockCmd, block))
	bh, err := protocol.BlockHash(vectorBlock(t), protocol.V1_7)
	require.NoError(t, err)
	require.Equal(t, block, itemAt(t, lpc, bh), "the candidate reaches the libp2p node")

	// The libp2p node's transaction and block reach the client in full.
	raw := inventorytest.TxBytes(3)
	start = time.Now()
	_, err = inventory.SubmitItem(ctx, lpc, protocol.KindTransaction, raw)
	require.NoError(t, err)
	d := c.recvItem(wrTransactionCmd, raw)
	t.Logf("libp2p -> gateway -> witnet-rust client: %v (%v after submit)", d, time.Since(start))
	b := proto.Clone(vectorBlock(t)).(*pb.Block)
	b.BlockHeader.Signals++
	braw, err := protocol.CanonicalBytes(b)
	require.NoError(t, err)
	_, err = inventory.SubmitItem(ctx, lpc, protocol.KindBlock, braw)
	require.NoError(t, err)
	c.recvItem(wrBlockCmd, braw)

	// Nothing the client sent came back to it: it got one transaction and one block, the
	// libp2p node's.
	out := tcpSession(t, gw, c.local(), session.Inbound).Stats().MessagesOut
	require.Equal(t, [2]uint64{1, 1}, [2]uint64{out[protocol.KindTransaction], out[protocol.KindBlock]})
}
