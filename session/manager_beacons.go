package session

import (
	"maps"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// PeerBeacons are the LastBeacons received from consolidated Outbound peers during one
// epoch: the input of the peers-beacon consensus (PROTOCOL.md 8.5), which the chain side
// computes and answers with SetConsensus and DropOutbound.
type PeerBeacons struct {
	// Epoch is the epoch the beacons were collected in (see BeginEpoch).
	Epoch uint32
	// Beacons holds the last beacon each peer sent during the epoch.
	Beacons map[Key]*pb.LastBeacon
	// Missing lists the consolidated Outbound peers that sent no beacon (counted as "no
	// beacon" by the consensus).
	Missing []Key
}

// beaconRound is the collection of the current epoch.
type beaconRound struct {
	epoch    uint32
	got      map[Key]*pb.LastBeacon
	reported bool // OnPeerBeacons already ran for this epoch
}

func (r *beaconRound) reset(epoch uint32) {
	r.epoch, r.got, r.reported = epoch, map[Key]*pb.LastBeacon{}, false
}

// BeginEpoch starts collecting the beacons of epoch, forgetting those of the previous one.
// The node calls it at each epoch notification, after it took the previous epoch's
// beacons with PeerBeacons.
func (m *Manager) BeginEpoch(epoch uint32) {
	m.mu.Lock()
	m.beacons.reset(epoch)
	m.mu.Unlock()
}

// PeerBeacons returns what was collected for epoch, or false if epoch is not the one being
// collected.
func (m *Manager) PeerBeacons(epoch uint32) (PeerBeacons, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if epoch != m.beacons.epoch {
		return PeerBeacons{}, false
	}
	return m.peerBeaconsLocked(), true
}

func (m *Manager) peerBeaconsLocked() PeerBeacons {
	out := PeerBeacons{Epoch: m.beacons.epoch, Beacons: maps.Clone(m.beacons.got)}
	for k := range m.dirs[Outbound].cons {
		if _, ok := m.beacons.got[k]; !ok {
			out.Missing = append(out.Missing, k)
		}
	}
	return out
}

// OutboundBeacon records a LastBeacon received on a consolidated Outbound session
// (Registry). A beacon from a session that is not the peer's consolidated Outbound one is
// dropped. When it completes the epoch's set, OnPeerBeacons runs.
func (m *Manager) OutboundBeacon(s *Session, b *pb.LastBeacon) {
	if b == nil || s.Type() != Outbound {
		return
	}
	m.mu.Lock()
	e, ok := m.dirs[Outbound].cons[s.Key()]
	if !ok || e.s != s {
		m.mu.Unlock()
		mlog.Debugw("beacon from an unregistered outbound session dropped", "peer", s.Peer(), "transport", s.Peer().Transport)
		return
	}
	m.beacons.got[s.Key()] = b
	report, complete := m.completeBeaconsLocked()
	m.mu.Unlock()
	if complete {
		m.cfg.OnPeerBeacons(report)
	}
}

// completeBeaconsLocked reports the epoch's beacons once, when every consolidated Outbound
// peer (at least one) has sent its beacon and someone listens. It is checked when a beacon
// arrives and when an outbound peer leaves (the last missing one may be the one leaving).
func (m *Manager) completeBeaconsLocked() (PeerBeacons, bool) {
	if m.cfg.OnPeerBeacons == nil || m.closed || m.beacons.reported || len(m.dirs[Outbound].cons) == 0 {
		return PeerBeacons{}, false
	}
	for k := range m.dirs[Outbound].cons {
		if _, ok := m.beacons.got[k]; !ok {
			return PeerBeacons{}, false
		}
	}
	m.beacons.reported = true
	return m.peerBeaconsLocked(), true
}
