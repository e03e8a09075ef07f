package inventory

import "github.com/witnet-p2p/witnet-p2p/protocol/pb"

// keyRing is a bounded set of entry keys that forgets the oldest first. It is not safe for
// concurrent use; the engine guards it.
type keyRing struct {
	size int
	ring []entryKey
	next int
	set  map[entryKey]struct{}
}

func newKeyRing(size int) *keyRing {
	// Storage grows with use: most nodes never fill a ring of the default size.
	return &keyRing{size: size, set: make(map[entryKey]struct{})}
}

func (r *keyRing) has(k entryKey) bool {
	_, ok := r.set[k]
	return ok
}

func (r *keyRing) add(k entryKey) {
	if r.has(k) {
		return
	}
	if len(r.ring) < r.size {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = struct{}{}
}

// remove forgets k; its slot in the ring stays until overwritten (a later add of the same
// key may then be forgotten early, which only costs a refetch).
func (r *keyRing) remove(k entryKey) { delete(r.set, k) }

// cmdCache keeps decoded commands of recent items for serving requests, evicting the
// oldest first. Not safe for concurrent use; the engine guards it.
type cmdCache struct {
	keys *keyRing
	cmds map[entryKey]*pb.Message_Command
}

func newCmdCache(size int) *cmdCache {
	return &cmdCache{keys: newKeyRing(size), cmds: make(map[entryKey]*pb.Message_Command)}
}

func (c *cmdCache) get(k entryKey) *pb.Message_Command { return c.cmds[k] }

func (c *cmdCache) put(k entryKey, cmd *pb.Message_Command) {
	if len(c.keys.ring) == c.keys.size && !c.keys.has(k) {
		delete(c.cmds, c.keys.ring[c.keys.next])
	}
	c.keys.add(k)
	c.cmds[k] = cmd
}
