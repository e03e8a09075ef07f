package main

import (
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// TestInventoryCommands submits a superblock to an in-process node with "inventory
// submit" (as an argument and from standard input) and fetches it back with "inventory
// get".
func TestInventoryCommands(t *testing.T) {
	addr := startTestNode(t).RPCAddr().String()

	sb := &pb.SuperBlock{Index: 3}
	protocol.Canonicalize(sb)
	for i, h := range []**pb.Hash{&sb.ArsRoot, &sb.DataRequestRoot, &sb.LastBlock, &sb.LastBlockInPreviousSuperblock, &sb.TallyRoot} {
		*h = protocol.NewHashPB(protocol.Hash{byte(i + 1)})
	}
	raw, err := protocol.CanonicalBytes(sb)
	require.NoError(t, err)
	want, err := protocol.SuperBlockHash(sb)
	require.NoError(t, err)

	out := mustRun(t, "", "inventory", "submit", "--rpc-addr", addr, "--kind", "superblock", hex.EncodeToString(raw))
	require.Equal(t, want.String()+"\n", out)

	// From standard input too, with the node named by the environment; resubmitting a
	// known item gives the same hash.
	t.Setenv("WITNET_P2P_RPC_ADDR", addr)
	out = mustRun(t, hex.EncodeToString(raw)+"\n", "inventory", "submit", "--kind", "superblock")
	require.Equal(t, want.String()+"\n", out)

	out = mustRun(t, "", "inventory", "get", "--rpc", "http://"+addr+"/", "--timeout", "5s", want.String())
	var got inventory.ItemResult
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, inventory.ItemResult{Kind: "superblock", Hex: hex.EncodeToString(raw)}, got)

	_, _, err = runApp(t, "", "inventory", "get", protocol.Hash{9}.String())
	var re *rpc.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, inventory.CodeItemNotFound, re.Code)

	for _, args := range [][]string{
		{"inventory", "submit", "--kind", "peers", "00"},
		{"inventory", "submit", "nothex"},
		{"inventory", "submit", "--kind", "transaction", "ffff"},
		{"inventory", "submit", "00", "11"},
		{"inventory", "get"},
		{"inventory", "get", "1234"},
		{"inventory", "get", "--nope"},
	} {
		code, stdout, stderr := runMainCapture(t, args...)
		require.Equal(t, 1, code, "%v", args)
		require.Empty(t, stdout, "%v", args)
		require.Regexp(t, "^witnet-p2p: [^\n]+\n$", stderr, "%v", args)
	}
}
