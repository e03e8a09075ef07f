package protocol

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Inventory item hashes (PROTOCOL.md section 11). Every hash is SHA-256 over the canonical
// re-encoding of the decoded value, never over received bytes: a peer may omit empty
// sub-messages or add unknown fields and witnet-rust still hashes the canonical form.

// superBlockPreLen is the number of bytes hashed for a superblock.
const superBlockPreLen = 4 + HashSize + HashSize + 4 + HashSize + HashSize + HashSize

// ErrInvalidItem is matched by errors.Is for every *ItemError.
var ErrInvalidItem = errors.New("protocol: invalid item")

// ItemError reports an inventory item that cannot be hashed because witnet-rust could not
// represent it: a value that breaks one of the decode rules Validate applies (a missing or
// wrongly sized Hash, a PublicKeyHash that is not 20 bytes, a PublicKey that is not 33
// bytes, an unset oneof, a data request with more than 65535 witnesses, an undeclared
// RADType), or a value protobuf refuses to encode (a string that is not UTF-8).
type ItemError struct {
	// Item names what was being hashed, e.g. "block header" or "Commit transaction".
	Item string
	// Field is the protobuf path of the offending value inside the item, e.g.
	// "body.dr_pointer" or "outputs[2].pkh"; empty when the item itself is at fault.
	Field string
	// Reason says what is wrong with the value.
	Reason string
}

// Error implements error.
func (e *ItemError) Error() string {
	item := e.Item
	if item == "" {
		item = "item"
	}
	if e.Field == "" {
		return "protocol: invalid " + item + ": " + e.Reason
	}
	return "protocol: invalid " + item + ": " + e.Field + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalidItem) true.
func (e *ItemError) Unwrap() error { return ErrInvalidItem }

// BlockHash returns the inventory hash of b as a block of protocol version v: SHA-256 of
// its header, encoded as a LegacyBlock header with six merkle roots for V1_7 and as a
// Block header with all eight roots from V1_8 on. Only the header is hashed; the
// transactions and signature are committed through the merkle roots.
func BlockHash(b *pb.Block, v ProtocolVersion) (Hash, error) {
	if b == nil {
		return Hash{}, &ItemError{Item: "block", Reason: "no block"}
	}
	return BlockHeaderHash(b.GetBlockHeader(), v)
}

// BlockHashAt is BlockHash with the version in force at the block's own epoch
// (block_header.beacon.checkpoint) under act. This is the hash witnet-rust stores and
// syncs by; its memoised Block::hash() uses the node's current version instead
// (PROTOCOL.md 13.13).
func BlockHashAt(b *pb.Block, act VersionActivations) (Hash, error) {
	return BlockHash(b, act.VersionAt(b.GetBlockHeader().GetBeacon().GetCheckpoint()))
}

// BlockHeaderHash is BlockHash for a bare header.
func BlockHeaderHash(h *pb.Block_BlockHeader, v ProtocolVersion) (Hash, error) {
	var m proto.Message
	switch {
	case v == V1_7:
		m = legacyHeader(h)
	case v.Valid():
		m = h
	default:
		return Hash{}, fmt.Errorf("protocol: hashing a block header: %w: %d", ErrUnknownProtocolVersion, uint8(v))
	}
	return hashItem("block header", "", m)
}

// legacyHeader presents h as the V1.7 LegacyBlockHeader: the same fields, minus the stake
// and unstake merkle roots. The result shares h's sub-messages and must not be modified.
func legacyHeader(h *pb.Block_BlockHeader) *pb.LegacyBlock_LegacyBlockHeader {
	legacy := &pb.LegacyBlock_LegacyBlockHeader{
		Signals:        h.GetSignals(),
		Beacon:         h.GetBeacon(),
		Proof:          h.GetProof(),
		Bn256PublicKey: h.GetBn256PublicKey(),
	}
	if r := h.GetMerkleRoots(); r != nil {
		legacy.MerkleRoots = &pb.LegacyBlock_LegacyBlockHeader_LegacyBlockMerkleRoots{
			MintHash:             r.GetMintHash(),
			VtHashMerkleRoot:     r.GetVtHashMerkleRoot(),
			DrHashMerkleRoot:     r.GetDrHashMerkleRoot(),
			CommitHashMerkleRoot: r.GetCommitHashMerkleRoot(),
			RevealHashMerkleRoot: r.GetRevealHashMerkleRoot(),
			TallyHashMerkleRoot:  r.GetTallyHashMerkleRoot(),
		}
	}
	return legacy
}

// TransactionHash returns the inventory hash of tx (PROTOCOL.md 11.2), which does not depend
// on the protocol version. Signatures are never hashed, except a stake's authorization,
// which sits inside the stake body.
func TransactionHash(tx *pb.Transaction) (Hash, error) {
	// Each case checks for a nil wrapper: the generated getters would dereference it.
	switch k := tx.GetKind().(type) {
	case *pb.Transaction_ValueTransfer:
		if k != nil {
			return VTTransactionHash(k.ValueTransfer)
		}
	case *pb.Transaction_DataRequest:
		if k != nil {
			return DRTransactionHash(k.DataRequest)
		}
	case *pb.Transaction_Commit:
		if k != nil {
			return CommitTransactionHash(k.Commit)
		}
	case *pb.Transaction_Reveal:
		if k != nil {
			return RevealTransactionHash(k.Reveal)
		}
	case *pb.Transaction_Tally:
		if k != nil {
			return TallyTransactionHash(k.Tally)
		}
	case *pb.Transaction_Mint:
		if k != nil {
			return MintTransactionHash(k.Mint)
		}
	case *pb.Transaction_Stake:
		if k != nil {
			return StakeTransactionHash(k.Stake)
		}
	case *pb.Transaction_Unstake:
		if k != nil {
			return UnstakeTransactionHash(k.Unstake)
		}
	}
	return Hash{}, &ItemError{Item: "transaction", Field: "kind", Reason: "oneof not set"}
}

// VTTransactionHash is the hash of a value transfer: SHA-256 of its body.
func VTTransactionHash(tx *pb.VTTransaction) (Hash, error) {
	return hashItem("ValueTransfer transaction", "body", tx.GetBody())
}

// DRTransactionHash is the hash of a data request: SHA-256(data_poi ‖ rest_poi), where
// data_poi is SHA-256 of the body's dr_output and rest_poi SHA-256 of the whole body.
func DRTransactionHash(tx *pb.DRTransaction) (Hash, error) {
	data, rest, err := drProofOfInclusion(tx)
	if err != nil {
		return Hash{}, err
	}
	return sha256Pair(data, rest), nil
}

// drProofOfInclusion returns the two halves of a data request hash: the leaf a smart
// contract can check (the data request itself) and its sibling (the whole body).
func drProofOfInclusion(tx *pb.DRTransaction) (data, rest Hash, err error) {
	const item = "DataRequest transaction"
	c, err := canonicalItem(item, "body", tx.GetBody())
	if err != nil {
		return data, rest, err
	}
	bp, err := marshalPooled(item, c.Interface())
	if err != nil {
		return data, rest, err
	}
	defer releaseBuffer(bp)
	// The body's last field is dr_output (field 3, always written): its bytes are
	// pb(dr_output), so one encoding serves both halves.
	drOutput, ok := lastBytesField(*bp, drOutputField)
	if !ok {
		return data, rest, &ItemError{Item: item, Field: "body.dr_output", Reason: "missing from the encoding"}
	}
	return sha256.Sum256(drOutput), sha256.Sum256(*bp), nil
}

// drOutputField is DRTransactionBody.dr_output's field number.
const drOutputField protowire.Number = 3

// lastBytesField returns the value of the last length-delimited field num in the
// protobuf message b (our own encoding, so never malformed).
func lastBytesField(b []byte, num protowire.Number) (value []byte, found bool) {
	forEachBytesField(b, func(n protowire.Number, v []byte) {
		if n == num {
			value, found = v, true
		}
	})
	return value, found
}

// CommitTransactionHash is the hash of a commit: SHA-256 of its body.
func CommitTransactionHash(tx *pb.CommitTransaction) (Hash, error) {
	return hashItem("Commit transaction", "body", tx.GetBody())
}

// RevealTransactionHash is the hash of a reveal: SHA-256 of its body.
func RevealTransactionHash(tx *pb.RevealTransaction) (Hash, error) {
	return hashItem("Reveal transaction", "body", tx.GetBody())
}

// TallyTransactionHash is the hash of a tally: SHA-256(data_poi ‖ rest_poi), where
// data_poi is SHA-256 of the 32 dr_pointer bytes followed by the tally bytes and rest_poi
// SHA-256 of the whole tally transaction.
func TallyTransactionHash(tx *pb.TallyTransaction) (Hash, error) {
	data, rest, err := tallyProofOfInclusion(tx)
	if err != nil {
		return Hash{}, err
	}
	return sha256Pair(data, rest), nil
}

// tallyProofOfInclusion returns the two halves of a tally hash (see
// drProofOfInclusion).
func tallyProofOfInclusion(tx *pb.TallyTransaction) (data, rest Hash, err error) {
	c, err := canonicalItem("Tally transaction", "", tx)
	if err != nil {
		return data, rest, err
	}
	tally := c.Interface().(*pb.TallyTransaction)
	h := sha256.New()
	h.Write(tally.GetDrPointer().GetSHA256()) // 32 bytes: checked by canonicalItem
	h.Write(tally.GetTally())
	h.Sum(data[:0])
	rest, err = sha256Canonical("Tally transaction", tally)
	return data, rest, err
}

// MintTransactionHash is the hash of a mint: SHA-256 of the whole transaction (its epoch
// makes every mint hash unique).
func MintTransactionHash(tx *pb.MintTransaction) (Hash, error) {
	return hashItem("Mint transaction", "", tx)
}

// StakeTransactionHash is the hash of a stake: SHA-256 of its body, where an absent
// change output is written as the default output (PROTOCOL.md section 2, rule 7).
func StakeTransactionHash(tx *pb.StakeTransaction) (Hash, error) {
	return hashItem("Stake transaction", "body", tx.GetBody())
}

// UnstakeTransactionHash is the hash of an unstake: SHA-256 of its body.
func UnstakeTransactionHash(tx *pb.UnstakeTransaction) (Hash, error) {
	return hashItem("Unstake transaction", "body", tx.GetBody())
}

// SuperBlockHash returns the hash of sb (PROTOCOL.md 11.3). It is not protobuf: SHA-256 over
// signing_committee_length (u32 big-endian) ‖ ars_root ‖ data_request_root ‖ index (u32
// big-endian) ‖ last_block ‖ last_block_in_previous_superblock ‖ tally_root, 168 bytes.
func SuperBlockHash(sb *pb.SuperBlock) (Hash, error) {
	if sb == nil {
		return Hash{}, &ItemError{Item: "superblock", Reason: "no superblock"}
	}
	if err := walk(sb.ProtoReflect(), canonIgnore, true); err != nil {
		if v, ok := err.(*violation); ok {
			return Hash{}, v.itemError("superblock", "")
		}
		return Hash{}, err
	}
	// Every root is now a set 32-byte hash.
	var pre [superBlockPreLen]byte
	out := binary.BigEndian.AppendUint32(pre[:0], sb.GetSigningCommitteeLength())
	out = append(out, sb.GetArsRoot().GetSHA256()...)
	out = append(out, sb.GetDataRequestRoot().GetSHA256()...)
	out = binary.BigEndian.AppendUint32(out, sb.GetIndex())
	out = append(out, sb.GetLastBlock().GetSHA256()...)
	out = append(out, sb.GetLastBlockInPreviousSuperblock().GetSHA256()...)
	out = append(out, sb.GetTallyRoot().GetSHA256()...)
	return sha256.Sum256(out), nil
}

// SuperBlockVoteBn256Message returns the bytes a superblock vote signs with BN256:
// index as u32 big-endian ‖ superblock hash (36 bytes).
func SuperBlockVoteBn256Message(index uint32, superblockHash Hash) []byte {
	msg := make([]byte, 0, 4+HashSize)
	msg = binary.BigEndian.AppendUint32(msg, index)
	return append(msg, superblockHash[:]...)
}

// SuperBlockVoteSecp256k1Message returns the digest a superblock vote signs with
// secp256k1: SHA-256(index as u32 big-endian ‖ superblock hash ‖ BN256 signature bytes).
func SuperBlockVoteSecp256k1Message(index uint32, superblockHash Hash, bn256Sig []byte) Hash {
	h := sha256.New()
	h.Write(SuperBlockVoteBn256Message(index, superblockHash))
	h.Write(bn256Sig)
	var out Hash
	h.Sum(out[:0])
	return out
}

// hashItem is SHA-256 of the canonical, validated encoding of m. item and path name m in
// errors (path is m's field name inside item, "" when m is the item).
func hashItem(item, path string, m proto.Message) (Hash, error) {
	c, err := canonicalItem(item, path, m)
	if err != nil {
		return Hash{}, err
	}
	return sha256Canonical(item, c.Interface())
}

// canonicalItem returns m, or a canonical copy of it, after checking that witnet-rust
// could represent it. m is never modified.
func canonicalItem(item, path string, m proto.Message) (protoreflect.Message, error) {
	c, err := canonicalForm(m.ProtoReflect(), true)
	if err != nil {
		if v, ok := err.(*violation); ok {
			return nil, v.itemError(item, path)
		}
		return nil, err
	}
	return c, nil
}

// sha256Canonical hashes the encoding of a message that is already canonical.
func sha256Canonical(item string, m proto.Message) (Hash, error) {
	bp, err := marshalPooled(item, m)
	if err != nil {
		return Hash{}, err
	}
	h := sha256.Sum256(*bp)
	releaseBuffer(bp)
	return h, nil
}

// Encoding buffers for hashing are pooled: items are hashed on every inventory exchange
// and their encodings are thrown away at once.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledBuffer keeps an occasional huge item from pinning its buffer in the pool.
const maxPooledBuffer = 64 << 10

// marshalPooled encodes m into a pooled buffer; give it back with releaseBuffer.
func marshalPooled(item string, m proto.Message) (*[]byte, error) {
	bp := hashBuffers.Get().(*[]byte)
	b, err := canonicalMarshal.MarshalAppend((*bp)[:0], m)
	if err != nil {
		releaseBuffer(bp)
		return nil, &ItemError{Item: item, Reason: err.Error()}
	}
	*bp = b
	return bp, nil
}

func releaseBuffer(bp *[]byte) {
	if cap(*bp) > maxPooledBuffer {
		return
	}
	*bp = (*bp)[:0]
	hashBuffers.Put(bp)
}

// sha256Pair is SHA-256(a ‖ b), the inner node of the proof-of-inclusion hashes and of
// merkle trees.
func sha256Pair(a, b Hash) Hash {
	var buf [2 * HashSize]byte
	copy(buf[:HashSize], a[:])
	copy(buf[HashSize:], b[:])
	return sha256.Sum256(buf[:])
}
