package protocol

import "crypto/sha256"

// emptyMerkleRoot is the root of an empty list: SHA-256 of no bytes, not 32 zero bytes.
var emptyMerkleRoot = Hash(sha256.Sum256(nil))

// MerkleRoot returns witnet-rust's merkle root of leaves (PROTOCOL.md 11.4), the form of every
// merkle root in a block header: an empty list gives SHA-256(""), one leaf is its own
// root, and a longer list is split after its first p leaves, p being the smallest power
// of two not below half the list (rounded up), with the root SHA-256(left root ‖ right
// root). So three leaves give H(H(a‖b) ‖ c) and five H(H(H(a‖b)‖H(c‖d)) ‖ e): an odd node
// is carried up unchanged, never paired with itself as in Bitcoin.
func MerkleRoot(leaves []Hash) Hash {
	if len(leaves) == 0 {
		return emptyMerkleRoot
	}
	return merkleNode(leaves)
}

// merkleNode is MerkleRoot for a non-empty list. The recursion is log2(n) deep and
// allocates nothing.
func merkleNode(leaves []Hash) Hash {
	n := len(leaves)
	if n == 1 {
		return leaves[0]
	}
	p := 1
	for p < (n+1)/2 {
		p <<= 1
	}
	return sha256Pair(merkleNode(leaves[:p]), merkleNode(leaves[p:]))
}
