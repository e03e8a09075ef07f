package peers

import (
	crand "crypto/rand"
	"encoding/binary"
	"math/rand/v2"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Table geometry and index spreading (PROTOCOL.md 9.1, 9.2). Changing any of these moves every
// stored entry to a different slot, so they are not configurable.
const (
	// newBucketCount is the number of buckets in the new table.
	newBucketCount = 256
	// newBucketSize is the number of slots in each new bucket.
	newBucketSize = 64
	// triedBucketCount is the number of buckets in the tried table.
	triedBucketCount = 64
	// triedBucketSize is the number of slots in each tried bucket.
	triedBucketSize = 64
	// newBucketsPerSourceGroup is how many distinct new buckets the peers announced by one
	// source group can land in (the "i mod 32" of the new index).
	newBucketsPerSourceGroup = 32
	// triedBucketsPerGroup is how many distinct tried buckets the peers of one IP group can
	// land in (the "i mod 4" of the tried index).
	triedBucketsPerGroup = 4

	// NewCapacity is the number of slots of the new table.
	NewCapacity = newBucketCount * newBucketSize
	// TriedCapacity is the number of slots of the tried table.
	TriedCapacity = triedBucketCount * triedBucketSize
)

// Timing defaults (PROTOCOL.md 9.3 and 10).
const (
	// DefaultIcePeriod is how long a peer stays iced once the chain is bootstrapped
	// (witnet-rust bucketing_ice_period, 3600 s).
	DefaultIcePeriod = 3600 * time.Second
	// DefaultIcePeriodBeforeBootstrap is how long a peer stays iced while the chain is not
	// yet bootstrapped (hard-coded 1800 s in witnet-rust). Shorter, because a syncing node
	// needs peers more than it needs to punish them.
	DefaultIcePeriodBeforeBootstrap = 1800 * time.Second
	// DefaultUpdatePeriod is how long a tried slot is protected from being overwritten, and
	// after which a feeler may re-test its occupant (witnet-rust bucketing_update_period).
	DefaultUpdatePeriod = 300 * time.Second
	// MeltPeriod is how often the node should call Melt once bootstrapped (witnet-rust
	// check_melted_peers_period, 300 s).
	MeltPeriod = 300 * time.Second
	// MeltPeriodBeforeBootstrap is how often the node should call Melt before the chain is
	// bootstrapped (hard-coded 60 s in witnet-rust).
	MeltPeriodBeforeBootstrap = 60 * time.Second
)

// Bounds on what one entry may hold, so a hostile Peers message cannot make us store
// arbitrary amounts of data per slot.
const (
	// MaxAddrsPerPeer is the most multiaddrs kept for one entry; extra ones are dropped.
	MaxAddrsPerPeer = 8
	// maxMultiaddrLen is the longest multiaddr (in bytes) kept; longer ones are dropped.
	maxMultiaddrLen = 256
	// maxNewRefs is the most new slots one peer may occupy at once. Different sources put
	// the same peer in different buckets, which makes well-known peers likelier to be
	// picked, but a single peer must not crowd out the table.
	maxNewRefs = 8
	// MaxEntryBytes bounds the stored size of one entry: the fixed fields of a record,
	// a peer ID of at most 128 bytes and MaxAddrsPerPeer multiaddrs of at most 256 bytes.
	// With the fixed slot counts it bounds the tables: new + tried hold at most
	// (NewCapacity + TriedCapacity) × MaxEntryBytes ≈ 44 MiB in memory and on disk,
	// whatever peers send; real entries are about 100 bytes (2 MiB for full tables).
	MaxEntryBytes = 44 + 2 + maxIDLen + 1 + MaxAddrsPerPeer*(2+maxMultiaddrLen)
)

// Defaults of the hardening tunables (Config).
const (
	// DefaultAddrRate is how many gossiped addresses per second one source may have
	// processed, in the long run (Bitcoin Core's 0.1 addr/s per peer).
	DefaultAddrRate = 0.1
	// DefaultAddrBurst is the token bucket's size: a source may have this many addresses
	// processed at once, e.g. one full Peers reply (Bitcoin Core: 1000).
	DefaultAddrBurst = 1000
	// DefaultMaxIced bounds the ice bucket's records. Under identity churn (a new peer ID
	// per connection) the oldest records are evicted first; escalation (below) keeps the
	// churning IP out regardless.
	DefaultMaxIced = 10_000
	// DefaultMaxIceBytes bounds the stored bytes of the ice bucket.
	DefaultMaxIceBytes = 4 << 20
	// DefaultEscalateAfter is how many distinct peer IDs iced for their behaviour from
	// one network prefix ice the prefix itself (Lighthouse bans an IP after 5 banned
	// peers).
	DefaultEscalateAfter = 5
	// DefaultEscalateBits4 is the IPv4 prefix that escalation ices: the one address (/32).
	// A /24 would also catch a neighbour on a shared hosting range, while an attacker
	// rarely holds many IPv4 addresses; the per-range sybil rule limits those anyway.
	DefaultEscalateBits4 = 32
	// DefaultEscalateBits6 is the IPv6 prefix escalation ices: /48, the usual allocation
	// to one site, since any host can use every address of its /64 (and often /56 or /48)
	// for free.
	DefaultEscalateBits6 = 48
	// DefaultMaxIcedNets bounds the escalated prefixes kept.
	DefaultMaxIcedNets = 1024
	// DefaultMaxAdded bounds the operator-added table (JSON-RPC addPeers).
	DefaultMaxAdded = 256
	// DefaultAnnounceTTL is how long an address a peer announced for itself is shared in
	// Peers replies after we last heard it from the peer, and how long a relay address
	// stays in the new bucket without being heard of again or working: a circuit relay v2
	// reservation lasts one hour unless the private peer renews it.
	DefaultAnnounceTTL = time.Hour
	// MaxFailures is how many failed dials remove a third-party address that never
	// worked (Bitcoin Core's IsTerrible: 3 attempts and no success).
	MaxFailures = 3
	// MaxFailuresAfterSuccess is how many failed dials in a row remove an address that
	// once worked (Bitcoin Core: 10).
	MaxFailuresAfterSuccess = 10
	// RetryDelay is the wait after a first failed dial of an address before it is
	// offered again; each further failure doubles it, up to MaxRetryDelay.
	RetryDelay = time.Minute
	// MaxRetryDelay caps the retry delay.
	MaxRetryDelay = time.Hour
)

// Config tunes a Book. The zero value is usable: every field says what its zero means.
// Periods are used in whole seconds (rounded down), like witnet-rust's timestamps.
type Config struct {
	// Self is the local peer ID; addresses of it are never stored. Zero: no check.
	Self peer.ID

	// Now is the clock. Nil: time.Now. Timestamps are truncated to whole seconds.
	Now func() time.Time

	// Rand drives every random choice (bootstrap sampling, feeler picks). Nil: a ChaCha8
	// source seeded from crypto/rand. Tests inject a seeded source. The book uses it only
	// with its lock held, so it must not be shared. The secret key sk is always drawn from
	// crypto/rand, never from Rand.
	Rand rand.Source

	// IcePeriod is how long a peer stays iced once bootstrapped. Zero: DefaultIcePeriod.
	IcePeriod time.Duration

	// IcePeriodBeforeBootstrap is how long a peer stays iced before bootstrap.
	// Zero: DefaultIcePeriodBeforeBootstrap.
	IcePeriodBeforeBootstrap time.Duration

	// UpdatePeriod protects a freshly written tried slot. Zero: DefaultUpdatePeriod.
	UpdatePeriod time.Duration

	// Bootstrapped is the initial bootstrap state (see Book.SetBootstrapped). Zero: false.
	Bootstrapped bool

	// Policy decides which gossiped addresses are accepted (see AddrPolicy). Zero:
	// PolicySameScope.
	Policy AddrPolicy

	// AddrRate and AddrBurst are the per-source token bucket of gossiped addresses:
	// each address offered by a peer (Peers reply, Version sender address) takes a token;
	// without one the address is dropped and counted (Stats.RateLimited). Zero:
	// DefaultAddrRate and DefaultAddrBurst; a negative AddrRate turns the limit off.
	AddrRate  float64
	AddrBurst int

	// MaxIced and MaxIceBytes bound the ice bucket in records and stored bytes; the
	// record iced longest ago (the soonest to melt) is evicted first. Zero:
	// DefaultMaxIced and DefaultMaxIceBytes.
	MaxIced     int
	MaxIceBytes int

	// EscalateAfter is how many peer IDs iced for misbehaviour from one prefix
	// (EscalateBits4 / EscalateBits6) ice the prefix itself for the ice period: its
	// inbound connections are refused (IsIcedAddr) and its addresses not dialled. Zero:
	// DefaultEscalateAfter; negative: never.
	EscalateAfter int
	// EscalateBits4 and EscalateBits6 are the prefix lengths of escalation. Zero:
	// DefaultEscalateBits4 and DefaultEscalateBits6.
	EscalateBits4, EscalateBits6 int
	// EscalateLoopback lets escalation ice loopback prefixes too. By default loopback is
	// exempt: a local devnet's nodes share 127.0.0.1. Tests turn it on.
	EscalateLoopback bool
	// MaxIcedNets bounds the escalated prefixes; zero: DefaultMaxIcedNets.
	MaxIcedNets int

	// MaxAdded bounds the operator-added table; zero: DefaultMaxAdded.
	MaxAdded int

	// AnnounceTTL is how long a self-announced address is shared (Shared) after the peer
	// last announced it, and how long a relay address stays in the new bucket without
	// being heard of again (or working); zero: DefaultAnnounceTTL.
	AnnounceTTL time.Duration
}

// withDefaults returns a copy of c with zero fields replaced by their defaults.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		var seed [32]byte
		_, _ = crand.Read(seed[:]) // never fails on supported platforms (Go 1.24+ panics instead)
		c.Rand = rand.NewChaCha8(seed)
	}
	if c.IcePeriod <= 0 {
		c.IcePeriod = DefaultIcePeriod
	}
	if c.IcePeriodBeforeBootstrap <= 0 {
		c.IcePeriodBeforeBootstrap = DefaultIcePeriodBeforeBootstrap
	}
	if c.UpdatePeriod <= 0 {
		c.UpdatePeriod = DefaultUpdatePeriod
	}
	c.AddrRate = orDefault(c.AddrRate, DefaultAddrRate)
	c.AddrBurst = orDefault(c.AddrBurst, DefaultAddrBurst)
	c.MaxIced = orDefault(c.MaxIced, DefaultMaxIced)
	c.MaxIceBytes = orDefault(c.MaxIceBytes, DefaultMaxIceBytes)
	c.EscalateAfter = orDefault(c.EscalateAfter, DefaultEscalateAfter)
	c.EscalateBits4 = min(orDefault(c.EscalateBits4, DefaultEscalateBits4), 32)
	c.EscalateBits6 = min(orDefault(c.EscalateBits6, DefaultEscalateBits6), 128)
	c.MaxIcedNets = orDefault(c.MaxIcedNets, DefaultMaxIcedNets)
	c.MaxAdded = orDefault(c.MaxAdded, DefaultMaxAdded)
	c.AnnounceTTL = orDefault(c.AnnounceTTL, DefaultAnnounceTTL)
	return c
}

// randomSK draws a fresh secret key for the index functions.
func randomSK() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// orDefault returns def for a zero v.
func orDefault[T int | float64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}
