package dialer

import (
	"errors"
	"strings"
	"sync"
	"syscall"

	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/witnet-p2p/witnet-p2p/node/peers"
	"github.com/witnet-p2p/witnet-p2p/session"
)

// maxWarned bounds the (address, reason) pairs remembered as already logged.
const maxWarned = 1024

// warner logs the failed dials of operator-given peers (configured bootstrap peers and
// addPeers entries) at WARN, once per address and reason: a bootstrap peer that is down
// produces one line, not one per round, and a new line when the reason changes.
type warner struct {
	mu   sync.Mutex
	seen map[string]struct{}
}

// failed logs the failed dial of a with err, unless that address failed for that reason
// before.
func (w *warner) failed(a peers.Addr, err error) {
	reason, check := classify(a, err)
	if reason == "" {
		return
	}
	addr := a.String()
	if !a.IsLegacy() {
		if ps, perr := a.P2PAddrs(); perr == nil {
			parts := make([]string, len(ps))
			for i, m := range ps {
				parts[i] = m.String()
			}
			addr = strings.Join(parts, " ")
		}
	}
	key := addr + "\x00" + reason
	w.mu.Lock()
	_, dup := w.seen[key]
	if !dup {
		if len(w.seen) >= maxWarned {
			clear(w.seen)
		}
		w.seen[key] = struct{}{}
	}
	w.mu.Unlock()
	if !dup {
		log.Warnw("bootstrap peer unreachable", "addr", addr, "reason", reason, "check", check, "err", err)
	}
}

// classify names why a dial of a failed, and what the operator should check. An empty
// reason means the failure says nothing new (libp2p's dial backoff repeats an earlier
// failure).
func classify(a peers.Addr, err error) (reason, check string) {
	var mismatch sec.ErrPeerIDMismatch
	msg := err.Error()
	switch {
	case errors.Is(err, swarm.ErrDialBackoff):
		return "", ""
	case errors.As(err, &mismatch) || strings.Contains(msg, "peer id mismatch"):
		return "wrong_peer_id", "a node answers at that address but with another peer ID: check the /p2p/ part (a node prints its ID when it starts)"
	case errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(msg, "connection refused"):
		return "connection_refused", "nothing listens on that port: check that the peer runs and the port is right"
	case onlyNames(a) && (errors.Is(err, swarm.ErrNoGoodAddresses) || strings.Contains(msg, "no such host") || strings.Contains(msg, "resolve")):
		return "dns_unresolved", "the name does not resolve: check the /dns4 or /dns6 name and this machine's DNS"
	case errors.Is(err, swarm.ErrNoGoodAddresses):
		return "no_usable_address", "no address this node can dial (TCP or QUIC over IPv4 or IPv6)"
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		return "unreachable", "no route to that address: check the IP and this machine's network"
	case strings.Contains(msg, "deadline exceeded") || strings.Contains(msg, "timeout"):
		return "timeout", "no answer in time: check the address and any firewall between the nodes"
	}
	return "other", "see err"
}

// onlyNames reports whether every address of a is a DNS name.
func onlyNames(a peers.Addr) bool {
	if a.IsLegacy() || len(a.Addrs) == 0 {
		return false
	}
	for _, m := range a.Addrs {
		if len(m) == 0 {
			return false
		}
		switch m[0].Code() {
		case ma.P_DNS, ma.P_DNS4, ma.P_DNS6, ma.P_DNSADDR:
		default:
			return false
		}
	}
	return true
}

// noPeersHint says how to bootstrap while the node has no session at all.
func (d *Dialer) noPeersHint() {
	c, tcp := d.cfg.Sessions.NumSessionsOf(session.TransportLibp2p), d.cfg.Sessions.NumSessionsOf(session.TransportTCP)
	legacy, _ := d.counts(true)
	if c.Inbound()+c.Outbound()+tcp.Inbound()+tcp.Outbound()+legacy > 0 {
		return
	}
	newN, triedN, icedN := d.cfg.Book.Counts()
	log.Warnw("no peers: this node has no session",
		"hint", "give it a peer to start from: --bootstrap /ip4/<IP>/tcp/<PORT>/p2p/<PEER ID> (another node prints this address when it starts), or the addPeers JSON-RPC method; if bootstrap peers are configured, see the 'bootstrap peer unreachable' warnings",
		"bootstrap", len(d.cfg.Bootstrap)+len(d.cfg.LegacyBootstrap), "added", len(d.cfg.Book.Added()),
		"book_new", newN, "book_tried", triedN, "book_ice", icedN)
}
