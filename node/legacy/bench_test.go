package legacy

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// BenchmarkTCPSessionVsBare measures the throughput of a plain-TCP session pair against a
// bare TCP connection carrying the same frames, on loopback, in one process: rounds of
// each variant, the order rotated round by round, medians reported. Results and the
// command are in BENCHMARKS.md ("session over plain TCP"). Run with -benchtime 1x: one
// iteration runs every round; WITNET_P2P_BENCH_ROUNDS sets their number (default 7).
//
// Variants, for each message kind:
//   - session: Session.Send on an Outbound session (encoded per message into the send
//     queue, as the node sends), the peer's Inbound session reading, decoding, checking
//     and dispatching each message; at most benchWindow messages in flight, a slot freed
//     per message dispatched (the send queue holds 256: a producer paces itself).
//   - bare-paced: the same frames, marshalled once, written in 16 KiB batches on a bare
//     TCP connection and read with codec.Reader.Next then protocol.Unmarshal, with the same
//     window: the baseline of the goal.
//   - bare-paced-encoding: bare-paced with the sender encoding each message into its
//     batch (StartFrame, MarshalAppend, FinishFrame), as the session's sender does: the
//     cost of the session beyond encoding and decoding.
//   - bare: bare-paced without the window (the sender writes its batches freely).
//
// The session's budgets are off on the receiving side: flooding is what is measured.
func BenchmarkTCPSessionVsBare(b *testing.B) {
	rounds := 7
	if v, err := strconv.Atoi(os.Getenv("WITNET_P2P_BENCH_ROUNDS")); err == nil && v >= 5 {
		rounds = v
	}
	kinds := []struct {
		name string
		msg  *pb.Message
		n    int // messages per round
	}{
		{"beacon-97B", benchBeaconMsg(), 300_000},
		{"announcement-15KiB", benchAnnouncement(400), 6_000},
	}
	for range b.N {
		for _, k := range kinds {
			payload, err := protocol.Marshal(k.msg)
			require.NoError(b, err)
			p := newBenchPair(b)
			variants := []struct {
				name string
				run  func() time.Duration
			}{
				{"session", func() time.Duration { return p.runSession(b, k.msg, k.n) }},
				{"bare-paced", func() time.Duration { return runBare(b, payload, nil, k.n, true) }},
				{"bare-paced-encoding", func() time.Duration { return runBare(b, nil, k.msg, k.n, true) }},
				{"bare", func() time.Duration { return runBare(b, payload, nil, k.n, false) }},
			}
			rates := make(map[string][]float64)
			var ratios, ratiosEncoding, ratiosUnpaced []float64
			for r := range rounds {
				got := map[string]float64{}
				for i := range variants {
					v := variants[(r+i)%len(variants)] // rotate the order every round
					runtime.GC()
					got[v.name] = float64(k.n) / v.run().Seconds()
					rates[v.name] = append(rates[v.name], got[v.name])
				}
				ratios = append(ratios, got["session"]/got["bare-paced"])
				ratiosEncoding = append(ratiosEncoding, got["session"]/got["bare-paced-encoding"])
				ratiosUnpaced = append(ratiosUnpaced, got["session"]/got["bare"])
			}
			p.close(b)
			for _, v := range variants {
				b.ReportMetric(median(rates[v.name]), k.name+"/"+v.name+"-msgs/s")
			}
			b.ReportMetric(median(ratios), k.name+"/session:bare-paced")
			b.ReportMetric(median(ratiosEncoding), k.name+"/session:bare-paced-encoding")
			b.ReportMetric(median(ratiosUnpaced), k.name+"/session:bare")
			b.Logf("%s (%d B payload, %d messages a round): session/bare-paced by round %s, median %.2f; "+
				"session/bare-paced-encoding by round %s, median %.2f; session/bare median %.2f",
				k.name, len(payload), k.n, fmtRatios(ratios), median(ratios), fmtRatios(ratiosEncoding), median(ratiosEncoding), median(ratiosUnpaced))
		}
	}
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

func fmtRatios(xs []float64) string {
	out := ""
	for i, x := range xs {
		if i > 0 {
			out += " "
		}
		out += fmt.Sprintf("%.2f", x)
	}
	return out
}

// benchWindow bounds the messages in flight: below the send queue's 256.
const benchWindow = session.DefaultSendQueueSize - 16

// batchSize is the size of the bare sender's writes, as codec.Writer's buffer.
const batchSize = 16 << 10

// benchBeaconMsg is a LastBeacon: 93 bytes of payload, 97 framed.
func benchBeaconMsg() *pb.Message {
	return protocol.NewLastBeacon(protocol.Magic, protocol.NewLastBeaconPB(
		protocol.NewCheckpointBeacon(3_200_000, protocol.Hash{0xaa, 1, 2, 3}),
		protocol.NewCheckpointBeacon(160_000, protocol.Hash{0xbb, 4, 5, 6})))
}

// benchAnnouncement announces n blocks (38 bytes an entry).
func benchAnnouncement(n int) *pb.Message {
	entries := make([]*pb.InventoryEntry, n)
	for i := range entries {
		entries[i] = protocol.BlockEntry(protocol.Hash{byte(i), byte(i >> 8), 0xcc})
	}
	m, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
	if err != nil {
		panic(err)
	}
	return m
}

// benchSink is the receiving session's chain and inventory: it counts what is
// dispatched to it and frees a window slot per message. Only the receiving session's
// reader goroutine calls it.
type benchSink struct {
	sem  chan struct{}
	want int
	got  int
	done chan struct{}
}

func (s *benchSink) hit() {
	<-s.sem
	if s.got++; s.got == s.want {
		close(s.done)
	}
}

func (s *benchSink) LastBeacon() *pb.LastBeacon                     { return protocol.NewLastBeaconPB(nil, nil) }
func (s *benchSink) Epoch(time.Time) uint32                         { return 0 }
func (s *benchSink) SuperBlockTarget() *pb.CheckpointBeacon         { return nil }
func (s *benchSink) InboundBeacon(*session.Session, *pb.LastBeacon) { s.hit() }
func (s *benchSink) Missing([]*pb.InventoryEntry) []*pb.InventoryEntry {
	s.hit()
	return nil // every block is held: nothing to request
}
func (s *benchSink) Item(*pb.InventoryEntry) (*pb.Message_Command, bool) { return nil, false }
func (s *benchSink) Received(*session.Session, *pb.Message) session.Offence {
	return session.OffenceNone
}

// benchPair is a consolidated plain-TCP session pair.
type benchPair struct {
	a, c *side
	out  *session.Session
	sink *benchSink
}

func newBenchPair(b *testing.B) *benchPair {
	sink := &benchSink{sem: make(chan struct{}, benchWindow)}
	p := &benchPair{sink: sink}
	p.a = newBenchSide(b, true, session.Config{Chain: sink, Inventory: sink, Budgets: session.Budgets{MessageRate: -1, ByteRate: -1}})
	p.c = newBenchSide(b, false, session.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	p.out, err = p.c.tr.Dial(ctx, p.a.addr(), session.Outbound)
	require.NoError(b, err)
	require.Eventually(b, func() bool {
		return p.out.Status() == session.Consolidated && p.a.m.NumSessions().InboundConsolidated == 1
	}, 5*time.Second, time.Millisecond)
	return p
}

// newBenchSide is newSide for a benchmark.
func newBenchSide(b *testing.B, listen bool, cfg session.Config) *side {
	s := &side{book: newTestBook(), m: session.NewManager(session.ManagerConfig{})}
	cfg.AddressBook = s.book
	var err error
	s.tr, err = New(Config{Manager: s.m, Session: cfg})
	require.NoError(b, err)
	if listen {
		require.NoError(b, s.tr.Listen(netip.MustParseAddrPort("127.0.0.1:0")))
	}
	return s
}

func (p *benchPair) close(b *testing.B) {
	for _, s := range []*side{p.a, p.c} {
		require.NoError(b, s.tr.Close())
		require.NoError(b, s.m.Close())
	}
}

// runSession sends n copies of msg through the session pair and returns the time until
// the last was dispatched.
func (p *benchPair) runSession(b *testing.B, msg *pb.Message, n int) time.Duration {
	p.sink.want, p.sink.got, p.sink.done = n, 0, make(chan struct{})
	start := time.Now()
	for range n {
		p.sink.sem <- struct{}{}
		if err := p.out.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	<-p.sink.done
	return time.Since(start)
}

// runBare writes n frames over a new loopback TCP connection, read and decoded on the
// other end, and returns the time until the last was decoded (the connection set-up
// excluded). Each frame carries payload, or msg encoded for that frame if msg is not
// nil. Frames go out in batches of about 16 KiB, and when the window is full.
func runBare(b *testing.B, payload []byte, msg *pb.Message, n int, paced bool) time.Duration {
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(b, err)
	defer ln.Close()
	var sem chan struct{}
	if paced {
		sem = make(chan struct{}, benchWindow)
	}
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		r := codec.NewReader(c, 0)
		for range n {
			f, err := r.Next()
			if err == nil {
				_, err = protocol.Unmarshal(f)
			}
			if err != nil {
				done <- err
				return
			}
			if sem != nil {
				<-sem
			}
		}
		done <- nil
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(b, err)
	defer c.Close()
	buf := make([]byte, 0, 2*batchSize)
	flush := func() {
		if len(buf) > 0 {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
			buf = buf[:0]
		}
	}
	start := time.Now()
	for range n {
		if sem != nil {
			select {
			case sem <- struct{}{}:
			default: // the window is full: send what is buffered, then wait
				flush()
				sem <- struct{}{}
			}
		}
		if msg != nil { // no require here: its t.Helper would cost more than the encoding
			at := len(buf)
			if buf, err = protocol.MarshalAppend(codec.StartFrame(buf), msg); err == nil {
				_, err = codec.FinishFrame(buf, at, 0)
			}
			if err != nil {
				b.Fatal(err)
			}
		} else {
			buf = append(codec.AppendHeader(buf, len(payload)), payload...)
		}
		if len(buf) >= batchSize {
			flush()
		}
	}
	flush()
	require.NoError(b, <-done)
	return time.Since(start)
}
