package session

import (
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// flags are the four handshake flags of PROTOCOL.md section 7.2.
type flags struct {
	versionTx, versionRx, verackTx, verackRx bool
}

// complete reports whether all four flags are set: the handshake is done.
func (f flags) complete() bool { return f.versionTx && f.versionRx && f.verackTx && f.verackRx }

// effect is one thing the session has to do after the state machine accepted a message.
// The machine decides; the session (dispatch.go) performs the effects that touch the
// network or the services.
type effect uint8

const (
	effNone effect = iota
	// effSendVerack: answer a Version with Verack.
	effSendVerack
	// effSendVersion: answer a Version with our own (inbound side).
	effSendVersion
	// effConsolidate: all four flags are set; consolidate (or, for a Feeler, report the
	// peer as good and close).
	effConsolidate
	// effRepeated: a Version or Verack arrived again during the handshake; log it.
	effRepeated
	// effUnexpected: the kind is not allowed in the current state; count, log, ignore.
	effUnexpected
	// effReplyPeers: answer GetPeers with Peers from the address book.
	effReplyPeers
	// effAcceptPeers: hand a solicited Peers list to the address book.
	effAcceptPeers
	// effAnswerAnnouncement: request the unknown blocks of an InventoryAnnouncement.
	effAnswerAnnouncement
	// effServeRequest: send the items of an InventoryRequest.
	effServeRequest
	// effDeliver: hand a Block, Transaction, SuperBlock or SuperBlockVote to the inventory.
	effDeliver
	// effOutboundBeacon: hand a LastBeacon to the manager (outbound session).
	effOutboundBeacon
	// effInboundBeacon: hand a LastBeacon to the chain (inbound session).
	effInboundBeacon
)

var effectNames = [...]string{
	"none", "send-verack", "send-version", "consolidate", "repeated", "unexpected",
	"reply-peers", "accept-peers", "answer-announcement", "serve-request", "deliver",
	"outbound-beacon", "inbound-beacon",
}

func (e effect) String() string {
	if int(e) < len(effectNames) {
		return effectNames[e]
	}
	return "effect(" + strconv.FormatUint(uint64(e), 10) + ")"
}

// maxEffects is the most effects one message can produce (a first Version on an inbound
// session: Verack, Version, then consolidation).
const maxEffects = 3

// effects is the short, ordered list of effects of one message, kept inline so that
// handling a message allocates nothing.
type effects struct {
	list [maxEffects]effect
	n    int
}

func (e *effects) add(x effect) { e.list[e.n] = x; e.n++ }

// Slice returns the effects in order (for tests and logs).
func (e *effects) slice() []effect { return e.list[:e.n] }

// rules are the fixed inputs of the state machine, resolved from Config once per session.
type rules struct {
	magic uint32
	// maxTSDiff is the allowed Version timestamp drift in seconds; 0 disables the check.
	maxTSDiff int64
	chain     Chain // never nil (a zero chain stands in)
	nonces    *NonceSet
}

// machine is the protocol state of one session: its type, status, handshake flags, the
// peer's Version and the count of Peers messages we asked for. The session's reader
// goroutine owns it, except expectedPeers, which GetPeers raises from any goroutine.
type machine struct {
	typ    Type
	status Status
	flags  flags
	// nonce is the nonce of the Version this session sent (0 before).
	nonce uint64
	// remote is the first Version the peer sent.
	remote *pb.Version
	// expectedPeers counts the GetPeers we sent whose Peers reply has not come yet,
	// saturating at 255 as witnet-rust's u8 counter does.
	expectedPeers atomic.Uint32
}

// maxExpectedPeers is where the expected-Peers counter saturates.
const maxExpectedPeers = 255

// expectPeers records one more GetPeers sent.
func (m *machine) expectPeers() {
	for {
		n := m.expectedPeers.Load()
		if n >= maxExpectedPeers || m.expectedPeers.CompareAndSwap(n, n+1) {
			return
		}
	}
}

// takeExpectedPeers consumes one expected Peers reply, reporting false if none was
// expected.
func (m *machine) takeExpectedPeers() bool {
	for {
		n := m.expectedPeers.Load()
		if n == 0 {
			return false
		}
		if m.expectedPeers.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// handle is the state machine: given the message msg of kind k received at now, it
// updates the handshake state and returns the effects to perform, or the error that ends
// the session (always carrying a Reason). Magic is checked first, for every message in
// every state; then one switch on (status, kind) decides, as the table of PROTOCOL.md 7.4.
// The machine never changes status itself: the session moves it to Consolidated once
// the manager accepted the consolidation.
func (m *machine) handle(msg *pb.Message, k protocol.Kind, now time.Time, r *rules) (effects, error) {
	var out effects
	if msg.GetMagic() != r.magic {
		return out, withCause(ReasonBadMagic, magicError(msg.GetMagic(), r.magic))
	}
	switch st := m.status; {
	case k == protocol.KindNone:
		return out, withCause(ReasonDecode, protocol.ErrNoCommand)

	case st == Unconsolidated && k == protocol.KindVersion:
		if m.flags.versionRx {
			out.add(effRepeated)
			return out, nil
		}
		v := msg.GetKind().GetVersion()
		if err := m.checkVersion(v, now, r); err != nil {
			return out, err
		}
		m.remote = v
		m.flags.versionRx = true
		if !m.flags.verackTx {
			m.flags.verackTx = true
			out.add(effSendVerack)
		}
		if !m.flags.versionTx {
			m.flags.versionTx = true
			out.add(effSendVersion)
		}
		if m.flags.complete() {
			out.add(effConsolidate)
		}

	case st == Unconsolidated && k == protocol.KindVerack:
		if m.flags.verackRx {
			out.add(effRepeated)
			return out, nil
		}
		m.flags.verackRx = true
		if m.flags.complete() {
			out.add(effConsolidate)
		}

	case st == Consolidated && k == protocol.KindGetPeers:
		out.add(effReplyPeers)

	case st == Consolidated && k == protocol.KindPeers:
		if !m.takeExpectedPeers() {
			return out, ReasonUnsolicitedPeers
		}
		out.add(effAcceptPeers)

	case st == Consolidated && k == protocol.KindInventoryAnnouncement:
		out.add(effAnswerAnnouncement)

	case st == Consolidated && k == protocol.KindInventoryRequest:
		out.add(effServeRequest)

	case st == Consolidated && (k == protocol.KindBlock || k == protocol.KindTransaction ||
		k == protocol.KindSuperBlock || k == protocol.KindSuperBlockVote):
		out.add(effDeliver)

	case st == Consolidated && k == protocol.KindLastBeacon && m.typ == Outbound:
		out.add(effOutboundBeacon)

	case st == Consolidated && k == protocol.KindLastBeacon && m.typ == Inbound:
		out.add(effInboundBeacon)

	default:
		// Handshake messages after consolidation, anything else before it, and
		// LastBeacon on a Feeler: ignored, as witnet-rust does, but counted.
		out.add(effUnexpected)
	}
	return out, nil
}

// checkVersion applies the checks on a first Version: self-connection (beyond
// witnet-rust), timestamp drift, and beacon compatibility for Outbound and Feeler
// sessions (PROTOCOL.md 7.2, in that order).
func (m *machine) checkVersion(v *pb.Version, now time.Time, r *rules) error {
	if n := v.GetNonce(); n != 0 && (n == m.nonce || (r.nonces != nil && r.nonces.Contains(n))) {
		return ReasonSelfConnection
	}
	if err := protocol.CheckTimestamp(v.GetTimestamp(), now.Unix(), r.maxTSDiff); err != nil {
		return withCause(ReasonTimestamp, err)
	}
	if m.typ == Inbound {
		return nil
	}
	epoch := r.chain.Epoch(now)
	err := protocol.CheckBeacon(r.chain.LastBeacon(), v.GetBeacon(), epoch, r.chain.SuperBlockTarget())
	if err == nil {
		return nil
	}
	var herr protocol.HandshakeError
	if errors.As(err, &herr) && !herr.Ices(epoch) {
		return withCause(ReasonBeaconSuperblockEpoch, err)
	}
	return withCause(ReasonBeacon, err)
}

// magicMismatch describes a wrong network magic.
type magicMismatch struct{ got, want uint32 }

func (e magicMismatch) Error() string {
	return "magic " + strconv.FormatUint(uint64(e.got), 10) + ", expected " + strconv.FormatUint(uint64(e.want), 10)
}

func magicError(got, want uint32) error { return magicMismatch{got: got, want: want} }
