package session

import (
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// msgOf builds a message of kind k with magic 10700 (Version at the clock's time).
func msgOf(k protocol.Kind, now time.Time) *pb.Message {
	m := protocol.Magic
	switch k {
	case protocol.KindVersion:
		return protocol.NewVersion(protocol.VersionParams{Magic: m, Timestamp: now.Unix(), Nonce: 5})
	case protocol.KindVerack:
		return protocol.NewVerack(m)
	case protocol.KindGetPeers:
		return protocol.NewGetPeers(m)
	case protocol.KindPeers:
		return protocol.NewPeers(m, nil)
	case protocol.KindBlock:
		return testBlock(1)
	case protocol.KindInventoryAnnouncement:
		a, _ := protocol.NewInventoryAnnouncement(m, []*pb.InventoryEntry{protocol.BlockEntry(protocol.Hash{1})})
		return a
	case protocol.KindInventoryRequest:
		r, _ := protocol.NewInventoryRequest(m, []*pb.InventoryEntry{protocol.BlockEntry(protocol.Hash{1})})
		return r
	case protocol.KindLastBeacon:
		return protocol.NewLastBeacon(m, nil)
	case protocol.KindTransaction:
		return testTx(1)
	case protocol.KindSuperBlockVote:
		return protocol.NewSuperBlockVote(m, testVote(1))
	case protocol.KindSuperBlock:
		return testSuperBlock(1)
	}
	return &pb.Message{Magic: uint32(m)}
}

// TestMachineTable runs the state machine alone: (type, status, flags, message) in,
// (effects, flags, reason) out. It covers the table of PROTOCOL.md 7.4 and the flag rules of
// 7.2.
func TestMachineTable(t *testing.T) {
	none := flags{}
	all := flags{true, true, true, true}
	sentVersion := flags{versionTx: true}
	sentVersionGotVerack := flags{versionTx: true, verackRx: true}
	answered := flags{versionRx: true, verackTx: true, versionTx: true}

	type row struct {
		name      string
		typ       Type
		status    Status
		flags     flags
		kind      protocol.Kind
		expPeers  uint32
		want      []effect
		wantFlags flags
		reason    Reason
	}
	rows := []row{
		// Handshake, inbound side: Version first.
		{"inbound first version", Inbound, Unconsolidated, none, protocol.KindVersion, 0,
			[]effect{effSendVerack, effSendVersion}, answered, ReasonNone},
		{"inbound verack completes", Inbound, Unconsolidated, answered, protocol.KindVerack, 0,
			[]effect{effConsolidate}, all, ReasonNone},
		// Outbound side: Verack then Version.
		{"outbound verack", Outbound, Unconsolidated, sentVersion, protocol.KindVerack, 0,
			nil, sentVersionGotVerack, ReasonNone},
		{"outbound version completes", Outbound, Unconsolidated, sentVersionGotVerack, protocol.KindVersion, 0,
			[]effect{effSendVerack, effConsolidate}, all, ReasonNone},
		{"outbound version before verack", Outbound, Unconsolidated, sentVersion, protocol.KindVersion, 0,
			[]effect{effSendVerack}, flags{versionTx: true, versionRx: true, verackTx: true}, ReasonNone},
		{"feeler version completes", Feeler, Unconsolidated, sentVersionGotVerack, protocol.KindVersion, 0,
			[]effect{effSendVerack, effConsolidate}, all, ReasonNone},
		// Repeats are logged only; flags unchanged, no reply.
		{"repeated version", Inbound, Unconsolidated, answered, protocol.KindVersion, 0,
			[]effect{effRepeated}, answered, ReasonNone},
		{"repeated verack", Outbound, Unconsolidated, sentVersionGotVerack, protocol.KindVerack, 0,
			[]effect{effRepeated}, sentVersionGotVerack, ReasonNone},
		// Consolidated messages before consolidation are ignored and counted.
		{"getpeers unconsolidated", Inbound, Unconsolidated, none, protocol.KindGetPeers, 0, []effect{effUnexpected}, none, ReasonNone},
		{"peers unconsolidated", Outbound, Unconsolidated, sentVersion, protocol.KindPeers, 1, []effect{effUnexpected}, sentVersion, ReasonNone},
		{"block unconsolidated", Inbound, Unconsolidated, none, protocol.KindBlock, 0, []effect{effUnexpected}, none, ReasonNone},
		{"announcement unconsolidated", Inbound, Unconsolidated, none, protocol.KindInventoryAnnouncement, 0, []effect{effUnexpected}, none, ReasonNone},
		{"request unconsolidated", Inbound, Unconsolidated, none, protocol.KindInventoryRequest, 0, []effect{effUnexpected}, none, ReasonNone},
		{"beacon unconsolidated", Outbound, Unconsolidated, none, protocol.KindLastBeacon, 0, []effect{effUnexpected}, none, ReasonNone},
		{"tx unconsolidated", Inbound, Unconsolidated, none, protocol.KindTransaction, 0, []effect{effUnexpected}, none, ReasonNone},
		// Handshake messages after consolidation.
		{"version consolidated", Inbound, Consolidated, all, protocol.KindVersion, 0, []effect{effUnexpected}, all, ReasonNone},
		{"verack consolidated", Outbound, Consolidated, all, protocol.KindVerack, 0, []effect{effUnexpected}, all, ReasonNone},
		// Consolidated dispatch.
		{"getpeers", Inbound, Consolidated, all, protocol.KindGetPeers, 0, []effect{effReplyPeers}, all, ReasonNone},
		{"solicited peers", Outbound, Consolidated, all, protocol.KindPeers, 1, []effect{effAcceptPeers}, all, ReasonNone},
		{"unsolicited peers", Outbound, Consolidated, all, protocol.KindPeers, 0, nil, all, ReasonUnsolicitedPeers},
		{"announcement", Inbound, Consolidated, all, protocol.KindInventoryAnnouncement, 0, []effect{effAnswerAnnouncement}, all, ReasonNone},
		{"request", Outbound, Consolidated, all, protocol.KindInventoryRequest, 0, []effect{effServeRequest}, all, ReasonNone},
		{"block", Outbound, Consolidated, all, protocol.KindBlock, 0, []effect{effDeliver}, all, ReasonNone},
		{"transaction", Inbound, Consolidated, all, protocol.KindTransaction, 0, []effect{effDeliver}, all, ReasonNone},
		{"superblock", Inbound, Consolidated, all, protocol.KindSuperBlock, 0, []effect{effDeliver}, all, ReasonNone},
		{"superblock vote", Inbound, Consolidated, all, protocol.KindSuperBlockVote, 0, []effect{effDeliver}, all, ReasonNone},
		{"beacon outbound", Outbound, Consolidated, all, protocol.KindLastBeacon, 0, []effect{effOutboundBeacon}, all, ReasonNone},
		{"beacon inbound", Inbound, Consolidated, all, protocol.KindLastBeacon, 0, []effect{effInboundBeacon}, all, ReasonNone},
		{"beacon feeler", Feeler, Consolidated, all, protocol.KindLastBeacon, 0, []effect{effUnexpected}, all, ReasonNone},
		{"no command", Inbound, Consolidated, all, protocol.KindNone, 0, nil, all, ReasonDecode},
	}
	now := t0
	for _, tc := range rows {
		t.Run(tc.name, func(t *testing.T) {
			m := &machine{typ: tc.typ, status: tc.status, flags: tc.flags}
			m.expectedPeers.Store(tc.expPeers)
			r := &rules{magic: uint32(protocol.Magic), maxTSDiff: 10, chain: &fakeChain{}, nonces: NewNonceSet(0)}
			effs, err := m.handle(msgOf(tc.kind, now), tc.kind, now, r)
			if tc.reason != ReasonNone {
				require.Error(t, err)
				require.Equal(t, tc.reason, ReasonOf(err))
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, append([]effect(nil), effs.slice()...))
			require.Equal(t, tc.wantFlags, m.flags)
			if tc.kind == protocol.KindPeers && tc.status == Consolidated {
				require.Equal(t, tc.expPeers-1, m.expectedPeers.Load(), "one expected Peers consumed")
			}
		})
	}
}

func TestMachineExpectedPeersSaturates(t *testing.T) {
	var m machine
	for range 300 {
		m.expectPeers()
	}
	require.Equal(t, uint32(maxExpectedPeers), m.expectedPeers.Load())
	for range maxExpectedPeers {
		require.True(t, m.takeExpectedPeers())
	}
	require.False(t, m.takeExpectedPeers())
}

// TestVersionChecks runs the Version checks of the state machine against the
// handshake.json cases and the rules of PROTOCOL.md 7.2/7.3.
func TestVersionChecks(t *testing.T) {
	beacon := func(block, sb uint32, sbHash byte) *pb.LastBeacon {
		return protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(block, protocol.Hash{0xaa}), protocol.NewCheckpointBeacon(sb, protocol.Hash{sbHash}))
	}
	ours := beacon(100, 5, 1)
	tests := []struct {
		name   string
		typ    Type
		drift  time.Duration // peer timestamp minus ours
		peer   *pb.LastBeacon
		epoch  uint32
		target *pb.CheckpointBeacon
		maxTS  int64
		nonce  uint64
		reason Reason
	}{
		{"compatible", Outbound, 0, beacon(100, 5, 1), 101, nil, 10, 0, ReasonNone},
		{"drift +10 s accepted", Inbound, 10 * time.Second, nil, 0, nil, 10, 0, ReasonNone},
		{"drift -10 s accepted", Inbound, -10 * time.Second, nil, 0, nil, 10, 0, ReasonNone},
		{"drift +11 s refused", Inbound, 11 * time.Second, nil, 0, nil, 10, 0, ReasonTimestamp},
		{"drift -11 s refused", Outbound, -11 * time.Second, beacon(100, 5, 1), 101, nil, 10, 0, ReasonTimestamp},
		{"drift check disabled", Inbound, time.Hour, nil, 0, nil, 0, 0, ReasonNone},
		{"peer block beyond our epoch", Outbound, 0, beacon(102, 5, 1), 101, nil, 10, 0, ReasonBeacon},
		{"peer block beyond epoch at superblock epoch still ices", Feeler, 0, beacon(111, 5, 1), 110, nil, 10, 0, ReasonBeacon},
		{"peer superblock old", Outbound, 0, beacon(100, 4, 1), 101, nil, 10, 0, ReasonBeacon},
		{"peer superblock old at epoch%10==0", Outbound, 0, beacon(100, 4, 1), 110, nil, 10, 0, ReasonBeaconSuperblockEpoch},
		{"peer superblock fork", Feeler, 0, beacon(100, 5, 2), 101, nil, 10, 0, ReasonBeacon},
		{"peer superblock fork at epoch%10==0", Feeler, 0, beacon(100, 5, 2), 120, nil, 10, 0, ReasonBeaconSuperblockEpoch},
		{"peer superblock ahead", Outbound, 0, beacon(100, 9, 7), 101, nil, 10, 0, ReasonNone},
		{"target beacon replaces ours", Outbound, 0, beacon(100, 5, 1), 101, protocol.NewCheckpointBeacon(6, protocol.Hash{3}), 10, 0, ReasonBeacon},
		{"inbound never checks beacons", Inbound, 0, beacon(999, 0, 9), 101, nil, 10, 0, ReasonNone},
		{"our own nonce", Inbound, 0, nil, 0, nil, 10, 777, ReasonSelfConnection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nonces := NewNonceSet(0)
			nonces.Add(777)
			r := &rules{magic: uint32(protocol.Magic), maxTSDiff: tc.maxTS, chain: &fakeChain{beacon: ours, epoch: tc.epoch, target: tc.target}, nonces: nonces}
			m := &machine{typ: tc.typ}
			if tc.typ != Inbound {
				m.flags.versionTx = true
			}
			nonce := tc.nonce
			if nonce == 0 {
				nonce = 1234
			}
			v := protocol.NewVersion(protocol.VersionParams{Magic: protocol.Magic, Timestamp: t0.Add(tc.drift).Unix(), Nonce: nonce, Beacon: tc.peer})
			_, err := m.handle(v, protocol.KindVersion, t0, r)
			if tc.reason == ReasonNone {
				require.NoError(t, err)
				require.True(t, m.flags.versionRx)
				return
			}
			require.Equal(t, tc.reason, ReasonOf(err), "err: %v", err)
			require.False(t, m.flags.versionRx, "a refused Version sets no flag")
		})
	}
}

func TestMachineBadMagic(t *testing.T) {
	for _, status := range []Status{Unconsolidated, Consolidated} {
		m := &machine{typ: Inbound, status: status}
		r := &rules{magic: uint32(protocol.Magic), chain: &fakeChain{}}
		msg := protocol.NewGetPeers(1)
		_, err := m.handle(msg, protocol.KindGetPeers, t0, r)
		require.Equal(t, ReasonBadMagic, ReasonOf(err))
		require.ErrorContains(t, err, "magic 1, expected 10700")
	}
}

// TestFailureRules drives a real session from a raw peer into each failure of PROTOCOL.md
// 7.3 and checks the reason, icing and the single Unregister.
func TestFailureRules(t *testing.T) {
	type tc struct {
		name   string
		typ    Type
		setup  func(e *fakeEnv)
		drive  func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv)
		reason Reason
		ice    bool
		last   Status
	}
	oldPeer := protocol.NewLastBeaconPB(nil, protocol.NewCheckpointBeacon(1, protocol.Hash{}))
	ourBeacon := protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(30, protocol.Hash{}), protocol.NewCheckpointBeacon(2, protocol.Hash{}))
	tests := []tc{
		{name: "bad magic", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			v := peerVersion(e.clock, nil, 1)
			v.Magic = 1
			_ = p.send(v)
		}, reason: ReasonBadMagic, ice: true},
		{name: "bad magic after consolidation", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			consolidateInbound(t, p, e.clock, s)
			_ = p.send(protocol.NewGetPeers(3))
		}, reason: ReasonBadMagic, ice: true, last: Consolidated},
		{name: "timestamp drift", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			v := peerVersion(e.clock, nil, 1)
			v.GetKind().GetVersion().Timestamp += 11
			_ = p.send(v)
		}, reason: ReasonTimestamp, ice: true},
		{name: "beacon old ices", typ: Outbound, setup: func(e *fakeEnv) { e.chain.beacon, e.chain.epoch = ourBeacon, 31 },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				p.expect(protocol.KindVersion)
				_ = p.send(protocol.NewVerack(protocol.Magic))
				_ = p.send(peerVersion(e.clock, oldPeer, 1))
			}, reason: ReasonBeacon, ice: true},
		{name: "beacon old at superblock epoch does not ice", typ: Outbound, setup: func(e *fakeEnv) { e.chain.beacon, e.chain.epoch = ourBeacon, 30 },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				p.expect(protocol.KindVersion)
				_ = p.send(peerVersion(e.clock, oldPeer, 1))
			}, reason: ReasonBeaconSuperblockEpoch, ice: false},
		{name: "feeler beacon from the future ices", typ: Feeler, setup: func(e *fakeEnv) { e.chain.beacon, e.chain.epoch = ourBeacon, 30 },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				p.expect(protocol.KindVersion)
				_ = p.send(peerVersion(e.clock, protocol.NewLastBeaconPB(protocol.NewCheckpointBeacon(31, protocol.Hash{}), nil), 1))
			}, reason: ReasonBeacon, ice: true},
		{name: "timeout outbound ices", typ: Outbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			p.expect(protocol.KindVersion)
			e.clock.Advance(DefaultHandshakeTimeout - time.Millisecond)
			p.expectNothing()
			// The handshake timer, and the stall timer armed by the Version's write, which
			// lapses only WriteTimeout after it.
			require.Equal(t, 2, e.clock.Pending(), "handshake timer still armed")
			e.clock.Advance(time.Millisecond)
		}, reason: ReasonHandshakeTimeout, ice: true},
		{name: "timeout inbound does not ice", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			e.clock.Advance(DefaultHandshakeTimeout)
		}, reason: ReasonHandshakeTimeout},
		{name: "timeout feeler does not ice", typ: Feeler, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			p.expect(protocol.KindVersion)
			e.clock.Advance(DefaultHandshakeTimeout)
		}, reason: ReasonHandshakeTimeout},
		{name: "configured timeout", typ: Inbound, setup: func(e *fakeEnv) { e.cfg.HandshakeTimeout = time.Minute },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				e.clock.Advance(DefaultHandshakeTimeout)
				p.expectNothing()
				e.clock.Advance(time.Minute)
			}, reason: ReasonHandshakeTimeout},
		{name: "self nonce does not ice", typ: Inbound, setup: func(e *fakeEnv) { e.cfg.Nonces.Add(99) },
			drive:  func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) { _ = p.send(peerVersion(e.clock, nil, 99)) },
			reason: ReasonSelfConnection},
		{name: "consolidate refused ices", typ: Outbound, setup: func(e *fakeEnv) { e.reg.consolidateErr = ErrMaxPeersReached },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				p.expect(protocol.KindVersion)
				_ = p.send(protocol.NewVerack(protocol.Magic))
				_ = p.send(peerVersion(e.clock, nil, 1))
			}, reason: ReasonConsolidateRefused, ice: true},
		{name: "unsolicited peers ices", typ: Outbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			consolidateOutbound(t, p, e.clock, s)
			_ = p.send(protocol.NewPeers(protocol.Magic, nil))
		}, reason: ReasonUnsolicitedPeers, ice: true, last: Consolidated},
		{name: "second peers after one getpeers ices", typ: Outbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			consolidateOutbound(t, p, e.clock, s)
			require.NoError(t, s.GetPeers())
			p.expect(protocol.KindGetPeers)
			require.NoError(t, p.send(protocol.NewPeers(protocol.Magic, nil)))
			_ = p.send(protocol.NewPeers(protocol.Magic, nil))
		}, reason: ReasonUnsolicitedPeers, ice: true, last: Consolidated},
		{name: "unencodable reply ends without ice", typ: Inbound, setup: func(e *fakeEnv) { e.inv.hold(protocol.SuperBlockEntry(1), nil) },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				consolidateInbound(t, p, e.clock, s)
				req, err := protocol.NewInventoryRequest(protocol.Magic, []*pb.InventoryEntry{protocol.SuperBlockEntry(1)})
				require.NoError(t, err)
				_ = p.send(req)
			}, reason: ReasonEncode, last: Consolidated},
		{name: "undecodable payload ices", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			_ = p.sendRaw([]byte{0x08, 0xcc, 0x53, 0x12, 0x05, 0x0a}) // truncated command
		}, reason: ReasonDecode, ice: true},
		{name: "empty payload ices", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			_ = p.sendRaw(nil)
		}, reason: ReasonDecode, ice: true},
		{name: "frame too large ices", typ: Inbound, setup: func(e *fakeEnv) { e.cfg.MaxFrameSize = 100 },
			drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
				_, _ = p.conn.Write([]byte{0, 0, 1, 0})
			}, reason: ReasonDecode, ice: true},
		{name: "truncated frame is a connection error", typ: Inbound, drive: func(t *testing.T, s *Session, p *pipePeer, e *fakeEnv) {
			_, _ = p.conn.Write([]byte{0, 0, 0, 9, 1})
			p.conn.Close()
		}, reason: ReasonConnection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(NewFakeClock(t0))
				if tc.setup != nil {
					tc.setup(e)
				}
				s, p := pipeSession(t, tc.typ, e)
				tc.drive(t, s, p, e)
				waitDone(t, s)
				require.Equal(t, tc.reason, ReasonOf(s.Err()), "err: %v", s.Err())
				require.Equal(t, tc.reason.Ices(tc.typ), tc.ice, "Reason.Ices agrees with the rule")
				if tc.ice {
					require.Equal(t, 1, e.book.icedCount())
				} else {
					require.Zero(t, e.book.icedCount())
				}
				if tc.typ == Feeler {
					_, _, unreg := e.reg.snapshot()
					require.Empty(t, unreg)
				} else {
					requireUnregisteredOnce(t, e.reg, tc.typ, tc.last)
				}
			})
		})
	}
}

func TestRepeatedHandshakeMessagesTolerated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		s, p := pipeSession(t, Inbound, e)
		require.NoError(t, p.send(peerVersion(e.clock, nil, 42)))
		require.NoError(t, p.send(peerVersion(e.clock, nil, 43))) // repeated Version: logged
		p.expect(protocol.KindVerack)
		p.expect(protocol.KindVersion)
		require.NoError(t, p.send(protocol.NewVerack(protocol.Magic)))
		requireSettled(t, func() bool { return s.Status() == Consolidated }, "consolidation")
		require.Equal(t, uint64(42), s.RemoteVersion().GetNonce(), "the first Version is kept")
		require.NoError(t, p.send(protocol.NewVerack(protocol.Magic))) // after consolidation: counted
		require.NoError(t, p.send(protocol.NewGetPeers(protocol.Magic)))
		p.expect(protocol.KindPeers)
		p.expectNothing()
		st := s.Stats()
		require.Equal(t, uint64(2), st.MessagesIn[protocol.KindVersion])
		require.Equal(t, uint64(2), st.MessagesIn[protocol.KindVerack])
		require.Equal(t, uint64(1), st.Unexpected[protocol.KindVerack])
		require.Zero(t, st.Unexpected[protocol.KindVersion], "a repeat during the handshake is not 'unexpected'")
	})
}

func TestWrongStateKindsCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(NewFakeClock(t0))
		s, p := pipeSession(t, Inbound, e)
		// Before the handshake: consolidated-only kinds are ignored and counted.
		for _, k := range []protocol.Kind{protocol.KindGetPeers, protocol.KindPeers, protocol.KindBlock, protocol.KindLastBeacon, protocol.KindGetPeers} {
			require.NoError(t, p.send(msgOf(k, t0)))
		}
		consolidateInbound(t, p, e.clock, s)
		st := s.Stats()
		require.Equal(t, uint64(2), st.Unexpected[protocol.KindGetPeers])
		require.Equal(t, uint64(1), st.Unexpected[protocol.KindPeers], "an early Peers is ignored, not unsolicited")
		require.Equal(t, uint64(1), st.Unexpected[protocol.KindBlock])
		require.Equal(t, uint64(1), st.Unexpected[protocol.KindLastBeacon])
		require.Empty(t, e.inv.receivedKinds(), "nothing delivered before consolidation")
		require.Zero(t, e.book.icedCount())
	})
}

func TestReasons(t *testing.T) {
	ices := map[Reason]bool{
		ReasonDecode: true, ReasonBadMagic: true, ReasonTimestamp: true, ReasonBeacon: true,
		ReasonConsolidateRefused: true, ReasonUnsolicitedPeers: true, ReasonMisbehaviour: true,
	}
	for r := ReasonNone; r < numReasons; r++ {
		for _, typ := range []Type{Inbound, Outbound, Feeler} {
			want := ices[r] || (r == ReasonHandshakeTimeout && typ == Outbound)
			require.Equal(t, want, r.Ices(typ), "%s/%s", r, typ)
		}
		require.NotEmpty(t, r.String())
		require.Contains(t, r.Error(), r.String())
	}
	require.Equal(t, "reason(200)", Reason(200).String())

	cause := errors.New("boom")
	err := withCause(ReasonConnection, cause)
	require.ErrorIs(t, err, ReasonConnection)
	require.ErrorIs(t, err, cause)
	require.NotErrorIs(t, err, ReasonDecode)
	require.Equal(t, ReasonConnection, ReasonOf(err))
	require.Equal(t, ReasonNone, ReasonOf(nil))
	require.Equal(t, ReasonLocalClose, ReasonOf(cause))
	require.Equal(t, ReasonSlowPeer, ReasonOf(ReasonSlowPeer))
}

func TestBlocksBatchLimit(t *testing.T) {
	tests := []struct {
		limit  int
		period uint32
		want   int
	}{
		{500, 10, 500}, {5, 10, 20}, {20, 10, 20}, {21, 10, 21}, {-1, 10, 0}, {1, 0, 1},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, blocksBatchLimit(tc.limit, tc.period), "%+v", tc)
	}
}

// TestHandshakeOverPipeBothOrders consolidates pairs where the inbound side's Version
// races with nothing (it only answers) and where both sides are slow readers.
func TestHandshakeOverPipeManyPairs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		clock := NewFakeClock(t0)
		for i := range 20 {
			a, b := newEnv(clock), newEnv(clock)
			c1, c2 := net.Pipe()
			out := startSession(t, c1, testPeer(t, i), Outbound, a.cfg)
			in := startSession(t, c2, testPeer(t, i+1), Inbound, b.cfg)
			requireSettled(t, func() bool { return out.Status() == Consolidated && in.Status() == Consolidated }, "pair consolidated")
		}
	})
}
