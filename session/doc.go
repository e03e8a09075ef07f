// Package session owns Witnet sessions and the sessions manager.
//
// A Session is one Witnet P2P conversation over one stream (a libp2p stream on
// ProtocolID, or any io.ReadWriteCloser): the Version/Verack handshake, then the dispatch
// of consolidated messages (peer discovery, inventory gossip, chain-tip beacons) to small
// upward interfaces (Registry, AddressBook, Inventory, Chain) that the node implements.
// The rules are witnet-rust's Session actor as described in WIRE.md section 7; where this
// package goes beyond it (self-connection detection, a bounded send queue, typed
// disconnect reasons, no panics on bad input) the code says so.
//
// Each started session runs exactly two goroutines: a reader, which owns the handshake
// state machine (handshake.go, a pure function of the flags, the message and the time)
// and performs its effects (dispatch.go), and a writer, which drains the send queue,
// batching everything queued into one write with a codec buffer borrowed for that batch.
// When the session ends, a short-lived third goroutine closes the stream (or resets it,
// after an error), so that nothing that closes a session waits on the network. The
// handshake timeout and the write-stall check are Clock timers, so tests drive them with
// a FakeClock. Whatever ends a session, its Registry sees exactly one
// Unregister, after both goroutines returned; Done then closes and Err says why, as a
// Reason (errors.go).
//
// Beyond witnet-rust, a session polices its peer (police.go): received messages and bytes
// are charged to token-bucket budgets, messages the protocol ignores cost misbehaviour
// points that decay with time, GetPeers answers are paced, and a peer that overruns a
// budget or reaches the score threshold is dropped with ReasonMisbehaviour and iced.
//
// The Manager (manager.go and the files beside it) keeps the sessions of a node bounded
// and connects them to libp2p.
package session
