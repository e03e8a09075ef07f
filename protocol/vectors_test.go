package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// This file loads the public test vectors (testdata/*.json, format in testdata/VECTORS.md)
// and holds the one converter from their JSON rendering of Witnet values to pb types, used
// by every test of the package: vectorTo for any message type (exampleBlock and
// exampleTransaction for the shared fixtures), vectorObject for the input and expected
// objects around the values.
//
// JSON conventions (VECTORS.md "Value conventions"): object keys are schema field names
// (oneof members by member name); a string where a Hash, PublicKeyHash or PublicKey message
// is expected is its hex bytes; bytes fields are hex; integers are JSON numbers read
// exactly (int64 extremes included); enums are numbers; {"$fixture": name} stands for a
// fixture of the same file; a string where a list is expected ("(any; not hashed)") means
// the value must not matter and is read as one made-up element; Address objects carry
// extra readability keys (ip, port, ipv4_word, ...) that are skipped.
//
// The conversion is strict, so that a vector can never be half-read: a key that names no
// field, a field left out (for a oneof: anything but exactly one member), a null, a Hash,
// PublicKeyHash or PublicKey of the wrong size, or a number out of its field's range fails
// the test. vectorObject.done does the same for input and expected keys no test read.

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
// decoding (see vectorObject).
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

// fixtureRef is the JSON reference to fixture name.
func fixtureRef(name string) json.RawMessage {
	return json.RawMessage(`{"$fixture": ` + strconv.Quote(name) + `}`)
}

// exampleBlock returns a fresh copy of the block_example fixture (the same in messages.json
// and hashes.json).
func exampleBlock(t testing.TB) *pb.Block {
	t.Helper()
	return vectorTo[*pb.Block](t, loadVectors(t, "hashes.json"), fixtureRef("block_example"))
}

// exampleTransaction returns a fresh copy of the transaction_example fixture (a data
// request; the same in messages.json and hashes.json).
func exampleTransaction(t testing.TB) *pb.Transaction {
	t.Helper()
	return vectorTo[*pb.Transaction](t, loadVectors(t, "hashes.json"), fixtureRef("transaction_example"))
}

// vectorTo converts raw, the JSON rendering of a value of type M (e.g. *pb.Message,
// *pb.Block, *pb.Transaction, or a fixture reference), into a new M; f supplies fixtures
// and may be nil when raw uses none.
func vectorTo[M proto.Message](t testing.TB, f *vectorFile, raw json.RawMessage) M {
	t.Helper()
	var zero M
	m := zero.ProtoReflect().Type().New()
	v, err := decodeJSONNumbers(raw)
	require.NoError(t, err)
	require.NoError(t, fillMessage(f, m, v, string(m.Descriptor().Name())))
	return m.Interface().(M)
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

// hexValueLen gives the size of the message types written as a hex string.
var hexValueLen = map[protoreflect.FullName]int{
	"witnet.Hash":          HashSize,
	"witnet.PublicKeyHash": pkhLen,
	"witnet.PublicKey":     publicKeyLen,
}

func fillMessage(f *vectorFile, m protoreflect.Message, v any, path string) error {
	md := m.Descriptor()
	if s, ok := v.(string); ok {
		n, ok := hexValueLen[md.FullName()]
		if !ok {
			return fmt.Errorf("%s: string given for message %s", path, md.FullName())
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if len(b) != n {
			return fmt.Errorf("%s: %s of %d bytes, want %d", path, md.Name(), len(b), n)
		}
		m.Set(md.Fields().Get(0), protoreflect.ValueOfBytes(b))
		return nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: want an object for %s, got %T", path, md.FullName(), v)
	}
	if name, ok := obj["$fixture"]; ok {
		if len(obj) != 1 {
			return fmt.Errorf("%s: fixture reference with other keys", path)
		}
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
	// Keys in sorted order, so that the first error is always the same one.
	keys := make([]string, 0, len(obj))
	for key := range obj {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			if md.FullName() == "witnet.Address" && addressExtraKeys[key] {
				continue
			}
			return fmt.Errorf("%s: %s has no field %q", path, md.FullName(), key)
		}
		if err := fillField(f, m, fd, obj[key], path+"."+key); err != nil {
			return err
		}
	}
	return checkComplete(md, obj, path)
}

// checkComplete fails when obj leaves out a field of md, or does not set exactly one member
// of each oneof.
func checkComplete(md protoreflect.MessageDescriptor, obj map[string]any, path string) error {
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil {
			continue
		}
		if _, ok := obj[string(fd.Name())]; !ok {
			return fmt.Errorf("%s: %s field %q left out", path, md.FullName(), fd.Name())
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		var set []string
		for j := 0; j < od.Fields().Len(); j++ {
			if name := string(od.Fields().Get(j).Name()); obj[name] != nil {
				set = append(set, name)
			}
		}
		if len(set) != 1 {
			return fmt.Errorf("%s: %s oneof %q has members %v, want exactly one", path, md.FullName(), od.Name(), set)
		}
	}
	return nil
}

func fillField(f *vectorFile, m protoreflect.Message, fd protoreflect.FieldDescriptor, v any, path string) error {
	if v == nil {
		return fmt.Errorf("%s: null", path)
	}
	if fd.IsList() {
		list := m.Mutable(fd).List()
		items, ok := v.([]any)
		if !ok {
			if _, any := v.(string); any {
				// "(any; ...)": the value must not matter, so one made-up element stands
				// for it (the canonical empty message, or the zero scalar).
				elem := list.NewElement()
				if fd.Message() != nil {
					Canonicalize(elem.Message().Interface())
				}
				list.Append(elem)
				return nil
			}
			return fmt.Errorf("%s: want a list, got %T", path, v)
		}
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

// vectorObject reads one JSON object of a vector (its input, its expected result, or a part
// of them) and remembers which keys were read, so that done can fail on keys no test
// looked at.
type vectorObject struct {
	t    testing.TB
	path string
	m    map[string]json.RawMessage
	used map[string]bool
}

func newVectorObject(t testing.TB, path string, m map[string]json.RawMessage) *vectorObject {
	t.Helper()
	require.NotNilf(t, m, "%s: missing", path)
	return &vectorObject{t: t, path: path, m: m, used: map[string]bool{}}
}

// has reports whether key is present, without counting it as read.
func (o *vectorObject) has(key string) bool {
	_, ok := o.m[key]
	return ok
}

// get returns the raw value of key, which must be present.
func (o *vectorObject) get(key string) json.RawMessage {
	o.t.Helper()
	v, ok := o.m[key]
	require.Truef(o.t, ok, "%s: missing key %q", o.path, key)
	o.used[key] = true
	return v
}

// done fails the test if the object has keys that were never read.
func (o *vectorObject) done() {
	o.t.Helper()
	var extra []string
	for k := range o.m {
		if !o.used[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	require.Emptyf(o.t, extra, "%s: keys not read", o.path)
}

// decode reads key into dst, refusing unknown keys of a struct dst.
func (o *vectorObject) decode(key string, dst any) {
	o.t.Helper()
	dec := json.NewDecoder(bytes.NewReader(o.get(key)))
	dec.DisallowUnknownFields()
	require.NoErrorf(o.t, dec.Decode(dst), "%s.%s", o.path, key)
}

func (o *vectorObject) obj(key string) *vectorObject {
	o.t.Helper()
	var m map[string]json.RawMessage
	o.decode(key, &m)
	return newVectorObject(o.t, o.path+"."+key, m)
}

func (o *vectorObject) str(key string) string {
	o.t.Helper()
	var s string
	o.decode(key, &s)
	return s
}

// u32 reads a number that must fit in a uint32 (encoding/json refuses anything else).
func (o *vectorObject) u32(key string) uint32 {
	o.t.Helper()
	var n uint32
	o.decode(key, &n)
	return n
}

// hex decodes a hex string; n >= 0 also checks its length in bytes.
func (o *vectorObject) hex(key string, n int) []byte {
	o.t.Helper()
	b, err := hex.DecodeString(o.str(key))
	require.NoErrorf(o.t, err, "%s.%s", o.path, key)
	if n >= 0 {
		require.Lenf(o.t, b, n, "%s.%s", o.path, key)
	}
	return b
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

// TestVectorsMessages runs every "message" vector both ways: the converted input marshals
// to expected.bytes, and expected.bytes unmarshal (and validate) to the converted input.
func TestVectorsMessages(t *testing.T) {
	f := loadVectors(t, "messages.json")
	for _, v := range f.vectorsOf(t, "message") {
		t.Run(v.Name, func(t *testing.T) {
			in := newVectorObject(t, v.Name+".input", v.Input)
			exp := newVectorObject(t, v.Name+".expected", v.Expected)
			want := exp.hex("bytes", int(exp.u32("length")))
			if in.has("protocol_version") {
				// Every protocol version sends the current schema (PROTOCOL.md 12); the vectors
				// give V1_8 and V2_0 forms, which are the same bytes.
				ver, err := ParseProtocolVersion(in.str("protocol_version"))
				require.NoError(t, err)
				require.NotEqual(t, V1_7, ver, "a V1_7 message vector would need the LegacyMessage form")
			}
			msg := vectorTo[*pb.Message](t, f, in.get("message"))
			in.done()
			exp.done()

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
			decodeStrict(t, v.Input, &in)
			decodeStrict(t, v.Expected, &exp)

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
			in := newVectorObject(t, v.Name+".input", v.Input)
			exp := newVectorObject(t, v.Name+".expected", v.Expected)
			current := vectorTo[*pb.LastBeacon](t, f, in.get("current_beacon"))
			received := vectorTo[*pb.LastBeacon](t, f, in.get("received_beacon"))
			epoch := in.u32("current_epoch")
			var target *pb.CheckpointBeacon
			if raw := in.get("target_superblock_beacon"); string(raw) != "null" {
				target = vectorTo[*pb.CheckpointBeacon](t, f, raw)
			}
			want := exp.str("result")
			in.done()
			exp.done()

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
			in := newVectorObject(t, v.Name+".input", v.Input)
			exp := newVectorObject(t, v.Name+".expected", v.Expected)
			var now, maxDiff int64
			in.decode("current_ts", &now)
			in.decode("max_ts_diff", &maxDiff)
			var valid, invalid []int64 // encoding/json reads int64 exactly
			exp.decode("valid", &valid)
			exp.decode("invalid", &invalid)
			in.done()
			exp.done()
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

// decodeStrict decodes a vector's input or expected object into the struct dst, failing on
// keys dst has no field for.
func decodeStrict(t testing.TB, m map[string]json.RawMessage, dst any) {
	t.Helper()
	b, err := json.Marshal(m)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(dst))
}

func be32(w uint32) []byte { return []byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)} }

// TestVectorConverterStrict: the converter refuses every way a vector could be half-read
// or misread, and reads a complete value exactly.
func TestVectorConverterStrict(t *testing.T) {
	h := `"` + strings.Repeat("ab", HashSize) + `"`
	good := `{"checkpoint": 7, "hash_prev_block": ` + h + `}`
	got := vectorTo[*pb.CheckpointBeacon](t, nil, json.RawMessage(good))
	require.True(t, proto.Equal(NewCheckpointBeacon(7, Hash(bytes.Repeat([]byte{0xab}, HashSize))), got))

	tests := []struct {
		name string
		m    proto.Message
		json string
		want string // in the error
	}{
		{"unknown key", &pb.CheckpointBeacon{}, `{"checkpoint": 7, "hash_prev_block": ` + h + `, "extra": 1}`, `has no field "extra"`},
		{"field left out", &pb.CheckpointBeacon{}, `{"checkpoint": 7}`, `field "hash_prev_block" left out`},
		{"null", &pb.CheckpointBeacon{}, `{"checkpoint": null, "hash_prev_block": ` + h + `}`, "x.checkpoint: null"},
		{"hash 1 byte", &pb.CheckpointBeacon{}, `{"checkpoint": 7, "hash_prev_block": "ab"}`, "Hash of 1 bytes, want 32"},
		{"hash not hex", &pb.CheckpointBeacon{}, `{"checkpoint": 7, "hash_prev_block": "zz"}`, "x.hash_prev_block: encoding/hex"},
		{"u32 overflow", &pb.CheckpointBeacon{}, `{"checkpoint": 4294967296, "hash_prev_block": ` + h + `}`, "value out of range"},
		{"negative u32", &pb.CheckpointBeacon{}, `{"checkpoint": -1, "hash_prev_block": ` + h + `}`, "invalid syntax"},
		{"string for a message", &pb.CheckpointBeacon{}, `"ab"`, "string given for message"},
		{"pkh 19 bytes", &pb.PublicKeyHash{}, `"` + strings.Repeat("00", 19) + `"`, "of 19 bytes, want 20"},
		{"oneof two members", &pb.InventoryEntry{}, `{"Block": ` + h + `, "Tx": ` + h + `}`, "[Block Tx], want exactly one"},
		{"oneof no member", &pb.InventoryEntry{}, `{}`, "[], want exactly one"},
		{"fixture unknown", &pb.Block{}, `{"$fixture": "nope"}`, "unknown fixture nope"},
		{"fixture with other keys", &pb.Block{}, `{"$fixture": "block_example", "txns": {}}`, "fixture reference with other keys"},
		{"fixture without a file", &pb.Block{}, `{"$fixture": "block_example"}`, "without a vector file"},
	}
	f := loadVectors(t, "hashes.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := decodeJSONNumbers(json.RawMessage(tt.json))
			require.NoError(t, err)
			file := f
			if tt.name == "fixture without a file" {
				file = nil
			}
			err = fillMessage(file, tt.m.ProtoReflect(), v, "x")
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}
