package protocol

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	ma "github.com/multiformats/go-multiaddr"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// validateByWalk is Validate as it was before the typed rules: the limits, then the
// reflection walk. It is the reference the typed rules are compared with.
func validateByWalk(m *pb.Message) error {
	if m == nil {
		return &DecodeError{Reason: ReasonOneofUnset, Field: "kind"}
	}
	if err := checkLimits(m); err != nil {
		return err
	}
	if err := walk(m.ProtoReflect(), canonIgnore, true); err != nil {
		var v *violation
		if errors.As(err, &v) {
			return v.decodeError()
		}
		return err
	}
	return nil
}

// sameVerdict fails t unless Validate and validateByWalk agree on m: both accept, or both
// reject with the same reason, field, detail and underlying error text. It returns the
// verdict.
func sameVerdict(t testing.TB, m *pb.Message) error {
	t.Helper()
	got, want := Validate(m), validateByWalk(m)
	if (got == nil) != (want == nil) {
		t.Fatalf("typed rules: %v, walk: %v\nmessage: %v", got, want, m)
	}
	if got == nil {
		return nil
	}
	var g, w *DecodeError
	if !errors.As(got, &g) || !errors.As(want, &w) {
		t.Fatalf("not DecodeErrors: %T %v, %T %v", got, got, want, want)
	}
	if g.Reason != w.Reason || g.Field != w.Field || g.Detail != w.Detail || g.Error() != w.Error() {
		t.Fatalf("verdicts differ\ntyped rules: %v\nwalk:        %v\nmessage: %v", g, w, m)
	}
	return got
}

// ruleGen fills random values of the schema, biased towards valid ones so that a value
// reaches deep rules before breaking one: each rule-bearing value is right most of the
// time and wrong (absent, wrong length, undeclared, out of range) now and then.
type ruleGen struct {
	r *rand.Rand
	// bad is the chance of breaking any one rule.
	bad float64
	// maddrs are valid multiaddr Address values.
	maddrs [][]byte
}

func newRuleGen(t testing.TB, seed uint64, bad float64) *ruleGen {
	g := &ruleGen{r: rand.New(rand.NewPCG(seed, 0x5eed)), bad: bad}
	for _, s := range []string{
		"/ip4/10.0.0.1/tcp/21337/p2p/12D3KooWGzh2jrEZqNBn4bG5WpxRS3WvvRzgVxzgxpPTEgHSBdmF",
		"/ip6/2001:db8::1/udp/4001/quic-v1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
	} {
		m, err := ma.NewMultiaddr(s)
		require.NoError(t, err)
		g.maddrs = append(g.maddrs, m.Bytes())
	}
	return g
}

func (g *ruleGen) chance(p float64) bool { return g.r.Float64() < p }

// lengths a wrong-length value picks from: every one is wrong for some rule and right for
// another, and 7 is nothing.
var ruleGenLengths = []int{0, 1, 6, 7, 18, 19, 20, 21, 31, 32, 33, 34}

func (g *ruleGen) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.r.Uint32())
	}
	return b
}

// message returns a random value of type mt.
func (g *ruleGen) message(mt protoreflect.MessageType, depth int) protoreflect.Message {
	m := mt.New()
	md := m.Descriptor()
	oneofs := md.Oneofs()
	chosen := map[protoreflect.FullName]protoreflect.FieldDescriptor{}
	for i := 0; i < oneofs.Len(); i++ {
		od := oneofs.Get(i)
		if !g.chance(g.bad) {
			chosen[od.FullName()] = od.Fields().Get(g.r.IntN(od.Fields().Len()))
		}
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if od := fd.ContainingOneof(); od != nil && chosen[od.FullName()] != fd {
			continue
		}
		switch {
		case fd.IsList():
			n := g.r.IntN(3)
			if depth > 6 {
				n = 0
			}
			list := m.Mutable(fd).List()
			for range n {
				list.Append(g.value(m, fd, list.NewElement(), depth))
			}
		case fd.Message() != nil:
			// An absent sub-message is checked as an empty one; leave some out.
			if fd.ContainingOneof() == nil && g.chance(g.bad) {
				continue
			}
			m.Set(fd, g.value(m, fd, m.NewField(fd), depth))
		default:
			m.Set(fd, g.value(m, fd, m.NewField(fd), depth))
		}
	}
	return m
}

// value returns a random value for field fd of m (an element, for a list); zero is a
// fresh value of the right kind.
func (g *ruleGen) value(m protoreflect.Message, fd protoreflect.FieldDescriptor, zero protoreflect.Value, depth int) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return protoreflect.ValueOfMessage(g.message(zero.Message().Type(), depth+1))
	case protoreflect.EnumKind:
		if g.chance(g.bad) {
			return protoreflect.ValueOfEnum(protoreflect.EnumNumber(g.r.IntN(4) + 5 - 8*g.r.IntN(2)))
		}
		return protoreflect.ValueOfEnum(protoreflect.EnumNumber(g.r.IntN(5)))
	case protoreflect.BytesKind:
		want := -1
		switch m.Descriptor().FullName() {
		case "witnet.Hash":
			want = HashSize
		case "witnet.PublicKeyHash":
			want = pkhLen
		case "witnet.PublicKey":
			want = publicKeyLen
		case "witnet.Address":
			if g.chance(g.bad) {
				return protoreflect.ValueOfBytes(g.bytes(ruleGenLengths[g.r.IntN(len(ruleGenLengths))]))
			}
			if g.chance(0.5) {
				return protoreflect.ValueOfBytes(g.maddrs[g.r.IntN(len(g.maddrs))])
			}
			return protoreflect.ValueOfBytes(g.bytes([]int{6, 18}[g.r.IntN(2)]))
		}
		if want < 0 || g.chance(g.bad) {
			return protoreflect.ValueOfBytes(g.bytes(ruleGenLengths[g.r.IntN(len(ruleGenLengths))]))
		}
		return protoreflect.ValueOfBytes(g.bytes(want))
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if g.chance(g.bad) {
			return protoreflect.ValueOfUint32([]uint32{1 << 16, math.MaxUint32}[g.r.IntN(2)])
		}
		return protoreflect.ValueOfUint32(g.r.Uint32N(1 << 16))
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(g.r.Uint64())
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(int64(g.r.Uint64()))
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(string(rune('a' + g.r.IntN(26))))
	default:
		return zero
	}
}

// breakGo gives v (a pointer to a generated message) the shapes only Go code can build:
// nil elements in lists, nil messages in set oneof wrappers and oneof wrappers that are
// typed nil pointers. Each shape is applied with probability p at each place it can go.
func (g *ruleGen) breakGo(v reflect.Value, p float64) {
	if v.IsNil() {
		return
	}
	s := v.Elem()
	for i := 0; i < s.NumField(); i++ {
		f := s.Field(i)
		if !s.Type().Field(i).IsExported() {
			continue
		}
		switch f.Kind() {
		case reflect.Pointer:
			if f.Type().Elem().Kind() == reflect.Struct {
				g.breakGo(f, p)
			}
		case reflect.Slice:
			if f.Type().Elem().Kind() != reflect.Pointer {
				continue
			}
			for j := 0; j < f.Len(); j++ {
				if g.chance(p) {
					f.Index(j).Set(reflect.Zero(f.Type().Elem()))
				} else {
					g.breakGo(f.Index(j), p)
				}
			}
		case reflect.Interface:
			if f.IsNil() {
				continue
			}
			wrapper := f.Elem() // *pb.X_Member
			switch {
			case g.chance(p):
				f.Set(reflect.Zero(wrapper.Type())) // a typed nil wrapper
			case g.chance(p) && wrapper.Elem().Field(0).Kind() == reflect.Pointer:
				wrapper.Elem().Field(0).Set(reflect.Zero(wrapper.Elem().Field(0).Type()))
			case wrapper.Elem().Field(0).Kind() == reflect.Pointer:
				g.breakGo(wrapper.Elem().Field(0), p)
			}
		}
	}
}

// TestTypedRulesMatchWalk: for random values of every command, Validate (typed rules) and
// the reflection walk give the same verdict. The test also checks that every command was
// seen both accepted and rejected, so that it cannot pass vacuously.
func TestTypedRulesMatchWalk(t *testing.T) {
	const perKind = 3000
	cmd := (&pb.Message_Command{}).ProtoReflect().Descriptor()
	members := cmd.Oneofs().ByName("kind").Fields()
	for _, bad := range []float64{0.002, 0.02, 0.1} {
		g := newRuleGen(t, uint64(bad*1e6), bad)
		for i := 0; i < members.Len(); i++ {
			member := members.Get(i)
			var accepted, rejected int
			for n := range perKind {
				m := &pb.Message{Magic: uint32(Magic), Kind: &pb.Message_Command{}}
				if g.chance(bad) {
					m.Magic = 1 << 16
				}
				c := m.Kind.ProtoReflect()
				c.Set(member, g.value(c, member, c.NewField(member), 0))
				if n%4 == 3 {
					g.breakGo(reflect.ValueOf(m), bad)
				}
				if sameVerdict(t, m) == nil {
					accepted++
				} else {
					rejected++
				}
			}
			t.Logf("bad=%g %s: %d accepted, %d rejected", bad, member.Name(), accepted, rejected)
			if bad == 0.1 {
				require.NotZero(t, rejected, "%s never rejected", member.Name())
			}
			if bad == 0.002 {
				require.NotZero(t, accepted, "%s never accepted", member.Name())
			}
		}
	}
}

// TestTypedRulesGoShapes: hand-built values only Go code can make, one per oneof and
// list, agree too.
func TestTypedRulesGoShapes(t *testing.T) {
	tx := func(k pb.Message_Command_Transaction) *pb.Message {
		return &pb.Message{Kind: &pb.Message_Command{Kind: &k}}
	}
	cases := []*pb.Message{
		nil,
		{},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Version)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Verack)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_GetPeers)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Peers_)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Block)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_InventoryAnnouncement)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_InventoryRequest)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_LastBeacon)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_Transaction)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_SuperBlockVote)(nil)}},
		{Kind: &pb.Message_Command{Kind: (*pb.Message_Command_SuperBlock)(nil)}},
		{Kind: &pb.Message_Command{Kind: &pb.Message_Command_Block{}}},
		{Kind: &pb.Message_Command{Kind: &pb.Message_Command_Peers_{Peers_: &pb.Peers{Peers: []*pb.Address{nil}}}}},
		{Kind: &pb.Message_Command{Kind: &pb.Message_Command_InventoryRequest{
			InventoryRequest: &pb.InventoryRequest{Inventory: []*pb.InventoryEntry{{Kind: (*pb.InventoryEntry_SuperBlock)(nil)}}}}}},
		{Kind: &pb.Message_Command{Kind: &pb.Message_Command_SuperBlockVote{SuperBlockVote: &pb.SuperBlockVote{
			Secp256K1Signature: &pb.KeyedSignature{Signature: &pb.Signature{Kind: (*pb.Signature_Secp256K1)(nil)}}}}}},
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{}}),
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: (*pb.Transaction_Stake)(nil)}}),
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: &pb.Transaction_Stake{}}}),
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: &pb.Transaction_Unstake{}}}),
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: &pb.Transaction_Tally{}}}),
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: &pb.Transaction_Mint{
			Mint: &pb.MintTransaction{Outputs: []*pb.ValueTransferOutput{nil}}}}}),
	}
	for _, m := range cases {
		require.Error(t, sameVerdict(t, m), "%v", m)
	}
	for _, m := range []*pb.Message{NewVerack(Magic), NewGetPeers(Magic), exampleVersion(), exampleBlockMessage(t),
		tx(pb.Message_Command_Transaction{Transaction: &pb.Transaction{Kind: &pb.Transaction_Mint{}}}),
		NewTransaction(Magic, exampleTransaction(t)), lastBeacon()} {
		require.NoError(t, sameVerdict(t, m))
	}
}

// FuzzTypedRules: whatever proto.Unmarshal makes of the bytes (before any rule), with
// some Go-only shapes applied, the typed rules and the walk agree.
func FuzzTypedRules(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(uint64(0), s)
		f.Add(uint64(7), s)
	}
	f.Fuzz(func(t *testing.T, seed uint64, b []byte) {
		m := new(pb.Message)
		if proto.Unmarshal(b, m) != nil {
			return
		}
		sameVerdict(t, m)
		if seed != 0 {
			g := newRuleGen(t, seed, 0.05)
			g.breakGo(reflect.ValueOf(m), 0.05)
			sameVerdict(t, m)
		}
	})
}
