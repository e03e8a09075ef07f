package codec

// HeaderSize is the length of the frame header: a big-endian uint32 payload length.
const HeaderSize = 4

// DefaultMaxFrameSize is the largest payload accepted where a non-positive maximum is
// given (to NewReader, NewWriter, CheckSize or FinishFrame). 8 MiB is well above the
// largest block witnet-rust produces while bounding what one announced length can make us
// allocate.
const DefaultMaxFrameSize = 8 << 20

// maxWireLen is the largest length a 4-byte header can express.
const maxWireLen uint64 = 1<<32 - 1

// Internal buffer sizes. The read buffer lets a run of small frames (the common case:
// handshake, inventory, beacons) be served by one Read on the stream; payloads that do not
// fit are read straight into their own slice. The write buffer collects the frames of one
// Flush; larger payloads bypass it.
const (
	readBufferSize  = 4 << 10
	writeBufferSize = 16 << 10
)

// normalizeMax applies the documented default to a non-positive maximum and caps it at what
// a header can express, so Max in errors is always a limit that is actually enforced.
func normalizeMax(maxFrameSize int) int {
	if maxFrameSize <= 0 {
		return DefaultMaxFrameSize
	}
	if uint64(maxFrameSize) > maxWireLen {
		// Only reachable where int is 64 bits; the conversion happens at run time so the
		// file still compiles for 32-bit targets.
		limit := maxWireLen
		return int(limit)
	}
	return maxFrameSize
}
