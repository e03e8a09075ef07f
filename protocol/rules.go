package protocol

import (
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Typed decode rules. Validate runs on every received message, so it checks the Message
// tree with plain Go code instead of the reflection walk (walk.go), which stays the one
// implementation for canonical form and the item hashes. The two must agree on every value:
// the same first broken rule, reported with the same reason, path and detail. To keep that
// true by construction, this code visits fields in the walk's order (a message's own rules,
// then its fields in declaration order, which in witnet.proto is field-number order), reads
// every sub-message through the generated getters, so that an absent one is checked as an
// empty one, and reuses the walk's per-type checks (checkHash, checkPKH, checkPublicKey,
// checkAddress, checkInventoryEntry, checkWitnesses, checkRADType). A oneof wrapper that
// is a nil pointer counts as unset, as protoreflect sees it. TestTypedRulesMatchWalk and
// FuzzTypedRules compare the two on generated and fuzzed values.

// in records, on the way up, that v happened inside field name (its element idx when
// idx >= 0). A nil v stays nil, so a call site reads `return checkX(x.GetY()).in("y", -1)`.
func (v *violation) in(name protoreflect.Name, idx int) *violation {
	if v != nil {
		v.path = append(v.path, pathElem{name: name, index: idx})
	}
	return v
}

// checkEach applies check to every element of list and stops at the first violation,
// recording the element's index under name.
func checkEach[T any](list []T, name protoreflect.Name, check func(T) *violation) *violation {
	for i, e := range list {
		if v := check(e); v != nil {
			return v.in(name, i)
		}
	}
	return nil
}

// checkMessage applies every decode rule to m (the limits on list lengths excepted, see
// checkLimits).
func checkMessage(m *pb.Message) *violation {
	if v := checkMagic(m.GetMagic()); v != nil {
		return v
	}
	return checkCommand(m.GetKind()).in("kind", -1)
}

func checkCommand(c *pb.Message_Command) *violation {
	switch k := c.GetKind().(type) {
	case *pb.Message_Command_Version:
		if k != nil {
			return checkVersion(k.Version).in("Version", -1)
		}
	case *pb.Message_Command_Verack:
		if k != nil {
			return nil
		}
	case *pb.Message_Command_GetPeers:
		if k != nil {
			return nil
		}
	case *pb.Message_Command_Peers_:
		if k != nil {
			return checkEach(k.Peers_.GetPeers(), "peers", checkAddress).in("Peers", -1)
		}
	case *pb.Message_Command_Block:
		if k != nil {
			return checkBlock(k.Block).in("Block", -1)
		}
	case *pb.Message_Command_InventoryAnnouncement:
		if k != nil {
			return checkEach(k.InventoryAnnouncement.GetInventory(), "inventory", checkInventoryEntry).in("InventoryAnnouncement", -1)
		}
	case *pb.Message_Command_InventoryRequest:
		if k != nil {
			return checkEach(k.InventoryRequest.GetInventory(), "inventory", checkInventoryEntry).in("InventoryRequest", -1)
		}
	case *pb.Message_Command_LastBeacon:
		if k != nil {
			return checkLastBeacon(k.LastBeacon).in("LastBeacon", -1)
		}
	case *pb.Message_Command_Transaction:
		if k != nil {
			return checkTransaction(k.Transaction).in("Transaction", -1)
		}
	case *pb.Message_Command_SuperBlockVote:
		if k != nil {
			return checkSuperBlockVote(k.SuperBlockVote).in("SuperBlockVote", -1)
		}
	case *pb.Message_Command_SuperBlock:
		if k != nil {
			return checkSuperBlock(k.SuperBlock).in("SuperBlock", -1)
		}
	}
	return oneofUnset("Command", "kind", false)
}

// ---- Handshake, discovery, beacons ----

func checkVersion(x *pb.Version) *violation {
	if v := checkAddress(x.GetSenderAddress()); v != nil {
		return v.in("sender_address", -1)
	}
	if v := checkAddress(x.GetReceiverAddress()); v != nil {
		return v.in("receiver_address", -1)
	}
	return checkLastBeacon(x.GetBeacon()).in("beacon", -1)
}

func checkLastBeacon(x *pb.LastBeacon) *violation {
	if v := checkCheckpointBeacon(x.GetHighestBlockCheckpoint()); v != nil {
		return v.in("highest_block_checkpoint", -1)
	}
	return checkCheckpointBeacon(x.GetHighestSuperblockCheckpoint()).in("highest_superblock_checkpoint", -1)
}

func checkCheckpointBeacon(x *pb.CheckpointBeacon) *violation {
	return checkHash(x.GetHashPrevBlock()).in("hash_prev_block", -1)
}

// ---- Blocks and superblocks ----

func checkBlock(x *pb.Block) *violation {
	if v := checkBlockHeader(x.GetBlockHeader()); v != nil {
		return v.in("block_header", -1)
	}
	if v := checkKeyedSignature(x.GetBlockSig()); v != nil {
		return v.in("block_sig", -1)
	}
	return checkBlockTransactions(x.GetTxns()).in("txns", -1)
}

func checkBlockHeader(x *pb.Block_BlockHeader) *violation {
	if v := checkCheckpointBeacon(x.GetBeacon()); v != nil {
		return v.in("beacon", -1)
	}
	if v := checkMerkleRoots(x.GetMerkleRoots()); v != nil {
		return v.in("merkle_roots", -1)
	}
	// bn256_public_key carries no rule.
	return checkVrfProof(x.GetProof().GetProof()).in("proof", -1).in("proof", -1)
}

func checkMerkleRoots(x *pb.Block_BlockHeader_BlockMerkleRoots) *violation {
	roots := [...]struct {
		name protoreflect.Name
		h    *pb.Hash
	}{
		{"mint_hash", x.GetMintHash()},
		{"vt_hash_merkle_root", x.GetVtHashMerkleRoot()},
		{"dr_hash_merkle_root", x.GetDrHashMerkleRoot()},
		{"commit_hash_merkle_root", x.GetCommitHashMerkleRoot()},
		{"reveal_hash_merkle_root", x.GetRevealHashMerkleRoot()},
		{"tally_hash_merkle_root", x.GetTallyHashMerkleRoot()},
		{"stake_hash_merkle_root", x.GetStakeHashMerkleRoot()},
		{"unstake_hash_merkle_root", x.GetUnstakeHashMerkleRoot()},
	}
	for _, r := range roots {
		if v := checkHash(r.h); v != nil {
			return v.in(r.name, -1)
		}
	}
	return nil
}

func checkVrfProof(x *pb.VrfProof) *violation {
	return checkPublicKey(x.GetPublicKey()).in("public_key", -1)
}

func checkBlockTransactions(x *pb.Block_BlockTransactions) *violation {
	if v := checkMint(x.GetMint()); v != nil {
		return v.in("mint", -1)
	}
	if v := checkEach(x.GetValueTransferTxns(), "value_transfer_txns", checkVT); v != nil {
		return v
	}
	if v := checkEach(x.GetDataRequestTxns(), "data_request_txns", checkDR); v != nil {
		return v
	}
	if v := checkEach(x.GetCommitTxns(), "commit_txns", checkCommit); v != nil {
		return v
	}
	if v := checkEach(x.GetRevealTxns(), "reveal_txns", checkReveal); v != nil {
		return v
	}
	if v := checkEach(x.GetTallyTxns(), "tally_txns", checkTally); v != nil {
		return v
	}
	if v := checkEach(x.GetStakeTxns(), "stake_txns", checkStake); v != nil {
		return v
	}
	return checkEach(x.GetUnstakeTxns(), "unstake_txns", checkUnstake)
}

func checkSuperBlock(x *pb.SuperBlock) *violation {
	roots := [...]struct {
		name protoreflect.Name
		h    *pb.Hash
	}{
		{"ars_root", x.GetArsRoot()},
		{"data_request_root", x.GetDataRequestRoot()},
		{"last_block", x.GetLastBlock()},
		{"last_block_in_previous_superblock", x.GetLastBlockInPreviousSuperblock()},
		{"tally_root", x.GetTallyRoot()},
	}
	for _, r := range roots {
		if v := checkHash(r.h); v != nil {
			return v.in(r.name, -1)
		}
	}
	return nil
}

func checkSuperBlockVote(x *pb.SuperBlockVote) *violation {
	// bn256_signature carries no rule.
	if v := checkKeyedSignature(x.GetSecp256K1Signature()); v != nil {
		return v.in("secp256k1_signature", -1)
	}
	return checkHash(x.GetSuperblockHash()).in("superblock_hash", -1)
}

// ---- Keys and signatures ----

func checkKeyedSignature(x *pb.KeyedSignature) *violation {
	if v := checkSignature(x.GetSignature()); v != nil {
		return v.in("signature", -1)
	}
	return checkPublicKey(x.GetPublicKey()).in("public_key", -1)
}

// checkSignature checks that the signature's oneof is set; its only member, a DER
// signature, carries no rule.
func checkSignature(x *pb.Signature) *violation {
	if k, ok := x.GetKind().(*pb.Signature_Secp256K1); ok && k != nil {
		return nil
	}
	return oneofUnset("Signature", "kind", false)
}

// ---- Transactions ----

func checkTransaction(x *pb.Transaction) *violation {
	switch k := x.GetKind().(type) {
	case *pb.Transaction_ValueTransfer:
		if k != nil {
			return checkVT(k.ValueTransfer).in("ValueTransfer", -1)
		}
	case *pb.Transaction_DataRequest:
		if k != nil {
			return checkDR(k.DataRequest).in("DataRequest", -1)
		}
	case *pb.Transaction_Commit:
		if k != nil {
			return checkCommit(k.Commit).in("Commit", -1)
		}
	case *pb.Transaction_Reveal:
		if k != nil {
			return checkReveal(k.Reveal).in("Reveal", -1)
		}
	case *pb.Transaction_Tally:
		if k != nil {
			return checkTally(k.Tally).in("Tally", -1)
		}
	case *pb.Transaction_Mint:
		if k != nil {
			return checkMint(k.Mint).in("Mint", -1)
		}
	case *pb.Transaction_Stake:
		if k != nil {
			return checkStake(k.Stake).in("Stake", -1)
		}
	case *pb.Transaction_Unstake:
		if k != nil {
			return checkUnstake(k.Unstake).in("Unstake", -1)
		}
	}
	return oneofUnset("Transaction", "kind", false)
}

// checkSignatures checks the signature list every signed transaction but Unstake carries.
func checkSignatures(list []*pb.KeyedSignature) *violation {
	return checkEach(list, "signatures", checkKeyedSignature)
}

func checkInput(x *pb.Input) *violation {
	return checkHash(x.GetOutputPointer().GetTransactionId()).in("transaction_id", -1).in("output_pointer", -1)
}

func checkOutput(x *pb.ValueTransferOutput) *violation {
	return checkPKH(x.GetPkh()).in("pkh", -1)
}

func checkVT(x *pb.VTTransaction) *violation {
	body := x.GetBody()
	if v := checkEach(body.GetInputs(), "inputs", checkInput); v != nil {
		return v.in("body", -1)
	}
	if v := checkEach(body.GetOutputs(), "outputs", checkOutput); v != nil {
		return v.in("body", -1)
	}
	return checkSignatures(x.GetSignatures())
}

func checkDR(x *pb.DRTransaction) *violation {
	body := x.GetBody()
	if v := checkEach(body.GetInputs(), "inputs", checkInput); v != nil {
		return v.in("body", -1)
	}
	if v := checkEach(body.GetOutputs(), "outputs", checkOutput); v != nil {
		return v.in("body", -1)
	}
	if v := checkDataRequestOutput(body.GetDrOutput()); v != nil {
		return v.in("dr_output", -1).in("body", -1)
	}
	return checkSignatures(x.GetSignatures())
}

// checkDataRequestOutput checks the witness count (the message's own rule, first) and the
// RADType of every retrieval; aggregation and tally stages carry no rule.
func checkDataRequestOutput(x *pb.DataRequestOutput) *violation {
	if v := checkWitnesses(x.GetWitnesses()); v != nil {
		return v
	}
	return checkEach(x.GetDataRequest().GetRetrieve(), "retrieve", checkRADRetrieve).in("data_request", -1)
}

func checkRADRetrieve(x *pb.DataRequestOutput_RADRequest_RADRetrieve) *violation {
	return checkRADType(x.GetKind(), -1)
}

func checkCommit(x *pb.CommitTransaction) *violation {
	body := x.GetBody()
	if v := checkCommitBody(body); v != nil {
		return v.in("body", -1)
	}
	return checkSignatures(x.GetSignatures())
}

func checkCommitBody(x *pb.CommitTransactionBody) *violation {
	if v := checkHash(x.GetDrPointer()); v != nil {
		return v.in("dr_pointer", -1)
	}
	if v := checkHash(x.GetCommitment()); v != nil {
		return v.in("commitment", -1)
	}
	if v := checkVrfProof(x.GetProof().GetProof()); v != nil {
		return v.in("proof", -1).in("proof", -1)
	}
	if v := checkEach(x.GetCollateral(), "collateral", checkInput); v != nil {
		return v
	}
	// bn256_public_key carries no rule.
	return checkEach(x.GetOutputs(), "outputs", checkOutput)
}

func checkReveal(x *pb.RevealTransaction) *violation {
	body := x.GetBody()
	if v := checkHash(body.GetDrPointer()); v != nil {
		return v.in("dr_pointer", -1).in("body", -1)
	}
	if v := checkPKH(body.GetPkh()); v != nil {
		return v.in("pkh", -1).in("body", -1)
	}
	return checkSignatures(x.GetSignatures())
}

func checkTally(x *pb.TallyTransaction) *violation {
	if v := checkHash(x.GetDrPointer()); v != nil {
		return v.in("dr_pointer", -1)
	}
	if v := checkEach(x.GetOutputs(), "outputs", checkOutput); v != nil {
		return v
	}
	if v := checkEach(x.GetOutOfConsensus(), "out_of_consensus", checkPKH); v != nil {
		return v
	}
	return checkEach(x.GetErrorCommitters(), "error_committers", checkPKH)
}

func checkMint(x *pb.MintTransaction) *violation {
	return checkEach(x.GetOutputs(), "outputs", checkOutput)
}

func checkStake(x *pb.StakeTransaction) *violation {
	if v := checkStakeBody(x.GetBody()); v != nil {
		return v.in("body", -1)
	}
	return checkSignatures(x.GetSignatures())
}

func checkStakeBody(x *pb.StakeTransactionBody) *violation {
	if v := checkEach(x.GetInputs(), "inputs", checkInput); v != nil {
		return v
	}
	out := x.GetOutput()
	if v := checkPKH(out.GetKey().GetValidator()); v != nil {
		return v.in("validator", -1).in("key", -1).in("output", -1)
	}
	if v := checkPKH(out.GetKey().GetWithdrawer()); v != nil {
		return v.in("withdrawer", -1).in("key", -1).in("output", -1)
	}
	if v := checkKeyedSignature(out.GetAuthorization()); v != nil {
		return v.in("authorization", -1).in("output", -1)
	}
	return checkOutput(x.GetChange()).in("change", -1)
}

func checkUnstake(x *pb.UnstakeTransaction) *violation {
	body := x.GetBody()
	if v := checkPKH(body.GetOperator()); v != nil {
		return v.in("operator", -1).in("body", -1)
	}
	if v := checkOutput(body.GetWithdrawal()); v != nil {
		return v.in("withdrawal", -1).in("body", -1)
	}
	return checkKeyedSignature(x.GetSignature()).in("signature", -1)
}
