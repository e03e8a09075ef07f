package datadir

import "errors"

// Sentinel errors.
var (
	// ErrIdentityFormat: the identity key file is not a PKCS#8 PEM private key of a type
	// libp2p supports.
	ErrIdentityFormat = errors.New("datadir: identity key file is not a PKCS#8 PEM private key")
	// ErrLocked: another process (or another node in this one) has the data directory's
	// database open.
	ErrLocked = errors.New("datadir: data directory is in use by another node")
)
