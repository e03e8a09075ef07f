package hostlimits

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/witnet-p2p/witnet-p2p/session"
)

// Resource-manager limits of the Witnet session protocol. A peer needs at most one
// inbound and one outbound session with us, plus a feeler now and then and a session
// that is still ending while its successor starts; libp2p's defaults would let one peer
// open hundreds of streams at once, each costing a session and its goroutines until the
// manager refuses it.
const (
	// sessionStreamsPerPeer caps a peer's session streams in each direction.
	sessionStreamsPerPeer = 4
	// sessionMemoryPerPeer caps what a peer's session streams may reserve, mostly yamux
	// receive windows (up to 16 MiB each): two busy sessions at full window.
	sessionMemoryPerPeer = 32 << 20
	// sessionMemoryPerStream is the protocol-wide memory allowance per permitted stream.
	sessionMemoryPerStream = 16 << 20
)

// protocolLimits adds the limits of session.ProtocolID, and of the session service its
// streams join, to scaling: per peer, sessionStreamsPerPeer streams each way; for all
// peers together, one stream each way per connection the node admits (l.Conns).
func protocolLimits(scaling *rcmgr.ScalingLimitConfig, l Limits) {
	perPeer := rcmgr.BaseLimit{
		StreamsInbound:  sessionStreamsPerPeer,
		StreamsOutbound: sessionStreamsPerPeer,
		Streams:         2 * sessionStreamsPerPeer,
		Memory:          sessionMemoryPerPeer,
	}
	all := rcmgr.BaseLimit{
		StreamsInbound:  l.Conns,
		StreamsOutbound: l.Conns,
		Streams:         2 * l.Conns,
		Memory:          int64(2*l.Conns) * sessionMemoryPerStream,
	}
	scaling.AddProtocolPeerLimit(session.ProtocolID, perPeer, rcmgr.BaseLimitIncrease{})
	scaling.AddServicePeerLimit(session.ServiceName, perPeer, rcmgr.BaseLimitIncrease{})
	scaling.AddProtocolLimit(session.ProtocolID, all, rcmgr.BaseLimitIncrease{})
	scaling.AddServiceLimit(session.ServiceName, all, rcmgr.BaseLimitIncrease{})
}

// sessionLimitName describes the session stream limits in logs.
var sessionLimitName = "session streams: " + strconv.Itoa(sessionStreamsPerPeer) + " per peer each way"

// refusalLogInterval is the least time between two logged refusals of one limit.
const refusalLogInterval = time.Second

// throttle lets one log line per key through every refusalLogInterval and counts the
// others, so that a peer hammering a limit cannot flood the log.
type throttle struct {
	mu   sync.Mutex
	keys map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

// allow reports whether a line for key may be logged now and, if so, how many were left
// out since the last one.
func (t *throttle) allow(key string) (suppressed int, ok bool) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.keys == nil {
		t.keys = map[string]*throttled{}
	}
	k := t.keys[key]
	if k == nil {
		k = &throttled{}
		t.keys[key] = k
	}
	if !k.last.IsZero() && now.Sub(k.last) < refusalLogInterval {
		k.suppressed++
		return 0, false
	}
	k.last = now
	suppressed, k.suppressed = k.suppressed, 0
	return suppressed, true
}

// streamRefusals wraps a resource manager so that a session stream refused by a limit is
// logged with its peer: libp2p resets such a stream before any handler sees it and logs
// only at debug level. The log is throttled (see throttle).
type streamRefusals struct {
	network.ResourceManager

	refusals atomic.Int64 // session streams refused, logged or not
	logs     throttle
}

var _ network.ResourceManager = (*streamRefusals)(nil)

// OpenStream opens a stream scope that reports protocol refusals.
func (r *streamRefusals) OpenStream(p peer.ID, dir network.Direction) (network.StreamManagementScope, error) {
	scope, err := r.ResourceManager.OpenStream(p, dir)
	if err != nil {
		if dir == network.DirInbound {
			r.refused(p, dir, "", "streams of the peer or of all peers", err)
		}
		return nil, err
	}
	return &refusingStreamScope{StreamManagementScope: scope, r: r, peer: p, dir: dir}, nil
}

// refused logs one refusal, or counts it while the log is throttled.
func (r *streamRefusals) refused(p peer.ID, dir network.Direction, proto protocol.ID, limit string, err error) {
	r.refusals.Add(1)
	suppressed, ok := r.logs.allow("")
	if !ok {
		return
	}
	log.Warnw("stream refused by a limit", "peer", p, "dir", dirName(dir), "protocol", proto,
		"limit", limit, "err", err, "unlogged_refusals", suppressed)
}

// refusingStreamScope reports a refused session protocol.
type refusingStreamScope struct {
	network.StreamManagementScope
	r    *streamRefusals
	peer peer.ID
	dir  network.Direction
}

// SetProtocol attaches the stream to proto, logging a refusal of the session protocol.
func (s *refusingStreamScope) SetProtocol(proto protocol.ID) error {
	err := s.StreamManagementScope.SetProtocol(proto)
	if err != nil && proto == session.ProtocolID {
		s.r.refused(s.peer, s.dir, proto, sessionLimitName, err)
	}
	return err
}
