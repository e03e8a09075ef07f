package session

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// ProtocolID is the libp2p protocol ID of a Witnet session stream. Each stream opened on
// it carries exactly one Session.
const ProtocolID = "/witnet/p2p/1.0.0"

// Default settings (PROTOCOL.md section 10), applied to zero Config fields.
const (
	// DefaultHandshakeTimeout is how long a session may stay unconsolidated.
	DefaultHandshakeTimeout = 5 * time.Second
	// DefaultMaxTimestampDiff is the largest accepted drift of a Version timestamp.
	DefaultMaxTimestampDiff = 10 * time.Second
	// DefaultSendQueueSize is the number of messages a session queues for its writer
	// before it treats the peer as too slow and closes.
	DefaultSendQueueSize = 256
	// DefaultSendQueueBytes is the number of frame bytes a session queues for its writer
	// before it treats the peer as too slow and closes: twice the largest frame, so that
	// a served item never crowds out the node's own messages.
	DefaultSendQueueBytes = 16 << 20
	// DefaultServeQueueBytes is Budgets.ServeQueueBytes's default: Bitcoin Core serves
	// getdata while the peer's send buffer holds less than 1 MB (-maxsendbuffer).
	DefaultServeQueueBytes = 1 << 20
	// DefaultMaxServeBacklog is Budgets.MaxServeBacklog's default: one InventoryRequest of
	// the largest size (protocol.MaxInventoryEntries) always fits, so only a peer that
	// piles requests on requests it does not read reaches it.
	DefaultMaxServeBacklog = protocol.MaxInventoryEntries
	// DefaultWriteTimeout is how long one write to the stream may block (the peer is not
	// reading) before the session ends as a slow peer. go-ethereum allows 20 s per frame.
	DefaultWriteTimeout = 20 * time.Second
	// DefaultMaxDownloadBytes is Config.MaxDownloadBytes's default. witnet-rust buffers
	// a whole batch whatever its size; a peer that announces 500 hashes and then sends
	// 500 maximal blocks matching them would make that several GiB per session.
	DefaultMaxDownloadBytes = 256 << 20
	// DefaultBlocksBatchLimit is requested_blocks_batch_limit: how many block hashes of
	// one InventoryAnnouncement are requested.
	DefaultBlocksBatchLimit = 500
	// DefaultSuperblockPeriod is the superblock period in epochs.
	DefaultSuperblockPeriod = 10
	// DefaultNonceSetSize is the capacity of a NonceSet created with a non-positive size.
	DefaultNonceSetSize = 1024
	// DefaultMaxHandshakeFrameSize is Config.MaxHandshakeFrameSize's default. A Version
	// is a few hundred bytes (two addresses of at most 512 bytes, a user agent of at most
	// protocol.MaxUserAgentLength, a beacon); 64 KiB is far above any honest handshake
	// message and keeps what an unknown peer can make us allocate small.
	DefaultMaxHandshakeFrameSize = 64 << 10
)

// Type says who opened a session and why.
type Type uint8

// Session types (PROTOCOL.md section 7.1).
const (
	// Inbound: the peer opened the stream.
	Inbound Type = iota
	// Outbound: we opened the stream to keep the peer.
	Outbound
	// Feeler: we opened the stream only to test an address for the tried bucket.
	Feeler
)

// String returns "inbound", "outbound" or "feeler".
func (t Type) String() string {
	switch t {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case Feeler:
		return "feeler"
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Status is where a session is in its life: before or after the handshake.
type Status uint8

// Session statuses.
const (
	// Unconsolidated: the handshake has not completed (or the manager has not accepted it).
	Unconsolidated Status = iota
	// Consolidated: handshake complete and accepted by the manager.
	Consolidated
)

// String returns "unconsolidated" or "consolidated".
func (s Status) String() string {
	switch s {
	case Unconsolidated:
		return "unconsolidated"
	case Consolidated:
		return "consolidated"
	}
	return "status(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// Peer describes the remote end of a session.
type Peer struct {
	// ID is the remote libp2p peer ID; libp2p sessions are keyed by it (see Key). It is
	// empty over TransportTCP.
	ID peer.ID
	// Addr is the remote transport address of the connection (without /p2p). It may be nil.
	Addr ma.Multiaddr
	// IP is the remote IP of the connection, used by the sybil rule. It may be the zero
	// Addr when unknown.
	IP netip.Addr
	// Transport is what the session runs over; the zero value is TransportLibp2p.
	Transport Transport
	// AddrPort is, over TransportTCP, the peer's socket address, which names it (Key):
	// for an Inbound session the connection's remote address, for an Outbound or Feeler
	// one the address dialled, as given. It is unused over libp2p.
	AddrPort netip.AddrPort
}

// String returns the peer ID, or over TCP the socket address, or the address when there
// is neither.
func (p Peer) String() string {
	if p.Transport == TransportTCP {
		return p.AddrPort.String()
	}
	if p.ID != "" {
		return p.ID.String()
	}
	if p.Addr != nil {
		return p.Addr.String()
	}
	return p.IP.String()
}

// Registry is what a session needs from the sessions manager. Its methods are called from
// Start's caller, from the session's reader goroutine, or from whichever goroutine ends
// the session; they must not block on the network. They may call the session's
// non-blocking methods (Send, Close, ...). Feelers never call the Registry: they are
// invisible to the manager.
type Registry interface {
	// Register adds a new Inbound or Outbound session to the unconsolidated collection of
	// its direction. An error (limit reached, peer already registered) closes the session
	// with ReasonRegisterRefused.
	Register(s *Session) error
	// Consolidate moves a registered session to the consolidated collection once its
	// handshake completed. An error closes the session with ReasonConsolidateRefused and
	// ices the peer.
	Consolidate(s *Session) error
	// Unregister removes a session that Register accepted from the collection of its last
	// status. It is called exactly once per registered session, whatever ends it.
	Unregister(s *Session, t Type, last Status)
	// OutboundBeacon hands over a LastBeacon received on a consolidated Outbound session
	// (for the peers-beacon consensus, PROTOCOL.md section 8.5).
	OutboundBeacon(s *Session, b *pb.LastBeacon)
}

// AddressBook is what a session needs from the address book (the peers manager).
// Addresses are Address.address byte strings: a binary multiaddr ending in /p2p/<id>, or
// the legacy 6- or 18-byte witnet-rust form. Methods must be safe for concurrent use and
// must not block on the network.
type AddressBook interface {
	// PeersForGetPeers returns the addresses to send to the peer to in reply to its
	// GetPeers (witnet-rust: every address of the tried bucket), in the forms to's
	// transport carries: a plain-TCP peer only decodes 6- and 18-byte addresses. An
	// empty result is valid.
	PeersForGetPeers(to Peer) [][]byte
	// AddPeers offers addresses to the new bucket; from is the peer that told us.
	AddPeers(from Peer, addrs [][]byte)
	// Good records p as reachable (tried bucket): a successful Feeler, or an Outbound
	// session that consolidated.
	Good(p Peer)
	// Ice removes p from the tried bucket and puts it in the ice bucket.
	Ice(p Peer)
	// RemoveTried removes p from the tried bucket without icing it. Sessions do not call
	// it; the manager does when an Outbound session ends (PROTOCOL.md section 7.3).
	RemoveTried(p Peer)
}

// Inventory is what a session needs from the inventory (block, transaction and superblock
// store). Methods must be safe for concurrent use and must not block on the network.
type Inventory interface {
	// Missing returns, in the given order, the entries we do not hold.
	Missing(entries []*pb.InventoryEntry) []*pb.InventoryEntry
	// Item returns the command that carries the item named by e (a Block, Transaction
	// or SuperBlock command), or false if we do not hold it. The session wraps it in a
	// Message; the returned command must not be modified afterwards.
	Item(e *pb.InventoryEntry) (*pb.Message_Command, bool)
	// Received hands over a Block, Transaction, SuperBlock or SuperBlockVote message that
	// arrived on a consolidated session. It runs on the session's reader goroutine. An
	// Offence other than OffenceNone is scored against the peer (an inventory that bounds
	// what one peer may push unasked returns OffenceUnsolicitedBudget).
	Received(from *Session, msg *pb.Message) Offence
}

// Chain is what a session needs from the chain state. Methods must be safe for concurrent
// use and must not block on the network.
type Chain interface {
	// LastBeacon returns our highest block and superblock checkpoints, sent in our Version
	// and compared with the peer's. It must not return nil.
	LastBeacon() *pb.LastBeacon
	// Epoch returns the current epoch at time now (0 before epoch zero).
	Epoch(now time.Time) uint32
	// SuperBlockTarget returns the superblock consensus target beacon, or nil when the
	// node has none (then our own highest superblock checkpoint is used).
	SuperBlockTarget() *pb.CheckpointBeacon
	// InboundBeacon hands over a LastBeacon received on a consolidated Inbound session
	// (PROTOCOL.md section 7.6; the chain may answer through s.AnnounceItems).
	InboundBeacon(s *Session, b *pb.LastBeacon)
}

// BlockSink receives the blocks of completed block downloads (PROTOCOL.md 7.5): a session
// that answered an InventoryAnnouncement with a request for blocks hands all of them over
// at once, in announcement order, when the last one has arrived, as witnet-rust's session
// sends its batch to the chain manager. Each Block is also handed to Inventory.Received as
// it arrives, so relaying never waits for a batch.
//
// A Chain or Inventory that implements BlockSink is used when Config.Blocks is nil.
type BlockSink interface {
	// Blocks hands over one finished download. A non-empty blocks is a complete batch,
	// in the order the peer announced the hashes. An empty blocks means the download was
	// aborted: the session ended with blocks still owed (witnet-rust then tells the chain
	// manager the batch is empty). A download replaced by a newer announcement is not
	// reported. Blocks runs on the session's reader goroutine (an abort once the session
	// has stopped reading, before Registry.Unregister); it must not block on the network,
	// and the blocks must not be modified (Inventory.Received got the same messages).
	Blocks(s *Session, blocks []*pb.Block)
}

// VoteSource is implemented by an Inventory or Chain that holds superblock votes. When a
// session serves an InventoryRequest and one of the blocks it sends has the epoch of our
// highest block checkpoint at the session's creation, it sends every vote
// SuperBlockVotes returns right after the requested items (PROTOCOL.md 7.5), so a peer that
// has just synced up to our tip can take part in the current superblock. The list should
// be bounded: each vote is one message queued on the session.
type VoteSource interface {
	// SuperBlockVotes returns the votes to send, which are only read.
	SuperBlockVotes() []*pb.SuperBlockVote
}

// Stand-ins for the services Config leaves nil (see withDefaults): no registry, an empty
// address book and inventory, a chain with no checkpoint at epoch 0.
type (
	nopRegistry    struct{}
	nopAddressBook struct{}
	nopInventory   struct{}
	zeroChain      struct{}
)

func (nopRegistry) Register(*Session) error                              { return nil }
func (nopRegistry) Consolidate(*Session) error                           { return nil }
func (nopRegistry) Unregister(*Session, Type, Status)                    {}
func (nopRegistry) OutboundBeacon(*Session, *pb.LastBeacon)              {}
func (nopAddressBook) PeersForGetPeers(Peer) [][]byte                    { return nil }
func (nopAddressBook) AddPeers(Peer, [][]byte)                           {}
func (nopAddressBook) Good(Peer)                                         {}
func (nopAddressBook) Ice(Peer)                                          {}
func (nopAddressBook) RemoveTried(Peer)                                  {}
func (nopInventory) Missing(e []*pb.InventoryEntry) []*pb.InventoryEntry { return e }
func (nopInventory) Item(*pb.InventoryEntry) (*pb.Message_Command, bool) { return nil, false }
func (nopInventory) Received(*Session, *pb.Message) Offence              { return OffenceNone }
func (zeroChain) LastBeacon() *pb.LastBeacon                             { return protocol.NewLastBeaconPB(nil, nil) }
func (zeroChain) Epoch(time.Time) uint32                                 { return 0 }
func (zeroChain) SuperBlockTarget() *pb.CheckpointBeacon                 { return nil }
func (zeroChain) InboundBeacon(*Session, *pb.LastBeacon)                 {}

var (
	_ Registry    = nopRegistry{}
	_ AddressBook = nopAddressBook{}
	_ Inventory   = nopInventory{}
	_ Chain       = zeroChain{}
)

// Budgets are the limits a session applies to its peer: what the peer may send (message
// and byte budgets), how bad its misbehaviour score may get, and how long it may leave our
// writes blocked. A peer that exceeds a budget or reaches the threshold is disconnected
// and iced (ReasonMisbehaviour); one that stops reading ends as a slow peer
// (ReasonSlowPeer). The zero value of each field means what its comment says. Budgets is
// embedded in Config, and a node applies one Budgets to all its sessions.
type Budgets struct {
	// SendQueueSize is the send queue's capacity in messages; 0 means
	// DefaultSendQueueSize.
	SendQueueSize int
	// SendQueueBytes is the send queue's capacity in frame bytes (a message always fits
	// in an empty queue): a Send that does not fit ends the session as a slow peer, a
	// reply waits for room. 0 means DefaultSendQueueBytes.
	SendQueueBytes int
	// ServeQueueBytes bounds serving: requested items are queued only while the send
	// queue holds fewer bytes than this (and the node's SendBudget has room); the rest of
	// the request waits and is served as the writer drains the queue. 0 means
	// DefaultServeQueueBytes.
	ServeQueueBytes int
	// MaxServeBacklog bounds the requested entries waiting to be served; a peer whose
	// requests take it beyond commits OffenceServeBacklog, which ends the session
	// (ReasonMisbehaviour) and ices it. 0 means DefaultMaxServeBacklog.
	MaxServeBacklog int
	// MessageRate and MessageBurst are the peer's message budget: on average MessageRate
	// messages per second, MessageBurst of them at once. A peer that exceeds it commits
	// OffenceMessageBudget, which ends the session (ReasonMisbehaviour) and ices it. 0
	// means DefaultMessageRate and DefaultMessageBurst; a negative MessageRate removes the
	// budget.
	MessageRate  float64
	MessageBurst int
	// ByteRate and ByteBurst are the peer's budget of received frame bytes (headers
	// included), with the same rules (OffenceByteBudget). 0 means DefaultByteRate and
	// DefaultByteBurst; a burst below one frame of MaxFrameSize is raised to it; a
	// negative ByteRate removes the budget.
	ByteRate  float64
	ByteBurst int
	// MisbehaviourThreshold is the misbehaviour score (see Offence) at which the session
	// ends with ReasonMisbehaviour. 0 means DefaultMisbehaviourThreshold; a negative value
	// means offences are counted (Stats.Offences) but never end a session.
	MisbehaviourThreshold int
	// WriteTimeout bounds one write to the stream: a write blocked that long (the peer
	// stopped reading, its flow-control window is full) ends the session with
	// ReasonSlowPeer. It also bounds how long a reply waits for room in the send queue,
	// since the queue only drains through writes. 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
}

// Validate refuses values that have no meaning: negative bursts, sizes and durations.
// (Negative rates and thresholds are meaningful: they turn a budget off.)
func (b Budgets) Validate() error {
	var errs []error
	if b.MessageBurst < 0 || b.ByteBurst < 0 {
		errs = append(errs, fmt.Errorf("bursts must not be negative (messages %d, bytes %d)", b.MessageBurst, b.ByteBurst))
	}
	if b.WriteTimeout < 0 {
		errs = append(errs, fmt.Errorf("write timeout %v must not be negative", b.WriteTimeout))
	}
	if b.SendQueueSize < 0 || b.SendQueueBytes < 0 || b.ServeQueueBytes < 0 || b.MaxServeBacklog < 0 {
		errs = append(errs, fmt.Errorf("send queue bounds must not be negative (messages %d, bytes %d, serve bytes %d, backlog %d)",
			b.SendQueueSize, b.SendQueueBytes, b.ServeQueueBytes, b.MaxServeBacklog))
	}
	if math.IsNaN(b.MessageRate) || math.IsNaN(b.ByteRate) {
		errs = append(errs, errors.New("rates must be numbers"))
	}
	return errors.Join(errs...)
}

// Config holds a session's settings and collaborators. New copies it; the zero value of
// each field means what its comment says.
type Config struct {
	// Magic is the network id required on every message; 0 means protocol.Magic (10700).
	Magic uint16
	// HandshakeTimeout bounds the time to consolidate; 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxTimestampDiff is the largest accepted drift of a Version timestamp; 0 means
	// DefaultMaxTimestampDiff and a negative value disables the check (witnet-rust's
	// handshake_max_ts_diff = 0).
	MaxTimestampDiff time.Duration
	// MaxFrameSize caps frames both ways; 0 means codec.DefaultMaxFrameSize.
	MaxFrameSize int
	// MaxHandshakeFrameSize caps the frames received before the session consolidated:
	// a larger one ends the session with ReasonDecode (the peer is iced), before anything
	// is allocated for it. 0 means DefaultMaxHandshakeFrameSize; a negative value, or one
	// above MaxFrameSize, means MaxFrameSize.
	MaxHandshakeFrameSize int
	// Budgets are what the peer may send, how bad its score may get and how long it may
	// leave our writes blocked (see Budgets).
	Budgets
	// GetPeersInterval paces the answers to GetPeers: the first few are answered at
	// once, then one per interval; the others are ignored (Stats.GetPeersIgnored), not
	// scored. 0 means DefaultGetPeersInterval; a negative value answers every GetPeers.
	GetPeersInterval time.Duration
	// SendBudget, if not nil, is the node-wide bound on queued bytes this session shares
	// with every other: while all the sessions together hold more, none serves more
	// requested items (see SendBudget). nil means no node-wide bound.
	SendBudget *SendBudget
	// ReceiveBudget, if not nil, is the node-wide budget this session shares with every
	// other: once consolidated, the session waits for its share before it handles each
	// received frame (see ReceiveBudget). nil means no shared budget.
	ReceiveBudget *ReceiveBudget
	// BlocksBatchLimit caps the block hashes requested from one InventoryAnnouncement;
	// 0 means DefaultBlocksBatchLimit, a negative value means unlimited (witnet-rust's
	// requested_blocks_batch_limit = 0). A positive value below 2 × SuperblockPeriod is
	// raised to it.
	BlocksBatchLimit int
	// SuperblockPeriod is the superblock period in epochs, the floor of BlocksBatchLimit;
	// 0 means DefaultSuperblockPeriod. (Which epochs forgive beacon mismatches is
	// witnet-rust's hard-coded "multiple of 10", see protocol.HandshakeError.Ices.)
	SuperblockPeriod uint32
	// Activations are the protocol version activation epochs of the network, used to
	// hash received blocks with the version of their epoch (PROTOCOL.md 11.1) and match them
	// to a block download. The zero value hashes every block as V1.7 (a development
	// network); the inventory must use the same activations.
	Activations protocol.VersionActivations
	// MaxDownloadBytes bounds the encoded size of the blocks a block download holds
	// until its last block arrives; 0 means DefaultMaxDownloadBytes. A download that
	// would exceed it is abandoned (logged, reported to the BlockSink as aborted, the
	// session goes on; the blocks already reached the Inventory one by one).
	MaxDownloadBytes int
	// Blocks receives completed block downloads; nil means the Chain if it implements
	// BlockSink, else the Inventory if it does, else batches are only logged.
	Blocks BlockSink
	// SenderAddress is the Version.sender_address we announce (our public address as
	// Address.address bytes); nil means six zero bytes (0.0.0.0:0, no public address).
	// Over TransportTCP a value that is not 6 or 18 bytes long is sent as 0.0.0.0:0.
	SenderAddress []byte
	// SenderAddressFunc, if not nil, replaces SenderAddress: it is called for each
	// Version, for a node whose address changes (a relay address once it has one).
	SenderAddressFunc func() []byte
	// Clock supplies time and timers; nil means the real clock.
	Clock Clock
	// Nonces is the node-wide set of Version nonces we sent, for self-connection
	// detection; nil means a set private to this session (detects nothing useful).
	Nonces *NonceSet
	// Registry is the sessions manager; nil means no registration (every Register and
	// Consolidate succeeds).
	Registry Registry
	// AddressBook is the address book; nil means GetPeers is answered with no addresses
	// and received addresses are dropped.
	AddressBook AddressBook
	// Inventory is the item store; nil means nothing is held, every announced block is
	// requested and received items are dropped.
	Inventory Inventory
	// Chain is the chain state; nil means a zero beacon at epoch 0 with no superblock
	// target, and inbound LastBeacons are dropped.
	Chain Chain
}

// Clock supplies time and timers, so that timeouts and timestamp checks are testable.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it did so.
	Stop() bool
}

// NonceSet remembers the Version nonces this node sent recently, so that a session that
// receives one of them knows it is connected to itself. It is bounded (the oldest nonce
// is forgotten first) and safe for concurrent use; share one per node.
type NonceSet struct {
	mu   sync.Mutex
	ring []uint64
	next int
	set  map[uint64]int // nonce -> number of copies in ring
}

// NewNonceSet returns a set that remembers the last size nonces; size <= 0 means
// DefaultNonceSetSize.
func NewNonceSet(size int) *NonceSet {
	if size <= 0 {
		size = DefaultNonceSetSize
	}
	return &NonceSet{ring: make([]uint64, 0, size), set: make(map[uint64]int, size)}
}

// Add records a nonce we put in a Version, forgetting the oldest one if the set is full.
func (n *NonceSet) Add(nonce uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.ring) < cap(n.ring) {
		n.ring = append(n.ring, nonce)
	} else {
		old := n.ring[n.next]
		if c := n.set[old]; c <= 1 {
			delete(n.set, old)
		} else {
			n.set[old] = c - 1
		}
		n.ring[n.next] = nonce
		n.next = (n.next + 1) % len(n.ring)
	}
	n.set[nonce]++
}

// Contains reports whether nonce is one we sent recently.
func (n *NonceSet) Contains(nonce uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.set[nonce] > 0
}

// Stats are a session's message counters, indexed by protocol.Kind (index 0,
// protocol.KindNone, counts frames that did not decode). Bytes include the 4-byte frame
// header.
type Stats struct {
	// MessagesIn and MessagesOut count messages received and written.
	MessagesIn, MessagesOut [protocol.NumKinds]uint64
	// BytesIn and BytesOut count frame bytes received and written.
	BytesIn, BytesOut [protocol.NumKinds]uint64
	// Unexpected counts received messages whose kind is not allowed in the session's
	// state at the time (logged and ignored, PROTOCOL.md section 7.4).
	Unexpected [protocol.NumKinds]uint64
	// Offences counts the peer's offences by kind (see Offence).
	Offences [NumOffences]uint64
	// GetPeersIgnored counts the GetPeers left unanswered by the GetPeersInterval pacing.
	GetPeersIgnored uint64
}
