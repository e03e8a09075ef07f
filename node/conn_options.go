package node

// Options of the node's connection defences (per-address caps, inbound eviction); the
// others are in options.go.

// WithPerIPLoopback sets whether loopback addresses are exempt from the per-address
// connection caps: connections per IP, and inbound connections still in their libp2p
// upgrade per IP and per /24 (node/hostlimits). Default: exempt (a local devnet is not an
// attack); tests that attack from 127.0.0.x turn the exemption off. libp2p's connection
// rate limiter always exempts loopback.
func WithPerIPLoopback(exempt bool) Option {
	return func(c *config) error {
		c.perIPLoopbackOK = exempt
		return nil
	}
}

// WithInboundEviction sets whether an inbound peer that finds every inbound slot taken
// may evict an unprotected inbound session (session.ManagerConfig.NoEviction, Bitcoin
// Core's rule). Default: on. Off, a full node refuses newcomers as witnet-rust does.
func WithInboundEviction(on bool) Option {
	return func(c *config) error {
		c.noEviction = !on
		return nil
	}
}
