package session

import (
	"errors"
	"io"
	"sync"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// The send path: messages are encoded and framed when they are queued, into the batch
// the writer goroutine (writeLoop, session.go) takes whole and writes at once.

// Sizes of the send path. A batch's buffer starts at batchBufferSize and grows with the
// frames queued; one that grew beyond maxPooledBuffer is dropped rather than pooled, so a
// burst of large messages does not stay in memory. A payload longer than maxInlinePayload
// (and every Block or SuperBlock) is kept in a slice of its own instead of the buffer, so
// that large items are neither copied again as the buffer grows nor held by the pool.
// The writer hands the stream at most writeChunk bytes of the buffer per Write, which
// keeps the stall timer's allowance (Config.WriteTimeout) per bounded write.
const (
	batchBufferSize  = 16 << 10
	maxPooledBuffer  = 64 << 10
	maxPooledFrames  = 1024
	maxInlinePayload = 16 << 10
	writeChunk       = 64 << 10
)

// outFrame describes one queued frame: its kind and payload length for the counters, and
// the payload itself when it is not in the batch's buffer. It holds no pointer unless the
// payload is separate, so a batch's frame list costs the garbage collector nothing.
type outFrame struct {
	big  []byte // the payload when kept apart from the buffer, else nil
	size uint32 // payload length
	kind protocol.Kind
}

// sendBatch is what the queue holds between two takes by the writer: the frames in
// order, encoded straight into buf (header and payload; for a separate payload only its
// header), so that queueing a small message allocates nothing.
type sendBatch struct {
	buf    []byte
	frames []outFrame
	bytes  int // frame bytes queued: headers and payloads
}

// batches holds idle sendBatches.
var batches = sync.Pool{New: func() any {
	return &sendBatch{buf: make([]byte, 0, batchBufferSize)}
}}

// putBatch empties b and returns it to the pool unless it grew too large to keep.
func putBatch(b *sendBatch) {
	if cap(b.buf) > maxPooledBuffer || cap(b.frames) > maxPooledFrames {
		return
	}
	clear(b.frames) // drop the separate payloads
	b.buf, b.frames, b.bytes = b.buf[:0], b.frames[:0], 0
	batches.Put(b)
}

// separate reports whether messages of kind k are encoded into a slice of their own
// rather than into a batch's buffer: the kinds that carry large items.
func separate(k protocol.Kind) bool { return k == protocol.KindBlock || k == protocol.KindSuperBlock }

// addSeparate queues an encoded payload kept apart from the buffer.
func (b *sendBatch) addSeparate(payload []byte, k protocol.Kind) {
	b.buf = codec.AppendHeader(b.buf, len(payload))
	b.frames = append(b.frames, outFrame{big: payload, size: uint32(len(payload)), kind: k})
	b.bytes += codec.HeaderSize + len(payload)
}

// undo removes the frames queued after the batch held frames frames in bufLen bytes of
// buffer.
func (b *sendBatch) undo(bufLen, frames int) {
	for _, f := range b.frames[frames:] {
		b.bytes -= codec.HeaderSize + int(f.size)
	}
	clear(b.frames[frames:])
	b.buf, b.frames = b.buf[:bufLen], b.frames[:frames]
}

// add encodes m, of kind k, as the batch's next frame. A payload longer than max is
// refused with a *codec.FrameTooLargeError; on any error the batch is left as it was.
func (b *sendBatch) add(m *pb.Message, k protocol.Kind, max int) error {
	start := len(b.buf)
	buf, err := protocol.MarshalAppend(codec.StartFrame(b.buf), m)
	if err != nil {
		b.buf = buf[:start]
		return err
	}
	n, err := codec.FinishFrame(buf, start, max)
	if err != nil {
		b.buf = buf[:start]
		return err
	}
	f := outFrame{size: uint32(n), kind: k}
	if n > maxInlinePayload {
		f.big = append([]byte(nil), buf[start+codec.HeaderSize:]...)
		buf = buf[:start+codec.HeaderSize]
	}
	b.buf = buf
	b.frames = append(b.frames, f)
	b.bytes += codec.HeaderSize + n
	return nil
}

// writeTo writes the batch's frames, in order, to w: runs of the buffer in writes of at
// most writeChunk bytes, and each separate payload after its header.
func (b *sendBatch) writeTo(w io.Writer) error {
	pos, end := 0, 0
	for i := range b.frames {
		f := &b.frames[i]
		if f.big == nil {
			end += codec.HeaderSize + int(f.size)
			continue
		}
		end += codec.HeaderSize
		if err := writeChunks(w, b.buf[pos:end]); err != nil {
			return err
		}
		if err := writeFull(w, f.big); err != nil {
			return err
		}
		pos = end
	}
	return writeChunks(w, b.buf[pos:end])
}

// writeChunks writes p in writes of at most writeChunk bytes.
func writeChunks(w io.Writer, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), writeChunk)
		if err := writeFull(w, p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// writeFull writes p in one Write, reporting a short write as io.ErrShortWrite.
func writeFull(w io.Writer, p []byte) error {
	n, err := w.Write(p)
	if err == nil && n != len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// errQueueFull is returned by sendQueue.push when the queue is at its limit and the
// caller does not wait.
var errQueueFull = errors.New("session: send queue full")

// sendQueue is the session's bounded send queue: a batch of frames encoded at push time,
// which the writer takes whole (one batch, few writes). It holds a batch only while
// frames are queued, so an idle session holds no buffer. It is bounded in messages
// (limit) and in bytes (maxBytes): the bytes of a batch count until the writer has
// written it, and also count towards the node-wide SendBudget, if any.
type sendQueue struct {
	mu       sync.Mutex
	batch    *sendBatch // nil while nothing is queued
	limit    int
	maxBytes int
	bytes    int  // frame bytes pushed and not yet written
	closed   bool // set by close: nothing is queued any more
	budget   *SendBudget
	wake     chan struct{} // one-slot signal to the writer: frames are queued
	space    chan struct{} // one-slot signal to a waiting producer: the writer took or wrote a batch
}

func (q *sendQueue) init(limit, maxBytes int, budget *SendBudget) {
	q.limit, q.maxBytes, q.budget = limit, maxBytes, budget
	q.wake = make(chan struct{}, 1)
	q.space = make(chan struct{}, 1)
}

// push encodes m, of kind k, and queues it, refusing a payload longer than max. When the
// queue is full (limit messages, or m would take it beyond maxBytes; a message always
// fits in an empty queue) it returns errQueueFull, or, if wait is set, waits for the
// writer to take or write a batch, giving up with ErrClosed when closing closes. An
// encoding error leaves the queue as it was. Small messages are encoded under the
// queue's lock, straight into the batch; large kinds (see separate) are encoded before it
// is taken.
func (q *sendQueue) push(m *pb.Message, k protocol.Kind, max int, wait bool, closing <-chan struct{}) error {
	payload, err := encodeSeparate(m, k, max)
	if err != nil {
		return err
	}
	for {
		queued, err := q.tryPush(m, k, max, payload)
		if queued || err != nil {
			return err
		}
		if !wait {
			return errQueueFull
		}
		select {
		case <-q.space:
		case <-closing:
			return ErrClosed
		}
	}
}

// offer is push without waiting: it reports false, with a nil error, when the queue is
// full.
func (q *sendQueue) offer(m *pb.Message, k protocol.Kind, max int) (bool, error) {
	payload, err := encodeSeparate(m, k, max)
	if err != nil {
		return false, err
	}
	return q.tryPush(m, k, max, payload)
}

// encodeSeparate encodes m when its kind is kept apart from the batch's buffer (see
// separate), before the queue's lock is taken; it returns nil for other kinds.
func encodeSeparate(m *pb.Message, k protocol.Kind, max int) ([]byte, error) {
	if !separate(k) {
		return nil, nil
	}
	payload, err := protocol.Marshal(m)
	if err != nil {
		return nil, err
	}
	if err := codec.CheckSize(len(payload), max); err != nil {
		return nil, err
	}
	return payload, nil
}

// tryPush is one attempt of push: it reports whether the message was queued, false
// with a nil error when the queue is full.
func (q *sendQueue) tryPush(m *pb.Message, k protocol.Kind, max int, payload []byte) (bool, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, ErrClosed
	}
	b := q.batch
	if b != nil && len(b.frames) >= q.limit {
		q.mu.Unlock()
		return false, nil
	}
	if b == nil {
		b = batches.Get().(*sendBatch)
	}
	bufLen, frames, before := len(b.buf), len(b.frames), b.bytes
	var err error
	if payload != nil {
		b.addSeparate(payload, k)
	} else {
		err = b.add(m, k, max)
	}
	n := b.bytes - before
	full := err == nil && q.bytes > 0 && q.bytes+n > q.maxBytes
	if full {
		b.undo(bufLen, frames)
	}
	if len(b.frames) == 0 { // nothing queued (add failed, or no room): hold no batch
		q.mu.Unlock()
		batches.Put(b)
		return false, err
	}
	q.batch = b
	if err == nil && !full {
		q.bytes += n
		q.budget.add(n)
	}
	q.mu.Unlock()
	if err != nil || full {
		return false, err
	}
	q.signalWake()
	return true, nil
}

// take returns the queued batch (nil if none) and leaves the queue empty; its bytes
// count until written is called.
func (q *sendQueue) take() *sendBatch {
	q.mu.Lock()
	b := q.batch
	q.batch = nil
	q.mu.Unlock()
	q.signalSpace()
	return b
}

// written releases the n bytes of a batch the writer has written (or failed to write).
func (q *sendQueue) written(n int) {
	q.mu.Lock()
	q.bytes -= n
	q.mu.Unlock()
	q.budget.release(n)
	q.signalSpace()
}

// signalWake wakes the writer.
func (q *sendQueue) signalWake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *sendQueue) signalSpace() {
	select {
	case q.space <- struct{}{}:
	default:
	}
}

// roomToServe reports whether requested items may be queued now: fewer than maxBytes
// bytes queued, and at most half the message limit (the other half stays for replies and
// the node's own messages).
func (q *sendQueue) roomToServe(maxBytes int) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes < maxBytes && (q.batch == nil || len(q.batch.frames) < q.limit/2)
}

// close empties the queue for good, once the writer is gone: its bytes are released and
// later pushes fail with ErrClosed.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	b, n := q.batch, q.bytes
	q.batch, q.bytes = nil, 0
	q.mu.Unlock()
	q.budget.release(n)
	if b != nil {
		putBatch(b)
	}
}
