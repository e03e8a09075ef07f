package node

import (
	"testing"
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// Block catch-up between witnet-p2p nodes, on real nodes (libp2p on loopback, bbolt
// files): a node that missed blocks while it was away gets them from its outbound peers
// through the beacons (PROTOCOL.md 7.6, 8.5).

// shortEpochs are one-second epochs, the current one about 100.
func shortEpochs() protocol.EpochConstants {
	return protocol.EpochConstants{CheckpointZeroTimestamp: time.Now().Unix() - 100, CheckpointsPeriod: 1}
}

// waitStored waits until n stores every block of want, and returns how many epochs it
// took.
func waitStored(t *testing.T, n *Node, want []checkpoint) uint32 {
	t.Helper()
	start := n.cfg.epochs.EpochAt(time.Now().Unix())
	waitFor(t, 10*time.Second, func() bool {
		for _, c := range want {
			if !n.stored(c.hash) {
				return false
			}
		}
		return true
	}, func() string { return "blocks missing; tip " + checkpointOf(n.inv.BlockBeacon()).hash.String() })
	return n.cfg.epochs.EpochAt(time.Now().Unix()) - start
}

// TestCatchUpBetweenRelays: node A stores blocks (submitted to its inventory) while B is
// not running. B starts, dials A, and gets them: A's beacon names its highest block,
// B's one outbound slot makes a consensus on it, and B, behind, sends its beacon to A,
// which announces the blocks B lacks. Then B stops, A stores more, and B restarts with
// witnet-p2p's default outbound limit: one peer of twelve slots is no consensus, and B
// catches up from the peer whose beacon is ahead of it.
func TestCatchUpBetweenRelays(t *testing.T) {
	epochs := shortEpochs()
	a := startNode(t, t.TempDir(), WithEpochs(epochs))
	var first []checkpoint
	for ep := uint32(60); ep < 64; ep++ {
		first = append(first, storeBlock(t, a.inv, ep, 0))
	}
	tip := first[len(first)-1]
	waitFor(t, 5*time.Second, func() bool { return checkpointOf(a.chain.LastBeacon().GetHighestBlockCheckpoint()) == tip },
		func() string { return "A's beacon does not name its highest block" })

	dirB := t.TempDir()
	b := startNode(t, dirB, WithEpochs(epochs), WithBootstrap(a.Addrs()[0]), WithLimits(8, 1))
	took := waitStored(t, b, first)
	t.Logf("B caught up on %d blocks within %d epochs", len(first), took)
	waitFor(t, 5*time.Second, func() bool {
		st := b.rounds.stats()
		return st != nil && st.Synced && st.Majority != nil && st.Majority.BlockEpoch == tip.epoch
	}, func() string { return "B not synced with the consensus on A's tip" })
	if got := checkpointOf(b.chain.LastBeacon().GetHighestBlockCheckpoint()); got != tip {
		t.Fatalf("B's beacon names block %d, want A's tip %d", got.epoch, tip.epoch)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	var second []checkpoint
	for ep := uint32(64); ep < 67; ep++ {
		second = append(second, storeBlock(t, a.inv, ep, 0))
	}
	b = startNode(t, dirB, WithEpochs(epochs), WithBootstrap(a.Addrs()[0]))
	took = waitStored(t, b, second)
	t.Logf("restarted B caught up on %d blocks within %d epochs", len(second), took)
	if st := b.rounds.stats(); st != nil && st.Majority != nil {
		t.Fatalf("one peer of twelve slots made a consensus: %+v", st)
	}
}
