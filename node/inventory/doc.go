// Package inventory owns a node's inventory: the blocks, transactions, superblocks and
// superblock votes it has seen, kept in the node's bbolt file under buckets prefixed
// "inventory/", and the gossip that moves them between sessions.
//
// The Store keys every item by its witnet-rust hash (PROTOCOL.md section 11), keeps each kind
// in a bounded first-in first-out pool (the oldest item of a kind is evicted when its pool
// is full), indexes blocks by epoch so a range can be announced to a peer that is behind,
// and superblocks by index because InventoryEntry names them by index.
//
// The Engine sits on top of the Store and implements the inventory side of a session:
// an item new to this node is accepted once it decodes, and is from then on served from
// memory and announced to every consolidated session except those known to hold it; one
// writer goroutine commits accepted items to the Store in batches, off the relay path
// (only Submit, whose caller is told the item is accepted, waits for the commit). An
// announcement of unknown hashes is answered with a request to the first peer that
// announced them, and later announcers are kept as fall-backs; an item is accepted once
// per request, so a neighbour can make us receive an item at most once, and an item
// already known is never announced again. What the engine tracks of the peers'
// announcements is bounded per peer (requests in flight, entries tracked, as Bitcoin Core
// bounds transaction announcements) and node-wide in bytes; a peer that announces beyond
// its bound is scored by its session.
//
// Unlike witnet-rust, which pushes transactions, superblocks and votes as full messages and
// uses announcements only for blocks during synchronisation (PROTOCOL.md 7.5), this package
// relays every kind that InventoryEntry can name (blocks, transactions, superblocks) by
// announcement, so that a node receives each item's body about once. Only the first hop
// pushes: a node's own small submitted items go in full to every neighbour (none can hold
// them yet, so nothing is wasted and the hop costs one trip instead of three), unless
// many are queued for one session at once. Superblock votes have no InventoryEntry
// member, so they are always pushed as full messages, deduplicated by hash.
//
// Files: store.go is the Store. engine.go holds the Engine, its Config and its
// sessions; the Engine's work is split by concern into items.go (accepting and serving
// items), fetch.go (requesting announced items, and the sweep for late deliveries),
// peers.go (what is tracked per peer, and its bounds), writer.go (the write-behind
// committer), gossip.go (the announcement flusher and pushes), chain.go (beacons),
// votes.go (the votes served after our beacon block) and metrics.go (counters and
// Prometheus). decode.go decodes and hashes items, ring.go holds
// the bounded key and command caches, and rpc.go the JSON-RPC methods.
package inventory
