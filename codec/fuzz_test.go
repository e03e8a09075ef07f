package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// fuzzMaxFrameSize is small so the fuzzer reaches the too-large path easily.
const fuzzMaxFrameSize = 1 << 10

// FuzzReadFrame reads arbitrary bytes as a stream of frames and checks the Reader's
// contract: no panic; the frames, re-encoded with a Writer, are exactly the prefix of the
// input that was consumed; the error explains what follows that prefix; and reading one
// byte at a time gives the same frames and error.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(frame([]byte("witnet")))
	f.Add(binary.BigEndian.AppendUint32(nil, fuzzMaxFrameSize+1))
	f.Fuzz(func(t *testing.T, data []byte) {
		frames, err := readAll(NewReader(bytes.NewReader(data), fuzzMaxFrameSize))

		var re bytes.Buffer
		w := NewWriter(&re, fuzzMaxFrameSize)
		for _, p := range frames {
			if p == nil {
				t.Fatal("ReadFrame returned a nil payload without an error")
			}
			if err := w.Append(p); err != nil {
				t.Fatalf("re-encoding a %d-byte frame: %v", len(p), err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		consumed := re.Len()
		if !bytes.Equal(re.Bytes(), data[:min(consumed, len(data))]) {
			t.Fatalf("re-encoded frames are not a prefix of the input")
		}
		rest := data[consumed:]

		var tooLarge *FrameTooLargeError
		switch {
		case err == io.EOF:
			if len(rest) != 0 {
				t.Fatalf("io.EOF with %d bytes left", len(rest))
			}
		case err == io.ErrUnexpectedEOF:
			if len(rest) == 0 {
				t.Fatal("io.ErrUnexpectedEOF with nothing left")
			}
			if len(rest) >= HeaderSize {
				n := binary.BigEndian.Uint32(rest)
				if uint64(len(rest)) >= HeaderSize+uint64(n) {
					t.Fatalf("io.ErrUnexpectedEOF although a %d-byte frame is complete", n)
				}
			}
		case errors.As(err, &tooLarge):
			if len(rest) < HeaderSize {
				t.Fatal("frame too large without a header")
			}
			n := binary.BigEndian.Uint32(rest)
			if tooLarge.Size != uint64(n) || n <= fuzzMaxFrameSize || tooLarge.Max != fuzzMaxFrameSize {
				t.Fatalf("wrong FrameTooLargeError %+v for header %d", tooLarge, n)
			}
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatal("errors.Is does not match ErrFrameTooLarge")
			}
		default:
			t.Fatalf("undocumented error %v", err)
		}

		split, splitErr := readAll(NewReader(iotest.OneByteReader(bytes.NewReader(data)), fuzzMaxFrameSize))
		if len(split) != len(frames) || !errorsEqual(err, splitErr) {
			t.Fatalf("one-byte reads: %d frames, %v; whole reads: %d frames, %v",
				len(split), splitErr, len(frames), err)
		}
		for i := range frames {
			if !bytes.Equal(frames[i], split[i]) {
				t.Fatalf("frame %d differs with one-byte reads", i)
			}
		}

		// Next gives the same frames and error, with whole and with half reads.
		for _, rd := range []io.Reader{bytes.NewReader(data), iotest.HalfReader(bytes.NewReader(data))} {
			r := NewReader(rd, fuzzMaxFrameSize)
			for i := 0; ; i++ {
				p, nextErr := r.Next()
				if nextErr != nil {
					if i != len(frames) || !errorsEqual(err, nextErr) {
						t.Fatalf("Next: %d frames, %v; ReadFrame: %d frames, %v", i, nextErr, len(frames), err)
					}
					break
				}
				if i >= len(frames) || !bytes.Equal(frames[i], p) {
					t.Fatalf("Next: frame %d differs", i)
				}
			}
		}
	})
}

func errorsEqual(a, b error) bool {
	var ta, tb *FrameTooLargeError
	if errors.As(a, &ta) && errors.As(b, &tb) {
		return *ta == *tb
	}
	return a == b
}
