package main

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// runApp runs the CLI in-process with stdin as standard input and returns what it wrote.
func runApp(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := newApp()
	app.Reader = strings.NewReader(stdin)
	app.Writer = &out
	app.ErrWriter = &errOut
	err = app.Run(flagsFirst(app, append([]string{"witnet-p2p"}, args...)))
	return out.String(), errOut.String(), err
}

// mustRun runs the CLI and requires success.
func mustRun(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, _, err := runApp(t, stdin, args...)
	require.NoError(t, err, "witnet-p2p %s", strings.Join(args, " "))
	return out
}

// vectorFile is the common layout of the files in protocol/testdata.
type vectorFile struct {
	Fixtures map[string]struct {
		Value any `json:"value"`
	} `json:"fixtures"`
	Vectors []struct {
		Name     string         `json:"name"`
		Category string         `json:"category"`
		Input    map[string]any `json:"input"`
		Expected map[string]any `json:"expected"`
	} `json:"vectors"`
}

func loadVectors(t *testing.T, name string) vectorFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "protocol", "testdata", name))
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // int64 extremes must stay exact
	var f vectorFile
	require.NoError(t, dec.Decode(&f))
	require.NotEmpty(t, f.Vectors)
	return f
}

// toolJSON turns a value written in the vectors' notation into the JSON the tool reads.
// The notations agree except for three conveniences of the vector files
// (protocol/vectors/README.md): fixtures referenced as {"$fixture": name}, the readability
// keys ip, port and ipv4_word beside Address.address, and "(any; not hashed)" for
// signatures that do not matter (here: none).
func (f vectorFile) toolJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(f.normalize(t, v))
	require.NoError(t, err)
	return string(b)
}

func (f vectorFile) normalize(t *testing.T, v any) any {
	switch v := v.(type) {
	case map[string]any:
		if name, ok := v["$fixture"].(string); ok {
			fx, found := f.Fixtures[name]
			require.True(t, found, "fixture %s", name)
			return f.normalize(t, fx.Value)
		}
		out := make(map[string]any, len(v))
		_, isAddress := v["address"]
		for k, e := range v {
			if isAddress && (k == "ip" || k == "port" || k == "ipv4_word") {
				continue
			}
			out[k] = f.normalize(t, e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = f.normalize(t, e)
		}
		return out
	case string:
		if v == "(any; not hashed)" {
			return []any{}
		}
	}
	return v
}

// jsonValue parses JSON for a structural comparison (numbers stay exact).
func jsonValue(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), s)
	return v
}

func frameHex(payloadHex string) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint32(nil, uint32(len(payloadHex)/2))) + payloadHex
}

func TestMessageVectors(t *testing.T) {
	f := loadVectors(t, "messages.json")
	for _, v := range f.Vectors {
		require.Equal(t, "message", v.Category, v.Name)
		t.Run(v.Name, func(t *testing.T) {
			wantHex, _ := v.Expected["bytes"].(string)
			require.NotEmpty(t, wantHex)
			vectorJSON := f.toolJSON(t, v.Input["message"])

			// The vector's structure encodes to the vector's bytes.
			require.Equal(t, wantHex+"\n", mustRun(t, "", "message", "encode", vectorJSON))

			// The bytes decode to the vector's structure.
			decoded := mustRun(t, "", "message", "decode", wantHex)
			require.Equal(t, jsonValue(t, vectorJSON), jsonValue(t, decoded))

			// decode | encode is byte-exact, through standard input as in a pipe.
			require.Equal(t, wantHex+"\n", mustRun(t, decoded, "message", "encode"))

			// Framed forms.
			framed := frameHex(wantHex)
			require.Equal(t, framed+"\n", mustRun(t, "", "message", "encode", "--framed", vectorJSON))
			require.Equal(t, decoded, mustRun(t, framed, "message", "decode", "--framed"))
		})
	}
}

// itemKinds maps hash vector categories to the --kind of `message hash` and the input key.
var itemKinds = map[string]struct{ kind, input string }{
	"block_hash":       {itemBlock, "block"},
	"transaction_hash": {itemTransaction, "transaction"},
	"superblock_hash":  {itemSuperBlock, "superblock"},
}

func TestHashVectors(t *testing.T) {
	f := loadVectors(t, "hashes.json")
	ran := 0
	for _, v := range f.Vectors {
		k, ok := itemKinds[v.Category]
		if !ok {
			continue // merkle roots and vote messages are not items
		}
		t.Run(v.Name, func(t *testing.T) {
			itemHex := itemBytesHex(t, f, k.kind, v.Input[k.input], v.Input["transaction_bytes"])
			args := []string{"message", "hash", "--kind", k.kind}
			if pv, ok := v.Input["protocol_version"].(string); ok {
				args = append(args, "--protocol", pv)
			}
			want, _ := v.Expected["hash"].(string)
			require.Len(t, want, 64)
			require.Equal(t, want+"\n", mustRun(t, "", append(args, itemHex)...))

			// The item as the command of a Message survives decode | encode byte for byte.
			msgHex := itemMessageHex(t, k.kind, itemHex)
			decoded := mustRun(t, "", "message", "decode", msgHex)
			require.Equal(t, msgHex+"\n", mustRun(t, decoded, "message", "encode"))
		})
		ran++
	}
	require.Equal(t, 9, ran, "block, transaction and superblock hash vectors")
}

// itemBytesHex returns the protobuf hex of an item vector: its transaction_bytes, or its
// structure parsed with the tool's JSON reader and marshalled.
func itemBytesHex(t *testing.T, f vectorFile, kind string, structured, rawHex any) string {
	t.Helper()
	if s, ok := rawHex.(string); ok {
		return s
	}
	require.NotNil(t, structured)
	item, err := newItem(kind)
	require.NoError(t, err)
	require.NoError(t, unmarshalJSON([]byte(f.toolJSON(t, structured)), item.ProtoReflect()))
	b, err := proto.Marshal(item)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func itemMessageHex(t *testing.T, kind, itemHex string) string {
	t.Helper()
	raw, err := hex.DecodeString(itemHex)
	require.NoError(t, err)
	var msg *pb.Message
	switch kind {
	case itemBlock:
		b := new(pb.Block)
		require.NoError(t, proto.Unmarshal(raw, b))
		msg = protocol.NewBlock(protocol.Magic, b)
	case itemTransaction:
		tx := new(pb.Transaction)
		require.NoError(t, proto.Unmarshal(raw, tx))
		msg = protocol.NewTransaction(protocol.Magic, tx)
	case itemSuperBlock:
		sb := new(pb.SuperBlock)
		require.NoError(t, proto.Unmarshal(raw, sb))
		msg = protocol.NewSuperBlock(protocol.Magic, sb)
	}
	b, err := protocol.Marshal(msg)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func TestTransactionBytesRoundTrip(t *testing.T) {
	// The wallet fixture's bytes are a real, signed value transfer: its JSON must give back
	// the exact bytes, signatures included.
	f := loadVectors(t, "hashes.json")
	for _, v := range f.Vectors {
		raw, ok := v.Input["transaction_bytes"].(string)
		if !ok {
			continue
		}
		b, err := hex.DecodeString(raw)
		require.NoError(t, err)
		tx := new(pb.Transaction)
		require.NoError(t, proto.Unmarshal(b, tx))
		js, err := marshalJSON(tx.ProtoReflect())
		require.NoError(t, err)
		back := new(pb.Transaction)
		require.NoError(t, unmarshalJSON(js, back.ProtoReflect()))
		got, err := proto.Marshal(back)
		require.NoError(t, err)
		require.Equal(t, raw, hex.EncodeToString(got))
		return
	}
	t.Fatal("no transaction_bytes vector in hashes.json")
}

func TestJSONEdgeCases(t *testing.T) {
	hash := func(b byte) *pb.Hash { return &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: bytes.Repeat([]byte{b}, 32)}} }
	tests := []struct {
		name string
		msg  *pb.Message
		json string // the exact compact form expected, when given
	}{
		{
			name: "superblock entry 0 and an empty hash oneof",
			msg: &pb.Message{Magic: 10700, Kind: &pb.Message_Command{Kind: &pb.Message_Command_InventoryRequest{
				InventoryRequest: &pb.InventoryRequest{Inventory: []*pb.InventoryEntry{
					{Kind: &pb.InventoryEntry_SuperBlock{SuperBlock: 0}},
					{Kind: &pb.InventoryEntry_Block{Block: &pb.Hash{Kind: &pb.Hash_SHA256{SHA256: []byte{}}}}},
					{Kind: &pb.InventoryEntry_Tx{Tx: &pb.Hash{}}},
					{},
				}},
			}}},
			json: `{"magic":10700,"kind":{"InventoryRequest":{"inventory":[{"SuperBlock":0},{"Block":""},{"Tx":{}},{}]}}}`,
		},
		{
			name: "integer extremes, unset and empty sub-messages",
			msg: &pb.Message{Magic: math.MaxUint32, Kind: &pb.Message_Command{Kind: &pb.Message_Command_Version{
				Version: &pb.Version{
					Version: math.MaxUint32, Timestamp: math.MinInt64, Capabilities: math.MaxUint64,
					SenderAddress: &pb.Address{}, UserAgent: `a "quoted" <&> agent ✓`, Nonce: 1,
					Beacon: &pb.LastBeacon{HighestBlockCheckpoint: &pb.CheckpointBeacon{Checkpoint: math.MaxUint32, HashPrevBlock: hash(7)}},
				},
			}}},
		},
		{
			name: "wrappers and enums",
			msg: &pb.Message{Kind: &pb.Message_Command{Kind: &pb.Message_Command_Transaction{Transaction: &pb.Transaction{
				Kind: &pb.Transaction_DataRequest{DataRequest: &pb.DRTransaction{
					Body: &pb.DRTransactionBody{
						Outputs: []*pb.ValueTransferOutput{{Pkh: &pb.PublicKeyHash{Hash: bytes.Repeat([]byte{1}, 20)}, Value: math.MaxUint64}},
						DrOutput: &pb.DataRequestOutput{DataRequest: &pb.DataRequestOutput_RADRequest{
							Retrieve: []*pb.DataRequestOutput_RADRequest_RADRetrieve{{Kind: 7, Url: "https://x/?a=1&b=2"}},
						}},
					},
					Signatures: []*pb.KeyedSignature{{PublicKey: &pb.PublicKey{}}},
				}},
			}}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, err := proto.Marshal(tc.msg)
			require.NoError(t, err)
			js, err := marshalJSON(tc.msg.ProtoReflect())
			require.NoError(t, err)
			if tc.json != "" {
				var compact bytes.Buffer
				require.NoError(t, json.Compact(&compact, js))
				require.Equal(t, tc.json, compact.String())
			}
			back := new(pb.Message)
			require.NoError(t, unmarshalJSON(js, back.ProtoReflect()), string(js))
			require.True(t, proto.Equal(tc.msg, back), "JSON:\n%s", js)
			got, err := proto.Marshal(back)
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

func TestJSONLenientInput(t *testing.T) {
	// Forms the parser accepts beyond what marshalJSON writes; want "" means an error.
	tests := []struct{ name, in, want string }{
		{"full Hash form", `{"kind":{"InventoryAnnouncement":{"inventory":[{"Tx":{"SHA256":"` + strings.Repeat("0A", 32) + `"}}]}}}`,
			`{"magic":0,"kind":{"InventoryAnnouncement":{"inventory":[{"Tx":"` + strings.Repeat("0a", 32) + `"}]}}}`},
		{"numbers as strings, null as unset", `{"magic":"10700","kind":{"Verack":{}},"nothing":null}`, ""},
		{"null sub-message", `{"magic":1,"kind":null}`, `{"magic":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(pb.Message)
			err := unmarshalJSON([]byte(tc.in), m.ProtoReflect())
			if tc.want == "" {
				require.Error(t, err) // "nothing" is not a field
				return
			}
			require.NoError(t, err)
			js, err := marshalJSON(m.ProtoReflect())
			require.NoError(t, err)
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, js))
			require.Equal(t, jsonValue(t, tc.want), jsonValue(t, compact.String()))
		})
	}
	m := new(pb.Message)
	require.NoError(t, unmarshalJSON([]byte(`{"magic":"10700","kind":{"Verack":{}}}`), m.ProtoReflect()))
	require.Equal(t, uint32(10700), m.GetMagic())
	require.NotNil(t, m.GetKind().GetVerack())

	tx := new(pb.Transaction)
	require.NoError(t, unmarshalJSON([]byte(`{"DataRequest":{"body":{"dr_output":{"data_request":{"retrieve":[{"kind":"HttpGet"}]}}}}}`), tx.ProtoReflect()))
	require.Equal(t, pb.DataRequestOutput_RADRequest_HttpGet,
		tx.GetDataRequest().GetBody().GetDrOutput().GetDataRequest().GetRetrieve()[0].GetKind())
}

func TestEncodeRejects(t *testing.T) {
	short := strings.Repeat("01", 31)
	tests := []struct {
		name, json, want string
		noValidateOK     bool // accepted with --no-validate
	}{
		{"not JSON", `{"magic":`, "unexpected end of JSON", false},
		{"not an object", `[1]`, "expected an object", false},
		{"trailing data", `{"kind":{"Verack":{}}} {}`, "unexpected data after the message", false},
		{"unknown field", `{"kind":{"Verack":{}},"colour":1}`, `unknown field "colour" in witnet.Message`, false},
		{"duplicate key", `{"magic":1,"magic":2,"kind":{"Verack":{}}}`, `"magic" appears twice`, false},
		{"two oneof members", `{"kind":{"Verack":{},"GetPeers":{}}}`, "same oneof", false},
		{"magic out of uint32", `{"magic":4294967296,"kind":{"Verack":{}}}`, "not a 32-bit unsigned integer", false},
		{"negative unsigned", `{"magic":-1,"kind":{"Verack":{}}}`, "not a 32-bit unsigned integer", false},
		{"fraction", `{"magic":1.5,"kind":{"Verack":{}}}`, "not a 32-bit unsigned integer", false},
		{"timestamp beyond int64", `{"kind":{"Version":{"timestamp":9223372036854775808}}}`, "kind.Version.timestamp", false},
		{"string for a number", `{"magic":"ten","kind":{"Verack":{}}}`, "not a 32-bit unsigned integer", false},
		{"bad hex", `{"kind":{"Peers":{"peers":[{"address":"c0a80101xx"}]}}}`, "kind.Peers.peers[0].address: invalid hex", false},
		{"null in a list", `{"kind":{"Peers":{"peers":[null]}}}`, "null is not allowed", false},
		{"string for a message", `{"kind":{"Verack":"x"}}`, "expected an object for witnet.Verack", false},
		{"unknown enum name", `{"kind":{"Transaction":{"DataRequest":{"body":{"dr_output":{"data_request":{"retrieve":[{"kind":"Ftp"}]}}}}}}}`, "enum", false},
		{"no command", `{"magic":10700}`, "kind", false},
		{"magic above 16 bits", `{"magic":65536,"kind":{"Verack":{}}}`, "magic", true},
		{"hash of 31 bytes", `{"kind":{"InventoryRequest":{"inventory":[{"Block":"` + short + `"}]}}}`, "hash_length", true},
		{"bad address length", `{"kind":{"Peers":{"peers":[{"address":"c0a8"}]}}}`, "address", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runApp(t, "", "message", "encode", tc.json)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n")
			require.Empty(t, out)

			_, _, err = runApp(t, "", "message", "encode", "--no-validate", tc.json)
			if tc.noValidateOK {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

func TestEncodeCanonical(t *testing.T) {
	// block_example without its (empty) BN256 key: as given, the key is not written; with
	// --canonical it is written as witnet-rust writes it (2a 00), giving the vector's bytes.
	f := loadVectors(t, "messages.json")
	for _, v := range f.Vectors {
		if v.Name != "message_block_example_v2_0" {
			continue
		}
		want, _ := v.Expected["bytes"].(string)
		var msg map[string]any
		require.NoError(t, json.Unmarshal([]byte(f.toolJSON(t, v.Input["message"])), &msg))
		header := msg["kind"].(map[string]any)["Block"].(map[string]any)["block_header"].(map[string]any)
		require.Contains(t, header, "bn256_public_key")
		delete(header, "bn256_public_key")
		in, err := json.Marshal(msg)
		require.NoError(t, err)

		plain := strings.TrimSpace(mustRun(t, "", "message", "encode", string(in)))
		require.Len(t, plain, len(want)-4, "two bytes shorter")
		require.Equal(t, want+"\n", mustRun(t, "", "message", "encode", "--canonical", string(in)))
		return
	}
	t.Fatal("vector message_block_example_v2_0 not found")
}

func TestBadInputs(t *testing.T) {
	const verack = "0801120212" // magic 1, then a command that is cut short
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"decode odd hex", "", []string{"message", "decode", "123"}, "odd length"},
		{"decode not hex", "", []string{"message", "decode", "zz"}, "invalid HEX"},
		{"decode garbage bytes", "", []string{"message", "decode", "ffffffff"}, "decode"},
		{"decode truncated message", "", []string{"message", "decode", verack}, "decode"},
		{"decode empty argument", "", []string{"message", "decode", " "}, "no HEX given"},
		{"decode empty stdin", " \n", []string{"message", "decode"}, "no HEX given"},
		{"decode two arguments", "", []string{"message", "decode", "00", "00"}, "expected one HEX argument"},
		{"decode valid protobuf without command", "", []string{"message", "decode", "0801"}, "decode"},
		{"decode framed short header", "", []string{"message", "decode", "--framed", "0000"}, "shorter than the 4-byte header"},
		{"decode framed truncated", "", []string{"message", "decode", "--framed", "0000000512021a00"}, "truncated payload"},
		{"decode framed trailing", "", []string{"message", "decode", "--framed", "0000000412021a0000"}, "1 bytes follow the frame"},
		{"decode framed too large", "", []string{"message", "decode", "--framed", "ffffffff00"}, "exceeds the maximum"},
		{"decode unknown flag", "", []string{"message", "decode", "--bogus", "00"}, "flag provided but not defined"},
		{"encode empty", "", []string{"message", "encode"}, "no JSON given"},
		{"hash unknown kind", "", []string{"message", "hash", "--kind", "receipt", "00"}, `unknown --kind "receipt"`},
		{"hash no kind", "", []string{"message", "hash", "00"}, "kind"},
		{"hash bad protocol", "", []string{"message", "hash", "--kind", "block", "--protocol", "v3.0", "00"}, "invalid --protocol"},
		{"hash protocol for a transaction", "", []string{"message", "hash", "--kind", "transaction", "--protocol", "v2.0", "00"}, "applies only to --kind block"},
		{"hash odd hex", "", []string{"message", "hash", "--kind", "superblock", "abc"}, "odd length"},
		{"hash garbage", "", []string{"message", "hash", "--kind", "transaction", "ffff"}, "not a protobuf transaction"},
		{"hash empty", "", []string{"message", "hash", "--kind", "block"}, "no HEX given"},
		{"hash empty block", "", []string{"message", "hash", "--kind", "block", "0a00"}, "invalid"},
		{"hash transaction without kind", "", []string{"message", "hash", "--kind", "transaction", "00"}, ""},
		{"unknown message command", "", []string{"message", "sign"}, `unknown message command "sign"`},
		{"version with an argument", "", []string{"version", "x"}, "no arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runApp(t, tc.stdin, tc.args...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.NotContains(t, err.Error(), "\n", "one-line error")
			require.Empty(t, out)
		})
	}
}

func TestVersion(t *testing.T) {
	out := mustRun(t, "", "version")
	require.True(t, strings.HasPrefix(out, "witnet-p2p "+protocol.SoftwareVersion+" ("), out)
	require.Contains(t, out, runtime.Version())
	require.Equal(t, 1, strings.Count(out, "\n"))
}

func TestLineError(t *testing.T) {
	inner := errors.New("first\nsecond\r\nthird")
	err := error(lineError{inner})
	require.Equal(t, "first second third", err.Error())
	require.ErrorIs(t, err, inner)
}

// TestBinaryBadInput builds the real binary and checks what a shell sees: exit code 1 and
// one line on standard error for bad input, exit code 0 for good input.
func TestBinaryBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "witnet-p2p")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	run := func(stdin string, args ...string) (stdout, stderr string, code int) {
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return out.String(), errOut.String(), code
	}

	for _, args := range [][]string{
		{"message", "decode", "abc"},
		{"message", "decode", "ffffffff"},
		{"message", "encode", "{"},
		{"message", "hash", "--kind", "nope", "00"},
		{"message", "hash", "--kind", "block", "--protocol", "v0.1", "00"},
		{"message", "decode", "--nope"},
		{"message", "nope"},
	} {
		stdout, stderr, code := run("", args...)
		require.Equal(t, 1, code, "%v", args)
		require.Empty(t, stdout, "%v", args)
		require.True(t, strings.HasPrefix(stderr, "witnet-p2p: "), "%v: %q", args, stderr)
		require.Equal(t, 1, strings.Count(stderr, "\n"), "%v: %q", args, stderr)
		require.True(t, strings.HasSuffix(stderr, "\n"), "%v: %q", args, stderr)
	}

	stdout, stderr, code := run("12021a00\n", "message", "decode")
	require.Zero(t, code, stderr)
	stdout, stderr, code = run(stdout, "message", "encode")
	require.Zero(t, code, stderr)
	require.Equal(t, "12021a00\n", stdout)
}
