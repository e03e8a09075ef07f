package node

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// newTestInventory returns an inventory engine on a bbolt file of its own.
func newTestInventory(t *testing.T, clock session.Clock) *inventory.Engine {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "inv.db"), 0o600, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	store, err := inventory.OpenStore(db, inventory.StoreConfig{})
	require.NoError(t, err)
	e, err := inventory.New(inventory.Config{Store: store, Clock: clock})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// blockAt returns the raw bytes of a block of epoch ep (variant tells blocks of one epoch
// apart).
func blockAt(t *testing.T, ep uint32, variant uint32) []byte {
	t.Helper()
	b := proto.Clone(vectorBlock(t)).(*pb.Block)
	b.BlockHeader.Beacon.Checkpoint = ep
	b.BlockHeader.Signals += variant
	raw, err := protocol.CanonicalBytes(b)
	require.NoError(t, err)
	return raw
}

// storeBlock submits a block of epoch ep to e and returns its checkpoint.
func storeBlock(t *testing.T, e *inventory.Engine, ep, variant uint32) checkpoint {
	t.Helper()
	it, _, err := e.Submit(protocol.KindBlock, blockAt(t, ep, variant))
	require.NoError(t, err)
	return checkpoint{epoch: ep, hash: it.Hash}
}

// TestRelayChainBeacon: the beacon of a node without a chain names the highest block it
// stores of an epoch before the current one, or the consensus majority's block when it
// stores it and nothing later; the superblock is the last majority's; genesis otherwise.
func TestRelayChainBeacon(t *testing.T) {
	epochs := protocol.EpochConstants{CheckpointZeroTimestamp: 1_000, CheckpointsPeriod: 10}
	clock := session.NewFakeClock(time.Unix(epochs.EpochStart(20)+3, 0))
	inv := newTestInventory(t, clock)
	stored := func(h protocol.Hash) bool { ok, _ := inv.Store().Has(h); return ok }
	genesis := DefaultBeacon()
	c := NewRelayChain(genesis, epochs, clock, inv.BlockBeaconBefore, stored)
	beacon := func() (block, super checkpoint) {
		lb := c.LastBeacon()
		return checkpointOf(lb.GetHighestBlockCheckpoint()), checkpointOf(lb.GetHighestSuperblockCheckpoint())
	}
	gen := checkpoint{0, protocol.MainnetGenesisHash}

	block, super := beacon()
	require.Equal(t, [2]checkpoint{gen, gen}, [2]checkpoint{block, super}, "nothing stored, no consensus: genesis")
	require.True(t, proto.Equal(genesis.GetHighestSuperblockCheckpoint(), c.SuperBlockTarget()))

	// Blocks of the current epoch (a candidate at best) and of a later one (anyone can
	// push one) are not named.
	storeBlock(t, inv, 5, 0)
	b12 := storeBlock(t, inv, 12, 0)
	storeBlock(t, inv, 20, 0)
	b30 := storeBlock(t, inv, 30, 0)
	block, _ = beacon()
	require.Equal(t, b12, block)

	// A majority whose block we lack moves the superblock only.
	sb := checkpoint{1, hashOfByte(0x5b)}
	c.follow(checkpoint{12, hashOfByte(0xee)}, sb)
	block, super = beacon()
	require.Equal(t, [2]checkpoint{b12, sb}, [2]checkpoint{block, super})

	// Two blocks of epoch 12: the majority's is named, whichever our tip is.
	other := storeBlock(t, inv, 12, 1)
	c.follow(other, sb)
	block, _ = beacon()
	require.Equal(t, other, block)
	c.follow(b12, sb)
	block, _ = beacon()
	require.Equal(t, b12, block)

	// A majority older than a block we store does not hold the beacon back.
	old := storeBlock(t, inv, 8, 0)
	c.follow(old, sb)
	block, _ = beacon()
	require.Equal(t, checkpointOf(inv.BlockBeaconBefore(20)), block, "our tip: the smaller hash of epoch 12")
	require.Contains(t, []checkpoint{b12, other}, block)

	// A majority on superblock 0 (peers that know none) does not replace the known one;
	// another superblock does.
	c.follow(b12, gen)
	_, super = beacon()
	require.Equal(t, sb, super)
	sb2 := checkpoint{2, hashOfByte(0x5c)}
	c.follow(b12, sb2)
	_, super = beacon()
	require.Equal(t, sb2, super)

	// Time passes: the block of epoch 30 becomes nameable.
	clock.Set(time.Unix(epochs.EpochStart(31), 0))
	block, _ = beacon()
	require.Equal(t, b30, block)

	// An outbound peer still at genesis passes our handshake check, as before.
	peer := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(3, hashOfByte(3)), genesis.GetHighestSuperblockCheckpoint())
	require.NoError(t, protocol.CheckBeacon(c.LastBeacon(), peer, c.Epoch(clock.Now()), c.SuperBlockTarget()))
}
