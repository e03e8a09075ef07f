package session

import (
	"context"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Benchmarks of sessions over real libp2p hosts on loopback, each against the bare libp2p
// figure measured in the same run. Results and the command are in BENCHMARKS.md
// ("session over libp2p").

// benchBeacon is a LastBeacon such as a node broadcasts every epoch: about 100 bytes on
// the wire, like a short inventory announcement.
func benchBeacon() *pb.Message {
	return protocol.NewLastBeacon(protocol.Magic, protocol.NewLastBeaconPB(
		protocol.NewCheckpointBeacon(3_200_000, protocol.Hash{0xaa, 1, 2, 3}),
		protocol.NewCheckpointBeacon(160_000, protocol.Hash{0xbb, 4, 5, 6})))
}

// benchWindow bounds the messages in flight in the session benchmark. It is below the
// send queue's capacity, so the queue never overflows (which would end the session as a
// slow peer): a session's producer is expected to pace itself.
const benchWindow = DefaultSendQueueSize - 16

// BenchmarkLibp2pSessionThroughput pipelines ~100-byte messages through a consolidated
// session pair: Send on the outbound end, decoded and dispatched by the inbound end.
func BenchmarkLibp2pSessionThroughput(b *testing.B) {
	sem := make(chan struct{}, benchWindow)
	done := make(chan struct{})
	var want, got uint64
	chain := &lpChain{onBeacon: func() {
		<-sem
		got++ // only the inbound session's reader goroutine runs this
		if got == want {
			close(done)
		}
	}}
	a := newNode(b, "127.0.0.1", ManagerConfig{}, Config{})
	// Flooding is what this measures: no message budget on the receiver.
	c := newNode(b, "127.0.0.1", ManagerConfig{}, Config{Chain: chain, Budgets: Budgets{MessageRate: -1, ByteRate: -1}})
	s := a.dial(b, c.info(), Outbound)
	c.waitCounts(b, SessionCounts{InboundConsolidated: 1})
	a.waitCounts(b, SessionCounts{OutboundConsolidated: 1})

	msg := benchBeacon()
	payload, err := protocol.Marshal(msg)
	require.NoError(b, err)
	want = uint64(b.N) // set before the first message is sent
	b.SetBytes(int64(len(payload) + codec.HeaderSize))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		sem <- struct{}{}
		if err := s.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(len(payload)), "payload-bytes")
}

// bareProtocol is the protocol of the bare-stream baselines.
const bareProtocol = "/witnet-bench/bare/1.0.0"

// barePair returns two hosts, a connected to c, and c's handler for bareProtocol set to
// handle.
func barePair(b *testing.B, handle network.StreamHandler) (a, c host.Host) {
	a, c = newHost(b, "127.0.0.1"), newHost(b, "127.0.0.1")
	b.Cleanup(func() { a.Close(); c.Close() })
	c.SetStreamHandler(bareProtocol, handle)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(b, a.Connect(ctx, peer.AddrInfo{ID: c.ID(), Addrs: c.Addrs()}))
	return a, c
}

// BenchmarkLibp2pBareStreamThroughput sends the same frames over a bare libp2p stream,
// read with codec.Reader.Next as a session reads them: "batched" lets the codec Writer fill
// its 16 KiB buffer before each write, "per-frame" writes each frame alone; "decoded" is
// batched with the receiver unmarshalling each frame as a session does, and
// "decoded-paced" is "decoded" with the session benchmark's pipelining: at most
// benchWindow frames in flight, a slot freed as the receiver decodes a frame (the sender
// flushes whenever it has to wait for one).
func BenchmarkLibp2pBareStreamThroughput(b *testing.B) {
	for _, mode := range []string{"batched", "per-frame", "decoded", "decoded-paced"} {
		b.Run(mode, func(b *testing.B) {
			payload, err := protocol.Marshal(benchBeacon())
			require.NoError(b, err)
			decode := mode == "decoded" || mode == "decoded-paced"
			var sem chan struct{}
			if mode == "decoded-paced" {
				sem = make(chan struct{}, benchWindow)
			}
			done := make(chan error, 1)
			a, c := barePair(b, func(s network.Stream) {
				r := codec.NewReader(s, 0)
				for n := 0; n < b.N; n++ {
					f, err := r.Next()
					if err == nil && decode {
						_, err = protocol.Unmarshal(f)
					}
					if err != nil {
						done <- err
						s.Reset()
						return
					}
					if sem != nil {
						<-sem
					}
				}
				s.Close()
				done <- nil
			})
			s, err := a.NewStream(context.Background(), c.ID(), bareProtocol)
			require.NoError(b, err)
			w := codec.NewWriter(s, 0)
			b.SetBytes(int64(len(payload) + codec.HeaderSize))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if sem != nil {
					select {
					case sem <- struct{}{}:
					default: // the window is full: send what is buffered, then wait
						if err := w.Flush(); err != nil {
							b.Fatal(err)
						}
						sem <- struct{}{}
					}
				}
				if mode == "per-frame" {
					err = w.WriteFrame(payload)
				} else {
					err = w.Append(payload)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			require.NoError(b, w.Flush())
			require.NoError(b, <-done)
			elapsed := time.Since(start)
			b.StopTimer()
			s.Close()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
		})
	}
}

// disconnect closes a's connections to c and waits until both hosts see none (and, for
// session nodes, until both managers are empty), outside the timer.
func disconnect(b *testing.B, a, c host.Host, ms ...*Manager) {
	b.Helper()
	_ = a.Network().ClosePeer(c.ID())
	require.Eventually(b, func() bool {
		if a.Network().Connectedness(c.ID()) == network.Connected || c.Network().Connectedness(a.ID()) == network.Connected {
			return false
		}
		for _, m := range ms {
			if m.NumSessions() != (SessionCounts{}) {
				return false
			}
		}
		return true
	}, 5*time.Second, 100*time.Microsecond)
}

// BenchmarkLibp2pDialToConsolidated measures, per iteration, a new connection and an
// Outbound session up to the moment the dialling side is consolidated.
func BenchmarkLibp2pDialToConsolidated(b *testing.B) {
	consolidated := make(chan struct{}, 1)
	a := newNode(b, "127.0.0.1", ManagerConfig{OnConsolidated: func(*Session) { consolidated <- struct{}{} }}, Config{})
	c := newNode(b, "127.0.0.1", ManagerConfig{}, Config{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := a.svc.Dial(ctx, c.info(), Outbound); err != nil {
			b.Fatal(err)
		}
		<-consolidated
		b.StopTimer()
		disconnect(b, a.h, c.h, a.m, c.m)
		b.StartTimer()
	}
}

// BenchmarkLibp2pBareConnect is the baseline of BenchmarkLibp2pDialToConsolidated: a new
// connection and a stream ("open": NewStream returns; "round-trip": one byte echoed).
func BenchmarkLibp2pBareConnect(b *testing.B) {
	for _, mode := range []string{"open", "round-trip"} {
		b.Run(mode, func(b *testing.B) {
			a, c := barePair(b, func(s network.Stream) {
				var one [1]byte
				if _, err := io.ReadFull(s, one[:]); err == nil {
					_, _ = s.Write(one[:])
				}
				s.Close()
			})
			info := peer.AddrInfo{ID: c.ID(), Addrs: c.Addrs()}
			disconnect(b, a, c)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := a.Connect(ctx, info); err != nil {
					b.Fatal(err)
				}
				s, err := a.NewStream(ctx, c.ID(), bareProtocol)
				if err != nil {
					b.Fatal(err)
				}
				if mode == "round-trip" {
					var one [1]byte
					if _, err := s.Write([]byte{7}); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(s, one[:]); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				s.Reset()
				disconnect(b, a, c)
				b.StartTimer()
			}
		})
	}
}

// liveFootprint is the process's live heap and goroutine count once transient work settled.
func liveFootprint() (heap uint64, goroutines int) {
	prev := -1
	for i := 0; i < 50; i++ { // wait for goroutines of finished work (identify, dials) to exit
		time.Sleep(20 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == prev {
			break
		}
		prev = n
	}
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

// BenchmarkLibp2pIdleSessionFootprint measures what idle consolidated sessions cost on top
// of their libp2p connections: n client nodes connect to one server node (both ends live
// in this process), then each opens an Outbound session to it. Run with -benchtime=1x:
// each iteration builds the whole network.
func BenchmarkLibp2pIdleSessionFootprint(b *testing.B) {
	const n = 48
	for range b.N {
		b.StopTimer()
		server := newNode(b, "127.0.0.1", ManagerConfig{InboundLimit: n}, Config{})
		clients := make([]*lpNode, n)
		for i := range clients {
			clients[i] = newNode(b, "127.0.0.1", ManagerConfig{}, Config{})
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		h0, g0 := liveFootprint()
		for _, cl := range clients {
			require.NoError(b, cl.h.Connect(ctx, server.info()))
		}
		h1, g1 := liveFootprint()
		for _, cl := range clients {
			cl.dial(b, server.info(), Outbound)
		}
		server.waitCounts(b, SessionCounts{InboundConsolidated: n})
		h2, g2 := liveFootprint()
		cancel()

		perConnEnd := float64(int64(h1)-int64(h0)) / (2 * n)
		perSessionEnd := float64(int64(h2)-int64(h1)) / (2 * n)
		b.ReportMetric(perConnEnd, "conn-B/end")
		b.ReportMetric(float64(g1-g0)/(2*n), "conn-goroutines/end")
		b.ReportMetric(perSessionEnd, "session-B/end")
		b.ReportMetric(float64(g2-g1)/(2*n), "session-goroutines/end")
		for _, cl := range clients {
			cl.close(b)
		}
		server.close(b)
		b.StartTimer()
	}
}
