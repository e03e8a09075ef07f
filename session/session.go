package session

import (
	"errors"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/codec"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

var log = logging.Logger("witnet/session")

// logger is the part of a zap SugaredLogger a session uses; its per-session child logger
// carries the "peer", "dir" and "transport" fields on every line.
type logger interface {
	Debugw(msg string, keysAndValues ...any)
	Infow(msg string, keysAndValues ...any)
	Warnw(msg string, keysAndValues ...any)
}

// phase is where a session is in its start/stop life, guarded by Session.mu.
type phase uint8

const (
	phaseNew      phase = iota // New returned; Start not called
	phaseStarting              // Start is registering and sending the first Version
	phaseRunning               // the reader and writer goroutines run
	phaseClosed                // shutdown happened
)

// Session is one Witnet session over one stream: the Version/Verack handshake, then the
// dispatch of consolidated messages to the services of Config.
//
// A started session runs two goroutines: a reader, which owns the state machine and
// calls the services, and a writer, which drains the send queue into the stream,
// batching whatever is queued into one write. The handshake timeout is a clock timer.
// Every method is safe for concurrent use; none blocks on the network.
type Session struct {
	// Set by New, immutable afterwards.
	conn  io.ReadWriteCloser
	peer  Peer
	key   Key
	typ   Type
	cfg   Config // defaults applied
	rules rules
	log   logger

	queue      sendQueue
	closing    chan struct{} // closed when the session starts to end
	done       chan struct{} // closed once it has ended: goroutines gone, Unregister called
	writerDone chan struct{} // closed when the writer goroutine returns

	mu    sync.Mutex // guards the three fields below
	phase phase
	err   error // why the session ended; set once, by shutdown
	timer Timer // handshake timeout, armed by Start

	// registered is set by Start before any goroutine of the session exists and read by
	// finish, which runs after they are gone.
	registered bool
	status     atomic.Uint32 // Status; written only by the reader (and Start)

	// writeStart is the clock time (UnixNano) at which the writer's current Write began,
	// 0 while it is not writing; stallArmed says whether a stall timer is pending.
	writeStart atomic.Int64
	stallArmed atomic.Bool

	m       machine                    // owned by the reader goroutine (see machine)
	police  police                     // owned by the reader goroutine
	blocks  blockDownload              // owned by the reader goroutine (see blocks.go)
	serving serving                    // the serve backlog (serve.go)
	remote  atomic.Pointer[pb.Version] // the peer's Version, published at consolidation
	stats   counters
	usage   usage // handshake round trip and last new item, for eviction (evict.go)
}

// New returns a session of type t over conn with the remote peer p. It does nothing on
// the network until Start. The session owns conn from now on and closes it when it ends.
func New(conn io.ReadWriteCloser, p Peer, t Type, cfg Config) *Session {
	cfg = withDefaults(cfg)
	s := &Session{
		conn:       conn,
		peer:       p,
		key:        p.Key(),
		typ:        t,
		cfg:        cfg,
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		rules: rules{
			magic:     uint32(cfg.Magic),
			maxTSDiff: int64(cfg.MaxTimestampDiff.Seconds()),
			chain:     cfg.Chain,
			nonces:    cfg.Nonces,
		},
		log: log.With("peer", p.String(), "dir", t.String(), "transport", p.Transport.String()),
	}
	if cfg.MaxTimestampDiff < 0 {
		s.rules.maxTSDiff = 0 // disabled
	}
	s.queue.init(cfg.SendQueueSize, cfg.SendQueueBytes, cfg.SendBudget)
	s.m.typ = t
	s.police = newPolice(&s.cfg)
	s.initBlocks()
	return s
}

// withDefaults returns cfg with every zero field replaced by its documented default.
func withDefaults(cfg Config) Config {
	if cfg.Magic == 0 {
		cfg.Magic = protocol.Magic
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxTimestampDiff == 0 {
		cfg.MaxTimestampDiff = DefaultMaxTimestampDiff
	}
	if cfg.MaxFrameSize <= 0 {
		cfg.MaxFrameSize = codec.DefaultMaxFrameSize
	}
	if cfg.MaxHandshakeFrameSize == 0 {
		cfg.MaxHandshakeFrameSize = DefaultMaxHandshakeFrameSize
	}
	if cfg.MaxHandshakeFrameSize < 0 || cfg.MaxHandshakeFrameSize > cfg.MaxFrameSize {
		cfg.MaxHandshakeFrameSize = cfg.MaxFrameSize
	}
	if cfg.SendQueueSize <= 0 {
		cfg.SendQueueSize = DefaultSendQueueSize
	}
	if cfg.SendQueueBytes <= 0 {
		cfg.SendQueueBytes = DefaultSendQueueBytes
	}
	if cfg.ServeQueueBytes <= 0 {
		cfg.ServeQueueBytes = DefaultServeQueueBytes
	}
	if cfg.MaxServeBacklog <= 0 {
		cfg.MaxServeBacklog = DefaultMaxServeBacklog
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxDownloadBytes <= 0 {
		cfg.MaxDownloadBytes = DefaultMaxDownloadBytes
	}
	policeDefaults(&cfg)
	if cfg.BlocksBatchLimit == 0 {
		cfg.BlocksBatchLimit = DefaultBlocksBatchLimit
	}
	if cfg.SuperblockPeriod == 0 {
		cfg.SuperblockPeriod = DefaultSuperblockPeriod
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.Nonces == nil {
		cfg.Nonces = NewNonceSet(1)
	}
	if cfg.Registry == nil {
		cfg.Registry = nopRegistry{}
	}
	if cfg.AddressBook == nil {
		cfg.AddressBook = nopAddressBook{}
	}
	if cfg.Inventory == nil {
		cfg.Inventory = nopInventory{}
	}
	if cfg.Chain == nil {
		cfg.Chain = zeroChain{}
	}
	return cfg
}

// Start brings the session up: an Inbound or Outbound session registers with the
// Registry first (a refusal ends it with ReasonRegisterRefused); an Outbound or Feeler
// session queues its Version; then the handshake timer is armed and the reader and writer
// goroutines start. Start returns at once; calls after the first do nothing, and so does
// a Start after Close.
func (s *Session) Start() { _ = s.start() }

// start is Start that also reports the error that ended the session while it was
// starting (registration refused, Version not queued), or nil once the session runs.
// An end after that — a failed handshake, say — is only seen through Done and Err.
func (s *Session) start() error {
	s.mu.Lock()
	if s.phase != phaseNew {
		s.mu.Unlock()
		return nil
	}
	s.phase = phaseStarting
	s.mu.Unlock()

	if s.typ != Feeler {
		if err := s.cfg.Registry.Register(s); err != nil {
			s.shutdown(withCause(ReasonRegisterRefused, err))
			s.finish()
			return s.Err()
		}
		s.registered = true
	}
	if s.typ != Inbound {
		// The queue is empty, so this cannot wait for room; any failure ends the session.
		if err := s.sendVersion(); err != nil {
			s.shutdown(err)
		}
	}

	s.mu.Lock()
	if s.phase == phaseClosed { // Close raced with Start, or sendVersion failed
		err := s.err
		s.mu.Unlock()
		s.finish()
		return err
	}
	s.phase = phaseRunning
	s.timer = s.cfg.Clock.AfterFunc(s.cfg.HandshakeTimeout, s.handshakeTimeout)
	s.mu.Unlock()

	if s.typ == Feeler {
		s.log.Debugw("session started", "addr", s.peer.Addr)
	} else {
		s.log.Infow("session started", "addr", s.peer.Addr)
	}
	go s.writeLoop()
	go s.readLoop()
	return nil
}

// ID returns the remote peer ID ("" over TransportTCP; see Key).
func (s *Session) ID() peer.ID { return s.peer.ID }

// Key returns the key that names the remote peer on every transport (Peer.Key).
func (s *Session) Key() Key { return s.key }

// Peer returns the description of the remote peer given to New.
func (s *Session) Peer() Peer { return s.peer }

// Type returns the session type.
func (s *Session) Type() Type { return s.typ }

// Status returns the session status: Consolidated once the manager accepted the
// completed handshake.
func (s *Session) Status() Status { return Status(s.status.Load()) }

// Done returns a channel closed once the session has ended: its goroutines returned, the
// peer was iced if the reason asks for it, and Unregister was called.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended (a Reason, possibly wrapping its cause; see
// ReasonOf), or nil while it runs.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the session. reason is reported by Err: nil means ReasonLocalClose; a Reason
// (or an error wrapping one) is kept, and decides whether the peer is iced; any other
// error is wrapped in ReasonLocalClose. Close never waits, not even for the stream to
// close (see release); use Done. Calls after the first, or after the session ended, do
// nothing.
func (s *Session) Close(reason error) {
	var r Reason
	switch {
	case reason == nil:
		reason = ReasonLocalClose
	case errors.As(reason, &r):
	default:
		reason = withCause(ReasonLocalClose, reason)
	}
	s.shutdown(reason)
}

// RemoteVersion returns the peer's Version message once the handshake completed (it is
// already set when Registry.Consolidate runs), else nil. The result must not be modified.
func (s *Session) RemoteVersion() *pb.Version { return s.remote.Load() }

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats { return s.stats.snapshot() }

// shutdown starts the end of the session with reason (the first call wins): it closes
// closing, stops the handshake timer and has the stream closed or reset (release), which
// unblocks the reader and writer. The goroutine that owns the session's end then calls finish: the reader if the
// session runs, Start if it is starting, shutdown itself if Start never ran.
func (s *Session) shutdown(reason error) {
	s.mu.Lock()
	if s.phase == phaseClosed {
		s.mu.Unlock()
		return
	}
	prev := s.phase
	s.phase = phaseClosed
	s.err = reason
	t := s.timer
	s.mu.Unlock()

	close(s.closing)
	if t != nil {
		t.Stop()
	}
	go s.release(ReasonOf(reason))
	if prev == phaseNew {
		s.finish()
	}
}

// resetter is a stream that can be aborted in both directions at once, as a libp2p
// network.Stream can.
type resetter interface {
	Reset() error
}

// graceful reports whether a session that ends for r closes its stream politely (the
// peer reads a clean end of stream) rather than resetting it.
func graceful(r Reason) bool {
	switch r {
	case ReasonLocalClose, ReasonRemoteClosed, ReasonFeelerDone:
		return true
	}
	return false
}

// release ends the stream: Close after a graceful end, Reset (when the stream has one)
// after an error, so the peer learns that the session failed and no buffered data is
// delivered late. It runs on a goroutine of its own, because a yamux stream's Close or
// Reset queues a frame on the connection and waits, while that connection is stalled,
// until the muxer's write timeout: Close, and every Manager method that closes sessions,
// must not wait for that. The stream's state changes before the frame is queued, so the
// reader and writer are released at once. This goroutine may outlive Done; it ends as
// soon as the transport takes the frame or the connection closes.
func (s *Session) release(r Reason) {
	var err error
	if rs, ok := s.conn.(resetter); ok && !graceful(r) {
		err = rs.Reset()
	} else {
		err = s.conn.Close()
	}
	if err != nil {
		s.log.Debugw("releasing stream", "err", err)
	}
}

// finish runs once, after the session's goroutines are gone: it reports a block download
// still in progress as aborted, ices the peer when the reason asks for it, unregisters a
// registered session with its last status, and closes done.
func (s *Session) finish() {
	err := s.Err()
	reason := ReasonOf(err)
	last := s.Status()
	s.queue.close()
	s.dropBacklog()
	s.abortDownload()
	if reason.Ices(s.typ) {
		s.cfg.AddressBook.Ice(s.peer)
	}
	if s.registered {
		s.cfg.Registry.Unregister(s, s.typ, last)
	}
	// One line per end, at INFO (feelers, short probes every few seconds, at DEBUG unless
	// they ice the peer). reason is the full error; clean ends (local_close, remote_close,
	// feeler_done) say so rather than reporting an error.
	logf := s.log.Infow
	if s.typ == Feeler && !reason.Ices(s.typ) {
		logf = s.log.Debugw
	}
	logf("session ended", "reason", err, "label", reason.Label(), "status", last, "iced", reason.Ices(s.typ))
	close(s.done)
}

// handshakeTimeout fires HandshakeTimeout after Start; an unconsolidated session ends.
func (s *Session) handshakeTimeout() {
	if s.Status() != Consolidated {
		s.shutdown(ReasonHandshakeTimeout)
	}
}

// readLoop is the reader goroutine: it reads frames, runs the state machine and performs
// its effects until an error or the end of the session, then waits for the writer and
// finishes the session.
//
// A frame is handled at the time its bytes were read from the stream: the clock is read
// once per Read on the stream, not per frame, since a Read often brings many frames
// (reading the clock was a visible share of a busy reader's time).
func (s *Session) readLoop() {
	src := &countingReader{r: s.conn}
	// Until the handshake is done only small frames are read (Config.MaxHandshakeFrameSize):
	// a peer we know nothing about cannot make us allocate a large frame.
	r := codec.NewReader(src, s.cfg.MaxHandshakeFrameSize)
	handshake := true
	var (
		reason error
		now    time.Time
		seen   uint64 = math.MaxUint64
	)
	for {
		payload, err := r.Next() // valid until the next call: handleFrame keeps none of it
		if err != nil {
			reason = readError(err)
			break
		}
		if src.reads != seen {
			now, seen = s.cfg.Clock.Now(), src.reads
		}
		if waited, ok := s.awaitBudget(len(payload)); !ok {
			break // ending: whoever ended the session gave the reason
		} else if waited {
			now = s.cfg.Clock.Now()
		}
		if err := s.handleFrame(payload, now); err != nil {
			reason = err
			break
		}
		if handshake && s.m.status == Consolidated {
			handshake = false
			r.SetMaxFrameSize(s.cfg.MaxFrameSize)
		}
	}
	s.shutdown(reason) // no-op if the session was already ending
	<-s.writerDone
	s.finish()
}

// countingReader counts the Reads made on the stream, so that the reader knows when a
// frame came with new bytes.
type countingReader struct {
	r     io.Reader
	reads uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// readError maps a codec error to the reason that ends the session.
func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF):
		return ReasonRemoteClosed
	case closedByPeer(err):
		return withCause(ReasonRemoteClosed, err)
	case errors.Is(err, codec.ErrFrameTooLarge):
		return withCause(ReasonDecode, err)
	default:
		return withCause(ReasonConnection, err)
	}
}

// writeLoop is the writer goroutine: each time the queue is signalled it takes the whole
// batch of queued frames, already encoded and framed, and writes it to the stream (in
// writes of at most writeChunk bytes). The batch's buffers go back to a pool afterwards,
// so an idle session holds none. After each write it serves what the serve backlog holds
// as far as the bounds allow (serve.go), waiting for the node's SendBudget if that is
// what holds it back.
func (s *Session) writeLoop() {
	defer close(s.writerDone)
	w := streamWriter{s}
	var budget <-chan struct{} // closed when the node's SendBudget has room again
	for {
		select {
		case <-s.closing:
			return
		case <-s.queue.wake:
		case <-budget:
		}
		budget = nil
		if b := s.queue.take(); b != nil {
			err := b.writeTo(w)
			if err == nil {
				s.stats.outBatch(b.frames)
			}
			s.queue.written(b.bytes)
			putBatch(b)
			if err != nil {
				r := ReasonConnection
				if closedByPeer(err) {
					r = ReasonRemoteClosed
				}
				s.shutdown(withCause(r, err))
				return
			}
		}
		if s.serving.pending.Load() {
			var err error
			if budget, err = s.serve(); err != nil {
				s.shutdown(err)
				return
			}
		}
	}
}

// errWriteStalled is the cause of a ReasonSlowPeer end when one write blocked for
// WriteTimeout: the peer stopped reading its stream.
var errWriteStalled = errors.New("a write to the stream blocked for the write timeout")

// streamWriter is the writer goroutine's only way to the stream: it stamps each Write so
// that the stall timer can tell a blocked write from an idle writer.
type streamWriter struct{ s *Session }

func (w streamWriter) Write(p []byte) (int, error) {
	s := w.s
	s.writeStart.Store(s.cfg.Clock.Now().UnixNano())
	if !s.stallArmed.Swap(true) {
		s.cfg.Clock.AfterFunc(s.cfg.WriteTimeout, s.checkStall)
	}
	n, err := s.conn.Write(p)
	s.writeStart.Store(0)
	return n, err
}

// checkStall runs on the stall timer. While writes go on, one timer is pending at a time
// (it re-arms itself for the rest of the current write's allowance); once the writer is
// idle the timer lapses, so an idle session has none. A write that has blocked for
// WriteTimeout ends the session with ReasonSlowPeer; the stream's reset then unblocks it.
func (s *Session) checkStall() {
	select {
	case <-s.closing:
		return
	default:
	}
	for {
		start := s.writeStart.Load()
		if start == 0 {
			s.stallArmed.Store(false)
			// A write that began after the Load saw the timer armed and did not arm one;
			// take it over unless that write has already ended or armed its own.
			if s.writeStart.Load() == 0 || s.stallArmed.Swap(true) {
				return
			}
			continue
		}
		elapsed := time.Duration(s.cfg.Clock.Now().UnixNano() - start)
		if elapsed >= s.cfg.WriteTimeout {
			s.shutdown(withCause(ReasonSlowPeer, errWriteStalled))
			return
		}
		s.cfg.Clock.AfterFunc(s.cfg.WriteTimeout-elapsed, s.checkStall)
		return
	}
}

// receiverAddress is the Version.receiver_address we send: over TCP the peer's socket
// address in the legacy form, as witnet-rust sends it; over libp2p the remote address of
// the connection with its /p2p/<id>, or nil (0.0.0.0:0) when it cannot be expressed.
func (p Peer) receiverAddress() []byte {
	if p.Transport == TransportTCP {
		return protocol.LegacyAddress(p.AddrPort)
	}
	if p.Addr == nil || p.ID == "" {
		return nil
	}
	c, err := ma.NewComponent("p2p", p.ID.String())
	if err != nil {
		return nil
	}
	b, err := protocol.MultiaddrAddress(p.Addr.AppendComponent(c))
	if err != nil {
		return nil
	}
	return b
}

// counters are the per-kind message counters behind Stats.
type counters struct {
	msgsIn, msgsOut, bytesIn, bytesOut, unexpected [protocol.NumKinds]atomic.Uint64
	offences                                       [NumOffences]atomic.Uint64
	getPeersIgnored                                atomic.Uint64
}

func (c *counters) in(k protocol.Kind, payload int) {
	c.msgsIn[k].Add(1)
	c.bytesIn[k].Add(uint64(payload + codec.HeaderSize))
}

// outBatch counts the frames of a batch once it has been written.
func (c *counters) outBatch(frames []outFrame) {
	var msgs, bytes [protocol.NumKinds]uint64
	for i := range frames {
		msgs[frames[i].kind]++
		bytes[frames[i].kind] += uint64(frames[i].size) + codec.HeaderSize
	}
	for k := range msgs {
		if msgs[k] != 0 {
			c.msgsOut[k].Add(msgs[k])
			c.bytesOut[k].Add(bytes[k])
		}
	}
}

func (c *counters) snapshot() Stats {
	var st Stats
	for k := range st.MessagesIn {
		st.MessagesIn[k] = c.msgsIn[k].Load()
		st.MessagesOut[k] = c.msgsOut[k].Load()
		st.BytesIn[k] = c.bytesIn[k].Load()
		st.BytesOut[k] = c.bytesOut[k].Load()
		st.Unexpected[k] = c.unexpected[k].Load()
	}
	for o := range st.Offences {
		st.Offences[o] = c.offences[o].Load()
	}
	st.GetPeersIgnored = c.getPeersIgnored.Load()
	return st
}
