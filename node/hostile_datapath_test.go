package node

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// The data-path rows of the hostile-peer suite (issue 11, rows 1-4; RELIABILITY.md lists
// each row with its bound and figures). Each row starts a real node on 127.0.0.1 with a
// bbolt file in a temporary directory, attacks it from a libp2p host that writes Witnet
// frames by hand until the node drops it (10 s at most), and measures while it does: the node's peak
// heap (runtime.ReadMemStats every 10 ms; the attacker runs in the same process, so the
// figure includes what the attacker's own host buffers), the database file's growth, and
// honest peers handshaking with the node all along (every one must complete, p99 under
// 1 s). Then it checks that the attacker's session ended with the reason logged, and that
// the peer is iced. The rows run one after another, so that each heap figure is its own.
//
// Run them with: go test -run TestHostileDatapath -v ./node/

// Bounds each row checks. They are what the node's defaults allow an attacker, with room
// for the attacker's own buffers and the honest peers' sessions that run meanwhile.
const (
	// datapathHeapBound bounds the growth of the live heap during any row. The defaults
	// let one peer make the node hold: 5,000 tracked entries (~2 MB), 1 MiB of queued
	// items plus one item (2 MiB), 4 MiB of unsolicited items, 64 KiB of handshake frame;
	// and the two yamux streams of the attack buffer up to 16 MiB each.
	datapathHeapBound = 96 << 20
	// datapathDBBound bounds the database file's growth during any row: no row's attack
	// makes the node store anything.
	datapathDBBound = 1 << 20
	// datapathAttackTime bounds how long any attack goes on: an attacker stops when the
	// node drops it (a fraction of a second, or a few seconds with -race on a busy
	// machine) or at this bound.
	datapathAttackTime = 10 * time.Second
	// datapathReadTime is how long the slow reader of row 2 reads before it asks again.
	datapathReadTime = 2 * time.Second
)

// datapathEnv is what a row's attack works with.
type datapathEnv struct {
	n    *Node
	logs *logLines
}

// datapathRow is one row of the suite.
type datapathRow struct {
	name string
	// setup prepares the attack before the measurements start (items the node holds,
	// the attacker's payloads, so that they do not count in the node's heap).
	setup func(t *testing.T, n *Node) any
	// attack runs the attack, at most datapathAttackTime, and returns the attacker's
	// peer IDs; state is what setup returned.
	attack func(t *testing.T, e *datapathEnv, state any) []peer.ID
	// reason and detail are what the attackers' "session ended" lines must carry.
	reason session.Reason
	detail string
}

func TestHostileDatapath(t *testing.T) {
	// Registered first, so it runs after every node and host of the rows has closed.
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	logs := captureHostileLogs(t)
	for _, row := range datapathRows() {
		t.Run(row.name, func(t *testing.T) {
			n := hostileNode(t)
			var state any
			if row.setup != nil {
				state = row.setup(t, n)
			}
			e := &datapathEnv{n: n, logs: logs}
			dbBefore := fileSize(t, n.DB().Path())
			heap := startHeapMeter()
			honest := startHonestProbes(n)
			ids := row.attack(t, e, state)
			peak, base := heap.stop()
			runtime.KeepAlive(state)
			probes := honest.stop()
			dbGrowth := fileSize(t, n.DB().Path()) - dbBefore
			t.Logf("figures: heap %.1f MiB before, peak +%.1f MiB during the attack; database +%.2f MiB; honest handshakes %s",
				mib(base), mib(peak-base), float64(dbGrowth)/(1<<20), probes)

			for _, id := range ids {
				reason := logs.requireEnded(t, id, row.reason, row.detail)
				t.Logf("attacker %s: %s", id.ShortString(), reason)
				noSessionOf(t, n, id)
				require.True(t, n.Book().IsIced(id), "attacker iced")
			}
			require.Less(t, peak-base, uint64(datapathHeapBound), "peak heap growth")
			require.Less(t, dbGrowth, int64(datapathDBBound), "database growth")
			probes.check(t)
			// And after the attack, an honest peer still gets in at once.
			t.Logf("honest handshake after the attack: %v", honestHandshake(t, n, "127.0.0.1"))
		})
	}
}

func datapathRows() []datapathRow {
	return []datapathRow{
		{
			// Issue 11 row 1: announcements without end, never delivered.
			name: "1 announcements of millions of transaction hashes, never delivered", reason: session.ReasonMisbehaviour,
			detail: "too many announced entries tracked",
			setup:  func(t *testing.T, _ *Node) any { return newTxAnnouncement(t, protocol.MaxInventoryEntries) },
			attack: func(t *testing.T, e *datapathEnv, state any) []peer.ID {
				ann := state.(*txAnnouncement)
				h := rawHost(t, "127.0.0.1", nil)
				s := openRaw(t, h, e.n)
				handshakeRaw(t, s, e.n)
				sent, start := 0, time.Now()
				for time.Since(start) < datapathAttackTime {
					ann.next()
					if s.WriteFrame(ann.payload) != nil {
						break // the node reset the stream
					}
					sent++
				}
				t.Logf("attack: %d announcements of %d transaction hashes (%d hashes) in %v before the stream failed",
					sent, protocol.MaxInventoryEntries, sent*protocol.MaxInventoryEntries, time.Since(start).Round(time.Millisecond))
				return []peer.ID{h.ID()}
			},
		},
		{
			// Issue 11 row 2: one maximal request for large items, read slowly; then one more.
			name: "2 a 380 KB InventoryRequest for large items, read slowly", reason: session.ReasonMisbehaviour,
			detail: "request backlog exceeded",
			setup: func(t *testing.T, n *Node) any {
				var entries []*pb.InventoryEntry
				for i := range 4 {
					it, fresh, err := n.inv.Submit(protocol.KindBlock, largeBlock(t, uint32(100+i), 1_900_000))
					require.NoError(t, err)
					require.True(t, fresh)
					entries = append(entries, protocol.BlockEntry(it.Hash))
				}
				list := make([]*pb.InventoryEntry, protocol.MaxInventoryEntries)
				for i := range list {
					list[i] = entries[i%len(entries)]
				}
				req, err := protocol.NewInventoryRequest(protocol.Magic, list)
				require.NoError(t, err)
				b, err := protocol.Marshal(req)
				require.NoError(t, err)
				return b
			},
			attack: func(t *testing.T, e *datapathEnv, state any) []peer.ID {
				req := state.([]byte)
				h := rawHost(t, "127.0.0.1", nil)
				s := openRaw(t, h, e.n)
				handshakeRaw(t, s, e.n)
				require.NoError(t, s.WriteFrame(req))
				// Read at 8 MB/s, steadily: never slow enough for the write timeout.
				const rate, tick = 8 << 20, 10 * time.Millisecond
				read, start := readPaced(s, rate, tick, datapathReadTime)
				t.Logf("attack: a %d-byte request for %d items of 1.9 MB; read %.1f MiB in %v at %d MiB/s",
					len(req), protocol.MaxInventoryEntries, mib(uint64(read)), time.Since(start).Round(time.Millisecond), rate>>20)
				// A second request while the first is far from served: the backlog overflows.
				_ = s.WriteFrame(req)
				more, _ := readPaced(s, rate, tick, datapathReadTime)
				t.Logf("attack: a second request sent; %.1f MiB more read before the stream failed", mib(uint64(more)))
				return []peer.ID{h.ID()}
			},
		},
		{
			// Issue 11 row 3: unsolicited blocks of nearly the largest size.
			name: "3a unsolicited blocks of 1.9 MB", reason: session.ReasonMisbehaviour,
			detail: "unsolicited item budget exceeded",
			setup:  func(t *testing.T, _ *Node) any { return newBlockPush(t, 1_900_000) },
			attack: pushAttack("blocks"),
		},
		{
			// Issue 11 row 3: superblock votes of 4 MB.
			name: "3b superblock votes of 4 MB", reason: session.ReasonMisbehaviour,
			detail: "unsolicited item budget exceeded",
			setup:  func(t *testing.T, _ *Node) any { return newVotePush(t, 4_000_000) },
			attack: pushAttack("votes"),
		},
		{
			// Issue 11 row 4: Versions with an 8 MB user agent, eight peers at once.
			name: "4 Version with an 8 MB user agent, 8 peers", reason: session.ReasonDecode,
			detail: "exceeds the maximum of 65536 bytes",
			setup: func(t *testing.T, _ *Node) any {
				v := version(time.Now())
				v.GetKind().GetVersion().UserAgent = strings.Repeat("a", 8_000_000)
				payload, err := protocol.Marshal(v)
				require.NoError(t, err)
				return payload
			},
			attack: func(t *testing.T, e *datapathEnv, state any) []peer.ID {
				payload := state.([]byte)
				var (
					wg  sync.WaitGroup
					mu  sync.Mutex
					ids []peer.ID
				)
				for range 8 {
					h := rawHost(t, "127.0.0.1", nil)
					s := openRaw(t, h, e.n)
					mu.Lock()
					ids = append(ids, h.ID())
					mu.Unlock()
					wg.Add(1)
					go func() {
						defer wg.Done()
						if s.WriteFrame(payload) != nil {
							return
						}
						// Finish the handshake if the node lets us: Verack and Version back.
						for range 2 {
							if _, err := s.ReadFrame(); err != nil {
								return
							}
						}
						_ = s.WriteMsg(protocol.NewVerack(protocol.Magic))
					}()
				}
				wg.Wait()
				// Let the node settle: consolidated sessions hold their Version, refused
				// ones are gone.
				eventually(datapathReadTime, 10*time.Millisecond, func() bool {
					return e.n.Manager().NumSessions().Inbound() == 0 || e.n.Manager().NumSessions().InboundConsolidated == 8
				})
				return ids
			},
		},
	}
}

// ---- attack payloads ----

// txAnnouncement is an InventoryAnnouncement of transaction entries encoded once, whose
// hashes next rewrites in place, so that each message names new items and the attacker
// allocates nothing per message.
type txAnnouncement struct {
	payload []byte
	hashAt  []int // offsets of the entries' hashes
	n       uint64
}

func newTxAnnouncement(t *testing.T, entries int) *txAnnouncement {
	template, err := proto.Marshal(protocol.TxEntry(protocol.Hash{0xaa}))
	require.NoError(t, err)
	var list []byte
	var at []int
	for range entries {
		list = protowire.AppendTag(list, 1, protowire.BytesType)
		list = protowire.AppendVarint(list, uint64(len(template)))
		at = append(at, len(list)+len(template)-protocol.HashSize)
		list = append(list, template...)
	}
	cmd := protowire.AppendBytes(protowire.AppendTag(nil, 6, protowire.BytesType), list) // Command.InventoryAnnouncement
	msg := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(protocol.Magic))
	msg = protowire.AppendTag(msg, 2, protowire.BytesType)
	msg = protowire.AppendVarint(msg, uint64(len(cmd)))
	shift := len(msg) + len(cmd) - len(list)
	a := &txAnnouncement{payload: append(msg, cmd...)}
	for _, o := range at {
		a.hashAt = append(a.hashAt, o+shift)
	}
	m, err := protocol.Unmarshal(a.payload)
	require.NoError(t, err)
	require.Len(t, m.GetKind().GetInventoryAnnouncement().GetInventory(), entries)
	return a
}

// next gives every entry a hash never used before.
func (a *txAnnouncement) next() {
	for _, o := range a.hashAt {
		a.n++
		h := a.payload[o : o+8]
		for i := range h {
			h[i] = byte(a.n >> (8 * i))
		}
	}
}

// largeBlock returns the encoding of a block (the vector block at epoch) padded to size
// bytes in its signature, which the block hash does not cover.
func largeBlock(t *testing.T, epoch uint32, size int) []byte {
	b := proto.Clone(vectorBlock(t)).(*pb.Block)
	b.BlockHeader.Beacon.Checkpoint = epoch
	der := b.GetBlockSig().GetSignature().GetSecp256K1()
	der.Der = append(der.Der, make([]byte, size-proto.Size(b))...)
	raw, err := protocol.CanonicalBytes(b)
	require.NoError(t, err)
	return raw
}

// mutablePush is the payload of a message pushed again and again, changed in place
// before each push so that each is a new item.
type mutablePush struct {
	payload []byte
	at      int // offset of 4 bytes that distinguish the items
	n       uint32
}

// next writes the next distinguishing value, a 4-byte varint (2^21 <= v < 2^28).
func (p *mutablePush) next() {
	p.n++
	v := uint64(1<<21 + p.n)
	copy(p.payload[p.at:p.at+4], protowire.AppendVarint(nil, v))
}

// newBlockPush returns pushes of blocks of about size bytes whose header signals field
// tells them apart.
func newBlockPush(t *testing.T, size int) *mutablePush {
	at := func(signals uint32) []byte {
		b := proto.Clone(vectorBlock(t)).(*pb.Block)
		b.BlockHeader.Signals = signals
		der := b.GetBlockSig().GetSignature().GetSecp256K1()
		der.Der = append(der.Der, make([]byte, size)...)
		raw, err := protocol.Marshal(protocol.NewBlock(protocol.Magic, b))
		require.NoError(t, err)
		return raw
	}
	return newMutablePush(t, at(1<<21), at(1<<21+1))
}

// newVotePush returns pushes of superblock votes of about size bytes, told apart by a
// varint in their BN256 signature.
func newVotePush(t *testing.T, size int) *mutablePush {
	at := func(mark uint64) []byte {
		sig := protowire.AppendVarint(nil, mark)
		sig = append(sig, make([]byte, size)...)
		v := &pb.SuperBlockVote{
			Bn256Signature:     &pb.Bn256Signature{Signature: sig},
			Secp256K1Signature: vectorBlock(t).GetBlockSig(),
			SuperblockHash:     protocol.NewHashPB(protocol.Hash{9}),
			SuperblockIndex:    7,
		}
		raw, err := protocol.Marshal(protocol.NewSuperBlockVote(protocol.Magic, v))
		require.NoError(t, err)
		return raw
	}
	return newMutablePush(t, at(1<<21), at(1<<21+1))
}

// newMutablePush finds where two payloads built with distinguishing values 2^21 and
// 2^21+1 differ.
func newMutablePush(t *testing.T, a, b []byte) *mutablePush {
	require.Equal(t, len(a), len(b))
	for i := range a {
		if a[i] != b[i] {
			return &mutablePush{payload: a, at: i}
		}
	}
	t.Fatal("payloads do not differ")
	return nil
}

// pushAttack returns an attack that consolidates a raw peer and pushes it the items of
// the row's *mutablePush, as fast as the stream takes them.
func pushAttack(what string) func(t *testing.T, e *datapathEnv, state any) []peer.ID {
	return func(t *testing.T, e *datapathEnv, state any) []peer.ID {
		p := state.(*mutablePush)
		h := rawHost(t, "127.0.0.1", nil)
		s := openRaw(t, h, e.n)
		handshakeRaw(t, s, e.n)
		sent := pushFrames(s, p.payload, p.next)
		t.Logf("attack: %d distinct %s of %d bytes pushed before the stream failed", sent, what, len(p.payload))
		return []peer.ID{h.ID()}
	}
}

// pushFrames writes payload again and again, calling next before each, until the stream
// fails or datapathAttackTime has passed; it returns how many frames were written.
func pushFrames(s *sessiontest.RawStream, payload []byte, next func()) int {
	sent, start := 0, time.Now()
	for time.Since(start) < datapathAttackTime {
		next()
		if s.WriteFrame(payload) != nil {
			break
		}
		sent++
	}
	return sent
}

// readPaced reads the stream's bytes at about rate bytes per second, every tick, for at
// most d or until the stream fails; it returns how many bytes it read and when it
// started.
func readPaced(s *sessiontest.RawStream, rate int, tick, d time.Duration) (int64, time.Time) {
	start := time.Now()
	per := rate * int(tick) / int(time.Second)
	buf := make([]byte, per)
	var read int64
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for time.Since(start) < d {
		<-ticker.C
		_ = s.Stream().SetReadDeadline(time.Now().Add(tick))
		n, err := s.Stream().Read(buf)
		read += int64(n)
		if err != nil && !isTimeout(err) {
			break
		}
	}
	_ = s.Stream().SetReadDeadline(time.Time{})
	return read, start
}

// ---- measurements ----

// heapMeter samples the live heap every 10 ms.
type heapMeter struct {
	base        uint64
	peak        atomic.Uint64
	stopc, done chan struct{}
}

func startHeapMeter() *heapMeter {
	runtime.GC()
	runtime.GC() // a second collection empties the sync.Pools (the previous row's buffers)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := &heapMeter{base: ms.HeapAlloc, stopc: make(chan struct{}), done: make(chan struct{})}
	m.peak.Store(ms.HeapAlloc)
	go func() {
		defer close(m.done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > m.peak.Load() {
				m.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-m.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

// stop ends the sampling after a last sample of the live heap (after a collection, so
// that what the attack left behind counts, not its garbage), and returns the peak and
// the heap before the attack.
func (m *heapMeter) stop() (peak, base uint64) {
	close(m.stopc)
	<-m.done
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return max(m.peak.Load(), ms.HeapAlloc), m.base
}

func fileSize(t *testing.T, path string) int64 {
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

// honestProbes has fresh honest peers handshake with a node, one after another, while an
// attack runs.
type honestProbes struct {
	stopc, done chan struct{}
	took        []time.Duration
	errs        []error
}

func startHonestProbes(n *Node) *honestProbes {
	p := &honestProbes{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			d, err := honestProbe(n)
			if err != nil {
				p.errs = append(p.errs, err)
			} else {
				p.took = append(p.took, d)
			}
			select {
			case <-p.stopc:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return p
}

func (p *honestProbes) stop() *honestProbes {
	close(p.stopc)
	<-p.done
	return p
}

// String summarises the probes: count, failures, p50, p99, max.
func (p *honestProbes) String() string {
	if len(p.took) == 0 {
		return fmt.Sprintf("0 ok, %d failed", len(p.errs))
	}
	d := slices.Clone(p.took)
	slices.Sort(d)
	q := func(f float64) time.Duration {
		return d[min(len(d)-1, int(f*float64(len(d))))].Round(100 * time.Microsecond)
	}
	return strconv.Itoa(len(d)) + " ok, " + strconv.Itoa(len(p.errs)) + " failed; p50 " + q(0.5).String() +
		", p99 " + q(0.99).String() + ", max " + d[len(d)-1].Round(100*time.Microsecond).String()
}

// check requires every probe to have succeeded, p99 under honestDeadline.
func (p *honestProbes) check(t *testing.T) {
	t.Helper()
	require.Empty(t, p.errs, "honest handshakes failed during the attack")
	require.NotEmpty(t, p.took, "no honest handshake ran during the attack")
	d := slices.Clone(p.took)
	slices.Sort(d)
	require.Less(t, d[min(len(d)-1, int(0.99*float64(len(d))))], honestDeadline, "honest handshake p99")
}

// honestProbe is honestHandshake for a goroutine other than the test's: a fresh honest
// peer dials n, and both ends must consolidate within honestDeadline. Its host is closed
// before it returns.
func honestProbe(n *Node) (time.Duration, error) {
	h, err := newRawHost("127.0.0.1", nil)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	m := session.NewManager(session.ManagerConfig{})
	svc := session.NewService(h, m, session.Config{Chain: honestChain{}})
	defer func() { _ = svc.Close(); _ = m.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), honestDeadline)
	defer cancel()
	start := time.Now()
	s, err := svc.Dial(ctx, nodeInfo(n), session.Outbound)
	if err != nil {
		return 0, fmt.Errorf("honest dial: %w", err)
	}
	if !eventually(honestDeadline-time.Since(start), pollInterval, func() bool { return bothConsolidated(n, h.ID(), s) }) {
		return 0, fmt.Errorf("honest handshake not complete after %v: %v", honestDeadline, s.Err())
	}
	return time.Since(start), nil
}
