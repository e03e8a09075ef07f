// Package datadir owns a node's data directory: the identity key file (identity.key,
// PKCS#8 PEM, mode 0600, created on first start) and the bbolt database file
// (witnet-p2p.db) that the address book and the inventory share.
//
// Open locks the database (a second node on the same directory gets ErrLocked), checks
// it (a damaged file, or an empty one beside an identity key, is ErrCorrupt, never a
// panic: corrupt.go) and then loads or creates the identity; Dir.Close releases the lock. The identity functions
// (IdentityPath, LoadIdentity, ParseIdentity, MarshalIdentity, LoadOrCreateIdentity) also
// serve the command line, which shows and imports keys without running a node.
package datadir
