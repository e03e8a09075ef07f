package inventory

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

func expectedHash(t *testing.T, exp map[string]json.RawMessage) protocol.Hash {
	t.Helper()
	h, err := protocol.HashFromBytes(hexField(t, exp, "hash"))
	require.NoError(t, err)
	return h
}

func TestDecodeVectors(t *testing.T) {
	var d Decoder

	// A real value transfer (witnet-rust wallet fixture): its bytes are a Transaction.
	in, exp := vector(t, "hashes.json", "transaction_hash_wallet_fixture_valuetransfer")
	raw := hexField(t, in, "transaction_bytes")
	it, cmd, err := d.Decode(protocol.KindTransaction, raw)
	require.NoError(t, err)
	require.Equal(t, expectedHash(t, exp), it.Hash)
	require.Equal(t, raw, it.Raw, "the fixture is canonical: stored bytes are the submitted ones")
	require.NotNil(t, cmd.GetTransaction())

	// block_example at epoch 0 is a V1.7 block whatever the activations.
	_, exp = vector(t, "hashes.json", "block_hash_block_example_v1_7")
	blk := exampleBlock(t)
	it, _, err = d.Decode(protocol.KindBlock, rawOf(t, blk))
	require.NoError(t, err)
	require.Equal(t, expectedHash(t, exp), it.Hash)
	require.Equal(t, uint32(0), it.Epoch)

	// The superblock vector: committee 3, roots 01.., 02.., index 1, 03.., 04.., 05...
	_, exp = vector(t, "hashes.json", "superblock_hash_1")
	it, _, err = d.Decode(protocol.KindSuperBlock, rawOf(t, testSuperBlock(1)))
	require.NoError(t, err)
	require.Equal(t, expectedHash(t, exp), it.Hash)
	require.Equal(t, uint32(1), it.Epoch)
	require.Equal(t, protocol.SuperBlockEntry(1).String(), it.Entry().String())

	// A vote is keyed by the SHA-256 of its canonical bytes and has no entry.
	vraw := rawOf(t, testVote(7))
	it, _, err = d.Decode(protocol.KindSuperBlockVote, vraw)
	require.NoError(t, err)
	require.Equal(t, protocol.Hash(sha256.Sum256(vraw)), it.Hash)
	require.Equal(t, uint32(7), it.Epoch)
	require.Nil(t, it.Entry())
}

func TestDecodeBlockUsesItsEpochVersion(t *testing.T) {
	d := Decoder{Activations: protocol.VersionActivations{V1_8: 10, V2_0: 20}}
	for _, tc := range []struct {
		epoch uint32
		v     protocol.ProtocolVersion
	}{{5, protocol.V1_7}, {10, protocol.V1_8}, {25, protocol.V2_0}} {
		b := testBlock(t, tc.epoch, 0)
		want, err := protocol.BlockHash(b, tc.v)
		require.NoError(t, err)
		it, _, err := d.Decode(protocol.KindBlock, rawOf(t, b))
		require.NoError(t, err)
		require.Equal(t, want, it.Hash, "epoch %d", tc.epoch)
	}
}

func TestDecodeRejects(t *testing.T) {
	d := Decoder{MaxTransactionSize: 300}
	big := inventorytest.Tx(1)
	big.GetValueTransfer().Body.Outputs = append(big.GetValueTransfer().Body.Outputs, big.GetValueTransfer().Body.Outputs...)
	big.GetValueTransfer().Body.Outputs = append(big.GetValueTransfer().Body.Outputs, big.GetValueTransfer().Body.Outputs...)
	bigRaw := rawOf(t, big)
	require.Greater(t, len(bigRaw), 300)
	badHash := inventorytest.Tx(2)
	badHash.GetValueTransfer().Body.Inputs[0].OutputPointer.TransactionId = &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: []byte{1, 2, 3}}}
	garbage, _ := hex.DecodeString("ffffffff")

	tests := []struct {
		name   string
		kind   protocol.Kind
		raw    []byte
		reason string
	}{
		{"not an item kind", protocol.KindVersion, inventorytest.TxBytes(1), ReasonWrongKind},
		{"empty", protocol.KindTransaction, nil, ReasonEmpty},
		{"oversized", protocol.KindTransaction, bigRaw, ReasonOversized},
		{"not protobuf", protocol.KindTransaction, garbage, ReasonUndecodable},
		{"hash of 3 bytes", protocol.KindTransaction, rawOf(t, badHash), ReasonUndecodable},
		{"transaction without kind", protocol.KindTransaction, []byte{0x50, 0x01}, ReasonUndecodable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := d.Decode(tc.kind, tc.raw)
			var ie *ItemError
			require.True(t, errors.As(err, &ie), "got %v", err)
			require.Equal(t, tc.reason, ie.Reason)
		})
	}
}

func TestItemCommandRoundTrip(t *testing.T) {
	var d Decoder
	for _, raw := range []struct {
		k protocol.Kind
		b []byte
	}{
		{protocol.KindTransaction, inventorytest.TxBytes(3)},
		{protocol.KindBlock, rawOf(t, testBlock(t, 4, 1))},
		{protocol.KindSuperBlock, rawOf(t, testSuperBlock(2))},
		{protocol.KindSuperBlockVote, rawOf(t, testVote(2))},
	} {
		it, want, err := d.Decode(raw.k, raw.b)
		require.NoError(t, err)
		got, err := it.Command()
		require.NoError(t, err)
		gotRaw, err := protocol.Marshal(&pb.Message{Kind: got})
		require.NoError(t, err)
		wantRaw, err := protocol.Marshal(&pb.Message{Kind: want})
		require.NoError(t, err)
		require.Equal(t, wantRaw, gotRaw)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range itemKinds {
		got, err := ParseKind(KindLabel(k))
		require.NoError(t, err)
		require.Equal(t, k, got)
		got, err = ParseKind(k.String())
		require.NoError(t, err)
		require.Equal(t, k, got)
	}
	_, err := ParseKind("peers")
	require.Error(t, err)
}
