// Package session owns Witnet sessions and the sessions manager.
//
// A Session is one Witnet P2P conversation over one stream (a libp2p stream on
// ProtocolID, or any io.ReadWriteCloser): the Version/Verack handshake, then the dispatch
// of consolidated messages (peer discovery, inventory gossip, chain-tip beacons) to small
// upward interfaces (Registry, AddressBook, Inventory, Chain) that the node implements.
// The rules are witnet-rust's Session actor as described in PROTOCOL.md section 7; where this
// package goes beyond it (self-connection detection, a bounded send queue, typed
// disconnect reasons, no panics on bad input) the code says so.
//
// Each started session runs exactly two goroutines: a reader, which reads frames with a
// codec.Reader, owns the handshake state machine (handshake.go, a pure function of the
// flags, the message and the time) and performs its effects (dispatch.go); and a writer,
// which writes everything queued at once (sendqueue.go). The writer does not frame
// anything: whichever goroutine queues a message encodes and frames it (codec.StartFrame,
// codec.FinishFrame) straight into the pooled buffer of the next write, which the writer
// takes whole, so an idle session holds no send buffer.
// When the session ends, a short-lived third goroutine closes the stream (or resets it,
// after an error), so that nothing that closes a session waits on the network. The
// handshake timeout and the write-stall check are Clock timers, so tests drive them with
// a FakeClock, inside a testing/synctest bubble. Whatever ends a session, its Registry
// sees exactly one Unregister, after both goroutines returned; Done then closes and Err
// says why, as a Reason (errors.go).
//
// Beyond witnet-rust, a session polices its peer (police.go): received messages and bytes
// are charged to token-bucket budgets, messages the protocol ignores cost misbehaviour
// points that decay with time, GetPeers answers are paced, and a peer that overruns a
// budget or reaches the score threshold is dropped with ReasonMisbehaviour and iced. A
// node-wide ReceiveBudget (budget.go), shared by all consolidated sessions, paces them
// together, so that many peers each within their own budget cannot take all the CPU.
// Until a session consolidates it reads only small frames (MaxHandshakeFrameSize).
//
// What a peer can make a session hold is bounded in bytes as well as counts: the send
// queue in messages and bytes, and the items of an InventoryRequest are queued only while
// the queue holds less than Budgets.ServeQueueBytes (and the node's SendBudget,
// sendbudget.go, has room); the rest of the request waits in a compact backlog that the
// writer serves as the peer reads (serve.go), as Bitcoin Core serves getdata. The reader
// never waits for that, so two peers asking each other for much cannot deadlock.
//
// Block download (blocks.go, PROTOCOL.md 7.5): the block hashes requested from an
// InventoryAnnouncement form the session's download; blocks go to the Inventory as they
// arrive and, once the last requested one is in, to a BlockSink all together in
// announcement order. Serving a block of our beacon's epoch is followed by our
// superblock votes (VoteSource). The block limit of an announcement is applied by the
// Inventory (AnnouncedBy), so that the blocks left out are not recorded as owed.
//
// The Manager (manager.go and the files beside it) keeps the sessions of a node bounded
// and connects them to libp2p.
package session
