// Package peers is the node's address book: the Go counterpart of witnet-rust's peers
// manager (p2p/src/peers and node/src/actors/peers_manager), hardened against peers that
// lie to it.
//
// The book keeps these tables (PROTOCOL.md section 9):
//
//   - new: 256 buckets × 64 slots of peers we heard about (Peers messages, a peer's own
//     Version sender address, configured peers, melted ice). The slot is chosen from the
//     peer's IP address and port and the group of the source that told us, so one source
//     can only pollute a bounded part of the table. Writing an occupied slot overwrites it.
//   - tried: 64 buckets × 64 slots of peers we completed a handshake with at an address we
//     dialled ourselves. A peer sits in at most one tried slot.
//   - ice: peers we must not talk to for a while, with the time they were iced.
//   - added: a small table of operator-added peers (JSON-RPC addPeers, AddLocal), like
//     Bitcoin Core's added nodes: gossip and failed dials never touch it.
//   - the escalated prefixes (below) and the anchors: the outbound peers the node dials
//     first after a restart (Bitcoin Core's anchors.dat).
//
// An entry is typed (Key): a libp2p peer ID with its multiaddrs, or the IP:port of a
// witnet-rust peer reached over plain TCP (legacy). Both live in the same tables; the slot
// index algorithms are witnet-rust's, bit for bit, with the book's secret key sk, on the
// IP:port of a legacy entry and, for a libp2p entry, on its first IP multiaddr with a TCP
// port (else a UDP port, for QUIC), or, for a peer reachable only through a relay, the
// relay's IP and port. Entries without any IP multiaddr (DNS only) are rejected with an
// *AddrError wrapping ErrNoIPAddr.
//
// # What gossip may do
//
// Addresses from peers pass an address policy (AddrPolicy: by default public addresses
// from anyone, a private-range address only from a private or loopback source, a
// loopback address only from a loopback source, reserved ranges never) and a token bucket
// per source (Bitcoin Core's 0.1 addresses/s, burst 1000); the rest are dropped and
// counted (Stats). An entry is attested when it is its peer's own word: its Version sender
// address (AddSelf, which refuses an address naming another peer) or its own entry in its
// Peers reply; a tried address is one we reached. Shared returns what the node tells
// others: tried, plus recent self-announced addresses (relay addresses of private peers
// among them).
//
// # Icing is per peer, and only for the peer's own doing
//
// witnet-rust ices a socket address: another port or IP of the same host is unaffected. For
// an inbound peer that address is the ephemeral source port of its connection, so icing it
// does nothing once the peer reconnects (PROTOCOL.md 13.11). On libp2p a peer is its ID, so
// this book ices peer IDs: every address of the iced peer is refused, and any other peer,
// even on the same IP and port, is unaffected. A legacy peer is iced by its IP:port.
//
// A peer is iced for misbehaving (IceAt) or when an address it attested, or that we
// reached it at, fails to dial (Failed; such an ice stops our dials but not its inbound
// connections, RefusesInbound). A failed address a third party gave only gets a retry
// delay and is dropped after MaxFailures: nobody can get an honest peer iced by
// announcing a wrong address for it. After Config.EscalateAfter peers iced for
// misbehaving from one IPv4 address (IPv6 /48), the prefix itself is iced (IsIcedAddr),
// loopback exempt by default. The ice bucket is bounded in records and bytes, the oldest
// evicted first.
//
// # Bounds
//
// Every table is bounded in count (fixed slots, Config.MaxIced, Config.MaxAdded,
// Config.MaxIcedNets, MaxAnchors) and in bytes (MaxEntryBytes per entry,
// Config.MaxIceBytes for the ice bucket). Each operation on an address is O(1) or
// O(log n); picking peers to dial walks the tables once.
//
// # Persistence
//
// The book lives in a bbolt database owned by the caller, in buckets whose names start with
// "peers/". Every mutating method writes its changes in one bbolt transaction before it
// returns, so an acknowledged change survives a crash; if the write fails, the in-memory
// state is rolled back and the error returned. Open restores the book, skipping (and
// logging) malformed records; it reads the first record layout too. There is nothing to
// flush and no Close.
//
// # Time and randomness
//
// Timestamps are whole Unix seconds, like witnet-rust's, read from Config.Now. Random
// choices use Config.Rand, so tests can seed them.
package peers
