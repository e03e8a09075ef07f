package sessiontest

import (
	"math"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// RecvTimeout bounds how long Recv waits for a message.
const RecvTimeout = 5 * time.Second

// RawStream is a Witnet stream driven by hand: a test plays the peer of a session with it,
// writing frames, messages or arbitrary bytes and reading the frames the session sends.
// Nothing on this side follows the protocol, so the test may break any rule.
//
// Frames are read with a codec.Reader at codec.DefaultMaxFrameSize. They are written with
// a codec.Writer that accepts any length a header can express, so that a test can send a
// frame larger than the other side accepts. A RawStream is not safe for concurrent use,
// but Close and Reset may be called from any goroutine to end a read or write in progress.
type RawStream struct {
	s network.Stream
	r *codec.Reader
	w *codec.Writer
}

// NewRawStream returns a RawStream over s. From now on, read s only through it (the
// reader buffers ahead).
func NewRawStream(s network.Stream) *RawStream {
	return &RawStream{s: s, r: codec.NewReader(s, 0), w: codec.NewWriter(s, math.MaxInt)}
}

// Stream returns the underlying stream, for its deadlines, its connection, or a half
// close. Reading from it directly loses the bytes the RawStream has buffered.
func (r *RawStream) Stream() network.Stream { return r.s }

// WriteFrame writes one frame with payload, after any frame Append left pending.
func (r *RawStream) WriteFrame(payload []byte) error { return r.w.WriteFrame(payload) }

// Append adds a frame with payload to the pending output, which Flush (or the next
// WriteFrame, WriteMsg or WriteRaw) writes: many small frames then cost one write.
func (r *RawStream) Append(payload []byte) error { return r.w.Append(payload) }

// Flush writes the frames Append left pending.
func (r *RawStream) Flush() error { return r.w.Flush() }

// WriteMsg marshals m and writes it as one frame.
func (r *RawStream) WriteMsg(m *pb.Message) error {
	b, err := protocol.Marshal(m)
	if err != nil {
		return err
	}
	return r.w.WriteFrame(b)
}

// WriteRaw writes p as it is, unframed, after any frame Append left pending: a header
// alone, half a frame, noise.
func (r *RawStream) WriteRaw(p []byte) error {
	if err := r.w.Flush(); err != nil {
		return err
	}
	_, err := r.s.Write(p)
	return err
}

// ReadFrame reads the next frame and returns its payload.
func (r *RawStream) ReadFrame() ([]byte, error) { return r.r.ReadFrame() }

// ReadMsg reads the next frame and decodes it as a Message.
func (r *RawStream) ReadMsg() (*pb.Message, error) {
	f, err := r.r.ReadFrame()
	if err != nil {
		return nil, err
	}
	return protocol.Unmarshal(f)
}

// Close closes the stream.
func (r *RawStream) Close() error { return r.s.Close() }

// Reset aborts the stream in both directions.
func (r *RawStream) Reset() error { return r.s.Reset() }

// Send writes msgs, one frame each, and fails the test if one cannot be written.
func (r *RawStream) Send(t testing.TB, msgs ...*pb.Message) {
	t.Helper()
	for _, m := range msgs {
		require.NoError(t, r.WriteMsg(m))
	}
}

// Recv reads the next message, failing the test if none arrives within RecvTimeout or
// it does not decode.
func (r *RawStream) Recv(t testing.TB) *pb.Message {
	t.Helper()
	require.NoError(t, r.s.SetReadDeadline(time.Now().Add(RecvTimeout)))
	defer func() { _ = r.s.SetReadDeadline(time.Time{}) }()
	m, err := r.ReadMsg()
	require.NoError(t, err)
	return m
}

// Handshake plays the dialling side of the handshake on a stream the other side accepted:
// it sends a Version (current time, random nonce, no beacon), expects Verack and Version,
// and answers Verack. The other side consolidates once it has read that Verack.
func (r *RawStream) Handshake(t testing.TB) {
	t.Helper()
	r.Send(t, protocol.NewVersion(protocol.VersionParams{
		Magic: protocol.Magic, Timestamp: time.Now().Unix(), Nonce: protocol.RandomNonce(),
	}))
	require.Equal(t, protocol.KindVerack, protocol.KindOf(r.Recv(t)))
	require.Equal(t, protocol.KindVersion, protocol.KindOf(r.Recv(t)))
	r.Send(t, protocol.NewVerack(protocol.Magic))
}
