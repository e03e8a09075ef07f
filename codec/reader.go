package codec

import (
	"encoding/binary"
	"errors"
	"io"
)

// errInvalidRead is returned when the underlying reader reports a byte count outside the
// slice it was given; that is a bug in the reader, reported rather than trusted.
var errInvalidRead = errors.New("codec: underlying reader returned an invalid count")

// maxEmptyReads bounds how many consecutive (0, nil) results from the underlying reader are
// tolerated before giving up with io.ErrNoProgress, so a broken reader cannot spin us forever.
const maxEmptyReads = 100

// Reader reads length-prefixed frames from a stream.
//
// It reads ahead through a small internal buffer, so it may consume bytes of the next
// frames from the underlying reader; once a Reader is attached to a stream, read that
// stream only through it. A Reader is not safe for concurrent use.
//
// Errors are sticky: after ReadFrame returns an error the position in the stream is lost
// (for example a header announcing a frame that is too large was consumed but its payload
// was not), so every later call returns the same error.
type Reader struct {
	rd   io.Reader
	max  int
	buf  []byte // read-ahead buffer; buf[r:w] holds unread bytes
	r, w int
	err  error // sticky error
}

// NewReader returns a Reader of frames from r that rejects payloads longer than
// maxFrameSize bytes. A non-positive maxFrameSize means DefaultMaxFrameSize.
func NewReader(r io.Reader, maxFrameSize int) *Reader {
	return &Reader{
		rd:  r,
		max: normalizeMax(maxFrameSize),
		buf: make([]byte, readBufferSize),
	}
}

// SetMaxFrameSize changes the largest payload accepted, from the next frame on; a
// non-positive value means DefaultMaxFrameSize. A session reads its handshake with a small
// maximum and raises it once the peer is known.
func (r *Reader) SetMaxFrameSize(maxFrameSize int) { r.max = normalizeMax(maxFrameSize) }

// ReadFrame reads the next frame and returns its payload. The returned slice is freshly
// allocated for each frame (exactly the announced length) and owned by the caller; the
// Reader never touches it again. A zero-length frame yields an empty, non-nil slice.
//
// Errors:
//   - io.EOF: the stream ended cleanly between two frames;
//   - io.ErrUnexpectedEOF: the stream ended inside a header or a payload;
//   - *FrameTooLargeError (matching ErrFrameTooLarge): the header announces more than the
//     maximum; it is returned before anything is allocated or read for the payload;
//   - io.ErrNoProgress: the underlying reader keeps returning no data and no error;
//   - an error naming the fault when the underlying reader reports an impossible count;
//   - any other error of the underlying reader, unchanged (deadlines, resets, ...).
func (r *Reader) ReadFrame() ([]byte, error) { return r.frame(false) }

// Next reads the next frame like ReadFrame, with the same errors, but without copying a
// payload that fits in the Reader's buffer: it returns a slice of that buffer, valid only
// until the next call on the Reader. A payload that does not fit is returned in a fresh
// slice, as ReadFrame returns it. Next suits a caller that decodes each frame into values
// of its own before reading the next one.
func (r *Reader) Next() ([]byte, error) { return r.frame(true) }

// frame is ReadFrame (inPlace false) and Next (inPlace true): an error ends the Reader,
// every later call returns it again.
func (r *Reader) frame(inPlace bool) ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	payload, err := r.readFrame(inPlace)
	if err != nil {
		r.err = err
		return nil, err
	}
	return payload, nil
}

func (r *Reader) readFrame(inPlace bool) ([]byte, error) {
	if err := r.fill(HeaderSize); err != nil {
		if err == io.EOF && r.w == r.r {
			return nil, io.EOF
		}
		return nil, eofIsUnexpected(err)
	}
	n := binary.BigEndian.Uint32(r.buf[r.r:])
	if tooLarge(uint64(n), r.max) {
		r.r += HeaderSize
		return nil, &FrameTooLargeError{Size: uint64(n), Max: r.max}
	}
	if inPlace && uint64(n)+HeaderSize <= uint64(len(r.buf)) {
		size := HeaderSize + int(n)
		if err := r.fill(size); err != nil {
			return nil, eofIsUnexpected(err)
		}
		start := r.r + HeaderSize
		r.r += size
		return r.buf[start:r.r:r.r], nil
	}
	r.r += HeaderSize

	payload := make([]byte, n)
	got := copy(payload, r.buf[r.r:r.w])
	r.r += got
	rest := payload[got:]
	if len(rest) == 0 {
		return payload, nil
	}
	// Here the read-ahead buffer is empty. A remainder that fits in the buffer is read
	// through it, which may also bring in the following frames; a larger one goes straight
	// into the payload to avoid copying it twice.
	if len(rest) < len(r.buf) {
		if err := r.fill(len(rest)); err != nil {
			return nil, eofIsUnexpected(err)
		}
		r.r += copy(rest, r.buf[r.r:r.w])
		return payload, nil
	}
	if err := readFull(r.rd, rest); err != nil {
		return nil, eofIsUnexpected(err)
	}
	return payload, nil
}

// fill reads from the underlying reader until at least n bytes (n <= len(buf)) are
// buffered. It returns io.EOF (not io.ErrUnexpectedEOF) if the stream ends first; the
// caller decides what an end at that point means.
func (r *Reader) fill(n int) error {
	if r.w-r.r >= n {
		return nil
	}
	if r.r == r.w {
		r.r, r.w = 0, 0
	} else if len(r.buf)-r.r < n {
		// Not enough room after the unread bytes: move them to the front.
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	m, err := readAtLeast(r.rd, r.buf[r.w:], n-(r.w-r.r))
	r.w += m
	return err
}

// readFull fills p from rd. Unlike io.ReadFull it gives up with io.ErrNoProgress on a reader
// that keeps returning (0, nil), and it returns io.EOF for an end at any point.
func readFull(rd io.Reader, p []byte) error {
	_, err := readAtLeast(rd, p, len(p))
	return err
}

// readAtLeast reads from rd into p until at least need (<= len(p)) bytes are in, and returns
// how many it read. Unlike io.ReadAtLeast it returns io.EOF for an end at any point (the
// caller decides what an end there means), gives up with io.ErrNoProgress after
// maxEmptyReads consecutive (0, nil) results, and refuses a count outside the slice it gave
// rd. An error that comes with the last bytes needed is dropped: it recurs on the next Read.
func readAtLeast(rd io.Reader, p []byte, need int) (int, error) {
	n, empty := 0, 0
	for n < need {
		m, err := rd.Read(p[n:])
		if m < 0 || m > len(p)-n {
			return n, errInvalidRead
		}
		n += m
		if n >= need {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if m == 0 {
			if empty++; empty >= maxEmptyReads {
				return n, io.ErrNoProgress
			}
		} else {
			empty = 0
		}
	}
	return n, nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
