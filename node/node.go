package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/node/datadir"
	"github.com/witnet-p2p/witnet-p2p/node/dialer"
	"github.com/witnet-p2p/witnet-p2p/node/hostlimits"
	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/legacy"
	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Node is a running Witnet peer: host, sessions, address book, dialer and HTTP listener.
// Its methods are safe for concurrent use.
type Node struct {
	cfg     config // immutable after New
	id      peer.ID
	started time.Time

	dir        *datadir.Dir
	book       *peers.Book
	connMgr    *connmgr.BasicConnMgr // the host's once it is built
	host       host.Host
	mgr        *session.Manager
	svc        *session.Service
	dialer     *dialer.Dialer
	chain      session.Chain
	reg        *prometheus.Registry
	metrics    *metrics
	recvBudget *session.ReceiveBudget // nil: none (WithReceiveBudget)
	sendBudget *session.SendBudget    // nil: none (WithSendBudget)
	traffic    *traffic
	rpc        *rpc.Server // nil without an HTTP listener
	inv        *inventory.Engine
	legacy     *legacy.Transport // nil without plain-TCP peers or listener (legacy.go)
	nat        *natState
	rounds     *beaconRounds // the peers-beacon consensus (consensus_loop.go)

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // session watchers and the beacon loop

	spawnMu  sync.Mutex
	stopping bool // set by shutdown: spawn refuses new goroutines

	closeOnce sync.Once
	closeErr  error
}

// New builds a node from the options and starts it: it opens the data directory, builds
// the sessions and the dialer, starts listening, puts the bootstrap peers in the address
// book, starts the HTTP listener and then the dialer (its first bootstrap round right
// away). ctx bounds the start only; Close stops the node.
func New(ctx context.Context, opts ...Option) (*Node, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, started: time.Now(), traffic: newTraffic(), metrics: newMetrics()}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.shutdown()
		}
	}()
	if err := n.openDataDir(); err != nil {
		return nil, err
	}
	if err := n.buildSessions(); err != nil {
		return nil, err
	}
	if err := n.buildDialer(); err != nil {
		return nil, err
	}
	if err := n.buildHost(); err != nil {
		return nil, err
	}
	if err := n.buildLegacy(); err != nil {
		return nil, err
	}
	if err := n.watchNAT(); err != nil {
		return nil, err
	}
	if err := n.addBootstrap(); err != nil {
		return nil, err
	}
	if err := n.startRPC(); err != nil {
		return nil, err
	}
	n.start()
	ok = true
	newN, triedN, iceN := n.book.Counts()
	log.Infow("node started", "peer", n.id, "addrs", n.Addrs(), "book_new", newN, "book_tried", triedN, "book_ice", iceN)
	return n, nil
}

// openDataDir opens the data directory (whose lock keeps a second node off it), takes
// the identity from it or the options, and opens the address book in its database.
func (n *Node) openDataDir() error {
	dir, err := datadir.Open(n.cfg.dataDir, n.cfg.identity)
	if err != nil {
		return err
	}
	n.dir, n.id = dir, dir.ID()
	if n.book, err = peers.Open(dir.DB(), n.bookConfig()); err != nil {
		return fmt.Errorf("node: address book: %w", err)
	}
	return nil
}

// hostLimits returns the libp2p limits derived from the session limits.
func (n *Node) hostLimits() hostlimits.Limits {
	l := hostlimits.Derive(n.cfg.inboundLimit, n.cfg.outboundLimit)
	l.LimitLoopback = !n.cfg.perIPLoopbackOK
	return l
}

// buildSessions builds what the sessions work with: the chain, the sessions manager (and
// the connection manager it protects sessions in), the metrics registry and the
// inventory.
func (n *Node) buildSessions() error {
	cfg := &n.cfg
	var err error
	if n.connMgr, err = hostlimits.NewConnManager(n.hostLimits()); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	adapter := n.sessionBook()
	n.mgr = session.NewManager(session.ManagerConfig{
		InboundLimit:        noneIfZero(cfg.inboundLimit),
		OutboundLimit:       noneIfZero(cfg.outboundLimit),
		RejectSybilInbounds: cfg.rejectSybil,
		SybilRangeLimit:     noneIfZero(cfg.sybilRangeBits),
		SybilRangeLimitIPv6: cfg.book.sybilBits6,
		SybilOnLoopback:     !cfg.sybilLoopbackOK,
		NoEviction:          cfg.noEviction,
		ConnManager:         n.connMgr,
		AddressBook:         adapter,
		Iced:                n.book.RefusesInbound,
		IcedAddr:            n.book.IsIcedAddr,
		Clock:               cfg.clock,
		Self:                n.id,
		PublicAddrs:         cfg.announce,
		PublicTCPAddrs:      publicTCP(cfg.legacy.public),
		OnConsolidated:      n.onConsolidated,
		OnUnregistered:      func(s *session.Session) { n.inv.RemoveSession(s); n.watch(s) },
		OnPeerBeacons:       func(r session.PeerBeacons) { n.rounds.onPeerBeacons(r) },
	})
	n.reg = newRegistry(n, n.metrics)

	invStore, err := inventory.OpenStore(n.dir.DB(), inventory.StoreConfig{})
	if err != nil {
		return fmt.Errorf("node: inventory: %w", err)
	}
	if n.inv, err = inventory.New(inventory.Config{
		Store:      invStore,
		Decoder:    cfg.inventory.decoder(),
		Magic:      cfg.magic,
		Clock:      cfg.clock,
		Ice:        adapter.Ice,
		Registerer: n.reg,
	}); err != nil {
		return fmt.Errorf("node: inventory: %w", err)
	}
	n.buildChain()
	return nil
}

// noneIfZero maps our limits and range prefix, where 0 means none (no sessions, every
// inbound peer in one range), to the sessions manager's, where 0 means its default and a
// negative value means none.
func noneIfZero(v int) int {
	if v == 0 {
		return -1
	}
	return v
}

// buildDialer builds the dialer; start starts it. It is built before the host listens,
// because the sessions manager tells it of every consolidated session.
func (n *Node) buildDialer() error {
	cfg := dialer.Config{
		Book:            n.book,
		Sessions:        n.mgr,
		Dial:            n.dialSession,
		OnSession:       n.watch,
		Connected:       n.connected,
		MaxPerNetgroup:  n.cfg.book.maxPerNetgroup,
		NetgroupLocal:   n.cfg.book.netgroupLocal,
		NoPeersHint:     n.cfg.book.noPeersHint,
		Clock:           n.cfg.clock,
		Bootstrap:       n.cfg.bootstrap,
		BootstrapPeriod: n.cfg.bootstrapPeriod,
		DiscoveryPeriod: n.cfg.discoveryPeriod,
		FeelerPeriod:    n.cfg.feelerPeriod,
		MeltPeriod:      n.cfg.meltPeriod,
		DialTimeout:     n.cfg.dialTimeout,
		Registerer:      n.reg,
	}
	n.legacyDialConfig(&cfg)
	d, err := dialer.New(cfg)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.dialer = d
	return n.reg.Register(bookCollector{n.book})
}

// startRPC starts the HTTP listener, unless it is turned off, with the inventory's
// JSON-RPC methods next to the node's.
func (n *Node) startRPC() error {
	if n.cfg.rpcAddr == "" {
		return nil
	}
	if n.cfg.rpcMethods == nil {
		n.cfg.rpcMethods = map[string]rpc.Method{}
	}
	for name, m := range n.inv.RPCMethods() {
		n.cfg.rpcMethods[name] = m
	}
	var err error
	if n.rpc, err = rpc.Listen(n.cfg.rpcAddr, (*rpcBackend)(n), n.reg, n.cfg.rpcAccess); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// start starts the background work: the dialer's rounds (the first bootstrap round at
// once) and the peers-beacon consensus rounds, which also send our beacon each epoch.
func (n *Node) start() {
	n.dialer.Start()
	n.spawn(func() { n.rounds.run(n.ctx) })
}

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Manager returns the sessions manager.
func (n *Node) Manager() *session.Manager { return n.mgr }

// Book returns the address book.
func (n *Node) Book() *peers.Book { return n.book }

// DB returns the node's database, shared by the address book and the inventory.
func (n *Node) DB() *bbolt.DB { return n.dir.DB() }

// Registry returns the node's Prometheus registry (served on /metrics).
func (n *Node) Registry() *prometheus.Registry { return n.reg }

// RPCAddr returns the bound address of the HTTP listener, or nil without one.
func (n *Node) RPCAddr() net.Addr {
	if n.rpc == nil {
		return nil
	}
	return n.rpc.Addr()
}

// Addrs returns the multiaddrs others can bootstrap from: the host's addresses, each
// ending in /p2p/<id>.
func (n *Node) Addrs() []ma.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.id, Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// Close stops the node: the dialer's rounds and dials end, the HTTP listener closes,
// every session is closed and unregistered, the host closes, and the database (every
// change of which was already committed) is closed. It is idempotent and returns the
// first error.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		log.Infow("node stopping", "peer", n.id)
		n.closeErr = n.shutdown()
		log.Infow("node stopped", "peer", n.id, "err", n.closeErr)
	})
	return n.closeErr
}

// shutdown releases whatever New managed to build, in reverse order.
func (n *Node) shutdown() error {
	var errs []error
	n.cancel()
	if n.dialer != nil {
		n.dialer.Close()
	}
	if n.legacy != nil {
		errs = append(errs, n.legacy.Close())
	}
	if n.rpc != nil {
		errs = append(errs, n.rpc.Close())
	}
	if n.svc != nil {
		errs = append(errs, n.svc.Close())
	}
	if n.mgr != nil {
		errs = append(errs, n.mgr.Close())
	}
	n.spawnMu.Lock()
	n.stopping = true
	n.spawnMu.Unlock()
	n.traffic.closeAll() // whatever session is left
	n.wg.Wait()
	if n.inv != nil {
		errs = append(errs, n.inv.Close())
	}
	switch {
	case n.host != nil:
		errs = append(errs, n.host.Close()) // closes the connection manager too
	case n.connMgr != nil:
		errs = append(errs, n.connMgr.Close())
	}
	if n.dir != nil {
		errs = append(errs, n.dir.Close())
	}
	return errors.Join(errs...)
}

// Traffic returns the message counters of every session the node has run, live and
// ended, by kind.
func (n *Node) Traffic() session.Stats { return n.traffic.total() }
