package node

import (
	"cmp"
	"slices"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// The peers-beacon consensus (PROTOCOL.md 8.5), as witnet-rust's chain manager computes it
// from the LastBeacons of its outbound peers once per epoch. This file holds the
// computation; consensus_loop.go runs it on the node's epochs.

// ConsensusThreshold is witnet-rust's consensus_c: the share of the votes, in percent, the
// most common beacon needs when another beacon has votes too.
const ConsensusThreshold = 60

// checkpoint is a CheckpointBeacon as a comparable value.
type checkpoint struct {
	epoch uint32
	hash  protocol.Hash
}

func checkpointOf(b *pb.CheckpointBeacon) checkpoint {
	var h protocol.Hash
	copy(h[:], b.GetHashPrevBlock().GetSHA256())
	return checkpoint{epoch: b.GetCheckpoint(), hash: h}
}

func (c checkpoint) pb() *pb.CheckpointBeacon { return protocol.NewCheckpointBeacon(c.epoch, c.hash) }

// vote is one outbound peer's beacon in a round; ok is false for a peer that sent none.
type vote struct {
	key          session.Key
	ok           bool
	block, super checkpoint
}

// votesOf turns the manager's collection into votes, in a fixed order (by key), so that
// ties break the same way every time.
func votesOf(pb session.PeerBeacons) []vote {
	out := make([]vote, 0, len(pb.Beacons)+len(pb.Missing))
	for k, b := range pb.Beacons {
		out = append(out, vote{key: k, ok: true, block: checkpointOf(b.GetHighestBlockCheckpoint()), super: checkpointOf(b.GetHighestSuperblockCheckpoint())})
	}
	for _, k := range pb.Missing {
		out = append(out, vote{key: k})
	}
	slices.SortFunc(out, func(a, b vote) int { return cmp.Compare(a.key.String(), b.key.String()) })
	return out
}

// choice is a vote for a checkpoint, or for "no beacon" (ok false).
type choice struct {
	ok bool
	c  checkpoint
}

// mode returns the most common choice, as witnet-rust's mode_consensus: none (found false)
// when another choice has votes too and the most common one has less than threshold % of
// all of them. Ties go to the choice seen first.
func mode(cs []choice, threshold int) (top choice, found bool) {
	if len(cs) == 0 {
		return choice{}, false
	}
	counts := map[choice]int{}
	var order []choice
	for _, c := range cs {
		if counts[c] == 0 {
			order = append(order, c)
		}
		counts[c]++
	}
	top = order[0]
	for _, c := range order[1:] {
		if counts[c] > counts[top] {
			top = c
		}
	}
	if len(order) >= 2 && counts[top]*100/len(cs) < threshold {
		return choice{}, false
	}
	return top, true
}

// round is the outcome of one epoch's consensus.
type round struct {
	// found says the beacons reached a superblock consensus; super and block are then the
	// majority's checkpoints, and blockConsensus says the block one reached the threshold
	// too (else it is the most common block among the peers of the majority superblock).
	found          bool
	super, block   checkpoint
	blockConsensus bool
	// drop are the outbound peers to disconnect (out of consensus, or without a beacon
	// when peers are dropped at all); noBeacon those among them that sent none; keep the
	// rest, the consensus ("safu") subset; atTip those whose beacon is the majority's
	// (block and superblock), whom a sync request goes to.
	drop, noBeacon, keep, atTip []session.Key
	// agreeing counts the peers whose beacon matches the majority, beacons the peers that
	// sent one and did not abstain, abstaining those that announced no block, slots the
	// votes counted (outbound slots but the abstaining peers', empty ones voting for no
	// beacon).
	agreeing, beacons, abstaining, slots int
}

// decide runs witnet-rust's peers-beacon consensus on votes with slots outbound slots (the
// outbound limit: empty slots count as votes for no beacon, so that a few peers cannot
// make a consensus alone). The majority superblock beacon needs ConsensusThreshold % of
// the slots; the peers that differ from the majority (in block, if the block beacon has a
// consensus too, else in superblock) or sent no beacon are dropped. Without a consensus,
// when at least ConsensusThreshold % of the slots are filled, every peer is dropped unless
// the node was synced, in which case only those that differ from last, the majority it
// last agreed with, are; with fewer peers nobody is.
//
// A peer whose beacon names no block (checkpoint 0: a witnet-p2p relay that stores none
// yet, or a network still at genesis) abstains: it is kept, and neither its vote nor its
// slot counts, so that relays that have nothing to offer yet neither outvote nor drop the
// peers that have.
func decide(votes []vote, slots int, synced bool, last checkpoint) round {
	var r round
	counted := votes[:0:0]
	for _, v := range votes {
		if v.ok && v.block.epoch == 0 {
			r.keep = append(r.keep, v.key)
			r.abstaining++
			continue
		}
		counted = append(counted, v)
	}
	votes, slots = counted, slots-r.abstaining
	r.slots = max(slots, len(votes))
	supers := make([]choice, 0, r.slots)
	for _, v := range votes {
		supers = append(supers, choice{ok: v.ok, c: v.super})
		if v.ok {
			r.beacons++
		}
	}
	supers = append(supers, make([]choice, r.slots-len(votes))...)
	differs := func(v vote) bool { return true }
	if top, found := mode(supers, ConsensusThreshold); found && top.ok {
		r.found, r.super = true, top.c
		blocks := make([]choice, len(votes))
		var agreeing []choice
		for i, v := range votes {
			if v.ok && v.super == r.super {
				blocks[i] = choice{ok: true, c: v.block}
				agreeing = append(agreeing, blocks[i])
			}
		}
		if b, found := mode(blocks, ConsensusThreshold); found && b.ok {
			r.block, r.blockConsensus = b.c, true
			differs = func(v vote) bool { return !v.ok || v.block != r.block }
		} else {
			b, _ := mode(agreeing, 0)
			r.block = b.c
			differs = func(v vote) bool { return !v.ok || v.super != r.super }
		}
	} else {
		needed := (max(slots, 1)*ConsensusThreshold + 99) / 100
		switch {
		case len(votes) < needed || len(votes) == 0:
			differs = func(vote) bool { return false }
		case synced:
			differs = func(v vote) bool { return !v.ok || v.block != last }
		}
	}
	for _, v := range votes {
		if differs(v) {
			r.drop = append(r.drop, v.key)
			if !v.ok {
				r.noBeacon = append(r.noBeacon, v.key)
			}
			continue
		}
		r.keep = append(r.keep, v.key)
		if r.found {
			r.agreeing++
			if v.block == r.block && v.super == r.super {
				r.atTip = append(r.atTip, v.key)
			}
		}
	}
	return r
}

// transportRound is the round of the outbound peers of one transport.
type transportRound struct {
	tr session.Transport
	round
}

// decision is an epoch's consensus: one round per transport the node has outbound peers
// on, plain TCP first, each counted against that transport's outbound slots; pref is the
// index of the round the node follows (-1 without votes): the first that found a
// majority, else the first.
//
// The transports are counted apart because their beacons differ in kind: a witnet-rust
// peer names the chain it validated, a witnet-p2p peer what it relayed and what its own
// peers agreed on (a relay that saw no witnet-rust consensus names the genesis
// superblock). In one count, a gateway's libp2p peers could outvote or drop its
// witnet-rust peers; apart, each side drops its own dissenters and the gateway follows
// the witnet-rust majority.
type decision struct {
	rounds []transportRound
	pref   int
}

// decideAll runs decide per transport; slots returns a transport's outbound slots.
func decideAll(votes []vote, slots func(session.Transport) int, synced bool, last checkpoint) decision {
	d := decision{pref: -1}
	for _, tr := range [...]session.Transport{session.TransportTCP, session.TransportLibp2p} {
		var mine []vote
		for _, v := range votes {
			if v.key.Transport() == tr {
				mine = append(mine, v)
			}
		}
		if len(mine) == 0 {
			continue
		}
		d.rounds = append(d.rounds, transportRound{tr: tr, round: decide(mine, slots(tr), synced, last)})
	}
	for i, r := range d.rounds {
		if r.found {
			d.pref = i
			break
		}
	}
	if d.pref < 0 && len(d.rounds) > 0 {
		d.pref = 0
	}
	return d
}

// followed returns the round the node follows, and false without votes.
func (d decision) followed() (transportRound, bool) {
	if d.pref < 0 || d.pref >= len(d.rounds) { // the zero decision has no rounds
		return transportRound{}, false
	}
	return d.rounds[d.pref], true
}

// union returns the keys pick selects from every round.
func (d decision) union(pick func(round) []session.Key) []session.Key {
	var out []session.Key
	for _, r := range d.rounds {
		out = append(out, pick(r.round)...)
	}
	return out
}

// majority returns the majority's LastBeacon, or nil without a consensus.
func (r round) majority() *pb.LastBeacon {
	if !r.found {
		return nil
	}
	return protocol.NewLastBeaconPB(r.block.pb(), r.super.pb())
}
