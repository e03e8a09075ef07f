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
	return c
}

// randomSK draws a fresh secret key for the index functions.
func randomSK() uint64 {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}
