package protocol

import (
	"flag"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// codecRounds is how many times BenchmarkCodec measures every case; each round runs the
// codecs of a case back to back, in an order rotated round by round.
var codecRounds = flag.Int("codec.rounds", 1, "rounds of BenchmarkCodec")

// codec is one way to encode and decode a Message.
type codec struct {
	name      string
	marshal   func(*pb.Message) ([]byte, error)
	unmarshal func([]byte) (*pb.Message, error)
}

// codecs are the ways compared: "hand" is Marshal and the direct decoder (each falling
// back to protobuf-go for what it does not take), "proto" is protobuf-go alone
// (Deterministic, DiscardUnknown), the baseline. Neither validates.
var codecs = []codec{
	{"hand", Marshal, func(b []byte) (*pb.Message, error) {
		if m, ok := decodeFast(b); ok {
			return m, nil
		}
		m := new(pb.Message)
		return m, unmarshalOpts.Unmarshal(b, m)
	}},
	{"proto", func(m *pb.Message) ([]byte, error) { return canonicalMarshal.Marshal(m) }, func(b []byte) (*pb.Message, error) {
		m := new(pb.Message)
		return m, unmarshalOpts.Unmarshal(b, m)
	}},
}

// BenchmarkCodec measures the codecs side by side on the messages a node exchanges most,
// interleaved: run with -args -codec.rounds 5 for medians (BENCHMARKS.md).
func BenchmarkCodec(b *testing.B) {
	cases := []struct {
		name string
		m    func(b *testing.B) *pb.Message
	}{
		{"LastBeacon", func(*testing.B) *pb.Message { return lastBeacon() }},
		{"Inventory2", inventory2},
		{"Version", func(*testing.B) *pb.Message { return exampleVersion() }},
		{"ValueTransfer", func(*testing.B) *pb.Message { return valueTransfer() }},
		{"DataRequest", func(b *testing.B) *pb.Message { return NewTransaction(Magic, exampleTransaction(b)) }},
		{"Block", func(b *testing.B) *pb.Message { return exampleBlockMessage(b) }},
	}
	for round := range *codecRounds {
		for _, c := range cases {
			m := c.m(b)
			want, err := canonicalMarshal.Marshal(m)
			require.NoError(b, err)
			for i := range codecs {
				cd := codecs[(i+round)%len(codecs)]
				b.Run(fmt.Sprintf("Marshal/%s/codec=%s", c.name, cd.name), func(b *testing.B) {
					got, err := cd.marshal(m)
					require.NoError(b, err)
					require.Equal(b, want, got)
					b.ReportAllocs()
					b.SetBytes(int64(len(want)))
					for b.Loop() {
						if _, err := cd.marshal(m); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			for i := range codecs {
				cd := codecs[(i+round)%len(codecs)]
				b.Run(fmt.Sprintf("Unmarshal/%s/codec=%s", c.name, cd.name), func(b *testing.B) {
					got, err := cd.unmarshal(want)
					require.NoError(b, err)
					require.True(b, proto.Equal(m, got))
					b.ReportAllocs()
					b.SetBytes(int64(len(want)))
					for b.Loop() {
						if _, err := cd.unmarshal(want); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
