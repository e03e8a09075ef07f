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

// decodedCost estimates the heap a decoded item of size encoded bytes holds: small items
// take four to eight times their encoding (a 95-byte vote decodes to 626 bytes, a 160-byte
// transaction to 1.2 KB, a 746-byte block to 4.1 KB), an item made of a few large byte
// fields about its encoding. The caches count this, so that their byte bounds bound the
// heap.
func decodedCost(size int) int { return 8*size + 256 }

// cmdCache keeps decoded commands of recent items for serving requests, evicting the
// oldest first beyond maxItems items or maxBytes of decodedCost. Not safe for concurrent
// use; the engine guards it.
type cmdCache struct {
	maxItems, maxBytes int
	bytes              int
	order              []entryKey // insertion order; order[head:] are the keys of cmds
	head               int
	cmds               map[entryKey]cachedCmd
}

type cachedCmd struct {
	cmd  *pb.Message_Command
	cost int
}

func newCmdCache(maxItems, maxBytes int) *cmdCache {
	return &cmdCache{maxItems: maxItems, maxBytes: maxBytes, cmds: make(map[entryKey]cachedCmd)}
}

func (c *cmdCache) get(k entryKey) *pb.Message_Command { return c.cmds[k].cmd }

// put caches cmd, an item of size encoded bytes, under k.
func (c *cmdCache) put(k entryKey, cmd *pb.Message_Command, size int) {
	cost := decodedCost(size)
	if old, ok := c.cmds[k]; ok {
		c.bytes += cost - old.cost
	} else {
		c.order = append(c.order, k)
		c.bytes += cost
	}
	c.cmds[k] = cachedCmd{cmd: cmd, cost: cost}
	for (len(c.cmds) > c.maxItems || c.bytes > c.maxBytes) && c.head < len(c.order) {
		old := c.order[c.head]
		c.order[c.head] = entryKey{}
		c.head++
		c.bytes -= c.cmds[old].cost
		delete(c.cmds, old)
	}
	if c.head > 1024 && c.head > len(c.order)/2 {
		n := copy(c.order, c.order[c.head:])
		clear(c.order[n:])
		c.order, c.head = c.order[:n], 0
	}
}
