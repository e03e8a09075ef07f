package datadir

import "errors"

// Sentinel errors.
var (
	// ErrIdentityFormat: the identity key file is not a PKCS#8 PEM private key of a type
	// libp2p supports.
	// Its text has no package prefix: LoadIdentity reports it with the file's path.
	ErrIdentityFormat = errors.New("identity key file is not a PKCS#8 PEM private key")
	// ErrLocked: another process (or another node in this one) has the data directory's
	// database open.
	ErrLocked = errors.New("datadir: data directory is in use by another node")
	// ErrCorrupt: the database file is damaged (truncated, overwritten, inconsistent) or
	// empty beside an existing identity key. The node does not start on it.
	ErrCorrupt = errors.New("database corrupt")
)
