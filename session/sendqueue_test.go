package session

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// recordWriter keeps what is written to it and the size of every Write.
type recordWriter struct {
	bytes.Buffer
	writes []int
}

func (w *recordWriter) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// TestSendBatchFrames checks that a batch writes its frames in queue order whatever their
// size: small ones from the buffer, one larger than maxInlinePayload moved to a slice of
// its own, a separate (Block) payload after its header, in writes of at most writeChunk.
func TestSendBatchFrames(t *testing.T) {
	addrs := make([][]byte, 4000) // ~28 KB of Peers: above maxInlinePayload
	for i := range addrs {
		addrs[i] = protocol.LegacyAddress(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 21337))
	}
	bigPeers := protocol.NewPeers(protocol.Magic, addrs)
	blockPayload := bytes.Repeat([]byte{0xb1}, 100_000) // queued as is by addSeparate

	type item struct {
		msg      *pb.Message // nil: the block payload
		kind     protocol.Kind
		separate bool
	}
	var items []item
	for i := range 1500 { // ~100 KB of small frames: the buffer grows, writes are chunked
		items = append(items, item{msg: protocol.NewLastBeacon(protocol.Magic, protocol.NewLastBeaconPB(
			protocol.NewCheckpointBeacon(uint32(i), protocol.Hash{1}), nil)), kind: protocol.KindLastBeacon})
		switch i {
		case 10:
			items = append(items, item{msg: bigPeers, kind: protocol.KindPeers, separate: true})
		case 700:
			items = append(items, item{kind: protocol.KindBlock, separate: true})
		}
	}

	b := batches.Get().(*sendBatch)
	var want [][]byte
	for _, it := range items {
		if it.msg == nil {
			b.addSeparate(blockPayload, it.kind)
			want = append(want, blockPayload)
			continue
		}
		require.NoError(t, b.add(it.msg, it.kind, codec.DefaultMaxFrameSize))
		p, err := protocol.Marshal(it.msg)
		require.NoError(t, err)
		want = append(want, p)
	}
	for i, it := range items {
		require.Equal(t, it.separate, b.frames[i].big != nil, "frame %d", i)
		require.Equal(t, it.kind, b.frames[i].kind)
		require.Equal(t, len(want[i]), int(b.frames[i].size))
	}

	var w recordWriter
	require.NoError(t, b.writeTo(&w))
	for _, n := range w.writes {
		if n != len(blockPayload) && n != len(want[11]) {
			require.LessOrEqual(t, n, writeChunk)
		}
	}
	r := codec.NewReader(&w.Buffer, 0)
	for i := range want {
		got, err := r.ReadFrame()
		require.NoError(t, err)
		require.Equal(t, want[i], got, "frame %d", i)
	}
	_, err := r.ReadFrame()
	require.ErrorIs(t, err, io.EOF)

	var c counters
	c.outBatch(b.frames)
	st := c.snapshot()
	require.EqualValues(t, 1500, st.MessagesOut[protocol.KindLastBeacon])
	require.EqualValues(t, 1, st.MessagesOut[protocol.KindBlock])
	require.EqualValues(t, len(blockPayload)+codec.HeaderSize, st.BytesOut[protocol.KindBlock])
	require.EqualValues(t, len(want[11])+codec.HeaderSize, st.BytesOut[protocol.KindPeers])
}

// TestSendQueuePushErrors checks that a message that cannot be queued (no command, too
// large) leaves the queue as it was, holding no batch when it was empty, and that the
// queue's bound counts messages.
func TestSendQueuePushErrors(t *testing.T) {
	var q sendQueue
	q.init(2, 1<<20, nil)
	closing := make(chan struct{})
	small := protocol.NewGetPeers(protocol.Magic)

	require.ErrorIs(t, q.push(&pb.Message{Magic: 1}, protocol.KindNone, 1000, false, closing), protocol.ErrNoCommand)
	require.Nil(t, q.batch, "an empty queue holds no batch")
	var tooLarge *codec.FrameTooLargeError
	require.ErrorAs(t, q.push(small, protocol.KindGetPeers, 1, false, closing), &tooLarge)
	require.Nil(t, q.batch)

	require.NoError(t, q.push(small, protocol.KindGetPeers, 1000, false, closing))
	before := append([]byte(nil), q.batch.buf...)
	require.ErrorAs(t, q.push(protocol.NewVerack(protocol.Magic), protocol.KindVerack, 1, false, closing), &tooLarge)
	require.Equal(t, before, q.batch.buf)
	require.Len(t, q.batch.frames, 1)

	require.NoError(t, q.push(small, protocol.KindGetPeers, 1000, false, closing))
	require.ErrorIs(t, q.push(small, protocol.KindGetPeers, 1000, false, closing), errQueueFull)
	close(closing)
	require.ErrorIs(t, q.push(small, protocol.KindGetPeers, 1000, true, closing), ErrClosed)

	b := q.take()
	require.Len(t, b.frames, 2)
	require.Nil(t, q.batch)
	putBatch(b)
}
