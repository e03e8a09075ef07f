package node

import (
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
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
	h, err := n.newHost(n.dir.Key(), n.hostLimits(), n.connMgr)
	if err != nil {
		return err
	}
	n.host = h
	sender, err := n.senderAddress()
	if err != nil {
		return err
	}
	n.recvBudget = session.NewReceiveBudget(n.cfg.receiveMessages, n.cfg.receiveBytes)
	n.sendBudget = session.NewSendBudget(n.cfg.sendBytes)
	n.svc = session.NewService(h, n.mgr, n.sessionConfig(sender))
	return nil
}

// sessionConfig returns the settings and collaborators of every session, announcing
// sender as our address.
func (n *Node) sessionConfig(sender []byte) session.Config {
	cfg := &n.cfg
	maxDrift := cfg.maxTimestampDiff
	if maxDrift == 0 {
		maxDrift = -1 // witnet-rust's handshake_max_ts_diff = 0: no check
	}
	adapter := n.sessionBook()
	return session.Config{
		Magic:            cfg.magic,
		HandshakeTimeout: cfg.handshakeTimeout,
		MaxTimestampDiff: maxDrift,
		SenderAddress:    sender,
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
}

// newHost builds the libp2p host: TCP and QUIC, TLS preferred over Noise (TLS measured
// about 35% faster for small frames), yamux, our connection and resource managers, the
// sessions manager's gater and the upgrade timeout of the limits. It fails if a listen
// address is taken by another process or cannot be listened on (see listen.go).
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
		libp2p.DisableRelay(),
	}
	if len(cfg.announce) > 0 {
		announce := slices.Clone(cfg.announce)
		opts = append(opts, libp2p.AddrsFactory(func([]ma.Multiaddr) []ma.Multiaddr { return announce }))
	}
	if cfg.libp2pMetrics {
		opts = append(opts, libp2p.PrometheusRegisterer(n.reg))
	} else {
		opts = append(opts, libp2p.DisableMetrics())
	}
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

// senderAddress picks the Version.sender_address we announce: the first announce address
// if configured, else the best listen address (not loopback if there is another, TCP
// before QUIC), as a binary multiaddr with our /p2p/<id>. Inbound peers put it in their
// address book, which is how discovery spreads our address.
func (n *Node) senderAddress() ([]byte, error) {
	addrs := n.host.Addrs()
	if len(n.cfg.announce) > 0 {
		addrs = n.cfg.announce
	}
	best := bestAddr(addrs)
	if best == nil {
		return nil, nil
	}
	return protocol.MultiaddrAddress(best.Encapsulate(mustP2P(n.id)))
}

// bestAddr ranks addresses: routable before loopback, TCP before QUIC, then given order.
func bestAddr(addrs []ma.Multiaddr) ma.Multiaddr {
	var best ma.Multiaddr
	bestRank := -1
	for _, a := range addrs {
		ip, err := manet.ToIP(a)
		if err != nil || ip.IsUnspecified() {
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
