package inventory

import (
	"encoding/binary"
	"slices"

	"go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Bounds of the votes a session sends after serving our beacon block (PROTOCOL.md 7.5).
const (
	// MaxVotesServed is the most superblock votes SuperBlockVotes returns. A superblock's
	// signing committee has at most 100 members on mainnet, so a current superblock has a
	// few hundred votes even counting every member of the active reputation set that
	// voted; the bound only matters against a peer that floods us with votes.
	MaxVotesServed = 1000
	// voteScanWindow is how many of the most recently received votes SuperBlockVotes
	// looks at to find the latest superblock index.
	voteScanWindow = 4 * MaxVotesServed
)

var _ session.VoteSource = (*Engine)(nil)

// SuperBlockVotes implements session.VoteSource: the votes a session sends after it served
// the block of our beacon epoch, so that a peer that has just synced to our tip can count
// the votes of the superblock being decided.
//
// witnet-rust sends the votes its chain manager holds for the current superblock (its
// vote pool is emptied at every superblock). The engine validates no vote and does not
// know which superblock is current, so it takes the latest superblock index among the
// voteScanWindow most recently received votes (committed or still waiting for the writer)
// and returns the votes of that index, oldest first, at most MaxVotesServed (the newest).
// Votes of older superblocks are left out: they are useless to a peer at our tip, and
// sending every vote of the pool (up to StoreConfig.MaxVotes) would let one request make
// us queue tens of thousands of messages. A peer that pushes votes with an index beyond
// the real one can make this list useless, not long.
func (e *Engine) SuperBlockVotes() []*pb.SuperBlockVote {
	// Votes not committed yet are in memory, and newer than the stored ones.
	e.mu.Lock()
	var fresh []Item
	for _, w := range e.unwritten {
		if w.it.Kind == protocol.KindSuperBlockVote {
			fresh = append(fresh, w.it)
		}
	}
	e.mu.Unlock()
	var floor uint32
	for _, it := range fresh {
		floor = max(floor, it.Epoch)
	}
	latest, items, err := e.store.latestVotes(voteScanWindow, floor)
	if err != nil {
		log.Warnw("reading superblock votes", "err", err)
	}
	if len(items) == 0 && len(fresh) == 0 {
		return nil
	}
	items = append(items, fresh...)
	seen := make(map[protocol.Hash]struct{}, len(items))
	var votes []*pb.SuperBlockVote
	for _, it := range items {
		if it.Epoch != latest {
			continue
		}
		if _, dup := seen[it.Hash]; dup { // committed while we were reading
			continue
		}
		seen[it.Hash] = struct{}{}
		v := new(pb.SuperBlockVote)
		if err := proto.Unmarshal(it.Raw, v); err != nil {
			log.Warnw("stored superblock vote does not decode", "hash", it.Hash, "err", err)
			continue
		}
		votes = append(votes, v)
	}
	if len(votes) > MaxVotesServed {
		votes = votes[len(votes)-MaxVotesServed:]
	}
	return votes
}

// latestVotes looks at the last n superblock votes stored and returns the highest
// superblock index among them and floor, with the stored votes of that index among them,
// oldest first (their Raw copied out of the database).
func (s *Store) latestVotes(n int, floor uint32) (latest uint32, out []Item, err error) {
	latest = floor
	err = s.db.View(func(tx *bbolt.Tx) error {
		kind := byte(protocol.KindSuperBlockVote)
		items := tx.Bucket(bucketItems)
		// Pass 1, newest first, over the order bucket (kind ‖ seq): the last vote is just
		// before the first key of the next kind. Only record headers are read.
		type ref struct {
			hash  protocol.Hash
			epoch uint32
		}
		var refs []ref
		c := tx.Bucket(bucketOrder).Cursor()
		k, h := c.Seek([]byte{kind + 1})
		if k == nil {
			k, h = c.Last()
		} else {
			k, h = c.Prev()
		}
		for ; k != nil && k[0] == kind && len(refs) < n; k, h = c.Prev() {
			hash, err := protocol.HashFromBytes(h)
			if err != nil {
				continue
			}
			rec := items.Get(hash[:])
			if len(rec) < recordHeader || protocol.Kind(rec[0]) != protocol.KindSuperBlockVote {
				continue
			}
			e := binary.BigEndian.Uint32(rec[1:5])
			refs = append(refs, ref{hash, e})
			latest = max(latest, e)
		}
		// Pass 2, oldest first: the votes of the latest index.
		for i := len(refs) - 1; i >= 0; i-- {
			if refs[i].epoch != latest {
				continue
			}
			rec := items.Get(refs[i].hash[:])
			out = append(out, Item{Kind: protocol.KindSuperBlockVote, Hash: refs[i].hash, Epoch: latest, Raw: slices.Clone(rec[recordHeader:])})
		}
		return nil
	})
	return latest, out, err
}
