// Package node turns the Witnet sessions into a peer people can run.
//
// A Node owns, for one data directory:
//
//   - the libp2p host (TCP and QUIC, TLS then Noise, yamux), with a connection manager and a
//     resource manager whose limits are derived from the session limits rather than left to
//     libp2p's silent defaults;
//   - the identity key (identity.key, PKCS#8 PEM, mode 0600), created on first start;
//   - one bbolt database (witnet-p2p.db) shared by the address book (node/peers) and, later,
//     the inventory;
//   - the sessions manager and the stream handler for the Witnet protocol;
//   - the periodic loops of witnet-rust's sessions and peers managers: bootstrap, discovery,
//     feelers and ice melting;
//   - a static chain tip (a configured beacon and epoch constants) behind the interface the
//     sessions use, so a real chain can replace it;
//   - the HTTP listener with JSON-RPC (node/rpc), /metrics and /health.
//
// New builds and starts everything; Close stops it in the reverse order and flushes the
// database. Configuration is by validating options (Option), each documented with its
// default.
package node
