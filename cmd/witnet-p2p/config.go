package main

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	logging "github.com/ipfs/go-log/v2"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/urfave/cli/v2"

	"github.com/witnet-p2p/witnet-p2p/node"
	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// envPrefix starts the name of the environment variable of every flag.
const envPrefix = "WITNET_P2P_"

// envOf returns the environment variable of a flag: WITNET_P2P_ and the flag name in
// upper case with dashes as underscores (--data-dir: WITNET_P2P_DATA_DIR).
func envOf(flag string) []string {
	return []string{envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// Flag names of the run command; the config file uses the same names as keys.
const (
	flagConfig           = "config"
	flagDataDir          = "data-dir"
	flagIdentity         = "identity"
	flagListen           = "listen"
	flagAnnounce         = "announce"
	flagBootstrap        = "bootstrap"
	flagInboundLimit     = "inbound-limit"
	flagOutboundLimit    = "outbound-limit"
	flagMagic            = "magic"
	flagNetwork          = "network"
	flagRPCAddr          = "rpc-addr"
	flagBootstrapPeriod  = "bootstrap-period"
	flagDiscoveryPeriod  = "discovery-period"
	flagFeelerPeriod     = "feeler-period"
	flagMeltPeriod       = "melt-period"
	flagIcePeriod        = "ice-period"
	flagHandshakeTimeout = "handshake-timeout"
	flagLogLevel         = "log-level"
	flagPeerMessageRate  = "peer-message-rate"
	flagPeerByteRate     = "peer-byte-rate"
	flagMisbehaviour     = "misbehaviour-threshold"
	flagWriteTimeout     = "write-timeout"
	flagNodeMessageRate  = "receive-message-rate"
	flagNodeByteRate     = "receive-byte-rate"
)

// runFlags are the flags of the run command. Slice flags have no default value in the
// flag itself (urfave/cli would append to it); their defaults apply when they stay empty.
func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagConfig, EnvVars: envOf(flagConfig), Usage: "read settings from this TOML `FILE` (keys are the flag names; flags and environment win)"},
		&cli.StringFlag{Name: flagDataDir, EnvVars: envOf(flagDataDir), Value: node.DefaultDataDir, Usage: "data `DIR`ectory: identity key and database"},
		&cli.StringFlag{Name: flagIdentity, EnvVars: envOf(flagIdentity), DefaultText: "<data-dir>/identity.key, created if missing", Usage: "use the identity key in this existing `FILE` (PKCS#8 PEM)"},
		&cli.StringSliceFlag{Name: flagListen, EnvVars: envOf(flagListen), DefaultText: "/ip4/0.0.0.0/tcp/21337, /ip4/0.0.0.0/udp/21337/quic-v1", Usage: "listen on this `MULTIADDR` (repeatable)"},
		&cli.StringSliceFlag{Name: flagAnnounce, EnvVars: envOf(flagAnnounce), DefaultText: "listen addresses", Usage: "advertise this `MULTIADDR` to peers instead of the listen addresses (repeatable; NAT, containers)"},
		&cli.StringSliceFlag{Name: flagBootstrap, EnvVars: envOf(flagBootstrap), Usage: "add this peer (`MULTIADDR` ending in /p2p/<id>) to the address book and dial it first (repeatable)"},
		&cli.IntFlag{Name: flagInboundLimit, EnvVars: envOf(flagInboundLimit), Value: session.DefaultInboundLimit, Usage: "most inbound sessions (`N`)"},
		&cli.IntFlag{Name: flagOutboundLimit, EnvVars: envOf(flagOutboundLimit), Value: session.DefaultOutboundLimit, Usage: "most outbound sessions (`N`)"},
		&cli.UintFlag{Name: flagMagic, EnvVars: envOf(flagMagic), Value: uint(protocol.Magic), Usage: "network magic required on every message (`N`)"},
		&cli.StringFlag{Name: flagNetwork, EnvVars: envOf(flagNetwork), Value: node.NetworkMainnet, Usage: "`NAME` of the network whose constants to use: mainnet or testnet (epochs, protocol version activations, genesis hash, sybil rule)"},
		&cli.StringFlag{Name: flagRPCAddr, EnvVars: envOf(flagRPCAddr), Value: rpc.DefaultAddr, Usage: "JSON-RPC, /metrics and /health on this `HOST:PORT` (\"off\" disables)"},
		&cli.DurationFlag{Name: flagBootstrapPeriod, EnvVars: envOf(flagBootstrapPeriod), Value: node.DefaultBootstrapPeriod, Usage: "dial peers every `PERIOD` while outbound sessions are below the limit"},
		&cli.DurationFlag{Name: flagDiscoveryPeriod, EnvVars: envOf(flagDiscoveryPeriod), Value: node.DefaultDiscoveryPeriod, Usage: "ask one outbound peer for peers every `PERIOD`"},
		&cli.DurationFlag{Name: flagFeelerPeriod, EnvVars: envOf(flagFeelerPeriod), Value: node.DefaultFeelerPeriod, Usage: "test one new-bucket address every `PERIOD`"},
		&cli.DurationFlag{Name: flagMeltPeriod, EnvVars: envOf(flagMeltPeriod), DefaultText: "60s", Usage: "return melted peers from ice to the new bucket every `PERIOD`"},
		&cli.DurationFlag{Name: flagIcePeriod, EnvVars: envOf(flagIcePeriod), DefaultText: "30m0s", Usage: "keep a misbehaving or unreachable peer iced for `PERIOD`"},
		&cli.DurationFlag{Name: flagHandshakeTimeout, EnvVars: envOf(flagHandshakeTimeout), Value: 5 * time.Second, Usage: "close sessions not consolidated within `PERIOD`"},
		&cli.Float64Flag{Name: flagPeerMessageRate, EnvVars: envOf(flagPeerMessageRate), Value: session.DefaultMessageRate, Usage: "messages per second a peer may send on average (bursts of " + strconv.Itoa(session.DefaultMessageBurst) + "); above it the peer is dropped and iced; `RATE` < 0: no budget"},
		&cli.Float64Flag{Name: flagPeerByteRate, EnvVars: envOf(flagPeerByteRate), Value: session.DefaultByteRate, DefaultText: strconv.Itoa(session.DefaultByteRate) + " (16 MiB)", Usage: "frame bytes per second a peer may send on average (bursts of " + strconv.Itoa(session.DefaultByteBurst) + "); above it the peer is dropped and iced; `RATE` < 0: no budget"},
		&cli.IntFlag{Name: flagMisbehaviour, EnvVars: envOf(flagMisbehaviour), Value: session.DefaultMisbehaviourThreshold, Usage: "misbehaviour `SCORE` at which a peer is dropped and iced (< 0: offences are only counted)"},
		&cli.DurationFlag{Name: flagWriteTimeout, EnvVars: envOf(flagWriteTimeout), Value: session.DefaultWriteTimeout, Usage: "drop a peer that leaves one of our writes blocked for `PERIOD` (it stopped reading)"},
		&cli.Float64Flag{Name: flagNodeMessageRate, EnvVars: envOf(flagNodeMessageRate), Value: session.DefaultNodeMessageRate, Usage: "messages per second all consolidated peers together are served; beyond it they are read more slowly (`RATE` <= 0: no limit)"},
		&cli.Float64Flag{Name: flagNodeByteRate, EnvVars: envOf(flagNodeByteRate), Value: session.DefaultNodeByteRate, DefaultText: strconv.Itoa(session.DefaultNodeByteRate) + " (64 MiB)", Usage: "frame bytes per second all consolidated peers together are served (`RATE` <= 0: no limit)"},
		&cli.StringFlag{Name: flagLogLevel, EnvVars: envOf(flagLogLevel), Value: "info", Usage: "`LEVEL` of the witnet/* loggers: debug, info, warn, error (GOLOG_LOG_LEVEL, if set, wins)"},
	}
}

// fileConfig is the TOML config file: every key is a run flag name.
type fileConfig struct {
	DataDir          *string   `toml:"data-dir"`
	Identity         *string   `toml:"identity"`
	Listen           []string  `toml:"listen"`
	Announce         []string  `toml:"announce"`
	Bootstrap        []string  `toml:"bootstrap"`
	InboundLimit     *int      `toml:"inbound-limit"`
	OutboundLimit    *int      `toml:"outbound-limit"`
	Magic            *uint     `toml:"magic"`
	Network          *string   `toml:"network"`
	RPCAddr          *string   `toml:"rpc-addr"`
	BootstrapPeriod  *duration `toml:"bootstrap-period"`
	DiscoveryPeriod  *duration `toml:"discovery-period"`
	FeelerPeriod     *duration `toml:"feeler-period"`
	MeltPeriod       *duration `toml:"melt-period"`
	IcePeriod        *duration `toml:"ice-period"`
	HandshakeTimeout *duration `toml:"handshake-timeout"`
	LogLevel         *string   `toml:"log-level"`
	PeerMessageRate  *float64  `toml:"peer-message-rate"`
	PeerByteRate     *float64  `toml:"peer-byte-rate"`
	Misbehaviour     *int      `toml:"misbehaviour-threshold"`
	WriteTimeout     *duration `toml:"write-timeout"`
	NodeMessageRate  *float64  `toml:"receive-message-rate"`
	NodeByteRate     *float64  `toml:"receive-byte-rate"`
}

// duration reads a TOML string such as "15s" or "1m30s".
type duration struct{ time.Duration }

// UnmarshalText parses a Go duration.
func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// loadFile reads and strictly decodes a config file: unknown keys are errors, so a typo
// does not silently fall back to a default.
func loadFile(path string) (fileConfig, error) {
	var fc fileConfig
	data, err := os.ReadFile(path)
	if err != nil {
		return fc, fmt.Errorf("config file: %w", err)
	}
	md, err := toml.Decode(string(data), &fc)
	if err != nil {
		return fc, fmt.Errorf("config file %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		sort.Strings(keys)
		return fc, fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(keys, ", "))
	}
	return fc, nil
}

// runConfig is the resolved configuration of the run command.
type runConfig struct {
	dataDir          string
	identity         string
	listen           []string
	announce         []string
	bootstrap        []string
	inboundLimit     int
	outboundLimit    int
	magic            uint
	network          string
	rpcAddr          string
	bootstrapPeriod  time.Duration
	discoveryPeriod  time.Duration
	feelerPeriod     time.Duration
	meltPeriod       time.Duration
	icePeriod        time.Duration
	handshakeTimeout time.Duration
	logLevel         string
	peerMessageRate  float64
	peerByteRate     float64
	misbehaviour     int
	writeTimeout     time.Duration
	nodeMessageRate  float64
	nodeByteRate     float64
}

// resolveRun merges, lowest precedence first: flag defaults, the config file, then
// environment variables and flags (urfave/cli reports both as set).
func resolveRun(c *cli.Context) (runConfig, error) {
	rc := runConfig{
		dataDir:          c.String(flagDataDir),
		identity:         c.String(flagIdentity),
		inboundLimit:     c.Int(flagInboundLimit),
		outboundLimit:    c.Int(flagOutboundLimit),
		magic:            c.Uint(flagMagic),
		network:          c.String(flagNetwork),
		rpcAddr:          c.String(flagRPCAddr),
		bootstrapPeriod:  c.Duration(flagBootstrapPeriod),
		discoveryPeriod:  c.Duration(flagDiscoveryPeriod),
		feelerPeriod:     c.Duration(flagFeelerPeriod),
		handshakeTimeout: c.Duration(flagHandshakeTimeout),
		logLevel:         c.String(flagLogLevel),
		peerMessageRate:  c.Float64(flagPeerMessageRate),
		peerByteRate:     c.Float64(flagPeerByteRate),
		misbehaviour:     c.Int(flagMisbehaviour),
		writeTimeout:     c.Duration(flagWriteTimeout),
		nodeMessageRate:  c.Float64(flagNodeMessageRate),
		nodeByteRate:     c.Float64(flagNodeByteRate),
	}
	if path := c.String(flagConfig); path != "" {
		fc, err := loadFile(path)
		if err != nil {
			return rc, err
		}
		setString(c, flagDataDir, &rc.dataDir, fc.DataDir)
		setString(c, flagIdentity, &rc.identity, fc.Identity)
		setSlice(c, flagListen, &rc.listen, fc.Listen)
		setSlice(c, flagAnnounce, &rc.announce, fc.Announce)
		setSlice(c, flagBootstrap, &rc.bootstrap, fc.Bootstrap)
		setValue(c, flagInboundLimit, &rc.inboundLimit, fc.InboundLimit)
		setValue(c, flagOutboundLimit, &rc.outboundLimit, fc.OutboundLimit)
		setValue(c, flagMagic, &rc.magic, fc.Magic)
		setString(c, flagNetwork, &rc.network, fc.Network)
		setString(c, flagRPCAddr, &rc.rpcAddr, fc.RPCAddr)
		setDuration(c, flagBootstrapPeriod, &rc.bootstrapPeriod, fc.BootstrapPeriod)
		setDuration(c, flagDiscoveryPeriod, &rc.discoveryPeriod, fc.DiscoveryPeriod)
		setDuration(c, flagFeelerPeriod, &rc.feelerPeriod, fc.FeelerPeriod)
		setDuration(c, flagMeltPeriod, &rc.meltPeriod, fc.MeltPeriod)
		setDuration(c, flagIcePeriod, &rc.icePeriod, fc.IcePeriod)
		setDuration(c, flagHandshakeTimeout, &rc.handshakeTimeout, fc.HandshakeTimeout)
		setString(c, flagLogLevel, &rc.logLevel, fc.LogLevel)
		setValue(c, flagPeerMessageRate, &rc.peerMessageRate, fc.PeerMessageRate)
		setValue(c, flagPeerByteRate, &rc.peerByteRate, fc.PeerByteRate)
		setValue(c, flagMisbehaviour, &rc.misbehaviour, fc.Misbehaviour)
		setDuration(c, flagWriteTimeout, &rc.writeTimeout, fc.WriteTimeout)
		setValue(c, flagNodeMessageRate, &rc.nodeMessageRate, fc.NodeMessageRate)
		setValue(c, flagNodeByteRate, &rc.nodeByteRate, fc.NodeByteRate)
	}
	if c.IsSet(flagListen) {
		rc.listen = c.StringSlice(flagListen)
	}
	if c.IsSet(flagAnnounce) {
		rc.announce = c.StringSlice(flagAnnounce)
	}
	if c.IsSet(flagBootstrap) {
		rc.bootstrap = c.StringSlice(flagBootstrap)
	}
	if c.IsSet(flagMeltPeriod) {
		rc.meltPeriod = c.Duration(flagMeltPeriod)
	}
	if c.IsSet(flagIcePeriod) {
		rc.icePeriod = c.Duration(flagIcePeriod)
	}
	return rc, nil
}

// setValue takes the file's value unless the flag or its environment variable is set.
func setValue[T any](c *cli.Context, flag string, dst *T, v *T) {
	if v != nil && !c.IsSet(flag) {
		*dst = *v
	}
}

func setString(c *cli.Context, flag string, dst *string, v *string) { setValue(c, flag, dst, v) }

func setSlice(c *cli.Context, flag string, dst *[]string, v []string) {
	if v != nil && !c.IsSet(flag) {
		*dst = v
	}
}

func setDuration(c *cli.Context, flag string, dst *time.Duration, v *duration) {
	if v != nil && !c.IsSet(flag) {
		*dst = v.Duration
	}
}

// options turns the configuration into node options, checking every value.
func (rc runConfig) options() ([]node.Option, error) {
	opts := []node.Option{node.WithDataDir(rc.dataDir)}
	switch rc.network {
	case "": // the node's default, mainnet
	case node.NetworkMainnet, node.NetworkTestnet:
		// First, so that the options below override the network's choices.
		opts = append(opts, node.WithNetwork(rc.network))
	default:
		return nil, fmt.Errorf("--%s %q: want %s or %s", flagNetwork, rc.network, node.NetworkMainnet, node.NetworkTestnet)
	}
	if rc.identity != "" {
		key, err := datadir.LoadIdentity(rc.identity)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagIdentity, err)
		}
		opts = append(opts, node.WithIdentity(key))
	}
	if len(rc.listen) > 0 {
		addrs, err := parseAddrs(flagListen, rc.listen, false)
		if err != nil {
			return nil, err
		}
		opts = append(opts, node.WithListenAddrs(addrs...))
	}
	if len(rc.announce) > 0 {
		addrs, err := parseAddrs(flagAnnounce, rc.announce, false)
		if err != nil {
			return nil, err
		}
		opts = append(opts, node.WithAnnounceAddrs(addrs...))
	}
	if len(rc.bootstrap) > 0 {
		addrs, err := parseAddrs(flagBootstrap, rc.bootstrap, true)
		if err != nil {
			return nil, err
		}
		opts = append(opts, node.WithBootstrap(addrs...))
	}
	if rc.magic == 0 || rc.magic > 0xffff {
		return nil, fmt.Errorf("--%s %d: want 1..65535", flagMagic, rc.magic)
	}
	if rc.writeTimeout <= 0 {
		return nil, fmt.Errorf("--%s %v: want a positive duration", flagWriteTimeout, rc.writeTimeout)
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{flagPeerMessageRate, rc.peerMessageRate}, {flagPeerByteRate, rc.peerByteRate}} {
		if r.v == 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return nil, fmt.Errorf("--%s %v: want a positive rate, or a negative one for no budget", r.flag, r.v)
		}
	}
	for _, r := range []struct {
		flag string
		v    float64
	}{{flagNodeMessageRate, rc.nodeMessageRate}, {flagNodeByteRate, rc.nodeByteRate}} {
		if math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			return nil, fmt.Errorf("--%s %v: want a rate, or 0 for no limit", r.flag, r.v)
		}
	}
	if rc.misbehaviour == 0 {
		return nil, fmt.Errorf("--%s 0: want a positive score, or a negative one to only count offences", flagMisbehaviour)
	}
	rpcAddr := rc.rpcAddr
	if rpcAddr == "off" {
		rpcAddr = ""
	}
	opts = append(opts,
		node.WithLimits(rc.inboundLimit, rc.outboundLimit),
		node.WithMagic(uint16(rc.magic)),
		node.WithRPCAddr(rpcAddr),
		node.WithPeriods(rc.bootstrapPeriod, rc.discoveryPeriod, rc.feelerPeriod),
		node.WithIce(rc.icePeriod, rc.meltPeriod),
		node.WithHandshake(rc.handshakeTimeout, 10*time.Second),
		node.WithSessionBudgets(session.Budgets{
			MessageRate:           rc.peerMessageRate,
			ByteRate:              rc.peerByteRate,
			MisbehaviourThreshold: rc.misbehaviour,
			WriteTimeout:          rc.writeTimeout,
		}),
		node.WithReceiveBudget(rc.nodeMessageRate, rc.nodeByteRate),
	)
	return opts, nil
}

// parseAddrs parses multiaddr strings; a comma-separated value (as an environment
// variable gives) counts as several. withPeer requires /p2p/<id>.
func parseAddrs(flag string, values []string, withPeer bool) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			var (
				a   ma.Multiaddr
				err error
			)
			if withPeer {
				a, err = rpc.ParsePeerAddr(s)
			} else {
				a, err = ma.NewMultiaddr(s)
			}
			if err != nil {
				return nil, fmt.Errorf("--%s: %w", flag, err)
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no address given", flag)
	}
	return out, nil
}

// setupLogging sets the level of the witnet/* loggers, unless GOLOG_LOG_LEVEL is set
// (go-log has then applied it to every logger already). Every witnet logger is a package
// variable, so they all exist by now; SetLogLevelRegex reaches only existing loggers.
func setupLogging(level string) error {
	lvl, err := logging.Parse(level)
	if err != nil {
		return fmt.Errorf("--%s %q: want debug, info, warn or error", flagLogLevel, level)
	}
	if os.Getenv("GOLOG_LOG_LEVEL") != "" {
		return nil
	}
	return logging.SetLogLevelRegex("witnet/.*", lvl.String())
}
