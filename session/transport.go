package session

import (
	"net/netip"
	"strconv"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/witnet-p2p/witnet-p2p/protocol"
	"github.com/witnet-p2p/witnet-p2p/protocol/pb"
)

// Transport is what a session's stream runs over. The session itself is the same on
// every transport (PROTOCOL.md 0); the transport decides how its peer is named (Key),
// which address forms it may send and receive, and which of the manager's limits it
// counts against.
type Transport uint8

// Transports.
const (
	// TransportLibp2p: a libp2p stream on ProtocolID (Service). The peer is named by its
	// peer ID; addresses may be multiaddrs ending in /p2p/<id>.
	TransportLibp2p Transport = iota
	// TransportTCP: a plain TCP connection to a witnet-rust node, witnet-rust's wire and
	// nothing else. The peer is named by its socket address; only the 6- and 18-byte
	// IP:port address forms are sent or accepted.
	TransportTCP

	// NumTransports is the number of transports, for arrays indexed by Transport.
	NumTransports = 2
)

// String returns "libp2p" or "tcp", the value of the "transport" log field and metric
// label.
func (t Transport) String() string {
	switch t {
	case TransportLibp2p:
		return "libp2p"
	case TransportTCP:
		return "tcp"
	}
	return "transport(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Key names a session's peer in the sessions manager (at most one session per key and
// direction) and wherever else sessions are kept by peer: the peer ID for a libp2p
// session, the socket address for a plain-TCP one. Keys are comparable and usable as map
// keys; the zero Key names no peer.
type Key struct {
	id   peer.ID
	addr netip.AddrPort // valid only for TransportTCP keys
}

// PeerKey returns the key of a libp2p peer.
func PeerKey(id peer.ID) Key { return Key{id: id} }

// TCPKey returns the key of a plain-TCP peer at ap. An IPv4-mapped IPv6 address (as a
// dual-stack listener reports IPv4 peers) names the same peer as its IPv4 form, and the
// IPv6 zone is dropped, so one socket address always gives one key.
func TCPKey(ap netip.AddrPort) Key {
	return Key{addr: netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())}
}

// Transport returns the transport of the peer the key names.
func (k Key) Transport() Transport {
	if k.addr.IsValid() {
		return TransportTCP
	}
	return TransportLibp2p
}

// PeerID returns the peer ID of a libp2p key, "" for a TCP key.
func (k Key) PeerID() peer.ID { return k.id }

// AddrPort returns the socket address of a TCP key, the zero AddrPort for a libp2p key.
func (k Key) AddrPort() netip.AddrPort { return k.addr }

// IsZero reports whether k names no peer.
func (k Key) IsZero() bool { return k == Key{} }

// String returns the peer ID of a libp2p key and "tcp/IP:PORT" for a TCP key.
func (k Key) String() string {
	if k.addr.IsValid() {
		return "tcp/" + k.addr.String()
	}
	return k.id.String()
}

// Key returns the key of the peer: PeerKey(p.ID), or TCPKey(p.AddrPort) for a plain-TCP
// peer.
func (p Peer) Key() Key {
	if p.Transport == TransportTCP {
		return TCPKey(p.AddrPort)
	}
	return PeerKey(p.ID)
}

// LegacyAddressLen reports whether b has the length of a legacy IP:port address (6 or 18
// bytes), the only forms a witnet-rust node decodes (PROTOCOL.md 5).
func LegacyAddressLen(b []byte) bool {
	return len(b) == protocol.LegacyIPv4Len || len(b) == protocol.LegacyIPv6Len
}

// legacyOnly returns the addresses of addrs a witnet-rust peer can decode, dropping the
// others (multiaddr forms) in place.
func legacyOnly(addrs [][]byte) [][]byte {
	out := addrs[:0:0]
	for _, a := range addrs {
		if LegacyAddressLen(a) {
			out = append(out, a)
		}
	}
	return out
}

// checkTCPAddresses applies the plain-TCP address rule to a decoded message: every
// Address it carries (Version's sender and receiver, Peers' list) must be 6 or 18 bytes,
// as witnet-rust requires. witnet-rust fails to convert such a message (its legacy
// fallback then unwraps the same failure, PROTOCOL.md 13.2); here it is a decode error,
// which ends the session and ices the peer. A Version without one of its addresses fails
// the same way (witnet-rust reads a missing field as empty).
func checkTCPAddresses(msg *pb.Message) error {
	switch k := msg.GetKind(); {
	case k.GetVersion() != nil:
		v := k.GetVersion()
		for _, a := range [...]*pb.Address{v.GetSenderAddress(), v.GetReceiverAddress()} {
			if err := checkTCPAddress(a.GetAddress()); err != nil {
				return err
			}
		}
	case k.GetPeers_() != nil:
		for _, a := range k.GetPeers_().GetPeers() {
			if err := checkTCPAddress(a.GetAddress()); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkTCPAddress(b []byte) error {
	if LegacyAddressLen(b) {
		return nil
	}
	return &protocol.AddressError{Len: len(b), Reason: "a plain-TCP peer may only send 6- or 18-byte addresses"}
}
