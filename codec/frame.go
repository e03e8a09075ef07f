package codec

import "encoding/binary"

// The frame format lives here, in one place: the header's encoding and the size limit.
// The Writer frames payloads it is given; a caller that encodes messages straight into a
// buffer of its own (the session's send batches) frames them with StartFrame and
// FinishFrame, or with AppendHeader for a payload it keeps apart.

// CheckSize returns a *FrameTooLargeError when a payload of n bytes is longer than
// maxFrameSize (a non-positive maxFrameSize means DefaultMaxFrameSize), else nil.
func CheckSize(n, maxFrameSize int) error {
	if max := normalizeMax(maxFrameSize); tooLarge(uint64(n), max) {
		return &FrameTooLargeError{Size: uint64(n), Max: max}
	}
	return nil
}

// tooLarge reports whether a payload of n bytes exceeds max, a maximum already
// normalized. It is the one test of the limit; the callers on hot paths (the Reader, the
// Writer) build the *FrameTooLargeError themselves, so that no error value is produced
// and tested when the frame fits.
func tooLarge(n uint64, max int) bool { return n > uint64(max) }

// AppendHeader appends the header of a frame whose payload is n bytes long to dst; the
// caller writes the payload after it, from wherever it keeps it. n must have passed
// CheckSize: a header cannot express a larger length.
func AppendHeader(dst []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// StartFrame appends the header of a frame whose length is not known yet to dst and
// returns the extended slice. The frame starts at len(dst): the caller appends the payload
// (encoding it in place, with no copy) and then calls FinishFrame with that start.
func StartFrame(dst []byte) []byte {
	return append(dst, 0, 0, 0, 0)
}

// FinishFrame completes the frame that starts at buf[start:], a header appended by
// StartFrame followed by the payload up to the end of buf: it writes the payload's length
// into the header and returns that length. A payload longer than maxFrameSize (a
// non-positive maxFrameSize means DefaultMaxFrameSize) is refused with a
// *FrameTooLargeError, the header left unwritten; the caller then drops buf[start:].
func FinishFrame(buf []byte, start, maxFrameSize int) (int, error) {
	n := len(buf) - start - HeaderSize
	if max := normalizeMax(maxFrameSize); tooLarge(uint64(n), max) {
		return 0, &FrameTooLargeError{Size: uint64(n), Max: max}
	}
	binary.BigEndian.PutUint32(buf[start:], uint32(n))
	return n, nil
}
