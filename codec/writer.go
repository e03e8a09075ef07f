package codec

import "io"

// Writer writes length-prefixed frames to a stream. Frames given to Append are collected in
// an internal buffer and reach the stream on Flush, normally as a single Write, so a batch
// of small messages costs one write on the libp2p stream. Once its buffer exists, a Writer
// does not allocate.
//
// A Writer suits a caller that holds encoded payloads: the message tool, and test peers
// that write frames by hand. It is not safe for concurrent use.
//
// Errors are sticky: after a failed Write to the underlying stream, part of a frame may
// have been sent, so the stream can no longer be framed and every later call returns the
// same error. Refusing a payload that is too large is not such a failure: nothing is
// written, and the Writer stays usable.
type Writer struct {
	wr  io.Writer
	max int
	buf []byte // pending frames; cap(buf) is fixed at creation
	err error  // sticky write error
}

// NewWriter returns a Writer of frames to w that refuses payloads longer than
// maxFrameSize bytes. A non-positive maxFrameSize means DefaultMaxFrameSize.
func NewWriter(w io.Writer, maxFrameSize int) *Writer {
	limit := normalizeMax(maxFrameSize)
	size := writeBufferSize
	if limit < size-HeaderSize {
		size = limit + HeaderSize // no frame can need more
	}
	return &Writer{wr: w, max: limit, buf: make([]byte, 0, size)}
}

// Append adds one frame (header and payload) to the pending output. It copies payload, so
// the caller may reuse or modify it as soon as Append returns.
//
// The frame normally waits in the buffer for the next Flush. When it does not fit beside
// the frames already pending, those are flushed first; a frame larger than the whole buffer
// is written at once, after the pending frames and in order with them. A payload longer
// than the maximum is refused with a *FrameTooLargeError and nothing is buffered or written.
func (w *Writer) Append(payload []byte) error {
	if w.err != nil {
		return w.err
	}
	if tooLarge(uint64(len(payload)), w.max) {
		return &FrameTooLargeError{Size: uint64(len(payload)), Max: w.max}
	}
	need := HeaderSize + len(payload)
	if need > cap(w.buf)-len(w.buf) && len(w.buf) > 0 && need <= cap(w.buf) {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if need <= cap(w.buf)-len(w.buf) {
		w.buf = append(AppendHeader(w.buf, len(payload)), payload...)
		return nil
	}
	// Larger than the buffer: send the pending frames together with this header, then the
	// payload straight from the caller's slice (no copy).
	if cap(w.buf)-len(w.buf) < HeaderSize {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	w.buf = AppendHeader(w.buf, len(payload))
	if err := w.Flush(); err != nil {
		return err
	}
	return w.write(payload)
}

// Flush writes every pending frame to the underlying writer, as one Write call. It does
// nothing when no frame is pending.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	err := w.write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// WriteFrame writes one frame and flushes it together with any frames pending before it.
// Like Append, it copies nothing the caller must keep alive after it returns.
func (w *Writer) WriteFrame(payload []byte) error {
	if err := w.Append(payload); err != nil {
		return err
	}
	return w.Flush()
}

// write sends p in one Write and records any failure as the sticky error.
func (w *Writer) write(p []byte) error {
	n, err := w.wr.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
	}
	return err
}
