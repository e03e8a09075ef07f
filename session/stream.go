package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// ServiceName is the libp2p resource-manager service that Witnet session streams are
// accounted to.
const ServiceName = "witnet.session"

// ErrDialType is returned by Service.Dial for a session type other than Outbound or
// Feeler.
var ErrDialType = errors.New("session: only outbound and feeler sessions are dialled")

// Service runs Witnet sessions over the libp2p streams of one host: every inbound stream
// on ProtocolID becomes an Inbound Session, and Dial opens Outbound and Feeler ones. The
// sessions register with the Manager, which also follows the host's connections. Build
// the host with libp2p.ConnectionGater(m.Gater()) so inbound connections are gated too.
type Service struct {
	h   host.Host
	m   *Manager
	cfg Config
}

// NewService registers the stream handler for ProtocolID on h and the manager's notifiee
// on h's network. cfg is the configuration of every session; its Registry is set to m.
func NewService(h host.Host, m *Manager, cfg Config) *Service {
	cfg.Registry = m
	s := &Service{h: h, m: m, cfg: cfg}
	h.Network().Notify(m.Notifiee())
	h.SetStreamHandler(ProtocolID, s.handleStream)
	return s
}

// Manager returns the sessions manager the service registers sessions with.
func (s *Service) Manager() *Manager { return s.m }

// Host returns the libp2p host the service runs on.
func (s *Service) Host() host.Host { return s.h }

// Close stops accepting streams and following connections. Running sessions are left to
// the Manager (Manager.Close ends them).
func (s *Service) Close() error {
	s.h.RemoveStreamHandler(ProtocolID)
	s.h.Network().StopNotify(s.m.Notifiee())
	return nil
}

// handleStream turns an inbound stream into an Inbound session. The session owns the
// stream from then on: there is no deadline to set here, because the session's handshake
// timer closes a stream that does not consolidate in time, and an established session is
// allowed to stay idle.
//
// A stream on a limited (relayed) connection is refused: a relay cuts such a connection
// after a few minutes or kilobytes, so a session waits for the direct connection hole
// punching makes. Our own dials never open one there (they do not allow limited
// connections), but a peer can.
func (s *Service) handleStream(str network.Stream) {
	if str.Conn().Stat().Limited {
		mlog.Debugw("inbound stream refused: limited (relayed) connection", "peer", str.Conn().RemotePeer(), "dir", Inbound, "remote", str.Conn().RemoteMultiaddr())
		str.Reset()
		return
	}
	if err := str.Scope().SetService(ServiceName); err != nil {
		mlog.Debugw("inbound stream refused by the resource manager", "peer", str.Conn().RemotePeer(), "err", err)
		str.Reset()
		return
	}
	sess := New(str, peerOf(str.Conn()), Inbound, s.cfg)
	sess.Start()
}

// Dial connects to ai (if not yet connected), opens a stream on ProtocolID and starts an
// Outbound or Feeler session on it. ctx bounds the connection and the stream opening only
// (witnet-rust allows 1 s to connect); the handshake is bounded by the session's
// handshake timeout. If the manager refuses to register the session, Dial returns the
// session's error and the stream is closed; any later end, however early, is reported by
// the returned session's Done and Err.
func (s *Service) Dial(ctx context.Context, ai peer.AddrInfo, t Type) (*Session, error) {
	if t != Outbound && t != Feeler {
		return nil, fmt.Errorf("%w: %s", ErrDialType, t)
	}
	if err := s.h.Connect(ctx, ai); err != nil {
		return nil, fmt.Errorf("session: connect to %s: %w", ai.ID, err)
	}
	str, err := s.h.NewStream(ctx, ai.ID, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("session: open stream to %s: %w", ai.ID, err)
	}
	if err := str.Scope().SetService(ServiceName); err != nil {
		str.Reset()
		return nil, fmt.Errorf("session: stream to %s: %w", ai.ID, err)
	}
	sess := New(str, dialledPeer(str.Conn(), ai.Addrs), t, s.cfg)
	// Only an end during start (the manager refused the session) is Dial's failure; a
	// handshake that fails right after is the session's, reported through Done and Err,
	// however fast the peer answered.
	if err := sess.start(); err != nil {
		return nil, err
	}
	return sess, nil
}

// dialledPeer describes the peer of a session we dialled on c. A peer dialled only at
// relay (p2p-circuit) addresses is described by the first of them even though the session
// runs on the direct connection that hole punching made: that connection's remote
// address is a NAT mapping nobody else can dial, while the relay address is how the peer
// is reached, and the address the address book must keep.
func dialledPeer(c network.Conn, dialled []ma.Multiaddr) Peer {
	p := peerOf(c)
	if len(dialled) == 0 || isCircuit(p.Addr) {
		return p
	}
	for _, a := range dialled {
		if !isCircuit(a) {
			return p
		}
	}
	p.Addr, p.IP = dialled[0], ipOf(dialled[0])
	return p
}

// isCircuit reports whether a is a relay (p2p-circuit) address.
func isCircuit(a ma.Multiaddr) bool {
	if a == nil {
		return false
	}
	_, err := a.ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// peerOf describes the remote end of a libp2p connection.
func peerOf(c network.Conn) Peer {
	addr := c.RemoteMultiaddr()
	return Peer{ID: c.RemotePeer(), Addr: addr, IP: ipOf(addr)}
}
