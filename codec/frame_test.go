package codec

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestFramesInPlace builds frames in a buffer of the caller's, as the session does, and
// checks that they are the Writer's frames byte for byte.
func TestFramesInPlace(t *testing.T) {
	payloads := [][]byte{nil, []byte("witnet"), payloadOf(300, 1), payloadOf(writeBufferSize+1, 2)}
	var buf []byte
	var want bytes.Buffer
	w := NewWriter(&want, 0)
	for i, p := range payloads {
		start := len(buf)
		if i%2 == 0 {
			buf = append(StartFrame(buf), p...)
			n, err := FinishFrame(buf, start, 0)
			require.NoError(t, err)
			require.Equal(t, len(p), n)
		} else {
			require.NoError(t, CheckSize(len(p), 0))
			buf = append(AppendHeader(buf, len(p)), p...)
		}
		require.NoError(t, w.WriteFrame(p))
	}
	require.Equal(t, want.Bytes(), buf)
}

func TestFrameSizeLimit(t *testing.T) {
	const limit = 10
	require.NoError(t, CheckSize(limit, limit))
	requireTooLarge(t, CheckSize(limit+1, limit), limit+1, limit)
	requireTooLarge(t, CheckSize(DefaultMaxFrameSize+1, 0), DefaultMaxFrameSize+1, DefaultMaxFrameSize)

	prefix := []byte("earlier frames")
	buf := append(StartFrame(append([]byte(nil), prefix...)), payloadOf(limit+1, 3)...)
	n, err := FinishFrame(buf, len(prefix), limit)
	requireTooLarge(t, err, limit+1, limit)
	require.Zero(t, n)
	require.Equal(t, prefix, buf[:len(prefix)], "what precedes the frame is untouched")
	require.Equal(t, []byte{0, 0, 0, 0}, buf[len(prefix):len(prefix)+HeaderSize], "header left unwritten")

	buf = append(StartFrame(nil), payloadOf(limit, 3)...)
	n, err = FinishFrame(buf, 0, limit)
	require.NoError(t, err)
	require.Equal(t, limit, n)
	require.Equal(t, frame(payloadOf(limit, 3)), buf)
}

// TestFramesInPlaceAllocations: framing into a buffer with room allocates nothing.
func TestFramesInPlaceAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	payload := payloadOf(100, 4)
	buf := make([]byte, 0, 1024)
	require.Zero(t, testing.AllocsPerRun(100, func() {
		b := append(StartFrame(buf[:0]), payload...)
		if _, err := FinishFrame(b, 0, 0); err != nil {
			t.Fatal(err)
		}
	}))
}
