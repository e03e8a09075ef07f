package inventory

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/node/inventory/inventorytest"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
)

// rpcServer serves an engine's methods with a minimal JSON-RPC 2.0 dispatcher, the way
// the node's server does once they are registered there.
func rpcServer(t *testing.T, e *Engine) *rpc.Client {
	t.Helper()
	methods := e.RPCMethods()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		fn, ok := methods[req.Method]
		if !ok {
			resp["error"] = rpc.Error{Code: rpc.CodeMethodNotFound, Message: "no such method"}
		} else if res, err := fn(r.Context(), req.Params); err != nil {
			var re *rpc.Error
			require.True(t, errors.As(err, &re), "method errors are *rpc.Error: %v", err)
			resp["error"] = re
		} else {
			resp["result"] = res
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return rpc.NewClient(srv.URL, 0)
}

func TestRPCSubmitAndGet(t *testing.T) {
	e := newTestEngine(t, Config{})
	c := rpcServer(t, e)
	ctx := context.Background()

	for _, tc := range []struct {
		kind protocol.Kind
		raw  []byte
	}{
		{protocol.KindTransaction, inventorytest.TxBytes(5)},
		{protocol.KindBlock, rawOf(t, testBlock(t, 2, 0))},
		{protocol.KindSuperBlock, rawOf(t, testSuperBlock(1))},
		{protocol.KindSuperBlockVote, rawOf(t, testVote(1))},
	} {
		h, err := SubmitItem(ctx, c, tc.kind, tc.raw)
		require.NoError(t, err)
		want, _, err := Decoder{}.Decode(tc.kind, tc.raw)
		require.NoError(t, err)
		require.Equal(t, want.Hash, h)
		got, err := GetItem(ctx, c, h)
		require.NoError(t, err)
		require.Equal(t, ItemResult{Kind: KindLabel(tc.kind), Hex: hex.EncodeToString(tc.raw)}, got)
	}

	_, err := GetItem(ctx, c, protocol.Hash{7})
	var re *rpc.Error
	require.True(t, errors.As(err, &re))
	require.Equal(t, CodeItemNotFound, re.Code)
}

func TestRPCRejectsBadItems(t *testing.T) {
	e := newTestEngine(t, Config{Decoder: Decoder{MaxTransactionSize: 300}})
	c := rpcServer(t, e)
	ctx := context.Background()
	txHex := hex.EncodeToString(inventorytest.TxBytes(1))
	big := inventorytest.Tx(2)
	for range 3 {
		big.GetValueTransfer().Body.Outputs = append(big.GetValueTransfer().Body.Outputs, big.GetValueTransfer().Body.Outputs...)
	}
	bigHex := hex.EncodeToString(rawOf(t, big))
	sbHex := hex.EncodeToString(rawOf(t, testSuperBlock(1)))

	tests := []struct {
		name   string
		method string
		params any
		code   int
		reason string
	}{
		{"no params", MethodInventory, nil, rpc.CodeInvalidParams, ""},
		{"two kinds", MethodInventory, map[string]string{"transaction": txHex, "block": txHex}, rpc.CodeInvalidParams, ""},
		{"unknown kind", MethodInventory, map[string]string{"peers": txHex}, rpc.CodeInvalidParams, ""},
		{"not a string", MethodInventory, map[string]int{"transaction": 1}, rpc.CodeInvalidParams, ""},
		{"not hex", MethodInventory, map[string]string{"transaction": "zz"}, CodeBadItem, ReasonUndecodable},
		{"garbage", MethodInventory, map[string]string{"block": "ffffff"}, CodeBadItem, ReasonUndecodable},
		{"superblock sent as transaction", MethodInventory, map[string]string{"transaction": sbHex}, CodeBadItem, ReasonUndecodable},
		{"oversized", MethodInventory, map[string]string{"transaction": bigHex}, CodeBadItem, ReasonOversized},
		{"transaction sent as superblock vote", MethodInventory, map[string]string{"superblockVote": txHex}, CodeBadItem, ReasonUndecodable},
		{"empty", MethodInventory, map[string]string{"superblock": ""}, CodeBadItem, ReasonEmpty},
		{"getItem without hash", MethodGetItem, []string{}, rpc.CodeInvalidParams, ""},
		{"getItem bad hash", MethodGetItem, []string{"abc"}, rpc.CodeInvalidParams, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(ctx, tc.method, tc.params, nil)
			var re *rpc.Error
			require.True(t, errors.As(err, &re), "got %v", err)
			require.Equal(t, tc.code, re.Code, re.Message)
			if tc.reason != "" {
				var data map[string]string
				require.NoError(t, json.Unmarshal(re.Data, &data))
				require.Equal(t, tc.reason, data["reason"])
			}
		})
	}
	// Nothing was stored or gossiped.
	for _, k := range itemKinds {
		require.Zero(t, e.store.Count(k))
	}
	require.Zero(t, e.Stats().Submitted)
}
