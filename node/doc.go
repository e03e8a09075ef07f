// Package node turns the Witnet sessions into a peer people can run.
//
// A Node wires, for one data directory:
//
//   - the data directory (node/datadir): the identity key and the bbolt database shared
//     by the address book (node/peers) and the inventory (node/inventory);
//   - the sessions manager and the stream handler for the Witnet protocol (session);
//   - the libp2p host (TCP and QUIC, TLS then Noise, yamux), with the connection and
//     resource managers of node/hostlimits, whose limits are derived from the session
//     limits rather than left to libp2p's silent defaults;
//   - NAT traversal on that host (nat*.go): AutoNAT v1 and v2 for the reachability
//     verdict, the relay service on public nodes, relay reservations among the session
//     peers on private ones, and hole punching, with session dials to relay-only peers
//     waiting for the direct connection (sessions never run over a relay);
//   - the dialer (node/dialer): the bootstrap, discovery, feeler and melt rounds of
//     witnet-rust's sessions and peers managers;
//   - the plain-TCP transport to witnet-rust nodes (node/legacy), when configured: its
//     listener, and the dialer's legacy rounds dialling the configured plain-TCP peers and
//     the book's IP:port entries, with sessions in the same manager under their own
//     limits, in the same address book and relayed to through the same inventory
//     (legacy.go);
//   - a relay chain behind the interface the sessions use (chain.go): a beacon that
//     names the highest block the inventory stores and what the outbound peers agree on,
//     from the network's genesis, or a fixed beacon (WithBeacon), or a real chain
//     (WithChain); and the peers-beacon consensus rounds on the node's epochs, which also
//     send our beacon to the inbound peers each epoch (consensus.go, consensus_loop.go);
//   - the HTTP listener with JSON-RPC (node/rpc), /metrics and /health, and the metrics
//     of the sessions and the address book.
//
// New builds and starts everything, one step after another (open the data directory,
// build the sessions, the dialer, the host and the plain-TCP listener, start the HTTP
// listener, start the dialers); Close stops it in the reverse order and closes the database. Configuration is
// by validating options (Option), each documented with its default; the defaults the
// sessions apply (limits, sybil range, handshake timeout and drift) are the session
// package's.
package node
