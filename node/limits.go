package node

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
)

// libp2p.New installs, unless told otherwise, a connection manager that trims to 160
// connections above 192 and a resource manager whose limits scale with the machine's
// memory (252 inbound connections on a 2-core box) and allow 8 connections per IP. Neither
// knows our session limits, and a connection either of them refuses shows up at the dialler
// as "failed to negotiate security protocol". So the node derives both from
// inbound_limit and outbound_limit, and logs every refusal with the limit that caused it.

// Derivation constants.
const (
	// minHandshakeHeadroom is the least number of extra inbound connections allowed beyond
	// inbound_limit, for peers still in their handshake (witnet-rust does not bound
	// unconsolidated inbound sessions at all; 5 s handshakes keep this small).
	minHandshakeHeadroom = 16
	// outboundDialHeadroom is the number of outbound connections allowed beyond twice
	// outbound_limit: feelers (one every 2 s, each lasting a handshake) and dials whose
	// handshake has not finished.
	outboundDialHeadroom = 8
	// connsPerIP caps connections from or to one IPv4 address (IPv6: one /56, and eight
	// times as many per /48), like libp2p's default: several nodes behind one NAT are
	// legitimate, hundreds are not. Loopback is unlimited.
	connsPerIP = 8
	// connGracePeriod protects a new connection from trimming while its session handshakes.
	connGracePeriod = time.Minute
)

// hostLimits are the libp2p limits derived from the session limits.
type hostLimits struct {
	// inboundConns, outboundConns and conns cap the system scope.
	inboundConns, outboundConns, conns int
	// handshakeInbound caps inbound connections still being upgraded (transient scope).
	handshakeInbound int
	// trimLow and trimHigh are the connection manager's watermarks: above trimHigh it
	// closes unprotected connections down to trimLow. Sessions protect their connection,
	// so only connections without a session are trimmed.
	trimLow, trimHigh int
	// perIP is the per-address connection cap (loopback exempt).
	perIP int
}

// deriveLimits computes the libp2p limits for the given session limits.
func deriveLimits(inbound, outbound int) hostLimits {
	headroom := max(minHandshakeHeadroom, inbound/4)
	l := hostLimits{
		inboundConns:     inbound + headroom,
		outboundConns:    2*outbound + outboundDialHeadroom,
		handshakeInbound: headroom,
		perIP:            connsPerIP,
	}
	l.conns = l.inboundConns + l.outboundConns
	l.trimLow = inbound + outbound
	l.trimHigh = min(l.trimLow+max(outboundDialHeadroom, l.trimLow/4), l.conns)
	return l
}

// newConnManager builds the connection manager from l.
func newConnManager(l hostLimits) (*connmgr.BasicConnMgr, error) {
	return connmgr.NewConnManager(l.trimLow, l.trimHigh, connmgr.WithGracePeriod(connGracePeriod))
}

// newResourceManager builds the resource manager from l: libp2p's scaled defaults for
// memory, streams and services, with the connection limits replaced by ours.
func newResourceManager(l hostLimits, metrics bool) (network.ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	protocolLimits(&scaling, l)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			ConnsInbound:  rcmgr.LimitVal(l.inboundConns),
			ConnsOutbound: rcmgr.LimitVal(l.outboundConns),
			Conns:         rcmgr.LimitVal(l.conns),
		},
		Transient: rcmgr.ResourceLimits{
			ConnsInbound:  rcmgr.LimitVal(l.handshakeInbound),
			ConnsOutbound: rcmgr.LimitVal(l.outboundConns),
			Conns:         rcmgr.LimitVal(l.handshakeInbound + l.outboundConns),
		},
	}
	limits := partial.Build(scaling.AutoScale())
	if fd := limits.ToPartialLimitConfig().System.FD; fd != rcmgr.DefaultLimit && int(fd) < l.conns {
		log.Warnw("file descriptor limit is below the connection limit; raise ulimit -n", "fd", int(fd), "connections", l.conns)
	}
	opts := []rcmgr.Option{
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: l.perIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: l.perIP}, {PrefixLength: 48, ConnCount: 8 * l.perIP}},
		),
		rcmgr.WithNetworkPrefixLimit(
			[]rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("127.0.0.0/8"), ConnCount: math.MaxInt}},
			[]rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("::1/128"), ConnCount: math.MaxInt}},
		),
	}
	if !metrics {
		opts = append(opts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), opts...)
	if err != nil {
		return nil, fmt.Errorf("node: resource manager: %w", err)
	}
	return &limitLogger{ResourceManager: logStreamRefusals(rm), limits: l}, nil
}

// limitLogger wraps the resource manager so that a connection refused for a limit is
// logged with that limit, on the side that refused it.
type limitLogger struct {
	network.ResourceManager
	limits hostLimits
}

var _ network.ResourceManager = (*limitLogger)(nil)

// GetConnLimit lets libp2p check the connection manager's high watermark against us.
func (r *limitLogger) GetConnLimit() int { return r.limits.conns }

// OpenConnection opens a connection scope, logging a refusal.
func (r *limitLogger) OpenConnection(dir network.Direction, usefd bool, endpoint ma.Multiaddr) (network.ConnManagementScope, error) {
	scope, err := r.ResourceManager.OpenConnection(dir, usefd, endpoint)
	if err != nil {
		log.Warnw("connection refused by a limit", "dir", dirName(dir), "remote", endpoint, "limit", r.describe(dir, err), "err", err)
		return nil, err
	}
	return &scopeLogger{ConnManagementScope: scope, dir: dir, endpoint: endpoint}, nil
}

// describe names the limit behind err.
func (r *limitLogger) describe(dir network.Direction, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "per ip"):
		return fmt.Sprintf("connections per IP address: %d", r.limits.perIP)
	case strings.Contains(msg, "rate limit"):
		return "connection rate per IP address (libp2p default)"
	case strings.Contains(msg, "file descriptor"):
		return "file descriptors (ulimit -n)"
	case !errors.Is(err, network.ErrResourceLimitExceeded):
		return "resource manager"
	case strings.Contains(msg, "transient") && dir == network.DirInbound:
		return fmt.Sprintf("inbound connections still in handshake: %d", r.limits.handshakeInbound)
	case dir == network.DirInbound && strings.Contains(msg, "inbound"):
		return fmt.Sprintf("inbound connections: %d (inbound limit + handshake headroom)", r.limits.inboundConns)
	case dir == network.DirOutbound && strings.Contains(msg, "outbound"):
		return fmt.Sprintf("outbound connections: %d (2 x outbound limit + dial headroom)", r.limits.outboundConns)
	default:
		return fmt.Sprintf("connections: %d", r.limits.conns)
	}
}

// scopeLogger logs a connection refused when it is attached to its peer (per-peer limits).
type scopeLogger struct {
	network.ConnManagementScope
	dir      network.Direction
	endpoint ma.Multiaddr
}

// SetPeer attaches the connection to p, logging a refusal.
func (s *scopeLogger) SetPeer(p peer.ID) error {
	err := s.ConnManagementScope.SetPeer(p)
	if err != nil {
		log.Warnw("connection refused by a limit", "dir", dirName(s.dir), "remote", s.endpoint, "peer", p, "limit", "connections per peer (libp2p default)", "err", err)
	}
	return err
}

func dirName(d network.Direction) string {
	switch d {
	case network.DirInbound:
		return "inbound"
	case network.DirOutbound:
		return "outbound"
	}
	return "unknown"
}
