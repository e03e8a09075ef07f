package inventory

import (
	"crypto/sha256"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Default item size limits (protobuf bytes of the item, without the envelope), from
// witnet-rust's consensus constants. Weights are about bytes (WIP-0007 sized them so): a
// block carries at most 20,000 of value transfers, 80,000 of data requests (which already
// count the commits, reveals and tally they will cause), 20,000 of stakes and 5,000 of
// unstakes; add the commits of data requests retried for up to four rounds and their
// reveals and tallies, and a maximal block stays under about 600 KB
// (TestMaximalItemsUnderLimits builds one).
const (
	// DefaultMaxTransactionSize bounds a transaction: a data request of the largest
	// weight (80,000) encodes to about 85 KB, a value transfer (20,000) to about 25 KB;
	// commits and reveals, which are gossiped too and have no weight of their own, are
	// left three times that.
	DefaultMaxTransactionSize = 256 << 10
	// DefaultMaxBlockSize bounds a block: over three times the largest block the weight
	// limits allow (see above), well below codec.DefaultMaxFrameSize so that a stored
	// block can always be sent.
	DefaultMaxBlockSize = 2 << 20
	// DefaultMaxSuperBlockSize bounds a superblock: five hashes and two integers, about
	// 200 bytes.
	DefaultMaxSuperBlockSize = 1 << 10
	// DefaultMaxVoteSize bounds a superblock vote: a BN256 signature, a secp256k1 keyed
	// signature, a hash and an index, about 250 bytes.
	DefaultMaxVoteSize = 1 << 10
)

// Decoder turns item bytes or received messages into Items: it decodes and validates
// them as protocol.Unmarshal does, computes their witnet-rust hash and re-encodes them in
// canonical form, refusing anything too large for its kind. The zero value uses the
// defaults and hashes every block as V1.7 (no activations).
type Decoder struct {
	// Activations are the protocol version activation epochs used to hash blocks.
	Activations protocol.VersionActivations
	// MaxTransactionSize bounds a transaction; 0 means DefaultMaxTransactionSize.
	MaxTransactionSize int
	// MaxBlockSize bounds a block; 0 means DefaultMaxBlockSize.
	MaxBlockSize int
	// MaxSuperBlockSize bounds a superblock; 0 means DefaultMaxSuperBlockSize.
	MaxSuperBlockSize int
	// MaxVoteSize bounds a superblock vote; 0 means DefaultMaxVoteSize.
	MaxVoteSize int
}

// Limit returns the size bound of items of kind k (0 for a kind that is not an item).
func (d Decoder) Limit(k protocol.Kind) int { return d.limit(k) }

func (d Decoder) limit(k protocol.Kind) int {
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	switch k {
	case protocol.KindTransaction:
		return pick(d.MaxTransactionSize, DefaultMaxTransactionSize)
	case protocol.KindBlock:
		return pick(d.MaxBlockSize, DefaultMaxBlockSize)
	case protocol.KindSuperBlock:
		return pick(d.MaxSuperBlockSize, DefaultMaxSuperBlockSize)
	case protocol.KindSuperBlockVote:
		return pick(d.MaxVoteSize, DefaultMaxVoteSize)
	}
	return 0
}

// Decode decodes raw, the protobuf encoding of an item of kind k (a Block, Transaction,
// SuperBlock or SuperBlockVote message), and returns the item with its hash and canonical
// encoding, together with the command that carries it. A V1.7 block without stake roots
// gets the legacy fallback of protocol.Unmarshal. Errors are *ItemError.
func (d Decoder) Decode(k protocol.Kind, raw []byte) (Item, *pb.Message_Command, error) {
	if !IsItemKind(k) {
		return Item{}, nil, &ItemError{Kind: k, Reason: ReasonWrongKind}
	}
	if len(raw) == 0 {
		return Item{}, nil, &ItemError{Kind: k, Reason: ReasonEmpty}
	}
	if max := d.limit(k); len(raw) > max {
		return Item{}, nil, &ItemError{Kind: k, Reason: ReasonOversized, Err: fmt.Errorf("%d bytes > %d", len(raw), max)}
	}
	// Wrap raw as the command of a Message, so decoding, validation and the legacy
	// fallback are exactly those applied to a message from a peer.
	cmd := protowire.AppendTag(nil, protowire.Number(k), protowire.BytesType)
	cmd = protowire.AppendBytes(cmd, raw)
	env := protowire.AppendTag(nil, 1, protowire.VarintType)
	env = protowire.AppendVarint(env, uint64(protocol.Magic))
	env = protowire.AppendTag(env, 2, protowire.BytesType)
	env = protowire.AppendBytes(env, cmd)
	m, err := protocol.Unmarshal(env)
	if err != nil {
		return Item{}, nil, &ItemError{Kind: k, Reason: ReasonUndecodable, Err: err}
	}
	it, err := d.FromMessage(m)
	if err != nil {
		return Item{}, nil, err
	}
	return it, m.GetKind(), nil
}

// FromMessage returns the item carried by m, a decoded Block, Transaction, SuperBlock or
// SuperBlockVote message. Errors are *ItemError.
func (d Decoder) FromMessage(m *pb.Message) (Item, error) {
	it, _, err := d.identify(m)
	if err != nil || it.Raw != nil {
		return it, err
	}
	if it.Raw, err = d.canonical(it.Kind, m.GetKind()); err != nil {
		return Item{}, err
	}
	return it, nil
}

// identify is FromMessage without the canonical encoding of blocks, transactions and
// superblocks (Raw is left nil; canonical computes it): the relay needs only the key, and
// encoding is about half the decoding work, which the engine's writer does later, off
// the relay path. It also returns the item's size (its protobuf size, the canonical
// encoding's for a vote), checked against the kind's limit before anything is hashed; a
// refused item's size is returned too when it is known. A vote's Raw is set: its hash is
// that of its encoding.
func (d Decoder) identify(m *pb.Message) (Item, int, error) {
	k := protocol.KindOf(m)
	it := Item{Kind: k}
	var inner proto.Message
	switch c := m.GetKind().GetKind().(type) {
	case *pb.Message_Command_Block:
		inner = c.Block
	case *pb.Message_Command_Transaction:
		inner = c.Transaction
	case *pb.Message_Command_SuperBlock:
		inner = c.SuperBlock
	case *pb.Message_Command_SuperBlockVote:
		// No InventoryEntry names a vote and witnet-rust keys none: a vote is identified
		// by the SHA-256 of its canonical encoding, so only an identical vote is a duplicate.
		it.Epoch = c.SuperBlockVote.GetSuperblockIndex()
		size := proto.Size(c.SuperBlockVote)
		if max := d.limit(k); size > max { // refused before it is encoded
			return Item{}, size, &ItemError{Kind: k, Reason: ReasonOversized, Err: fmt.Errorf("%d bytes > %d", size, max)}
		}
		raw, err := d.canonical(k, m.GetKind())
		if err != nil {
			return Item{}, size, err
		}
		it.Raw = raw
		it.Hash = sha256.Sum256(it.Raw)
		return it, len(raw), nil
	default:
		return Item{}, 0, &ItemError{Kind: k, Reason: ReasonWrongKind}
	}
	size := proto.Size(inner)
	if max := d.limit(k); size > max {
		return Item{}, size, &ItemError{Kind: k, Reason: ReasonOversized, Err: fmt.Errorf("%d bytes > %d", size, max)}
	}
	var err error
	switch c := inner.(type) {
	case *pb.Block:
		it.Hash, err = protocol.BlockHashAt(c, d.Activations)
		it.Epoch = c.GetBlockHeader().GetBeacon().GetCheckpoint()
	case *pb.Transaction:
		it.Hash, err = protocol.TransactionHash(c)
	case *pb.SuperBlock:
		it.Hash, err = protocol.SuperBlockHash(c)
		it.Epoch = c.GetIndex()
	}
	if err != nil {
		return Item{}, size, &ItemError{Kind: k, Reason: ReasonUndecodable, Err: err}
	}
	return it, size, nil
}

// canonical returns the canonical encoding of the item of kind k that cmd carries,
// bounded by the kind's size limit. Errors are *ItemError.
func (d Decoder) canonical(k protocol.Kind, cmd *pb.Message_Command) ([]byte, error) {
	var inner proto.Message
	switch c := cmd.GetKind().(type) {
	case *pb.Message_Command_Block:
		inner = c.Block
	case *pb.Message_Command_Transaction:
		inner = c.Transaction
	case *pb.Message_Command_SuperBlock:
		inner = c.SuperBlock
	case *pb.Message_Command_SuperBlockVote:
		inner = c.SuperBlockVote
	default:
		return nil, &ItemError{Kind: k, Reason: ReasonWrongKind}
	}
	raw, err := protocol.CanonicalBytes(inner)
	if err != nil {
		return nil, &ItemError{Kind: k, Reason: ReasonUndecodable, Err: err}
	}
	if max := d.limit(k); len(raw) > max {
		return nil, &ItemError{Kind: k, Reason: ReasonOversized, Err: fmt.Errorf("%d bytes > %d", len(raw), max)}
	}
	return raw, nil
}

// Command decodes a stored item back into the command that carries it. Stored bytes were
// validated when the item was accepted, so only protobuf parsing is repeated.
func (it Item) Command() (*pb.Message_Command, error) {
	var (
		cmd = new(pb.Message_Command)
		msg proto.Message
	)
	switch it.Kind {
	case protocol.KindBlock:
		b := new(pb.Block)
		cmd.Kind, msg = &pb.Message_Command_Block{Block: b}, b
	case protocol.KindTransaction:
		tx := new(pb.Transaction)
		cmd.Kind, msg = &pb.Message_Command_Transaction{Transaction: tx}, tx
	case protocol.KindSuperBlock:
		sb := new(pb.SuperBlock)
		cmd.Kind, msg = &pb.Message_Command_SuperBlock{SuperBlock: sb}, sb
	case protocol.KindSuperBlockVote:
		v := new(pb.SuperBlockVote)
		cmd.Kind, msg = &pb.Message_Command_SuperBlockVote{SuperBlockVote: v}, v
	default:
		return nil, &ItemError{Kind: it.Kind, Reason: ReasonWrongKind}
	}
	if err := proto.Unmarshal(it.Raw, msg); err != nil {
		return nil, &ItemError{Kind: it.Kind, Reason: ReasonUndecodable, Err: err}
	}
	return cmd, nil
}

// Entry returns the inventory entry that names it, or nil for a superblock vote (no
// InventoryEntry member names votes).
func (it Item) Entry() *pb.InventoryEntry {
	switch it.Kind {
	case protocol.KindBlock:
		return protocol.BlockEntry(it.Hash)
	case protocol.KindTransaction:
		return protocol.TxEntry(it.Hash)
	case protocol.KindSuperBlock:
		return protocol.SuperBlockEntry(it.Epoch)
	}
	return nil
}
