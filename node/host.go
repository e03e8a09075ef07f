package node

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	tls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/witnet-p2p/witnet-p2p/node/hostlimits"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// buildHost builds the libp2p host and the session service on it: from here on, peers
// can connect.
func (n *Node) buildHost() error {
	n.nat = newNATState(n.cfg.nat, n.mgr)
	if err := n.reg.Register((*natCollector)(n.nat)); err != nil {
		return fmt.Errorf("node: metrics: %w", err)
	}
	h, err := n.newHost(n.dir.Key(), n.hostLimits(), n.connMgr)
	if err != nil {
		return err
	}
	n.host = h
	n.nat.setHost(h)
	n.recvBudget = session.NewReceiveBudget(n.cfg.receiveMessages, n.cfg.receiveBytes)
	n.sendBudget = session.NewSendBudget(n.cfg.sendBytes)
	n.svc = session.NewService(h, n.mgr, n.sessionConfig())
	return nil
}

// sessionConfig returns the settings and collaborators of every session.
func (n *Node) sessionConfig() session.Config {
	cfg := &n.cfg
	maxDrift := cfg.maxTimestampDiff
	if maxDrift == 0 {
		maxDrift = -1 // witnet-rust's handshake_max_ts_diff = 0: no check
	}
	adapter := n.sessionBook()
	c := session.Config{
		Magic:            cfg.magic,
		HandshakeTimeout: cfg.handshakeTimeout,
		MaxTimestampDiff: maxDrift,
		Clock:            cfg.clock,
		Nonces:           session.NewNonceSet(0),
		AddressBook:      adapter,
		Chain:            n.chain,
		Inventory:        n.inv,
		Activations:      cfg.inventory.versions(),
		Blocks:           n.blockSink(),
		Budgets:          cfg.budgets,
		MaxFrameSize:     cfg.maxFrameSize,
		ReceiveBudget:    n.recvBudget,
		SendBudget:       n.sendBudget,
	}
	// Our address changes at run time (a private node gets relay addresses).
	c.SenderAddressFunc = n.senderAddress
	return c
}

// newHost builds the libp2p host: TCP and QUIC, TLS preferred over Noise (TLS measured
// about 35% faster for small frames), yamux, our connection and resource managers, the
// sessions manager's gater, the upgrade timeout of the limits and NAT traversal (nat.go).
// It fails if a listen address is taken by another process or cannot be listened on (see
// listen.go).
func (n *Node) newHost(key crypto.PrivKey, limits hostlimits.Limits, cm *connmgr.BasicConnMgr) (host.Host, error) {
	cfg := &n.cfg
	if err := probeListenAddrs(cfg.listen); err != nil {
		return nil, err
	}
	rm, err := hostlimits.NewResourceManager(limits, cfg.libp2pMetrics)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(cfg.listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(tls.ID, tls.New),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(hostlimits.Gater(n.mgr.Gater())),
		hostlimits.UpgraderOption(limits),
		libp2p.UserAgent(protocol.UserAgent()),
		libp2p.WithDialTimeout(cfg.dialTimeout),
	}
	announce := slices.Clone(cfg.announce)
	opts = append(opts, libp2p.AddrsFactory(func(addrs []ma.Multiaddr) []ma.Multiaddr { return n.nat.announce(announce, addrs) }))
	if cfg.libp2pMetrics {
		opts = append(opts, libp2p.PrometheusRegisterer(n.reg))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
	opts = append(opts, n.nat.libp2pOptions(n.reg, cfg.libp2pMetrics)...)
	opts = append(opts, cfg.hostOptions...)
	h, err := libp2p.New(opts...)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("node: libp2p host: %w", err)
	}
	if err := checkListening(cfg.listen, h.Network().ListenAddresses()); err != nil {
		_ = h.Close()
		return nil, err
	}
	return h, nil
}

// senderAddress picks the Version.sender_address we announce, at each handshake: the
// first announce address if configured; else, for a node that AutoNAT found private, one
// of its relay addresses; else the best of the addresses AutoNAT v2 confirmed reachable;
// else the best of the interface addresses we listen on (not loopback if there is another,
// TCP before QUIC); as a binary multiaddr with our /p2p/<id>. Inbound peers put it in
// their address book, which is how discovery spreads our address, so an address a peer
// merely observed (a NAT's mapping of our port, which nobody else can dial) is never sent.
// Nil (0.0.0.0:0 on the wire) if there is none.
func (n *Node) senderAddress() []byte {
	var best ma.Multiaddr
	switch {
	case len(n.cfg.announce) > 0:
		best = bestAddr(n.cfg.announce)
	case n.nat.reachability() == network.ReachabilityPrivate:
		best = bestRelayed(n.nat.relayAddrs())
	}
	if best == nil {
		if c, ok := n.host.(interface {
			ConfirmedAddrs() (reachable, unreachable, unknown []ma.Multiaddr)
		}); ok {
			reachable, _, _ := c.ConfirmedAddrs()
			best = bestAddr(reachable)
		}
	}
	if best == nil {
		if ifaces, err := n.host.Network().InterfaceListenAddresses(); err == nil {
			best = bestAddr(ifaces)
		}
	}
	if best == nil {
		return nil
	}
	b, err := protocol.MultiaddrAddress(best.Encapsulate(mustP2P(n.id)))
	if err != nil {
		log.Debugw("sender address not encodable", "addr", best, "err", err)
		return nil
	}
	return b
}

// bestAddr ranks direct addresses: routable before loopback, TCP before QUIC, then given
// order. Relay addresses are left out.
func bestAddr(addrs []ma.Multiaddr) ma.Multiaddr {
	var best ma.Multiaddr
	bestRank := -1
	for _, a := range addrs {
		ip, err := manet.ToIP(a)
		if err != nil || ip.IsUnspecified() || isRelayed(a) {
			continue
		}
		rank := 0
		if !ip.IsLoopback() {
			rank += 2
		}
		if transportCode(a) == ma.P_TCP {
			rank++
		}
		if rank > bestRank {
			best, bestRank = a, rank
		}
	}
	return best
}
