package session

import (
	"io"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Session is one Witnet session over one stream. Its bodies are being written; this file
// fixes the method set the manager codes against.
type Session struct {
	conn io.ReadWriteCloser
	peer Peer
	typ  Type
	cfg  Config
	done chan struct{}
}

// New returns a session of type t over conn with the remote peer p. It does nothing on
// the network until Start.
func New(conn io.ReadWriteCloser, p Peer, t Type, cfg Config) *Session {
	return &Session{conn: conn, peer: p, typ: t, cfg: cfg, done: make(chan struct{})}
}

// Start registers the session (Inbound, Outbound), sends our Version (Outbound, Feeler),
// arms the handshake timer and starts the reader and writer goroutines.
func (s *Session) Start() {}

// ID returns the remote peer ID.
func (s *Session) ID() peer.ID { return s.peer.ID }

// Peer returns the description of the remote peer.
func (s *Session) Peer() Peer { return s.peer }

// Type returns the session type.
func (s *Session) Type() Type { return s.typ }

// Status returns the session status.
func (s *Session) Status() Status { return Unconsolidated }

// Send queues m without blocking.
func (s *Session) Send(m *pb.Message) error { return ErrClosed }

// Close ends the session.
func (s *Session) Close(reason error) {}

// Done is closed once the session has ended.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why the session ended.
func (s *Session) Err() error { return nil }

// GetPeers sends GetPeers.
func (s *Session) GetPeers() error { return ErrClosed }

// AnnounceItems sends an InventoryAnnouncement.
func (s *Session) AnnounceItems(entries []*pb.InventoryEntry) error { return ErrClosed }

// RequestBlock sends an InventoryRequest for one entry.
func (s *Session) RequestBlock(e *pb.InventoryEntry) error { return ErrClosed }

// SendInventoryItem sends a Block, Transaction, SuperBlock or SuperBlockVote message.
func (s *Session) SendInventoryItem(m *pb.Message) error { return ErrClosed }

// SendLastBeacon sends a LastBeacon.
func (s *Session) SendLastBeacon(b *pb.LastBeacon) error { return ErrClosed }

// SendSuperBlockVote sends a SuperBlockVote.
func (s *Session) SendSuperBlockVote(v *pb.SuperBlockVote) error { return ErrClosed }

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats { return Stats{} }

// RemoteVersion returns the peer's Version message, or nil before it arrived.
func (s *Session) RemoteVersion() *pb.Version { return nil }
