package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// This file loads the public test vectors (testdata/*.json, format in testdata/VECTORS.md)
// and converts their JSON rendering of Witnet values into pb types. The converter is shared
// by every test of the package: vectorToMessage, vectorToBlock and vectorToTransaction for
// the common cases, vectorToPB for any other message type.
//
// JSON conventions handled (VECTORS.md "Value conventions"): object keys are schema field
// names (oneof members by member name); a string where a Hash, PublicKeyHash or PublicKey
// message is expected is its hex bytes; bytes fields are hex; integers are JSON numbers
// read exactly (int64 extremes included); enums are numbers; {"$fixture": name} stands for
// a fixture of the same file; a string where a list is expected (e.g. "(any; not hashed)")
// means "any value" and is read as an empty list; null leaves the field unset; Address
// objects carry extra readability keys (ip, port, ipv4_word, ...) that are ignored.

// vectorFile is one testdata/*.json vector file.
type vectorFile struct {
	Name     string
	Fixtures map[string]vectorFixture `json:"fixtures"`
	Vectors  []vectorCase             `json:"vectors"`
}

type vectorFixture struct {
	Description string          `json:"description"`
	Value       json.RawMessage `json:"value"`
}

// vectorCase is one vector; Input and Expected keep their members raw for per-category
// decoding.
type vectorCase struct {
	Name     string                     `json:"name"`
	Category string                     `json:"category"`
	Input    map[string]json.RawMessage `json:"input"`
	Expected map[string]json.RawMessage `json:"expected"`
}

// loadVectors reads testdata/<name> (e.g. "messages.json").
func loadVectors(t testing.TB, name string) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	f := &vectorFile{Name: name}
	require.NoError(t, json.Unmarshal(raw, f), "parse %s", name)
	require.NotEmpty(t, f.Vectors, "%s has no vectors", name)
	return f
}

// vectorsOf returns the vectors of one category; it fails the test if there are none, so a
// renamed category cannot silently skip a test.
func (f *vectorFile) vectorsOf(t testing.TB, category string) []vectorCase {
	t.Helper()
	var out []vectorCase
	for _, v := range f.Vectors {
		if v.Category == category {
			out = append(out, v)
		}
	}
	require.NotEmpty(t, out, "%s: no %q vectors", f.Name, category)
	return out
}

// vectorToMessage converts a JSON Message ({"magic": n, "kind": {"<Command>": {...}}}).
func vectorToMessage(t testing.TB, f *vectorFile, raw json.RawMessage) *pb.Message {
	t.Helper()
	m := new(pb.Message)
	vectorToPB(t, f, raw, m)
	return m
}

// vectorToBlock converts a JSON Block (or {"$fixture": "block_example"}).
func vectorToBlock(t testing.TB, f *vectorFile, raw json.RawMessage) *pb.Block {
	t.Helper()
	b := new(pb.Block)
	vectorToPB(t, f, raw, b)
	return b
}

// vectorToTransaction converts a JSON Transaction ({"DataRequest": {...}} or a fixture).
func vectorToTransaction(t testing.TB, f *vectorFile, raw json.RawMessage) *pb.Transaction {
	t.Helper()
	tx := new(pb.Transaction)
	vectorToPB(t, f, raw, tx)
	return tx
}

// vectorToPB fills m (a new, empty message) from its JSON rendering; f supplies fixtures and
// may be nil when raw uses none.
func vectorToPB(t testing.TB, f *vectorFile, raw json.RawMessage, m proto.Message) {
	t.Helper()
	v, err := decodeJSONNumbers(raw)
	require.NoError(t, err)
	require.NoError(t, fillMessage(f, m.ProtoReflect(), v, string(m.ProtoReflect().Descriptor().Name())))
}

// decodeJSONNumbers decodes raw keeping numbers as json.Number, so int64 extremes are exact.
func decodeJSONNumbers(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Keys of Address objects that are there for readability only.
var addressExtraKeys = map[string]bool{"ip": true, "port": true, "ipv4_word": true, "ipv6_words": true, "family": true, "socket": true}

func fillMessage(f *vectorFile, m protoreflect.Message, v any, path string) error {
	md := m.Descriptor()
	if s, ok := v.(string); ok {
		// Hash, PublicKeyHash and PublicKey are written as their hex bytes.
		b, err := hex.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		switch md.FullName() {
		case "witnet.Hash", "witnet.PublicKeyHash", "witnet.PublicKey":
			m.Set(md.Fields().Get(0), protoreflect.ValueOfBytes(b))
			return nil
		}
		return fmt.Errorf("%s: string given for message %s", path, md.FullName())
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object for %s, got %T", path, md.FullName(), v)
	}
	if name, ok := obj["$fixture"]; ok {
		if f == nil {
			return fmt.Errorf("%s: fixture %v without a vector file", path, name)
		}
		fx, ok := f.Fixtures[fmt.Sprint(name)]
		if !ok {
			return fmt.Errorf("%s: unknown fixture %v", path, name)
		}
		fv, err := decodeJSONNumbers(fx.Value)
		if err != nil {
			return fmt.Errorf("%s: fixture %v: %w", path, name, err)
		}
		return fillMessage(f, m, fv, path+"($"+fmt.Sprint(name)+")")
	}
	for key, val := range obj {
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			if md.FullName() == "witnet.Address" && addressExtraKeys[key] {
				continue
			}
			return fmt.Errorf("%s: %s has no field %q", path, md.FullName(), key)
		}
		if err := fillField(f, m, fd, val, path+"."+key); err != nil {
			return err
		}
	}
	return nil
}

func fillField(f *vectorFile, m protoreflect.Message, fd protoreflect.FieldDescriptor, v any, path string) error {
	if v == nil {
		return nil
	}
	if fd.IsList() {
		items, ok := v.([]any)
		if !ok {
			if _, any := v.(string); any {
				return nil // "(any; ...)": the value does not matter
			}
			return fmt.Errorf("%s: want a list, got %T", path, v)
		}
		list := m.Mutable(fd).List()
		for i, item := range items {
			ipath := path + "[" + strconv.Itoa(i) + "]"
			if fd.Message() != nil {
				elem := list.NewElement()
				if err := fillMessage(f, elem.Message(), item, ipath); err != nil {
					return err
				}
				list.Append(elem)
				continue
			}
			sv, err := scalarValue(fd, item, ipath)
			if err != nil {
				return err
			}
			list.Append(sv)
		}
		return nil
	}
	if fd.Message() != nil {
		return fillMessage(f, m.Mutable(fd).Message(), v, path)
	}
	sv, err := scalarValue(fd, v, path)
	if err != nil {
		return err
	}
	m.Set(fd, sv)
	return nil
}

func scalarValue(fd protoreflect.FieldDescriptor, v any, path string) (protoreflect.Value, error) {
	num := func() (string, error) {
		n, ok := v.(json.Number)
		if !ok {
			return "", fmt.Errorf("%s: want a number, got %T", path, v)
		}
		return n.String(), nil
	}
	switch fd.Kind() {
	case protoreflect.BytesKind:
		s, ok := v.(string)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("%s: want hex, got %T", path, v)
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return protoreflect.Value{}, fmt.Errorf("%s: %w", path, err)
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.StringKind:
		s, ok := v.(string)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("%s: want a string, got %T", path, v)
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BoolKind:
		b, ok := v.(bool)
		if !ok {
			return protoreflect.Value{}, fmt.Errorf("%s: want a bool, got %T", path, v)
		}
		return protoreflect.ValueOfBool(b), nil
	case protoreflect.EnumKind:
		s, err := num()
		if err != nil {
			return protoreflect.Value{}, err
		}
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(n)), wrapPath(path, err)
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		s, err := num()
		if err != nil {
			return protoreflect.Value{}, err
		}
		n, err := strconv.ParseInt(s, 10, 32)
		return protoreflect.ValueOfInt32(int32(n)), wrapPath(path, err)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		s, err := num()
		if err != nil {
			return protoreflect.Value{}, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return protoreflect.ValueOfInt64(n), wrapPath(path, err)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		s, err := num()
		if err != nil {
			return protoreflect.Value{}, err
		}
		n, err := strconv.ParseUint(s, 10, 32)
		return protoreflect.ValueOfUint32(uint32(n)), wrapPath(path, err)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		s, err := num()
		if err != nil {
			return protoreflect.Value{}, err
		}
		n, err := strconv.ParseUint(s, 10, 64)
		return protoreflect.ValueOfUint64(n), wrapPath(path, err)
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		s, err := num()
		if err != nil {
			return protoreflect.Value{}, err
		}
		x, err := strconv.ParseFloat(s, 64)
		if fd.Kind() == protoreflect.FloatKind {
			return protoreflect.ValueOfFloat32(float32(x)), wrapPath(path, err)
		}
		return protoreflect.ValueOfFloat64(x), wrapPath(path, err)
	}
	return protoreflect.Value{}, fmt.Errorf("%s: unsupported kind %s", path, fd.Kind())
}

func wrapPath(path string, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// vectorHex decodes a JSON string of hex bytes.
func vectorHex(t testing.TB, raw json.RawMessage) []byte {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s))
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestVectorsMessages runs every "message" vector both ways: the converted input marshals
// to expected.bytes, and expected.bytes unmarshal (and validate) to the converted input.
func TestVectorsMessages(t *testing.T) {
	f := loadVectors(t, "messages.json")
	for _, v := range f.vectorsOf(t, "message") {
		t.Run(v.Name, func(t *testing.T) {
			want := vectorHex(t, v.Expected["bytes"])
			var length int
			require.NoError(t, json.Unmarshal(v.Expected["length"], &length))
			require.Len(t, want, length)
			if pv, ok := v.Input["protocol_version"]; ok {
				// Every protocol version sends the current schema (WIRE.md 12); the vectors
				// give V1_8 and V2_0 forms, which are the same bytes.
				var s string
				require.NoError(t, json.Unmarshal(pv, &s))
				ver, err := ParseProtocolVersion(s)
				require.NoError(t, err)
				require.NotEqual(t, V1_7, ver, "a V1_7 message vector would need the LegacyMessage form")
			}
			msg := vectorToMessage(t, f, v.Input["message"])

			got, err := Marshal(msg)
			require.NoError(t, err)
			require.Equal(t, hex.EncodeToString(want), hex.EncodeToString(got), "encode")

			dec, err := Unmarshal(want)
			require.NoError(t, err, "decode")
			require.True(t, proto.Equal(msg, dec), "decode mismatch:\nwant %v\ngot  %v", msg, dec)
			require.NotEqual(t, KindNone, KindOf(dec))
		})
	}
}

// TestVectorsAddresses runs every "address" vector against LegacyAddress/ParseLegacyAddress.
func TestVectorsAddresses(t *testing.T) {
	f := loadVectors(t, "addresses.json")
	for _, v := range f.vectorsOf(t, "address") {
		t.Run(v.Name, func(t *testing.T) {
			var in, exp struct {
				Socket       string   `json:"socket"`
				Family       string   `json:"family"`
				IPv4Word     uint32   `json:"ipv4_word"`
				IPv6Words    []uint32 `json:"ipv6_words"`
				Port         uint16   `json:"port"`
				AddressBytes string   `json:"address_bytes"`
				AddressMsg   string   `json:"address_message"`
			}
			require.NoError(t, json.Unmarshal(mustJSON(t, v.Input), &in))
			require.NoError(t, json.Unmarshal(mustJSON(t, v.Expected), &exp))

			// wordsToBytes renders witnet words + port as Address.address bytes.
			wordsToBytes := func(family string, w4 uint32, w6 []uint32, port uint16) []byte {
				var b []byte
				switch family {
				case "ipv4":
					b = be32(w4)
				case "ipv6":
					require.Len(t, w6, 4)
					for _, w := range w6 {
						b = append(b, be32(w)...)
					}
				default:
					t.Fatalf("unknown family %q", family)
				}
				return append(b, byte(port>>8), byte(port))
			}

			switch {
			case in.Socket != "" && exp.Family != "": // socket -> witnet words
				ap := mustAddrPort(t, in.Socket)
				got := LegacyAddress(ap)
				require.Equal(t, wordsToBytes(exp.Family, exp.IPv4Word, exp.IPv6Words, exp.Port), got)
				back, err := ParseLegacyAddress(got)
				require.NoError(t, err)
				require.Equal(t, ap, back)
			case in.Family != "": // witnet words -> socket
				b := wordsToBytes(in.Family, in.IPv4Word, in.IPv6Words, in.Port)
				ap, err := ParseLegacyAddress(b)
				require.NoError(t, err)
				require.Equal(t, exp.Socket, ap.String())
			case exp.AddressBytes != "": // socket -> bytes and Address message
				ap := mustAddrPort(t, in.Socket)
				got := LegacyAddress(ap)
				require.Equal(t, exp.AddressBytes, hex.EncodeToString(got))
				if in.IPv4Word != 0 {
					require.Equal(t, be32(in.IPv4Word), got[:4])
				}
				msg, err := proto.Marshal(&pb.Address{Address: got})
				require.NoError(t, err)
				require.Equal(t, exp.AddressMsg, hex.EncodeToString(msg))
				a, err := ParseAddress(got)
				require.NoError(t, err)
				gotAP, ok := a.AddrPort()
				require.True(t, ok)
				require.Equal(t, ap, gotAP)
			default:
				t.Fatalf("vector shape not understood: %s", v.Name)
			}
		})
	}
}

// TestVectorsHandshake runs every beacon_compatibility and timestamp_drift vector.
func TestVectorsHandshake(t *testing.T) {
	f := loadVectors(t, "handshake.json")
	for _, v := range f.vectorsOf(t, "beacon_compatibility") {
		t.Run(v.Name, func(t *testing.T) {
			current := new(pb.LastBeacon)
			vectorToPB(t, f, v.Input["current_beacon"], current)
			received := new(pb.LastBeacon)
			vectorToPB(t, f, v.Input["received_beacon"], received)
			var epoch uint32
			require.NoError(t, json.Unmarshal(v.Input["current_epoch"], &epoch))
			var target *pb.CheckpointBeacon
			if raw := v.Input["target_superblock_beacon"]; len(raw) > 0 && string(raw) != "null" {
				target = new(pb.CheckpointBeacon)
				vectorToPB(t, f, raw, target)
			}
			var want string
			require.NoError(t, json.Unmarshal(v.Expected["result"], &want))

			err := CheckBeacon(current, received, epoch, target)
			if want == "ok" {
				require.NoError(t, err)
				return
			}
			var he HandshakeError
			require.ErrorAs(t, err, &he)
			require.Equal(t, want, he.String())
		})
	}
	for _, v := range f.vectorsOf(t, "timestamp_drift") {
		t.Run(v.Name, func(t *testing.T) {
			var now, maxDiff int64
			require.NoError(t, json.Unmarshal(v.Input["current_ts"], &now))
			require.NoError(t, json.Unmarshal(v.Input["max_ts_diff"], &maxDiff))
			var valid, invalid []int64 // encoding/json reads int64 exactly
			require.NoError(t, json.Unmarshal(v.Expected["valid"], &valid))
			require.NoError(t, json.Unmarshal(v.Expected["invalid"], &invalid))
			require.NotEmpty(t, append(valid, invalid...))
			for _, ts := range valid {
				require.NoError(t, CheckTimestamp(ts, now, maxDiff), "ts %d", ts)
			}
			for _, ts := range invalid {
				require.ErrorIs(t, CheckTimestamp(ts, now, maxDiff), DifferentTimestamp, "ts %d", ts)
			}
		})
	}
}

func mustJSON(t testing.TB, m map[string]json.RawMessage) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

func be32(w uint32) []byte { return []byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)} }
