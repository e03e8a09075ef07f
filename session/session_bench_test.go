package session

import (
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// bufPipe is an in-memory, buffered, full-duplex transport: closer to a libp2p stream
// (which has flow-control windows) than net.Pipe, whose every Write waits for a reader.
type bufPipe struct {
	mu     sync.Mutex
	cond   *sync.Cond
	buf    []byte
	max    int
	closed bool
}

func newBufPipe(max int) *bufPipe {
	p := &bufPipe{max: max}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *bufPipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.buf) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	if len(p.buf) == 0 {
		p.buf = p.buf[:0:0]
	}
	p.cond.Broadcast()
	return n, nil
}

func (p *bufPipe) write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(b) {
		for len(p.buf) >= p.max && !p.closed {
			p.cond.Wait()
		}
		if p.closed {
			return n, io.ErrClosedPipe
		}
		m := min(len(b)-n, p.max-len(p.buf))
		p.buf = append(p.buf, b[n:n+m]...)
		n += m
		p.cond.Broadcast()
	}
	return n, nil
}

func (p *bufPipe) close() {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
}

// bufConn is one end of a pair of bufPipes.
type bufConn struct{ in, out *bufPipe }

func (c bufConn) Read(b []byte) (int, error)  { return c.in.read(b) }
func (c bufConn) Write(b []byte) (int, error) { return c.out.write(b) }
func (c bufConn) Close() error                { c.in.close(); c.out.close(); return nil }

func newBufConns() (io.ReadWriteCloser, io.ReadWriteCloser) {
	a, b := newBufPipe(64<<10), newBufPipe(64<<10)
	return bufConn{in: a, out: b}, bufConn{in: b, out: a}
}

var transports = []struct {
	name string
	make func() (io.ReadWriteCloser, io.ReadWriteCloser)
}{
	{"netpipe", func() (io.ReadWriteCloser, io.ReadWriteCloser) { return net.Pipe() }},
	{"bufpipe", newBufConns},
}

var benchMessages = []struct {
	name string
	msg  func() *pb.Message
}{
	{"tx", func() *pb.Message { return testTx(7) }},
	{"block", func() *pb.Message { return testBlock(7) }},
}

// countingInventory counts delivered items and says when the expected number arrived.
type countingInventory struct {
	nopInventory
	n      atomic.Int64
	target int64
	done   chan struct{}
}

func (c *countingInventory) Received(*Session, *pb.Message) Offence {
	if c.n.Add(1) == c.target {
		close(c.done)
	}
	return OffenceNone
}

// BenchmarkRawFrames is the baseline: the same messages, marshalled, framed, read and
// unmarshalled over the same transport, with one writer and one reader and nothing else.
func BenchmarkRawFrames(b *testing.B) {
	for _, tr := range transports {
		for _, bm := range benchMessages {
			b.Run(tr.name+"/"+bm.name, func(b *testing.B) {
				c1, c2 := tr.make()
				msg := bm.msg()
				done := make(chan error, 1)
				b.ReportAllocs()
				b.ResetTimer()
				go func() {
					r := codec.NewReader(c2, 0)
					for range b.N {
						p, err := r.ReadFrame()
						if err != nil {
							done <- err
							return
						}
						m, err := protocol.Unmarshal(p)
						if err != nil || protocol.KindOf(m) == protocol.KindNone {
							done <- err
							return
						}
					}
					done <- nil
				}()
				w := codec.NewWriter(c1, 0)
				for range b.N {
					p, err := protocol.Marshal(msg)
					if err != nil {
						b.Fatal(err)
					}
					if err := w.WriteFrame(p); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c1.Close()
				c2.Close()
			})
		}
	}
}

// BenchmarkSessionThroughput pushes items from a consolidated Outbound session to its
// Inbound peer, which decodes them, runs the state machine and hands them to the
// inventory. The sender uses the waiting enqueue the session uses for replies (Send
// would end the session as a slow peer once the queue is full).
func BenchmarkSessionThroughput(b *testing.B) {
	for _, tr := range transports {
		for _, bm := range benchMessages {
			b.Run(tr.name+"/"+bm.name, func(b *testing.B) {
				clock := NewFakeClock(t0)
				inv := &countingInventory{target: int64(b.N), done: make(chan struct{})}
				a, z := newEnv(clock), newEnv(clock)
				z.cfg.Inventory = inv
				// A benchmark floods on purpose: no budget (and the fake clock never
				// refills one).
				z.cfg.MessageRate, z.cfg.ByteRate = -1, -1
				c1, c2 := tr.make()
				out := New(c1, testPeer(b, 2), Outbound, a.cfg)
				in := New(c2, testPeer(b, 1), Inbound, z.cfg)
				out.Start()
				in.Start()
				eventually(b, func() bool { return out.Status() == Consolidated && in.Status() == Consolidated }, "the pair's handshake")
				msg := bm.msg()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					if err := out.enqueue(msg, true); err != nil {
						b.Fatal(err)
					}
				}
				select {
				case <-inv.done:
				case <-in.Done():
					b.Fatalf("receiver ended: %v", in.Err())
				}
				b.StopTimer()
				out.Close(nil)
				<-out.Done()
				<-in.Done()
			})
		}
	}
}

// footprint measures the heap and goroutines held by n idle consolidated session pairs
// over net.Pipe, net of the pipes themselves. wait waits until its condition holds:
// requireSettled in a synctest bubble, eventually elsewhere.
func footprint(t testing.TB, n int, wait func(testing.TB, func() bool, string)) (heapPerSession float64, goroutinesPerSession float64) {
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	clock := NewFakeClock(t0)
	// One set of fakes per side (a shared nonce set would look like a self-connection).
	ea, ez := newEnv(clock), newEnv(clock)

	type pair struct {
		c1, c2  net.Conn
		out, in *Session
	}
	pairs := make([]pair, n)

	h0, g0 := heap(), runtime.NumGoroutine()
	for i := range pairs {
		pairs[i].c1, pairs[i].c2 = net.Pipe()
	}
	hPipes := heap()
	for i := range pairs {
		p := &pairs[i]
		p.out = New(p.c1, testPeer(t, i), Outbound, ea.cfg)
		p.in = New(p.c2, testPeer(t, i+1), Inbound, ez.cfg)
		p.out.Start()
		p.in.Start()
	}
	// Idle: consolidated, and each writer has counted its handshake messages, which it
	// does once their write returned, just before it returns the batch buffer to the pool.
	idle := func(s *Session) bool {
		st := s.Stats()
		return s.Status() == Consolidated && st.MessagesOut[protocol.KindVersion] == 1 && st.MessagesOut[protocol.KindVerack] == 1
	}
	wait(t, func() bool {
		for i := range pairs {
			if !idle(pairs[i].out) || !idle(pairs[i].in) {
				return false
			}
		}
		return true
	}, "every pair idle")
	h1, g1 := heap(), runtime.NumGoroutine()
	runtime.KeepAlive(h0)

	sessions := float64(2 * n)
	heapPerSession = (float64(h1) - float64(hPipes)) / sessions
	goroutinesPerSession = float64(g1-g0) / sessions

	for i := range pairs {
		pairs[i].out.Close(nil)
		pairs[i].in.Close(nil)
	}
	for i := range pairs {
		<-pairs[i].out.Done()
		<-pairs[i].in.Done()
	}
	return heapPerSession, goroutinesPerSession
}

// BenchmarkIdleSessionFootprint reports the heap and goroutines per idle consolidated
// session (each end of a pair counts as one session), over 200 pairs.
func BenchmarkIdleSessionFootprint(b *testing.B) {
	for range b.N {
		heap, gs := footprint(b, 200, eventually)
		b.ReportMetric(heap, "heapB/session")
		b.ReportMetric(gs, "goroutines/session")
	}
}

// TestIdleSessionGoroutines checks the goroutine budget: one reader and one writer per
// session, nothing else (the handshake timeout is a timer).
func TestIdleSessionGoroutines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, gs := footprint(t, 20, requireSettled)
		require.Equal(t, 2.0, gs)
	})
}
