package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// Defaults of the relay service (circuit relay v2) a publicly reachable node runs for
// private peers. A relayed connection only has to carry the hole-punch coordination and
// libp2p's identify, so the per-circuit bounds are libp2p's (2 min, 128 KiB each way);
// Witnet sessions never run over it.
const (
	// DefaultRelayReservations bounds the reservations held at once, node-wide.
	DefaultRelayReservations = 128
	// DefaultRelayReservationsPerIP bounds the reservations of peers behind one IP
	// address (several nodes behind one home router are legitimate, hundreds are not).
	DefaultRelayReservationsPerIP = 8
	// DefaultRelayCircuitsPerPeer bounds the relayed connections open at once from, and
	// to, one peer.
	DefaultRelayCircuitsPerPeer = 16
	// DefaultRelayCircuitBytes bounds the bytes relayed in each direction of one relayed
	// connection; the relay resets the connection beyond it.
	DefaultRelayCircuitBytes = 128 << 10
	// DefaultRelayCircuitDuration bounds the life of one relayed connection.
	DefaultRelayCircuitDuration = 2 * time.Minute
	// DefaultRelayReservationTTL is how long a reservation lasts unless refreshed.
	DefaultRelayReservationTTL = time.Hour
	// DefaultRelayBufferBytes is the copy buffer of each direction of a relayed
	// connection, so the relay's memory is at most 2 x this per open circuit.
	DefaultRelayBufferBytes = 2048
)

// Defaults of the relay client (autorelay) of a node that finds itself private.
const (
	// DefaultRelaysWanted is the number of relays a private node keeps a reservation
	// with, so that one relay going away leaves it reachable.
	DefaultRelaysWanted = 2
	// DefaultRelayCandidates is how many candidate relays the node collects before it
	// reserves, unless DefaultRelayBootDelay passed first.
	DefaultRelayCandidates = 2
	// DefaultRelayBootDelay is how long the node waits for DefaultRelayCandidates
	// candidates before reserving with what it has.
	DefaultRelayBootDelay = 20 * time.Second
	// DefaultRelayBackoff is how long a relay that refused a reservation is left alone.
	DefaultRelayBackoff = 5 * time.Minute
	// DefaultRelayCandidateInterval separates two looks at the sessions for relay
	// candidates.
	DefaultRelayCandidateInterval = 10 * time.Second
)

// Defaults of hole punching.
const (
	// DefaultHolePunchWait bounds how long a session dial that reached its peer only
	// through a relay waits for the direct connection hole punching makes. It covers
	// the peer's direct dial attempt and its three hole-punch attempts, each bounded by
	// DefaultHolePunchDialTimeout.
	DefaultHolePunchWait = 30 * time.Second
	// DefaultHolePunchDialTimeout bounds one direct dial or hole-punch attempt (libp2p's
	// default is 10 s; a punch that works takes about one round trip).
	DefaultHolePunchDialTimeout = 5 * time.Second
)

// RelayLimits bound the relay service: what a reservation costs the node and what one
// relayed connection may carry. A peer asking for more is refused; a connection that
// carries more is reset.
type RelayLimits struct {
	// Reservations bounds the reservations held at once, node-wide.
	Reservations int
	// ReservationsPerIP bounds the reservations of the peers behind one IP address.
	ReservationsPerIP int
	// CircuitsPerPeer bounds the relayed connections open at once from, and to, one
	// peer.
	CircuitsPerPeer int
	// CircuitBytes bounds the bytes relayed in each direction of one connection.
	CircuitBytes int64
	// CircuitDuration bounds the life of one relayed connection.
	CircuitDuration time.Duration
	// ReservationTTL is how long a reservation lasts unless refreshed.
	ReservationTTL time.Duration
	// BufferBytes is the copy buffer of each direction of a relayed connection.
	BufferBytes int
}

// DefaultRelayLimits returns the Default* relay limits above.
func DefaultRelayLimits() RelayLimits {
	return RelayLimits{
		Reservations:      DefaultRelayReservations,
		ReservationsPerIP: DefaultRelayReservationsPerIP,
		CircuitsPerPeer:   DefaultRelayCircuitsPerPeer,
		CircuitBytes:      DefaultRelayCircuitBytes,
		CircuitDuration:   DefaultRelayCircuitDuration,
		ReservationTTL:    DefaultRelayReservationTTL,
		BufferBytes:       DefaultRelayBufferBytes,
	}
}

// validate checks that every limit is positive.
func (l RelayLimits) validate() error {
	if l.Reservations <= 0 || l.ReservationsPerIP <= 0 || l.CircuitsPerPeer <= 0 || l.CircuitBytes <= 0 ||
		l.CircuitDuration <= 0 || l.ReservationTTL <= 0 || l.BufferBytes <= 0 {
		return fmt.Errorf("relay limits %+v: every limit must be positive", l)
	}
	return nil
}

// RelayClientConfig tunes how a private node picks relays among its session peers.
type RelayClientConfig struct {
	// Relays is the number of relays to hold a reservation with.
	Relays int
	// Candidates is how many candidates to collect before reserving, unless BootDelay
	// passed first.
	Candidates int
	// BootDelay is how long to wait for Candidates candidates.
	BootDelay time.Duration
	// Backoff is how long a relay that refused a reservation is left alone.
	Backoff time.Duration
	// CandidateInterval separates two looks at the sessions for candidates.
	CandidateInterval time.Duration
}

// DefaultRelayClientConfig returns the Default* relay client settings above.
func DefaultRelayClientConfig() RelayClientConfig {
	return RelayClientConfig{
		Relays:            DefaultRelaysWanted,
		Candidates:        DefaultRelayCandidates,
		BootDelay:         DefaultRelayBootDelay,
		Backoff:           DefaultRelayBackoff,
		CandidateInterval: DefaultRelayCandidateInterval,
	}
}

func (c RelayClientConfig) validate() error {
	if c.Relays <= 0 || c.Candidates <= 0 || c.BootDelay < 0 || c.Backoff <= 0 || c.CandidateInterval <= 0 {
		return fmt.Errorf("relay client %+v: counts and periods must be positive", c)
	}
	return nil
}

// natConfig is what the NAT options set.
type natConfig struct {
	relayService bool
	relayLimits  RelayLimits
	relayClient  RelayClientConfig
	portMap      bool

	holePunchWait        time.Duration
	holePunchDialTimeout time.Duration

	// reachability, unless unknown, replaces AutoNAT's verdict (tests on loopback,
	// where AutoNAT never decides).
	reachability network.Reachability
}

func defaultNATConfig() natConfig {
	return natConfig{
		relayService:         true,
		relayLimits:          DefaultRelayLimits(),
		relayClient:          DefaultRelayClientConfig(),
		holePunchWait:        DefaultHolePunchWait,
		holePunchDialTimeout: DefaultHolePunchDialTimeout,
	}
}

// WithRelayService sets whether the node runs the relay service (circuit relay v2) for
// private peers while it is publicly reachable, and its limits. Default: on, with
// DefaultRelayLimits. Off, a public node still relays nothing and private peers look
// for other relays.
func WithRelayService(on bool, limits RelayLimits) Option {
	return func(c *config) error {
		if err := limits.validate(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		c.nat.relayService, c.nat.relayLimits = on, limits
		return nil
	}
}

// WithRelayClient tunes how a private node picks relays among its session peers.
// Default: DefaultRelayClientConfig.
func WithRelayClient(rc RelayClientConfig) Option {
	return func(c *config) error {
		if err := rc.validate(); err != nil {
			return fmt.Errorf("node: %w", err)
		}
		c.nat.relayClient = rc
		return nil
	}
}

// WithNATPortMap sets whether the node asks the local router to forward its ports (UPnP
// and NAT-PMP, through libp2p). Default: off, because it sends packets to the router
// (SSDP multicast, NAT-PMP to the default gateway) that the operator may not expect.
func WithNATPortMap(on bool) Option {
	return func(c *config) error {
		c.nat.portMap = on
		return nil
	}
}

// WithHolePunch sets how long a session dial that reached its peer only through a relay
// waits for the direct connection, and the bound of one direct dial or hole-punch
// attempt. Defaults: DefaultHolePunchWait, DefaultHolePunchDialTimeout.
func WithHolePunch(wait, attempt time.Duration) Option {
	return func(c *config) error {
		if wait <= 0 || attempt <= 0 {
			return errors.New("node: hole-punch wait and attempt timeout must be > 0")
		}
		c.nat.holePunchWait, c.nat.holePunchDialTimeout = wait, attempt
		return nil
	}
}

// WithReachability fixes the node's reachability instead of letting AutoNAT find it:
// network.ReachabilityPublic runs the relay service at once, network.ReachabilityPrivate
// looks for relays at once. Default: found by AutoNAT (network.ReachabilityUnknown).
// For tests and for operators who know.
func WithReachability(r network.Reachability) Option {
	return func(c *config) error {
		switch r {
		case network.ReachabilityUnknown, network.ReachabilityPublic, network.ReachabilityPrivate:
			c.nat.reachability = r
			return nil
		}
		return fmt.Errorf("node: reachability %d", r)
	}
}
