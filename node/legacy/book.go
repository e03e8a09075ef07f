package legacy

import (
	"net/netip"
	"sync"
	"time"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// Defaults of BookConfig.
const (
	// DefaultIcePeriod is how long a socket address stays iced: witnet-rust's period
	// before the chain is bootstrapped, as the node's address book uses.
	DefaultIcePeriod = 1800 * time.Second
	// DefaultMaxIced bounds the iced addresses (about 64 bytes each). A full ice bucket
	// first forgets the melted ones, then the one that would melt first.
	DefaultMaxIced = 4096
	// DefaultMaxTried bounds the tried addresses. Only consolidated outbound sessions
	// enter it, so it stays within the outbound limit unless that is raised a lot.
	DefaultMaxTried = 1024
)

// BookConfig holds a Book's settings; the zero value of each field means its default.
type BookConfig struct {
	// IcePeriod is how long an address stays iced; 0 means DefaultIcePeriod.
	IcePeriod time.Duration
	// MaxIced bounds the iced addresses; 0 means DefaultMaxIced.
	MaxIced int
	// MaxTried bounds the tried addresses; 0 means DefaultMaxTried.
	MaxTried int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Book keeps the socket addresses of plain-TCP peers: the tried ones (outbound sessions
// that consolidated, until the session ends) and the iced ones, each iced address until
// its ice period is over. Icing is per socket address, as in witnet-rust: an address
// that differs in IP or in port is not iced. It implements session.AddressBook for
// plain-TCP sessions and is safe for concurrent use.
type Book struct {
	cfg BookConfig

	mu    sync.Mutex
	tried map[netip.AddrPort]struct{}
	iced  map[netip.AddrPort]time.Time // the time the address melts
}

var _ session.AddressBook = (*Book)(nil)

// NewBook returns an empty Book.
func NewBook(cfg BookConfig) *Book {
	if cfg.IcePeriod <= 0 {
		cfg.IcePeriod = DefaultIcePeriod
	}
	if cfg.MaxIced <= 0 {
		cfg.MaxIced = DefaultMaxIced
	}
	if cfg.MaxTried <= 0 {
		cfg.MaxTried = DefaultMaxTried
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Book{cfg: cfg, tried: map[netip.AddrPort]struct{}{}, iced: map[netip.AddrPort]time.Time{}}
}

// norm gives one form to the addresses of one peer (see session.TCPKey).
func norm(ap netip.AddrPort) netip.AddrPort { return session.TCPKey(ap).AddrPort() }

// IceAddr removes ap from tried and ices it for the ice period.
func (b *Book) IceAddr(ap netip.AddrPort) {
	ap = norm(ap)
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.tried, ap)
	if _, ok := b.iced[ap]; !ok && len(b.iced) >= b.cfg.MaxIced {
		b.makeRoomLocked(now)
	}
	b.iced[ap] = now.Add(b.cfg.IcePeriod)
}

// makeRoomLocked forgets the melted addresses, or else the one that melts first.
func (b *Book) makeRoomLocked(now time.Time) {
	var first netip.AddrPort
	var firstAt time.Time
	for ap, until := range b.iced {
		if now.After(until) {
			delete(b.iced, ap)
			continue
		}
		if !first.IsValid() || until.Before(firstAt) {
			first, firstAt = ap, until
		}
	}
	if len(b.iced) >= b.cfg.MaxIced {
		delete(b.iced, first)
	}
}

// IsIced reports whether ap is iced: it was iced no longer than the ice period ago
// (the period's last second included, as in witnet-rust).
func (b *Book) IsIced(ap netip.AddrPort) bool {
	ap = norm(ap)
	now := b.cfg.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	until, ok := b.iced[ap]
	if ok && now.After(until) {
		delete(b.iced, ap)
		return false
	}
	return ok
}

// Counts returns the number of tried and iced addresses (melted ones may be counted
// until they are next looked at).
func (b *Book) Counts() (tried, iced int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tried), len(b.iced)
}

// Tried returns the tried addresses, in no particular order.
func (b *Book) Tried() []netip.AddrPort {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]netip.AddrPort, 0, len(b.tried))
	for ap := range b.tried {
		out = append(out, ap)
	}
	return out
}

// PeersForGetPeers returns the tried addresses in the 6- or 18-byte form (session.AddressBook).
func (b *Book) PeersForGetPeers() [][]byte {
	tried := b.Tried()
	out := make([][]byte, len(tried))
	for i, ap := range tried {
		out[i] = protocol.LegacyAddress(ap)
	}
	return out
}

// AddPeers drops the addresses a plain-TCP peer sent (session.AddressBook): they have no
// new bucket to go to yet, and a libp2p dial cannot use them.
func (b *Book) AddPeers(from session.Peer, addrs [][]byte) {
	log.Debugw("addresses from a plain-TCP peer not kept", "peer", from, "transport", from.Transport, "count", len(addrs))
}

// Good records a plain-TCP peer whose outbound session consolidated as tried
// (session.AddressBook). Once MaxTried addresses are tried, new ones are not kept.
func (b *Book) Good(p session.Peer) {
	if p.Transport != session.TransportTCP || !p.AddrPort.IsValid() {
		return
	}
	ap := norm(p.AddrPort)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.tried) < b.cfg.MaxTried {
		b.tried[ap] = struct{}{}
	}
}

// Ice ices a plain-TCP peer's socket address (session.AddressBook).
func (b *Book) Ice(p session.Peer) {
	if p.Transport == session.TransportTCP && p.AddrPort.IsValid() {
		b.IceAddr(p.AddrPort)
	}
}

// RemoveTried removes a plain-TCP peer from tried without icing it (session.AddressBook).
func (b *Book) RemoveTried(p session.Peer) {
	if p.Transport != session.TransportTCP {
		return
	}
	ap := norm(p.AddrPort)
	b.mu.Lock()
	delete(b.tried, ap)
	b.mu.Unlock()
}
