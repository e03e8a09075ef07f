package inventory

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// Default pool bounds of a Store; each kind is evicted oldest-first beyond its bound in
// items or in bytes (of item encodings), so the database cannot grow beyond the sum of the
// byte bounds (about 1.1 GiB) whatever peers send.
const (
	// DefaultMaxTransactions bounds the transaction pool.
	DefaultMaxTransactions = 20_000
	// DefaultMaxTransactionBytes bounds the transaction pool in bytes: 3.3 KB per
	// transaction at the count bound (a value transfer is a few hundred bytes).
	DefaultMaxTransactionBytes = 64 << 20
	// DefaultMaxBlocks bounds the blocks kept (about 23 days of 20-second epochs).
	DefaultMaxBlocks = 100_000
	// DefaultMaxBlockBytes bounds the blocks kept in bytes: 10 KB per block at the count
	// bound, 512 blocks of the largest size.
	DefaultMaxBlockBytes = 1 << 30
	// DefaultMaxSuperBlocks bounds the superblocks kept.
	DefaultMaxSuperBlocks = 10_000
	// DefaultMaxSuperBlockBytes bounds the superblocks kept in bytes (a superblock is
	// about 200 bytes).
	DefaultMaxSuperBlockBytes = 16 << 20
	// DefaultMaxVotes bounds the superblock votes kept.
	DefaultMaxVotes = 50_000
	// DefaultMaxVoteBytes bounds the superblock votes kept in bytes (a vote is about 250
	// bytes).
	DefaultMaxVoteBytes = 32 << 20
	// DefaultMaxVotesPerIndex bounds the votes kept for one superblock index: a signing
	// committee has at most 100 members on mainnet, and MaxVotesServed is what a session
	// sends after our beacon block.
	DefaultMaxVotesPerIndex = MaxVotesServed
)

// Bucket names in the node's bbolt file. Every bucket this package uses starts with
// "inventory/" so the file can be shared with the address book and others.
var (
	bucketItems       = []byte("inventory/items")       // hash → record (kind, epoch, seq, raw)
	bucketOrder       = []byte("inventory/order")       // kind ‖ seq (big-endian) → hash: FIFO per kind
	bucketBlocks      = []byte("inventory/blocks")      // epoch (big-endian) ‖ hash → empty
	bucketSuperBlocks = []byte("inventory/superblocks") // index (big-endian) → hash
	bucketMeta        = []byte("inventory/meta")        // "seq" → next sequence number
)

var metaSeq = []byte("seq")

// recordHeader is the size of a record's fixed part: kind (1), epoch (4), seq (8).
const recordHeader = 1 + 4 + 8

// StoreConfig bounds a Store. A zero field takes its default.
type StoreConfig struct {
	// MaxTransactions is the size of the transaction pool; 0 means DefaultMaxTransactions.
	MaxTransactions int
	// MaxTransactionBytes bounds the transaction pool's encodings; 0 means
	// DefaultMaxTransactionBytes.
	MaxTransactionBytes int
	// MaxBlocks is the number of blocks kept; 0 means DefaultMaxBlocks.
	MaxBlocks int
	// MaxBlockBytes bounds the blocks' encodings; 0 means DefaultMaxBlockBytes.
	MaxBlockBytes int
	// MaxSuperBlocks is the number of superblocks kept; 0 means DefaultMaxSuperBlocks.
	MaxSuperBlocks int
	// MaxSuperBlockBytes bounds the superblocks' encodings; 0 means
	// DefaultMaxSuperBlockBytes.
	MaxSuperBlockBytes int
	// MaxVotes is the number of superblock votes kept; 0 means DefaultMaxVotes.
	MaxVotes int
	// MaxVoteBytes bounds the votes' encodings; 0 means DefaultMaxVoteBytes.
	MaxVoteBytes int
	// MaxVotesPerIndex is the number of votes kept for one superblock index: further
	// votes for it are refused (not stored), not evicting older ones. 0 means
	// DefaultMaxVotesPerIndex.
	MaxVotesPerIndex int
}

func pick(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// bound returns the pool bound of kind k in items and in bytes (0, 0 for a kind that is
// not an inventory kind).
func (c StoreConfig) bound(k protocol.Kind) (items, bytes int) {
	switch k {
	case protocol.KindTransaction:
		return pick(c.MaxTransactions, DefaultMaxTransactions), pick(c.MaxTransactionBytes, DefaultMaxTransactionBytes)
	case protocol.KindBlock:
		return pick(c.MaxBlocks, DefaultMaxBlocks), pick(c.MaxBlockBytes, DefaultMaxBlockBytes)
	case protocol.KindSuperBlock:
		return pick(c.MaxSuperBlocks, DefaultMaxSuperBlocks), pick(c.MaxSuperBlockBytes, DefaultMaxSuperBlockBytes)
	case protocol.KindSuperBlockVote:
		return pick(c.MaxVotes, DefaultMaxVotes), pick(c.MaxVoteBytes, DefaultMaxVoteBytes)
	}
	return 0, 0
}

func (c StoreConfig) votesPerIndex() int { return pick(c.MaxVotesPerIndex, DefaultMaxVotesPerIndex) }

// pools are the sizes of a Store's pools, by kind.
type pools struct {
	counts, bytes [protocol.NumKinds]int
}

// over reports whether the pool of kind k is beyond its bounds and can shrink (a pool of
// one item, however large, is kept).
func (p *pools) over(c StoreConfig, k protocol.Kind) bool {
	items, bytes := c.bound(k)
	return p.counts[k] > items || p.counts[k] > 1 && p.bytes[k] > bytes
}

// BlockRef names a stored block by epoch and hash.
type BlockRef struct {
	Epoch uint32
	Hash  protocol.Hash
}

// Store keeps inventory items in bbolt. It is safe for concurrent use. Writes from
// concurrent callers are grouped into one bbolt transaction (one fsync) while a previous
// commit is in flight, so gossip bursts do not serialise on the disk.
type Store struct {
	db  *bbolt.DB
	cfg StoreConfig

	mu      sync.Mutex // guards pending, running, pools and votes
	pending []*putRequest
	running bool
	pools   pools
	// votes counts the stored votes by superblock index. Only a commit or trim changes
	// it (under mu); a commit reads it without mu, since commits do not overlap.
	votes map[uint32]int
}

type putRequest struct {
	items []Item
	added []bool
	err   error
	done  chan struct{}
}

// OpenStore creates the inventory buckets in db if needed and returns a Store over them.
// The Store does not own db: closing db is the caller's job, after the Store's last use.
func OpenStore(db *bbolt.DB, cfg StoreConfig) (*Store, error) {
	if db == nil {
		return nil, errors.New("inventory: nil bbolt database")
	}
	s := &Store{db: db, cfg: cfg, votes: make(map[uint32]int)}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketItems, bucketOrder, bucketBlocks, bucketSuperBlocks, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		// Size each kind's pool from the order bucket, whose keys start with the kind
		// byte, and the records it points to.
		items := tx.Bucket(bucketItems)
		return tx.Bucket(bucketOrder).ForEach(func(k, h []byte) error {
			if len(k) != 9 || int(k[0]) >= len(s.pools.counts) {
				return nil
			}
			s.pools.counts[k[0]]++
			if rec := items.Get(h); len(rec) >= recordHeader {
				s.pools.bytes[k[0]] += len(rec) - recordHeader
				if protocol.Kind(k[0]) == protocol.KindSuperBlockVote {
					s.votes[binary.BigEndian.Uint32(rec[1:5])]++
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("inventory: open store: %w", err)
	}
	// A smaller bound than last run's content: trim now, oldest first.
	if err := s.trim(); err != nil {
		return nil, err
	}
	return s, nil
}

// trim evicts items beyond the configured bounds.
func (s *Store) trim() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, votes := s.pools, map[uint32]int{}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		for _, k := range itemKinds {
			if err := s.shrink(tx, &p, votes, k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inventory: trim store: %w", err)
	}
	s.pools = p
	s.applyVotes(votes)
	return nil
}

// shrink evicts the oldest items of kind k while its pool is over its bounds, recording
// the sizes in p and the evicted votes in votes (index -> change).
func (s *Store) shrink(tx *bbolt.Tx, p *pools, votes map[uint32]int, k protocol.Kind) error {
	for p.over(s.cfg, k) {
		size, epoch, ok, err := evictOldest(tx, k)
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		p.counts[k]--
		p.bytes[k] -= size
		if k == protocol.KindSuperBlockVote {
			votes[epoch]--
		}
	}
	return nil
}

// applyVotes adds the changes of a committed transaction to the vote counts; s.mu is held.
func (s *Store) applyVotes(changes map[uint32]int) {
	for i, d := range changes {
		if n := s.votes[i] + d; n > 0 {
			s.votes[i] = n
		} else {
			delete(s.votes, i)
		}
	}
}

// voteRoom reports whether superblock index may get one more vote.
func (s *Store) voteRoom(index uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.votes[index] < s.cfg.votesPerIndex()
}

// Put stores items and reports, for each, whether it was new (false: already stored, left
// untouched). Items must have an inventory kind, a hash and a non-empty encoding; Put does
// not decode or re-hash them (see Decode). When a kind's pool is full, in items or in
// bytes, its oldest items are evicted; a vote whose superblock index has
// MaxVotesPerIndex votes already is not stored. Put returns after the items are committed
// to disk.
func (s *Store) Put(items ...Item) ([]bool, error) {
	for _, it := range items {
		if !IsItemKind(it.Kind) {
			return nil, &ItemError{Kind: it.Kind, Reason: ReasonWrongKind}
		}
		if len(it.Raw) == 0 {
			return nil, &ItemError{Kind: it.Kind, Reason: ReasonEmpty}
		}
	}
	req := &putRequest{items: items, done: make(chan struct{})}
	s.mu.Lock()
	s.pending = append(s.pending, req)
	if s.running {
		// Another caller is committing; it will pick this request up in its next round.
		s.mu.Unlock()
		<-req.done
		return req.added, req.err
	}
	s.running = true
	for len(s.pending) > 0 {
		batch := s.pending
		s.pending = nil
		p := s.pools
		s.mu.Unlock()
		votes := map[uint32]int{}
		err := s.commit(batch, &p, votes)
		s.mu.Lock()
		if err == nil {
			s.pools = p
			s.applyVotes(votes)
		}
		for _, r := range batch {
			if err != nil {
				r.added, r.err = nil, err
			}
			close(r.done)
		}
	}
	s.running = false
	s.mu.Unlock()
	return req.added, req.err
}

// commit writes a batch of put requests in one bbolt transaction, updating p and votes
// (index -> change) as it goes.
func (s *Store) commit(batch []*putRequest, p *pools, votes map[uint32]int) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		items := tx.Bucket(bucketItems)
		meta := tx.Bucket(bucketMeta)
		var seq uint64
		if v := meta.Get(metaSeq); len(v) == 8 {
			seq = binary.BigEndian.Uint64(v)
		}
		for _, r := range batch {
			r.added = make([]bool, len(r.items))
			for i, it := range r.items {
				if items.Get(it.Hash[:]) != nil {
					continue
				}
				vote := it.Kind == protocol.KindSuperBlockVote
				if vote && s.votes[it.Epoch]+votes[it.Epoch] >= s.cfg.votesPerIndex() {
					continue
				}
				seq++
				if err := insert(tx, it, seq); err != nil {
					return err
				}
				r.added[i] = true
				p.counts[it.Kind]++
				p.bytes[it.Kind] += len(it.Raw)
				if vote {
					votes[it.Epoch]++
				}
				if err := s.shrink(tx, p, votes, it.Kind); err != nil {
					return err
				}
			}
		}
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], seq)
		return meta.Put(metaSeq, v[:])
	})
	if err != nil {
		return fmt.Errorf("inventory: store items: %w", err)
	}
	return nil
}

func insert(tx *bbolt.Tx, it Item, seq uint64) error {
	rec := make([]byte, recordHeader+len(it.Raw))
	rec[0] = byte(it.Kind)
	binary.BigEndian.PutUint32(rec[1:5], it.Epoch)
	binary.BigEndian.PutUint64(rec[5:13], seq)
	copy(rec[recordHeader:], it.Raw)
	if err := tx.Bucket(bucketItems).Put(it.Hash[:], rec); err != nil {
		return err
	}
	if err := tx.Bucket(bucketOrder).Put(orderKey(it.Kind, seq), it.Hash[:]); err != nil {
		return err
	}
	switch it.Kind {
	case protocol.KindBlock:
		return tx.Bucket(bucketBlocks).Put(epochKey(it.Epoch, it.Hash), nil)
	case protocol.KindSuperBlock:
		// InventoryEntry names superblocks by index: the first superblock stored for an
		// index answers for it.
		sb := tx.Bucket(bucketSuperBlocks)
		k := be32(it.Epoch)
		if sb.Get(k) == nil {
			return sb.Put(k, it.Hash[:])
		}
	}
	return nil
}

// evictOldest removes the oldest item of kind k and its index entries, and returns its
// size and epoch; ok is false when the pool is empty.
func evictOldest(tx *bbolt.Tx, k protocol.Kind) (size int, epoch uint32, ok bool, err error) {
	c := tx.Bucket(bucketOrder).Cursor()
	key, hash := c.Seek([]byte{byte(k)})
	if key == nil || key[0] != byte(k) {
		return 0, 0, false, nil
	}
	h, err := protocol.HashFromBytes(hash)
	if err != nil {
		return 0, 0, false, fmt.Errorf("corrupt order entry: %w", err)
	}
	if err := c.Delete(); err != nil {
		return 0, 0, false, err
	}
	items := tx.Bucket(bucketItems)
	rec := items.Get(h[:])
	if len(rec) < recordHeader {
		return 0, 0, true, nil
	}
	size, epoch = len(rec)-recordHeader, binary.BigEndian.Uint32(rec[1:5])
	if err := items.Delete(h[:]); err != nil {
		return 0, 0, false, err
	}
	switch k {
	case protocol.KindBlock:
		err = tx.Bucket(bucketBlocks).Delete(epochKey(epoch, h))
	case protocol.KindSuperBlock:
		sb := tx.Bucket(bucketSuperBlocks)
		if bytes.Equal(sb.Get(be32(epoch)), h[:]) {
			err = sb.Delete(be32(epoch))
		}
	}
	return size, epoch, err == nil, err
}

// Get returns the item stored under hash, or ErrNotFound.
func (s *Store) Get(hash protocol.Hash) (Item, error) {
	var it Item
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		it, err = getItem(tx, hash)
		return err
	})
	return it, err
}

func getItem(tx *bbolt.Tx, hash protocol.Hash) (Item, error) {
	rec := tx.Bucket(bucketItems).Get(hash[:])
	if rec == nil {
		return Item{}, ErrNotFound
	}
	if len(rec) < recordHeader {
		return Item{}, fmt.Errorf("inventory: corrupt record for %s", hash)
	}
	return Item{
		Kind:  protocol.Kind(rec[0]),
		Hash:  hash,
		Epoch: binary.BigEndian.Uint32(rec[1:5]),
		Raw:   bytes.Clone(rec[recordHeader:]),
	}, nil
}

// hasKeys returns which of the engine's entry keys the store holds (nil if none), in
// one read transaction: blocks and transactions by hash, superblocks by index.
func (s *Store) hasKeys(keys []entryKey) (map[entryKey]bool, error) {
	var held map[entryKey]bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		items, sbs := tx.Bucket(bucketItems), tx.Bucket(bucketSuperBlocks)
		for _, k := range keys {
			var ok bool
			if k.superblock {
				ok = sbs.Get(be32(k.index)) != nil
			} else {
				ok = items.Get(k.hash[:]) != nil
			}
			if ok {
				if held == nil {
					held = make(map[entryKey]bool)
				}
				held[k] = true
			}
		}
		return nil
	})
	return held, err
}

// Has reports whether an item is stored under hash.
func (s *Store) Has(hash protocol.Hash) (bool, error) {
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		ok = tx.Bucket(bucketItems).Get(hash[:]) != nil
		return nil
	})
	return ok, err
}

// SuperBlock returns the superblock stored for index, or ErrNotFound.
func (s *Store) SuperBlock(index uint32) (Item, error) {
	var it Item
	err := s.db.View(func(tx *bbolt.Tx) error {
		h := tx.Bucket(bucketSuperBlocks).Get(be32(index))
		if h == nil {
			return ErrNotFound
		}
		hash, err := protocol.HashFromBytes(h)
		if err != nil {
			return fmt.Errorf("inventory: corrupt superblock index %d: %w", index, err)
		}
		it, err = getItem(tx, hash)
		return err
	})
	return it, err
}

// Blocks returns the stored blocks with epochs in [from, to], in epoch order (blocks of
// one epoch in hash order), at most limit of them (limit <= 0: no limit).
func (s *Store) Blocks(from, to uint32, limit int) ([]BlockRef, error) {
	var refs []BlockRef
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketBlocks).Cursor()
		for k, _ := c.Seek(be32(from)); k != nil; k, _ = c.Next() {
			if len(k) != 4+protocol.HashSize {
				continue
			}
			e := binary.BigEndian.Uint32(k[:4])
			if e > to || (limit > 0 && len(refs) >= limit) {
				break
			}
			var r BlockRef
			r.Epoch = e
			copy(r.Hash[:], k[4:])
			refs = append(refs, r)
		}
		return nil
	})
	return refs, err
}

// Tip returns the stored block with the highest epoch (the smallest hash among blocks of
// that epoch); ok is false when no block is stored.
func (s *Store) Tip() (ref BlockRef, ok bool, err error) {
	return s.tip(func(c *bbolt.Cursor) []byte {
		k, _ := c.Last()
		return k
	})
}

// TipBefore is Tip among the blocks of epochs before epoch: the stored block with the
// highest epoch below it (the smallest hash among blocks of that epoch); ok is false when
// there is none.
func (s *Store) TipBefore(epoch uint32) (ref BlockRef, ok bool, err error) {
	return s.tip(func(c *bbolt.Cursor) []byte {
		if k, _ := c.Seek(be32(epoch)); k == nil {
			k, _ = c.Last()
			return k
		}
		k, _ := c.Prev()
		return k
	})
}

// tip returns the first block of the epoch of the block key that last positions the
// blocks cursor on.
func (s *Store) tip(last func(*bbolt.Cursor) []byte) (ref BlockRef, ok bool, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketBlocks).Cursor()
		k := last(c)
		if len(k) != 4+protocol.HashSize {
			return nil
		}
		e := binary.BigEndian.Uint32(k[:4])
		// Step back to the first block of that epoch, so the answer is stable.
		k, _ = c.Seek(be32(e))
		ref.Epoch = e
		copy(ref.Hash[:], k[4:])
		ok = true
		return nil
	})
	return ref, ok, err
}

// Count returns how many items of kind k are stored.
func (s *Store) Count(k protocol.Kind) int {
	n, _ := s.poolSize(k)
	return n
}

// Bytes returns the size of the encodings of the items of kind k stored.
func (s *Store) Bytes(k protocol.Kind) int {
	_, b := s.poolSize(k)
	return b
}

func (s *Store) poolSize(k protocol.Kind) (items, bytes int) {
	if k >= protocol.NumKinds {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pools.counts[k], s.pools.bytes[k]
}

// Bound returns the pool bound of kind k in items (0 for a kind that is not an
// inventory kind).
func (s *Store) Bound(k protocol.Kind) int {
	items, _ := s.cfg.bound(k)
	return items
}

// ByteBound returns the pool bound of kind k in bytes (0 for a kind that is not an
// inventory kind).
func (s *Store) ByteBound(k protocol.Kind) int {
	_, bytes := s.cfg.bound(k)
	return bytes
}

func orderKey(k protocol.Kind, seq uint64) []byte {
	key := make([]byte, 9)
	key[0] = byte(k)
	binary.BigEndian.PutUint64(key[1:], seq)
	return key
}

func epochKey(epoch uint32, h protocol.Hash) []byte {
	key := make([]byte, 4+protocol.HashSize)
	binary.BigEndian.PutUint32(key, epoch)
	copy(key[4:], h[:])
	return key
}

func be32(v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}
