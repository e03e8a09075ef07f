package hostlimits

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/core/transport"
	tptu "github.com/libp2p/go-libp2p/p2p/net/upgrader"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/fx"
)

// Inbound connections still in their libp2p upgrade (security handshake, then muxer
// negotiation). Until the upgrade ends a connection has no peer ID, so nothing but its
// address can be held against it: libp2p lets one address hold every handshake slot for
// 15 s (its accept timeout), locking every newcomer out. A trusted node bounds the time
// and the handshakes per address, as Bitcoin Core bounds unverified connections.
const (
	// DefaultUpgradeTimeout bounds an inbound connection's whole upgrade; libp2p's default
	// is 15 s. A TLS 1.3 or Noise handshake with early muxer negotiation takes two round
	// trips, well under a second on any real path.
	DefaultUpgradeTimeout = 3 * time.Second
	// handshakesPerIP caps the inbound connections of one IPv4 address (IPv6: one /64)
	// still in their upgrade.
	handshakesPerIP = 4
	// handshakesPerSubnet caps the same for one IPv4 /24 (IPv6: one /48).
	handshakesPerSubnet = 16
)

// Prefix lengths of the handshake caps.
const (
	ipv4HostBits, ipv4SubnetBits = 32, 24
	ipv6HostBits, ipv6SubnetBits = 64, 48
)

// handshakes counts the inbound connections still in their upgrade, per address and per
// subnet. A connection takes a slot when its scope opens and gives it back when its
// upgrade completes (Gater's InterceptUpgraded) or its scope ends (the upgrade failed,
// timed out or the connection closed), whichever comes first.
type handshakes struct {
	perIP, perSubnet int
	limitLoopback    bool

	mu    sync.Mutex
	hosts map[netip.Prefix]int
	nets  map[netip.Prefix]int
	total int

	refusals atomic.Int64
}

func newHandshakes(l Limits) *handshakes {
	return &handshakes{
		perIP: l.HandshakesPerIP, perSubnet: l.HandshakesPerSubnet, limitLoopback: l.LimitLoopback,
		hosts: map[netip.Prefix]int{}, nets: map[netip.Prefix]int{},
	}
}

// handshakeSlot is one connection's place in the counts; release is idempotent.
type handshakeSlot struct {
	h         *handshakes
	host, net netip.Prefix
	once      sync.Once
	counted   bool
}

// prefixes returns the host and subnet prefixes of ip for the caps.
func prefixes(ip netip.Addr) (host, subnet netip.Prefix) {
	ip = ip.Unmap()
	hb, sb := ipv4HostBits, ipv4SubnetBits
	if ip.Is6() {
		hb, sb = ipv6HostBits, ipv6SubnetBits
	}
	host, _ = ip.Prefix(hb)
	subnet, _ = ip.Prefix(sb)
	return host, subnet
}

// acquire takes a slot for a connection from ip. It returns the limit that refuses it, or
// "" with the slot. An address without an IP, and loopback unless limitLoopback, takes a
// slot that counts nothing.
func (h *handshakes) acquire(ip netip.Addr) (*handshakeSlot, string) {
	s := &handshakeSlot{h: h}
	if !ip.IsValid() || (ip.Unmap().IsLoopback() && !h.limitLoopback) {
		return s, ""
	}
	s.host, s.net = prefixes(ip)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.perIP > 0 && h.hosts[s.host] >= h.perIP:
		h.refusals.Add(1)
		return nil, fmt.Sprintf("inbound connections per IP address (IPv6 /64) still in handshake: %d", h.perIP)
	case h.perSubnet > 0 && h.nets[s.net] >= h.perSubnet:
		h.refusals.Add(1)
		return nil, fmt.Sprintf("inbound connections per /24 (IPv6 /48) still in handshake: %d", h.perSubnet)
	}
	h.hosts[s.host]++
	h.nets[s.net]++
	h.total++
	s.counted = true
	return s, ""
}

// release gives the slot back.
func (s *handshakeSlot) release() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		if !s.counted {
			return
		}
		h := s.h
		h.mu.Lock()
		defer h.mu.Unlock()
		decrement(h.hosts, s.host)
		decrement(h.nets, s.net)
		h.total--
	})
}

func decrement(m map[netip.Prefix]int, k netip.Prefix) {
	if n := m[k]; n > 1 {
		m[k] = n - 1
	} else {
		delete(m, k)
	}
}

// inProgress returns the number of counted connections still in their upgrade.
func (h *handshakes) inProgress() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// connScope is a connection scope of the ResourceManager: it logs a refusal when the
// connection is attached to its peer (per-peer limits) and holds the connection's
// handshake slot, if it is inbound, until the upgrade ends or the scope does.
type connScope struct {
	network.ConnManagementScope
	r        *ResourceManager
	dir      network.Direction
	endpoint ma.Multiaddr
	slot     *handshakeSlot // nil for outbound connections
}

// SetPeer attaches the connection to p, logging a refusal.
func (s *connScope) SetPeer(p peer.ID) error {
	err := s.ConnManagementScope.SetPeer(p)
	if err != nil {
		s.r.logRefusal(s.dir, s.endpoint, "connections per peer (libp2p default)", err, "peer", p)
	}
	return err
}

// Done releases the handshake slot (if the upgrade never completed) and the scope.
func (s *connScope) Done() {
	s.slot.release()
	s.ConnManagementScope.Done()
}

// upgraded releases the handshake slot of a connection whose upgrade completed.
func (s *connScope) upgraded() { s.slot.release() }

// InboundHandshakes returns the number of inbound connections still in their upgrade that
// the per-address caps count (loopback ones count only with Limits.LimitLoopback).
func (r *ResourceManager) InboundHandshakes() int { return r.handshakes.inProgress() }

// HandshakeRefusals returns how many inbound connections the per-address handshake caps
// refused.
func (r *ResourceManager) HandshakeRefusals() int64 { return r.handshakes.refusals.Load() }

// Gater wraps a connection gater so that a connection's handshake slot is given back as
// soon as its upgrade completes: libp2p calls InterceptUpgraded right after the muxer is
// set up, before the connection joins the swarm. Build the host with
// libp2p.ConnectionGater(hostlimits.Gater(g)) next to the ResourceManager. g may be nil
// (everything is allowed).
func Gater(g connmgr.ConnectionGater) connmgr.ConnectionGater { return upgradeGater{g} }

type upgradeGater struct{ inner connmgr.ConnectionGater }

var _ connmgr.ConnectionGater = upgradeGater{}

func (g upgradeGater) InterceptPeerDial(p peer.ID) bool {
	return g.inner == nil || g.inner.InterceptPeerDial(p)
}

func (g upgradeGater) InterceptAddrDial(p peer.ID, a ma.Multiaddr) bool {
	return g.inner == nil || g.inner.InterceptAddrDial(p, a)
}

func (g upgradeGater) InterceptAccept(a network.ConnMultiaddrs) bool {
	return g.inner == nil || g.inner.InterceptAccept(a)
}

func (g upgradeGater) InterceptSecured(d network.Direction, p peer.ID, a network.ConnMultiaddrs) bool {
	return g.inner == nil || g.inner.InterceptSecured(d, p, a)
}

// InterceptUpgraded gives the connection's handshake slot back, then asks the wrapped
// gater.
func (g upgradeGater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	if s, ok := c.Scope().(*connScope); ok {
		s.upgraded()
	}
	if g.inner == nil {
		return true, 0
	}
	return g.inner.InterceptUpgraded(c)
}

// UpgraderOption sets the accept timeout of the host's upgrader to l.UpgradeTimeout: an
// inbound connection whose security handshake and muxer negotiation have not completed by
// then is closed. libp2p offers no option for it, so the upgrader libp2p builds is
// replaced by one built from the same parts with the timeout set.
func UpgraderOption(l Limits) libp2p.Option {
	timeout := l.UpgradeTimeout
	if timeout <= 0 {
		timeout = DefaultUpgradeTimeout
	}
	build := func(_ transport.Upgrader, security []sec.SecureTransport, muxers []tptu.StreamMuxer,
		psk pnet.PSK, rm network.ResourceManager, g connmgr.ConnectionGater) (transport.Upgrader, error) {
		return tptu.New(security, muxers, psk, rm, g, tptu.WithAcceptTimeout(timeout))
	}
	return libp2p.WithFxOption(fx.Decorate(fx.Annotate(build, fx.ParamTags(``, `name:"security"`))))
}
