package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/eventbus"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"

	"github.com/witnet-p2p/witnet-p2p/session"
)

var (
	// ErrNoDirectConnection ends a session dial to a peer reachable only through a
	// relay when hole punching made no direct connection within the wait (a symmetric
	// NAT on either side, say). Sessions never run over the relay.
	ErrNoDirectConnection = errors.New("node: no direct connection by hole punching")
	// errCannotHolePunch declines a session dial to a peer reachable only through a
	// relay while we have no public address to punch from. It wraps
	// session.ReasonRegisterRefused: the dial was refused here, not by the peer, which
	// is not iced for it.
	errCannotHolePunch = fmt.Errorf("%w: node: no public address of ours to hole punch from yet", session.ReasonRegisterRefused)
)

// dialSession is the dialer's DialFunc. A peer with a direct address is dialled as
// usual. A peer whose only working address is a relay's gets a relayed connection, which
// the peer answers by punching a hole (DCUtR, the peer initiating); the session then
// opens on the direct connection, never on the relayed one, whose data and time are
// limited. If no direct connection comes within the hole-punch wait, the dial fails with
// ErrNoDirectConnection and the relayed connection is closed, so that a later dial makes a
// new one (the peer punches only when a relayed connection arrives).
func (n *Node) dialSession(ctx context.Context, ai peer.AddrInfo, t session.Type) (*session.Session, error) {
	if !slices.ContainsFunc(ai.Addrs, isRelayed) {
		return n.svc.Dial(ctx, ai, t)
	}
	m := n.nat.metrics
	if !n.canHolePunch() {
		m.relayedDials.WithLabelValues("not_ready").Inc()
		return nil, errCannotHolePunch
	}
	if err := n.host.Connect(network.WithAllowLimitedConn(ctx, "witnet: relayed connection for hole punching"), ai); err != nil {
		m.relayedDials.WithLabelValues("failed").Inc()
		return nil, fmt.Errorf("session: connect to %s: %w", ai.ID, err)
	}
	if n.host.Network().Connectedness(ai.ID) == network.Connected {
		return n.svc.Dial(ctx, ai, t) // a direct address worked after all
	}
	// waitDirect checks the connectedness after subscribing, so a direct connection
	// made in between is not missed. The subscription is drained while it lives.
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged), eventbus.BufSize(64))
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	defer sub.Close()
	start := time.Now()
	log.Debugw("peer reached through a relay; waiting for a direct connection", "peer", ai.ID, "type", t)
	if err := n.waitDirect(ctx, sub, ai.ID); err != nil {
		n.closeLimited(ai.ID)
		if n.ctx.Err() != nil || errors.Is(ctx.Err(), context.Canceled) {
			return nil, err // shutting down: not the peer's fault, nothing to count
		}
		m.relayedDials.WithLabelValues("no_direct").Inc()
		c := n.mgr.NumSessions()
		log.Infow("no direct connection to a peer reachable only through a relay; sessions kept", "peer", ai.ID, "type", t,
			"waited", time.Since(start).Round(time.Millisecond), "outbound_sessions", c.OutboundConsolidated, "inbound_sessions", c.InboundConsolidated, "err", err)
		return nil, fmt.Errorf("%w to %s: %w", ErrNoDirectConnection, ai.ID, err)
	}
	waited := time.Since(start)
	m.relayedDials.WithLabelValues("direct").Inc()
	m.directWait.Observe(waited.Seconds())
	log.Infow("direct connection to a peer reached through a relay", "peer", ai.ID, "type", t, "waited", waited.Round(time.Millisecond))
	// The dialer's context may have run out while we waited: the session gets a dial
	// timeout of its own.
	dctx, cancel := context.WithTimeout(n.ctx, n.cfg.dialTimeout)
	defer cancel()
	s, err := n.svc.Dial(dctx, ai, t)
	n.closeLimited(ai.ID) // the relay's circuit is no longer needed
	return s, err
}

// canHolePunch reports whether our hole-punch service runs: libp2p starts it once we
// have a public address (our own, or one a peer observed), and a relayed connection
// that arrives earlier is never upgraded.
func (n *Node) canHolePunch() bool {
	return slices.Contains(n.host.Mux().Protocols(), holepunch.Protocol)
}

// waitDirect waits for a direct connection to p, for at most the hole-punch wait. It
// stops early when ctx is cancelled (the dialer closing), but not when ctx merely passes
// its deadline: the dialer's timeout is for connecting, which is done.
func (n *Node) waitDirect(ctx context.Context, sub event.Subscription, p peer.ID) error {
	wctx, cancel := context.WithTimeout(n.ctx, n.cfg.nat.holePunchWait)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		if errors.Is(ctx.Err(), context.Canceled) {
			cancel()
		}
	})
	defer stop()
	for {
		if n.host.Network().Connectedness(p) == network.Connected {
			return nil
		}
		select {
		case <-wctx.Done():
			return wctx.Err()
		case e, ok := <-sub.Out():
			if !ok {
				return errors.New("host closed")
			}
			if ev, ok := e.(event.EvtPeerConnectednessChanged); ok && ev.Peer == p && ev.Connectedness == network.NotConnected {
				return errors.New("relayed connection lost")
			}
		}
	}
}

// closeLimited closes our relayed connections to p.
func (n *Node) closeLimited(p peer.ID) {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if c.Stat().Limited {
			_ = c.Close()
		}
	}
}
