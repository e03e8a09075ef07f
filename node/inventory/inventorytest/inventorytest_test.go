package inventorytest

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

func TestTx(t *testing.T) {
	seen := map[protocol.Hash]uint64{}
	for _, n := range []uint64{0, 1, 2, 1 << 40, 9<<40 | 7} {
		tx := Tx(n)
		raw := TxBytes(n)
		if !bytes.Equal(raw, TxBytes(n)) {
			t.Fatalf("TxBytes(%d) is not deterministic", n)
		}
		var back pb.Transaction
		if err := proto.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(tx, &back) {
			t.Fatalf("TxBytes(%d) does not decode to Tx(%d)", n, n)
		}
		if len(raw) < 150 || len(raw) > 250 {
			t.Fatalf("Tx(%d) is %d bytes, want about 200", n, len(raw))
		}
		h, err := protocol.TransactionHash(tx)
		if err != nil {
			t.Fatal(err)
		}
		if m, dup := seen[h]; dup {
			t.Fatalf("Tx(%d) and Tx(%d) have the same hash", m, n)
		}
		seen[h] = n
	}
}
