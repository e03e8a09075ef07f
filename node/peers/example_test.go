package peers_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"go.etcd.io/bbolt"
)

// Example shows a book's life: a peer announced in a Peers message lands in new, a feeler
// picks it, the handshake succeeds and it moves to tried, then misbehaviour ices it.
func Example() {
	dir, _ := os.MkdirTemp("", "peers-example")
	defer os.RemoveAll(dir)
	db, err := bbolt.Open(filepath.Join(dir, "node.db"), 0o600, nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	book, err := peers.Open(db, peers.Config{})
	if err != nil {
		panic(err)
	}

	const id = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
	announced, _ := peers.AddrFromP2P(ma.StringCast("/ip4/5.45.113.7/tcp/21337/p2p/" + id))
	source, _ := peers.AddrFromP2P(ma.StringCast("/ip4/85.10.100.1/tcp/21337/p2p/12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"))
	added, _ := book.AddNew([]peers.Addr{announced}, &source)
	fmt.Println("added to new:", added)

	candidate, ok, _ := book.FeelerCandidate(nil)
	fmt.Println("feeler:", ok, candidate.ID == announced.ID)
	promoted, _ := book.AddTried(candidate) // the feeler handshake succeeded
	fmt.Println("promoted:", promoted, len(book.Tried()))

	pid, _ := peer.Decode(id)
	removed, _ := book.RemoveTried(pid, true)
	_, where, _ := book.Lookup(pid)
	fmt.Println("removed:", removed, "iced:", book.IsIced(pid), "now in:", where)
	// Output:
	// added to new: 1
	// feeler: true true
	// promoted: true 1
	// removed: true iced: true now in: ice
}
