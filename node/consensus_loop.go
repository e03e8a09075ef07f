package node

import (
	"context"
	"sync"
	"time"

	"github.com/witnet-p2p/witnet-p2p/node/dialer"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// syncRetryEpochs is how many epochs a sync request may go unanswered (no block batch
// moved our tip) before it is sent again: witnet-rust's wait for one block batch.
const syncRetryEpochs = 10

// beaconRounds runs the peers-beacon consensus on the node's epochs, as witnet-rust's
// sessions manager and chain manager do (PROTOCOL.md 8.5). The sessions manager collects
// the LastBeacon of every consolidated outbound peer from the middle of one epoch to the
// middle of the next (witnet-rust: "all the received beacons are assumed to be for the
// next epoch"); the round of epoch N is decided as soon as N has started and every
// outbound peer has sent its beacon, or else at the middle of N (witnet-rust's block
// mining time) with the silent peers voting for no beacon; as in witnet-rust, it is decided
// early only once the beacons fill the outbound slots. Then the peers out of
// consensus are dropped, the rest become the consensus subset, and, if the majority's
// tip is a block the node lacks, one consensus peer is sent our LastBeacon so that it
// announces the blocks we miss (witnet-rust's sync request, Anycast with safu).
//
// One difference: an outbound peer's Version carries its beacon, and it counts as the
// peer's beacon of the round in which the session consolidated, so that a peer that
// connected mid-epoch is not taken for a silent one.
type beaconRounds struct {
	cfg     roundsConfig
	reports chan session.PeerBeacons // the manager's OnPeerBeacons, latest first
	grown   chan struct{}            // an outbound session consolidated
	kick    chan struct{}            // a block batch arrived: check the sync again

	mu      sync.Mutex
	open    uint32 // the epoch whose round may be decided as soon as it is complete
	done    uint32 // the last epoch decided, if anyDone
	anyDone bool
	state   consensusState
	asked   syncAsk
}

// roundsConfig is what the rounds work with.
type roundsConfig struct {
	mgr    *session.Manager
	clock  session.Clock
	epochs protocol.EpochConstants
	magic  uint16
	chain  session.Chain // our beacon
	// stored reports whether a block is stored; tip returns the highest stored block's
	// checkpoint (inventory.Engine.BlockBeacon).
	stored func(protocol.Hash) bool
	tip    func() *pb.CheckpointBeacon
	// ice ices a peer that sent no beacon.
	ice func(session.Peer)
	// tcpSlots is the plain-TCP outbound slots (the dialer's LegacyOutbound).
	tcpSlots int
}

// consensusState is what the last round found.
type consensusState struct {
	epoch    uint32
	decided  bool
	r        round
	synced   bool
	lastSync checkpoint // the majority block we last held
}

// syncAsk is the last sync request.
type syncAsk struct {
	sent  bool
	epoch uint32
	tip   checkpoint // our tip when it was sent
}

func newBeaconRounds(cfg roundsConfig) *beaconRounds {
	return &beaconRounds{cfg: cfg, reports: make(chan session.PeerBeacons, 1), grown: make(chan struct{}, 1), kick: make(chan struct{}, 1)}
}

// newRounds builds the node's consensus rounds on its manager, chain and inventory.
func (n *Node) newRounds() *beaconRounds {
	return newBeaconRounds(roundsConfig{
		mgr: n.mgr, clock: n.cfg.clock, epochs: n.cfg.epochs, magic: n.cfg.magic, chain: n.chain,
		stored: func(h protocol.Hash) bool {
			ok, _ := n.inv.Store().Has(h)
			return ok
		},
		tip: n.inv.BlockBeacon, ice: n.sessionBook().Ice, tcpSlots: n.legacyOutbound(),
	})
}

// onPeerBeacons is the manager's OnPeerBeacons: it hands the report to the loop, never
// blocking (a newer report replaces one not taken yet).
func (b *beaconRounds) onPeerBeacons(r session.PeerBeacons) {
	for {
		select {
		case b.reports <- r:
			return
		default:
		}
		select {
		case <-b.reports:
		default:
		}
	}
}

// consolidated counts the Version beacon of a new outbound session as its beacon of the
// current round, and has the loop check whether the round is complete now.
func (b *beaconRounds) consolidated(s *session.Session) {
	if s.Type() != session.Outbound {
		return
	}
	if v := s.RemoteVersion(); v != nil && v.GetBeacon() != nil {
		b.cfg.mgr.OutboundBeacon(s, v.GetBeacon())
	}
	signal(b.grown)
}

// blocksArrived tells the loop that a block batch completed.
func (b *beaconRounds) blocksArrived() { signal(b.kick) }

// signal wakes the loop without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run is the loop; it returns when ctx is done.
func (b *beaconRounds) run(ctx context.Context) {
	epochs := b.cfg.epochs
	ep := epochs.EpochAt(b.cfg.clock.Now().Unix())
	b.cfg.mgr.BeginEpoch(ep)
	b.setOpen(ep)
	for {
		start, next := epochs.EpochStart(ep), epochs.EpochStart(ep+1)
		period := next - start
		if !b.waitUntil(ctx, time.Unix(start+period-period/2, 0)) {
			return
		}
		b.deadline(ep)
		if !b.waitUntil(ctx, time.Unix(next, 0)) {
			return
		}
		ep++
		b.started(ep)
	}
}

// waitUntil handles reports and kicks until t (on the node's clock); it reports false
// once ctx is done.
func (b *beaconRounds) waitUntil(ctx context.Context, t time.Time) bool {
	d := t.Sub(b.cfg.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	tick := make(chan struct{})
	timer := b.cfg.clock.AfterFunc(d, func() { close(tick) })
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick:
			return true
		case <-b.reports:
			b.tryEarly()
		case <-b.grown:
			b.tryEarly()
		case <-b.kick:
			b.checkSync()
		}
	}
}

func (b *beaconRounds) setOpen(ep uint32) {
	b.mu.Lock()
	b.open = ep
	b.mu.Unlock()
}

// isOpen reports whether the round of ep may be decided now: its epoch has started and
// it was not decided yet.
func (b *beaconRounds) isOpen(ep uint32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return ep == b.open && !(b.anyDone && b.done == ep)
}

// started runs at the start of epoch ep: a round completed before (in the second half of
// the previous epoch) is decided now.
func (b *beaconRounds) started(ep uint32) {
	b.setOpen(ep)
	b.tryEarly()
}

// tryEarly decides the open round if it is complete: every consolidated outbound peer sent
// a beacon, and they fill the outbound slots (witnet-rust waits for as many beacons as its
// outbound limit, else for the middle of the epoch).
func (b *beaconRounds) tryEarly() {
	b.mu.Lock()
	ep := b.open
	b.mu.Unlock()
	if !b.isOpen(ep) {
		return
	}
	r, ok := b.cfg.mgr.PeerBeacons(ep)
	if ok && len(r.Missing) == 0 && len(r.Beacons) > 0 && len(r.Beacons) >= b.slots(votesOf(r)) {
		b.decide(r)
	}
}

// deadline runs at the middle of epoch ep: the round is decided with what came, then the
// collection of the next one begins.
func (b *beaconRounds) deadline(ep uint32) {
	if b.isOpen(ep) {
		if r, ok := b.cfg.mgr.PeerBeacons(ep); ok && len(r.Beacons)+len(r.Missing) > 0 {
			b.decide(r)
		}
	}
	b.cfg.mgr.BeginEpoch(ep + 1)
}

// slots returns the outbound slots the votes are counted against: the outbound limit of
// each transport the node has outbound peers on (witnet-rust counts its outbound limit),
// so that a gateway whose libp2p side has no peers yet still decides on its witnet-rust
// peers' beacons.
func (b *beaconRounds) slots(votes []vote) int {
	var libp2p, tcp bool
	for _, v := range votes {
		if v.key.Transport() == session.TransportTCP {
			tcp = true
		} else {
			libp2p = true
		}
	}
	total := 0
	if libp2p {
		_, out := b.cfg.mgr.Limits()
		total += out
	}
	if tcp {
		total += b.cfg.tcpSlots
	}
	return total
}

// legacyOutbound is how many plain-TCP outbound sessions the dialer keeps.
func (n *Node) legacyOutbound() int {
	if lc := &n.cfg.legacy; lc.limitsSet {
		return lc.outbound
	}
	return dialer.DefaultLegacyOutbound
}

// decide decides the round r reports.
func (b *beaconRounds) decide(r session.PeerBeacons) {
	mgr := b.cfg.mgr
	votes := votesOf(r)
	b.mu.Lock()
	prev := b.state
	b.mu.Unlock()
	res := decide(votes, b.slots(votes), prev.synced, prev.lastSync)
	for _, k := range res.noBeacon {
		if s, ok := mgr.LookupKey(k, session.Outbound); ok {
			b.cfg.ice(s.Peer())
		}
	}
	if len(res.drop) > 0 {
		dropped := mgr.DropOutbound(res.drop)
		log.Infow("outbound peers out of the beacon consensus dropped", "epoch", r.Epoch, "dropped", dropped, "without_beacon", len(res.noBeacon))
	}
	if err := mgr.SetConsensus(res.keep); err != nil {
		log.Debugw("consensus peers gone meanwhile", "err", err)
	}
	st := consensusState{epoch: r.Epoch, decided: true, r: res, lastSync: prev.lastSync}
	if res.found && res.blockConsensus && b.holds(res.block) {
		st.synced, st.lastSync = true, res.block
	}
	b.mu.Lock()
	b.state, b.done, b.anyDone = st, r.Epoch, true
	b.mu.Unlock()
	logf := log.Debugw
	if st.synced != prev.synced || res.found != prev.r.found {
		logf = log.Infow
	}
	logf("beacon consensus", "epoch", r.Epoch, "found", res.found, "block_epoch", res.block.epoch, "agreeing", res.agreeing,
		"beacons", res.beacons, "abstaining", res.abstaining, "slots", res.slots, "synced", st.synced)
	if res.found && !st.synced {
		b.askSync(r.Epoch)
	}
}

// checkSync runs after a block batch: if the node holds the majority's tip now, it is
// synced; else it asks for more.
func (b *beaconRounds) checkSync() {
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if !st.decided || !st.r.found || st.synced {
		return
	}
	if st.r.blockConsensus && b.holds(st.r.block) {
		b.mu.Lock()
		b.state.synced, b.state.lastSync = true, st.r.block
		b.mu.Unlock()
		log.Infow("synced with the beacon consensus", "block_epoch", st.r.block.epoch)
		return
	}
	b.askSync(st.epoch)
}

// holds reports whether the node is at c: its chain's tip is c, or it stores the block c
// names.
func (b *beaconRounds) holds(c checkpoint) bool {
	return checkpointOf(b.cfg.chain.LastBeacon().GetHighestBlockCheckpoint()) == c || b.cfg.stored(c.hash)
}

// ourBeacon is the LastBeacon a sync request carries: the chain's, with the highest block
// the node stores if that is higher, so that the peer announces the blocks after it.
func (b *beaconRounds) ourBeacon() *pb.LastBeacon {
	lb := b.cfg.chain.LastBeacon()
	block := lb.GetHighestBlockCheckpoint()
	if tip := b.cfg.tip(); tip.GetCheckpoint() > block.GetCheckpoint() {
		block = tip
	}
	return protocol.NewLastBeaconPB(block, lb.GetHighestSuperblockCheckpoint())
}

// askSync sends our LastBeacon to one consensus peer, which answers with an announcement
// of the blocks after our tip (witnet-rust's request_blocks_batch). It is sent again when
// a batch moved our tip, or after syncRetryEpochs epochs without one.
func (b *beaconRounds) askSync(ep uint32) {
	lb := b.ourBeacon()
	tip := checkpointOf(lb.GetHighestBlockCheckpoint())
	b.mu.Lock()
	a := b.asked
	if a.sent && a.tip == tip && ep-a.epoch < syncRetryEpochs {
		b.mu.Unlock()
		return
	}
	b.asked = syncAsk{sent: true, epoch: ep, tip: tip}
	b.mu.Unlock()
	s, err := b.cfg.mgr.Anycast(protocol.NewLastBeacon(b.cfg.magic, lb), true)
	if err != nil {
		log.Debugw("sync request not sent", "err", err)
		return
	}
	log.Debugw("sync requested", "peer", s.Peer(), "transport", s.Peer().Transport, "our_block_epoch", tip.epoch)
}

// stats returns the consensus state for nodeStats, or nil before the first round.
func (b *beaconRounds) stats() *rpc.ConsensusStats {
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	if !st.decided {
		return nil
	}
	out := &rpc.ConsensusStats{Epoch: st.epoch, Agreeing: st.r.agreeing, Beacons: st.r.beacons, Abstaining: st.r.abstaining, Slots: st.r.slots, Synced: st.synced}
	if st.r.found {
		out.Majority = &rpc.BeaconStats{
			BlockEpoch: st.r.block.epoch, BlockHash: st.r.block.hash.String(),
			SuperblockEpoch: st.r.super.epoch, SuperblockHash: st.r.super.hash.String(),
			BlockConsensus: st.r.blockConsensus,
		}
	}
	return out
}
