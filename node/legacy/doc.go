// Package legacy runs Witnet sessions over plain TCP, the transport of witnet-rust nodes
// (PROTOCOL.md 0): one TCP connection per session carrying witnet-rust's wire and nothing
// else, no preamble and no encryption. The session on it is the same session.Session as
// over libp2p, registered with the same session.Manager, where a plain-TCP peer is named
// by its socket address (session.TCPKey) and counts against its own inbound and outbound
// limits and sybil ranges.
//
// A Transport accepts connections on a listen address (Listen) and dials peers (Dial).
// Before a session exists, the accept loop bounds what a stranger can take: accepted
// connections per second and connections still handshaking, in total and per remote IP.
// Until its session consolidates, a connection may not announce a frame larger than a
// handshake needs (Bounds.MaxHandshakeFrame, the session's MaxHandshakeFrameSize), so
// the memory held by handshaking connections is bounded in bytes as well as in count.
// The session's own budgets and hostile-input rules then apply as over libp2p; the
// session also refuses any address that is not a 6- or 18-byte IP:port.
//
// The transport keeps no address book of its own: its sessions use the node's, whose
// IP:port entries are the plain-TCP peers (tried once an outbound session consolidated,
// iced per socket address as in witnet-rust, so icing 1.2.3.4:21337 leaves 1.2.3.4:21338
// free), and the node's dialer decides whom to Dial. As in witnet-rust, icing keeps an
// address from being dialled; inbound connections are not checked against it (an inbound
// peer's address is an ephemeral port), only against the book's escalated prefixes
// (Config.IcedIP).
package legacy
