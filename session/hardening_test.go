package session

import (
	"net"
	"sync"
	"testing"
	"testing/synctest"
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
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		c1, c2 := net.Pipe()
		conn := newStuckConn(c1)
		t.Cleanup(func() { close(conn.release) }) // the release goroutine must end with the test
		p := newPipePeer(t, c2)
		s := New(conn, testPeer(t, 1), Inbound, e.cfg)
		s.Start()
		consolidateInbound(t, p, e.clock, s)

		returns(t, "Close", func() { s.Close(nil) })
		waitDone(t, s)
		requireUnregisteredOnce(t, e.reg, Inbound, Consolidated)
		requireSettled(t, func() bool { c, _ := conn.counts(); return c == 1 }, "the stream's Close")
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
	})
}

// returns fails the test if f does not return within a second of the bubble's time,
// which passes only once every goroutine is blocked: f is waiting for something that
// will not come.
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
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				c1, c2 := net.Pipe()
				conn := newStuckConn(c1)
				close(conn.release) // nothing is stuck here
				p := newPipePeer(t, c2)
				s := startSession(t, conn, testPeer(t, 1), Inbound, e.cfg)
				tc.end(t, s, p)
				waitDone(t, s)
				require.ErrorIs(t, s.Err(), tc.reason)
				requireSettled(t, func() bool { c, r := conn.counts(); return c+r == 1 }, "the stream released")
				closes, resets := conn.counts()
				if tc.wantReset {
					require.Equal(t, [2]int{0, 1}, [2]int{closes, resets}, "want Reset only")
				} else {
					require.Equal(t, [2]int{1, 0}, [2]int{closes, resets}, "want Close only")
				}
			})
		})
	}
}

// TestWriteStallEndsSlowPeer: a peer that stops reading makes one write block; after
// WriteTimeout the session ends as a slow peer, without icing it. This is the path a
// broadcast (Send) takes.
func TestWriteStallEndsSlowPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		e.cfg.WriteTimeout = 3 * time.Second
		c1, c2 := net.Pipe()
		defer c2.Close()
		// Nobody reads c2, so the writer blocks in its first Write.
		s := startSession(t, c1, testPeer(t, 1), Inbound, e.cfg)
		require.NoError(t, s.Send(protocol.NewGetPeers(protocol.Magic)))
		requireSettled(t, func() bool { return s.writeStart.Load() != 0 }, "the write to start")
		e.clock.Advance(2 * time.Second)
		stillRunning(t, s)
		e.clock.Advance(time.Second)
		waitDone(t, s)
		require.ErrorIs(t, s.Err(), ReasonSlowPeer)
		require.ErrorIs(t, s.Err(), errWriteStalled)
		require.Zero(t, e.book.icedCount())
		requireUnregisteredOnce(t, e.reg, Inbound, Unconsolidated)
	})
}

// TestStalledRepliesEndSlowPeer: a peer that keeps asking (GetPeers) but never reads
// fills the send queue with replies; the reader then waits for room, which the blocked
// writer never makes. Without the write timeout both goroutines would wait for ever (and
// two nodes flooding each other would deadlock); with it the session ends as a slow peer.
func TestStalledRepliesEndSlowPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
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
		requireSettled(t, func() bool { return s.Status() == Consolidated }, "consolidation")
		flooded := make(chan struct{})
		go func() {
			defer close(flooded)
			for range 50 {
				if send(protocol.NewGetPeers(protocol.Magic)) != nil {
					return // the session ended and closed the pipe
				}
			}
		}()
		requireSettled(t, func() bool { return s.writeStart.Load() != 0 }, "the blocked write")
		e.clock.Advance(DefaultWriteTimeout)
		waitDone(t, s)
		require.ErrorIs(t, s.Err(), ReasonSlowPeer)
		<-flooded
	})
}

func TestBucket(t *testing.T) {
	b := NewTokenBucket(10, 20) // 10 tokens/s, 20 at most
	require.True(t, b.Take(t0, 20), "starts full")
	require.False(t, b.Take(t0, 1), "empty")
	require.False(t, b.Take(t0.Add(50*time.Millisecond), 1), "half a token")
	require.True(t, b.Take(t0.Add(100*time.Millisecond), 1), "one token after 100 ms")
	require.True(t, b.Take(t0.Add(time.Hour), 20), "refilled, capped at the burst")
	require.False(t, b.Take(t0.Add(time.Hour), 1))
	require.False(t, b.Take(t0, 1), "time going back refills nothing")
	require.True(t, b.Take(t0.Add(100*time.Millisecond), 1), "and counts from the earlier time")

	off := NewTokenBucket(-1, 0)
	for range 1000 {
		require.True(t, off.Take(t0, 1e9), "no rate, no limit")
	}
}

func TestScoreDecays(t *testing.T) {
	p := newPolice(&Config{Budgets: Budgets{MisbehaviourThreshold: 100}})
	for range 60 {
		p.add(t0, OffenceUnexpected)
	}
	require.Equal(t, 60.0, p.score)
	require.InDelta(t, 31.0, p.add(t0.Add(scoreHalfLife), OffenceUnexpected), 1e-9, "halved, plus one")
	require.InDelta(t, 31.0/4+1, p.add(t0.Add(3*scoreHalfLife), OffenceUnexpected), 1e-9)
	require.Equal(t, 100.0, newPolice(&Config{Budgets: Budgets{MisbehaviourThreshold: 100}}).points(OffenceMessageBudget), "budgets end at once")
	require.Equal(t, 1.0, newPolice(&Config{Budgets: Budgets{MisbehaviourThreshold: -1}}).points(OffenceByteBudget), "scoring off: a budget offence is only counted")
}

// consolidatedPipe returns a consolidated Inbound session fed by a pipe peer, with cfg
// adjusted by tune.
func consolidatedPipe(t *testing.T, tune func(*Config)) (*Session, *pipePeer, *fakeEnv) {
	t.Helper()
	e := newEnv(NewFakeClock(t0))
	if tune != nil {
		tune(&e.cfg)
	}
	s, p := pipeSession(t, Inbound, e)
	consolidateInbound(t, p, e.clock, s)
	return s, p, e
}

// requireMisbehaviour waits for s to end for misbehaviour offence o, with the peer iced.
func requireMisbehaviour(t *testing.T, s *Session, e *fakeEnv, o Offence) {
	t.Helper()
	waitDone(t, s)
	require.ErrorIs(t, s.Err(), ReasonMisbehaviour)
	var me *MisbehaviourError
	require.ErrorAs(t, s.Err(), &me)
	require.Equal(t, o, me.Offence)
	require.GreaterOrEqual(t, me.Score, me.Threshold)
	require.Equal(t, 1, e.book.icedCount(), "misbehaviour ices")
}

// stillRunning fails if s has ended, or is ending, once every goroutine of the bubble
// is blocked.
func stillRunning(t *testing.T, s *Session) {
	t.Helper()
	synctest.Wait()
	select {
	case <-s.closing:
		t.Fatalf("session ended: %v", s.Err())
	default:
	}
}

// TestUnexpectedMessagesScored: messages the protocol ignores are still ignored, but a
// hundred of them in a row (1,000 GetPeers before the handshake, say) end the session.
func TestUnexpectedMessagesScored(t *testing.T) {
	tests := []struct {
		name string
		msg  *pb.Message
		pre  bool // before the handshake
	}{
		{"GetPeers before the handshake", protocol.NewGetPeers(protocol.Magic), true},
		{"LastBeacon before the handshake", protocol.NewLastBeacon(protocol.Magic, nil), true},
		{"Verack after consolidation", protocol.NewVerack(protocol.Magic), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var s *Session
				var p *pipePeer
				var e *fakeEnv
				if tc.pre {
					e = newEnv(NewFakeClock(t0))
					s, p = pipeSession(t, Inbound, e)
				} else {
					s, p, e = consolidatedPipe(t, nil)
				}
				for range DefaultMisbehaviourThreshold - 1 {
					require.NoError(t, p.send(tc.msg))
				}
				stillRunning(t, s)
				require.Equal(t, uint64(DefaultMisbehaviourThreshold-1), s.Stats().Offences[OffenceUnexpected])
				_ = p.send(tc.msg)
				requireMisbehaviour(t, s, e, OffenceUnexpected)
			})
		})
	}
}

// TestUnexpectedScoreDecays: ignored messages spread over time never end a session.
func TestUnexpectedScoreDecays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p, e := consolidatedPipe(t, nil)
		verack := protocol.NewVerack(protocol.Magic)
		for range 60 {
			require.NoError(t, p.send(verack))
		}
		e.clock.Advance(scoreHalfLife) // 60 -> 30
		for range 69 {
			require.NoError(t, p.send(verack))
		}
		stillRunning(t, s) // 99
		_ = p.send(verack)
		requireMisbehaviour(t, s, e, OffenceUnexpected)
	})
}

// TestBudgets: a peer may send MessageBurst messages (ByteBurst bytes) at once and
// MessageRate (ByteRate) per second after that; beyond, the session ends and the peer is
// iced.
func TestBudgets(t *testing.T) {
	beacon := protocol.NewLastBeacon(protocol.Magic, nil)
	size := func() float64 { b, _ := protocol.Marshal(beacon); return float64(len(b) + codec.HeaderSize) }()
	received := func(s *Session, bytes bool) float64 {
		var n uint64
		st := s.Stats()
		for k := range st.MessagesIn {
			if bytes {
				n += st.BytesIn[k]
			} else {
				n += st.MessagesIn[k]
			}
		}
		return float64(n)
	}
	tests := []struct {
		name        string
		tune        func(*Config)
		rate, burst float64
		bytes       bool // the budget counts bytes, not messages
		offence     Offence
	}{
		{"messages", func(c *Config) { c.MessageRate, c.MessageBurst = 10, 30 }, 10, 30, false, OffenceMessageBudget},
		{"bytes", func(c *Config) { c.ByteRate, c.ByteBurst, c.MaxFrameSize = 500, 2000, 1000 }, 500, 2000, true, OffenceByteBudget},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, p, e := consolidatedPipe(t, tc.tune)
				cost := 1.0
				if tc.bytes {
					cost = size
				}
				// The handshake spent part of the burst.
				tokens := tc.burst - received(s, tc.bytes)
				for ; tokens >= cost; tokens -= cost {
					require.NoError(t, p.send(beacon))
				}
				e.clock.Advance(time.Second)
				for tokens += tc.rate; tokens >= cost; tokens -= cost {
					require.NoError(t, p.send(beacon))
				}
				stillRunning(t, s)
				_ = p.send(beacon)
				requireMisbehaviour(t, s, e, tc.offence)
				require.Equal(t, uint64(1), s.Stats().Offences[tc.offence])
			})
		})
	}
}

// TestPoliceOff: with the budgets removed and scoring off, nothing ends the session, but
// offences are still counted.
func TestPoliceOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p, _ := consolidatedPipe(t, func(c *Config) {
			c.MessageRate, c.ByteRate, c.MisbehaviourThreshold = -1, -1, -1
			c.MessageBurst = 1
		})
		for range 300 {
			require.NoError(t, p.send(protocol.NewVerack(protocol.Magic)))
		}
		stillRunning(t, s)
		require.Equal(t, uint64(300), s.Stats().Offences[OffenceUnexpected])
	})
}

// TestGetPeersPaced: the first GetPeers are answered at once, later ones one per
// GetPeersInterval; the rest are ignored without ending the session.
func TestGetPeersPaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, p, e := consolidatedPipe(t, func(c *Config) { c.GetPeersInterval = 10 * time.Second })
		for range getPeersBurst + 3 {
			require.NoError(t, p.send(protocol.NewGetPeers(protocol.Magic)))
		}
		for range getPeersBurst {
			p.expect(protocol.KindPeers)
		}
		p.expectNothing()
		require.Equal(t, uint64(3), s.Stats().GetPeersIgnored)
		e.clock.Advance(10 * time.Second)
		require.NoError(t, p.send(protocol.NewGetPeers(protocol.Magic)))
		p.expect(protocol.KindPeers)
		stillRunning(t, s)
		require.Zero(t, s.Stats().Offences[OffenceUnexpected])
	})
}
