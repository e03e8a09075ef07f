package node

import (
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// batchChain is a chain that also takes block batches.
type batchChain struct {
	*StaticChain
	mu  sync.Mutex
	got []int
}

func (c *batchChain) Blocks(_ *session.Session, blocks []*pb.Block) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, len(blocks))
}

func TestBlockBatchesCountedAndForwarded(t *testing.T) {
	blockAt := func(epoch uint32) *pb.Block {
		b := proto.Clone(vectorBlock(t)).(*pb.Block)
		b.BlockHeader.Beacon.Checkpoint = epoch
		return b
	}
	c1, c2 := net.Pipe()
	defer c2.Close()
	s := session.New(c1, session.Peer{}, session.Outbound, session.Config{})
	defer s.Close(nil)

	for _, withChain := range []bool{false, true} {
		n := &Node{metrics: newMetrics()}
		chain := &batchChain{StaticChain: NewStaticChain(protocol.NewLastBeaconPB(nil, nil), protocol.MainnetEpochs)}
		if withChain {
			n.cfg.chain = chain
		}
		sink := n.blockSink()
		sink.Blocks(s, []*pb.Block{blockAt(3), blockAt(4), blockAt(5)})
		sink.Blocks(s, []*pb.Block{blockAt(6)})
		sink.Blocks(s, nil)

		m := n.metrics
		require.Equal(t, 2.0, counterValue(t, m.blockBatches.WithLabelValues("complete")))
		require.Equal(t, 1.0, counterValue(t, m.blockBatches.WithLabelValues("aborted")))
		require.Equal(t, 4.0, counterValue(t, m.batchBlocks))
		if withChain {
			require.Equal(t, []int{3, 1, 0}, chain.got)
		} else {
			require.Empty(t, chain.got)
		}
	}
}
