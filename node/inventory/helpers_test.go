package inventory

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// vectorFile is the part of a protocol/testdata vector file these tests read.
type vectorFile struct {
	Vectors []struct {
		Name     string          `json:"name"`
		Input    json.RawMessage `json:"input"`
		Expected json.RawMessage `json:"expected"`
	} `json:"vectors"`
}

// vector returns the input and expected objects of the named vector.
func vector(t *testing.T, file, name string) (input, expected map[string]json.RawMessage) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "protocol", "testdata", file))
	require.NoError(t, err)
	var f vectorFile
	require.NoError(t, json.Unmarshal(b, &f))
	for _, v := range f.Vectors {
		if v.Name == name {
			require.NoError(t, json.Unmarshal(v.Input, &input))
			require.NoError(t, json.Unmarshal(v.Expected, &expected))
			return input, expected
		}
	}
	t.Fatalf("vector %s not found in %s", name, file)
	return nil, nil
}

func hexField(t *testing.T, m map[string]json.RawMessage, key string) []byte {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(m[key], &s))
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// exampleBlock is witnet-rust's block_example(), decoded from the message vector.
func exampleBlock(t *testing.T) *pb.Block {
	t.Helper()
	_, exp := vector(t, "messages.json", "message_block_example_v2_0")
	m, err := protocol.Unmarshal(hexField(t, exp, "bytes"))
	require.NoError(t, err)
	return m.GetKind().GetBlock()
}

// testBlock is block_example at epoch with distinct signals n, so each (epoch, n) gives a
// distinct hash.
func testBlock(t *testing.T, epoch, n uint32) *pb.Block {
	b := proto.Clone(exampleBlock(t)).(*pb.Block)
	b.BlockHeader.Beacon.Checkpoint = epoch
	b.BlockHeader.Signals = n
	return b
}

func testSuperBlock(index uint32) *pb.SuperBlock {
	h := func(b byte) *pb.Hash {
		var x protocol.Hash
		for i := range x {
			x[i] = b
		}
		return protocol.NewHashPB(x)
	}
	return &pb.SuperBlock{SigningCommitteeLength: 3, ArsRoot: h(1), DataRequestRoot: h(2), Index: index, LastBlock: h(3), LastBlockInPreviousSuperblock: h(4), TallyRoot: h(5)}
}

func testVote(index uint32) *pb.SuperBlockVote {
	v := &pb.SuperBlockVote{
		Bn256Signature: &pb.Bn256Signature{Signature: []byte{1, 2, 3}},
		Secp256K1Signature: &pb.KeyedSignature{
			Signature: &pb.Signature{Kind: &pb.Signature_Secp256K1{Secp256K1: &pb.Secp256K1Signature{Der: []byte{0x30, 0x00}}}},
			PublicKey: &pb.PublicKey{PublicKey: make([]byte, 33)},
		},
		SuperblockHash:  protocol.NewHashPB(protocol.Hash{9}),
		SuperblockIndex: index,
	}
	protocol.Canonicalize(v)
	return v
}

func txMsg(tx *pb.Transaction) *pb.Message { return protocol.NewTransaction(protocol.Magic, tx) }

func rawOf(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := protocol.CanonicalBytes(m)
	require.NoError(t, err)
	return b
}

// waitTimeout bounds waitFor: generous, because the tests that poll run real libp2p hosts
// under the race detector on shared cores.
const waitTimeout = 10 * time.Second

// waitFor polls until cond holds and fails the test if it does not within waitTimeout.
// It is for tests on real time (real libp2p hosts); tests of engines over fakeConns run
// in a synctest bubble and wait with synctest.Wait or settle instead.
func waitFor(t testing.TB, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	require.Eventually(t, cond, waitTimeout, 5*time.Millisecond, msgAndArgs...)
}

// settle runs inside a synctest bubble: it waits until the engines and their fakeConns
// have nothing left to do but wait, then has each engine commit what it accepted (a
// writer in its batching window would otherwise wait for virtual time to pass), so the
// test can assert on what happened and on what did not.
func settle(engines ...*Engine) {
	synctest.Wait()
	for _, e := range engines {
		e.flush()
	}
	synctest.Wait()
}

// gossipSent returns once the flusher has handed to their sessions all that gossip
// queued before the call, or once the engine is closed. It queues a barrier for a session
// of its own: the flusher sends it in its next round, in any order with the round's other
// sessions, so a second barrier, queued after the first is sent, goes in a later round,
// and the round that took everything queued before the call is then over.
func (e *Engine) gossipSent() {
	for range 2 {
		b := &barrierConn{sent: make(chan struct{})}
		e.mu.Lock()
		e.pending[b] = []outbound{{entry: protocol.TxEntry(protocol.Hash{})}}
		e.mu.Unlock()
		select {
		case e.kick <- struct{}{}:
		default:
		}
		select {
		case <-b.sent:
		case <-e.ctx.Done():
			return
		}
	}
}

// barrierConn is the session gossipSent queues its barrier for: it reports the
// announcement the flusher sends it, and refuses it so that the engine does not count it.
type barrierConn struct {
	fakeConn
	sent chan struct{}
}

var errBarrier = errors.New("barrier: not sent")

func (c *barrierConn) AnnounceItems([]*pb.InventoryEntry) error {
	close(c.sent)
	return errBarrier
}

// advanceClock runs inside a synctest bubble: once the goroutines are idle, it checks
// how many timers are armed on clock (want timers), advances it by d and waits until what
// the advance started (the due timers' functions, and what they start) is done. Waiting
// before the advance matters: a timer function that read the clock before an advance
// would re-arm its timer after it, past the advance, and not run again when expected.
func advanceClock(t *testing.T, clock *session.FakeClock, timers int, d time.Duration) {
	t.Helper()
	synctest.Wait()
	require.Equal(t, timers, clock.Pending(), "timers armed before the advance")
	clock.Advance(d)
	synctest.Wait()
}

func newTestEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	if cfg.Store == nil {
		db, _ := tempDB(t)
		s, err := OpenStore(db, StoreConfig{MaxTransactions: 1000})
		require.NoError(t, err)
		cfg.Store = s
	}
	e, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.Close() })
	return e
}

// fakeConn is one end of an in-memory session between two engines (or between an engine
// and a scripted test peer, when owner is nil on the far side). It behaves as a session
// whose dispatch passes every announced entry to the inventory: announcements are
// answered with a request for what MissingFrom returns, requests are served in order up
// to the first missing item, items are handed to Received, LastBeacons to InboundBeacon.
type fakeConn struct {
	id     peer.ID        // the remote peer
	tcp    netip.AddrPort // if valid, the remote peer is this plain-TCP one instead
	typ    session.Type
	owner  *Engine // the engine this session belongs to; nil for a scripted peer
	remote *fakeConn

	inbox chan *pb.Message
	done  chan struct{}
	once  sync.Once

	mu       sync.Mutex
	sent     []*pb.Message
	closeErr error
	closed   bool
	gotItems map[protocol.Hash]int // items received on this session, by hash
}

var _ conn = (*fakeConn)(nil)

func (c *fakeConn) ID() peer.ID      { return c.id }
func (c *fakeConn) Key() session.Key { return c.Peer().Key() }
func (c *fakeConn) Peer() session.Peer {
	if c.tcp.IsValid() {
		return session.Peer{Transport: session.TransportTCP, AddrPort: c.tcp, IP: c.tcp.Addr()}
	}
	return session.Peer{ID: c.id}
}
func (c *fakeConn) Type() session.Type { return c.typ }
func (c *fakeConn) Send(m *pb.Message) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return session.ErrClosed
	}
	c.sent = append(c.sent, m)
	c.mu.Unlock()
	if c.remote != nil && c.remote.owner != nil {
		select {
		case c.remote.inbox <- m:
		case <-c.remote.done:
		}
	}
	return nil
}
func (c *fakeConn) AnnounceItems(entries []*pb.InventoryEntry) error {
	m, err := protocol.NewInventoryAnnouncement(protocol.Magic, entries)
	if err != nil {
		return err
	}
	return c.Send(m)
}
func (c *fakeConn) SendInventoryItem(m *pb.Message) error { return c.Send(m) }
func (c *fakeConn) SendLastBeacon(b *pb.LastBeacon) error {
	return c.Send(protocol.NewLastBeacon(protocol.Magic, proto.Clone(b).(*pb.LastBeacon)))
}
func (c *fakeConn) Close(err error) {
	c.mu.Lock()
	if !c.closed {
		c.closed, c.closeErr = true, err
	}
	c.mu.Unlock()
	c.once.Do(func() { close(c.done) })
	if c.owner != nil {
		c.owner.removeConn(c)
	}
}

// sentKinds returns the kinds of the messages sent on c, in order.
func (c *fakeConn) sentOf(k protocol.Kind) []*pb.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*pb.Message
	for _, m := range c.sent {
		if protocol.KindOf(m) == k {
			out = append(out, m)
		}
	}
	return out
}

func (c *fakeConn) received(h protocol.Hash) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gotItems[h]
}

// run is the session's reader: it dispatches what the remote side sent.
func (c *fakeConn) run(t *testing.T, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-c.done:
			return
		case m := <-c.inbox:
			c.dispatch(t, m)
		}
	}
}

func (c *fakeConn) dispatch(t *testing.T, m *pb.Message) {
	e := c.owner
	switch k := protocol.KindOf(m); k {
	case protocol.KindInventoryAnnouncement:
		if missing, _ := e.missing(c, m.GetKind().GetInventoryAnnouncement().GetInventory(), 0); len(missing) > 0 {
			req, err := protocol.NewInventoryRequest(protocol.Magic, missing)
			require.NoError(t, err)
			_ = c.Send(req)
		}
	case protocol.KindInventoryRequest:
		for _, en := range m.GetKind().GetInventoryRequest().GetInventory() {
			cmd, ok := e.Item(en)
			if !ok {
				break
			}
			_ = c.Send(&pb.Message{Magic: uint32(protocol.Magic), Kind: cmd})
		}
	case protocol.KindLastBeacon:
		if c.typ == session.Inbound {
			e.inboundBeacon(c, m.GetKind().GetLastBeacon())
		}
	default:
		if IsItemKind(k) {
			it, err := e.cfg.Decoder.FromMessage(m)
			require.NoError(t, err)
			c.mu.Lock()
			if c.gotItems == nil {
				c.gotItems = make(map[protocol.Hash]int)
			}
			c.gotItems[it.Hash]++
			c.mu.Unlock()
			e.received(c, m)
		}
	}
}

// fakeNet wires engines with fakeConns.
type fakeNet struct {
	t     *testing.T
	wg    sync.WaitGroup
	conns []*fakeConn
}

func newFakeNet(t *testing.T) *fakeNet {
	n := &fakeNet{t: t}
	t.Cleanup(func() {
		for _, c := range n.conns {
			c.once.Do(func() { close(c.done) })
		}
		n.wg.Wait()
	})
	return n
}

// link connects a (outbound) to b (inbound); either engine may be nil for a scripted peer.
// It returns a's session to b and b's session to a.
func (n *fakeNet) link(a *Engine, aID peer.ID, b *Engine, bID peer.ID) (ab, ba *fakeConn) {
	ab = &fakeConn{id: bID, typ: session.Outbound, owner: a, inbox: make(chan *pb.Message, 1024), done: make(chan struct{})}
	ba = &fakeConn{id: aID, typ: session.Inbound, owner: b, inbox: make(chan *pb.Message, 1024), done: make(chan struct{})}
	ab.remote, ba.remote = ba, ab
	for _, c := range []*fakeConn{ab, ba} {
		n.conns = append(n.conns, c)
		if c.owner != nil {
			c.owner.addConn(c)
			n.wg.Add(1)
			go c.run(n.t, &n.wg)
		}
	}
	return ab, ba
}

// announced is what the engine requests when from announces entries (no block limit);
// the announcement must not overflow from's tracking bounds.
func (e *Engine) announced(from conn, entries ...*pb.InventoryEntry) []*pb.InventoryEntry {
	out, o := e.missing(from, entries, 0)
	if o != session.OffenceNone {
		panic("announcement overflowed: " + o.String())
	}
	return out
}
