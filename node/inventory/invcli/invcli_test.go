package invcli

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
	"go.etcd.io/bbolt"

	"github.com/witnet-p2p/witnet-p2p/node/inventory"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// serve runs a JSON-RPC endpoint with the engine's methods.
func serve(t *testing.T, e *inventory.Engine) string {
	methods := e.RPCMethods()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		require.NoError(t, json.NewDecoder(r.Body).Decode(&req))
		resp := map[string]any{"jsonrpc": "2.0", "id": req.ID}
		if res, err := methods[req.Method](r.Context(), req.Params); err != nil {
			resp["error"] = err
		} else {
			resp["result"] = res
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func run(t *testing.T, stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	app := &cli.App{Name: "witnet-p2p", Commands: []*cli.Command{Command()}, Writer: &out, ErrWriter: &out, Reader: strings.NewReader(stdin)}
	err := app.Run(append([]string{"witnet-p2p"}, args...))
	return out.String(), err
}

func TestSubmitAndGet(t *testing.T) {
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "db"), 0o600, nil)
	require.NoError(t, err)
	defer db.Close()
	store, err := inventory.OpenStore(db, inventory.StoreConfig{})
	require.NoError(t, err)
	e, err := inventory.New(inventory.Config{Store: store})
	require.NoError(t, err)
	defer e.Close()
	url := serve(t, e)

	sb := &pb.SuperBlock{Index: 3}
	protocol.Canonicalize(sb)
	for i, h := range []**pb.Hash{&sb.ArsRoot, &sb.DataRequestRoot, &sb.LastBlock, &sb.LastBlockInPreviousSuperblock, &sb.TallyRoot} {
		*h = protocol.NewHashPB(protocol.Hash{byte(i + 1)})
	}
	raw, err := protocol.CanonicalBytes(sb)
	require.NoError(t, err)
	want, err := protocol.SuperBlockHash(sb)
	require.NoError(t, err)

	out, err := run(t, "", "inventory", "submit", "--rpc-addr", url, "--kind", "superblock", hex.EncodeToString(raw))
	require.NoError(t, err)
	require.Equal(t, want.String()+"\n", out)

	// From standard input too; resubmitting a known item gives the same hash.
	out, err = run(t, hex.EncodeToString(raw)+"\n", "inventory", "submit", "--rpc", url, "--kind", "superblock")
	require.NoError(t, err)
	require.Equal(t, want.String()+"\n", out)

	out, err = run(t, "", "inventory", "get", "--rpc", url, want.String())
	require.NoError(t, err)
	var got inventory.ItemResult
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, inventory.ItemResult{Kind: "superblock", Hex: hex.EncodeToString(raw)}, got)

	_, err = run(t, "", "inventory", "get", "--rpc", url, protocol.Hash{9}.String())
	var re *rpc.Error
	require.ErrorAs(t, err, &re)
	require.Equal(t, inventory.CodeItemNotFound, re.Code)

	for _, args := range [][]string{
		{"inventory", "submit", "--rpc", url, "--kind", "peers", "00"},
		{"inventory", "submit", "--rpc", url, "nothex"},
		{"inventory", "submit", "--rpc", url, "--kind", "transaction", "ffff"},
		{"inventory", "get", "--rpc", url},
		{"inventory", "get", "--rpc", url, "1234"},
	} {
		_, err := run(t, "", args...)
		require.Error(t, err, "%v", args)
	}
}
