package protocol

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// hotKinds are the commands the direct decoder and encoder handle.
// Of transactions, only value transfers.
var hotKinds = []Kind{KindVersion, KindVerack, KindGetPeers, KindInventoryAnnouncement, KindInventoryRequest, KindLastBeacon, KindTransaction}

func TestFastKinds(t *testing.T) {
	var want [NumKinds]bool
	for _, k := range hotKinds {
		want[k] = true
	}
	require.Equal(t, want, fastKinds)
	// Of transactions, Marshal tries the direct encoder on value transfers only.
	require.True(t, tryFast(valueTransfer(), KindTransaction))
	require.False(t, tryFast(NewTransaction(Magic, exampleTransaction(t)), KindTransaction))
	require.False(t, tryFast(&pb.Message{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Transaction)(nil)}}, KindTransaction))
	require.True(t, tryFast(lastBeacon(), KindLastBeacon))
	require.False(t, tryFast(exampleBlockMessage(t), KindBlock))
}

// sameGoValue reports where a and b, two values of the same generated type, differ in
// their exported Go fields: nil against non-nil pointers, slices (bytes included) and
// interfaces, oneof wrapper types, lengths and contents. proto.Equal does not see
// those differences (it treats nil and empty bytes alike, for one); callers may.
func sameGoValue(a, b reflect.Value, path string) string {
	if a.Type() != b.Type() {
		return path + ": types " + a.Type().String() + " and " + b.Type().String()
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() != b.IsNil() {
			return path + ": nil and non-nil"
		}
		if a.IsNil() {
			return ""
		}
		return sameGoValue(a.Elem(), b.Elem(), path)
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !a.Type().Field(i).IsExported() {
				continue
			}
			if d := sameGoValue(a.Field(i), b.Field(i), path+"."+a.Type().Field(i).Name); d != "" {
				return d
			}
		}
		return ""
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return path + ": slices differ in nil-ness or length"
		}
		for i := 0; i < a.Len(); i++ {
			if d := sameGoValue(a.Index(i), b.Index(i), path+"[]"); d != "" {
				return d
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			return path + ": values differ"
		}
		return ""
	}
}

// checkFastDecode fails t if the direct decoder accepts b with a value other than
// proto.Unmarshal's (compared as Go values, not only by proto.Equal), or with another
// Unmarshal verdict. It reports whether the direct decoder took b.
func checkFastDecode(t testing.TB, b []byte) bool {
	t.Helper()
	fast, ok := decodeFast(b)
	if !ok {
		return false
	}
	slow := new(pb.Message)
	if err := unmarshalOpts.Unmarshal(b, slow); err != nil {
		t.Fatalf("direct decoder took %x, proto.Unmarshal refuses it: %v", b, err)
	}
	if d := sameGoValue(reflect.ValueOf(fast), reflect.ValueOf(slow), "Message"); d != "" || !proto.Equal(fast, slow) {
		t.Fatalf("direct decoder and proto.Unmarshal differ on %x at %s\nfast: %v\nslow: %v", b, d, fast, slow)
	}
	// The general path would not have stopped earlier either.
	if err := precheck(b); err != nil {
		t.Fatalf("direct decoder took %x, precheck refuses it: %v", b, err)
	}
	if fillLegacyRoots(slow) {
		t.Fatalf("direct decoder took a legacy block")
	}
	return true
}

// sameUnmarshal fails t unless Unmarshal and the general path give the same verdict on b:
// equal values, or errors with the same text.
func sameUnmarshal(t testing.TB, b []byte) {
	t.Helper()
	if len(b) == 0 {
		return
	}
	got, gerr := Unmarshal(b)
	want, werr := unmarshalGeneral(b)
	if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
		t.Fatalf("Unmarshal(%x): %v, general path: %v", b, gerr, werr)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("Unmarshal(%x) differs from the general path:\n%v\n%v", b, got, want)
	}
}

// hotMessages returns random messages of the hot kinds, from ruleGen (so some break a
// rule or lack a sub-message) and from the builders.
func hotMessages(t testing.TB, n int, seed uint64) []*pb.Message {
	g := newRuleGen(t, seed, 0.01)
	cmd := (&pb.Message_Command{}).ProtoReflect().Descriptor().Oneofs().ByName("kind").Fields()
	var out []*pb.Message
	for i := range n {
		k := hotKinds[i%len(hotKinds)]
		m := &pb.Message{Magic: uint32(Magic), Kind: &pb.Message_Command{}}
		switch g.r.IntN(8) {
		case 0:
			m.Magic = 0
		case 1:
			m.Magic = g.r.Uint32()
		}
		if k == KindTransaction {
			vt := g.message((&pb.VTTransaction{}).ProtoReflect().Type(), 2).Interface().(*pb.VTTransaction)
			m.Kind.Kind = &pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: &pb.Transaction_ValueTransfer{ValueTransfer: vt}}}
			out = append(out, m)
			continue
		}
		c := m.Kind.ProtoReflect()
		fd := cmd.ByNumber(protoreflect.FieldNumber(k))
		c.Set(fd, g.value(c, fd, c.NewField(fd), 0))
		out = append(out, m)
	}
	inv, err := NewInventoryAnnouncement(Magic, []*pb.InventoryEntry{BlockEntry(Hash{1}), TxEntry(Hash{2}), SuperBlockEntry(0), SuperBlockEntry(1 << 31)})
	require.NoError(t, err)
	req, err := NewInventoryRequest(0, []*pb.InventoryEntry{TxEntry(Hash{3})})
	require.NoError(t, err)
	v := exampleVersion()
	v.GetKind().GetVersion().UserAgent = ""
	v.GetKind().GetVersion().Timestamp = -1
	return append(out, NewVerack(Magic), NewGetPeers(Magic), lastBeacon(), inv, req, exampleVersion(), v, valueTransfer(),
		NewLastBeacon(Magic, NewLastBeaconPB(NewCheckpointBeacon(0, Hash{}), NewCheckpointBeacon(0, Hash{}))))
}

// TestFastDecodeTakesHotKinds: the direct decoder takes every well-formed message of the
// hot kinds as Marshal writes it, and declines the other kinds.
func TestFastDecodeTakesHotKinds(t *testing.T) {
	for _, m := range hotMessages(t, 600, 1) {
		b, err := Marshal(m)
		require.NoError(t, err)
		if _, ok := decodeFast(b); !ok {
			// Only values that break a rule may be declined.
			require.Error(t, Validate(m), "declined a valid %v: %x", KindOf(m), b)
			continue
		}
		require.True(t, checkFastDecode(t, b))
	}
	for _, m := range []*pb.Message{exampleBlockMessage(t), NewTransaction(Magic, exampleTransaction(t)),
		NewTransaction(Magic, &pb.Transaction{Kind: &pb.Transaction_Mint{Mint: &pb.MintTransaction{}}}),
		NewPeers(Magic, [][]byte{make([]byte, 6)}), NewSuperBlock(Magic, &pb.SuperBlock{})} {
		b, err := Marshal(m)
		require.NoError(t, err)
		_, ok := decodeFast(b)
		require.False(t, ok, "%v", KindOf(m))
	}
}

// TestFastDecodeMatchesProto: whatever the direct decoder takes among mutations of hot
// messages (bytes changed, inserted, removed, fields repeated or reordered, unknown
// fields, non-minimal varints) it decodes as proto.Unmarshal does. The mutations must
// both hit and miss the decoder, or the test proves nothing.
func TestFastDecodeMatchesProto(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	var took, declined int
	for _, m := range hotMessages(t, 1200, 2) {
		b, err := Marshal(m)
		require.NoError(t, err)
		for range 20 {
			mb := mutateWire(r, b)
			if r.IntN(2) == 0 {
				mb = mutateTree(r, b)
			}
			sameUnmarshal(t, mb)
			if checkFastDecode(t, mb) {
				took++
			} else {
				declined++
			}
		}
	}
	t.Logf("direct decoder took %d mutated payloads and declined %d", took, declined)
	require.NotZero(t, took)
	require.NotZero(t, declined)
}

// TestFastDecodeEdges: payloads at the edge of the strict form, each with whether the
// direct decoder takes it. Either way Unmarshal must agree with the general path.
func TestFastDecodeEdges(t *testing.T) {
	field := func(num protowire.Number, body []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), body)
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hash := field(1, make([]byte, 32))
	checkpoint := cat([]byte{0x0d, 1, 2, 3, 4}, field(2, hash))
	beacon := cat(field(1, checkpoint), field(2, checkpoint))
	envelope := func(member protowire.Number, body []byte) []byte {
		return cat([]byte{0x08, 0xcc, 0x53}, field(2, field(member, body)))
	}
	address := field(1, []byte{10, 0, 0, 1, 0x53, 0x59})
	version := func(agent []byte) []byte {
		return envelope(1, cat([]byte{0x08, 1}, field(4, address), field(5, address), field(6, agent), field(8, beacon)))
	}
	bigVarint := protowire.AppendVarint(nil, 1<<32+10700)
	key := field(1, make([]byte, 33))
	vt := func(body, sigs []byte) []byte { return envelope(9, field(1, cat(field(1, body), sigs))) }
	input := field(1, field(1, cat(field(1, hash), []byte{0x10, 0x02})))
	output := field(2, cat(field(1, field(1, make([]byte, 20))), []byte{0x10, 0x05, 0x18, 0x06}))
	signature := func(secp []byte) []byte { return field(2, cat(field(1, field(1, secp)), field(2, key))) }
	tests := []struct {
		name string
		b    []byte
		take bool
	}{
		{"last beacon", envelope(8, beacon), true},
		{"no magic", field(2, field(8, beacon)), true},
		{"magic zero written", cat([]byte{0x08, 0x00}, field(2, field(8, beacon))), true},
		{"magic above 32 bits", cat([]byte{0x08}, bigVarint, field(2, field(8, beacon))), false},
		{"magic after the command", cat(field(2, field(8, beacon)), []byte{0x08, 0xcc, 0x53}), false},
		{"checkpoint zero written", envelope(8, cat(field(1, cat([]byte{0x0d, 0, 0, 0, 0}, field(2, hash))), field(2, checkpoint))), true},
		{"checkpoint absent", envelope(8, cat(field(1, field(2, hash)), field(2, checkpoint))), true},
		{"field after the second checkpoint", envelope(8, cat(beacon, []byte{0x18, 0x01})), false},
		{"second checkpoint missing", envelope(8, field(1, checkpoint)), false},
		{"hash 31 bytes", envelope(8, cat(field(1, field(2, field(1, make([]byte, 31)))), field(2, checkpoint))), false},
		{"two command members", cat([]byte{0x08, 0xcc, 0x53}, field(2, cat(field(2, nil), field(3, nil)))), false},
		{"command twice", cat([]byte{0x08, 0xcc, 0x53}, field(2, field(2, nil)), field(2, field(3, nil))), false},
		{"verack with a body", envelope(2, []byte{0x08, 0x01}), false},
		{"command number above the kinds", envelope(2+256, nil), false},
		{"empty announcement", envelope(6, nil), true},
		{"superblock entry", envelope(7, field(1, []byte{0x18, 0x05})), true},
		{"superblock entry above 32 bits", envelope(7, field(1, cat([]byte{0x18}, bigVarint))), false},
		{"entry with two members", envelope(7, field(1, cat([]byte{0x18, 0x05}, field(1, hash)))), false},
		{"empty entry", envelope(6, field(1, nil)), false},
		{"64 entries", envelope(6, bytes.Repeat(field(1, field(2, hash)), maxFastEntries)), true},
		{"65 entries", envelope(6, bytes.Repeat(field(1, field(2, hash)), maxFastEntries+1)), false},
		{"version", version([]byte("witnet-p2p")), true},
		{"version, empty agent written", version(nil), true},
		{"version, agent not UTF-8", version([]byte{0xff, 0xfe}), false},
		{"version, empty address", envelope(1, cat(field(4, nil), field(5, address), field(8, beacon))), false},
		{"value transfer", vt(cat(input, output), signature(field(1, []byte{0x30, 0x44}))), true},
		{"value transfer, empty body, no signature", vt(nil, nil), true},
		{"value transfer, output before input", vt(cat(output, input), nil), false},
		{"value transfer, empty DER written", vt(input, signature(field(1, nil))), true},
		{"value transfer, DER absent", vt(input, signature(nil)), true},
		{"value transfer, public key 32 bytes", vt(input, field(2, cat(field(1, field(1, field(1, []byte{1}))), field(2, field(1, make([]byte, 32)))))), false},
		{"value transfer, output index zero written", vt(field(1, field(1, cat(field(1, hash), []byte{0x10, 0x00}))), nil), true},
		{"value transfer, output time lock before value", vt(field(2, cat(field(1, field(1, make([]byte, 20))), []byte{0x18, 0x06, 0x10, 0x05})), nil), false},
		{"value transfer, body twice", envelope(9, field(1, cat(field(1, input), field(1, input)))), false},
		{"mint transaction", envelope(9, field(6, []byte{0x0d, 1, 0, 0, 0})), false},
		{"version, beacon missing", envelope(1, cat(field(4, address), field(5, address))), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.take, checkFastDecode(t, tt.b))
			sameUnmarshal(t, tt.b)
		})
	}
}

// mutateWire returns a changed copy of b: one to three random edits, some of them
// protobuf-aware.
func mutateWire(r *rand.Rand, b []byte) []byte {
	out := bytes.Clone(b)
	for range 1 + r.IntN(3) {
		if len(out) == 0 {
			return append(out, byte(r.Uint32()))
		}
		i := r.IntN(len(out))
		switch r.IntN(9) {
		case 0: // change a byte
			out[i] = byte(r.Uint32())
		case 1: // change a byte slightly (a length or a tag off by one)
			out[i] += byte(r.IntN(3)) - 1
		case 2: // insert a byte
			out = append(out[:i], append([]byte{byte(r.Uint32())}, out[i:]...)...)
		case 3: // remove a byte
			out = append(out[:i], out[i+1:]...)
		case 4: // truncate
			out = out[:i]
		case 5: // append an unknown field to the envelope
			out = protowire.AppendTag(out, protowire.Number(3+r.IntN(20)), protowire.VarintType)
			out = protowire.AppendVarint(out, r.Uint64N(300))
		case 6: // append the magic again (fields out of order, repeated)
			out = append(out, 0x08, byte(r.IntN(128)))
		case 7: // append the command again: protobuf merges the two
			if c, n := commandField(b); n > 0 {
				out = append(out, c...)
			}
		case 8: // re-encode the magic with a non-minimal varint
			if len(out) > 2 && out[0] == 0x08 {
				v, n := protowire.ConsumeVarint(out[1:])
				if n > 0 {
					nm := append([]byte{0x08}, byte(v)|0x80, byte(v>>7)|0x80, byte(v>>14)|0x80, byte(v>>21)|0x80, byte(v>>28))
					out = append(nm, out[1+n:]...)
				}
			}
		}
	}
	return out
}

// wireField is one field of a parsed payload; sub holds the fields of a length-delimited
// body that parses as a message (nil when it does not, or is empty).
type wireField struct {
	num  protowire.Number
	typ  protowire.Type
	raw  []byte // the value as encoded after the tag (length prefix included for bytes)
	body []byte // a length-delimited value's body
	sub  []wireField
}

// parseWire splits b into fields, recursing into bodies that parse as messages. ok is
// false when b is not a sequence of well-formed fields.
func parseWire(b []byte) (fields []wireField, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, false
		}
		f := wireField{num: num, typ: typ, raw: b[n : n+m]}
		if typ == protowire.BytesType {
			f.body, _ = protowire.ConsumeBytes(f.raw)
			f.sub, _ = parseWire(f.body)
		}
		fields = append(fields, f)
		b = b[n+m:]
	}
	return fields, true
}

// appendWire encodes fields, recomputing every length from the sub-fields.
func appendWire(b []byte, fields []wireField) []byte {
	for _, f := range fields {
		b = protowire.AppendTag(b, f.num, f.typ)
		if f.typ == protowire.BytesType && f.sub != nil {
			b = protowire.AppendBytes(b, appendWire(nil, f.sub))
			continue
		}
		b = append(b, f.raw...)
	}
	return b
}

// mutateTree makes one protobuf-aware edit at a random depth of b, keeping every
// enclosing length right: a field dropped, repeated, moved to the end, given another
// wire type or number, or an unknown or malformed field added.
func mutateTree(r *rand.Rand, b []byte) []byte {
	fields, ok := parseWire(b)
	if !ok || len(fields) == 0 {
		return mutateWire(r, b)
	}
	// Pick a list of fields by descending a random path.
	list := &fields
	for {
		var deeper []int
		for i, f := range *list {
			if f.sub != nil {
				deeper = append(deeper, i)
			}
		}
		if len(deeper) == 0 || r.IntN(3) == 0 {
			break
		}
		list = &(*list)[deeper[r.IntN(len(deeper))]].sub
	}
	l := *list
	i := r.IntN(len(l))
	switch r.IntN(7) {
	case 0:
		l = append(l[:i:i], l[i+1:]...)
	case 1:
		l = append(l[:i+1:i+1], l[i:]...)
	case 2:
		f := l[i]
		l = append(append(l[:i:i], l[i+1:]...), f)
	case 3:
		l[i].typ = []protowire.Type{protowire.VarintType, protowire.Fixed32Type, protowire.Fixed64Type, protowire.BytesType}[r.IntN(4)]
		l[i].sub = nil
	case 4:
		l[i].num += protowire.Number(r.IntN(3)) - 1
		if l[i].num < 1 {
			l[i].num = 1
		}
	case 5:
		unknown := wireField{num: protowire.Number(9 + r.IntN(20)), typ: protowire.VarintType, raw: []byte{byte(r.IntN(128))}}
		l = append(l[:i:i], append([]wireField{unknown}, l[i:]...)...)
	case 6:
		bad := wireField{num: 1, typ: protowire.BytesType, raw: []byte{0x05, 0x01}} // length past the end
		l = append(l, bad)
	}
	*list = l
	return appendWire(nil, fields)
}

// commandField returns the encoded Message.kind field of b (tag, length and body).
func commandField(b []byte) ([]byte, int) {
	for rest := b; len(rest) > 0; {
		num, typ, n := protowire.ConsumeTag(rest)
		if n < 0 {
			return nil, 0
		}
		m := protowire.ConsumeFieldValue(num, typ, rest[n:])
		if m < 0 {
			return nil, 0
		}
		if num == 2 {
			return rest[:n+m], n + m
		}
		rest = rest[n+m:]
	}
	return nil, 0
}

// FuzzFastDecode: on any payload, the direct decoder either declines or agrees with
// proto.Unmarshal, and Unmarshal gives the same verdict as the general path.
func FuzzFastDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkFastDecode(t, b)
		sameUnmarshal(t, b)
	})
}
