package codec

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// TestNextMatchesReadFrame reads the same streams with Next and with ReadFrame, through
// readers that return whole, one-byte and half-sized reads: the payloads and the final
// error must be the same, for frames that fit in the read-ahead buffer, that fill it
// exactly, and that do not fit.
func TestNextMatchesReadFrame(t *testing.T) {
	sizes := []int{0, 1, 97, 3000, readBufferSize - HeaderSize, readBufferSize - HeaderSize + 1, readBufferSize, 3 * readBufferSize, 5, 0, 200}
	var stream []byte
	for i, n := range sizes {
		stream = append(stream, frame(payloadOf(n, byte(i)))...)
	}
	tooLarge := append(append([]byte(nil), stream...), frame(payloadOf(3*readBufferSize+1, 9))...)
	truncated := stream[:len(stream)-3]
	wrap := map[string]func(io.Reader) io.Reader{
		"whole":    func(r io.Reader) io.Reader { return r },
		"one-byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
	}
	tests := []struct {
		name    string
		stream  []byte
		max     int
		wantErr error
	}{
		{"clean end", stream, 0, io.EOF},
		{"truncated payload", truncated, 0, io.ErrUnexpectedEOF},
		{"frame over the maximum", tooLarge, 3 * readBufferSize, ErrFrameTooLarge},
		{"truncated header", append(append([]byte(nil), stream...), 0, 0), 0, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		for wname, w := range wrap {
			t.Run(tc.name+"/"+wname, func(t *testing.T) {
				want, wantErr := readAll(NewReader(w(bytes.NewReader(tc.stream)), tc.max))
				require.ErrorIs(t, wantErr, tc.wantErr)

				r := NewReader(w(bytes.NewReader(tc.stream)), tc.max)
				var got [][]byte
				var err error
				for {
					var p []byte
					if p, err = r.Next(); err != nil {
						break
					}
					require.NotNil(t, p)
					got = append(got, append([]byte{}, p...)) // p is only valid until the next call
				}
				require.Equal(t, want, got)
				require.Equal(t, wantErr.Error(), err.Error())
				_, again := r.Next()
				require.Equal(t, err, again, "errors are sticky")
			})
		}
	}
}

// TestNextReusesBuffer checks that Next returns small payloads without allocating and
// large ones in a slice of their own that a later call does not overwrite.
func TestNextReusesBuffer(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	r := NewReader(&loopReader{data: frame(payloadOf(100, 3))}, 0)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
	}))

	big := payloadOf(2*readBufferSize, 5)
	r = NewReader(bytes.NewReader(append(frame(big), frame(payloadOf(10, 6))...)), 0)
	first, err := r.Next()
	require.NoError(t, err)
	_, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, big, first)
}
