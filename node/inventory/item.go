package inventory

import (
	"fmt"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Item is one inventory item: the protobuf encoding of a Block, Transaction, SuperBlock or
// SuperBlockVote message (the inner message, not the Message envelope) together with the
// key witnet-rust gives it.
type Item struct {
	// Kind is protocol.KindBlock, KindTransaction, KindSuperBlock or KindSuperBlockVote.
	Kind protocol.Kind
	// Hash is the item's witnet-rust hash (PROTOCOL.md section 11); the store's key.
	Hash protocol.Hash
	// Epoch is the block's epoch (beacon checkpoint) for a block, the superblock index for a
	// superblock or a superblock vote, and 0 for a transaction.
	Epoch uint32
	// Raw is the protobuf encoding of the item.
	Raw []byte
}

// IsItemKind reports whether k is one of the four inventory kinds.
func IsItemKind(k protocol.Kind) bool {
	switch k {
	case protocol.KindBlock, protocol.KindTransaction, protocol.KindSuperBlock, protocol.KindSuperBlockVote:
		return true
	}
	return false
}

// itemKinds lists the inventory kinds in a fixed order (metrics, counters).
var itemKinds = [...]protocol.Kind{
	protocol.KindBlock, protocol.KindTransaction, protocol.KindSuperBlock, protocol.KindSuperBlockVote,
}

// Kind labels used by the JSON-RPC API, the CLI and metrics.
const (
	LabelBlock          = "block"
	LabelTransaction    = "transaction"
	LabelSuperBlock     = "superblock"
	LabelSuperBlockVote = "superblockVote"
)

// kindLabel names an inventory kind as the JSON-RPC API does ("transaction", ...).
func kindLabel(k protocol.Kind) string {
	switch k {
	case protocol.KindBlock:
		return LabelBlock
	case protocol.KindTransaction:
		return LabelTransaction
	case protocol.KindSuperBlock:
		return LabelSuperBlock
	case protocol.KindSuperBlockVote:
		return LabelSuperBlockVote
	}
	return k.String()
}

// KindLabel returns the API label of an inventory kind ("block", "transaction",
// "superblock", "superblockVote"), or the command name for any other kind.
func KindLabel(k protocol.Kind) string { return kindLabel(k) }

// ParseKind maps an API label ("block", "transaction", "superblock", "superblockVote"; the
// protocol command names "Block", "Transaction", "SuperBlock" and "SuperBlockVote" are
// accepted too) to its kind.
func ParseKind(s string) (protocol.Kind, error) {
	for _, k := range itemKinds {
		if s == kindLabel(k) || s == k.String() {
			return k, nil
		}
	}
	return protocol.KindNone, fmt.Errorf("inventory: unknown item kind %q (want block, transaction, superblock or superblockVote)", s)
}

// entryKey identifies an item as inventory entries do: blocks and transactions by hash,
// superblocks by index; votes by hash (they have no entry).
type entryKey struct {
	superblock bool
	index      uint32
	hash       protocol.Hash
}

func keyOfItem(it Item) entryKey {
	if it.Kind == protocol.KindSuperBlock {
		return entryKey{superblock: true, index: it.Epoch}
	}
	return entryKey{hash: it.Hash}
}

// keyOfEntry returns the key an entry names; ok is false for an entry without a kind or
// with a malformed hash.
func keyOfEntry(e *pb.InventoryEntry) (k entryKey, kind protocol.Kind, ok bool) {
	switch v := e.GetKind().(type) {
	case *pb.InventoryEntry_Block:
		h, err := protocol.HashFromBytes(v.Block.GetSHA256())
		return entryKey{hash: h}, protocol.KindBlock, err == nil
	case *pb.InventoryEntry_Tx:
		h, err := protocol.HashFromBytes(v.Tx.GetSHA256())
		return entryKey{hash: h}, protocol.KindTransaction, err == nil
	case *pb.InventoryEntry_SuperBlock:
		return entryKey{superblock: true, index: v.SuperBlock}, protocol.KindSuperBlock, true
	}
	return entryKey{}, protocol.KindNone, false
}
