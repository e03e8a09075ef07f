package protocol

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Unknown fields are dropped, as witnet-rust's conversion to its own types drops them: a
// re-encoded message is then the canonical form, and a peer cannot make us hold bytes we
// never look at.
var unmarshalOpts = proto.UnmarshalOptions{DiscardUnknown: true}

// Marshal encodes m as a Message payload (without the frame header). Generated code writes
// fields in field-number order, which together with builders that set every singular
// sub-message gives the bytes witnet-rust produces (PROTOCOL.md section 2). Marshal does not run
// Validate; it refuses only a nil Message or one without a command (ErrNoCommand), and
// values protobuf cannot encode (a string that is not UTF-8). The hot commands are written
// by a direct encoder (fastencode.go) that gives the bytes proto.Marshal gives.
func Marshal(m *pb.Message) ([]byte, error) {
	k := KindOf(m)
	if k == KindNone {
		return nil, ErrNoCommand
	}
	if tryFast(m, k) {
		if b, ok := marshalFast(m, k); ok {
			return b, nil
		}
	}
	b, err := canonicalMarshal.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("protocol: marshal %s: %w", k, err)
	}
	return b, nil
}

// MarshalAppend appends the encoding of m, the bytes Marshal returns, to dst and returns
// the extended slice, so that a caller can encode into a buffer it reuses. It may write
// into dst's spare capacity even when it fails; on failure it returns dst unchanged in
// length, with the error Marshal returns.
func MarshalAppend(dst []byte, m *pb.Message) ([]byte, error) {
	k := KindOf(m)
	if k == KindNone {
		return dst, ErrNoCommand
	}
	if tryFast(m, k) {
		if b, ok := appendFast(dst, m, k); ok {
			return b, nil
		}
	}
	b, err := canonicalMarshal.MarshalAppend(dst, m)
	if err != nil {
		return dst, fmt.Errorf("protocol: marshal %s: %w", k, err)
	}
	return b, nil
}

// Unmarshal decodes and validates one Message payload. It rejects, with a *DecodeError, an
// empty payload, bytes that are not a protobuf Message, lists longer than
// MaxPeersPerMessage / MaxInventoryEntries (counted before parsing), and anything Validate
// rejects. The usual form of the small, frequent commands is read by a direct decoder
// (fastdecode.go); everything else goes through proto.Unmarshal, with the same result.
// The message never refers to b (bytes fields are copies), so the caller may reuse b as
// soon as Unmarshal returns.
// The direct decoder allocates a message's parts together, so keeping one part (an
// inventory entry, a hash) keeps the whole message's memory; that is bounded by the
// sizes it takes (inventory lists of at most 64 entries), and a long-lived copy of a small
// part should be a copy (a Hash value, proto.Clone).
//
// Legacy fallback (PROTOCOL.md section 3): a Block whose header merkle roots lack both
// stake_hash_merkle_root and unstake_hash_merkle_root (the form a V1.7-era node sends) gets
// 32 zero bytes in both, as witnet-rust's LegacyMessage path gives it; every other failure
// stays a decode error. Unlike witnet-rust, which falls back on any failure and may panic
// there, a block with only one of the two roots missing is rejected.
func Unmarshal(b []byte) (*pb.Message, error) {
	if len(b) == 0 {
		return nil, &DecodeError{Reason: ReasonEmpty, Detail: "empty payload"}
	}
	m, ok := decodeFast(b)
	if !ok {
		return unmarshalGeneral(b)
	}
	if err := Validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// unmarshalGeneral is Unmarshal through proto.Unmarshal, for any non-empty payload.
func unmarshalGeneral(b []byte) (*pb.Message, error) {
	if err := precheck(b); err != nil {
		return nil, err
	}
	m := new(pb.Message)
	if err := unmarshalOpts.Unmarshal(b, m); err != nil {
		return nil, &DecodeError{Reason: ReasonMalformed, Err: err}
	}
	fillLegacyRoots(m)
	if err := Validate(m); err != nil {
		return nil, err
	}
	return m, nil
}

// fillLegacyRoots applies the legacy fallback to a Block command in place and reports
// whether it did.
func fillLegacyRoots(m *pb.Message) bool {
	roots := m.GetKind().GetBlock().GetBlockHeader().GetMerkleRoots()
	if roots == nil || roots.StakeHashMerkleRoot != nil || roots.UnstakeHashMerkleRoot != nil {
		return false
	}
	roots.StakeHashMerkleRoot = NewHashPB(Hash{})
	roots.UnstakeHashMerkleRoot = NewHashPB(Hash{})
	return true
}

// Field numbers walked by precheck (PROTOCOL.md sections 3 and 4.1, 4.2).
const (
	wireMessageKind    protowire.Number = 2 // Message.kind (Command)
	wireCommandPeers   protowire.Number = 4 // Command.Peers
	wireCommandInvAnn  protowire.Number = 6 // Command.InventoryAnnouncement
	wireCommandInvReq  protowire.Number = 7 // Command.InventoryRequest
	wireRepeatedFirst  protowire.Number = 1 // Peers.peers, Inventory*.inventory
	wireMaxListCounted                  = 3 // indexes 0..2 of counts: peers, announcement, request
)

// precheck counts the elements of the Peers and inventory lists straight from the wire,
// without allocating, so that an oversized list is refused before proto.Unmarshal builds it.
// Occurrences are summed across repeated appearances of the same field, since protobuf
// merges them. Malformed bytes are left for proto.Unmarshal to report.
func precheck(b []byte) error {
	var counts [wireMaxListCounted]int
	forEachBytesField(b, func(num protowire.Number, cmd []byte) {
		if num != wireMessageKind {
			return
		}
		forEachBytesField(cmd, func(num protowire.Number, list []byte) {
			var i int
			switch num {
			case wireCommandPeers:
				i = 0
			case wireCommandInvAnn:
				i = 1
			case wireCommandInvReq:
				i = 2
			default:
				return
			}
			forEachBytesField(list, func(num protowire.Number, _ []byte) {
				if num == wireRepeatedFirst {
					counts[i]++
				}
			})
		})
	})
	if counts[0] > MaxPeersPerMessage {
		return tooManyPeers(counts[0])
	}
	if counts[1] > MaxInventoryEntries {
		return tooManyEntries(fieldAnnouncement, counts[1])
	}
	if counts[2] > MaxInventoryEntries {
		return tooManyEntries(fieldRequest, counts[2])
	}
	return nil
}

// forEachBytesField calls fn for every length-delimited field of b, skipping other wire
// types, and stops silently at the first malformed field.
func forEachBytesField(b []byte, fn func(protowire.Number, []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return
			}
			fn(num, v)
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return
		}
		b = b[n:]
	}
}

// KindOf returns the command kind of m, or KindNone for a nil Message or one without a
// command.
func KindOf(m *pb.Message) Kind {
	switch m.GetKind().GetKind().(type) {
	case *pb.Message_Command_Version:
		return KindVersion
	case *pb.Message_Command_Verack:
		return KindVerack
	case *pb.Message_Command_GetPeers:
		return KindGetPeers
	case *pb.Message_Command_Peers_:
		return KindPeers
	case *pb.Message_Command_Block:
		return KindBlock
	case *pb.Message_Command_InventoryAnnouncement:
		return KindInventoryAnnouncement
	case *pb.Message_Command_InventoryRequest:
		return KindInventoryRequest
	case *pb.Message_Command_LastBeacon:
		return KindLastBeacon
	case *pb.Message_Command_Transaction:
		return KindTransaction
	case *pb.Message_Command_SuperBlockVote:
		return KindSuperBlockVote
	case *pb.Message_Command_SuperBlock:
		return KindSuperBlock
	default:
		return KindNone
	}
}
