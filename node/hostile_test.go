package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/node/hostlimits"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// The hostile-peer suite (issue "Hardening"; RELIABILITY.md lists every row and its
// outcome). Each row starts a real node on 127.0.0.1, attacks it from a libp2p host that
// writes Witnet frames by hand, and checks that the attacker's session ended (or the input
// was ignored, where the protocol says so) with the peer and reason logged, that the peer
// was iced exactly where the rules say so, that the node's limits held, and that an honest
// peer then completes a handshake with the node within one second.
//
// Run it alone with: go test -race -run TestHostilePeers -v ./node/

// hostileHandshakeTimeout is the nodes' handshake timeout in the suite, short so that the
// idle and slow handshakes end quickly.
const hostileHandshakeTimeout = time.Second

// honestDeadline is how long an honest handshake may take after an attack.
const honestDeadline = time.Second

// hostileNode starts a node for one row: loopback, no dialer rounds, the suite's handshake
// timeout, plus opts.
func hostileNode(t *testing.T, opts ...Option) *Node {
	t.Helper()
	base := []Option{WithDataDir(t.TempDir()), WithListenAddrs(loopback), WithPeriods(time.Hour, time.Hour, 0),
		WithRPCAddr(""), WithLibp2pMetrics(false), WithHandshake(hostileHandshakeTimeout, 10*time.Second)}
	n, err := New(context.Background(), append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func nodeInfo(n *Node) peer.AddrInfo { return peer.AddrInfo{ID: n.ID(), Addrs: n.Host().Addrs()} }

// rawHost builds a TCP+Noise+yamux host listening on ip, with no resource limits of its
// own (an attacker sets none), using key if not nil.
func rawHost(t *testing.T, ip string, key crypto.PrivKey) host.Host {
	t.Helper()
	h, err := newRawHost(ip, key)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	return h
}

// newRawHost is rawHost for callers that close the host themselves (key nil: a new one).
func newRawHost(ip string, key crypto.PrivKey) (host.Host, error) {
	if key == nil {
		var err error
		if key, _, err = crypto.GenerateEd25519Key(rand.Reader); err != nil {
			return nil, err
		}
	}
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/"+ip+"/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)
}

// openRaw connects h to n and opens a session stream.
func openRaw(t *testing.T, h host.Host, n *Node) *sessiontest.RawStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.Connect(ctx, nodeInfo(n)))
	s, err := h.NewStream(ctx, n.ID(), session.ProtocolID)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Reset() })
	return sessiontest.NewRawStream(s)
}

// version is a Version from a raw peer sent at ts.
func version(ts time.Time) *pb.Message {
	return protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: ts.Unix(), Nonce: protocol.RandomNonce()})
}

// handshakeRaw plays the dialler's side of the handshake on s and waits for the node to
// consolidate the session.
func handshakeRaw(t *testing.T, s *sessiontest.RawStream, n *Node) {
	t.Helper()
	s.Handshake(t)
	id := s.Stream().Conn().LocalPeer()
	require.Eventually(t, func() bool {
		ss, ok := n.Manager().Lookup(id, session.Inbound)
		return ok && ss.Status() == session.Consolidated
	}, 5*time.Second, time.Millisecond, "node did not consolidate the raw peer")
}

// honestChain is an honest peer's chain: the node's default beacon, an epoch far ahead.
type honestChain struct{}

func (honestChain) LastBeacon() *pb.LastBeacon                     { return DefaultBeacon() }
func (honestChain) Epoch(time.Time) uint32                         { return 1 << 30 }
func (honestChain) SuperBlockTarget() *pb.CheckpointBeacon         { return nil }
func (honestChain) InboundBeacon(*session.Session, *pb.LastBeacon) {}

// honestHandshake has a fresh honest peer on ip dial n and checks that both ends
// consolidate within honestDeadline (see honestAttempt). It returns how long that took.
func honestHandshake(t *testing.T, n *Node, ip string) time.Duration {
	t.Helper()
	r := honestAttempt(t, n, ip, honestDeadline)
	require.NoError(t, r.err, "honest handshake")
	return r.d
}

// bothConsolidated reports whether s, an outbound session of the peer id to n, and its
// inbound end at n are both consolidated.
func bothConsolidated(n *Node, id peer.ID, s *session.Session) bool {
	in, ok := n.Manager().Lookup(id, session.Inbound)
	return ok && s.Status() == session.Consolidated && in.Status() == session.Consolidated
}

// logLines collects the JSON log lines of the session, manager and node loggers.
type logLines struct{ *sessiontest.Logs }

func captureHostileLogs(t *testing.T) *logLines {
	t.Helper()
	return &logLines{sessiontest.CaptureLogs(t, "info", "witnet/session", "witnet/manager", "witnet/node", "witnet/hostlimits")}
}

// ended returns the reasons of the "session ended" lines logged for id.
func (c *logLines) ended(id peer.ID) []string {
	var out []string
	for _, l := range c.Find(func(l map[string]any) bool { return l["msg"] == "session ended" && l["peer"] == id.String() }) {
		r, _ := l["reason"].(string)
		out = append(out, r)
	}
	return out
}

// requireEnded waits until a "session ended" line for id carries reason r (and, if
// detail is not empty, that text too) and returns that reason text.
func (c *logLines) requireEnded(t *testing.T, id peer.ID, r session.Reason, detail string) string {
	t.Helper()
	var found string
	waitFor(t, 10*time.Second, func() bool {
		for _, reason := range c.ended(id) {
			if strings.Contains(reason, r.Error()) && strings.Contains(reason, detail) {
				found = reason
				return true
			}
		}
		return false
	}, func() string {
		return fmt.Sprintf("no 'session ended' log for %s with %q %q; logged: %q", id, r.Error(), detail, c.ended(id))
	})
	return found
}

// noSessionOf checks that n holds no session of id any more.
func noSessionOf(t *testing.T, n *Node, id peer.ID) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, in := n.Manager().Lookup(id, session.Inbound)
		_, out := n.Manager().Lookup(id, session.Outbound)
		return !in && !out
	}, 5*time.Second, time.Millisecond, "the attacker's session is still registered")
}

// hostileEnv is what a row's attack works with.
type hostileEnv struct {
	n    *Node
	logs *logLines
	// honestIP is where the honest peer of the row connects from.
	honestIP string
}

// hostileCase is one row of the suite.
type hostileCase struct {
	name string
	opts []Option
	// attack runs the attack and returns the attacker's peer ID, or "" when no session
	// should have been created (the input was refused before any session).
	attack func(t *testing.T, e *hostileEnv) peer.ID
	// reason is the logged reason of the attacker's session, detail a text it must
	// contain; ReasonNone when the input is only ignored and the session lives on.
	reason session.Reason
	detail string
	iced   bool
}

func TestHostilePeers(t *testing.T) {
	// Registered first, so it runs after every node and host of the rows has closed:
	// nothing an attack started may outlive it.
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	logs := captureHostileLogs(t)
	var timings sync.Map // row -> honest handshake time
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := &hostileEnv{n: hostileNode(t, tc.opts...), logs: logs, honestIP: "127.0.0.1"}
			id := tc.attack(t, e)
			if id != "" {
				if tc.reason != session.ReasonNone {
					reason := tc.logs(t, e, id)
					t.Logf("attacker %s: %s", id, reason)
					noSessionOf(t, e.n, id)
				}
				require.Equal(t, tc.iced, e.n.Book().IsIced(id), "iced")
			}
			d := honestHandshake(t, e.n, e.honestIP)
			timings.Store(tc.name, d)
			t.Logf("honest handshake after the attack: %v", d)
		})
	}
}

// logs checks the row's end log and returns the logged reason.
func (tc hostileCase) logs(t *testing.T, e *hostileEnv, id peer.ID) string {
	return e.logs.requireEnded(t, id, tc.reason, tc.detail)
}

// floodFrames writes frame until the stream fails or stop closes, in batches of one
// write each; it returns how many frames were written.
func floodFrames(s *sessiontest.RawStream, payload []byte, max int, stop <-chan struct{}) int {
	n := 0
	for n < max {
		select {
		case <-stop:
			return n
		default:
		}
		for range min(64, max-n) {
			if s.Append(payload) != nil {
				return n
			}
			n++
		}
		if s.Flush() != nil {
			return n
		}
	}
	return n
}

// noiseThatDoesNotDecode returns size bytes that are not a Message.
func noiseThatDoesNotDecode(t *testing.T, size int) []byte {
	rng := mrand.New(mrand.NewPCG(1, 2))
	for {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if _, err := protocol.Unmarshal(b); err != nil {
			return b
		}
	}
}

// blockHash is the i-th test block hash.
func blockHash(i int) protocol.Hash {
	var h protocol.Hash
	binary.BigEndian.PutUint64(h[:], uint64(i)+1)
	h[31] = 0xee
	return h
}

// blockEntries returns n distinct block entries.
func blockEntries(n int) []*pb.InventoryEntry {
	out := make([]*pb.InventoryEntry, n)
	for i := range out {
		out[i] = protocol.BlockEntry(blockHash(i))
	}
	return out
}

// inventoryMessage builds an announcement or request of entries without the builders'
// limits (an attacker ignores them).
func inventoryMessage(request bool, entries []*pb.InventoryEntry) *pb.Message {
	cmd := &pb.Message_Command{}
	if request {
		cmd.Kind = &pb.Message_Command_InventoryRequest{InventoryRequest: &pb.InventoryRequest{Inventory: entries}}
	} else {
		cmd.Kind = &pb.Message_Command_InventoryAnnouncement{InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: entries}}
	}
	return &pb.Message{Magic: uint32(protocol.Magic), Kind: cmd}
}

// inventoryPayload encodes inventoryMessage(request, blockEntries(n)) straight to bytes:
// building a million protobuf entries to marshal them costs seconds under the race
// detector, and TestInventoryPayload checks the two agree.
func inventoryPayload(t *testing.T, request bool, n int) []byte {
	template, err := proto.Marshal(blockEntries(1)[0])
	require.NoError(t, err)
	hashAt := len(template) - protocol.HashSize // the entry ends with its hash
	list := make([]byte, 0, n*(len(template)+2))
	for i := range n {
		h := blockHash(i)
		entry := append(template[:hashAt:hashAt], h[:]...)
		list = protowire.AppendTag(list, 1, protowire.BytesType)
		list = protowire.AppendBytes(list, entry)
	}
	field := protowire.Number(6) // Command.InventoryAnnouncement
	if request {
		field = 7 // Command.InventoryRequest
	}
	cmd := protowire.AppendBytes(protowire.AppendTag(nil, field, protowire.BytesType), list)
	msg := protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), uint64(protocol.Magic))
	return protowire.AppendBytes(protowire.AppendTag(msg, 2, protowire.BytesType), cmd)
}

func TestInventoryPayload(t *testing.T) {
	for _, request := range []bool{false, true} {
		want, err := protocol.Marshal(inventoryMessage(request, blockEntries(3)))
		require.NoError(t, err)
		require.Equal(t, want, inventoryPayload(t, request, 3))
	}
}

// writeAsync writes payload as one frame on its own goroutine, for frames the node resets
// long before they are through; the test waits for it at cleanup.
func writeAsync(t *testing.T, s *sessiontest.RawStream, payload []byte) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.WriteFrame(payload)
	}()
	t.Cleanup(func() { _ = s.Stream().Reset(); <-done })
}

func hostileCases() []hostileCase {
	// attackAfterHandshake returns an attack that consolidates a raw peer, then runs f.
	attackAfterHandshake := func(f func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream)) func(*testing.T, *hostileEnv) peer.ID {
		return func(t *testing.T, e *hostileEnv) peer.ID {
			h := rawHost(t, "127.0.0.1", nil)
			s := openRaw(t, h, e.n)
			handshakeRaw(t, s, e.n)
			f(t, e, s)
			return h.ID()
		}
	}
	// attackFirst returns an attack that opens a stream and runs f at once.
	attackFirst := func(f func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream)) func(*testing.T, *hostileEnv) peer.ID {
		return func(t *testing.T, e *hostileEnv) peer.ID {
			h := rawHost(t, "127.0.0.1", nil)
			f(t, e, openRaw(t, h, e.n))
			return h.ID()
		}
	}
	decodeDetail := "undecodable message"

	return []hostileCase{
		{name: "01 length prefix above the maximum frame size", reason: session.ReasonDecode, detail: "exceeds the maximum", iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				hdr := binary.BigEndian.AppendUint32(nil, codec.DefaultMaxFrameSize+1)
				_, _ = s.Stream().Write(hdr)
			})},
		{name: "02 frame truncated then the stream closed", reason: session.ReasonConnection, detail: "unexpected EOF", iced: false,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				part := binary.BigEndian.AppendUint32(nil, 100)
				_, err := s.Stream().Write(append(part, make([]byte, 10)...))
				require.NoError(t, err)
				require.NoError(t, s.Stream().CloseWrite())
			})},
		{name: "03 random bytes as a payload", reason: session.ReasonDecode, detail: decodeDetail, iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				_ = s.WriteFrame(noiseThatDoesNotDecode(t, 256))
			})},
		{name: "04 wrong magic", reason: session.ReasonBadMagic, detail: "magic 1234", iced: true,
			attack: attackFirst(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				v := version(time.Now())
				v.Magic = 1234
				_ = s.WriteMsg(v)
			})},
		{name: "05a version 1 h in the past", reason: session.ReasonTimestamp, detail: "DifferentTimestamp", iced: true,
			attack: attackFirst(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				_ = s.WriteMsg(version(time.Now().Add(-time.Hour)))
			})},
		{name: "05b version 1 h in the future", reason: session.ReasonTimestamp, detail: "DifferentTimestamp", iced: true,
			attack: attackFirst(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				_ = s.WriteMsg(version(time.Now().Add(time.Hour)))
			})},
		{name: "06 1000 messages before the handshake", reason: session.ReasonMisbehaviour, detail: session.OffenceUnexpected.String(), iced: true,
			attack: attackFirst(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				b, err := protocol.Marshal(protocol.NewGetPeers(protocol.Magic))
				require.NoError(t, err)
				sent := floodFrames(s, b, 1000, nil)
				t.Logf("%d of 1000 GetPeers written before the node reset the stream", sent)
			})},
		{name: "07a handshake never finished (idle)", reason: session.ReasonHandshakeTimeout, iced: false,
			attack: attackFirst(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				start := time.Now()
				_, err := s.Stream().Read(make([]byte, 1)) // the node resets the stream at its timeout
				require.Error(t, err)
				require.Less(t, time.Since(start), hostileHandshakeTimeout+time.Second)
			})},
		{name: "07b handshake sent at 1 byte/s", reason: session.ReasonHandshakeTimeout, iced: false,
			attack: attackFirst(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				b, err := protocol.Marshal(version(time.Now()))
				require.NoError(t, err)
				wire := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
				wire = append(wire, b...)
				start := time.Now()
				sent := 0
				for ; sent < len(wire); sent++ {
					if _, err := s.Stream().Write(wire[sent : sent+1]); err != nil {
						break
					}
					time.Sleep(time.Second)
				}
				require.Less(t, sent, len(wire), "the whole Version went through")
				require.Less(t, time.Since(start), hostileHandshakeTimeout+3*time.Second)
				t.Logf("%d bytes sent before the node reset the stream", sent)
			})},
		{name: "08 unsolicited Peers", reason: session.ReasonUnsolicitedPeers, iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				_ = s.WriteMsg(protocol.NewPeers(protocol.Magic, [][]byte{protocol.LegacyAddress(netip.MustParseAddrPort("10.0.0.1:21337"))}))
			})},
		{name: "09 Peers with 100000 addresses", reason: session.ReasonDecode, detail: "peers", iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				list := make([]*pb.Address, 100_000)
				for i := range list {
					list[i] = &pb.Address{Address: protocol.LegacyAddress(netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 21337))}
				}
				m := &pb.Message{Magic: uint32(protocol.Magic), Kind: &pb.Message_Command{Kind: &pb.Message_Command_Peers_{Peers_: &pb.Peers{Peers: list}}}}
				b, err := protocol.Marshal(m)
				require.NoError(t, err)
				require.Less(t, len(b), codec.DefaultMaxFrameSize, "fits in a frame: decoding must refuse it")
				writeAsync(t, s, b)
			})},
		{name: "10 InventoryAnnouncement with 1000000 entries", reason: session.ReasonDecode, detail: "exceeds the maximum", iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				writeAsync(t, s, inventoryPayload(t, false, 1_000_000))
			})},
		{name: "10b InventoryAnnouncement with 200000 entries (under the frame limit)", reason: session.ReasonDecode, detail: "entries", iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				b := inventoryPayload(t, false, 200_000)
				require.Less(t, len(b), codec.DefaultMaxFrameSize, "fits in a frame: decoding must refuse it")
				writeAsync(t, s, b)
			})},
		{name: "11 InventoryRequest for 100000 unknown hashes", reason: session.ReasonDecode, detail: "entries", iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				writeAsync(t, s, inventoryPayload(t, true, 100_000))
			})},
		{name: "11b InventoryRequest for 10000 unknown hashes is ignored", reason: session.ReasonNone, iced: false,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				require.NoError(t, s.WriteFrame(inventoryPayload(t, true, protocol.MaxInventoryEntries)))
				// Nothing is held: the request is served up to the first missing item,
				// which is the first, so nothing comes back and the session lives on.
				// The session answers in order, so the reply to a GetPeers sent next is
				// the first frame back.
				require.NoError(t, s.WriteMsg(protocol.NewGetPeers(protocol.Magic)))
				require.Equal(t, protocol.KindPeers, protocol.KindOf(s.Recv(t)), "the first reply is to GetPeers")
				ss, ok := e.n.Manager().Lookup(s.Stream().Conn().LocalPeer(), session.Inbound)
				require.True(t, ok && ss.Status() == session.Consolidated, "the session must live on")
			})},
		{name: "12 1000 streams opened by one peer", reason: session.ReasonRegisterRefused, detail: "already registered", iced: false,
			attack: func(t *testing.T, e *hostileEnv) peer.ID {
				h := rawHost(t, "127.0.0.1", nil)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				require.NoError(t, h.Connect(ctx, nodeInfo(e.n)))
				// Sample the attacker's sessions at the node while it opens streams.
				var most atomic.Int64
				stop := make(chan struct{})
				sampled := make(chan struct{})
				go func() {
					defer close(sampled)
					for {
						if n := int64(e.n.Manager().NumSessions().Inbound()); n > most.Load() {
							most.Store(n)
						}
						select {
						case <-stop:
							return
						case <-time.After(200 * time.Microsecond):
						}
					}
				}()
				var wg sync.WaitGroup
				var opened, refused atomic.Int64
				var mu sync.Mutex
				var streams []network.Stream
				for range 20 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range 50 {
							st, err := h.NewStream(ctx, e.n.ID(), session.ProtocolID)
							if err != nil {
								refused.Add(1)
								continue
							}
							// Lazy negotiation: a byte read tells whether the node kept it.
							_ = st.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
							if _, err := st.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
								refused.Add(1)
								_ = st.Reset()
								continue
							}
							opened.Add(1)
							mu.Lock()
							streams = append(streams, st)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				close(stop)
				<-sampled
				// "Open" is the attacker's view: no reset within 50 ms.
				limited := e.n.Host().Network().ResourceManager().(*hostlimits.ResourceManager).StreamRefusals()
				t.Logf("1000 streams: %d looked open after 50 ms, %d refused (%d of them by the streams-per-peer limit, the rest by the sessions manager)",
					opened.Load(), refused.Load(), limited)
				require.LessOrEqual(t, most.Load(), int64(1), "one inbound session per peer")
				limitLogged := func() bool {
					return len(e.logs.Find(func(l map[string]any) bool {
						return l["msg"] == "stream refused by a limit" && l["peer"] == h.ID().String()
					})) > 0
				}
				if limited > 0 { // the capture reads a pipe: the line may still be on its way
					require.Eventually(t, limitLogged, 5*time.Second, time.Millisecond, "refusals by the limit are logged (throttled)")
				} else {
					require.False(t, limitLogged(), "a refusal by the limit logged, none counted")
				}
				for _, st := range streams {
					_ = st.Reset()
				}
				return h.ID()
			}},
		{name: "13 the same peer connecting twice at once", reason: session.ReasonRegisterRefused, detail: "already registered", iced: false,
			attack: func(t *testing.T, e *hostileEnv) peer.ID {
				key, _, err := crypto.GenerateEd25519Key(rand.Reader)
				require.NoError(t, err)
				hosts := []host.Host{rawHost(t, "127.0.0.1", key), rawHost(t, "127.0.0.1", key)}
				streams := make([]*sessiontest.RawStream, 2)
				for i, h := range hosts {
					streams[i] = openRaw(t, h, e.n)
				}
				require.Len(t, e.n.Host().Network().ConnsToPeer(hosts[0].ID()), 2, "two connections from one peer")
				var wg sync.WaitGroup
				for _, s := range streams {
					wg.Add(1)
					go func() {
						defer wg.Done()
						_ = s.WriteMsg(version(time.Now()))
					}()
				}
				wg.Wait()
				// One session wins; the other is refused. The winner's connection stays.
				require.Eventually(t, func() bool { return len(e.logs.ended(hosts[0].ID())) == 1 }, 5*time.Second, time.Millisecond)
				require.Equal(t, 1, e.n.Manager().NumSessions().Inbound())
				for _, h := range hosts {
					_ = h.Close()
				}
				return hosts[0].ID()
			}},
		{name: "14 many inbound peers from one IP range (sybil rule)", opts: []Option{WithSybilRule(true, 18), WithSybilLoopback(false)},
			attack: func(t *testing.T, e *hostileEnv) peer.ID {
				e.honestIP = "127.0.64.1" // another /18 range
				first := rawHost(t, "127.0.0.2", nil)
				handshakeRaw(t, openRaw(t, first, e.n), e.n)
				refused := 0
				for i := range 10 {
					h := rawHost(t, fmt.Sprintf("127.0.%d.%d", i/4, 3+i), nil) // all in 127.0.0.0/18
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					if err := h.Connect(ctx, nodeInfo(e.n)); err != nil {
						refused++
					}
					cancel()
					require.NotEqual(t, network.Connected, e.n.Host().Network().Connectedness(h.ID()), "a second peer of the range got in")
				}
				require.Equal(t, 10, refused)
				// The log capture reads a pipe: the last lines may still be on their way.
				require.Eventually(t, func() bool {
					return len(e.logs.Find(func(l map[string]any) bool {
						msg, _ := l["msg"].(string)
						return strings.Contains(msg, "range already holds an inbound session")
					})) >= 10
				}, 5*time.Second, time.Millisecond, "each refused connection is logged with its remote address and range")
				require.Equal(t, session.SessionCounts{InboundConsolidated: 1}, e.n.Manager().NumSessions())
				return "" // nothing reached a session
			}},
		{name: "15 a flood of valid messages at maximum rate", reason: session.ReasonMisbehaviour, detail: session.OffenceMessageBudget.String(), iced: true,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				b, err := protocol.Marshal(protocol.NewLastBeacon(protocol.Magic, DefaultBeacon()))
				require.NoError(t, err)
				done := make(chan int)
				start := time.Now()
				go func() { done <- floodFrames(s, b, 10_000_000, nil) }()
				// The node stays responsive during the flood.
				t.Logf("honest handshake during the flood: %v", honestHandshake(t, e.n, e.honestIP))
				sent := <-done
				el := time.Since(start)
				t.Logf("flood: %d LastBeacons in %v (%.0f/s) before the node dropped the peer", sent, el, float64(sent)/el.Seconds())
			})},
		{name: "16 a peer that stops reading (our send queue fills)", reason: session.ReasonSlowPeer, iced: false,
			attack: attackAfterHandshake(func(t *testing.T, e *hostileEnv, s *sessiontest.RawStream) {
				// The raw peer reads nothing from now on; the node keeps broadcasting.
				id := s.Stream().Conn().LocalPeer()
				beacon := protocol.NewLastBeacon(protocol.Magic, DefaultBeacon())
				sent := 0
				for ; sent < 1_000_000; sent++ {
					if _, ok := e.n.Manager().Lookup(id, session.Inbound); !ok {
						break
					}
					e.n.Manager().Broadcast(beacon, true)
				}
				t.Logf("%d broadcasts before the node dropped the peer", sent)
			})},
	}
}

// isTimeout reports whether err is a deadline error.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
