package protocol

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Builders return Messages ready for Marshal: magic set, every singular sub-message non-nil
// (PROTOCOL.md section 2, rule 3), so the bytes are the ones witnet-rust writes. Builders that
// wrap a caller's payload (block, transaction, superblock, vote, beacon) complete it in place
// with Canonicalize and keep the pointer; the caller must not modify it afterwards.

// VersionParams are the per-session values of a Version message; the protocol constants
// (HandshakeVersion, Capabilities, UserAgent) are filled by NewVersion.
type VersionParams struct {
	// Magic is the network magic (Magic for every Witnet network).
	Magic uint16
	// Timestamp is the sender's clock in UNIX seconds.
	Timestamp int64
	// Sender is our public Address.address bytes; nil sends 0.0.0.0:0, as witnet-rust does
	// without a public address.
	Sender []byte
	// Receiver is the remote peer's Address.address bytes as we see it; nil sends 0.0.0.0:0.
	Receiver []byte
	// Nonce is a random value (RandomNonce); witnet-rust does not check it.
	Nonce uint64
	// Beacon is our chain tip. It is copied. Nil sends a zero beacon (epoch 0, zero hashes).
	Beacon *pb.LastBeacon
}

// NewVersion builds a Version message.
func NewVersion(p VersionParams) *pb.Message {
	var beacon *pb.LastBeacon
	if p.Beacon == nil {
		beacon = NewLastBeaconPB(nil, nil)
	} else {
		beacon = proto.Clone(p.Beacon).(*pb.LastBeacon)
		Canonicalize(beacon)
	}
	return envelope(p.Magic, &pb.Message_Command{Kind: &pb.Message_Command_Version{Version: &pb.Version{
		Version:         HandshakeVersion,
		Timestamp:       p.Timestamp,
		Capabilities:    Capabilities,
		SenderAddress:   addressPB(p.Sender),
		ReceiverAddress: addressPB(p.Receiver),
		UserAgent:       UserAgent(),
		Nonce:           p.Nonce,
		Beacon:          beacon,
	}}})
}

// addressPB wraps Address.address bytes; nil or empty means 0.0.0.0:0.
func addressPB(b []byte) *pb.Address {
	if len(b) == 0 {
		b = make([]byte, LegacyIPv4Len)
	}
	return &pb.Address{Address: b}
}

// NewVerack builds a Verack message (command bytes 12 00).
func NewVerack(magic uint16) *pb.Message {
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_Verack{Verack: &pb.Verack{}}})
}

// NewGetPeers builds a GetPeers message.
func NewGetPeers(magic uint16) *pb.Message {
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_GetPeers{GetPeers: &pb.GetPeers{}}})
}

// NewPeers builds a Peers message from Address.address values (LegacyAddress or
// MultiaddrAddress output), in order. An empty list is valid (witnet-rust answers GetPeers
// with its tried bucket, possibly empty). Lists longer than MaxPeersPerMessage are refused
// by the receiver's Unmarshal; the caller keeps within it.
func NewPeers(magic uint16, addrs [][]byte) *pb.Message {
	peers := make([]*pb.Address, len(addrs))
	for i, a := range addrs {
		peers[i] = &pb.Address{Address: a}
	}
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_Peers_{Peers_: &pb.Peers{Peers: peers}}})
}

// NewInventoryAnnouncement builds an InventoryAnnouncement. It returns ErrEmptyInventory for
// an empty list, ErrTooManyEntries above MaxInventoryEntries and ErrInvalidEntry for a nil
// entry or one without a kind.
func NewInventoryAnnouncement(magic uint16, entries []*pb.InventoryEntry) (*pb.Message, error) {
	if err := checkEntries(entries); err != nil {
		return nil, err
	}
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_InventoryAnnouncement{
		InventoryAnnouncement: &pb.InventoryAnnouncement{Inventory: entries},
	}}), nil
}

// NewInventoryRequest builds an InventoryRequest, with the same checks as
// NewInventoryAnnouncement.
func NewInventoryRequest(magic uint16, entries []*pb.InventoryEntry) (*pb.Message, error) {
	if err := checkEntries(entries); err != nil {
		return nil, err
	}
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_InventoryRequest{
		InventoryRequest: &pb.InventoryRequest{Inventory: entries},
	}}), nil
}

func checkEntries(entries []*pb.InventoryEntry) error {
	if len(entries) == 0 {
		return ErrEmptyInventory
	}
	if len(entries) > MaxInventoryEntries {
		return fmt.Errorf("%w: %d > %d", ErrTooManyEntries, len(entries), MaxInventoryEntries)
	}
	for i, e := range entries {
		if e.GetKind() == nil {
			return fmt.Errorf("%w: entry %d has no kind", ErrInvalidEntry, i)
		}
	}
	return nil
}

// NewBlock builds a Block message. b is completed in place (Canonicalize); nil sends an
// empty block, which no peer accepts.
func NewBlock(magic uint16, b *pb.Block) *pb.Message {
	if b == nil {
		b = &pb.Block{}
	}
	Canonicalize(b)
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_Block{Block: b}})
}

// NewTransaction builds a Transaction message. tx is completed in place (Canonicalize).
func NewTransaction(magic uint16, tx *pb.Transaction) *pb.Message {
	if tx == nil {
		tx = &pb.Transaction{}
	}
	Canonicalize(tx)
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_Transaction{Transaction: tx}})
}

// NewSuperBlock builds a SuperBlock message. sb is completed in place (Canonicalize).
func NewSuperBlock(magic uint16, sb *pb.SuperBlock) *pb.Message {
	if sb == nil {
		sb = &pb.SuperBlock{}
	}
	Canonicalize(sb)
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_SuperBlock{SuperBlock: sb}})
}

// NewSuperBlockVote builds a SuperBlockVote message. v is completed in place (Canonicalize).
func NewSuperBlockVote(magic uint16, v *pb.SuperBlockVote) *pb.Message {
	if v == nil {
		v = &pb.SuperBlockVote{}
	}
	Canonicalize(v)
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_SuperBlockVote{SuperBlockVote: v}})
}

// NewLastBeacon builds a LastBeacon message. lb is completed in place (Canonicalize); nil
// sends a zero beacon.
func NewLastBeacon(magic uint16, lb *pb.LastBeacon) *pb.Message {
	if lb == nil {
		lb = NewLastBeaconPB(nil, nil)
	}
	Canonicalize(lb)
	return envelope(magic, &pb.Message_Command{Kind: &pb.Message_Command_LastBeacon{LastBeacon: lb}})
}

func envelope(magic uint16, cmd *pb.Message_Command) *pb.Message {
	return &pb.Message{Magic: uint32(magic), Kind: cmd}
}

// BlockEntry is the inventory entry of a block, by block hash.
func BlockEntry(h Hash) *pb.InventoryEntry {
	return &pb.InventoryEntry{Kind: &pb.InventoryEntry_Block{Block: NewHashPB(h)}}
}

// TxEntry is the inventory entry of a transaction, by transaction hash.
func TxEntry(h Hash) *pb.InventoryEntry {
	return &pb.InventoryEntry{Kind: &pb.InventoryEntry_Tx{Tx: NewHashPB(h)}}
}

// SuperBlockEntry is the inventory entry of a superblock, by superblock index (index 0 is
// written as 18 00: a set oneof member is always written).
func SuperBlockEntry(index uint32) *pb.InventoryEntry {
	return &pb.InventoryEntry{Kind: &pb.InventoryEntry_SuperBlock{SuperBlock: index}}
}

// NewHashPB returns the protobuf Hash holding a copy of h.
func NewHashPB(h Hash) *pb.Hash {
	b := make([]byte, HashSize)
	copy(b, h[:])
	return &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: b}}
}

// NewCheckpointBeacon returns a beacon for checkpoint (an epoch or a superblock index) and
// hash (the block or superblock hash).
func NewCheckpointBeacon(checkpoint uint32, h Hash) *pb.CheckpointBeacon {
	return &pb.CheckpointBeacon{Checkpoint: checkpoint, HashPrevBlock: NewHashPB(h)}
}

// NewLastBeaconPB returns a LastBeacon from our highest block beacon and highest superblock
// beacon; a nil argument stands for checkpoint 0 with a zero hash.
func NewLastBeaconPB(block, superblock *pb.CheckpointBeacon) *pb.LastBeacon {
	if block == nil {
		block = NewCheckpointBeacon(0, Hash{})
	}
	if superblock == nil {
		superblock = NewCheckpointBeacon(0, Hash{})
	}
	return &pb.LastBeacon{HighestBlockCheckpoint: block, HighestSuperblockCheckpoint: superblock}
}

// RandomNonce returns a uniformly random uint64 from crypto/rand, for Version.nonce.
func RandomNonce() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return binary.LittleEndian.Uint64(b[:])
}
