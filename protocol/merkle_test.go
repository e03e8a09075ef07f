package protocol

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMerkleRootSmall composes the expected roots by hand from PROTOCOL.md 11.4. (The two
// upstream vectors, empty and two leaves, run in TestHashVectors.)
func TestMerkleRootSmall(t *testing.T) {
	var l [7]Hash
	for i := range l {
		l[i] = sha([]byte{'a' + byte(i)})
	}
	a, b, c, d, e, f, g := l[0], l[1], l[2], l[3], l[4], l[5], l[6]
	H := func(x, y Hash) Hash { return sha(x[:], y[:]) }
	tests := []struct {
		n    int
		want Hash
	}{
		{0, sha(nil)},
		{1, a},
		{2, H(a, b)},
		{3, H(H(a, b), c)},
		{4, H(H(a, b), H(c, d))},
		{5, H(H(H(a, b), H(c, d)), e)},
		{6, H(H(H(a, b), H(c, d)), H(e, f))},
		{7, H(H(H(a, b), H(c, d)), H(H(e, f), g))},
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.n), func(t *testing.T) {
			leaves := make([]Hash, tc.n)
			copy(leaves, l[:])
			require.Equal(t, tc.want, MerkleRoot(leaves))
			require.Equal(t, l[:tc.n], leaves, "MerkleRoot modified its input")
		})
	}
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", MerkleRoot(nil).String())
}

// TestMerkleRootLevels compares MerkleRoot with a second formulation of the same tree:
// hash adjacent pairs level by level, carrying an odd last node up unchanged.
func TestMerkleRootLevels(t *testing.T) {
	levels := func(leaves []Hash) Hash {
		level := append([]Hash(nil), leaves...)
		for len(level) > 1 {
			var next []Hash
			for i := 0; i+1 < len(level); i += 2 {
				next = append(next, sha(level[i][:], level[i+1][:]))
			}
			if len(level)%2 == 1 {
				next = append(next, level[len(level)-1])
			}
			level = next
		}
		return level[0]
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 1; n <= 70; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			for j := range leaves[i] {
				leaves[i][j] = byte(rng.Uint32())
			}
		}
		require.Equal(t, levels(leaves), MerkleRoot(leaves), "%d leaves", n)
	}
}

func BenchmarkMerkleRoot(b *testing.B) {
	leaves := make([]Hash, 1000)
	for i := range leaves {
		leaves[i] = sha([]byte(strconv.Itoa(i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		MerkleRoot(leaves)
	}
}
