package codec

import (
	"bytes"
	"io"
	"strconv"
	"testing"
)

// benchSizes are a typical small message (~100 bytes: Verack, GetPeers, an inventory
// announcement) and a large block.
var benchSizes = []int{100, 1 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n) + "B"
}

func BenchmarkWriteFrame(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			payload := payloadOf(n, 1)
			w := NewWriter(io.Discard, 0)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if err := w.WriteFrame(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadFrame(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			r := NewReader(&loopReader{data: frame(payloadOf(n, 1))}, 0)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := r.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFrameRoundTrip writes one frame and reads it back through an in-memory buffer.
func BenchmarkFrameRoundTrip(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			payload := payloadOf(n, 1)
			var pipe bytes.Buffer
			w := NewWriter(&pipe, 0)
			r := NewReader(&pipe, 0)
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if err := w.WriteFrame(payload); err != nil {
					b.Fatal(err)
				}
				if _, err := r.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
