package session

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// stuckConn models a yamux stream on a stalled connection: Close and Reset change the
// stream's state at once (here: close the pipe, which releases a blocked Read or Write)
// and then wait for the muxer to take their frame, which only happens when the test
// releases them.
type stuckConn struct {
	net.Conn
	release chan struct{}

	mu     sync.Mutex
	closes int
	resets int
}

func newStuckConn(c net.Conn) *stuckConn { return &stuckConn{Conn: c, release: make(chan struct{})} }

func (c *stuckConn) Close() error {
	c.mu.Lock()
	c.closes++
	c.mu.Unlock()
	_ = c.Conn.Close()
	<-c.release
	return nil
}

func (c *stuckConn) Reset() error {
	c.mu.Lock()
	c.resets++
	c.mu.Unlock()
	_ = c.Conn.Close()
	<-c.release
	return nil
}

func (c *stuckConn) counts() (closes, resets int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closes, c.resets
}

// TestCloseNeverWaitsForTheStream: Close, Manager.DropAll and the session's own ending
// return while the stream's Close is stuck, and the session still ends (Done, one
// Unregister) without waiting for it.
func TestCloseNeverWaitsForTheStream(t *testing.T) {
	noLeaks(t)
	e := newEnv(NewFakeClock(t0))
	c1, c2 := net.Pipe()
	conn := newStuckConn(c1)
	t.Cleanup(func() { close(conn.release) }) // before noLeaks checks the release goroutine
	p := newPipePeer(t, c2)
	s := New(conn, testPeer(t, 1), Inbound, e.cfg)
	s.Start()
	consolidateInbound(t, p, e.clock, s)

	returns(t, "Close", func() { s.Close(nil) })
	waitDone(t, s)
	requireUnregisteredOnce(t, e.reg, Inbound, Consolidated)
	waitUntil(t, func() bool { c, _ := conn.counts(); return c == 1 }, "the stream's Close")
	_, resets := conn.counts()
	require.Zero(t, resets, "a local close is graceful")

	// The same through the manager: DropAll must not wait either.
	m := NewManager(ManagerConfig{})
	c3, c4 := net.Pipe()
	conn2 := newStuckConn(c3)
	t.Cleanup(func() { close(conn2.release) })
	newPipePeer(t, c4)
	cfg := e.cfg
	cfg.Registry = m
	s2 := New(conn2, testPeer(t, 2), Inbound, cfg)
	s2.Start()
	require.Equal(t, 1, m.NumSessions().Inbound())
	returns(t, "DropAll", func() { require.Equal(t, 1, m.DropAll()) })
	waitDone(t, s2)
}

// returns fails the test if f does not return within a second.
func returns(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatalf("%s waited for the stream to close", what)
	}
}

// TestStreamResetOnErrorEndings: a session that fails resets its stream; one that ends
// normally closes it.
func TestStreamResetOnErrorEndings(t *testing.T) {
	badMagic := protocol.NewGetPeers(protocol.Magic)
	badMagic.Magic = 1
	tests := []struct {
		name      string
		end       func(t *testing.T, s *Session, p *pipePeer)
		reason    Reason
		wantReset bool
	}{
		{"local close", func(t *testing.T, s *Session, p *pipePeer) { s.Close(nil) }, ReasonLocalClose, false},
		{"remote close", func(t *testing.T, s *Session, p *pipePeer) { _ = p.conn.Close() }, ReasonRemoteClosed, false},
		{"bad magic", func(t *testing.T, s *Session, p *pipePeer) { _ = p.send(badMagic) }, ReasonBadMagic, true},
		{"undecodable", func(t *testing.T, s *Session, p *pipePeer) { _ = p.sendRaw([]byte{0xff}) }, ReasonDecode, true},
		{"closed as slow peer", func(t *testing.T, s *Session, p *pipePeer) { s.Close(ReasonSlowPeer) }, ReasonSlowPeer, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			e := newEnv(NewFakeClock(t0))
			c1, c2 := net.Pipe()
			conn := newStuckConn(c1)
			close(conn.release) // nothing is stuck here
			p := newPipePeer(t, c2)
			s := startSession(t, conn, testPeer(t, 1), Inbound, e.cfg)
			tc.end(t, s, p)
			waitDone(t, s)
			require.ErrorIs(t, s.Err(), tc.reason)
			waitUntil(t, func() bool { c, r := conn.counts(); return c+r == 1 }, "the stream released")
			closes, resets := conn.counts()
			if tc.wantReset {
				require.Equal(t, [2]int{0, 1}, [2]int{closes, resets}, "want Reset only")
			} else {
				require.Equal(t, [2]int{1, 0}, [2]int{closes, resets}, "want Close only")
			}
		})
	}
}

// TestWriteStallEndsSlowPeer: a peer that stops reading makes one write block; after
// WriteTimeout the session ends as a slow peer, without icing it. This is the path a
// broadcast (Send) takes.
func TestWriteStallEndsSlowPeer(t *testing.T) {
	noLeaks(t)
	e := newEnv(NewFakeClock(t0))
	e.cfg.WriteTimeout = 3 * time.Second
	c1, c2 := net.Pipe()
	defer c2.Close()
	// Nobody reads c2, so the writer blocks in its first Write.
	s := startSession(t, c1, testPeer(t, 1), Inbound, e.cfg)
	require.NoError(t, s.Send(protocol.NewGetPeers(protocol.Magic)))
	waitUntil(t, func() bool { return s.writeStart.Load() != 0 }, "the write to start")
	e.clock.Advance(2 * time.Second)
	select {
	case <-s.Done():
		t.Fatal("ended before the write timeout")
	case <-time.After(20 * time.Millisecond):
	}
	e.clock.Advance(time.Second)
	waitDone(t, s)
	require.ErrorIs(t, s.Err(), ReasonSlowPeer)
	require.ErrorIs(t, s.Err(), errWriteStalled)
	require.Zero(t, e.book.icedCount())
	requireUnregisteredOnce(t, e.reg, Inbound, Unconsolidated)
}

// TestStalledRepliesEndSlowPeer: a peer that keeps asking (GetPeers) but never reads
// fills the send queue with replies; the reader then waits for room, which the blocked
// writer never makes. Without the write timeout both goroutines would wait for ever (and
// two nodes flooding each other would deadlock); with it the session ends as a slow peer.
func TestStalledRepliesEndSlowPeer(t *testing.T) {
	noLeaks(t)
	e := newEnv(NewFakeClock(t0))
	e.cfg.SendQueueSize = 2
	c1, c2 := net.Pipe()
	defer c2.Close()
	s := startSession(t, c1, testPeer(t, 1), Inbound, e.cfg)
	w := codec.NewWriter(c2, 0) // the peer writes and never reads
	send := func(m *pb.Message) error {
		b, err := protocol.Marshal(m)
		require.NoError(t, err)
		return w.WriteFrame(b)
	}
	// The session queues Verack and Version and its writer blocks on the first.
	require.NoError(t, send(peerVersion(e.clock, nil, 77)))
	require.NoError(t, send(protocol.NewVerack(protocol.Magic)))
	waitUntil(t, func() bool { return s.Status() == Consolidated }, "consolidation")
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		for range 50 {
			if send(protocol.NewGetPeers(protocol.Magic)) != nil {
				return // the session ended and closed the pipe
			}
		}
	}()
	waitUntil(t, func() bool { return s.writeStart.Load() != 0 }, "the blocked write")
	e.clock.Advance(DefaultWriteTimeout)
	waitDone(t, s)
	require.ErrorIs(t, s.Err(), ReasonSlowPeer)
	<-flooded
}
