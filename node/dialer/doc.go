// Package dialer makes a node's outbound connections: it is the scheduler of the
// periodic tasks of witnet-rust's sessions and peers managers.
//
//   - Bootstrap rounds dial peers while the outbound sessions and dials in flight are
//     below the outbound limit: on start the anchors (the most useful outbound peers of
//     the last run), then the configured bootstrap peers (even while iced), then the
//     operator-added ones, then random eligible peers of the address book, at most
//     Config.MaxPerNetgroup of those per netgroup (IPv4 /16, IPv6 /32), so an attacker
//     who owns one range cannot hold all outbound slots. Each round saves the anchors.
//     With a Config.DialLegacy, legacy rounds do the same for witnet-rust peers over plain
//     TCP (IP:port entries), up to Config.LegacyOutbound sessions.
//   - Discovery rounds ask one consolidated outbound peer for its peers; Consolidated
//     does the same at once for each new outbound session while the book is small.
//   - Feeler rounds test one address of the new bucket with a Feeler session, at most
//     four at a time; the session moves it to tried when its handshake completes. A peer
//     the host is already connected to is not tested: the feeler would reuse that
//     connection and prove nothing about the address.
//   - Melt rounds return peers whose ice period is over to the new bucket.
//
// A failed dial is reported to the address book (peers.Book.Failed), which ices the peer
// only when the address was the peer's own; a session the sessions manager refuses is not
// reported. A failed dial of an operator-given peer is logged at WARN, once per address
// and reason, with what to check; a node without any session logs how to bootstrap every
// Config.NoPeersHint.
//
// The dialer is built from a Config (address book, sessions manager, dial functions,
// clock, periods, bootstrap peers), started with Start and stopped with Close. Its rounds
// run on a session.Clock, so tests drive them with a fake clock.
package dialer
