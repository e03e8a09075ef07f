package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/peer"
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
	// MaxBlocksSync is witnet-rust's MAX_BLOCKS_SYNC: the most block hashes announced to
	// an inbound peer whose beacon is behind ours.
	MaxBlocksSync = 500
	// DefaultPushMaxSize is the largest submitted item pushed in full to every session
	// (Config.PushMaxSize).
	DefaultPushMaxSize = 16 << 10
	// maxPushesPerFlush is the most items the flusher pushes to one session at a time;
	// when more are queued for it (a burst), they are announced instead, so that a burst
	// costs one body per node and few messages, and cannot overflow a send queue.
	maxPushesPerFlush = 8
	// DefaultCommitDelay is the writer's batching window (Config.CommitDelay). Commits
	// are not on the relay path but cost CPU (and fsync system time) that the relay
	// shares: on the gossip benchmark, 250 ms instead of 20 ms cut the CPU time of a
	// paced run by about a third and of a burst by about a quarter. A relayed item lost
	// to a crash in the window is fetched again; a submitted one is committed at once.
	DefaultCommitDelay = 250 * time.Millisecond
	// maxUnwritten bounds the accepted items waiting for the writer: beyond it, the
	// goroutine accepting an item (a session's reader) commits the queue itself, so a
	// peer flooding us is slowed to the disk's pace instead of growing memory.
	maxUnwritten = 4096
)

// ErrNotDelivered closes a session whose peer announced items, was asked for them and did
// not deliver them within the blocks timeout.
var ErrNotDelivered = errors.New("inventory: announced items not delivered within the blocks timeout")

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
	// Ice, if not nil, puts a peer that did not deliver into the address book's ice
	// bucket; the engine then closes its session.
	Ice func(session.Peer)
	// Registerer, if not nil, receives the engine's metrics.
	Registerer prometheus.Registerer
	// OnNew, if not nil, is called with every new item (received from a peer or
	// submitted) as soon as it is accepted: from then on it is served to peers that
	// request it and returned by Get, and it is announced right after the call. Its commit
	// to the store comes later (see OnStored). The Raw of an item received from a peer is
	// nil here (the writer encodes it; see OnStored), except for a superblock vote. It runs on the goroutine that accepted the
	// item (a session's reader, or Submit's caller) and must not block.
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
	ID() peer.ID
	Peer() session.Peer
	Type() session.Type
	AnnounceItems([]*pb.InventoryEntry) error
	Send(*pb.Message) error
	SendInventoryItem(*pb.Message) error
	SendLastBeacon(*pb.LastBeacon) error
	Close(error)
}

var _ conn = (*session.Session)(nil)

// entryKey identifies an item as inventory entries do: blocks and transactions by hash,
// superblocks by index; votes by hash (they have no entry).
type entryKey struct {
	superblock bool
	index      uint32
	hash       protocol.Hash
}

func keyOfItem(it Item) entryKey {
	if it.Kind == protocol.KindSuperBlock {
		return entryKey{superblock: true, index: it.Epoch}
	}
	return entryKey{hash: it.Hash}
}

// keyOfEntry returns the key an entry names; ok is false for an entry without a kind or
// with a malformed hash.
func keyOfEntry(e *pb.InventoryEntry) (k entryKey, kind protocol.Kind, ok bool) {
	switch v := e.GetKind().(type) {
	case *pb.InventoryEntry_Block:
		h, err := protocol.HashFromBytes(v.Block.GetSHA256())
		return entryKey{hash: h}, protocol.KindBlock, err == nil
	case *pb.InventoryEntry_Tx:
		h, err := protocol.HashFromBytes(v.Tx.GetSHA256())
		return entryKey{hash: h}, protocol.KindTransaction, err == nil
	case *pb.InventoryEntry_SuperBlock:
		return entryKey{superblock: true, index: v.SuperBlock}, protocol.KindSuperBlock, true
	}
	return entryKey{}, protocol.KindNone, false
}

// fetch is an announced item we asked one peer for.
type fetch struct {
	entry    *pb.InventoryEntry
	kind     protocol.Kind
	asked    peer.ID // "" when the session did not say who announced it
	deadline time.Time
	// next are the other peers that announced the item, to be asked in turn.
	next []peer.ID
	// holders are every peer known to hold the item (a handful: the announcers); they
	// are not announced it again.
	holders []peer.ID
}

// write is an accepted item waiting for the writer, or a barrier (barrier set, no item)
// whose done receives nil once every write queued before it is committed.
type write struct {
	key     entryKey
	it      Item
	cmd     *pb.Message_Command
	barrier bool
	done    chan error // nil unless a caller waits for the commit
}

// Engine is a node's inventory service: it answers the sessions' inventory calls
// (session.Inventory), stores new items and gossips them to the consolidated sessions it
// is told about (AddSession, RemoveSession). It is safe for concurrent use.
type Engine struct {
	cfg   Config
	store *Store
	clock session.Clock

	mu       sync.Mutex
	closed   bool
	sessions map[conn]struct{}
	inflight map[entryKey]*fetch
	// owed maps a peer to the items it announced, was asked for and has not delivered,
	// with the time of the first request.
	owed    map[peer.ID]map[entryKey]time.Time
	seen    *keyRing
	cache   *cmdCache
	pending map[conn][]outbound // items waiting for the flusher
	sweep   session.Timer
	// unwritten holds accepted items until the writer has committed them; requests for
	// them are served from here meanwhile. writes is the writer's queue. The writer
	// goroutine is the only one that commits, so the queue is committed in order and a
	// barrier appended to it is passed only once everything before it is on disk.
	// drained is signalled (with mu) whenever the writer shrinks unwritten, and on Close.
	// unwrittenHash indexes the same writes by item hash, for Get.
	unwritten     map[entryKey]*write
	unwrittenHash map[protocol.Hash]*write
	writes        []*write
	writeKick     chan struct{}
	commitNow     chan struct{} // a caller waits for a commit: end the batching window
	drained       *sync.Cond

	kick   chan struct{} // wakes the announcement flusher
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	stats counters
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
	if cfg.PushMaxSize == 0 {
		cfg.PushMaxSize = DefaultPushMaxSize
	}
	if cfg.CommitDelay == 0 {
		cfg.CommitDelay = DefaultCommitDelay
	}
	e := &Engine{
		cfg:      cfg,
		store:    cfg.Store,
		clock:    cfg.Clock,
		sessions: make(map[conn]struct{}),
		inflight: make(map[entryKey]*fetch),
		owed:     make(map[peer.ID]map[entryKey]time.Time),
		seen:     newKeyRing(cfg.SeenSize),
		cache:    newCmdCache(cfg.CacheSize),
		pending:  make(map[conn][]outbound),
		kick:     make(chan struct{}, 1),

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
	if !e.closed {
		e.sessions[c] = struct{}{}
	}
}

func (e *Engine) removeConn(c conn) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sessions, c)
	delete(e.pending, c)
	if !e.hasPeerLocked(c.ID()) {
		delete(e.owed, c.ID())
	}
}

// hasPeerLocked reports whether a session with peer id is a gossip target.
func (e *Engine) hasPeerLocked(id peer.ID) bool {
	for c := range e.sessions {
		if c.ID() == id {
			return true
		}
	}
	return false
}

// connOfLocked returns a session of peer id, preferring an outbound one.
func (e *Engine) connOfLocked(id peer.ID) conn {
	var found conn
	for c := range e.sessions {
		if c.ID() == id {
			if c.Type() == session.Outbound {
				return c
			}
			found = c
		}
	}
	return found
}

// Missing implements session.Inventory for a session that does not say who announced
// the entries: it returns the entries that are neither held nor already requested, and
// marks them requested.
func (e *Engine) Missing(entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	return e.missing(nil, entries)
}

// MissingFrom is Missing for entries announced by from: from is the peer asked for them,
// later announcers of the same items are asked in turn if it does not deliver, and a
// peer that announced an item is never announced it back.
func (e *Engine) MissingFrom(from *session.Session, entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	if from == nil {
		return e.missing(nil, entries)
	}
	return e.missing(from, entries)
}

func (e *Engine) missing(from conn, entries []*pb.InventoryEntry) []*pb.InventoryEntry {
	var id peer.ID
	if from != nil {
		id = from.ID()
	}
	e.stats.announcedIn.Add(uint64(len(entries)))
	// Entries unknown in memory are looked up on disk before the engine lock is taken: a
	// bbolt read can wait for the writer's commit to remap the file, and the relay must
	// not wait for the disk.
	keys := make([]entryKey, len(entries))
	kinds := make([]protocol.Kind, len(entries))
	var unknown []entryKey
	e.mu.Lock()
	for i, en := range entries {
		key, kind, ok := keyOfEntry(en)
		if !ok {
			kind = protocol.KindNone
		}
		keys[i], kinds[i] = key, kind
		if ok && e.inflight[key] == nil && !e.seen.has(key) && e.unwritten[key] == nil {
			unknown = append(unknown, key)
		}
	}
	e.mu.Unlock()
	onDisk := e.onDiskAll(unknown)
	now := e.clock.Now()
	var out []*pb.InventoryEntry
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, en := range entries {
		key, kind := keys[i], kinds[i]
		if kind == protocol.KindNone {
			continue
		}
		if f := e.inflight[key]; f != nil {
			if id != "" && !containsID(f.holders, id) {
				f.holders = append(f.holders, id)
			}
			if id == "" || id == f.asked || containsID(f.next, id) {
				e.stats.dupAnnouncements.Add(1)
				continue
			}
			if now.Before(f.deadline) {
				f.next = append(f.next, id)
				e.stats.dupAnnouncements.Add(1)
				continue
			}
			// The asked peer is late: ask this one now.
			f.asked, f.deadline = id, now.Add(e.cfg.RequestTimeout)
			e.oweLocked(id, key, now)
			out = append(out, en)
			continue
		}
		// An entry that was in flight during the first pass and got delivered since is in
		// seen now; onDisk only answers for entries that were unknown then.
		if e.seen.has(key) || e.unwritten[key] != nil || onDisk[key] {
			e.stats.dupAnnouncements.Add(1)
			continue
		}
		f := &fetch{entry: en, kind: kind, asked: id, deadline: now.Add(e.cfg.RequestTimeout)}
		if id != "" {
			f.holders = []peer.ID{id}
			e.oweLocked(id, key, now)
		}
		e.inflight[key] = f
		out = append(out, en)
	}
	e.stats.requestedOut.Add(uint64(len(out)))
	return out
}

func containsID(ids []peer.ID, id peer.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func (e *Engine) oweLocked(id peer.ID, key entryKey, now time.Time) {
	m := e.owed[id]
	if m == nil {
		m = make(map[entryKey]time.Time)
		e.owed[id] = m
	}
	if _, ok := m[key]; !ok {
		m[key] = now
	}
}

// Item implements session.Inventory: it returns the command carrying the item that e
// names, if the store holds one of the entry's kind.
func (e *Engine) Item(en *pb.InventoryEntry) (*pb.Message_Command, bool) {
	e.stats.requestedIn.Add(1)
	key, kind, ok := keyOfEntry(en)
	if !ok {
		return nil, false
	}
	e.mu.Lock()
	cmd := e.cache.get(key)
	if w := e.unwritten[key]; cmd == nil && w != nil {
		cmd = w.cmd
	}
	e.mu.Unlock()
	if cmd != nil {
		// The cache is keyed like the store, by hash: a Tx entry must not get a block.
		if protocol.KindOf(&pb.Message{Kind: cmd}) != kind {
			return nil, false
		}
		return cmd, true
	}
	var (
		it  Item
		err error
	)
	if key.superblock {
		it, err = e.store.SuperBlock(key.index)
	} else {
		it, err = e.store.Get(key.hash)
	}
	if err != nil || it.Kind != kind {
		return nil, false
	}
	cmd, err = it.Command()
	if err != nil {
		log.Warnw("stored item does not decode", "hash", it.Hash, "kind", kindLabel(it.Kind), "err", err)
		return nil, false
	}
	e.mu.Lock()
	e.cache.put(key, cmd)
	e.mu.Unlock()
	return cmd, true
}

// Received implements session.Inventory: an item that arrived on a consolidated session.
// A new item is accepted, announced to every other session (pushed, for a vote) and
// committed to the store by the engine's writer; an item already known is dropped. An
// item nobody asked for is accepted as witnet-rust accepts pushed transactions and block
// candidates; the pool bounds limit what a peer can make us keep.
func (e *Engine) Received(from *session.Session, m *pb.Message) {
	e.received(from, m)
}

func (e *Engine) received(from conn, m *pb.Message) {
	e.stats.received.Add(1)
	// Only the key now: the writer computes the canonical encoding (Item.Raw) later.
	it, err := e.cfg.Decoder.identify(m)
	if err != nil {
		e.stats.invalid.Add(1)
		log.Debugw("dropping invalid item", "peer", from.ID(), "err", err)
		return
	}
	key := keyOfItem(it)
	id := from.ID()
	skip := []peer.ID{id}
	e.mu.Lock()
	if m := e.owed[id]; m != nil {
		delete(m, key)
	}
	if e.seen.has(key) {
		e.mu.Unlock()
		e.stats.duplicates.Add(1)
		return
	}
	f := e.inflight[key]
	if f == nil || (f.asked != "" && f.asked != id) {
		e.stats.unsolicited.Add(1)
	}
	if f != nil {
		for _, h := range f.holders {
			if h != id {
				skip = append(skip, h)
			}
		}
		delete(e.inflight, key)
	}
	// Mark the item seen at once, so copies arriving meanwhile on other sessions are
	// dropped and announcements of it are not answered.
	e.seen.add(key)
	e.mu.Unlock()
	// The seen set is memory-only, so an item stored before a restart is looked up on
	// disk; one we requested was looked up when it was announced.
	if f == nil && e.onDisk(key) {
		e.stats.duplicates.Add(1)
		return
	}
	if !e.accept(key, it, m.GetKind(), nil) {
		return
	}
	e.stats.receivedNew.Add(1)
	if e.cfg.OnNew != nil {
		e.cfg.OnNew(it)
	}
	e.gossip(it, key, m.GetKind(), skip, false)
}

// onDiskAll returns the keys the store holds among keys (nil if none), looked up in one
// read transaction.
func (e *Engine) onDiskAll(keys []entryKey) map[entryKey]bool {
	if len(keys) == 0 {
		return nil
	}
	held, err := e.store.hasKeys(keys)
	if err != nil {
		log.Warnw("cannot look up announced items; assuming they are not stored", "err", err)
	}
	return held
}

// onDisk reports whether the store holds the item key names.
func (e *Engine) onDisk(key entryKey) bool {
	if key.superblock {
		_, err := e.store.SuperBlock(key.index)
		return err == nil
	}
	ok, _ := e.store.Has(key.hash)
	return ok
}

// accept queues a new item for the writer and serves it from memory until it is
// committed. done, if not nil, receives the commit's outcome. It reports false if the
// engine is closed (done then receives ErrClosed).
//
// The item is announced before its commit completes: a gossip hop then costs no disk
// flush, and a peer that requests it meanwhile is served from memory. Only Submit waits
// for the commit, so what the node acknowledges is durable. When more than maxUnwritten
// items wait for the writer, accept waits for it to catch up, so a peer flooding us is
// slowed to the disk's pace (its session's reader is the goroutine that waits) instead of
// growing memory.
func (e *Engine) accept(key entryKey, it Item, cmd *pb.Message_Command, done chan error) bool {
	w := &write{key: key, it: it, cmd: cmd, done: done}
	e.mu.Lock()
	if e.closed {
		e.seen.remove(key)
		e.mu.Unlock()
		if done != nil {
			done <- ErrClosed
		}
		return false
	}
	e.unwritten[key] = w
	e.unwrittenHash[it.Hash] = w
	e.writes = append(e.writes, w)
	e.kickWriter()
	if done != nil {
		e.commitSoon()
	}
	for len(e.unwritten) > maxUnwritten && !e.closed {
		e.drained.Wait()
	}
	e.mu.Unlock()
	return true
}

// kickWriter wakes the writer goroutine.
func (e *Engine) kickWriter() {
	select {
	case e.writeKick <- struct{}{}:
	default:
	}
}

// commitSoon ends the writer's batching window: a caller waits for the commit.
func (e *Engine) commitSoon() {
	select {
	case e.commitNow <- struct{}{}:
	default:
	}
}

// flush returns once every item accepted before the call is committed (or failed to
// be), or at once if the engine is closed (Close commits what is queued).
func (e *Engine) flush() {
	done := make(chan error, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.writes = append(e.writes, &write{barrier: true, done: done})
	e.kickWriter()
	e.commitSoon()
	e.mu.Unlock()
	// Queued before Close: the writer's last round, on Close, passes the barrier.
	<-done
}

// writeLoop commits accepted items: everything queued since the last commit, and during
// the batching window (Config.CommitDelay) that the first of them opens, goes into one
// bbolt transaction, so a stream or a burst of items costs few disk flushes. A caller
// waiting for a commit (Submit, flush) closes the window at once. writeLoop is the only
// goroutine that commits. On Close it commits what is left.
func (e *Engine) writeLoop() {
	defer e.wg.Done()
	var window *time.Timer
	if e.cfg.CommitDelay > 0 {
		window = time.NewTimer(e.cfg.CommitDelay)
		window.Stop()
	}
	for {
		select {
		case <-e.ctx.Done():
			e.commitWrites()
			return
		case <-e.commitNow:
		case <-e.writeKick:
			if window != nil {
				window.Reset(e.cfg.CommitDelay)
				select {
				case <-window.C:
				case <-e.commitNow:
					window.Stop()
				case <-e.ctx.Done():
					window.Stop()
				}
			}
		}
		e.commitWrites()
	}
}

// commitWrites commits the queue, batch by batch, until it is empty. Only writeLoop
// calls it.
func (e *Engine) commitWrites() {
	for {
		e.mu.Lock()
		batch := e.writes
		e.writes = nil
		e.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		e.encode(batch)
		items := make([]Item, 0, len(batch))
		for _, w := range batch {
			if !w.barrier && w.it.Raw != nil {
				items = append(items, w.it)
			}
		}
		var (
			added []bool
			err   error
		)
		if len(items) > 0 {
			added, err = e.store.Put(items...)
		}
		e.mu.Lock()
		for _, w := range batch {
			if w.barrier {
				continue
			}
			delete(e.unwritten, w.key)
			if e.unwrittenHash[w.it.Hash] == w {
				delete(e.unwrittenHash, w.it.Hash)
			}
			if err != nil {
				e.seen.remove(w.key) // let it be fetched again
			} else if w.cmd != nil {
				e.cache.put(w.key, w.cmd)
			}
		}
		e.drained.Broadcast()
		e.mu.Unlock()
		if err != nil {
			log.Errorw("cannot store items", "items", len(items), "err", err)
		}
		i := 0
		for _, w := range batch {
			if w.barrier {
				w.done <- nil
				continue
			}
			if w.it.Raw == nil { // did not encode (logged by encode)
				continue
			}
			if err == nil && added[i] {
				e.stats.stored[w.it.Kind].Add(1)
				if e.cfg.OnStored != nil {
					e.cfg.OnStored(w.it)
				}
			}
			i++
			if w.done != nil {
				w.done <- err
			}
		}
	}
}

// outbound is an item queued for one session by gossip: announced, or, when push is
// set, sent in full (see flushLoop).
type outbound struct {
	entry *pb.InventoryEntry
	push  *pb.Message // the item's message when it may be pushed; nil: announce only
}

// encode sets the canonical encoding (Item.Raw) of the batch's items received from peers,
// which the relay left out (see Decoder.identify). An item that does not encode, which
// only an item at its size limit can do, is left without one and is not stored. Only the
// writer calls it.
func (e *Engine) encode(batch []*write) {
	var raws map[*write][]byte
	for _, w := range batch {
		if w.barrier || w.it.Raw != nil {
			continue
		}
		raw, err := e.cfg.Decoder.canonical(w.it.Kind, w.cmd)
		if err != nil {
			e.stats.invalid.Add(1)
			log.Warnw("accepted item does not encode; not stored", "hash", w.it.Hash, "err", err)
			continue
		}
		if raws == nil {
			raws = make(map[*write][]byte)
		}
		raws[w] = raw
	}
	if raws == nil {
		return
	}
	e.mu.Lock() // Get and SuperBlockVotes read w.it under e.mu
	for w, raw := range raws {
		w.it.Raw = raw
	}
	e.mu.Unlock()
}

// gossip hands it to every session not in skip: announced, or pushed in full when
// origin is set (the node's own item, which no neighbour can hold) and it is small; a
// vote, which no entry can name, is pushed.
func (e *Engine) gossip(it Item, key entryKey, cmd *pb.Message_Command, skip []peer.ID, origin bool) {
	entry := it.Entry()
	var msg *pb.Message
	if cmd != nil && (entry == nil || origin && len(it.Raw) <= e.cfg.PushMaxSize) {
		msg = &pb.Message{Magic: uint32(e.cfg.Magic), Kind: cmd}
	}
	e.mu.Lock()
	if cmd != nil {
		e.cache.put(key, cmd)
	}
	var targets []conn
	for c := range e.sessions {
		if !containsID(skip, c.ID()) {
			targets = append(targets, c)
		}
	}
	if entry != nil {
		for _, c := range targets {
			e.pending[c] = append(e.pending[c], outbound{entry: entry, push: msg})
		}
	}
	e.mu.Unlock()
	if entry != nil {
		select {
		case e.kick <- struct{}{}:
		default:
		}
		return
	}
	if msg == nil {
		var err error
		if cmd, err = it.Command(); err != nil {
			log.Warnw("cannot push item", "hash", it.Hash, "err", err)
			return
		}
		msg = &pb.Message{Magic: uint32(e.cfg.Magic), Kind: cmd}
	}
	for _, c := range targets {
		if c.SendInventoryItem(msg) == nil {
			e.stats.pushedOut.Add(1)
		}
	}
}

// flushLoop sends what gossip queued (see sendQueued), as soon as it is queued: under
// load, what is queued while the flusher is busy goes out together at its next round.
func (e *Engine) flushLoop() {
	defer e.wg.Done()
	for {
		select {
		case <-e.ctx.Done():
			return
		case <-e.kick:
		}
		e.mu.Lock()
		batch := e.pending
		e.pending = make(map[conn][]outbound, len(batch))
		e.mu.Unlock()
		for c, queued := range batch {
			e.sendQueued(c, queued)
		}
	}
}

// sendQueued sends c the items queued for it. Items marked for a push are pushed when at
// most maxPushesPerFlush are queued (the item costs one message and one trip instead of
// an announcement, a request and the item); beyond that (a burst) they are announced
// with the rest, so that each node still receives one body and c's send queue is not
// flooded. All announcements go in one InventoryAnnouncement (split at the entry limit).
func (e *Engine) sendQueued(c conn, queued []outbound) {
	pushes := 0
	for _, o := range queued {
		if o.push != nil {
			pushes++
		}
	}
	entries := make([]*pb.InventoryEntry, 0, len(queued))
	for _, o := range queued {
		if o.push == nil || pushes > maxPushesPerFlush {
			entries = append(entries, o.entry)
			continue
		}
		if err := c.SendInventoryItem(o.push); err != nil {
			log.Debugw("item not pushed", "peer", c.ID(), "err", err)
		} else {
			e.stats.pushedOut.Add(1)
		}
	}
	for len(entries) > 0 {
		n := min(len(entries), protocol.MaxInventoryEntries)
		if err := c.AnnounceItems(entries[:n]); err != nil {
			log.Debugw("announcement not sent", "peer", c.ID(), "err", err)
		} else {
			e.stats.announcedOut.Add(uint64(n))
			e.stats.announcementsOut.Add(1)
		}
		entries = entries[n:]
	}
}

// armSweep schedules the next sweep; e.mu must be held.
func (e *Engine) armSweep() {
	if e.closed {
		return
	}
	every := max(e.cfg.RequestTimeout/2, 10*time.Millisecond)
	e.sweep = e.clock.AfterFunc(every, e.sweepOnce)
}

// sweepOnce asks the next announcer for every item whose asked peer is late, forgets
// items nobody else announced, and ices and drops peers that owe an item for longer than
// the blocks timeout.
func (e *Engine) sweepOnce() {
	now := e.clock.Now()
	requests := make(map[conn][]*pb.InventoryEntry)
	var late []conn
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	for key, f := range e.inflight {
		if now.Before(f.deadline) {
			continue
		}
		var next conn
		for len(f.next) > 0 && next == nil {
			next = e.connOfLocked(f.next[0])
			f.next = f.next[1:]
		}
		if next == nil {
			delete(e.inflight, key)
			continue
		}
		f.asked, f.deadline = next.ID(), now.Add(e.cfg.RequestTimeout)
		e.oweLocked(next.ID(), key, now)
		requests[next] = append(requests[next], f.entry)
	}
	for id, items := range e.owed {
		for _, since := range items {
			if now.Sub(since) >= e.cfg.BlocksTimeout {
				if c := e.connOfLocked(id); c != nil {
					late = append(late, c)
				}
				delete(e.owed, id)
				break
			}
		}
	}
	e.armSweep()
	e.mu.Unlock()

	for c, entries := range requests {
		for len(entries) > 0 {
			n := min(len(entries), protocol.MaxInventoryEntries)
			m, err := protocol.NewInventoryRequest(e.cfg.Magic, entries[:n])
			if err == nil {
				err = c.Send(m)
			}
			if err == nil {
				e.stats.requestedOut.Add(uint64(n))
			}
			entries = entries[n:]
		}
	}
	for _, c := range late {
		log.Infow("peer did not deliver announced items in time; icing it", "peer", c.ID(), "timeout", e.cfg.BlocksTimeout)
		e.stats.iced.Add(1)
		if e.cfg.Ice != nil {
			e.cfg.Ice(c.Peer())
		}
		c.Close(ErrNotDelivered)
	}
}

// Submit decodes raw as an item of kind k and, if it is new, gossips it to every
// consolidated session (pushed in full if small, see Config.PushMaxSize; else announced)
// and stores it. It returns once the item is committed, with the
// item and whether it was new. Bad items are refused with an *ItemError and neither
// stored nor gossiped.
func (e *Engine) Submit(k protocol.Kind, raw []byte) (Item, bool, error) {
	it, cmd, err := e.cfg.Decoder.Decode(k, raw)
	if err != nil {
		return Item{}, false, err
	}
	key := keyOfItem(it)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return Item{}, false, ErrClosed
	}
	if e.seen.has(key) {
		e.mu.Unlock()
		return it, false, nil
	}
	e.seen.add(key)
	var skip []peer.ID
	f := e.inflight[key]
	if f != nil {
		skip = f.holders
		delete(e.inflight, key)
	}
	e.mu.Unlock()
	if e.onDisk(key) {
		return it, false, nil
	}
	done := make(chan error, 1)
	if !e.accept(key, it, cmd, done) {
		return Item{}, false, ErrClosed
	}
	if e.cfg.OnNew != nil {
		e.cfg.OnNew(it)
	}
	// An item that peers announced to us is not ours alone: announce it, do not push.
	e.gossip(it, key, cmd, skip, f == nil)
	if err := <-done; err != nil {
		return Item{}, false, err
	}
	e.stats.submitted.Add(1)
	return it, true, nil
}

// Get returns the item with hash h, or ErrNotFound: an accepted item as soon as it is
// accepted, before its commit, then the stored one.
func (e *Engine) Get(h protocol.Hash) (Item, error) {
	e.mu.Lock()
	w := e.unwrittenHash[h]
	var it Item
	if w != nil {
		it = w.it
	}
	e.mu.Unlock()
	if w == nil {
		return e.store.Get(h)
	}
	if it.Raw == nil { // received from a peer, not encoded by the writer yet
		raw, err := e.cfg.Decoder.canonical(it.Kind, w.cmd)
		if err != nil {
			return Item{}, ErrNotFound
		}
		it.Raw = raw
	}
	return it, nil
}

// InboundBeacon answers a LastBeacon received on an inbound session (WIRE.md 7.6): if the
// peer's block checkpoint is behind our highest stored block, it is announced the stored
// blocks of the epochs after its checkpoint, in epoch order, at most MaxBlocksSync. The
// node's session.Chain implementation delegates to it.
func (e *Engine) InboundBeacon(s *session.Session, b *pb.LastBeacon) { e.inboundBeacon(s, b) }

func (e *Engine) inboundBeacon(c conn, b *pb.LastBeacon) {
	theirs := b.GetHighestBlockCheckpoint().GetCheckpoint()
	tip, ok, err := e.store.Tip()
	if err != nil || !ok {
		return
	}
	switch {
	case theirs > tip.Epoch:
		log.Debugw("inbound peer is ahead of us", "peer", c.ID(), "theirs", theirs, "ours", tip.Epoch)
		return
	case theirs == tip.Epoch:
		return
	}
	refs, err := e.store.Blocks(theirs+1, tip.Epoch, MaxBlocksSync)
	if err != nil || len(refs) == 0 {
		return
	}
	entries := make([]*pb.InventoryEntry, len(refs))
	for i, r := range refs {
		entries[i] = protocol.BlockEntry(r.Hash)
	}
	if err := c.AnnounceItems(entries); err == nil {
		e.stats.announcedOut.Add(uint64(len(entries)))
		e.stats.announcementsOut.Add(1)
	}
}

// SendBeacons sends b to every consolidated outbound session and returns how many took
// it. The node calls it once per epoch with its LastBeacon, so that the peers it connected
// to can announce the blocks it lacks.
func (e *Engine) SendBeacons(b *pb.LastBeacon) int {
	e.mu.Lock()
	var out []conn
	for c := range e.sessions {
		if c.Type() == session.Outbound {
			out = append(out, c)
		}
	}
	e.mu.Unlock()
	n := 0
	for _, c := range out {
		if c.SendLastBeacon(b) == nil {
			n++
		}
	}
	return n
}

// BlockBeacon returns the checkpoint of our highest stored block (epoch and hash), or a
// zero checkpoint when no block is stored; a node without a chain of its own can use it
// as its LastBeacon's highest_block_checkpoint.
func (e *Engine) BlockBeacon() *pb.CheckpointBeacon {
	tip, ok, err := e.store.Tip()
	if err != nil || !ok {
		return protocol.NewCheckpointBeacon(0, protocol.Hash{})
	}
	return protocol.NewCheckpointBeacon(tip.Epoch, tip.Hash)
}

// counters are the engine's statistics (see Stats).
type counters struct {
	announcedIn, announcedOut, announcementsOut atomic.Uint64
	requestedIn, requestedOut                   atomic.Uint64
	pushedOut                                   atomic.Uint64
	received, receivedNew, duplicates           atomic.Uint64
	unsolicited, invalid                        atomic.Uint64
	dupAnnouncements                            atomic.Uint64
	submitted, iced                             atomic.Uint64
	stored                                      [protocol.NumKinds]atomic.Uint64
}

// Stats is a snapshot of an engine's counters. Entry counts count inventory entries,
// not messages.
type Stats struct {
	// AnnouncedIn counts announced entries received; AnnouncedOut entries sent.
	AnnouncedIn, AnnouncedOut uint64
	// AnnouncementsOut counts InventoryAnnouncement messages sent.
	AnnouncementsOut uint64
	// RequestedIn counts requested entries received (served or not); RequestedOut entries
	// requested from peers.
	RequestedIn, RequestedOut uint64
	// PushedOut counts items sent in full without a request: submitted items (see
	// Config.PushMaxSize) and superblock votes.
	PushedOut uint64
	// Received counts items received from peers, whatever became of them.
	Received uint64
	// ReceivedNew counts received items that were new (stored and gossiped).
	ReceivedNew uint64
	// Duplicates counts received items that were already known (dropped, not gossiped).
	Duplicates uint64
	// DuplicateAnnouncements counts announced entries not requested because the item was
	// known or already requested from another peer.
	DuplicateAnnouncements uint64
	// Unsolicited counts received items that were not requested from that peer: pushes
	// (a neighbour's own submitted items, votes) and anything else sent unasked.
	Unsolicited uint64
	// Invalid counts received items that could not be hashed or were too large.
	Invalid uint64
	// Submitted counts new items submitted locally.
	Submitted uint64
	// Stored counts new items stored, by kind.
	Stored map[string]uint64
	// Iced counts peers iced and dropped for not delivering.
	Iced uint64
}

// Stats returns a snapshot of the engine's counters.
func (e *Engine) Stats() Stats {
	c := &e.stats
	s := Stats{
		AnnouncedIn: c.announcedIn.Load(), AnnouncedOut: c.announcedOut.Load(),
		AnnouncementsOut: c.announcementsOut.Load(),
		RequestedIn:      c.requestedIn.Load(), RequestedOut: c.requestedOut.Load(),
		PushedOut: c.pushedOut.Load(), Received: c.received.Load(), ReceivedNew: c.receivedNew.Load(), Duplicates: c.duplicates.Load(),
		DuplicateAnnouncements: c.dupAnnouncements.Load(), Unsolicited: c.unsolicited.Load(),
		Invalid: c.invalid.Load(), Submitted: c.submitted.Load(), Iced: c.iced.Load(),
		Stored: make(map[string]uint64, len(itemKinds)),
	}
	for _, k := range itemKinds {
		s.Stored[kindLabel(k)] = c.stored[k].Load()
	}
	return s
}

// sessionIDs lists the peers of the sessions the engine gossips to (tests).
func (e *Engine) sessionIDs() []peer.ID {
	e.mu.Lock()
	defer e.mu.Unlock()
	ids := make([]peer.ID, 0, len(e.sessions))
	for c := range e.sessions {
		ids = append(ids, c.ID())
	}
	return ids
}
