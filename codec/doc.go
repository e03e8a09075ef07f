// Package codec owns the framing of the Witnet P2P stream: every message travels as a
// 4-byte unsigned big-endian length N followed by exactly N payload bytes (WIRE.md
// section 1). The package knows nothing about protobuf; a payload is an opaque byte slice.
//
// Unlike witnet-rust, which accepts any 32-bit length, both directions enforce a maximum
// frame size, and the Reader checks it before it allocates or reads a payload, so a peer
// cannot make us buffer gigabytes by announcing a large frame.
//
// A Reader and a Writer each belong to one goroutine: the session's read loop and its
// write loop. Neither is safe for concurrent use.
package codec
