package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestReaderSetMaxFrameSize(t *testing.T) {
	var stream []byte
	for _, n := range []int{8, 8, 16} {
		stream = binary.BigEndian.AppendUint32(stream, uint32(n))
		stream = append(stream, make([]byte, n)...)
	}
	r := NewReader(bytes.NewReader(stream), 8)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	r.SetMaxFrameSize(16)
	for range 2 {
		if _, err := r.Next(); err != nil {
			t.Fatalf("under the raised limit: %v", err)
		}
	}
	r = NewReader(bytes.NewReader(stream), 16)
	r.SetMaxFrameSize(4)
	if _, err := r.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("lowered limit: got %v", err)
	}
}
