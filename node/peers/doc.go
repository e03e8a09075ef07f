// Package peers is the node's address book: the Go counterpart of witnet-rust's peers
// manager (p2p/src/peers and node/src/actors/peers_manager), keyed by libp2p peer ID.
//
// The book keeps three buckets (PROTOCOL.md section 9):
//
//   - new: 256 buckets × 64 slots of peers we heard about (Peers messages, configured
//     known peers, melted ice). The slot is chosen from the peer's IP address and port and
//     the group of the source that told us, so one source can only pollute a bounded part
//     of the table. Writing an occupied slot overwrites it.
//   - tried: 64 buckets × 64 slots of peers we have completed a handshake with (outbound
//     consolidation, successful feelers). A peer sits in at most one tried slot.
//   - ice: peers we must not talk to for a while (bad handshake, failed dial, misbehaviour),
//     with the time they were iced. Icing is per peer ID; see below.
//
// The slot index algorithms are witnet-rust's, bit for bit, with the book's secret key sk.
// An entry is a peer ID plus its multiaddrs; the IP address and port fed to the index
// functions come from the entry's first IP multiaddr with a TCP port (else with a UDP port,
// for QUIC). Entries without any IP multiaddr (DNS-only, relay-only) are rejected with an
// *AddrError wrapping ErrNoIPAddr.
//
// # Icing is per peer, not per socket address
//
// witnet-rust ices a socket address: another port or IP of the same host is unaffected. For
// an inbound peer that address is the ephemeral source port of its connection, so icing it
// does nothing once the peer reconnects (PROTOCOL.md 13.11). On libp2p a peer is its ID, so this
// book ices peer IDs: every address of the iced peer is refused, and any other peer, even on
// the same IP and port, is unaffected.
//
// # Persistence
//
// The book lives in a bbolt database owned by the caller, in buckets whose names start with
// "peers/". Every mutating method writes its changes in one bbolt transaction before it
// returns, so an acknowledged change survives a crash; if the write fails, the in-memory
// state is rolled back and the error returned. Open restores the book, skipping (and
// logging) malformed records. There is nothing to flush and no Close.
//
// # Time and randomness
//
// Timestamps are whole Unix seconds, like witnet-rust's, read from Config.Now. Random
// choices use Config.Rand, so tests can seed them.
package peers
