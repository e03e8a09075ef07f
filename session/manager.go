package session

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	logging "github.com/ipfs/go-log/v2"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

var mlog = logging.Logger("witnet/manager")

// Default collection limits (PROTOCOL.md section 10).
const (
	// DefaultInboundLimit bounds the inbound sessions (witnet-rust inbound_limit).
	DefaultInboundLimit = 128
	// DefaultOutboundLimit bounds the outbound sessions (witnet-rust outbound_limit).
	DefaultOutboundLimit = 12
)

// ProtectTag is the prefix of the connection-manager tags under which consolidated peers
// are protected from pruning; the direction is appended ("witnet-session/inbound"), so a
// peer with sessions in both directions stays protected until both are gone.
const ProtectTag = "witnet-session"

// ManagerConfig holds the sessions manager's settings. NewManager copies it; the zero
// value of each field means what its comment says.
type ManagerConfig struct {
	// InboundLimit bounds the inbound sessions; 0 means DefaultInboundLimit and a negative
	// value admits none.
	InboundLimit int
	// OutboundLimit bounds the outbound sessions; 0 means DefaultOutboundLimit and a
	// negative value admits none.
	OutboundLimit int
	// TCPInboundLimit and TCPOutboundLimit are the same limits for the plain-TCP
	// sessions (TransportTCP), which count against these and not against the two above;
	// 0 means the same defaults and a negative value admits none.
	TCPInboundLimit, TCPOutboundLimit int
	// RejectSybilInbounds turns on the sybil rule (PROTOCOL.md 8.3): an inbound connection or
	// session is refused while another inbound session of the same transport holds its
	// network range.
	// witnet-rust's mainnet default is on; false (testnet, development) turns it off.
	RejectSybilInbounds bool
	// SybilRangeLimit is the number of leading IPv4 bits that make a range; 0 means
	// DefaultSybilRangeLimit (18) and a negative value means 0 bits (every inbound peer
	// shares one range, witnet-rust's development setting).
	SybilRangeLimit int
	// SybilRangeLimitIPv6 is the number of leading IPv6 bits that make a range; 0 means
	// DefaultSybilRangeLimitIPv6 (32) and a negative value means 0 bits (every IPv6
	// inbound peer shares one range, witnet-rust's rule).
	SybilRangeLimitIPv6 int
	// SybilOnLoopback applies the sybil rule to loopback addresses too. By default they are
	// exempt (a local devnet or a co-located wallet is not a sybil attack); tests set it to
	// exercise the rule on 127.0.0.x.
	SybilOnLoopback bool
	// NoEviction turns inbound eviction off: with every inbound slot of a transport taken,
	// a new inbound session is refused (ErrMaxPeersReached), as witnet-rust does. By
	// default the manager evicts an unprotected inbound session of the same transport
	// instead (see evict.go).
	NoEviction bool
	// EvictionKey keys the hash that picks which network groups eviction protects; 0
	// means a random key (set one for reproducible tests).
	EvictionKey uint64
	// ConnManager, if not nil, is told to protect the connections of consolidated peers
	// (tag ProtectTag + "/" + direction) and to drop that protection when the session ends.
	ConnManager connmgr.ConnManager
	// AddressBook, if not nil, has an Outbound peer removed from its tried bucket when the
	// peer's session ends for any reason other than Close (PROTOCOL.md 7.3).
	AddressBook AddressBook
	// Clock stamps registrations; nil means the real clock.
	Clock Clock
	// Self is our own peer ID, never eligible as an outbound peer.
	Self peer.ID
	// PublicAddrs are our own public addresses, never eligible as outbound peers.
	PublicAddrs []ma.Multiaddr
	// PublicTCPAddrs are our own public plain-TCP addresses, never eligible as outbound
	// peers (OutboundEligibleKey).
	PublicTCPAddrs []netip.AddrPort
	// Iced, if not nil, reports whether a peer is iced (the address book's ice bucket).
	// An iced peer's inbound connections are refused by the gater once its identity is
	// known (InterceptSecured), and its inbound sessions by Register (ErrPeerIced), so a
	// peer iced for misbehaving cannot come straight back through another connection or
	// stream. Dials are not affected: the node does not pick iced peers, and a peer the
	// user adds is melted first. It is called outside the manager's lock and must be
	// cheap.
	Iced func(peer.ID) bool
	// IcedAddr, if not nil, reports whether a remote IP is iced as a whole (the address
	// book's escalation after many iced peers from one prefix); the gater refuses such an
	// inbound connection before any handshake. It is called outside the manager's lock
	// and must be cheap.
	IcedAddr func(netip.Addr) bool
	// OnConsolidated, if not nil, is called after a session was consolidated. It runs on
	// the session's reader goroutine, outside the manager's lock, and must not block.
	OnConsolidated func(s *Session)
	// OnUnregistered, if not nil, is called after a registered session left the
	// collections, outside the manager's lock. It must not block.
	OnUnregistered func(s *Session)
	// OnPeerBeacons, if not nil, is called once per epoch (see BeginEpoch) as soon as every
	// consolidated Outbound peer has sent its LastBeacon. It runs on the reader goroutine
	// of the session that completed the set, outside the manager's lock, and must not
	// block.
	OnPeerBeacons func(PeerBeacons)
}

// dir indexes the per-direction state: Inbound (0) and Outbound (1).
type dir = Type

// Manager is the sessions manager (PROTOCOL.md section 8): it keeps the Inbound and Outbound
// sessions of every transport in bounded collections, unconsolidated and consolidated,
// keyed by peer (Key) and limited per transport, plus
// the consensus ("safu") subset of the consolidated Outbound ones; it lets the node
// broadcast and anycast to them; and it follows the libp2p connections (Notifiee, Gater)
// and tags consolidated peers in the connection manager. It implements Registry.
//
// Concurrency: one mutex guards every collection. Each operation is a few map updates, so
// a lock is simpler than a loop goroutine fed with closures and serializes just as well;
// it also lets the connection gater, which libp2p calls synchronously on its accept path,
// answer without a channel round trip. Sessions are never called with the lock held
// (Session.Close calls back into Unregister); only the connection manager's Protect and
// Unprotect are, which take their own locks and never call us, so that protection changes
// are ordered exactly like the consolidations and removals they follow.
type Manager struct {
	cfg         ManagerConfig // immutable after NewManager
	clock       Clock
	rangeLimit  int
	rangeLimit6 int
	evictKey    uint64
	evictions   atomic.Int64

	mu        sync.Mutex
	closed    bool
	limits    [2]int // libp2p sessions, by direction
	tcpLimits [2]int // plain-TCP sessions, by direction
	dirs      [2]collections
	ranges    rangeSet // inbound libp2p sessions
	tcpRanges rangeSet // inbound plain-TCP sessions
	consensus map[Key]*Session
	beacons   beaconRound
}

var _ Registry = (*Manager)(nil)

// NewManager returns an empty Manager with cfg's settings.
func NewManager(cfg ManagerConfig) *Manager {
	m := &Manager{cfg: cfg, clock: cfg.Clock, ranges: rangeSet{}, tcpRanges: rangeSet{}, consensus: map[Key]*Session{}, evictKey: newEvictionKey(cfg.EvictionKey)}
	m.cfg.PublicAddrs = append([]ma.Multiaddr(nil), cfg.PublicAddrs...)
	m.cfg.PublicTCPAddrs = make([]netip.AddrPort, len(cfg.PublicTCPAddrs))
	for i, ap := range cfg.PublicTCPAddrs {
		m.cfg.PublicTCPAddrs[i] = TCPKey(ap).AddrPort()
	}
	if m.clock == nil {
		m.clock = RealClock{}
	}
	m.rangeLimit = normLimit(cfg.SybilRangeLimit, DefaultSybilRangeLimit) // same zero and negative rule
	m.rangeLimit6 = normLimit(cfg.SybilRangeLimitIPv6, DefaultSybilRangeLimitIPv6)
	m.limits = [2]int{normLimit(cfg.InboundLimit, DefaultInboundLimit), normLimit(cfg.OutboundLimit, DefaultOutboundLimit)}
	m.tcpLimits = [2]int{normLimit(cfg.TCPInboundLimit, DefaultInboundLimit), normLimit(cfg.TCPOutboundLimit, DefaultOutboundLimit)}
	for i := range m.dirs {
		m.dirs[i] = newCollections()
	}
	m.beacons.reset(0)
	return m
}

// normLimit applies a limit's (or range prefix's) documented zero and negative values.
func normLimit(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// SetLimits changes the inbound and outbound limits of the libp2p sessions, with the
// zero and negative values of ManagerConfig. Sessions above a lowered limit are kept; new
// ones are refused until the count drops below it.
func (m *Manager) SetLimits(inbound, outbound int) { m.SetLimitsOf(TransportLibp2p, inbound, outbound) }

// Limits returns the current inbound and outbound limits of the libp2p sessions.
func (m *Manager) Limits() (inbound, outbound int) { return m.LimitsOf(TransportLibp2p) }

// SetLimitsOf is SetLimits for the sessions of transport tr.
func (m *Manager) SetLimitsOf(tr Transport, inbound, outbound int) {
	m.mu.Lock()
	*m.limitsOf(tr) = [2]int{normLimit(inbound, DefaultInboundLimit), normLimit(outbound, DefaultOutboundLimit)}
	m.mu.Unlock()
}

// LimitsOf returns the current inbound and outbound limits of the sessions of tr.
func (m *Manager) LimitsOf(tr Transport) (inbound, outbound int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.limitsOf(tr)
	return l[Inbound], l[Outbound]
}

// limitsOf returns the limits of transport tr; m.mu must be held.
func (m *Manager) limitsOf(tr Transport) *[2]int {
	if tr == TransportTCP {
		return &m.tcpLimits
	}
	return &m.limits
}

// rangesOf returns the sybil range set of transport tr; m.mu must be held.
func (m *Manager) rangesOf(tr Transport) rangeSet {
	if tr == TransportTCP {
		return m.tcpRanges
	}
	return m.ranges
}

// sybilChecked reports whether the sybil rule applies to an inbound peer at ip.
func (m *Manager) sybilChecked(ip netip.Addr) bool {
	if !m.cfg.RejectSybilInbounds || !ip.IsValid() {
		return false
	}
	return m.cfg.SybilOnLoopback || !ip.Unmap().IsLoopback()
}

// rangeOf is the sybil range of ip under the manager's IPv4 and IPv6 range limits.
func (m *Manager) rangeOf(ip netip.Addr) Range { return RangeOfBits(ip, m.rangeLimit, m.rangeLimit6) }

// Register adds s to the unconsolidated collection of its direction (Registry). Unlike
// witnet-rust, whose unconsolidated collections are unbounded (PROTOCOL.md 13.3), the limit of
// a direction bounds its consolidated and unconsolidated sessions together, as the
// connection gater does; each transport has its own limits and sybil ranges. An inbound
// session that finds its transport's inbound slots full evicts an unprotected inbound
// session of that transport (it ends with ReasonEvicted), unless ManagerConfig.NoEviction;
// only a newcomer that passes every other check evicts. Errors, in the order checked:
// ErrNotExpectedFeeler, ErrPeerIced for an inbound libp2p peer that is iced
// (ManagerConfig.Iced; plain-TCP peers are iced by address, which their transport checks
// when it accepts the connection), ErrManagerClosed, ErrMaxPeersReached (full and nothing
// to evict), ErrAddressAlreadyRegistered and, for an inbound peer under the sybil rule, a
// *SameRangeError.
func (m *Manager) Register(s *Session) error {
	t, p := s.Type(), s.Peer()
	if t != Inbound && t != Outbound {
		return ErrNotExpectedFeeler
	}
	if t == Inbound && p.Transport == TransportLibp2p && m.iced(p.ID) {
		return fmt.Errorf("%w: %s", ErrPeerIced, p)
	}
	evicted, err := m.register(s)
	if evicted != nil {
		m.closeEvicted(evicted, s)
	}
	return err
}

// register is Register under the lock; it returns the session it evicted, if any, to be
// closed once the lock is released.
func (m *Manager) register(s *Session) (evicted *entry, err error) {
	t, p, k := s.Type(), s.Peer(), s.Key()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrManagerClosed
	}
	c := &m.dirs[t]
	var victim *entry
	if limit := m.limitsOf(p.Transport)[t]; c.total(p.Transport) >= limit {
		if t == Inbound && !m.cfg.NoEviction && limit > 0 {
			victim = m.evictionVictimLocked(p.Transport)
		}
		if victim == nil {
			return nil, fmt.Errorf("%w: %d %s %s sessions", ErrMaxPeersReached, limit, t, p.Transport)
		}
	}
	if _, _, ok := c.lookup(k); ok {
		return nil, fmt.Errorf("%w: %s %s", ErrAddressAlreadyRegistered, t, k)
	}
	e := &entry{s: s, tr: p.Transport, since: m.clock.Now()}
	if t == Inbound && m.sybilChecked(p.IP) {
		r := m.rangeOf(p.IP)
		if m.rangesOf(p.Transport).holds(r) {
			return nil, &SameRangeError{Range: r}
		}
		e.rng, e.ranged = r, true
	}
	if victim != nil {
		evicted = m.evictLocked(victim, s)
	}
	if e.ranged {
		m.rangesOf(p.Transport).add(e.rng)
	}
	c.add(k, e)
	mlog.Debugw("session registered", "peer", p, "dir", t, "transport", p.Transport, "ip", p.IP)
	return evicted, nil
}

// Consolidate moves s from the unconsolidated to the consolidated collection of its
// direction (Registry) and protects the peer's connections in the connection manager.
// Errors: ErrNotExpectedFeeler, ErrMaxPeersReached (checked first among the rest, as in
// witnet-rust), ErrAddressNotFound when s is not the registered unconsolidated session of
// its peer, ErrManagerClosed.
func (m *Manager) Consolidate(s *Session) error {
	t, p, k := s.Type(), s.Peer(), s.Key()
	if t != Inbound && t != Outbound {
		return ErrNotExpectedFeeler
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrManagerClosed
	}
	c := &m.dirs[t]
	if limit := m.limitsOf(p.Transport)[t]; c.ncons[p.Transport] >= limit {
		m.mu.Unlock()
		return fmt.Errorf("%w: %d consolidated %s %s sessions", ErrMaxPeersReached, limit, t, p.Transport)
	}
	e, ok := c.uncons[k]
	if !ok || e.s != s {
		m.mu.Unlock()
		return fmt.Errorf("%w: unconsolidated %s %s", ErrAddressNotFound, t, k)
	}
	c.promote(k, e)
	if id := k.PeerID(); id != "" && m.cfg.ConnManager != nil {
		m.cfg.ConnManager.Protect(id, protectTag(t))
	}
	m.mu.Unlock()
	mlog.Debugw("session consolidated", "peer", p, "dir", t, "transport", p.Transport)
	if m.cfg.OnConsolidated != nil {
		m.cfg.OnConsolidated(s)
	}
	return nil
}

// Unregister removes s from the collection it is in (Registry). A session that is no
// longer there (already removed by DropAll, DropOutbound, Close or a lost connection, or
// replaced by a newer session of the same peer) is ignored.
func (m *Manager) Unregister(s *Session, t Type, last Status) {
	if t != Inbound && t != Outbound {
		return
	}
	m.mu.Lock()
	e, _, ok := m.dirs[t].lookup(s.Key())
	if !ok || e.s != s {
		m.mu.Unlock()
		mlog.Debugw("unregister of a session no longer registered", "peer", s.Peer(), "dir", t, "transport", s.Peer().Transport, "status", last)
		return
	}
	m.removeLocked(e)
	report, complete := m.completeBeaconsLocked()
	m.mu.Unlock()
	m.afterRemoval([]*entry{e}, nil, true)
	if complete {
		m.cfg.OnPeerBeacons(report)
	}
}

// removeLocked takes e out of every collection and frees what it held: its range, its
// connection-manager protection, its consensus membership and its beacon.
func (m *Manager) removeLocked(e *entry) {
	t, k := e.s.Type(), e.s.Key()
	wasCons := m.dirs[t].remove(k)
	if e.ranged {
		m.rangesOf(e.tr).remove(e.rng)
	}
	if id := k.PeerID(); wasCons && id != "" && m.cfg.ConnManager != nil {
		m.cfg.ConnManager.Unprotect(id, protectTag(t))
	}
	if t == Outbound {
		delete(m.consensus, k)
		delete(m.beacons.got, k)
	}
}

// afterRemoval does, outside the lock, what follows removing sessions: close them with
// reason (if not nil), forget outbound peers in the address book (if removeTried), and run
// the OnUnregistered hook.
func (m *Manager) afterRemoval(es []*entry, reason error, removeTried bool) {
	for _, e := range es {
		if reason != nil {
			e.s.Close(reason)
		}
		if removeTried && e.s.Type() == Outbound && m.cfg.AddressBook != nil {
			m.cfg.AddressBook.RemoveTried(e.s.Peer())
		}
		mlog.Debugw("session unregistered", "peer", e.s.Peer(), "dir", e.s.Type(), "transport", e.tr)
		if m.cfg.OnUnregistered != nil {
			m.cfg.OnUnregistered(e.s)
		}
	}
}

// protectTag is the connection-manager tag for consolidated sessions of direction t.
func protectTag(t Type) string { return ProtectTag + "/" + t.String() }

// SessionCounts are the sizes of the manager's collections.
type SessionCounts struct {
	InboundUnconsolidated, InboundConsolidated   int
	OutboundUnconsolidated, OutboundConsolidated int
	// Consensus is the size of the consensus subset of OutboundConsolidated.
	Consensus int
}

// Inbound returns the number of inbound sessions, consolidated or not.
func (c SessionCounts) Inbound() int { return c.InboundUnconsolidated + c.InboundConsolidated }

// Outbound returns the number of outbound sessions, consolidated or not.
func (c SessionCounts) Outbound() int { return c.OutboundUnconsolidated + c.OutboundConsolidated }

// NumSessions returns the sizes of the collections, every transport together.
func (m *Manager) NumSessions() SessionCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	return SessionCounts{
		InboundUnconsolidated:  len(m.dirs[Inbound].uncons),
		InboundConsolidated:    len(m.dirs[Inbound].cons),
		OutboundUnconsolidated: len(m.dirs[Outbound].uncons),
		OutboundConsolidated:   len(m.dirs[Outbound].cons),
		Consensus:              len(m.consensus),
	}
}

// NumSessionsOf returns the sizes of the collections counting only the sessions of
// transport tr.
func (m *Manager) NumSessionsOf(tr Transport) SessionCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, out := &m.dirs[Inbound], &m.dirs[Outbound]
	c := SessionCounts{
		InboundUnconsolidated:  in.n[tr] - in.ncons[tr],
		InboundConsolidated:    in.ncons[tr],
		OutboundUnconsolidated: out.n[tr] - out.ncons[tr],
		OutboundConsolidated:   out.ncons[tr],
	}
	for k := range m.consensus {
		if k.Transport() == tr {
			c.Consensus++
		}
	}
	return c
}

// PeerInfo describes one registered session.
type PeerInfo struct {
	Peer   Peer
	Type   Type
	Status Status
	// Consensus is set for an outbound consolidated peer of the consensus subset.
	Consensus bool
	// Since is when the session registered.
	Since time.Time
}

// ConsolidatedPeers describes the consolidated sessions, outbound first.
func (m *Manager) ConsolidatedPeers() []PeerInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]PeerInfo, 0, len(m.dirs[Outbound].cons)+len(m.dirs[Inbound].cons))
	for _, t := range [...]Type{Outbound, Inbound} {
		for k, e := range m.dirs[t].cons {
			_, safu := m.consensus[k]
			out = append(out, PeerInfo{Peer: e.s.Peer(), Type: t, Status: Consolidated, Consensus: safu && t == Outbound, Since: e.since})
		}
	}
	return out
}

// Lookup returns the registered session of the libp2p peer id in direction t, if any.
func (m *Manager) Lookup(id peer.ID, t Type) (*Session, bool) { return m.LookupKey(PeerKey(id), t) }

// LookupKey returns the registered session of the peer k names in direction t, if any.
func (m *Manager) LookupKey(k Key, t Type) (*Session, bool) {
	if t != Inbound && t != Outbound {
		return nil, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, _, ok := m.dirs[t].lookup(k)
	if !ok {
		return nil, false
	}
	return e.s, true
}

// Broadcast queues msg on every consolidated session, outbound then inbound, or on the
// inbound ones only. It returns how many sessions accepted it; a session that has just
// ended (ErrClosed) or whose queue overflowed is skipped. It never blocks on the network.
func (m *Manager) Broadcast(msg *pb.Message, onlyInbound bool) int {
	m.mu.Lock()
	targets := make([]*Session, 0, len(m.dirs[Outbound].cons)+len(m.dirs[Inbound].cons))
	if !onlyInbound {
		for _, e := range m.dirs[Outbound].cons {
			targets = append(targets, e.s)
		}
	}
	for _, e := range m.dirs[Inbound].cons {
		targets = append(targets, e.s)
	}
	m.mu.Unlock()
	n := 0
	for _, s := range targets {
		if s.Send(msg) == nil {
			n++
		}
	}
	return n
}

// Anycast queues msg on one consolidated Outbound session chosen uniformly at random, from
// the consensus subset when safu is set. It returns the session chosen, or ErrNoSessions
// when the set is empty, or the session's Send error.
func (m *Manager) Anycast(msg *pb.Message, safu bool) (*Session, error) {
	m.mu.Lock()
	var pool []*Session
	if safu {
		pool = make([]*Session, 0, len(m.consensus))
		for _, s := range m.consensus {
			pool = append(pool, s)
		}
	} else {
		pool = make([]*Session, 0, len(m.dirs[Outbound].cons))
		for _, e := range m.dirs[Outbound].cons {
			pool = append(pool, e.s)
		}
	}
	m.mu.Unlock()
	if len(pool) == 0 {
		if safu {
			return nil, fmt.Errorf("%w: consensus subset is empty", ErrNoSessions)
		}
		return nil, fmt.Errorf("%w: no consolidated outbound session", ErrNoSessions)
	}
	s := pool[rand.IntN(len(pool))]
	return s, s.Send(msg)
}

// SetConsensus replaces the consensus ("safu") subset with the consolidated Outbound
// sessions of peers, of any transport. Peers without one are left out and reported
// together in the error (each wrapping ErrNotOutboundConsolidated); the others are set
// regardless.
func (m *Manager) SetConsensus(peers []Key) error {
	var errs []error
	m.mu.Lock()
	clear(m.consensus)
	for _, k := range peers {
		if e, ok := m.dirs[Outbound].cons[k]; ok {
			m.consensus[k] = e.s
		} else {
			errs = append(errs, fmt.Errorf("%w: %s", ErrNotOutboundConsolidated, k))
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

// ConsensusPeers returns the peers of the consensus subset.
func (m *Manager) ConsensusPeers() []Key {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Key, 0, len(m.consensus))
	for k := range m.consensus {
		out = append(out, k)
	}
	return out
}

// DropAll closes every registered session with ReasonLocalClose and empties the
// collections at once. Outbound peers are removed from the address book's tried bucket,
// as for any other end of an outbound session.
func (m *Manager) DropAll() int {
	return m.drop(func(Type, Key) bool { return true }, nil, ReasonLocalClose, true)
}

// DropOutbound closes the Outbound sessions (consolidated or not) of the given peers with
// ReasonLocalClose and unregisters them at once. It returns how many it closed.
func (m *Manager) DropOutbound(peers []Key) int {
	set := make(map[Key]struct{}, len(peers))
	for _, k := range peers {
		set[k] = struct{}{}
	}
	return m.drop(func(t Type, k Key) bool {
		_, ok := set[k]
		return ok && t == Outbound
	}, nil, ReasonLocalClose, true)
}

// drop removes the sessions selected by match, then closes them with reason. If guard is
// not nil, it runs under the lock first and nothing is dropped unless it returns true.
func (m *Manager) drop(match func(Type, Key) bool, guard func() bool, reason error, removeTried bool) int {
	var removed []*entry
	m.mu.Lock()
	if guard != nil && !guard() {
		m.mu.Unlock()
		return 0
	}
	for _, t := range [...]Type{Inbound, Outbound} {
		c := &m.dirs[t]
		for _, coll := range [...]map[Key]*entry{c.uncons, c.cons} {
			for k, e := range coll {
				if match(t, k) {
					removed = append(removed, e)
				}
			}
		}
	}
	for _, e := range removed {
		m.removeLocked(e)
	}
	report, complete := m.completeBeaconsLocked()
	m.mu.Unlock()
	m.afterRemoval(removed, reason, removeTried)
	if complete {
		m.cfg.OnPeerBeacons(report)
	}
	return len(removed)
}

// Close closes every session, refuses any further registration and leaves the address
// book untouched (shutting down is no reason to forget good peers). It is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.drop(func(Type, Key) bool { return true }, nil, ReasonLocalClose, false)
	return nil
}

// OutboundEligible reports whether a libp2p peer may be dialled as a new Outbound session
// (the bootstrap filter of PROTOCOL.md 8.4): not ourselves (by ID or by one of our public
// addresses) and not a peer that already has an Outbound session, by ID or by the
// transport address it was dialled at. An inbound session does not make a peer
// ineligible. addr may be nil; its /p2p component, if any, is ignored. Plain-TCP peers
// use OutboundEligibleKey.
func (m *Manager) OutboundEligible(id peer.ID, addr ma.Multiaddr) bool {
	if id != "" && id == m.cfg.Self {
		return false
	}
	if addr != nil {
		addr, _ = peer.SplitAddr(addr)
	}
	if addr != nil {
		for _, a := range m.cfg.PublicAddrs {
			if a.Equal(addr) {
				return false
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := &m.dirs[Outbound]
	if _, _, ok := c.lookup(PeerKey(id)); ok && id != "" {
		return false
	}
	if addr == nil {
		return true
	}
	for _, coll := range [...]map[Key]*entry{c.uncons, c.cons} {
		for _, e := range coll {
			if a := e.s.Peer().Addr; a != nil && a.Equal(addr) {
				return false
			}
		}
	}
	return true
}

// OutboundEligibleKey reports whether the peer k names may be dialled as a new Outbound
// session: it has none, and it is not ourselves (our ID, or one of PublicTCPAddrs). As
// in witnet-rust, an inbound session does not make a peer ineligible.
func (m *Manager) OutboundEligibleKey(k Key) bool {
	if k.IsZero() || (k.PeerID() != "" && k.PeerID() == m.cfg.Self) {
		return false
	}
	if ap := k.AddrPort(); ap.IsValid() && slices.Contains(m.cfg.PublicTCPAddrs, ap) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, ok := m.dirs[Outbound].lookup(k)
	return !ok
}
