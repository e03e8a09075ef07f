package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
)

// bookOptions holds the address book's and the dialer's hardening settings. Its zero value
// means the packages' defaults.
type bookOptions struct {
	policy           peers.AddrPolicy
	addrRate         float64
	addrBurst        int
	escalateAfter    int
	escalateLoopback bool
	maxIced          int
	maxIceBytes      int
	maxPerNetgroup   int
	netgroupLocal    bool
	sybilBits6       int
	noPeersHint      time.Duration
}

// bookConfig returns the address book's configuration.
func (n *Node) bookConfig() peers.Config {
	o := n.cfg.book
	return peers.Config{
		Self: n.id, Now: n.cfg.clock.Now,
		IcePeriod: n.cfg.icePeriod, IcePeriodBeforeBootstrap: n.cfg.icePeriod,
		Policy: o.policy, AddrRate: o.addrRate, AddrBurst: o.addrBurst,
		EscalateAfter: o.escalateAfter, EscalateLoopback: o.escalateLoopback,
		MaxIced: o.maxIced, MaxIceBytes: o.maxIceBytes,
	}
}

// WithAddrPolicy sets which addresses heard from peers the address book accepts (see
// peers.AddrPolicy). Default: peers.PolicySameScope: public addresses from anyone,
// private-range ones from peers on a private range or loopback, loopback ones from
// loopback peers, reserved ones never; a local devnet and a Docker network find each
// other, a peer on the Internet cannot make the node dial inside its networks.
func WithAddrPolicy(p peers.AddrPolicy) Option {
	return func(c *config) error {
		if p != peers.PolicySameScope && p != peers.PolicyPublicOnly {
			return fmt.Errorf("node: unknown address policy %d", p)
		}
		c.book.policy = p
		return nil
	}
}

// WithAddrRate sets the per-peer token bucket of addresses heard from peers: a long-run
// rate per second and a burst. A negative rate turns the limit off. Defaults:
// peers.DefaultAddrRate (0.1/s) and peers.DefaultAddrBurst (1000), Bitcoin Core's.
func WithAddrRate(perSecond float64, burst int) Option {
	return func(c *config) error {
		if burst < 0 || perSecond != perSecond {
			return errors.New("node: address rate must be a number and the burst >= 0")
		}
		c.book.addrRate, c.book.addrBurst = perSecond, burst
		return nil
	}
}

// WithEscalation sets after how many peers iced for misbehaviour from one IPv4 address
// (IPv6 /48) the address itself is iced (0 keeps peers.DefaultEscalateAfter, negative
// never), and whether loopback addresses escalate too (by default they are exempt: a
// local devnet shares 127.0.0.1; tests turn it on).
func WithEscalation(after int, loopback bool) Option {
	return func(c *config) error {
		c.book.escalateAfter, c.book.escalateLoopback = after, loopback
		return nil
	}
}

// WithIceBounds bounds the ice bucket in records and stored bytes; the record iced longest
// ago is evicted first. Zero keeps a default: peers.DefaultMaxIced (10,000 records) and
// peers.DefaultMaxIceBytes (4 MiB).
func WithIceBounds(records, bytes int) Option {
	return func(c *config) error {
		if records < 0 || bytes < 0 {
			return errors.New("node: negative ice bounds")
		}
		c.book.maxIced, c.book.maxIceBytes = records, bytes
		return nil
	}
}

// WithNetgroupBound sets how many outbound sessions to peers of the address book may share
// one netgroup (IPv4 /16, IPv6 /32; 0 keeps dialer.DefaultMaxPerNetgroup, negative
// removes the bound) and whether loopback and private addresses are bounded too (by
// default they are exempt; tests on 127.0.0.x turn it on).
func WithNetgroupBound(max int, local bool) Option {
	return func(c *config) error {
		c.book.maxPerNetgroup, c.book.netgroupLocal = max, local
		return nil
	}
}

// WithSybilRangeIPv6 sets the prefix length (1..128) that makes an IPv6 network range for
// the sybil rule, or 0 for witnet-rust's single range for every IPv6 peer. Default:
// session.DefaultSybilRangeLimitIPv6 (/32).
func WithSybilRangeIPv6(bits int) Option {
	return func(c *config) error {
		if bits < 0 || bits > 128 {
			return fmt.Errorf("node: IPv6 sybil range %d bits, want 0..128", bits)
		}
		c.book.sybilBits6 = bits
		if bits == 0 {
			c.book.sybilBits6 = -1
		}
		return nil
	}
}

// WithNoPeersHint sets how often a node without any session logs how to bootstrap;
// negative never. Default: dialer.DefaultNoPeersHint.
func WithNoPeersHint(d time.Duration) Option {
	return func(c *config) error {
		c.book.noPeersHint = d
		return nil
	}
}
