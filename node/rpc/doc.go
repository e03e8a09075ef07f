// Package rpc serves a node's HTTP interface and is the client the CLI uses to reach it.
//
// One listener carries three things:
//
//   - POST / is JSON-RPC 2.0 (single requests and batches) with witnet-rust's method names
//     where they exist: peers, knownPeers, addPeers, clearPeers, initializePeers and
//     nodeStats. Malformed requests get JSON-RPC error objects with the standard codes.
//   - GET /metrics is the Prometheus text exposition of a Gatherer (the node's registry).
//   - GET /health answers 200 while the node is healthy, 503 otherwise.
//
// Every request passes the checks of Access first (access.go): a Host that names this
// listener (no DNS rebinding), no browser Origin unless allowed, the bearer token when one
// is set; JSON-RPC needs Content-Type application/json, and replies are capped in bytes.
//
// The server knows nothing about libp2p or sessions: it talks to a Backend, which the node
// implements and tests fake. A Backend that also implements Extensions serves further
// methods (the inventory's, for instance) through the same listener.
package rpc
