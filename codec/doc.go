// Package codec owns the framing of the Witnet P2P stream: every message travels as a
// 4-byte unsigned big-endian length N followed by exactly N payload bytes (PROTOCOL.md
// section 1). The package knows nothing about protobuf; a payload is an opaque byte slice.
//
// Unlike witnet-rust, which accepts any 32-bit length, both directions enforce a maximum
// frame size, and the Reader checks it before it allocates or reads a payload, so a peer
// cannot make us buffer gigabytes by announcing a large frame.
//
// The header's encoding and the size limit are written once, in frame.go, and every
// encoder uses them. A Writer frames payloads that are already encoded onto a stream
// through a buffer of its own; the message tool and test peers use it. A session does not:
// its messages are encoded by whichever goroutine queues them, straight into the pooled
// buffer of the session's next write (StartFrame, then the payload, then FinishFrame), and
// its writer goroutine writes that buffer as it is. A Reader reads frames from a stream; a
// session's reader goroutine owns one. Neither a Reader nor a Writer is safe for
// concurrent use.
package codec
