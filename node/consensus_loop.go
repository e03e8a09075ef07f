package node

import (
	"context"
	"math/rand/v2"
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
//
// The loop also sends our LastBeacon to the inbound sessions, once per epoch (PROTOCOL.md
// 7.6): as soon as every outbound peer has sent its beacon of the round, so that a relay
// chain names the block and superblock they agree on (see preview), or a quarter into the
// epoch if some are missing; at once when the node has no outbound peer. witnet-rust
// sends at the start of the epoch, after it consolidated the previous epoch's block; a
// node without a chain learns that block from its outbound peers, and a witnet-rust peer
// that dialled us waits for our beacon (or the middle of the epoch) before it decides.
type beaconRounds struct {
	cfg     roundsConfig
	reports chan session.PeerBeacons // the manager's OnPeerBeacons, latest first
	grown   chan struct{}            // an outbound session consolidated
	kick    chan struct{}            // a block batch arrived: check the sync again

	mu      sync.Mutex
	open    uint32 // the epoch whose round may be decided as soon as it is complete
	done    uint32 // the last epoch decided, if anyDone
	anyDone bool
	sent    uint32 // the last epoch our beacon was sent in, if anySent
	anySent bool
	state   consensusState
	asked   syncAsk
}

// roundsConfig is what the rounds work with.
type roundsConfig struct {
	mgr    *session.Manager
	clock  session.Clock
	epochs protocol.EpochConstants
	chain  session.Chain // our beacon
	// stored reports whether a block is stored; tip returns the checkpoint of the highest
	// stored block of an epoch before the current one (inventory.Engine.BlockBeaconBefore).
	stored func(protocol.Hash) bool
	tip    func() *pb.CheckpointBeacon
	// follow, if not nil, is told the majority each time a round finds one (or is about
	// to: see preview); send sends our beacon to the inbound sessions (nil: not sent).
	follow func(block, super checkpoint)
	send   func(*pb.LastBeacon) int
	// ice ices a peer that sent no beacon.
	ice func(session.Peer)
	// tcpSlots is the plain-TCP outbound slots (the dialer's LegacyOutbound).
	tcpSlots int
}

// consensusState is what the last round found.
type consensusState struct {
	epoch    uint32
	decided  bool
	d        decision
	synced   bool
	lastSync checkpoint // the majority block we last held
	// ahead are the votes naming a block we lack above our tip, when the round found no
	// majority and dropped nobody (too few peers to judge): catch-up without consensus.
	ahead []vote
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
func (n *Node) newRounds(relay *RelayChain) *beaconRounds {
	cfg := roundsConfig{
		mgr: n.mgr, clock: n.cfg.clock, epochs: n.cfg.epochs, chain: n.chain,
		stored: n.stored,
		tip: func() *pb.CheckpointBeacon {
			return n.inv.BlockBeaconBefore(n.cfg.epochs.EpochAt(n.cfg.clock.Now().Unix()))
		},
		send: n.inv.SendBeacons, ice: n.sessionBook().Ice, tcpSlots: n.legacyOutbound(),
	}
	if relay != nil {
		cfg.follow = relay.follow
	}
	return newBeaconRounds(cfg)
}

// stored reports whether the inventory stores the item h.
func (n *Node) stored(h protocol.Hash) bool {
	ok, _ := n.inv.Store().Has(h)
	return ok
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
		if !b.waitUntil(ctx, time.Unix(start, 0).Add(time.Duration(period)*time.Second/4)) {
			return
		}
		b.sendBeacon(ep, true)
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
// the previous epoch) is decided now, and our beacon sent if the round is complete.
func (b *beaconRounds) started(ep uint32) {
	b.setOpen(ep)
	b.tryEarly()
}

// sendBeacon sends our LastBeacon to the inbound sessions, once in epoch ep: when force,
// or else once the round of ep has the beacon of every outbound peer (at once if there
// is none), after the chain was told the majority they make (preview).
func (b *beaconRounds) sendBeacon(ep uint32, force bool) {
	if b.sentIn(ep) {
		return
	}
	if !force {
		r, ok := b.cfg.mgr.PeerBeacons(ep)
		if !ok || len(r.Missing) > 0 {
			return
		}
		if len(r.Beacons) > 0 {
			b.preview(r)
		}
	}
	b.mu.Lock()
	if b.anySent && b.sent == ep {
		b.mu.Unlock()
		return
	}
	b.sent, b.anySent = ep, true
	b.mu.Unlock()
	if b.cfg.send == nil {
		return
	}
	lb := b.cfg.chain.LastBeacon()
	n := b.cfg.send(lb)
	log.Debugw("beacon sent to inbound peers", "epoch", ep, "peers", n, "complete_round", !force,
		"block_epoch", lb.GetHighestBlockCheckpoint().GetCheckpoint(), "superblock_epoch", lb.GetHighestSuperblockCheckpoint().GetCheckpoint())
}

func (b *beaconRounds) sentIn(ep uint32) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.anySent && b.sent == ep
}

// preview tells the chain the majority that r, complete but maybe not decided yet (the
// outbound slots are not full), makes: with every outbound peer counted, the decision at
// the middle of the epoch can only differ if a new peer arrives meanwhile.
func (b *beaconRounds) preview(r session.PeerBeacons) {
	if b.cfg.follow == nil {
		return
	}
	b.mu.Lock()
	prev := b.state
	b.mu.Unlock()
	if f, ok := decideAll(votesOf(r), b.slotsOf, prev.synced, prev.lastSync).followed(); ok && f.found {
		b.cfg.follow(f.block, f.super)
	}
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
	b.sendBeacon(ep, false)
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

// slots returns the outbound slots of the transports the votes come from: a round is
// complete once the beacons fill them (witnet-rust waits for as many as its outbound
// limit).
func (b *beaconRounds) slots(votes []vote) int {
	var seen [session.NumTransports]bool
	total := 0
	for _, v := range votes {
		if tr := v.key.Transport(); !seen[tr] {
			seen[tr] = true
			total += b.slotsOf(tr)
		}
	}
	return total
}

// slotsOf returns the outbound slots of one transport's round: its outbound limit
// (witnet-rust counts its outbound limit), so that a gateway whose libp2p side has no
// peers yet still decides on its witnet-rust peers' beacons.
func (b *beaconRounds) slotsOf(tr session.Transport) int {
	if tr == session.TransportTCP {
		return b.cfg.tcpSlots
	}
	_, out := b.cfg.mgr.Limits()
	return out
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
	d := decideAll(votes, b.slotsOf, prev.synced, prev.lastSync)
	noBeacon := d.union(func(r round) []session.Key { return r.noBeacon })
	for _, k := range noBeacon {
		if s, ok := mgr.LookupKey(k, session.Outbound); ok {
			b.cfg.ice(s.Peer())
		}
	}
	if drop := d.union(func(r round) []session.Key { return r.drop }); len(drop) > 0 {
		dropped := mgr.DropOutbound(drop)
		log.Infow("outbound peers out of the beacon consensus dropped", "epoch", r.Epoch, "dropped", dropped, "without_beacon", len(noBeacon))
	}
	if err := mgr.SetConsensus(d.union(func(r round) []session.Key { return r.keep })); err != nil {
		log.Debugw("consensus peers gone meanwhile", "err", err)
	}
	st := consensusState{epoch: r.Epoch, decided: true, d: d, lastSync: prev.lastSync}
	res, _ := d.followed()
	if res.found && res.blockConsensus && b.holds(res.block) {
		st.synced, st.lastSync = true, res.block
	}
	if !res.found && len(d.union(func(r round) []session.Key { return r.drop })) == 0 {
		st.ahead = b.stillAhead(votes)
	}
	b.mu.Lock()
	b.state, b.done, b.anyDone = st, r.Epoch, true
	b.mu.Unlock()
	if res.found && b.cfg.follow != nil {
		b.cfg.follow(res.block, res.super)
	}
	prevRes, _ := prev.d.followed()
	for _, tr := range d.rounds {
		logf := log.Debugw
		if tr.tr == res.tr && (st.synced != prev.synced || res.found != prevRes.found) {
			logf = log.Infow
		}
		logf("beacon consensus", "epoch", r.Epoch, "transport", tr.tr, "found", tr.found, "block_epoch", tr.block.epoch,
			"superblock_epoch", tr.super.epoch, "agreeing", tr.agreeing, "beacons", tr.beacons, "abstaining", tr.abstaining,
			"slots", tr.slots, "followed", tr.tr == res.tr, "synced", st.synced)
	}
	b.sync(st)
}

// sync asks for the blocks we miss, after a round or a block batch: from a peer at the
// majority's tip when the node follows a majority it is not synced with; without a
// majority, and too few peers to judge, from a peer whose beacon names a block we lack
// above our tip. The second is witnet-p2p's, so that relays catch up where their outbound
// slots are too few for a consensus (a small network, a devnet); a sync request only
// invites announcements, which any peer may send us anyway.
func (b *beaconRounds) sync(st consensusState) {
	res, _ := st.d.followed()
	switch {
	case res.found && !st.synced:
		b.askSync(st.epoch, res.atTip)
	case !res.found:
		if ahead := b.stillAhead(st.ahead); len(ahead) > 0 {
			keys := make([]session.Key, len(ahead))
			for i, v := range ahead {
				keys[i] = v.key
			}
			b.askSync(st.epoch, keys)
		}
	}
}

// stillAhead returns the votes that name a block we do not store above our tip.
func (b *beaconRounds) stillAhead(votes []vote) []vote {
	tip := b.ourBeacon().GetHighestBlockCheckpoint().GetCheckpoint()
	var out []vote
	for _, v := range votes {
		if v.ok && v.block.epoch > tip && !b.cfg.stored(v.block.hash) {
			out = append(out, v)
		}
	}
	return out
}

// checkSync runs after a block batch: if the node holds the majority's tip now, it is
// synced; else it asks for more.
func (b *beaconRounds) checkSync() {
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	res, _ := st.d.followed()
	if !st.decided || st.synced {
		return
	}
	if res.found && res.blockConsensus && b.holds(res.block) {
		b.mu.Lock()
		b.state.synced, b.state.lastSync = true, res.block
		b.mu.Unlock()
		log.Infow("synced with the beacon consensus", "block_epoch", res.block.epoch, "transport", res.tr)
		return
	}
	b.sync(st)
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

// askSync sends our LastBeacon to one of the outbound peers to (chosen at random), which
// answers with an announcement of the blocks after our tip (witnet-rust's
// request_blocks_batch, an Anycast to the consensus subset: see sync). It is sent again
// when a batch moved our tip, or after syncRetryEpochs epochs without one.
func (b *beaconRounds) askSync(ep uint32, to []session.Key) {
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
	for _, i := range rand.Perm(len(to)) {
		s, ok := b.cfg.mgr.LookupKey(to[i], session.Outbound)
		if !ok {
			continue
		}
		if err := s.SendLastBeacon(lb); err != nil {
			log.Debugw("sync request not sent", "peer", s.Peer(), "transport", s.Peer().Transport, "err", err)
			continue
		}
		log.Debugw("sync requested", "peer", s.Peer(), "transport", s.Peer().Transport, "our_block_epoch", tip.epoch)
		return
	}
	log.Debugw("sync request not sent: the peers to ask are gone", "epoch", ep)
}

// stats returns the consensus state for nodeStats, or nil before the first round.
func (b *beaconRounds) stats() *rpc.ConsensusStats {
	b.mu.Lock()
	st := b.state
	b.mu.Unlock()
	r, ok := st.d.followed()
	if !st.decided || !ok {
		return nil
	}
	out := &rpc.ConsensusStats{Epoch: st.epoch, Transport: r.tr.String(), Agreeing: r.agreeing, Beacons: r.beacons,
		Abstaining: r.abstaining, Slots: r.slots, Synced: st.synced}
	if r.found {
		out.Majority = &rpc.BeaconStats{
			LastBeaconStats: lastBeaconStats(protocol.NewLastBeaconPB(r.block.pb(), r.super.pb())),
			BlockConsensus:  r.blockConsensus,
		}
	}
	return out
}

// beaconStats returns the beacon the node announces now, for nodeStats.
func (n *Node) beaconStats() *rpc.LastBeaconStats {
	st := lastBeaconStats(n.chain.LastBeacon())
	return &st
}

// lastBeaconStats shows a LastBeacon in nodeStats.
func lastBeaconStats(b *pb.LastBeacon) rpc.LastBeaconStats {
	block, super := checkpointOf(b.GetHighestBlockCheckpoint()), checkpointOf(b.GetHighestSuperblockCheckpoint())
	return rpc.LastBeaconStats{BlockEpoch: block.epoch, BlockHash: block.hash.String(), SuperblockEpoch: super.epoch, SuperblockHash: super.hash.String()}
}
