package node

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The peers-beacon consensus: the computation against witnet-rust's own cases
// (chain_manager handlers tests peers_beacons_consensus_less_peers_than_outbound and
// test_superblock_consensus), then the rounds in virtual time.

func hashOfByte(b byte) protocol.Hash {
	var h protocol.Hash
	for i := range h {
		h[i] = b
	}
	return h
}

// Two superblocks and two blocks of the same epoch, as witnet-rust's tests use.
var (
	superA = checkpoint{0, hashOfByte(0x6b)}
	superB = checkpoint{0, hashOfByte(0xd4)}
	block1 = checkpoint{1, hashOfByte(0x11)}
	block2 = checkpoint{1, hashOfByte(0x12)}
)

// votesFor builds votes from (block, superblock) pairs; a zero pair is a peer without a
// beacon.
func votesFor(beacons ...[2]checkpoint) []vote {
	out := make([]vote, len(beacons))
	for i, b := range beacons {
		k := session.TCPKey(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(10001+i)))
		out[i] = vote{key: k, ok: b != [2]checkpoint{}, block: b[0], super: b[1]}
	}
	return out
}

func repeat(b [2]checkpoint, n int) [][2]checkpoint {
	out := make([][2]checkpoint, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestDecideWitnetRustCases(t *testing.T) {
	b1 := [2]checkpoint{block1, superA}  // beacon1 of the first test
	b2 := [2]checkpoint{block1, superB}  // beacon2: another superblock
	b1h := [2]checkpoint{block2, superA} // the second test's beacon2: same superblock, another block
	none := [2]checkpoint{}
	cat := func(parts ...[][2]checkpoint) (out [][2]checkpoint) {
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name      string
		slots     int
		beacons   [][2]checkpoint
		found     bool
		block     checkpoint
		blockCons bool
	}{
		{"no peers", 4, nil, false, checkpoint{}, false},
		{"one of four", 4, repeat(b1, 1), false, checkpoint{}, false},
		{"two of four", 4, repeat(b1, 2), false, checkpoint{}, false},
		{"two and one of four", 4, cat(repeat(b1, 2), repeat(b2, 1)), false, checkpoint{}, false},
		{"three of four", 4, repeat(b1, 3), true, block1, true},
		{"two and two", 4, cat(repeat(b1, 2), repeat(b2, 2)), false, checkpoint{}, false},
		{"three and one", 4, cat(repeat(b1, 3), repeat(b2, 1)), true, block1, true},
		{"four", 4, repeat(b1, 4), true, block1, true},
		{"8 and 4 blocks, one superblock", 12, cat(repeat(b1, 8), repeat(b1h, 4)), true, block1, true},
		{"7 and 5 blocks: no block consensus", 12, cat(repeat(b1, 7), repeat(b1h, 5)), true, block1, false},
		{"7 and 4 blocks and a silent peer", 12, cat(repeat(b1, 7), repeat(b1h, 4), repeat(none, 1)), true, block1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := decide(votesFor(tc.beacons...), tc.slots, false, checkpoint{})
			require.Equal(t, tc.found, r.found)
			if tc.found {
				require.Equal(t, superA, r.super)
				require.Equal(t, tc.block, r.block)
				require.Equal(t, tc.blockCons, r.blockConsensus)
			}
		})
	}
}

func TestDecideDrops(t *testing.T) {
	b1 := [2]checkpoint{block1, superA}
	b1h := [2]checkpoint{block2, superA}
	b2 := [2]checkpoint{block1, superB}
	none := [2]checkpoint{}

	// Block consensus: every peer on another block, or silent, is dropped.
	r := decide(votesFor(b1, b1, b1, b1h, none), 5, false, checkpoint{})
	require.True(t, r.found && r.blockConsensus)
	require.Len(t, r.keep, 3)
	require.Len(t, r.drop, 2)
	require.Len(t, r.noBeacon, 1)
	require.Equal(t, 3, r.agreeing)
	require.Equal(t, 4, r.beacons)

	// Superblock consensus only: those on the majority superblock stay, whatever block.
	r = decide(votesFor(b1, b1, b1h, b1h, b2), 5, false, checkpoint{})
	require.True(t, r.found)
	require.False(t, r.blockConsensus)
	require.Len(t, r.keep, 4)
	require.Len(t, r.drop, 1)

	// Peers that announce no block abstain: kept, their slots not counted, so that the
	// peers with a chain decide (three of three counted slots).
	genesis := [2]checkpoint{{0, hashOfByte(0x77)}, superA}
	r = decide(votesFor(genesis, genesis, genesis, b1, b1, b1h), 6, false, checkpoint{})
	require.True(t, r.found && r.blockConsensus)
	require.Equal(t, block1, r.block)
	require.Equal(t, [3]int{3, 3, 3}, [3]int{r.abstaining, r.slots, r.beacons})
	require.Len(t, r.keep, 5)
	require.Len(t, r.drop, 1)
	r = decide(votesFor(genesis, genesis), 12, false, checkpoint{})
	require.False(t, r.found)
	require.Empty(t, r.drop)
	require.Len(t, r.keep, 2)

	// No consensus with too few peers: nobody is dropped.
	r = decide(votesFor(b1, b2), 12, false, checkpoint{})
	require.False(t, r.found)
	require.Empty(t, r.drop)
	require.Len(t, r.keep, 2)

	// No consensus with enough peers: all are dropped, unless the node was synced: then
	// those that differ from the block it agreed with last.
	r = decide(votesFor(b1, b1, b2, b2), 4, false, checkpoint{})
	require.False(t, r.found)
	require.Len(t, r.drop, 4)
	r = decide(votesFor(b1, b1h, b2, none), 4, true, block1)
	require.Len(t, r.keep, 2, "block1 under either superblock")
	require.Len(t, r.drop, 2)
	require.Len(t, r.noBeacon, 1)
}

// TestDecideByTransport: a gateway counts its witnet-rust and its libp2p outbound peers
// apart, each against its transport's slots, and follows the witnet-rust majority. In one
// count the relays' beacons (another superblock: genesis, for relays that know none)
// would leave no consensus, and the gateway, past 60 % of its slots, would drop every
// peer.
func TestDecideByTransport(t *testing.T) {
	wr := [2]checkpoint{block1, superA}
	relay := [2]checkpoint{block2, superB}
	votes := votesFor(wr, wr, wr)
	for i, b := range [][2]checkpoint{relay, relay, relay, {block1, superB}} {
		votes = append(votes, vote{key: session.PeerKey(peer.ID(fmt.Sprintf("relay-%d", i))), ok: true, block: b[0], super: b[1]})
	}
	slots := func(session.Transport) int { return 4 }
	require.False(t, decide(votes, 8, false, checkpoint{}).found, "one count: no consensus")
	require.Len(t, decide(votes, 8, false, checkpoint{}).drop, 7, "and every peer dropped")

	d := decideAll(votes, slots, false, checkpoint{})
	require.Len(t, d.rounds, 2)
	f, ok := d.followed()
	require.True(t, ok)
	require.Equal(t, session.TransportTCP, f.tr)
	require.Equal(t, [2]checkpoint{block1, superA}, [2]checkpoint{f.block, f.super})
	require.Len(t, f.atTip, 3)
	lp := d.rounds[1]
	require.Equal(t, session.TransportLibp2p, lp.tr)
	require.True(t, lp.found && lp.blockConsensus)
	require.Equal(t, block2, lp.block)
	require.Len(t, d.union(func(r round) []session.Key { return r.drop }), 1, "the relay off its side's block")
	require.Len(t, d.union(func(r round) []session.Key { return r.keep }), 6)

	// Without a witnet-rust majority the node follows its libp2p peers'.
	d = decideAll(votes[3:], slots, false, checkpoint{})
	f, _ = d.followed()
	require.Equal(t, session.TransportLibp2p, f.tr)
	require.Equal(t, block2, f.block)
}

// roundsPeer is an outbound session of the node under test, and the remote end's chain.
type roundsPeer struct {
	local  *session.Session
	remote *session.Session
	chain  *recordingChain
}

// recordingChain is the remote peer's chain: it announces beacon and records the
// LastBeacons it gets on its inbound session (our sync requests).
type recordingChain struct {
	*StaticChain
	mu  sync.Mutex
	got []*pb.LastBeacon
}

func (c *recordingChain) InboundBeacon(_ *session.Session, b *pb.LastBeacon) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, b)
}

func (c *recordingChain) requests() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

type roundsHarness struct {
	t      *testing.T
	clock  *session.FakeClock
	epochs protocol.EpochConstants
	mgr    *session.Manager
	rounds *beaconRounds
	ours   *StaticChain

	mu       sync.Mutex
	iced     []session.Peer
	peers    int
	sent     []time.Time  // when our beacon was sent to the inbound sessions
	followed []checkpoint // the majority blocks the chain was told of
}

const roundsPeriod = 20 // seconds an epoch

func newRoundsHarness(t *testing.T, outbound int, ours checkpoint, stored map[protocol.Hash]bool) *roundsHarness {
	epochs := protocol.EpochConstants{CheckpointZeroTimestamp: 1_700_000_000, CheckpointsPeriod: roundsPeriod}
	h := &roundsHarness{t: t, epochs: epochs, clock: session.NewFakeClock(time.Unix(epochs.EpochStart(10)+1, 0))}
	h.ours = NewStaticChain(protocol.NewLastBeaconPB(ours.pb(), superA.pb()), epochs)
	h.rounds = newBeaconRounds(roundsConfig{
		clock: h.clock, epochs: epochs, chain: h.ours,
		stored: func(x protocol.Hash) bool { return stored[x] },
		tip:    func() *pb.CheckpointBeacon { return protocol.NewCheckpointBeacon(0, protocol.Hash{}) },
		ice: func(p session.Peer) {
			h.mu.Lock()
			h.iced = append(h.iced, p)
			h.mu.Unlock()
		},
		send: func(*pb.LastBeacon) int {
			h.mu.Lock()
			h.sent = append(h.sent, h.clock.Now())
			h.mu.Unlock()
			return 0
		},
		follow: func(block, _ checkpoint) {
			h.mu.Lock()
			h.followed = append(h.followed, block)
			h.mu.Unlock()
		},
	})
	h.mgr = session.NewManager(session.ManagerConfig{
		OutboundLimit: outbound, Clock: h.clock,
		OnConsolidated: h.rounds.consolidated, OnPeerBeacons: h.rounds.onPeerBeacons,
	})
	h.rounds.cfg.mgr = h.mgr
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); h.rounds.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = h.mgr.Close() })
	synctest.Wait()
	return h
}

// dial opens a consolidated outbound session to a peer whose chain announces block.
func (h *roundsHarness) dial(block checkpoint) *roundsPeer {
	h.mu.Lock()
	h.peers++
	id := peer.ID(fmt.Sprintf("peer-%d", h.peers))
	h.mu.Unlock()
	near, far := net.Pipe()
	rc := &recordingChain{StaticChain: NewStaticChain(protocol.NewLastBeaconPB(block.pb(), superA.pb()), h.epochs)}
	p := &roundsPeer{chain: rc}
	p.local = session.New(near, session.Peer{ID: id}, session.Outbound, session.Config{Clock: h.clock, Registry: h.mgr, Chain: h.ours})
	p.remote = session.New(far, session.Peer{ID: "us"}, session.Inbound, session.Config{Clock: h.clock, Chain: rc})
	p.remote.Start()
	p.local.Start()
	h.t.Cleanup(func() { p.local.Close(nil); p.remote.Close(nil) })
	synctest.Wait()
	require.Equal(h.t, session.Consolidated, p.local.Status())
	return p
}

// advanceTo moves the clock to t seconds into epoch ep.
func (h *roundsHarness) advanceTo(ep uint32, t int64) {
	synctest.Wait()
	h.clock.Set(time.Unix(h.epochs.EpochStart(ep)+t, 0))
	synctest.Wait()
}

func (h *roundsHarness) closed(p *roundsPeer) bool {
	select {
	case <-p.local.Done():
		return true
	default:
		return false
	}
}

// TestBeaconRounds: the round is decided as soon as every outbound peer has a beacon (the
// Version's at first); the peer out of consensus is dropped and the others become the
// consensus subset. A node that lacks the majority's block asks one of them for blocks.
// In the next epoch, one peer stays silent until the middle of the epoch: no consensus.
func TestBeaconRounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blockX := checkpoint{9, hashOfByte(0xaa)}
		blockY := checkpoint{9, hashOfByte(0xbb)}
		h := newRoundsHarness(t, 3, checkpoint{0, hashOfByte(1)}, nil)
		p1, p2 := h.dial(blockX), h.dial(blockX)
		require.Nil(t, h.rounds.stats(), "not decided before every outbound peer has a beacon")
		p3 := h.dial(blockY)

		st := h.rounds.stats()
		require.NotNil(t, st)
		require.Equal(t, uint32(10), st.Epoch)
		require.NotNil(t, st.Majority)
		require.Equal(t, blockX.epoch, st.Majority.BlockEpoch)
		require.Equal(t, blockX.hash.String(), st.Majority.BlockHash)
		require.Equal(t, [3]int{2, 3, 3}, [3]int{st.Agreeing, st.Beacons, st.Slots})
		require.False(t, st.Synced, "we do not hold the majority's block")
		require.True(t, h.closed(p3), "the peer out of consensus is dropped")
		require.False(t, h.closed(p1) || h.closed(p2))
		require.ElementsMatch(t, []session.Key{p1.local.Key(), p2.local.Key()}, h.mgr.ConsensusPeers())
		require.Equal(t, 1, p1.chain.requests()+p2.chain.requests(), "one consensus peer got our sync request")

		// Epoch 11: p1 sends its beacon at the start, p2 stays silent.
		h.advanceTo(11, 0)
		require.NoError(t, p1.remote.SendLastBeacon(protocol.NewLastBeaconPB(blockX.pb(), superA.pb())))
		synctest.Wait()
		require.Equal(t, uint32(10), h.rounds.stats().Epoch, "undecided while p2 is missing")
		h.advanceTo(11, roundsPeriod/2)
		st = h.rounds.stats()
		require.Equal(t, uint32(11), st.Epoch)
		require.Nil(t, st.Majority, "one beacon of three slots is no consensus")
		require.Equal(t, 1, st.Beacons)
		// Two of three slots are enough to judge, and the node is not synced: as
		// witnet-rust ("lack of peer consensus"), every peer is dropped; the silent one
		// is iced too.
		require.True(t, h.closed(p1))
		require.True(t, h.closed(p2))
		h.mu.Lock()
		defer h.mu.Unlock()
		require.Len(t, h.iced, 1)
		require.Equal(t, p2.local.Peer().ID, h.iced[0].ID)
	})
}

// TestBeaconRoundsSynced: a node that holds the majority's block is synced and sends no
// sync request; once synced, a round without consensus drops the peers that left the
// block it agreed with, and ices the silent ones.
func TestBeaconRoundsSynced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blockX := checkpoint{9, hashOfByte(0xaa)}
		h := newRoundsHarness(t, 2, checkpoint{0, hashOfByte(1)}, map[protocol.Hash]bool{blockX.hash: true})
		p1, p2 := h.dial(blockX), h.dial(blockX)
		st := h.rounds.stats()
		require.True(t, st.Synced)
		require.Equal(t, [2]int{2, 2}, [2]int{st.Agreeing, st.Slots})
		require.Zero(t, p1.chain.requests()+p2.chain.requests(), "a synced node asks for nothing")

		h.advanceTo(11, 0)
		require.NoError(t, p1.remote.SendLastBeacon(protocol.NewLastBeaconPB(blockX.pb(), superA.pb())))
		h.advanceTo(11, roundsPeriod/2)
		require.False(t, h.closed(p1))
		require.True(t, h.closed(p2), "silent at the middle of the epoch: dropped")
		h.mu.Lock()
		defer h.mu.Unlock()
		require.Len(t, h.iced, 1)
		require.Equal(t, p2.local.Peer().ID, h.iced[0].ID, "and iced, as witnet-rust does")
	})
}

// sentAt returns the offsets into their epochs at which our beacon was sent, by epoch.
func (h *roundsHarness) sentAt() map[uint32][]time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[uint32][]time.Duration{}
	for _, at := range h.sent {
		ep := h.epochs.EpochAt(at.Unix())
		out[ep] = append(out[ep], at.Sub(time.Unix(h.epochs.EpochStart(ep), 0)))
	}
	return out
}

func (h *roundsHarness) followedBlocks() []checkpoint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]checkpoint(nil), h.followed...)
}

// TestBeaconSentOncePerEpoch: our beacon goes to the inbound sessions once per epoch, as
// soon as every outbound peer has sent its beacon of the round (after the chain was told
// the majority they make, even while the round waits for the middle of the epoch because
// the slots are not full), else a quarter into the epoch.
func TestBeaconSentOncePerEpoch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		blockX := checkpoint{9, hashOfByte(0xaa)}
		blockY := checkpoint{10, hashOfByte(0xab)}
		h := newRoundsHarness(t, 3, checkpoint{0, hashOfByte(1)}, nil)
		p1 := h.dial(blockX)
		// Epoch 10, one second in: p1's Version beacon makes the round complete, our
		// beacon goes out; p2's arrives after it, and is not followed by another.
		require.Equal(t, map[uint32][]time.Duration{10: {time.Second}}, h.sentAt())
		p2 := h.dial(blockX)
		require.Len(t, h.sentAt()[10], 1)
		require.Empty(t, h.followedBlocks(), "one beacon of three slots is no majority")
		h.advanceTo(10, roundsPeriod/2)
		require.Equal(t, blockX.epoch, h.rounds.stats().Majority.BlockEpoch, "two of three at the middle")
		require.Equal(t, []checkpoint{blockX}, h.followedBlocks())

		// Epoch 11: nothing at the start (both peers missing), then the second beacon
		// completes the round three seconds in: the chain follows the majority it makes
		// (the slots are not full, the round waits for the middle) and our beacon goes.
		h.advanceTo(11, 0)
		require.NoError(t, p1.remote.SendLastBeacon(protocol.NewLastBeaconPB(blockY.pb(), superA.pb())))
		synctest.Wait()
		require.Empty(t, h.sentAt()[11])
		h.advanceTo(11, 3)
		require.NoError(t, p2.remote.SendLastBeacon(protocol.NewLastBeaconPB(blockY.pb(), superA.pb())))
		synctest.Wait()
		require.Equal(t, []time.Duration{3 * time.Second}, h.sentAt()[11])
		require.Equal(t, []checkpoint{blockX, blockY}, h.followedBlocks())
		require.Equal(t, uint32(10), h.rounds.stats().Epoch, "round 11 not decided yet")
		h.advanceTo(11, roundsPeriod-1)
		require.Len(t, h.sentAt()[11], 1, "once per epoch")
		require.Equal(t, uint32(11), h.rounds.stats().Epoch)

		// Epoch 12: p2 stays silent: sent a quarter in.
		h.advanceTo(12, 0)
		require.NoError(t, p1.remote.SendLastBeacon(protocol.NewLastBeaconPB(blockY.pb(), superA.pb())))
		h.advanceTo(12, roundsPeriod/4-1)
		require.Len(t, h.sentAt()[12], 0)
		h.advanceTo(12, roundsPeriod/4)
		require.Equal(t, []time.Duration{roundsPeriod / 4 * time.Second}, h.sentAt()[12])
	})
}
