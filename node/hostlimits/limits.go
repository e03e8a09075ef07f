package hostlimits

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// Derivation constants.
const (
	// minHandshakeHeadroom is the least number of extra inbound connections allowed beyond
	// inbound_limit, for peers still in their handshake (witnet-rust does not bound
	// unconsolidated inbound sessions at all). It is four times the handshakes one /24 may
	// hold, so that one subnet never fills it.
	minHandshakeHeadroom = 4 * handshakesPerSubnet
	// outboundDialHeadroom is the number of outbound connections allowed beyond twice
	// outbound_limit: feelers (one every 2 s, each lasting a handshake) and dials whose
	// handshake has not finished.
	outboundDialHeadroom = 8
	// connsPerIP caps connections from or to one IPv4 address (IPv6: one /56, and eight
	// times as many per /48), like libp2p's default: several nodes behind one NAT are
	// legitimate, hundreds are not. Loopback is unlimited unless Limits.LimitLoopback.
	connsPerIP = 8
)

// ConnGracePeriod protects a new connection from trimming while its session handshakes.
const ConnGracePeriod = time.Minute

// Limits are the libp2p limits derived from the session limits.
type Limits struct {
	// InboundConns, OutboundConns and Conns cap the system scope.
	InboundConns, OutboundConns, Conns int
	// HandshakeInbound caps inbound connections still being upgraded (transient scope).
	HandshakeInbound int
	// TrimLow and TrimHigh are the connection manager's watermarks: above TrimHigh it
	// closes unprotected connections down to TrimLow. Sessions protect their connection,
	// so only connections without a session are trimmed.
	TrimLow, TrimHigh int
	// PerIP is the per-address connection cap (loopback exempt unless LimitLoopback).
	PerIP int
	// HandshakesPerIP and HandshakesPerSubnet cap the inbound connections still in their
	// upgrade from one IPv4 address (IPv6 /64) and from one IPv4 /24 (IPv6 /48); 0 means
	// no cap. Loopback is exempt unless LimitLoopback.
	HandshakesPerIP, HandshakesPerSubnet int
	// UpgradeTimeout bounds an inbound connection's upgrade (see UpgraderOption); 0 means
	// DefaultUpgradeTimeout.
	UpgradeTimeout time.Duration
	// LimitLoopback applies the per-address caps (PerIP, HandshakesPerIP,
	// HandshakesPerSubnet) to loopback addresses too. Off by default: a local devnet or a
	// co-located wallet is not an attack; tests that attack from 127.0.0.x turn it on.
	// libp2p's connection rate limiter always exempts loopback.
	LimitLoopback bool
}

// Derive computes the libp2p limits for the given session limits (inbound_limit and
// outbound_limit; 0 inbound sessions is allowed).
func Derive(inbound, outbound int) Limits {
	headroom := max(minHandshakeHeadroom, inbound/4)
	l := Limits{
		InboundConns:        inbound + headroom,
		OutboundConns:       2*outbound + outboundDialHeadroom,
		HandshakeInbound:    headroom,
		PerIP:               connsPerIP,
		HandshakesPerIP:     handshakesPerIP,
		HandshakesPerSubnet: handshakesPerSubnet,
		UpgradeTimeout:      DefaultUpgradeTimeout,
	}
	l.Conns = l.InboundConns + l.OutboundConns
	l.TrimLow = inbound + outbound
	l.TrimHigh = min(l.TrimLow+max(outboundDialHeadroom, l.TrimLow/4), l.Conns)
	return l
}

// NewConnManager builds the connection manager from l. Close it unless a libp2p host
// took it over.
func NewConnManager(l Limits) (*connmgr.BasicConnMgr, error) {
	cm, err := connmgr.NewConnManager(l.TrimLow, l.TrimHigh, connmgr.WithGracePeriod(ConnGracePeriod))
	if err != nil {
		return nil, fmt.Errorf("hostlimits: connection manager: %w", err)
	}
	return cm, nil
}

// NewResourceManager builds the resource manager from l: libp2p's scaled defaults for
// memory, streams and services, with the connection limits replaced by ours and the
// session protocol's limits added. metrics turns on libp2p's resource-manager metrics.
func NewResourceManager(l Limits, metrics bool) (*ResourceManager, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	protocolLimits(&scaling, l)
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			ConnsInbound:  rcmgr.LimitVal(l.InboundConns),
			ConnsOutbound: rcmgr.LimitVal(l.OutboundConns),
			Conns:         rcmgr.LimitVal(l.Conns),
		},
		Transient: rcmgr.ResourceLimits{
			ConnsInbound:  rcmgr.LimitVal(l.HandshakeInbound),
			ConnsOutbound: rcmgr.LimitVal(l.OutboundConns),
			Conns:         rcmgr.LimitVal(l.HandshakeInbound + l.OutboundConns),
		},
	}
	limits := partial.Build(scaling.AutoScale())
	if fd := limits.ToPartialLimitConfig().System.FD; fd != rcmgr.DefaultLimit && int(fd) < l.Conns {
		log.Warnw("file descriptor limit is below the connection limit; raise ulimit -n", "fd", int(fd), "connections", l.Conns)
	}
	opts := []rcmgr.Option{
		rcmgr.WithLimitPerSubnet(
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 32, ConnCount: l.PerIP}},
			[]rcmgr.ConnLimitPerSubnet{{PrefixLength: 56, ConnCount: l.PerIP}, {PrefixLength: 48, ConnCount: 8 * l.PerIP}},
		),
	}
	if !l.LimitLoopback {
		opts = append(opts, rcmgr.WithNetworkPrefixLimit(
			[]rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("127.0.0.0/8"), ConnCount: math.MaxInt}},
			[]rcmgr.NetworkPrefixLimit{{Network: netip.MustParsePrefix("::1/128"), ConnCount: math.MaxInt}},
		))
	}
	if !metrics {
		opts = append(opts, rcmgr.WithMetricsDisabled())
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), opts...)
	if err != nil {
		return nil, fmt.Errorf("hostlimits: resource manager: %w", err)
	}
	streams := &streamRefusals{ResourceManager: rm}
	return &ResourceManager{ResourceManager: streams, limits: l, streams: streams, handshakes: newHandshakes(l)}, nil
}

// ResourceManager is libp2p's resource manager with the derived limits, plus the caps on
// inbound connections still in their upgrade per address and subnet. A connection refused
// for a limit is logged with that limit, on the side that refused it, and a session stream
// refused by a limit is logged with its peer (both throttled: at most one line per limit
// and refusalLogInterval, with the count of those left out).
type ResourceManager struct {
	network.ResourceManager
	limits     Limits
	streams    *streamRefusals
	handshakes *handshakes
	connLogs   throttle
}

var _ network.ResourceManager = (*ResourceManager)(nil)

// Limits returns the limits the manager was built with.
func (r *ResourceManager) Limits() Limits { return r.limits }

// StreamRefusals returns how many session streams the limits refused, logged or not.
func (r *ResourceManager) StreamRefusals() int64 { return r.streams.refusals.Load() }

// GetConnLimit lets libp2p check the connection manager's high watermark against us.
func (r *ResourceManager) GetConnLimit() int { return r.limits.Conns }

// OpenConnection opens a connection scope, logging a refusal. An inbound connection
// first takes a handshake slot of its address, which it holds until its upgrade ends.
func (r *ResourceManager) OpenConnection(dir network.Direction, usefd bool, endpoint ma.Multiaddr) (network.ConnManagementScope, error) {
	var slot *handshakeSlot
	if dir == network.DirInbound {
		var limit string
		if slot, limit = r.handshakes.acquire(ipOf(endpoint)); slot == nil {
			err := fmt.Errorf("%w: %s", network.ErrResourceLimitExceeded, limit)
			r.logRefusal(dir, endpoint, limit, err)
			return nil, err
		}
	}
	scope, err := r.ResourceManager.OpenConnection(dir, usefd, endpoint)
	if err != nil {
		slot.release()
		r.logRefusal(dir, endpoint, r.describe(dir, err), err)
		return nil, err
	}
	return &connScope{ConnManagementScope: scope, r: r, dir: dir, endpoint: endpoint, slot: slot}, nil
}

// logRefusal logs a connection refused by limit, throttled per limit.
func (r *ResourceManager) logRefusal(dir network.Direction, endpoint ma.Multiaddr, limit string, err error, kv ...any) {
	suppressed, ok := r.connLogs.allow(limit)
	if !ok {
		return
	}
	kv = append([]any{"dir", dirName(dir), "remote", endpoint, "limit", limit, "err", err, "unlogged_refusals", suppressed}, kv...)
	log.Warnw("connection refused by a limit", kv...)
}

// ipOf returns the IP of a transport multiaddr, or the zero Addr.
func ipOf(a ma.Multiaddr) netip.Addr {
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr.Unmap()
}

// describe names the limit behind err.
func (r *ResourceManager) describe(dir network.Direction, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "per ip"):
		return fmt.Sprintf("connections per IP address: %d", r.limits.PerIP)
	case strings.Contains(msg, "rate limit"):
		return "connection rate per IP address (libp2p default)"
	case strings.Contains(msg, "file descriptor"):
		return "file descriptors (ulimit -n)"
	case !errors.Is(err, network.ErrResourceLimitExceeded):
		return "resource manager"
	case strings.Contains(msg, "transient") && dir == network.DirInbound:
		return fmt.Sprintf("inbound connections still in handshake: %d", r.limits.HandshakeInbound)
	case dir == network.DirInbound && strings.Contains(msg, "inbound"):
		return fmt.Sprintf("inbound connections: %d (inbound limit + handshake headroom)", r.limits.InboundConns)
	case dir == network.DirOutbound && strings.Contains(msg, "outbound"):
		return fmt.Sprintf("outbound connections: %d (2 x outbound limit + dial headroom)", r.limits.OutboundConns)
	default:
		return fmt.Sprintf("connections: %d", r.limits.Conns)
	}
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
