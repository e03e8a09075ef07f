package inventory

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

func openDB(t *testing.T, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	return db
}

func tempDB(t *testing.T) (*bbolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "node.db")
	db := openDB(t, path)
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

// fakeItem builds an item whose hash is derived from its content, so distinct names give
// distinct hashes.
func fakeItem(k protocol.Kind, epoch uint32, name string) Item {
	raw := []byte(fmt.Sprintf("%s/%d/%s", k, epoch, name))
	return Item{Kind: k, Hash: sha256.Sum256(raw), Epoch: epoch, Raw: raw}
}

func TestStorePutGet(t *testing.T) {
	db, _ := tempDB(t)
	s, err := OpenStore(db, StoreConfig{})
	require.NoError(t, err)

	items := []Item{
		fakeItem(protocol.KindTransaction, 0, "tx"),
		fakeItem(protocol.KindBlock, 7, "b7"),
		fakeItem(protocol.KindSuperBlock, 3, "sb3"),
		fakeItem(protocol.KindSuperBlockVote, 3, "vote"),
	}
	added, err := s.Put(items...)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, true, true}, added)

	for _, want := range items {
		got, err := s.Get(want.Hash)
		require.NoError(t, err)
		require.Equal(t, want, got)
		ok, err := s.Has(want.Hash)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, 1, s.Count(want.Kind))
	}

	// Storing again is a no-op reported as "not new"; a repeat inside one call too.
	added, err = s.Put(items[0], fakeItem(protocol.KindTransaction, 0, "tx2"), fakeItem(protocol.KindTransaction, 0, "tx2"))
	require.NoError(t, err)
	require.Equal(t, []bool{false, true, false}, added)
	require.Equal(t, 2, s.Count(protocol.KindTransaction))

	sb, err := s.SuperBlock(3)
	require.NoError(t, err)
	require.Equal(t, items[2], sb)
	_, err = s.SuperBlock(4)
	require.ErrorIs(t, err, ErrNotFound)

	_, err = s.Get(protocol.Hash{1})
	require.ErrorIs(t, err, ErrNotFound)
	ok, err := s.Has(protocol.Hash{1})
	require.NoError(t, err)
	require.False(t, ok)
}

func TestStoreRejectsBadItems(t *testing.T) {
	db, _ := tempDB(t)
	s, err := OpenStore(db, StoreConfig{})
	require.NoError(t, err)
	tests := []struct {
		name   string
		item   Item
		reason string
	}{
		{"not an inventory kind", Item{Kind: protocol.KindVersion, Raw: []byte{1}}, ReasonWrongKind},
		{"no kind", Item{Raw: []byte{1}}, ReasonWrongKind},
		{"empty", Item{Kind: protocol.KindTransaction}, ReasonEmpty},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Put(fakeItem(protocol.KindTransaction, 0, "ok"), tc.item)
			var ie *ItemError
			require.True(t, errors.As(err, &ie), "got %v", err)
			require.Equal(t, tc.reason, ie.Reason)
			// Nothing of the call was stored, not even the good item.
			require.Equal(t, 0, s.Count(protocol.KindTransaction))
		})
	}
}

func TestStoreEvictsOldestPerKind(t *testing.T) {
	db, _ := tempDB(t)
	s, err := OpenStore(db, StoreConfig{MaxTransactions: 3, MaxBlocks: 2, MaxSuperBlocks: 1})
	require.NoError(t, err)

	var txs []Item
	for i := range 5 {
		it := fakeItem(protocol.KindTransaction, 0, fmt.Sprint(i))
		txs = append(txs, it)
		_, err := s.Put(it)
		require.NoError(t, err)
	}
	// Blocks are a separate pool: adding them does not touch transactions.
	b1, b2, b3 := fakeItem(protocol.KindBlock, 1, "a"), fakeItem(protocol.KindBlock, 2, "b"), fakeItem(protocol.KindBlock, 3, "c")
	_, err = s.Put(b1, b2, b3)
	require.NoError(t, err)
	sb1, sb2 := fakeItem(protocol.KindSuperBlock, 1, "x"), fakeItem(protocol.KindSuperBlock, 2, "y")
	_, err = s.Put(sb1, sb2)
	require.NoError(t, err)

	require.Equal(t, 3, s.Count(protocol.KindTransaction))
	require.Equal(t, 2, s.Count(protocol.KindBlock))
	require.Equal(t, 1, s.Count(protocol.KindSuperBlock))
	for i, it := range txs {
		ok, err := s.Has(it.Hash)
		require.NoError(t, err)
		require.Equal(t, i >= 2, ok, "tx %d", i)
	}
	// The evicted block leaves the epoch index, the evicted superblock the index map.
	refs, err := s.Blocks(0, 10, 0)
	require.NoError(t, err)
	require.Equal(t, []BlockRef{{2, b2.Hash}, {3, b3.Hash}}, refs)
	_, err = s.SuperBlock(1)
	require.ErrorIs(t, err, ErrNotFound)
	got, err := s.SuperBlock(2)
	require.NoError(t, err)
	require.Equal(t, sb2.Hash, got.Hash)
}

func TestStoreBlocksRangeAndTip(t *testing.T) {
	db, _ := tempDB(t)
	s, err := OpenStore(db, StoreConfig{})
	require.NoError(t, err)
	_, ok, err := s.Tip()
	require.NoError(t, err)
	require.False(t, ok)

	var blocks []Item
	for _, e := range []uint32{5, 1, 3, 3, 9, 0xffffffff} {
		blocks = append(blocks, fakeItem(protocol.KindBlock, e, fmt.Sprint(len(blocks))))
	}
	_, err = s.Put(blocks...)
	require.NoError(t, err)

	tests := []struct {
		from, to uint32
		limit    int
		epochs   []uint32
	}{
		{0, 0xffffffff, 0, []uint32{1, 3, 3, 5, 9, 0xffffffff}},
		{2, 5, 0, []uint32{3, 3, 5}},
		{2, 5, 2, []uint32{3, 3}},
		{4, 4, 0, nil},
		{10, 2, 0, nil},
	}
	for _, tc := range tests {
		refs, err := s.Blocks(tc.from, tc.to, tc.limit)
		require.NoError(t, err)
		var epochs []uint32
		for _, r := range refs {
			epochs = append(epochs, r.Epoch)
		}
		require.Equal(t, tc.epochs, epochs, "range %d..%d limit %d", tc.from, tc.to, tc.limit)
	}
	tip, ok, err := s.Tip()
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, BlockRef{0xffffffff, blocks[5].Hash}, tip)
}

func TestStoreSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.db")
	db := openDB(t, path)
	s, err := OpenStore(db, StoreConfig{MaxTransactions: 4})
	require.NoError(t, err)
	var txs []Item
	for i := range 4 {
		txs = append(txs, fakeItem(protocol.KindTransaction, 0, fmt.Sprint(i)))
	}
	blk := fakeItem(protocol.KindBlock, 42, "b")
	_, err = s.Put(append(txs, blk)...)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	// Same bounds: everything is back, counts included, and the FIFO order continues.
	db = openDB(t, path)
	s, err = OpenStore(db, StoreConfig{MaxTransactions: 4})
	require.NoError(t, err)
	require.Equal(t, 4, s.Count(protocol.KindTransaction))
	require.Equal(t, 1, s.Count(protocol.KindBlock))
	got, err := s.Get(blk.Hash)
	require.NoError(t, err)
	require.Equal(t, blk, got)
	extra := fakeItem(protocol.KindTransaction, 0, "extra")
	_, err = s.Put(extra)
	require.NoError(t, err)
	ok, err := s.Has(txs[0].Hash)
	require.NoError(t, err)
	require.False(t, ok, "oldest transaction evicted across restarts")
	require.NoError(t, db.Close())

	// A smaller bound trims the oldest at open.
	db = openDB(t, path)
	defer db.Close()
	s, err = OpenStore(db, StoreConfig{MaxTransactions: 2})
	require.NoError(t, err)
	require.Equal(t, 2, s.Count(protocol.KindTransaction))
	for _, it := range []Item{txs[3], extra} {
		ok, err := s.Has(it.Hash)
		require.NoError(t, err)
		require.True(t, ok)
	}
}

func TestStoreConcurrentPutsGroupCommit(t *testing.T) {
	db, _ := tempDB(t)
	s, err := OpenStore(db, StoreConfig{MaxTransactions: 1000})
	require.NoError(t, err)
	const writers, each = 8, 40
	var wg sync.WaitGroup
	newCount := make([]int, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				// Every writer also stores item i of writer 0, so duplicates race.
				added, err := s.Put(fakeItem(protocol.KindTransaction, 0, fmt.Sprintf("%d-%d", w, i)), fakeItem(protocol.KindTransaction, 0, fmt.Sprintf("0-%d", i)))
				if err != nil {
					t.Error(err)
					return
				}
				for _, a := range added {
					if a {
						newCount[w]++
					}
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range newCount {
		total += n
	}
	require.Equal(t, writers*each, total, "each distinct item reported new exactly once")
	require.Equal(t, writers*each, s.Count(protocol.KindTransaction))
}
