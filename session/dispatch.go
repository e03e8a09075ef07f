package session

import (
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// handleFrame decodes one payload, received at now, runs the state machine on it and
// performs the resulting effects. A non-nil error ends the session. It runs on the
// reader, and keeps nothing of payload (the reader reuses its memory): protocol.Unmarshal
// copies what it decodes.
func (s *Session) handleFrame(payload []byte, now time.Time) error {
	if o := s.police.charge(now, len(payload)); o != OffenceNone {
		if err := s.offend(now, o); err != nil {
			s.stats.in(protocol.KindNone, len(payload)) // not decoded
			return err
		}
	}
	msg, err := protocol.Unmarshal(payload)
	if err != nil {
		s.stats.in(protocol.KindNone, len(payload))
		return withCause(ReasonDecode, err)
	}
	k := protocol.KindOf(msg)
	s.stats.in(k, len(payload))
	if s.peer.Transport == TransportTCP {
		if err := checkTCPAddresses(msg); err != nil {
			return withCause(ReasonDecode, err)
		}
	}
	effs, err := s.m.handle(msg, k, now, &s.rules)
	if err != nil {
		return err
	}
	for _, e := range effs.slice() {
		if err := s.perform(e, msg, k, now); err != nil {
			return err
		}
	}
	return nil
}

// perform carries out one effect of the state machine for msg of kind k, received at now.
func (s *Session) perform(e effect, msg *pb.Message, k protocol.Kind, now time.Time) error {
	switch e {
	case effSendVerack:
		return s.reply(protocol.NewVerack(s.cfg.Magic))
	case effSendVersion:
		return s.sendVersion()
	case effConsolidate:
		s.handshakeDone(now)
		return s.consolidate()
	case effRepeated:
		s.log.Debugw("repeated handshake message ignored", "kind", k)
		return s.offend(now, OffenceUnexpected)
	case effUnexpected:
		s.stats.unexpected[k].Add(1)
		s.log.Debugw("message not allowed in this state ignored", "kind", k, "status", s.m.status)
		return s.offend(now, OffenceUnexpected)
	case effReplyPeers:
		if !s.police.getPeers.Take(now, 1) {
			s.stats.getPeersIgnored.Add(1)
			s.log.Debugw("GetPeers ignored: asked again too soon", "interval", s.cfg.GetPeersInterval)
			return nil
		}
		addrs := s.cfg.AddressBook.PeersForGetPeers(s.peer)
		if s.peer.Transport == TransportTCP {
			addrs = legacyOnly(addrs) // in case the book did not: witnet-rust decodes nothing else
		}
		if len(addrs) > protocol.MaxPeersPerMessage {
			addrs = addrs[:protocol.MaxPeersPerMessage]
		}
		return s.reply(protocol.NewPeers(s.cfg.Magic, addrs))
	case effAcceptPeers:
		list := msg.GetKind().GetPeers_().GetPeers()
		addrs := make([][]byte, 0, len(list))
		for _, a := range list {
			if b := a.GetAddress(); len(b) > 0 {
				addrs = append(addrs, b)
			}
		}
		if len(addrs) > 0 {
			s.cfg.AddressBook.AddPeers(s.peer, addrs)
		}
	case effAnswerAnnouncement:
		return s.answerAnnouncement(msg.GetKind().GetInventoryAnnouncement(), now)
	case effServeRequest:
		return s.serveRequest(msg.GetKind().GetInventoryRequest())
	case effDeliver:
		// Relay first: it never waits for a batch.
		if o := s.cfg.Inventory.Received(s, msg); o != OffenceNone {
			if err := s.offend(now, o); err != nil {
				return err
			}
		}
		if k == protocol.KindBlock {
			s.blockArrived(msg.GetKind().GetBlock())
		}
	case effOutboundBeacon:
		s.cfg.Registry.OutboundBeacon(s, msg.GetKind().GetLastBeacon())
	case effInboundBeacon:
		s.cfg.Chain.InboundBeacon(s, msg.GetKind().GetLastBeacon())
	}
	return nil
}

// sendVersion queues our Version and records its nonce for self-connection detection.
func (s *Session) sendVersion() error {
	nonce := protocol.RandomNonce()
	s.m.nonce = nonce
	s.m.flags.versionTx = true
	s.cfg.Nonces.Add(nonce)
	sender := s.cfg.SenderAddress
	if s.cfg.SenderAddressFunc != nil {
		sender = s.cfg.SenderAddressFunc()
	}
	if s.peer.Transport == TransportTCP && !LegacyAddressLen(sender) {
		sender = nil // 0.0.0.0:0: a witnet-rust peer cannot decode a multiaddr
	}
	s.usage.versionSent = s.cfg.Clock.Now()
	return s.reply(protocol.NewVersion(protocol.VersionParams{
		Magic:     s.cfg.Magic,
		Timestamp: s.usage.versionSent.Unix(),
		Sender:    sender,
		Receiver:  s.peer.receiverAddress(),
		Nonce:     nonce,
		Beacon:    s.cfg.Chain.LastBeacon(),
	}))
}

// consolidate runs when the four handshake flags are set (PROTOCOL.md 7.2). A Feeler reports
// the peer as good and ends; other sessions ask the manager, then record the peer: an
// Outbound one as good (tried bucket), an Inbound one by offering the address it announced
// to the new bucket.
func (s *Session) consolidate() error {
	s.remote.Store(s.m.remote)
	if s.typ == Feeler {
		s.cfg.AddressBook.Good(s.peer)
		return ReasonFeelerDone
	}
	// The status is Consolidated while the Registry decides, so that what it runs on
	// acceptance (the manager's OnConsolidated hook: a first GetPeers, the inventory's
	// first announcements) can use the seed API, which refuses unconsolidated sessions. A
	// refusal puts it back; the session ends then.
	s.status.Store(uint32(Consolidated))
	if err := s.cfg.Registry.Consolidate(s); err != nil {
		s.status.Store(uint32(Unconsolidated))
		return withCause(ReasonConsolidateRefused, err)
	}
	s.m.status = Consolidated
	if s.timer != nil { // set by Start before the reader began
		s.timer.Stop()
	}
	switch s.typ {
	case Outbound:
		s.cfg.AddressBook.Good(s.peer)
	case Inbound:
		if a := s.m.remote.GetSenderAddress().GetAddress(); len(a) > 0 {
			addSender(s.cfg.AddressBook, s.peer, a)
		}
	}
	s.log.Debugw("session consolidated", "agent", s.m.remote.GetUserAgent())
	return nil
}

// blockLimit returns how many block hashes of one announcement to request: 0 for no
// limit, else max(BlocksBatchLimit, 2 × SuperblockPeriod) (PROTOCOL.md 7.5).
func (s *Session) blockLimit() int {
	return blocksBatchLimit(s.cfg.BlocksBatchLimit, s.cfg.SuperblockPeriod)
}

func blocksBatchLimit(limit int, superblockPeriod uint32) int {
	if limit < 0 {
		return 0
	}
	if floor := 2 * int(superblockPeriod); limit < floor {
		return floor
	}
	return limit
}

// AnnouncedBy is implemented by an Inventory that gossips every kind by announcement and
// wants to know which session announced the entries (to ask that peer, fall back on other
// announcers, and never announce an item back to a peer that has it). Such an Inventory
// gets every entry of an announcement through MissingFrom; any other Inventory gets only
// the block entries through Missing, as in witnet-rust (PROTOCOL.md 7.5).
type AnnouncedBy interface {
	// MissingFrom returns the entries to request from the session, in announcement
	// order, with at most maxBlocks block entries (0: no limit), and records exactly
	// those as requested: an entry it does not return must not be owed by the peer. An
	// Offence other than OffenceNone is scored against the peer (the inventory bounds
	// what it tracks for one peer, OffenceAnnouncementOverflow).
	MissingFrom(from *Session, entries []*pb.InventoryEntry, maxBlocks int) ([]*pb.InventoryEntry, Offence)
}

// answerAnnouncement requests the entries of an announcement, received at now, that the
// inventory does not hold, in announcement order, with at most blockLimit block entries.
// Unless the inventory implements AnnouncedBy, transaction and superblock entries are
// ignored, as in witnet-rust (they are pushed, never pulled). The requested blocks become
// the session's block download (blocks.go), replacing any download in progress.
func (s *Session) answerAnnouncement(a *pb.InventoryAnnouncement, now time.Time) error {
	var missing []*pb.InventoryEntry
	limit := s.blockLimit()
	if inv, ok := s.cfg.Inventory.(AnnouncedBy); ok {
		if len(a.GetInventory()) > 0 {
			// The inventory applies the block limit itself, so that the blocks left out
			// are not recorded as requested (and later owed) either.
			var o Offence
			missing, o = inv.MissingFrom(s, a.GetInventory(), limit)
			if o != OffenceNone {
				if err := s.offend(now, o); err != nil {
					return err
				}
			}
		}
	} else {
		var blocks []*pb.InventoryEntry
		for _, e := range a.GetInventory() {
			if _, ok := e.GetKind().(*pb.InventoryEntry_Block); ok {
				blocks = append(blocks, e)
			}
		}
		if len(blocks) == 0 {
			return nil
		}
		missing = s.cfg.Inventory.Missing(blocks)
		if limit > 0 && len(missing) > limit {
			missing = missing[:limit]
		}
	}
	if len(missing) == 0 {
		return nil
	}
	req, err := protocol.NewInventoryRequest(s.cfg.Magic, missing)
	if err != nil { // only if the inventory returned entries that were not asked for
		s.log.Warnw("cannot build inventory request", "err", err)
		return nil
	}
	// The download starts before the request is queued, so that it is in progress by the
	// time the peer can answer (if the request is not sent the session is ending, and the
	// download is reported as aborted).
	s.startDownload(missing, s.cfg.Clock.Now())
	return s.reply(req)
}

// reply queues a message from the session's own goroutines (the reader, or Start). When
// the queue is full it waits for the writer rather than failing: replies are what the
// peer asked for, so a peer that does not read only stalls its own session, and only until
// the writer's stall timer (Config.WriteTimeout) ends it as a slow peer. An error
// ends the session: ErrClosed when it is already ending, else ReasonEncode with the
// cause (a message that does not encode, or an item larger than the frame limit).
func (s *Session) reply(m *pb.Message) error {
	switch err := s.enqueue(m, true); {
	case err == nil, errors.Is(err, ErrClosed):
		return err
	default:
		return withCause(ReasonEncode, err)
	}
}

// enqueue encodes m into the send queue; wait says whether to wait for room (see reply) or to
// end the session as a slow peer when the queue is full.
func (s *Session) enqueue(m *pb.Message, wait bool) error {
	select {
	case <-s.closing:
		return ErrClosed
	default:
	}
	switch err := s.queue.push(m, protocol.KindOf(m), s.cfg.MaxFrameSize, wait, s.closing); err {
	case nil:
		return nil
	case errQueueFull:
		s.shutdown(ReasonSlowPeer)
		return ReasonSlowPeer
	default:
		return err
	}
}

// Send queues m for the peer without blocking. It returns ErrClosed after the session
// ended, a protocol or codec error if m cannot be encoded within the frame limit, and
// ReasonSlowPeer, ending the session, if the send queue is full. Send does not check that
// the peer accepts m in the session's state; the typed methods below do.
func (s *Session) Send(m *pb.Message) error { return s.enqueue(m, false) }

// consolidated returns ErrClosed once the session is ending and ErrNotConsolidated
// before the handshake completed: the seed API refuses to send then, since the peer
// ignores those messages in that state.
func (s *Session) consolidated() error {
	select {
	case <-s.closing:
		return ErrClosed
	default:
	}
	if s.Status() != Consolidated {
		return ErrNotConsolidated
	}
	return nil
}

// sendConsolidated is Send for the seed API (see consolidated).
func (s *Session) sendConsolidated(m *pb.Message) error {
	if err := s.consolidated(); err != nil {
		return err
	}
	return s.Send(m)
}

// GetPeers asks the peer for addresses. The Peers reply is accepted only because this
// call raised the session's expected-Peers counter first.
func (s *Session) GetPeers() error {
	if err := s.consolidated(); err != nil {
		return err
	}
	s.m.expectPeers()
	return s.Send(protocol.NewGetPeers(s.cfg.Magic))
}

// AnnounceItems sends an InventoryAnnouncement of entries (block hashes, in sync answer
// order). It returns ErrEmptyInventory (protocol.ErrEmptyInventory) for an empty list,
// as protocol.NewInventoryAnnouncement does.
func (s *Session) AnnounceItems(entries []*pb.InventoryEntry) error {
	m, err := protocol.NewInventoryAnnouncement(s.cfg.Magic, entries)
	if err != nil {
		return err
	}
	return s.sendConsolidated(m)
}

// RequestBlock sends an InventoryRequest for one entry (normally a block entry).
func (s *Session) RequestBlock(e *pb.InventoryEntry) error {
	m, err := protocol.NewInventoryRequest(s.cfg.Magic, []*pb.InventoryEntry{e})
	if err != nil {
		return err
	}
	return s.sendConsolidated(m)
}

// SendInventoryItem pushes an item: m must carry a Block, Transaction, SuperBlock or
// SuperBlockVote command (ErrNotItem otherwise). m is only read, so one message may be
// given to many sessions; its magic is replaced by the session's on the wire.
func (s *Session) SendInventoryItem(m *pb.Message) error {
	switch protocol.KindOf(m) {
	case protocol.KindBlock, protocol.KindTransaction, protocol.KindSuperBlock, protocol.KindSuperBlockVote:
	default:
		return ErrNotItem
	}
	if m.GetMagic() != uint32(s.cfg.Magic) {
		m = &pb.Message{Magic: uint32(s.cfg.Magic), Kind: m.GetKind()}
	}
	return s.sendConsolidated(m)
}

// SendLastBeacon sends our chain tip. b is only read (the builder completes a copy), so
// one beacon may be given to many sessions at once.
func (s *Session) SendLastBeacon(b *pb.LastBeacon) error {
	if err := s.consolidated(); err != nil {
		return err
	}
	return s.Send(protocol.NewLastBeacon(s.cfg.Magic, cloneOrNil(b)))
}

// SendSuperBlockVote sends a superblock vote. v is only read (the builder completes a
// copy), so one vote may be given to many sessions at once.
func (s *Session) SendSuperBlockVote(v *pb.SuperBlockVote) error {
	if err := s.consolidated(); err != nil {
		return err
	}
	return s.Send(protocol.NewSuperBlockVote(s.cfg.Magic, cloneOrNil(v)))
}

// cloneOrNil deep-copies m, keeping nil as nil, for builders that complete their
// argument in place.
func cloneOrNil[M proto.Message](m M) M {
	var zero M
	if proto.Message(m) == proto.Message(zero) {
		return m
	}
	return proto.Clone(m).(M)
}
