package rpc

import (
	"context"
	"encoding/json"
)

// JSON-RPC method names, as witnet-rust names them.
const (
	MethodPeers           = "peers"
	MethodKnownPeers      = "knownPeers"
	MethodAddPeers        = "addPeers"
	MethodClearPeers      = "clearPeers"
	MethodInitializePeers = "initializePeers"
	MethodNodeStats       = "nodeStats"
)

// Peer types in the result of peers.
const (
	PeerInbound  = "inbound"
	PeerOutbound = "outbound"
)

// Known-peer types in the result of knownPeers.
const (
	KnownNew   = "new"
	KnownTried = "tried"
)

// Peer is one consolidated session in the result of peers.
type Peer struct {
	// Address is the remote multiaddr of a libp2p session, ending in /p2p/<peer id>, or
	// the IP:PORT of a plain-TCP one, as witnet-rust shows it (inbound: the peer's source
	// address; outbound: the address dialled).
	Address string `json:"address"`
	// Type is PeerInbound or PeerOutbound.
	Type string `json:"type"`
}

// KnownPeer is one address-book entry in the result of knownPeers.
type KnownPeer struct {
	// Address is the multiaddr of the entry, ending in /p2p/<peer id>, or the IP:PORT of
	// a witnet-rust peer over plain TCP.
	Address string `json:"address"`
	// Type is KnownNew or KnownTried.
	Type string `json:"type"`
}

// SessionCounts counts sessions of one type by status.
type SessionCounts struct {
	Unconsolidated int `json:"unconsolidated"`
	Consolidated   int `json:"consolidated"`
}

// TransportSessions counts the sessions of one transport by type and status.
type TransportSessions struct {
	Inbound  SessionCounts `json:"inbound"`
	Outbound SessionCounts `json:"outbound"`
}

// BookCounts counts the address book's entries by bucket.
type BookCounts struct {
	New   int `json:"new"`
	Tried int `json:"tried"`
	Ice   int `json:"ice"`
}

// NodeStats is the result of nodeStats.
type NodeStats struct {
	// PeerID is the node's libp2p peer ID.
	PeerID string `json:"peerId"`
	// UptimeSeconds is the time since the node started, in whole seconds.
	UptimeSeconds int64 `json:"uptimeSeconds"`
	// Inbound, Outbound and Feeler count the live sessions of each type. Feelers are never
	// consolidated: they close as soon as their handshake ends.
	Inbound  SessionCounts `json:"inbound"`
	Outbound SessionCounts `json:"outbound"`
	Feeler   int           `json:"feeler"`
	// Transports splits Inbound and Outbound by transport: "libp2p" and "tcp" (the
	// plain-TCP sessions with witnet-rust nodes).
	Transports map[string]TransportSessions `json:"transports,omitempty"`
	// MessagesIn and MessagesOut count Witnet messages received and sent since start;
	// BytesIn and BytesOut count their frames, length prefix included.
	MessagesIn  uint64 `json:"messagesIn"`
	MessagesOut uint64 `json:"messagesOut"`
	BytesIn     uint64 `json:"bytesIn"`
	BytesOut    uint64 `json:"bytesOut"`
	// KnownPeers counts the address book's buckets.
	KnownPeers BookCounts `json:"knownPeers"`
	// ListenAddresses are the multiaddrs the host listens on, as bound (port 0 resolved).
	ListenAddresses []string `json:"listenAddresses"`
	// Addresses are the multiaddrs the node announces, each ending in /p2p/<peer id>,
	// relay (p2p-circuit) addresses included: what other nodes can bootstrap from
	// (kubo's "ipfs id" Addresses).
	Addresses []string `json:"addresses"`
	// Reachability is whether peers can dial us, as AutoNAT found it: "public",
	// "private" (behind a NAT or firewall: reachable through relays and hole punching)
	// or "unknown" (not decided yet).
	Reachability string `json:"reachability"`
	// DataDir is the node's data directory.
	DataDir string `json:"dataDir"`
	// Version is the node's software version (and build commit, when known).
	Version string `json:"version"`
	// Consensus is the last peers-beacon consensus round; absent before the first.
	Consensus *ConsensusStats `json:"consensus,omitempty"`
	// Beacon is the LastBeacon the node announces now (in its Version and each epoch).
	Beacon *LastBeaconStats `json:"beacon,omitempty"`
}

// ConsensusStats is the outcome of the last peers-beacon consensus round: the beacons of
// the outbound peers, counted against the outbound slots (empty ones vote for no beacon).
type ConsensusStats struct {
	// Epoch is the epoch of the round.
	Epoch uint32 `json:"epoch"`
	// Transport is the transport whose outbound peers the round counted ("tcp" or
	// "libp2p"): each is counted apart, and the node follows the plain-TCP (witnet-rust)
	// majority when there is one.
	Transport string `json:"transport"`
	// Majority is the beacon the round agreed on; absent when there was no consensus.
	Majority *BeaconStats `json:"majority,omitempty"`
	// Agreeing counts the outbound peers whose beacon matches the majority, Beacons
	// those that sent one, Abstaining those whose beacon names no block (nodes without a
	// chain: kept, not counted), Slots the votes counted.
	Agreeing   int `json:"agreeing"`
	Beacons    int `json:"beacons"`
	Abstaining int `json:"abstaining"`
	Slots      int `json:"slots"`
	// Synced says the node holds the majority's highest block.
	Synced bool `json:"synced"`
}

// LastBeaconStats is a LastBeacon: the highest block and superblock checkpoints and
// hashes.
type LastBeaconStats struct {
	BlockEpoch      uint32 `json:"blockEpoch"`
	BlockHash       string `json:"blockHash"`
	SuperblockEpoch uint32 `json:"superblockEpoch"`
	SuperblockHash  string `json:"superblockHash"`
}

// BeaconStats is a consensus majority's LastBeacon.
type BeaconStats struct {
	LastBeaconStats
	// BlockConsensus says the block checkpoint reached the threshold too (else it is the
	// most common one among the peers of the majority superblock).
	BlockConsensus bool `json:"blockConsensus"`
}

// Backend is what the server needs from a node. Methods are called concurrently.
type Backend interface {
	// Peers lists the consolidated inbound and outbound sessions.
	Peers(ctx context.Context) ([]Peer, error)
	// KnownPeers lists the new and tried buckets of the address book.
	KnownPeers(ctx context.Context) ([]KnownPeer, error)
	// AddPeers adds addresses to the new bucket, melting them from ice first; it returns
	// once the change is durable. Each is a multiaddr ending in /p2p/<id> (ParsePeerAddr)
	// or a witnet-rust peer's IP:PORT, as checked by the server.
	AddPeers(ctx context.Context, addrs []string) error
	// ClearPeers empties the address book.
	ClearPeers(ctx context.Context) error
	// InitializePeers replaces the address book with the configured bootstrap addresses
	// and drops every session.
	InitializePeers(ctx context.Context) error
	// NodeStats reports counters.
	NodeStats(ctx context.Context) (NodeStats, error)
	// Health returns nil while the node is serving.
	Health(ctx context.Context) error
}

// Method is a JSON-RPC method beyond the built-in ones: it gets the raw params (nil when
// absent) and returns a result to marshal, or an error (a *Error is sent as it is, any
// other error as an internal error).
type Method func(ctx context.Context, params json.RawMessage) (any, error)

// Extensions is implemented by a Backend that serves more methods (another package's, such
// as the inventory's). The map is read once, when the handler is built; built-in method
// names cannot be overridden.
type Extensions interface {
	Methods() map[string]Method
}
