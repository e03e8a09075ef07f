// Package inventorytest provides inventory items for tests: deterministic, valid
// transactions that the node and inventory tests submit, gossip and look up. It imports
// only the protocol packages, so tests of any package that the inventory package imports
// or is imported by can use it without an import cycle.
package inventorytest

import (
	"encoding/binary"
	"fmt"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Tx returns a canonical value transfer of about 200 bytes, distinct for each n: its one
// input spends output 1 of a transaction whose id carries n, and its four outputs pay the
// public key hash that carries n the values 10n to 10n+3.
func Tx(n uint64) *pb.Transaction {
	pkh := make([]byte, 20)
	binary.BigEndian.PutUint64(pkh, n)
	txid := make([]byte, 32)
	binary.BigEndian.PutUint64(txid, n)
	body := &pb.VTTransactionBody{
		Inputs: []*pb.Input{{OutputPointer: &pb.OutputPointer{TransactionId: &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: txid}}, OutputIndex: 1}}},
	}
	for i := range 4 {
		body.Outputs = append(body.Outputs, &pb.ValueTransferOutput{Pkh: &pb.PublicKeyHash{Hash: pkh}, Value: n*10 + uint64(i)})
	}
	tx := &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: &pb.VTTransaction{Body: body}}}
	protocol.Canonicalize(tx)
	return tx
}

// TxBytes returns the canonical encoding of Tx(n): what Engine.Submit and the inventory
// JSON-RPC method take for a transaction. It panics if the encoding fails, which it
// cannot for the transactions Tx builds.
func TxBytes(n uint64) []byte {
	b, err := protocol.CanonicalBytes(Tx(n))
	if err != nil {
		panic(fmt.Sprintf("inventorytest: encoding Tx(%d): %v", n, err))
	}
	return b
}
