package node

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

func TestInventoryWired(t *testing.T) {
	a := startNode(t, t.TempDir(), WithRPCAddr("127.0.0.1:0"))
	addr := a.Addrs()[0]
	b := startNode(t, t.TempDir(), WithRPCAddr("127.0.0.1:0"), WithBootstrap(addr))
	// Both ends must have consolidated: a transaction is announced to the consolidated
	// sessions of the moment, and a's end consolidates one message after b's.
	require.Eventually(t, func() bool {
		return len(a.Manager().ConsolidatedPeers()) == 1 && len(b.Manager().ConsolidatedPeers()) == 1
	}, 10*time.Second, 10*time.Millisecond)
	raw, _ := hex.DecodeString("0ad9010a630a260a240a220a20aa27cffcdc685c99c030e67a4d65b49803870f4277a7620e83b2e55fc6ed5bc2121a0a160a14153f9050e14523266b9e500bb667e1ae4ad188421001121d0a160a141de42db8d29472378197eaf88b9dfeba4ec0bf5e10b18be80312720a4b0a490a47304502210081ffe5c085a8aa95b71b91ba987f97265054b58a742bcebcc1a3a2bba21f4e3202206d7d82b5519b82063b6aeb962ec2fde7fc602c870cbbf150750f652dddaf28fa12230a2102fe4a2f859572fed6076fceb66ea8f56daac889616c72e5c2cd1ade5a0784fb2f")
	ca := rpc.NewClient(a.RPCAddr().String(), 0)
	cb := rpc.NewClient(b.RPCAddr().String(), 0)
	h, err := inventory.SubmitItem(context.Background(), ca, protocol.KindTransaction, raw)
	require.NoError(t, err)
	require.Equal(t, "dbb328838b6dc40ba6fabe007f97d6f948532e68590db0ff8ea6a75b11ae432d", h.String())
	require.Eventually(t, func() bool {
		got, err := inventory.GetItem(context.Background(), cb, h)
		return err == nil && got.Kind == "transaction"
	}, 5*time.Second, 10*time.Millisecond)
}
