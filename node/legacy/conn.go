package legacy

import (
	"net"
	"sync"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// conn is the stream a plain-TCP session runs on: the TCP connection, with an abortive
// Reset.
type conn struct {
	*net.TCPConn
}

// Reset aborts the connection: the peer gets a TCP reset rather than a clean end, so it
// learns that the session failed, and no data still buffered is delivered late. The
// session calls it after an error, Close after a clean end.
func (c conn) Reset() error {
	_ = c.SetLinger(0)
	return c.Close()
}

// connRegistry is the session.Registry of one plain-TCP session: the sessions manager,
// seen through the connection's life. It releases the connection's handshake slot once
// the session consolidated or left the manager (whichever comes first, once), and
// remembers a refused registration for Dial.
type connRegistry struct {
	m       session.Registry
	release func() // nil: no slot

	once    sync.Once
	refused error // set by Register, read after Start returned
}

var _ session.Registry = (*connRegistry)(nil)

func (r *connRegistry) done() {
	if r.release != nil {
		r.once.Do(r.release)
	}
}

// Register registers with the manager; a refusal frees the slot at once.
func (r *connRegistry) Register(s *session.Session) error {
	err := r.m.Register(s)
	if err != nil {
		r.refused = err
		r.done()
	}
	return err
}

// Consolidate consolidates with the manager; on success the connection is no longer
// handshaking.
func (r *connRegistry) Consolidate(s *session.Session) error {
	err := r.m.Consolidate(s)
	if err == nil {
		r.done()
	}
	return err
}

// Unregister unregisters from the manager and frees the slot if consolidation did not.
func (r *connRegistry) Unregister(s *session.Session, t session.Type, last session.Status) {
	r.m.Unregister(s, t, last)
	r.done()
}

// OutboundBeacon hands the beacon to the manager.
func (r *connRegistry) OutboundBeacon(s *session.Session, b *pb.LastBeacon) {
	r.m.OutboundBeacon(s, b)
}
