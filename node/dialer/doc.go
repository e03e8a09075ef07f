// Package dialer makes a node's outbound connections: it is the scheduler of the
// periodic tasks of witnet-rust's sessions and peers managers.
//
//   - Bootstrap rounds dial peers while the outbound sessions and dials in flight are
//     below the outbound limit: the configured bootstrap peers first (even while iced),
//     then random eligible peers of the address book. The first round runs at Start.
//   - Discovery rounds ask one consolidated outbound peer for its peers; Consolidated
//     does the same at once for each new outbound session while the book is small.
//   - Feeler rounds test one address of the new bucket with a Feeler session, at most
//     four at a time; the session moves it to tried when its handshake completes.
//   - Melt rounds return peers whose ice period is over to the new bucket.
//
// A peer that cannot be reached is iced; a session the sessions manager refuses is not.
// The dialer is built from a Config (address book, sessions manager, dial function,
// clock, periods, bootstrap peers), started with Start and stopped with Close. Its rounds
// run on a session.Clock, so tests drive them with a fake clock.
package dialer
