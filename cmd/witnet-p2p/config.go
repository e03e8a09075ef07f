package main

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/witnet-p2p/witnet-p2p/codec"
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
	flagMaxFrameSize     = "max-frame-size"
	flagLogLevel         = "log-level"
	flagPeerMessageRate  = "peer-message-rate"
	flagPeerByteRate     = "peer-byte-rate"
	flagMisbehaviour     = "misbehaviour-threshold"
	flagWriteTimeout     = "write-timeout"
	flagNodeMessageRate  = "receive-message-rate"
	flagNodeByteRate     = "receive-byte-rate"
	flagLegacyListen     = "legacy-listen"
	flagLegacyPeer       = "legacy-peer"
	flagLegacyAnnounce   = "legacy-announce"
	flagRPCAllowedHosts  = "rpc-allowed-hosts"
	flagRPCAllowedOrigin = "rpc-allowed-origins"
	flagRPCTokenFile     = "rpc-token-file"
	flagAddrsFile        = "addrs-file"
	flagBootstrapFile    = "bootstrap-file"
	flagRejectSybil      = "reject-sybil-inbounds"
	flagRelayService     = "relay-service"
	flagNATPortMap       = "nat-portmap"
)

// runFlags are the flags of the run command. Every flag but --config is an altsrc flag,
// which loadConfigFile can set from the file. Slice flags have no default value in the
// flag itself (urfave/cli would append to it); their defaults apply when they stay empty.
func runFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: flagConfig, EnvVars: envOf(flagConfig), Usage: "read settings from this TOML `FILE` (keys are the flag names; flags and environment win)"},
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagDataDir, EnvVars: envOf(flagDataDir), Value: node.DefaultDataDir, Usage: "data `DIR`ectory: identity key and database"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagIdentity, EnvVars: envOf(flagIdentity), DefaultText: "<data-dir>/identity.key, created if missing", Usage: "use the identity key in this existing `FILE` (PKCS#8 PEM)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagListen, EnvVars: envOf(flagListen), DefaultText: fmt.Sprintf("/ip4/0.0.0.0/tcp/%d, /ip4/0.0.0.0/udp/%d/quic-v1", node.DefaultPort, node.DefaultPort), Usage: "listen on this `MULTIADDR` (repeatable; \"off\": no libp2p listener)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagAnnounce, EnvVars: envOf(flagAnnounce), DefaultText: "listen addresses", Usage: "advertise this `MULTIADDR` to peers instead of the listen addresses (repeatable; NAT, containers)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagBootstrap, EnvVars: envOf(flagBootstrap), Usage: "add this peer (`MULTIADDR` ending in /p2p/<id>) to the address book and dial it first (repeatable)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: flagInboundLimit, EnvVars: envOf(flagInboundLimit), Value: session.DefaultInboundLimit, Usage: "most inbound sessions (`N`)"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: flagOutboundLimit, EnvVars: envOf(flagOutboundLimit), Value: session.DefaultOutboundLimit, Usage: "most outbound sessions (`N`)"}),
		altsrc.NewUintFlag(&cli.UintFlag{Name: flagMagic, EnvVars: envOf(flagMagic), Value: uint(protocol.Magic), Usage: "network magic required on every message (`N`)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagNetwork, EnvVars: envOf(flagNetwork), Value: node.NetworkLocal, Usage: "`NAME` of the network preset: local (mainnet's constants, dials only the peers it is given), mainnet (also dials witnet-rust's mainnet known_peers over plain TCP) or testnet (epochs, protocol version activations, genesis hash, sybil rule)"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: flagRejectSybil, EnvVars: envOf(flagRejectSybil), DefaultText: "on for mainnet, off for testnet", Usage: "refuse a second inbound peer from the same /18 IPv4 range (loopback exempt); turn off for a private network of containers or hosts in one subnet"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagRPCAddr, EnvVars: envOf(flagRPCAddr), Value: rpc.DefaultAddr, Usage: "JSON-RPC, /metrics and /health on this `HOST:PORT` (\"off\" disables)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagBootstrapPeriod, EnvVars: envOf(flagBootstrapPeriod), Value: node.DefaultBootstrapPeriod, Usage: "dial peers every `PERIOD` while outbound sessions are below the limit"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagDiscoveryPeriod, EnvVars: envOf(flagDiscoveryPeriod), Value: node.DefaultDiscoveryPeriod, Usage: "ask one outbound peer for peers every `PERIOD`"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagFeelerPeriod, EnvVars: envOf(flagFeelerPeriod), Value: node.DefaultFeelerPeriod, Usage: "test one new-bucket address every `PERIOD`"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagMeltPeriod, EnvVars: envOf(flagMeltPeriod), DefaultText: "60s", Usage: "return melted peers from ice to the new bucket every `PERIOD`"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagIcePeriod, EnvVars: envOf(flagIcePeriod), DefaultText: "30m0s", Usage: "keep a misbehaving or unreachable peer iced for `PERIOD`"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagHandshakeTimeout, EnvVars: envOf(flagHandshakeTimeout), Value: session.DefaultHandshakeTimeout, Usage: "close sessions not consolidated within `PERIOD`"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: flagMaxFrameSize, EnvVars: envOf(flagMaxFrameSize), Value: codec.DefaultMaxFrameSize, DefaultText: strconv.Itoa(codec.DefaultMaxFrameSize) + " (8 MiB)", Usage: "largest frame payload in `BYTES`, received or sent: a peer announcing a longer frame is dropped and iced"}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: flagPeerMessageRate, EnvVars: envOf(flagPeerMessageRate), Value: session.DefaultMessageRate, Usage: "messages per second a peer may send on average (bursts of " + strconv.Itoa(session.DefaultMessageBurst) + "); above it the peer is dropped and iced; `RATE` < 0: no budget"}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: flagPeerByteRate, EnvVars: envOf(flagPeerByteRate), Value: session.DefaultByteRate, DefaultText: strconv.Itoa(session.DefaultByteRate) + " (16 MiB)", Usage: "frame bytes per second a peer may send on average (bursts of " + strconv.Itoa(session.DefaultByteBurst) + "); above it the peer is dropped and iced; `RATE` < 0: no budget"}),
		altsrc.NewIntFlag(&cli.IntFlag{Name: flagMisbehaviour, EnvVars: envOf(flagMisbehaviour), Value: session.DefaultMisbehaviourThreshold, Usage: "misbehaviour `SCORE` at which a peer is dropped and iced (< 0: offences are only counted)"}),
		altsrc.NewDurationFlag(&cli.DurationFlag{Name: flagWriteTimeout, EnvVars: envOf(flagWriteTimeout), Value: session.DefaultWriteTimeout, Usage: "drop a peer that leaves one of our writes blocked for `PERIOD` (it stopped reading)"}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: flagNodeMessageRate, EnvVars: envOf(flagNodeMessageRate), Value: session.DefaultNodeMessageRate, Usage: "messages per second all consolidated peers together are served; beyond it they are read more slowly (`RATE` <= 0: no limit)"}),
		altsrc.NewFloat64Flag(&cli.Float64Flag{Name: flagNodeByteRate, EnvVars: envOf(flagNodeByteRate), Value: session.DefaultNodeByteRate, DefaultText: strconv.Itoa(session.DefaultNodeByteRate) + " (64 MiB)", Usage: "frame bytes per second all consolidated peers together are served (`RATE` <= 0: no limit)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLegacyListen, EnvVars: envOf(flagLegacyListen), DefaultText: "off", Usage: "accept plain-TCP connections from witnet-rust nodes on this `IP:PORT` (witnet-rust itself listens on 0.0.0.0:21337)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagLegacyPeer, EnvVars: envOf(flagLegacyPeer), Usage: "dial this witnet-rust node (`IP:PORT`) over plain TCP, and again whenever its session is gone (repeatable)"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLegacyAnnounce, EnvVars: envOf(flagLegacyAnnounce), DefaultText: "none (0.0.0.0:0)", Usage: "tell witnet-rust nodes that our public plain-TCP address is `IP:PORT`"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagRPCAllowedHosts, EnvVars: envOf(flagRPCAllowedHosts), Usage: "also accept HTTP requests whose Host is this `NAME` (repeatable; \"*\": any). Without it only localhost, loopback IPs and the listener's own address are accepted (DNS rebinding protection)"}),
		altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: flagRPCAllowedOrigin, EnvVars: envOf(flagRPCAllowedOrigin), Usage: "serve browser requests from this `ORIGIN` (https://host[:port], repeatable; \"*\": any); without it requests carrying an Origin header are refused"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagRPCTokenFile, EnvVars: envOf(flagRPCTokenFile), Usage: "require the bearer token in this `FILE` on JSON-RPC and /metrics (/health stays open); clients pass the same flag"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagAddrsFile, EnvVars: envOf(flagAddrsFile), Usage: "write the node's multiaddrs (ending in /p2p/<id>), one per line, to this `FILE` once it listens; another node's --bootstrap-file can read it"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagBootstrapFile, EnvVars: envOf(flagBootstrapFile), Usage: "bootstrap from the multiaddrs in this `FILE` (one per line, as --addrs-file writes them), waiting up to 60s for it to appear"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: flagRelayService, EnvVars: envOf(flagRelayService), Value: true, Usage: "relay for private peers (circuit relay v2) while this node is publicly reachable; --relay-service=false turns it off"}),
		altsrc.NewBoolFlag(&cli.BoolFlag{Name: flagNATPortMap, EnvVars: envOf(flagNATPortMap), Usage: "ask the local router to forward the listen ports (UPnP, NAT-PMP); sends packets to the router"}),
		altsrc.NewStringFlag(&cli.StringFlag{Name: flagLogLevel, EnvVars: envOf(flagLogLevel), Value: "info", Usage: "`LEVEL` of the witnet/* loggers: debug, info, warn, error (GOLOG_LOG_LEVEL, if set, wins)"}),
	}
}

// loadConfigFile reads the TOML file named by --config (flag or environment), if any, into
// the command's altsrc flags that neither the command line nor the environment set, so the
// precedence is flag > environment > file > default. Keys are the flag names; an unknown
// key is an error, so that a typo does not silently leave a default in place.
//
// The file is decoded here rather than by altsrc's TOML source, which neither reports
// unknown keys nor takes a TOML integer for a float flag ("receive-message-rate = 0").
func loadConfigFile(c *cli.Context) error {
	path := c.String(flagConfig)
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var file map[string]any
	if _, err := toml.Decode(string(data), &file); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	settable := make(map[string]cli.Flag)
	for _, f := range c.Command.Flags {
		if _, ok := f.(altsrc.FlagInputSourceExtension); ok {
			for _, name := range f.Names() {
				settable[name] = f
			}
		}
	}
	values := make(map[any]any, len(file))
	var unknown []string
	for key, v := range file {
		f, ok := settable[key]
		if !ok {
			unknown = append(unknown, key)
			continue
		}
		if values[key], err = fileValue(f, v); err != nil {
			return fmt.Errorf("config file %s: %s: %w", path, key, err)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(unknown, ", "))
	}
	if err := altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(path, values), c.Command.Flags); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// fileValue converts a decoded TOML value to the type altsrc expects for flag f: TOML
// integers decode as int64, which altsrc takes only as int (or float64 for a float flag),
// and durations are strings such as "15s".
func fileValue(f cli.Flag, v any) (any, error) {
	switch x := v.(type) {
	case int64:
		if _, ok := f.(*altsrc.Float64Flag); ok {
			return float64(x), nil
		}
		return int(x), nil
	case string:
		if _, ok := f.(*altsrc.DurationFlag); ok {
			return time.ParseDuration(x)
		}
	}
	return v, nil
}

// nodeOptions turns the run flags into node options, checking every value.
func nodeOptions(c *cli.Context) ([]node.Option, error) {
	opts := []node.Option{node.WithDataDir(c.String(flagDataDir))}
	switch network := c.String(flagNetwork); network {
	case "": // the node's default, local
	case node.NetworkLocal, node.NetworkMainnet, node.NetworkTestnet:
		// First, so that the options below override the network's choices.
		opts = append(opts, node.WithNetwork(network))
	default:
		return nil, fmt.Errorf("--%s %q: want %s, %s or %s", flagNetwork, network, node.NetworkLocal, node.NetworkMainnet, node.NetworkTestnet)
	}
	if path := c.String(flagIdentity); path != "" {
		key, err := datadir.LoadIdentity(path)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", flagIdentity, err)
		}
		opts = append(opts, node.WithIdentity(key))
	}
	if listen := c.StringSlice(flagListen); len(listen) == 1 && listen[0] == "off" {
		opts = append(opts, node.WithNoLibp2pListen())
	}
	legacyOpts, err := legacyOptions(c)
	if err != nil {
		return nil, err
	}
	opts = append(opts, legacyOpts...)
	for _, a := range []struct {
		flag     string
		withPeer bool
		option   func(...ma.Multiaddr) node.Option
	}{
		{flagListen, false, node.WithListenAddrs},
		{flagAnnounce, false, node.WithAnnounceAddrs},
		{flagBootstrap, true, node.WithBootstrap},
	} {
		if values := c.StringSlice(a.flag); len(values) > 0 && !(a.flag == flagListen && values[0] == "off") {
			addrs, err := parseAddrs(a.flag, values, a.withPeer)
			if err != nil {
				return nil, err
			}
			opts = append(opts, a.option(addrs...))
		}
	}
	if c.IsSet(flagRejectSybil) {
		opts = append(opts, node.WithSybilRule(c.Bool(flagRejectSybil), session.DefaultSybilRangeLimit))
	}
	magic := c.Uint(flagMagic)
	if magic == 0 || magic > 0xffff {
		return nil, fmt.Errorf("--%s %d: want 1..65535", flagMagic, magic)
	}
	writeTimeout := c.Duration(flagWriteTimeout)
	if writeTimeout <= 0 {
		return nil, fmt.Errorf("--%s %v: want a positive duration", flagWriteTimeout, writeTimeout)
	}
	for _, flag := range []string{flagPeerMessageRate, flagPeerByteRate} {
		if v := c.Float64(flag); v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--%s %v: want a positive rate, or a negative one for no budget", flag, v)
		}
	}
	for _, flag := range []string{flagNodeMessageRate, flagNodeByteRate} {
		if v := c.Float64(flag); math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--%s %v: want a rate, or 0 for no limit", flag, v)
		}
	}
	if c.Int(flagMisbehaviour) == 0 {
		return nil, fmt.Errorf("--%s 0: want a positive score, or a negative one to only count offences", flagMisbehaviour)
	}
	rpcAddr := c.String(flagRPCAddr)
	if rpcAddr == "off" {
		rpcAddr = ""
	}
	token, err := readToken(c.String(flagRPCTokenFile))
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		node.WithRPCAccess(rpc.Access{
			AllowedHosts:   splitList(c.StringSlice(flagRPCAllowedHosts)),
			AllowedOrigins: splitList(c.StringSlice(flagRPCAllowedOrigin)),
			Token:          token,
		}),
		node.WithLimits(c.Int(flagInboundLimit), c.Int(flagOutboundLimit)),
		node.WithMagic(uint16(magic)),
		node.WithRPCAddr(rpcAddr),
		node.WithPeriods(c.Duration(flagBootstrapPeriod), c.Duration(flagDiscoveryPeriod), c.Duration(flagFeelerPeriod)),
		node.WithIce(c.Duration(flagIcePeriod), c.Duration(flagMeltPeriod)),
		node.WithHandshake(c.Duration(flagHandshakeTimeout), session.DefaultMaxTimestampDiff),
		node.WithMaxFrameSize(c.Int(flagMaxFrameSize)),
		node.WithSessionBudgets(session.Budgets{
			MessageRate:           c.Float64(flagPeerMessageRate),
			ByteRate:              c.Float64(flagPeerByteRate),
			MisbehaviourThreshold: c.Int(flagMisbehaviour),
			WriteTimeout:          writeTimeout,
		}),
		node.WithReceiveBudget(c.Float64(flagNodeMessageRate), c.Float64(flagNodeByteRate)),
		node.WithRelayService(c.Bool(flagRelayService), node.DefaultRelayLimits()),
		node.WithNATPortMap(c.Bool(flagNATPortMap)),
	)
	return opts, nil
}

// splitList splits comma-separated values (as an environment variable gives them) and
// drops empty ones.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// parseAddrs parses multiaddr strings; a comma-separated value (as an environment
// variable gives) counts as several. withPeer requires /p2p/<id>.
func parseAddrs(flag string, values []string, withPeer bool) ([]ma.Multiaddr, error) {
	var out []ma.Multiaddr
	for _, s := range splitList(values) {
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
	if len(out) == 0 {
		return nil, fmt.Errorf("--%s: no address given", flag)
	}
	return out, nil
}

// legacyOptions turns the plain-TCP flags into node options. Addresses are IP:PORT, as
// witnet-rust's configuration writes them; a comma-separated value counts as several.
func legacyOptions(c *cli.Context) ([]node.Option, error) {
	var opts []node.Option
	for _, f := range []struct {
		flag   string
		option func(netip.AddrPort) node.Option
	}{{flagLegacyListen, node.WithLegacyListen}, {flagLegacyAnnounce, node.WithLegacyAnnounce}} {
		if v := c.String(f.flag); v != "" {
			ap, err := netip.ParseAddrPort(v)
			if err != nil {
				return nil, fmt.Errorf("--%s %q: want IP:PORT", f.flag, v)
			}
			opts = append(opts, f.option(ap))
		}
	}
	for _, v := range c.StringSlice(flagLegacyPeer) {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			ap, err := netip.ParseAddrPort(s)
			if err != nil {
				return nil, fmt.Errorf("--%s %q: want IP:PORT", flagLegacyPeer, s)
			}
			opts = append(opts, node.WithLegacyPeers(ap))
		}
	}
	return opts, nil
}
