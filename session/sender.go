package session

// SenderAddressBook is implemented by an AddressBook that keeps the address a peer
// announces for itself (its Version sender_address) apart from addresses it relays: the
// book can check that the address is the peer's own (its /p2p/<id> is the session's peer
// ID) and trust it more, since only a peer's own address failing says anything about the
// peer. An AddressBook without it gets the address through AddPeers.
type SenderAddressBook interface {
	// AddSender offers the sender address of an Inbound peer whose session consolidated.
	AddSender(from Peer, addr []byte)
}

// addSender hands an Inbound peer's sender address to the book.
func addSender(b AddressBook, from Peer, addr []byte) {
	if sb, ok := b.(SenderAddressBook); ok {
		sb.AddSender(from, addr)
		return
	}
	b.AddPeers(from, [][]byte{addr})
}
