package node

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/node/rpc"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// rpcBackend is the node seen by the JSON-RPC server; the conversion type keeps these
// methods off the Node's own API.
type rpcBackend Node

var (
	_ rpc.Backend    = (*rpcBackend)(nil)
	_ rpc.Extensions = (*rpcBackend)(nil)
)

// Methods returns the JSON-RPC methods added with WithRPCMethods.
func (b *rpcBackend) Methods() map[string]rpc.Method { return b.cfg.rpcMethods }

// p2pString renders an address with the peer's /p2p/<id>.
func p2pString(addr ma.Multiaddr, id peer.ID) string {
	if addr == nil {
		return mustP2P(id).String()
	}
	return addr.Encapsulate(mustP2P(id)).String()
}

// Peers lists the consolidated sessions.
func (b *rpcBackend) Peers(context.Context) ([]rpc.Peer, error) {
	infos := b.mgr.ConsolidatedPeers()
	out := make([]rpc.Peer, 0, len(infos))
	for _, p := range infos {
		typ := rpc.PeerInbound
		if p.Type == session.Outbound {
			typ = rpc.PeerOutbound
		}
		out = append(out, rpc.Peer{Address: peerAddress(p.Peer), Type: typ})
	}
	return out, nil
}

// KnownPeers lists the tried then the new bucket, one row per peer and bucket: a libp2p
// peer as its first multiaddr with /p2p/<id>, a witnet-rust peer as IP:PORT.
func (b *rpcBackend) KnownPeers(context.Context) ([]rpc.KnownPeer, error) {
	var out []rpc.KnownPeer
	list := func(entries []peers.Addr, typ string) {
		seen := map[peers.Key]bool{}
		for _, a := range entries {
			if seen[a.Key()] {
				continue
			}
			seen[a.Key()] = true
			if a.IsLegacy() {
				out = append(out, rpc.KnownPeer{Address: a.Legacy.String(), Type: typ})
				continue
			}
			var first ma.Multiaddr
			if len(a.Addrs) > 0 {
				first = a.Addrs[0]
			}
			out = append(out, rpc.KnownPeer{Address: p2pString(first, a.ID), Type: typ})
		}
	}
	list(b.book.Tried(), rpc.KnownTried)
	list(b.book.New(), rpc.KnownNew)
	return out, nil
}

// AddPeers adds operator-given peers to the new bucket: multiaddrs with /p2p/<id>, and
// witnet-rust peers as IP:PORT.
func (b *rpcBackend) AddPeers(_ context.Context, addrs []string) error {
	err := (*Node)(b).addPeerStrings(addrs)
	var aerr *peers.AddrError
	if errors.As(err, &aerr) {
		return &rpc.Error{Code: rpc.CodeInvalidParams, Message: err.Error()}
	}
	return err
}

// ClearPeers empties the new and tried buckets.
func (b *rpcBackend) ClearPeers(context.Context) error { return b.book.Clear() }

// InitializePeers replaces the book with the configured bootstrap peers and drops every
// session, as witnet-rust's initializePeers does with its known_peers.
func (b *rpcBackend) InitializePeers(context.Context) error {
	if err := b.book.Clear(); err != nil {
		return err
	}
	if err := (*Node)(b).addBootstrap(); err != nil {
		return err
	}
	dropped := b.mgr.DropAll()
	log.Infow("address book initialized", "bootstrap", len(b.cfg.bootstrap), "sessions_dropped", dropped)
	return nil
}

// NodeStats reports session counts, traffic and book sizes.
func (b *rpcBackend) NodeStats(context.Context) (rpc.NodeStats, error) {
	n := (*Node)(b)
	c := n.mgr.NumSessions()
	st := n.traffic.total()
	newN, triedN, iceN := n.book.Counts()
	out := rpc.NodeStats{
		PeerID:        n.id.String(),
		UptimeSeconds: int64(time.Since(n.started).Seconds()),
		Inbound:       rpc.SessionCounts{Unconsolidated: c.InboundUnconsolidated, Consolidated: c.InboundConsolidated},
		Outbound:      rpc.SessionCounts{Unconsolidated: c.OutboundUnconsolidated, Consolidated: c.OutboundConsolidated},
		Feeler:        n.dialer.Feelers(),
		Transports:    n.transportCounts(),
		KnownPeers:    rpc.BookCounts{New: newN, Tried: triedN, Ice: iceN},
		Consensus:     n.rounds.stats(),
		Beacon:        n.beaconStats(),
		DataDir:       n.dir.Path(),
		Version:       Version(),
		Reachability:  reachabilityName(n.nat.reachability()),
		Addresses:     []string{},
	}
	for _, a := range n.host.Network().ListenAddresses() {
		if isRelayed(a) {
			continue // the relay transport's "/p2p-circuit": no socket; relay addresses are in Addresses
		}
		out.ListenAddresses = append(out.ListenAddresses, a.String())
	}
	for _, a := range n.Addrs() {
		out.Addresses = append(out.Addresses, a.String())
	}
	for k := range st.MessagesIn {
		out.MessagesIn += st.MessagesIn[k]
		out.MessagesOut += st.MessagesOut[k]
		out.BytesIn += st.BytesIn[k]
		out.BytesOut += st.BytesOut[k]
	}
	return out, nil
}

// Health reports ErrClosed once the node is closing.
func (b *rpcBackend) Health(context.Context) error {
	if b.ctx.Err() != nil {
		return ErrClosed
	}
	return nil
}
