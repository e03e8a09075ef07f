package node

import (
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Defaults (PROTOCOL.md section 10 unless said otherwise). The session limits, the sybil range,
// the handshake timeout and drift are the session package's defaults
// (session.DefaultInboundLimit, ...), the HTTP listener's address is rpc.DefaultAddr.
const (
	// DefaultDataDir holds the identity key and the database.
	DefaultDataDir = ".witnet-p2p"
	// DefaultPort is the libp2p port, TCP and UDP (QUIC). It is not witnet-rust's 21337
	// (nor its JSON-RPC port 21338, nor the ports 21339-21341 the docker compose file
	// publishes), so that a gateway and a witnet-rust node can run on one host.
	DefaultPort = 21342
	// DefaultBootstrapPeriod is bootstrap_peers_period for every network.
	DefaultBootstrapPeriod = 15 * time.Second
	// DefaultDiscoveryPeriod is discovery_peers_period.
	DefaultDiscoveryPeriod = 30 * time.Second
	// DefaultFeelerPeriod is feeler_peers_period.
	DefaultFeelerPeriod = 2 * time.Second
	// DefaultDialTimeout bounds one outbound dial (witnet-rust's TCP connect timeout is a
	// hard-coded 1 s; libp2p also negotiates security and a muxer within it, so we allow
	// more).
	DefaultDialTimeout = 5 * time.Second
)

// DefaultListenAddrs returns the default listen multiaddrs: TCP and QUIC on DefaultPort
// of every IPv4 interface.
func DefaultListenAddrs() []ma.Multiaddr {
	return []ma.Multiaddr{
		ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort)),
		ma.StringCast(fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort)),
	}
}

// DefaultBeacon returns mainnet's genesis beacon: checkpoint 0 with the mainnet genesis
// hash, for both the block and the superblock checkpoint. A node without a chain falls
// back on its network's genesis beacon when it stores no block and its peers agree on
// no superblock (RelayChain). Every peer is ahead of it, so beacon checks accept any
// mainnet peer.
func DefaultBeacon() *pb.LastBeacon {
	g := protocol.NewCheckpointBeacon(0, protocol.MainnetGenesisHash)
	sg := protocol.NewCheckpointBeacon(0, protocol.MainnetGenesisHash)
	return protocol.NewLastBeaconPB(g, sg)
}

// config is what the options set; New validates it as a whole after every option ran.
type config struct {
	dataDir  string
	listen   []ma.Multiaddr
	announce []ma.Multiaddr

	bootstrap []ma.Multiaddr

	inboundLimit  int
	outboundLimit int

	magic            uint16
	handshakeTimeout time.Duration
	maxTimestampDiff time.Duration

	rejectSybil     bool
	sybilRangeBits  int
	sybilLoopbackOK bool
	perIPLoopbackOK bool // see WithPerIPLoopback
	noEviction      bool // see WithInboundEviction

	bootstrapPeriod time.Duration
	discoveryPeriod time.Duration
	feelerPeriod    time.Duration
	meltPeriod      time.Duration // 0: the book's MeltInterval
	icePeriod       time.Duration // 0: the book's defaults
	dialTimeout     time.Duration

	rpcAddr    string // "": no HTTP listener
	rpcMethods map[string]rpc.Method
	rpcAccess  rpc.Access // see WithRPCAccess

	identity crypto.PrivKey // nil: the data directory's key
	chain    session.Chain  // nil: a RelayChain, or a StaticChain with beaconFixed
	beacon   *pb.LastBeacon // the genesis beacon, or the fixed one (WithBeacon)
	// beaconFixed: WithBeacon was given, the node announces beacon whatever it stores.
	beaconFixed bool
	epochs      protocol.EpochConstants
	clock       session.Clock

	libp2pMetrics bool
	hostOptions   []libp2p.Option

	inventory inventoryConfig // see inventory_options.go
	legacy    legacyConfig    // see legacy_options.go
	book      bookOptions     // see book_options.go
	nat       natConfig       // see nat_options.go

	budgets      session.Budgets
	maxFrameSize int // 0: codec.DefaultMaxFrameSize

	receiveMessages, receiveBytes float64 // node-wide receive budget; both <= 0: none
	sendBytes                     int     // node-wide send budget (WithSendBudget); <= 0: none
}

func defaultConfig() config {
	return config{
		dataDir:          DefaultDataDir,
		listen:           DefaultListenAddrs(),
		inboundLimit:     session.DefaultInboundLimit,
		outboundLimit:    session.DefaultOutboundLimit,
		magic:            protocol.Magic,
		handshakeTimeout: session.DefaultHandshakeTimeout,
		maxTimestampDiff: session.DefaultMaxTimestampDiff,
		rejectSybil:      true,
		sybilRangeBits:   session.DefaultSybilRangeLimit,
		sybilLoopbackOK:  true,
		perIPLoopbackOK:  true,
		bootstrapPeriod:  DefaultBootstrapPeriod,
		discoveryPeriod:  DefaultDiscoveryPeriod,
		feelerPeriod:     DefaultFeelerPeriod,
		dialTimeout:      DefaultDialTimeout,
		rpcAddr:          rpc.DefaultAddr,
		beacon:           DefaultBeacon(),
		epochs:           protocol.MainnetEpochs,
		clock:            session.RealClock{},
		libp2pMetrics:    true,
		receiveMessages:  session.DefaultNodeMessageRate,
		receiveBytes:     session.DefaultNodeByteRate,
		sendBytes:        session.DefaultNodeSendBytes,
		nat:              defaultNATConfig(),
	}
}

// newConfig applies opts to the defaults and validates the result.
func newConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return config{}, err
		}
	}
	if err := cfg.validate(); err != nil {
		return config{}, fmt.Errorf("node: %w", err)
	}
	return cfg, nil
}

// validate checks the combination of settings.
func (c *config) validate() error {
	var errs []error
	if c.dataDir == "" {
		errs = append(errs, errors.New("data directory must not be empty"))
	}
	if err := c.legacy.validate(len(c.listen)); err != nil {
		errs = append(errs, err)
	}
	if c.outboundLimit > 0 && c.inboundLimit+c.outboundLimit > maxSessions {
		errs = append(errs, fmt.Errorf("inbound + outbound limits must not exceed %d", maxSessions))
	}
	for _, a := range c.bootstrap {
		if _, err := peers.AddrFromP2P(a); err != nil {
			errs = append(errs, fmt.Errorf("bootstrap address %s: %w", a, err))
		}
	}
	if c.rpcAddr != "" {
		if _, _, err := net.SplitHostPort(c.rpcAddr); err != nil {
			errs = append(errs, fmt.Errorf("RPC address %q: %w", c.rpcAddr, err))
		}
	}
	if c.chain == nil && c.beacon == nil {
		errs = append(errs, errors.New("a beacon or a chain is needed"))
	}
	if c.epochs.CheckpointsPeriod == 0 {
		errs = append(errs, errors.New("epoch constants: checkpoints period must not be 0"))
	}
	return errors.Join(errs...)
}

// maxSessions bounds inbound + outbound limits, so the derived libp2p limits stay sane.
const maxSessions = 10_000

// Option configures a Node. Options that get an invalid value return an error, and New
// fails with it.
type Option func(*config) error

// WithDataDir sets the data directory (identity key, database). Default: DefaultDataDir
// in the working directory.
func WithDataDir(dir string) Option {
	return func(c *config) error {
		if dir == "" {
			return errors.New("node: empty data directory")
		}
		c.dataDir = dir
		return nil
	}
}

// WithListenAddrs replaces the listen multiaddrs. Default: DefaultListenAddrs. Use port 0
// for an ephemeral port (tests).
func WithListenAddrs(addrs ...ma.Multiaddr) Option {
	return func(c *config) error {
		if len(addrs) == 0 {
			return errors.New("node: no listen addresses")
		}
		c.listen = append([]ma.Multiaddr(nil), addrs...)
		return nil
	}
}

// WithAnnounceAddrs sets the multiaddrs the node advertises (in Version.sender_address
// and to libp2p identify) instead of its listen addresses; for a node behind NAT or in a
// container. Default: none (libp2p's own observed and interface addresses).
func WithAnnounceAddrs(addrs ...ma.Multiaddr) Option {
	return func(c *config) error {
		c.announce = append([]ma.Multiaddr(nil), addrs...)
		return nil
	}
}

// WithBootstrap adds peers to put in the address book and dial first, each a multiaddr
// ending in /p2p/<peer id>. They are also what the initializePeers RPC restores.
func WithBootstrap(addrs ...ma.Multiaddr) Option {
	return func(c *config) error {
		for _, a := range addrs {
			if _, err := peers.AddrFromP2P(a); err != nil {
				return fmt.Errorf("node: bootstrap address %s: %w", a, err)
			}
		}
		c.bootstrap = append(c.bootstrap, addrs...)
		return nil
	}
}

// WithLimits sets inbound_limit and outbound_limit, the sizes of the consolidated session
// collections. Default: session.DefaultInboundLimit, session.DefaultOutboundLimit
// (witnet-rust's code defaults; its shipped witnet.toml says 8 outbound). The libp2p connection
// and resource managers are derived from them. An inbound limit of 0 refuses every inbound
// session; the outbound limit must be at least 1.
func WithLimits(inbound, outbound int) Option {
	return func(c *config) error {
		if inbound < 0 || outbound < 1 {
			return fmt.Errorf("node: limits inbound=%d outbound=%d: inbound must be >= 0, outbound >= 1", inbound, outbound)
		}
		c.inboundLimit, c.outboundLimit = inbound, outbound
		return nil
	}
}

// WithMagic sets the network magic required on every message. Default: protocol.Magic.
func WithMagic(magic uint16) Option {
	return func(c *config) error {
		if magic == 0 {
			return errors.New("node: magic must not be 0")
		}
		c.magic = magic
		return nil
	}
}

// WithHandshake sets the handshake timeout and the largest accepted Version timestamp
// drift (0 disables the drift check, as witnet-rust's handshake_max_ts_diff = 0).
// Defaults: session.DefaultHandshakeTimeout and session.DefaultMaxTimestampDiff.
func WithHandshake(timeout, maxTimestampDiff time.Duration) Option {
	return func(c *config) error {
		if timeout <= 0 || maxTimestampDiff < 0 {
			return fmt.Errorf("node: handshake timeout %v must be > 0 and drift %v >= 0", timeout, maxTimestampDiff)
		}
		c.handshakeTimeout, c.maxTimestampDiff = timeout, maxTimestampDiff
		return nil
	}
}

// WithSessionBudgets sets the budgets every session applies to its peer (see
// session.Budgets: message and byte rates, misbehaviour threshold, write timeout, send
// queue). A zero field keeps the session package's default. Default: those defaults for
// every field.
func WithSessionBudgets(b session.Budgets) Option {
	return func(c *config) error {
		if err := b.Validate(); err != nil {
			return fmt.Errorf("node: session budgets: %w", err)
		}
		c.budgets = b
		return nil
	}
}

// WithMaxFrameSize caps the payload of one frame, received or sent, in bytes: a peer
// that announces a longer frame is dropped before it is read (session.ReasonDecode, and
// iced), and an item too large to send in one frame is not served. Default:
// codec.DefaultMaxFrameSize (8 MiB). It must hold the largest item of the network: a
// block at its size limit, and a full Peers or InventoryAnnouncement message.
func WithMaxFrameSize(bytes int) Option {
	return func(c *config) error {
		if bytes < minFrameSize || bytes > maxFrameSize {
			return fmt.Errorf("node: max frame size %d bytes, want %d..%d", bytes, minFrameSize, maxFrameSize)
		}
		c.maxFrameSize = bytes
		return nil
	}
}

// Bounds of WithMaxFrameSize: below 64 KiB a Peers reply of the tried bucket or a large
// transaction no longer fits; above 256 MiB one peer could make a session allocate that
// much for a single frame.
const (
	minFrameSize = 64 << 10
	maxFrameSize = 256 << 20
)

// WithReceiveBudget sets the node-wide receive budget shared by all consolidated
// sessions (session.ReceiveBudget): messages per second and received frame bytes per
// second. When the peers together send more, the sessions read more slowly and the
// excess backs up in the peers' streams, so the node keeps CPU for new handshakes and
// its own work. A rate <= 0 drops that limit; both <= 0 turns the budget off. Default:
// session.DefaultNodeMessageRate and session.DefaultNodeByteRate.
func WithReceiveBudget(messagesPerSecond, bytesPerSecond float64) Option {
	return func(c *config) error {
		if math.IsNaN(messagesPerSecond) || math.IsNaN(bytesPerSecond) {
			return errors.New("node: receive budget: rates must be numbers")
		}
		c.receiveMessages, c.receiveBytes = messagesPerSecond, bytesPerSecond
		return nil
	}
}

// WithSybilRule sets reject_sybil_inbounds and its range prefix length in bits (0..32;
// reject_sybil_inbounds_range_limit). Default: on, session.DefaultSybilRangeLimit bits,
// loopback exempt (see WithSybilLoopback).
func WithSybilRule(reject bool, rangeBits int) Option {
	return func(c *config) error {
		if rangeBits < 0 || rangeBits > 32 {
			return fmt.Errorf("node: sybil range %d bits, want 0..32", rangeBits)
		}
		c.rejectSybil, c.sybilRangeBits = reject, rangeBits
		return nil
	}
}

// WithSybilLoopback sets whether inbound peers on loopback addresses are exempt from the
// sybil rule. Default: exempt (a local devnet is not an attack); tests that exercise the
// rule on 127.0.0.x turn the exemption off.
func WithSybilLoopback(exempt bool) Option {
	return func(c *config) error {
		c.sybilLoopbackOK = exempt
		return nil
	}
}

// WithPeriods sets the periods of the dialer's bootstrap, discovery and feeler rounds.
// Defaults: DefaultBootstrapPeriod, DefaultDiscoveryPeriod, DefaultFeelerPeriod. A zero
// period turns its rounds off (the first bootstrap round still runs at start).
func WithPeriods(bootstrap, discovery, feeler time.Duration) Option {
	return func(c *config) error {
		if bootstrap < 0 || discovery < 0 || feeler < 0 {
			return errors.New("node: negative loop period")
		}
		c.bootstrapPeriod, c.discoveryPeriod, c.feelerPeriod = bootstrap, discovery, feeler
		return nil
	}
}

// WithIce sets how long a peer stays iced and how often melted peers return to the new
// bucket; zero keeps a default. Defaults: the address book's, 1800 s of ice and melting
// every 60 s, witnet-rust's values while the chain is not bootstrapped (a node without a
// chain never is; witnet-rust uses 3600 s and 300 s once it is).
func WithIce(icePeriod, meltPeriod time.Duration) Option {
	return func(c *config) error {
		if icePeriod < 0 || meltPeriod < 0 {
			return errors.New("node: negative ice or melt period")
		}
		c.icePeriod, c.meltPeriod = icePeriod, meltPeriod
		return nil
	}
}

// WithDialTimeout bounds one outbound dial (connection, security, muxer, stream).
// Default: DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("node: dial timeout must be > 0")
		}
		c.dialTimeout = d
		return nil
	}
}

// WithRPCAddr sets the host:port of the HTTP listener (JSON-RPC, /metrics, /health);
// "" disables it, port 0 picks a free one. Default: rpc.DefaultAddr (loopback only, never
// public unless configured).
func WithRPCAddr(addr string) Option {
	return func(c *config) error {
		if addr != "" {
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return fmt.Errorf("node: RPC address %q: %w", addr, err)
			}
		}
		c.rpcAddr = addr
		return nil
	}
}

// WithRPCAccess sets who may use the HTTP listener: extra Host names and browser
// origins, a bearer token, the reply size limit (see rpc.Access). Default: the zero
// Access, local names only, no browser origin, no token.
func WithRPCAccess(a rpc.Access) Option {
	return func(c *config) error {
		c.rpcAccess = a
		return nil
	}
}

// WithIdentity uses key instead of the data directory's identity key file.
func WithIdentity(key crypto.PrivKey) Option {
	return func(c *config) error {
		if key == nil {
			return errors.New("node: nil identity")
		}
		c.identity = key
		return nil
	}
}

// WithBeacon fixes the beacon a node without a chain announces (a StaticChain), for tests
// and for operators who want one. Default: a RelayChain, whose beacon follows the blocks
// the node stores and its outbound peers' consensus, from its network's genesis beacon.
func WithBeacon(b *pb.LastBeacon) Option {
	return func(c *config) error {
		if b.GetHighestBlockCheckpoint() == nil || b.GetHighestSuperblockCheckpoint() == nil {
			return errors.New("node: beacon needs both checkpoints")
		}
		c.beacon, c.beaconFixed = b, true
		return nil
	}
}

// WithEpochs sets the consensus constants the epoch is computed from. Default:
// protocol.MainnetEpochs.
func WithEpochs(e protocol.EpochConstants) Option {
	return func(c *config) error {
		if e.CheckpointsPeriod == 0 {
			return errors.New("node: checkpoints period must not be 0")
		}
		c.epochs = e
		return nil
	}
}

// WithChain plugs in a chain state instead of the relay chain (or the fixed beacon) and
// the epoch constants.
func WithChain(ch session.Chain) Option {
	return func(c *config) error {
		if ch == nil {
			return errors.New("node: nil chain")
		}
		c.chain = ch
		return nil
	}
}

// WithClock sets the clock of the sessions and the address book. Default: the real clock.
func WithClock(clk session.Clock) Option {
	return func(c *config) error {
		if clk == nil {
			return errors.New("node: nil clock")
		}
		c.clock = clk
		return nil
	}
}

// WithLibp2pMetrics sets whether libp2p's own Prometheus collectors are registered in the
// node's registry. Default: on. Several nodes in one process share libp2p's collectors,
// so a devnet turns them off.
func WithLibp2pMetrics(on bool) Option {
	return func(c *config) error {
		c.libp2pMetrics = on
		return nil
	}
}

// WithHostOptions appends libp2p options after the node's own (they can override them).
func WithHostOptions(opts ...libp2p.Option) Option {
	return func(c *config) error {
		c.hostOptions = append(c.hostOptions, opts...)
		return nil
	}
}

// WithRPCMethods adds JSON-RPC methods to the node's listener (another package's, such as
// the inventory's). Built-in names cannot be replaced; later calls add to earlier ones.
func WithRPCMethods(methods map[string]rpc.Method) Option {
	return func(c *config) error {
		if c.rpcMethods == nil {
			c.rpcMethods = map[string]rpc.Method{}
		}
		for name, m := range methods {
			if m == nil {
				return fmt.Errorf("node: nil JSON-RPC method %q", name)
			}
			c.rpcMethods[name] = m
		}
		return nil
	}
}
