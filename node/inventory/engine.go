package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

var log = logging.Logger("witnet/inventory")

// Engine defaults, applied to zero Config fields.
const (
	// DefaultRequestTimeout is how long the peer we asked for an announced item has to
	// deliver it before the next peer that announced it is asked.
	DefaultRequestTimeout = 2 * time.Second
	// DefaultBlocksTimeout is witnet-rust's blocks_timeout: a peer that still owes us an
	// item it announced and we requested this long ago is iced and dropped.
	DefaultBlocksTimeout = 400 * time.Second
	// DefaultSeenSize is how many item keys the engine remembers beyond the store, so that
	// an item evicted from its pool is not fetched and gossiped again.
	DefaultSeenSize = 100_000
	// DefaultCacheSize is how many decoded items are kept for serving requests without
	// reading and decoding them again (a new item is requested by most neighbours at once).
	DefaultCacheSize = 1024
	// DefaultCacheBytes bounds the same cache by the heap its items take (estimated:
	// decodedCost): about 1,000 blocks of 8 KB, 4 of the largest.
	DefaultCacheBytes = 64 << 20
	// DefaultUnsolicitedPeerRate and DefaultUnsolicitedPeerBurst are the budget of item
	// bytes one peer may push without being asked (Config.UnsolicitedPeerRate): far
	// above what an honest witnet-rust peer pushes (its transactions, a few block
	// candidates an epoch, the superblock votes), and two blocks of the largest size at
	// once.
	DefaultUnsolicitedPeerRate  = 256 << 10
	DefaultUnsolicitedPeerBurst = 2 * DefaultMaxBlockSize
	// DefaultUnsolicitedRate and DefaultUnsolicitedBurst are the same budget for all
	// peers together (Config.UnsolicitedRate).
	DefaultUnsolicitedRate  = 2 << 20
	DefaultUnsolicitedBurst = 16 << 20
	// DefaultPushMaxSize is the largest submitted item pushed in full to every session
	// (Config.PushMaxSize).
	DefaultPushMaxSize = 16 << 10
	// DefaultCommitDelay is the writer's batching window (Config.CommitDelay). Commits
	// are not on the relay path but cost CPU (and fsync system time) that the relay
	// shares: on the gossip benchmark, 250 ms instead of 20 ms cut the CPU time of a
	// paced run by about a third and of a burst by about a quarter. A relayed item lost
	// to a crash in the window is fetched again; a submitted one is committed at once.
	DefaultCommitDelay = 250 * time.Millisecond
)

// Config holds an Engine's settings and collaborators. New copies it; the zero value of
// each field means what its comment says.
type Config struct {
	// Store holds the items; required.
	Store *Store
	// Decoder decodes, hashes and bounds items (set its Activations for the network).
	Decoder Decoder
	// Magic is the network id of the messages the engine builds; 0 means protocol.Magic.
	Magic uint16
	// Clock supplies time and timers; nil means the real clock.
	Clock session.Clock
	// RequestTimeout is how long an asked peer has to deliver before the next announcer is
	// asked; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// BlocksTimeout is how long a peer may owe an item it announced before it is iced and
	// dropped; 0 means DefaultBlocksTimeout.
	BlocksTimeout time.Duration
	// SeenSize bounds the keys remembered beyond the store; 0 means DefaultSeenSize.
	SeenSize int
	// CacheSize bounds the decoded items kept for serving; 0 means DefaultCacheSize.
	CacheSize int
	// CacheBytes bounds the heap those items take (estimated from their size); 0 means
	// DefaultCacheBytes.
	CacheBytes int
	// UnsolicitedPeerRate and UnsolicitedPeerBurst bound the item bytes one peer may send
	// that nobody asked it for (pushed items, items it does not owe, items that do not
	// decode), per second and at once: an item beyond is dropped and Received returns
	// session.OffenceUnsolicitedBudget, which ends the session. 0 means
	// DefaultUnsolicitedPeerRate and DefaultUnsolicitedPeerBurst; a negative rate removes
	// the bound.
	UnsolicitedPeerRate  float64
	UnsolicitedPeerBurst int
	// UnsolicitedRate and UnsolicitedBurst bound the same for all peers together: an item
	// beyond is dropped (not stored, not relayed), and nobody is blamed. 0 means
	// DefaultUnsolicitedRate and DefaultUnsolicitedBurst; a negative rate removes the
	// bound.
	UnsolicitedRate  float64
	UnsolicitedBurst int
	// Ice, if not nil, puts a peer that did not deliver into the address book's ice
	// bucket; the engine then closes its session.
	Ice func(session.Peer)
	// Registerer, if not nil, receives the engine's metrics.
	Registerer prometheus.Registerer
	// OnNew, if not nil, is called with every new item (received from a peer or
	// submitted) as soon as it is accepted: from then on it is served to peers that
	// request it and returned by Get, and it is announced right after the call. Its commit
	// to the store comes later (see OnStored). The Raw of an item received from a peer is
	// nil here (the writer encodes it; see OnStored), except for a superblock vote. It
	// runs on the goroutine that accepted the item (a session's reader, or Submit's
	// caller) and must not block.
	OnNew func(Item)
	// OnStored, if not nil, is called with every new item once the writer has committed
	// it to the store. It runs on the writer goroutine and must not block.
	OnStored func(Item)
	// CommitDelay is how long the writer waits, after the first item of a batch is
	// accepted, for more to join the batch before committing, so that a stream of
	// gossiped items costs one disk flush per CommitDelay rather than one per item. It is
	// not on the relay path (an item is served and announced before its commit), and a
	// Submit waiting for its commit cuts the wait short. 0 means DefaultCommitDelay;
	// negative means commit at once. It is measured on the real clock: it is a batching
	// window, not a protocol timeout.
	CommitDelay time.Duration
	// MaxAnnouncedPerPeer bounds the announced entries tracked for one peer: requested
	// from it and not delivered, or waiting to be requested from it. Entries beyond it
	// are ignored, and the announcement that brought them costs the peer
	// session.OffenceAnnouncementOverflow. 0 means DefaultMaxAnnouncedPerPeer.
	MaxAnnouncedPerPeer int
	// MaxInFlightPerPeer bounds the entries requested from one peer and not delivered
	// yet; announced entries beyond it wait, and are requested from the peer as it
	// delivers (or from another announcer). 0 means DefaultMaxInFlightPerPeer.
	MaxInFlightPerPeer int
	// MaxTrackedBytes bounds the memory of announcement tracking for all peers together;
	// entries announced beyond it are ignored (not scored: no single peer is at fault).
	// 0 means DefaultMaxTrackedBytes.
	MaxTrackedBytes int
	// PushMaxSize is the largest submitted item (encoded bytes) that is pushed in full to
	// every session instead of announced: no neighbour can hold an item this node
	// submits, so each would request it, and the push saves the announcement, the
	// request and two of the three trips of the first hop. Larger submitted items, and
	// every item relayed from a peer, are announced. 0 means DefaultPushMaxSize;
	// negative means announce every item (superblock votes, which no entry can name,
	// are pushed regardless).
	PushMaxSize int
}

// conn is the part of a session the engine uses; *session.Session implements it, tests
// use fakes.
type conn interface {
	Key() session.Key
	Peer() session.Peer
	Type() session.Type
	AnnounceItems([]*pb.InventoryEntry) error
	Send(*pb.Message) error
	SendInventoryItem(*pb.Message) error
	SendLastBeacon(*pb.LastBeacon) error
	Close(error)
}

var _ conn = (*session.Session)(nil)

// Engine is a node's inventory service: it answers the sessions' inventory calls
// (session.Inventory), stores new items and gossips them to the consolidated sessions it
// is told about (AddSession, RemoveSession). It is safe for concurrent use.
// Its methods are spread over the package's files by concern (see the package
// documentation); its fields are grouped the same way below.
type Engine struct {
	cfg   Config
	store *Store
	clock session.Clock

	// mu guards the fields from closed to drained, and the fetch records.
	mu       sync.Mutex
	closed   bool
	sessions map[conn]struct{}      // the gossip targets (AddSession, RemoveSession)
	byPeer   map[session.Key][]conn // the same sessions by peer (one per direction at most)

	// Fetching (fetch.go, peers.go). inflight holds the announced items wanted and not
	// yet received; peers holds, per peer with a session, the items it owes and how many
	// fetches wait on it; tracked counts the announced entries tracked for all peers
	// (bounded by maxTracked); sweep is the timer of the next sweepOnce.
	inflight   map[entryKey]*fetch
	peers      map[session.Key]*peerState
	tracked    int
	maxTracked int
	sweep      session.Timer

	// Items (items.go). seen remembers the keys of accepted items beyond the store's
	// pools; cache holds the commands of recent items, for serving requests;
	// unsolicited is the node-wide budget of items nobody asked for.
	seen        *keyRing
	cache       *cmdCache
	unsolicited session.TokenBucket

	// Gossip (gossip.go): the items waiting for the flusher, by session.
	pending map[conn][]outbound

	// Writing (writer.go). unwritten holds accepted items until the writer has committed
	// them; requests for them are served from here meanwhile. unwrittenHash indexes the
	// same writes by item hash, for Get. writes is the writer's queue. The writer
	// goroutine is the only one that commits, so the queue is committed in order and a
	// barrier appended to it is passed only once everything before it is on disk.
	// drained is signalled (with mu) whenever the writer shrinks unwritten, and on Close.
	// unwrittenCost bounds it in bytes (maxUnwrittenBytes).
	unwritten     map[entryKey]*write
	unwrittenHash map[protocol.Hash]*write
	unwrittenCost int // decodedCost of the unwritten items
	writes        []*write
	drained       *sync.Cond

	writeKick chan struct{} // wakes the writer
	commitNow chan struct{} // a caller waits for a commit: end the batching window
	kick      chan struct{} // wakes the gossip flusher
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup // the writer and the flusher

	stats counters // atomic (metrics.go)
}

var _ session.Inventory = (*Engine)(nil)

// New returns a running Engine. Close stops it.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("inventory: Config.Store is required")
	}
	if cfg.Magic == 0 {
		cfg.Magic = protocol.Magic
	}
	if cfg.Clock == nil {
		cfg.Clock = session.RealClock{}
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.BlocksTimeout <= 0 {
		cfg.BlocksTimeout = DefaultBlocksTimeout
	}
	if cfg.SeenSize <= 0 {
		cfg.SeenSize = DefaultSeenSize
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.CacheBytes <= 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.UnsolicitedPeerRate == 0 {
		cfg.UnsolicitedPeerRate = DefaultUnsolicitedPeerRate
	}
	if cfg.UnsolicitedPeerBurst <= 0 {
		cfg.UnsolicitedPeerBurst = DefaultUnsolicitedPeerBurst
	}
	if cfg.UnsolicitedRate == 0 {
		cfg.UnsolicitedRate = DefaultUnsolicitedRate
	}
	if cfg.UnsolicitedBurst <= 0 {
		cfg.UnsolicitedBurst = DefaultUnsolicitedBurst
	}
	if cfg.MaxAnnouncedPerPeer <= 0 {
		cfg.MaxAnnouncedPerPeer = DefaultMaxAnnouncedPerPeer
	}
	if cfg.MaxInFlightPerPeer <= 0 {
		cfg.MaxInFlightPerPeer = DefaultMaxInFlightPerPeer
	}
	if cfg.MaxTrackedBytes <= 0 {
		cfg.MaxTrackedBytes = DefaultMaxTrackedBytes
	}
	if cfg.PushMaxSize == 0 {
		cfg.PushMaxSize = DefaultPushMaxSize
	}
	if cfg.CommitDelay == 0 {
		cfg.CommitDelay = DefaultCommitDelay
	}
	e := &Engine{
		cfg:        cfg,
		store:      cfg.Store,
		clock:      cfg.Clock,
		sessions:   make(map[conn]struct{}),
		byPeer:     make(map[session.Key][]conn),
		inflight:   make(map[entryKey]*fetch),
		peers:      make(map[session.Key]*peerState),
		maxTracked: max(cfg.MaxTrackedBytes/trackedEntryCost, 1),

		unsolicited: session.NewTokenBucket(cfg.UnsolicitedRate, float64(cfg.UnsolicitedBurst)),
		seen:        newKeyRing(cfg.SeenSize),
		cache:       newCmdCache(cfg.CacheSize, cfg.CacheBytes),
		pending:     make(map[conn][]outbound),
		kick:        make(chan struct{}, 1),

		unwritten:     make(map[entryKey]*write),
		unwrittenHash: make(map[protocol.Hash]*write),
		writeKick:     make(chan struct{}, 1),
		commitNow:     make(chan struct{}, 1),
	}
	e.drained = sync.NewCond(&e.mu)
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newCollector(e)); err != nil {
			return nil, fmt.Errorf("inventory: register metrics: %w", err)
		}
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.wg.Add(2)
	go e.flushLoop()
	go e.writeLoop()
	e.mu.Lock()
	e.armSweep()
	e.mu.Unlock()
	return e, nil
}

// Close stops the engine's goroutines and timers. It does not close the Store's database.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	if e.sweep != nil {
		e.sweep.Stop()
	}
	e.drained.Broadcast() // accepters held back by the backlog bound return
	e.mu.Unlock()
	e.cancel()
	e.wg.Wait()
	return nil
}

// Store returns the engine's store.
func (e *Engine) Store() *Store { return e.store }

// AddSession makes a consolidated session a gossip target. Wire it to the sessions
// manager's OnConsolidated hook.
func (e *Engine) AddSession(s *session.Session) { e.addConn(s) }

// RemoveSession forgets a session that ended. Wire it to the manager's OnUnregistered hook.
func (e *Engine) RemoveSession(s *session.Session) { e.removeConn(s) }

func (e *Engine) addConn(c conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sessions[c]; ok || e.closed {
		return
	}
	e.sessions[c] = struct{}{}
	e.byPeer[c.Key()] = append(e.byPeer[c.Key()], c)
}

func (e *Engine) removeConn(c conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, c)
	if _, ok := e.sessions[c]; ok {
		delete(e.sessions, c)
		id := c.Key()
		list := e.byPeer[id]
		for i, x := range list {
			if x == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) > 0 {
			e.byPeer[id] = list
		} else {
			delete(e.byPeer, id)
		}
	}
	if len(e.byPeer[c.Key()]) == 0 {
		e.removePeerLocked(c.Key())
	}
}

// connOfLocked returns a session of peer id, preferring an outbound one.
func (e *Engine) connOfLocked(id session.Key) conn {
	var found conn
	for _, c := range e.byPeer[id] {
		if c.Type() == session.Outbound {
			return c
		}
		found = c
	}
	return found
}
