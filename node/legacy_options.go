package node

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/witnet-p2p/witnet-p2p/node/legacy"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// legacyConfig is what the plain-TCP options set (see legacy.go).
type legacyConfig struct {
	listen    netip.AddrPort // zero: no listener
	peers     []netip.AddrPort
	public    netip.AddrPort // zero: we send 0.0.0.0:0
	limitsSet bool
	inbound   int
	outbound  int
	bounds    legacy.Bounds
}

// enabled reports whether the node runs the plain-TCP transport at all.
func (c *legacyConfig) enabled() bool { return c.listen.IsValid() || len(c.peers) > 0 }

// limits returns the plain-TCP session limits in the manager's convention.
func (c *legacyConfig) limits() (inbound, outbound int) {
	if !c.limitsSet {
		return session.DefaultInboundLimit, session.DefaultOutboundLimit
	}
	return noneIfZero(c.inbound), noneIfZero(c.outbound)
}

// validate checks the plain-TCP settings against the rest.
func (c *legacyConfig) validate(libp2pListen int) error {
	if libp2pListen == 0 && !c.enabled() {
		return errors.New("a node with no libp2p listen address needs a plain-TCP listen address or peer")
	}
	for _, ap := range c.peers {
		if ap == c.public && c.public.IsValid() {
			return fmt.Errorf("plain-TCP peer %s is our own public address", ap)
		}
	}
	return nil
}

// checkAddrPort refuses what cannot be a plain-TCP peer or public address.
func checkAddrPort(what string, ap netip.AddrPort) error {
	if !ap.IsValid() || ap.Port() == 0 || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
		return fmt.Errorf("node: %s %s: want a unicast IP and a non-zero port", what, ap)
	}
	return nil
}

// WithLegacyListen accepts plain-TCP connections from witnet-rust nodes on addr
// (IP:PORT; port 0 picks a free one). Default: none. witnet-rust listens on
// 0.0.0.0:21337.
func WithLegacyListen(addr netip.AddrPort) Option {
	return func(c *config) error {
		if !addr.IsValid() {
			return errors.New("node: invalid plain-TCP listen address")
		}
		c.legacy.listen = addr
		return nil
	}
}

// WithLegacyPeers adds witnet-rust peers (IP:PORT) to dial over plain TCP: first, at
// start and in every bootstrap round while they have no outbound session (even iced),
// before the address book's IP:port entries. Later calls add to earlier ones.
func WithLegacyPeers(addrs ...netip.AddrPort) Option {
	return func(c *config) error {
		for _, ap := range addrs {
			if err := checkAddrPort("plain-TCP peer", ap); err != nil {
				return err
			}
		}
		c.legacy.peers = append(c.legacy.peers, addrs...)
		return nil
	}
}

// WithLegacyAnnounce sets the node's public plain-TCP address, which witnet-rust peers
// get as Version.sender_address (and put in their address books). Default: none, sent as
// 0.0.0.0:0 as witnet-rust does without a public address.
func WithLegacyAnnounce(addr netip.AddrPort) Option {
	return func(c *config) error {
		if err := checkAddrPort("plain-TCP public address", addr); err != nil {
			return err
		}
		c.legacy.public = addr
		return nil
	}
}

// WithLegacyLimits sets the inbound and outbound limits of the plain-TCP sessions, which
// do not count against WithLimits. Default: session.DefaultInboundLimit and
// session.DefaultOutboundLimit, the dialer keeping dialer.DefaultLegacyOutbound outbound
// sessions; with this option it keeps outbound of them, the slots the beacon consensus
// counts them against. An inbound limit of 0 refuses every plain-TCP inbound session, an
// outbound limit of 0 every outbound one.
func WithLegacyLimits(inbound, outbound int) Option {
	return func(c *config) error {
		if inbound < 0 || outbound < 0 || inbound+outbound > maxSessions {
			return fmt.Errorf("node: plain-TCP limits inbound=%d outbound=%d: want >= 0, at most %d together", inbound, outbound, maxSessions)
		}
		c.legacy.limitsSet, c.legacy.inbound, c.legacy.outbound = true, inbound, outbound
		return nil
	}
}

// WithLegacyBounds sets the plain-TCP accept loop's bounds (legacy.Bounds: handshaking
// connections in total and per IP, accept rate, largest handshake frame). A zero field
// keeps its default.
func WithLegacyBounds(b legacy.Bounds) Option {
	return func(c *config) error {
		if b.MaxHandshaking < 0 || b.MaxHandshakingPerIP < 0 || b.AcceptBurst < 0 || b.MaxHandshakeFrame < 0 {
			return errors.New("node: plain-TCP bounds must not be negative (but the accept rate)")
		}
		c.legacy.bounds = b
		return nil
	}
}

// WithNoLibp2pListen makes the node listen for no libp2p connection; it still dials
// libp2p peers it is given. With WithLegacyListen or WithLegacyPeers it is a plain-TCP
// node, as a witnet-rust node is.
func WithNoLibp2pListen() Option {
	return func(c *config) error {
		c.listen = nil
		return nil
	}
}
