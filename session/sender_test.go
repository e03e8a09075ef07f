package session

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// senderBook records how the sender address arrived.
type senderBook struct {
	nopAddressBook
	sender, relayed [][]byte
}

func (b *senderBook) AddSender(_ Peer, a []byte)    { b.sender = append(b.sender, a) }
func (b *senderBook) AddPeers(_ Peer, as [][]byte)  { b.relayed = append(b.relayed, as...) }
func (b *plainBook) AddPeers(_ Peer, as [][]byte)   { b.relayed = append(b.relayed, as...) }
func (b *plainBook) PeersForGetPeers(Peer) [][]byte { return nil }
func (b *plainBook) Good(Peer)                      {}
func (b *plainBook) Ice(Peer)                       {}
func (b *plainBook) RemoveTried(Peer)               {}

type plainBook struct{ relayed [][]byte }

func TestAddSender(t *testing.T) {
	sb := &senderBook{}
	addSender(sb, Peer{}, []byte{1})
	require.Equal(t, [][]byte{{1}}, sb.sender)
	require.Empty(t, sb.relayed)

	pb := &plainBook{}
	addSender(pb, Peer{}, []byte{2})
	require.Equal(t, [][]byte{{2}}, pb.relayed, "a book without AddSender gets it through AddPeers")
}
