// Package protocol owns the Witnet P2P messages: decoding with the legacy fallback and the
// validation witnet-rust applies, builders for every command, the Address forms (legacy
// IP:port bytes and binary multiaddrs), the handshake checks as pure functions, and the
// inventory item hashes computed exactly as witnet-rust computes them.
//
// The generated protobuf types live in package pb; this package is the only one that
// should construct them for the wire, because byte compatibility depends on every singular
// sub-message being set (see PROTOCOL.md section 2).
//
// The frequent small commands (Verack, GetPeers, LastBeacon, inventory lists, Version,
// value transfers) are read and written by direct wire code (fastdecode.go,
// fastencode.go) and validated by typed code (rules.go); the generic protobuf path and the
// reflection walk (walk.go) remain the reference, and the tests hold the two to the same
// values, bytes and verdicts.
package protocol
