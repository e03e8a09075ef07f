package node

import "errors"

// Sentinel errors.
var (
	// ErrIdentityFormat: the identity key file is not a PKCS#8 PEM private key of a type
	// libp2p supports.
	ErrIdentityFormat = errors.New("node: identity key file is not a PKCS#8 PEM private key")
	// ErrDataDirLocked: another process (or another Node in this one) has the data
	// directory's database open.
	ErrDataDirLocked = errors.New("node: data directory is in use by another node")
	// ErrClosed: the node has been closed.
	ErrClosed = errors.New("node: closed")
)
