package codec

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// framingVectors mirrors the parts of protocol/testdata/framing.json the tests use.
type framingVectors struct {
	Vectors []struct {
		Name     string `json:"name"`
		Category string `json:"category"`
		Input    struct {
			Frame   *string `json:"frame"`
			Payload *string `json:"payload"`
		} `json:"input"`
		Expected struct {
			Frame    *string `json:"frame"`
			Payload  *string `json:"payload"`
			Consumed *int    `json:"consumed"`
		} `json:"expected"`
	} `json:"vectors"`
}

func loadFramingVectors(t testing.TB) framingVectors {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "protocol", "testdata", "framing.json"))
	require.NoError(t, err)
	var v framingVectors
	require.NoError(t, json.Unmarshal(raw, &v))
	require.NotEmpty(t, v.Vectors)
	return v
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// frame builds the wire form of payload by hand (not with Writer), as the reference.
func frame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// readAll reads frames until an error and returns them with that error.
func readAll(r *Reader) ([][]byte, error) {
	var frames [][]byte
	for {
		p, err := r.ReadFrame()
		if err != nil {
			return frames, err
		}
		frames = append(frames, p)
	}
}

func TestWitnetRustVectors(t *testing.T) {
	vectors := loadFramingVectors(t)
	ran := 0
	for _, v := range vectors.Vectors {
		require.Equal(t, "framing", v.Category, v.Name)
		t.Run(v.Name, func(t *testing.T) {
			switch {
			case v.Input.Frame != nil: // decode
				require.NotNil(t, v.Expected.Payload)
				require.NotNil(t, v.Expected.Consumed)
				in := mustHex(t, *v.Input.Frame)
				counter := &countingReader{r: bytes.NewReader(in)}
				r := NewReader(counter, 0)
				got, err := r.ReadFrame()
				require.NoError(t, err)
				require.Equal(t, mustHex(t, *v.Expected.Payload), got)
				require.Equal(t, *v.Expected.Consumed, counter.n)
				_, err = r.ReadFrame()
				require.Equal(t, io.EOF, err)
			case v.Input.Payload != nil: // encode
				require.NotNil(t, v.Expected.Frame)
				var out bytes.Buffer
				require.NoError(t, NewWriter(&out, 0).WriteFrame(mustHex(t, *v.Input.Payload)))
				require.Equal(t, *v.Expected.Frame, hex.EncodeToString(out.Bytes()))
			default:
				t.Fatalf("vector %s has neither input.frame nor input.payload", v.Name)
			}
			ran++
		})
	}
	require.Equal(t, len(vectors.Vectors), ran)
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// payloadOf returns n deterministic bytes that differ from frame to frame.
func payloadOf(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = seed + byte(i*7)
	}
	return p
}

func TestReadFrameSplitReads(t *testing.T) {
	sizes := []int{0, 1, 3, 4, 5, 100, readBufferSize - HeaderSize, readBufferSize - 1, readBufferSize,
		readBufferSize + 1, 3*readBufferSize + 17, 70000}
	var stream []byte
	var want [][]byte
	for i, n := range sizes {
		p := payloadOf(n, byte(i))
		want = append(want, p)
		stream = append(stream, frame(p)...)
	}
	wrappers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data with EOF", iotest.DataErrReader},
	}
	for _, w := range wrappers {
		t.Run(w.name, func(t *testing.T) {
			got, err := readAll(NewReader(w.wrap(bytes.NewReader(stream)), 0))
			require.Equal(t, io.EOF, err)
			require.Equal(t, want, got)
		})
	}
}

func TestZeroLengthFrame(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, NewWriter(&out, 0).WriteFrame(nil))
	require.Equal(t, []byte{0, 0, 0, 0}, out.Bytes())

	r := NewReader(&out, 0)
	p, err := r.ReadFrame()
	require.NoError(t, err)
	require.NotNil(t, p)
	require.Empty(t, p)
	_, err = r.ReadFrame()
	require.Equal(t, io.EOF, err)
}

func TestMaxFrameSize(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{"max", limit, true},
		{"max+1", limit + 1, false},
		{"header maximum", 1<<32 - 1, false},
	}
	for _, tc := range tests {
		t.Run("reader "+tc.name, func(t *testing.T) {
			// Only the header is on the stream when the frame is too large: a reader that
			// tried to read the payload would report io.ErrUnexpectedEOF instead.
			in := binary.BigEndian.AppendUint32(nil, uint32(tc.size))
			if tc.ok {
				in = append(in, payloadOf(tc.size, 1)...)
			}
			r := NewReader(bytes.NewReader(in), limit)
			p, err := r.ReadFrame()
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, payloadOf(tc.size, 1), p)
				return
			}
			require.Nil(t, p)
			requireTooLarge(t, err, uint64(tc.size), limit)
			_, again := r.ReadFrame()
			require.Equal(t, err, again, "errors are sticky")
		})
		if tc.size > 1<<20 {
			continue // no need to allocate gigabytes to test the writer
		}
		t.Run("writer "+tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out, limit)
			err := w.WriteFrame(payloadOf(tc.size, 1))
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, frame(payloadOf(tc.size, 1)), out.Bytes())
				return
			}
			requireTooLarge(t, err, uint64(tc.size), limit)
			require.Zero(t, out.Len(), "nothing written")
			// A refused payload does not poison the writer.
			require.NoError(t, w.WriteFrame([]byte("ok")))
			require.Equal(t, frame([]byte("ok")), out.Bytes())
		})
	}
}

func requireTooLarge(t *testing.T, err error, size uint64, limit int) {
	t.Helper()
	require.ErrorIs(t, err, ErrFrameTooLarge)
	var tooLarge *FrameTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, size, tooLarge.Size)
	require.Equal(t, limit, tooLarge.Max)
	require.Contains(t, err.Error(), "exceeds the maximum")
}

// TestSetMaxFrameSize: a raised maximum applies from the next frame on, over bytes
// already read ahead.
func TestSetMaxFrameSize(t *testing.T) {
	in := append(frame(payloadOf(10, 1)), frame(payloadOf(100, 2))...)
	r := NewReader(bytes.NewReader(in), 10)
	p, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, payloadOf(10, 1), p)
	r.SetMaxFrameSize(100)
	p, err = r.ReadFrame()
	require.NoError(t, err)
	require.Equal(t, payloadOf(100, 2), p)

	r = NewReader(bytes.NewReader(frame(payloadOf(100, 2))), 1000)
	r.SetMaxFrameSize(10)
	_, err = r.ReadFrame()
	requireTooLarge(t, err, 100, 10)
}

func TestDefaultMaxFrameSize(t *testing.T) {
	for _, m := range []int{0, -1} {
		in := binary.BigEndian.AppendUint32(nil, DefaultMaxFrameSize+1)
		_, err := NewReader(bytes.NewReader(in), m).ReadFrame()
		requireTooLarge(t, err, DefaultMaxFrameSize+1, DefaultMaxFrameSize)

		err = NewWriter(io.Discard, m).Append(make([]byte, DefaultMaxFrameSize+1))
		requireTooLarge(t, err, DefaultMaxFrameSize+1, DefaultMaxFrameSize)
	}
}

func TestTruncatedStreams(t *testing.T) {
	full := frame([]byte("hello, witnet"))
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty stream", nil, io.EOF},
		{"1 header byte", full[:1], io.ErrUnexpectedEOF},
		{"3 header bytes", full[:3], io.ErrUnexpectedEOF},
		{"header only", full[:HeaderSize], io.ErrUnexpectedEOF},
		{"payload cut", full[:len(full)-1], io.ErrUnexpectedEOF},
		{"second frame header cut", append(append([]byte{}, full...), 0, 0), io.ErrUnexpectedEOF},
		{"second frame payload cut", append(append([]byte{}, full...), full[:6]...), io.ErrUnexpectedEOF},
		{"large payload cut", frame(make([]byte, 3*readBufferSize))[:2*readBufferSize], io.ErrUnexpectedEOF},
		{"clean end after frames", append(append([]byte{}, full...), full...), io.EOF},
	}
	for _, tc := range tests {
		for _, split := range []bool{false, true} {
			name := tc.name
			var src io.Reader = bytes.NewReader(tc.in)
			if split {
				name += "/one byte"
				src = iotest.OneByteReader(src)
			}
			t.Run(name, func(t *testing.T) {
				r := NewReader(src, 0)
				_, err := readAll(r)
				require.Equal(t, tc.want, err)
				_, err = r.ReadFrame()
				require.Equal(t, tc.want, err, "errors are sticky")
			})
		}
	}
}

func TestReaderPassesThroughErrors(t *testing.T) {
	boom := errors.New("stream reset")
	tests := []struct {
		name string
		src  io.Reader
		want error
	}{
		{"error before anything", iotest.ErrReader(boom), boom},
		{"error mid payload", io.MultiReader(bytes.NewReader(frame([]byte("abcdef"))[:7]), iotest.ErrReader(boom)), boom},
		{"error mid large payload", io.MultiReader(bytes.NewReader(frame(make([]byte, 2*readBufferSize))[:readBufferSize+10]), iotest.ErrReader(boom)), boom},
		{"no progress", zeroReader{}, io.ErrNoProgress},
		{"invalid count", badCountReader{}, errInvalidRead},
		// The same faults inside a payload, read through the buffer and straight into it.
		{"no progress mid payload", io.MultiReader(bytes.NewReader(frame([]byte("abcdef"))[:7]), zeroReader{}), io.ErrNoProgress},
		{"no progress mid large payload", io.MultiReader(bytes.NewReader(frame(make([]byte, 2*readBufferSize))[:HeaderSize]), zeroReader{}), io.ErrNoProgress},
		{"invalid count mid payload", io.MultiReader(bytes.NewReader(frame([]byte("abcdef"))[:7]), badCountReader{}), errInvalidRead},
		{"invalid count mid large payload", io.MultiReader(bytes.NewReader(frame(make([]byte, 2*readBufferSize))[:HeaderSize]), badCountReader{}), errInvalidRead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(tc.src, 0).ReadFrame()
			require.ErrorIs(t, err, tc.want)
		})
	}
}

// zeroReader returns no data and no error, forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// badCountReader claims to have read more than it was given.
type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestManyFramesBackToBack(t *testing.T) {
	// Sizes around both buffer sizes, so Append takes every path: fits, flush-then-fits,
	// and write-through.
	var want [][]byte
	for i := range 300 {
		n := (i * 97) % 300
		switch i % 50 {
		case 7:
			n = writeBufferSize - HeaderSize
		case 8:
			n = writeBufferSize - HeaderSize + 1
		case 9:
			n = 3 * writeBufferSize
		case 10:
			n = readBufferSize
		}
		want = append(want, payloadOf(n, byte(i)))
	}
	var out recordingWriter
	w := NewWriter(&out, 0)
	var reference []byte
	for i, p := range want {
		require.NoError(t, w.Append(p))
		reference = append(reference, frame(p)...)
		if i%25 == 24 {
			require.NoError(t, w.Flush())
		}
	}
	require.NoError(t, w.Flush())
	require.NoError(t, w.Flush(), "empty flush")
	require.Equal(t, reference, out.Bytes())
	// Batching: far fewer writes than frames.
	require.Less(t, out.writes, len(want)/3)

	got, err := readAll(NewReader(bytes.NewReader(out.Bytes()), 0))
	require.Equal(t, io.EOF, err)
	require.Equal(t, want, got)
}

// recordingWriter is a bytes.Buffer that counts Write calls.
type recordingWriter struct {
	bytes.Buffer
	writes int
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.writes++
	return r.Buffer.Write(p)
}

func TestAppendCopiesPayload(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, 0)
	p := []byte("first")
	require.NoError(t, w.Append(p))
	copy(p, "XXXXX")
	require.NoError(t, w.Flush())
	require.Equal(t, frame([]byte("first")), out.Bytes())
}

func TestFlushIsOneWrite(t *testing.T) {
	var out recordingWriter
	w := NewWriter(&out, 0)
	for range 10 {
		require.NoError(t, w.Append([]byte("inventory")))
	}
	require.Zero(t, out.writes, "Append of small frames does not write")
	require.NoError(t, w.Flush())
	require.Equal(t, 1, out.writes)
}

func TestWriterFailures(t *testing.T) {
	boom := errors.New("stream closed")
	tests := []struct {
		name string
		dst  io.Writer
		want error
	}{
		{"error", failingWriter{err: boom}, boom},
		{"short write", shortWriter{}, io.ErrShortWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(tc.dst, 0)
			require.NoError(t, w.Append([]byte("pending")), "Append only buffers")
			require.ErrorIs(t, w.Flush(), tc.want)
			// Sticky: the stream may hold part of a frame now.
			require.ErrorIs(t, w.Append([]byte("x")), tc.want)
			require.ErrorIs(t, w.Flush(), tc.want)
			require.ErrorIs(t, w.WriteFrame([]byte("x")), tc.want)

			// A write-through frame fails the same way.
			w = NewWriter(tc.dst, 0)
			require.ErrorIs(t, w.Append(make([]byte, 2*writeBufferSize)), tc.want)
			require.ErrorIs(t, w.Flush(), tc.want)
		})
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, n := range []int{100, 1 << 20} {
		payload := payloadOf(n, 3)
		w := NewWriter(io.Discard, 0)
		require.Zero(t, testing.AllocsPerRun(50, func() {
			if err := w.WriteFrame(payload); err != nil {
				t.Fatal(err)
			}
		}), "write allocations for %d bytes", n)

		r := NewReader(&loopReader{data: frame(payload)}, 0)
		require.LessOrEqual(t, testing.AllocsPerRun(50, func() {
			if _, err := r.ReadFrame(); err != nil {
				t.Fatal(err)
			}
		}), 1.0, "read allocations for %d bytes", n)
	}
}

// loopReader repeats data forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func TestFrameTooLargeErrorMessage(t *testing.T) {
	err := error(&FrameTooLargeError{Size: 9, Max: 8})
	require.Equal(t, "codec: frame of 9 bytes exceeds the maximum of 8 bytes", err.Error())
	require.True(t, errors.Is(err, ErrFrameTooLarge))
	require.False(t, errors.Is(err, io.EOF))
}
