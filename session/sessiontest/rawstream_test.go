package sessiontest

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// pipeStream is the part of a network.Stream a RawStream uses, over one end of net.Pipe.
type pipeStream struct {
	network.Stream // nil: any other method panics
	c              net.Conn
}

func (p pipeStream) Read(b []byte) (int, error)        { return p.c.Read(b) }
func (p pipeStream) Write(b []byte) (int, error)       { return p.c.Write(b) }
func (p pipeStream) Close() error                      { return p.c.Close() }
func (p pipeStream) Reset() error                      { return p.c.Close() }
func (p pipeStream) SetReadDeadline(t time.Time) error { return p.c.SetReadDeadline(t) }

// TestRawStreamOrder writes through every method of one RawStream and reads the bytes with
// another: frames, messages and raw bytes arrive in the order they were given, whatever
// was pending, and an oversized frame goes out as it is.
func TestRawStreamOrder(t *testing.T) {
	c1, c2 := net.Pipe()
	a, b := NewRawStream(pipeStream{c: c1}), NewRawStream(pipeStream{c: c2})
	big := make([]byte, codec.DefaultMaxFrameSize+1)
	written := make(chan error, 1)
	go func() {
		written <- func() error {
			if err := a.Append([]byte("one")); err != nil {
				return err
			}
			if err := a.Append([]byte("two")); err != nil {
				return err
			}
			if err := a.WriteRaw([]byte{0, 0, 0, 5, 't', 'h'}); err != nil { // a frame in two raw writes
				return err
			}
			if err := a.WriteRaw([]byte("ree")); err != nil {
				return err
			}
			if err := a.WriteMsg(protocol.NewGetPeers(protocol.Magic)); err != nil {
				return err
			}
			if err := a.WriteFrame(big[:10]); err != nil {
				return err
			}
			return a.WriteFrame(big) // beyond b's limit
		}()
	}()
	for _, want := range []string{"one", "two", "three"} {
		f, err := b.ReadFrame()
		require.NoError(t, err)
		require.Equal(t, want, string(f))
	}
	require.Equal(t, protocol.KindGetPeers, protocol.KindOf(b.Recv(t)))
	f, err := b.ReadFrame()
	require.NoError(t, err)
	require.Len(t, f, 10)
	_, err = b.ReadFrame()
	require.ErrorIs(t, err, codec.ErrFrameTooLarge)
	go func() { _, _ = io.Copy(io.Discard, c2) }() // take the oversized payload
	require.NoError(t, <-written)
	require.NoError(t, a.Close())
	require.NoError(t, b.Reset())
}
