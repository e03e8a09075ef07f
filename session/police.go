package session

import (
	"math"
	"strconv"
	"time"

	"github.com/witnet-p2p/witnet-p2p/codec"
)

// What a session tolerates from its peer, beyond the protocol's own failure rules
// (PROTOCOL.md 7.3). witnet-rust ignores unexpected messages for ever and has no rate limits;
// a public peer needs both, so that one peer can neither keep a session busy with noise
// nor take more than its share of the node. The model is btcd's ban score: offences add
// points to a score that decays with time, and a session whose score reaches the
// threshold ends with ReasonMisbehaviour, which ices the peer.

// Default budgets and scoring, applied to zero Config fields. They are generous: an
// honest peer answering a 500-block InventoryRequest, or pushing a burst of votes at an
// epoch boundary, stays far below them.
const (
	// DefaultMessageRate is the sustained number of messages per second a peer may send.
	DefaultMessageRate = 1000
	// DefaultMessageBurst is how many messages a peer may send at once above that rate.
	DefaultMessageBurst = 10_000
	// DefaultByteRate is the sustained number of frame bytes per second a peer may send.
	DefaultByteRate = 16 << 20
	// DefaultByteBurst is how many frame bytes a peer may send at once above that rate
	// (never less than one frame of the largest size).
	DefaultByteBurst = 64 << 20
	// DefaultMisbehaviourThreshold is the score at which a session ends.
	DefaultMisbehaviourThreshold = 100
	// DefaultGetPeersInterval is how often a peer's GetPeers is answered once its first
	// getPeersBurst were. witnet-rust asks one peer every 30 s.
	DefaultGetPeersInterval = time.Second
)

const (
	// scoreUnexpected is what one ignored message costs (OffenceUnexpected): a hundred in
	// a row end the session.
	scoreUnexpected = 1
	// scoreHalfLife is how fast the score decays: it halves every minute, as btcd's
	// decaying ban score does, so that the rare stray message of a long-lived honest peer
	// never adds up.
	scoreHalfLife = time.Minute
	// scoreAnnouncementOverflow is what one announcement beyond the inventory's tracking
	// bound costs (OffenceAnnouncementOverflow): ten in a row end the session.
	scoreAnnouncementOverflow = 10
	// getPeersBurst is how many GetPeers are answered at once before GetPeersInterval
	// applies. Each answer may carry thousands of addresses (PROTOCOL.md 13.5), so an
	// unthrottled GetPeers is a bandwidth amplifier.
	getPeersBurst = 4
)

// Offence is a kind of misbehaviour a session scores.
type Offence uint8

// Offences. Protocol violations that witnet-rust already punishes keep their own Reason
// (a list above the protocol's limits fails decoding, ReasonDecode; an unsolicited Peers
// is ReasonUnsolicitedPeers): both end the session at once and ice the peer.
const (
	// OffenceNone is the zero value; nothing is scored for it.
	OffenceNone Offence = iota
	// OffenceUnexpected: a message the protocol says to ignore in the session's state
	// (PROTOCOL.md 7.4), such as anything but Version and Verack before the handshake, or a
	// repeated Version. It is still ignored; it costs 1 point.
	OffenceUnexpected
	// OffenceMessageBudget: the peer sent messages faster than Config.MessageRate and
	// MessageBurst allow. It reaches the threshold at once.
	OffenceMessageBudget
	// OffenceByteBudget: the peer sent frame bytes faster than Config.ByteRate and
	// ByteBurst allow. It reaches the threshold at once.
	OffenceByteBudget
	// OffenceAnnouncementOverflow: the peer announced entries beyond what the inventory
	// tracks for one peer (see AnnouncedBy); those entries were ignored. It costs
	// scoreAnnouncementOverflow points: an honest peer relaying a very large burst may
	// overflow now and then, a peer announcing without end is dropped after a few.
	OffenceAnnouncementOverflow
	// OffenceUnsolicitedBudget: the peer pushed items nobody asked it for faster than the
	// inventory's budget for one peer allows (see Inventory.Received). It reaches the
	// threshold at once.
	OffenceUnsolicitedBudget
	// OffenceServeBacklog: the peer asked for more items than the session keeps waiting
	// to be served (Config.MaxServeBacklog). It reaches the threshold at once.
	OffenceServeBacklog

	// NumOffences is the number of Offence values, for arrays indexed by Offence.
	NumOffences
)

var offenceNames = [NumOffences]string{
	OffenceNone:                 "none",
	OffenceUnexpected:           "message not allowed in this state",
	OffenceMessageBudget:        "message budget exceeded",
	OffenceByteBudget:           "byte budget exceeded",
	OffenceAnnouncementOverflow: "too many announced entries tracked",
	OffenceUnsolicitedBudget:    "unsolicited item budget exceeded",
	OffenceServeBacklog:         "request backlog exceeded",
}

// String names the offence.
func (o Offence) String() string {
	if o < NumOffences {
		return offenceNames[o]
	}
	return "offence(" + strconv.FormatUint(uint64(o), 10) + ")"
}

// MisbehaviourError is the cause wrapped in a ReasonMisbehaviour end: the offence that
// took the score to the threshold.
type MisbehaviourError struct {
	// Offence is the last offence.
	Offence Offence
	// Score is the score after it, rounded down; Threshold the limit it reached.
	Score, Threshold int
}

// Error describes the offence and the score.
func (e *MisbehaviourError) Error() string {
	return e.Offence.String() + " (score " + strconv.Itoa(e.Score) + " of " + strconv.Itoa(e.Threshold) + ")"
}

// TokenBucket is a token bucket: it holds at most burst tokens and gains rate tokens per
// second of clock time. A non-positive rate means no limit. The sessions' budgets are
// TokenBuckets, and so is the inventory's budget of unsolicited items. It is not safe for
// concurrent use.
type TokenBucket struct {
	rate, burst, tokens float64
	last                time.Time // when tokens was last brought up to date
}

// NewTokenBucket returns a full bucket of burst tokens that gains rate tokens per second.
func NewTokenBucket(rate, burst float64) TokenBucket {
	return TokenBucket{rate: rate, burst: burst, tokens: burst}
}

// Take removes n tokens at time now, reporting false (and removing nothing) if there
// are not enough.
func (b *TokenBucket) Take(now time.Time, n float64) bool {
	if b.rate <= 0 {
		return true
	}
	if d := now.Sub(b.last); b.last.IsZero() || d < 0 {
		b.last = now
	} else if d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// police is a session's budgets and misbehaviour score. The reader goroutine owns it.
type police struct {
	msgs, bytes, getPeers TokenBucket
	threshold             float64 // 0: offences never end the session
	score                 float64
	scoredAt              time.Time
}

// newPolice builds the budgets and score of a session from cfg (defaults applied).
func newPolice(cfg *Config) police {
	p := police{
		msgs:     NewTokenBucket(cfg.MessageRate, float64(cfg.MessageBurst)),
		bytes:    NewTokenBucket(cfg.ByteRate, float64(cfg.ByteBurst)),
		getPeers: NewTokenBucket(0, getPeersBurst),
	}
	if cfg.GetPeersInterval > 0 {
		p.getPeers.rate = 1 / cfg.GetPeersInterval.Seconds()
	}
	if cfg.MisbehaviourThreshold > 0 {
		p.threshold = float64(cfg.MisbehaviourThreshold)
	}
	return p
}

// points returns what offence o costs.
func (p police) points(o Offence) float64 {
	switch o {
	case OffenceUnexpected:
		return scoreUnexpected
	case OffenceAnnouncementOverflow:
		return scoreAnnouncementOverflow
	case OffenceMessageBudget, OffenceByteBudget, OffenceUnsolicitedBudget, OffenceServeBacklog:
		return max(p.threshold, 1)
	}
	return 0
}

// add scores offence o at time now and returns the new score, decayed since the last
// offence.
func (p *police) add(now time.Time, o Offence) float64 {
	if d := now.Sub(p.scoredAt); !p.scoredAt.IsZero() && d > 0 {
		p.score *= math.Exp2(-d.Seconds() / scoreHalfLife.Seconds())
	}
	p.scoredAt = now
	p.score += p.points(o)
	return p.score
}

// charge takes one received frame of payloadLen bytes from the budgets; it returns the
// offence if either is exhausted.
func (p *police) charge(now time.Time, payloadLen int) Offence {
	if !p.msgs.Take(now, 1) {
		return OffenceMessageBudget
	}
	if !p.bytes.Take(now, float64(payloadLen+codec.HeaderSize)) {
		return OffenceByteBudget
	}
	return OffenceNone
}

// offend records offence o at time now. It returns the error that ends the session
// once the score reaches the threshold, else nil. It runs on the reader.
func (s *Session) offend(now time.Time, o Offence) error {
	s.stats.offences[o].Add(1)
	score := s.police.add(now, o)
	if t := s.police.threshold; t > 0 && score >= t {
		return withCause(ReasonMisbehaviour, &MisbehaviourError{Offence: o, Score: int(score), Threshold: int(t)})
	}
	s.log.Debugw("peer misbehaved", "offence", o, "score", score)
	return nil
}

// policeDefaults applies the budget and scoring defaults to cfg.
func policeDefaults(cfg *Config) {
	if cfg.MessageRate == 0 {
		cfg.MessageRate = DefaultMessageRate
	}
	if cfg.MessageBurst <= 0 {
		cfg.MessageBurst = DefaultMessageBurst
	}
	if cfg.ByteRate == 0 {
		cfg.ByteRate = DefaultByteRate
	}
	if cfg.ByteBurst <= 0 {
		cfg.ByteBurst = DefaultByteBurst
	}
	// One frame of the largest size must always fit.
	cfg.ByteBurst = max(cfg.ByteBurst, cfg.MaxFrameSize+codec.HeaderSize)
	if cfg.MisbehaviourThreshold == 0 {
		cfg.MisbehaviourThreshold = DefaultMisbehaviourThreshold
	}
	if cfg.GetPeersInterval == 0 {
		cfg.GetPeersInterval = DefaultGetPeersInterval
	}
}
