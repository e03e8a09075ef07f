package datadir

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"go.etcd.io/bbolt"
)

// DBFile is the name of the database file inside a data directory.
const DBFile = "witnet-p2p.db"

// dbLockTimeout is how long OpenDB waits for another process to release the database
// lock before reporting ErrLocked.
const dbLockTimeout = time.Second

// DBPath returns the path of the database file in dir.
func DBPath(dir string) string { return filepath.Join(dir, DBFile) }

// OpenDB opens (creating if needed) the database of dir, which the address book and the
// inventory share. It fails with ErrLocked if another node holds it, and with ErrCorrupt
// if the file is damaged (see openChecked): never with a panic. bbolt syncs every
// committed transaction to disk, so an acknowledged write survives a crash.
func OpenDB(dir string) (*bbolt.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	return openChecked(dir)
}

// Dir is an open data directory: its database, held locked until Close, and the node's
// identity. Its fields are set by Open and never change.
type Dir struct {
	path string
	db   *bbolt.DB
	key  crypto.PrivKey
	id   peer.ID
}

// Open opens the data directory at path, creating it (mode 0700) if needed. The database
// comes first: its lock (ErrLocked) keeps a second node off the directory before the
// identity is touched. The identity is key if not nil, else the directory's key file,
// created on first use (LoadOrCreateIdentity).
func Open(path string, key crypto.PrivKey) (*Dir, error) {
	db, err := OpenDB(path)
	if err != nil {
		return nil, err
	}
	d := &Dir{path: path, db: db, key: key}
	if d.key == nil {
		var created bool
		if d.key, created, err = LoadOrCreateIdentity(path); err != nil {
			_ = db.Close()
			return nil, err
		}
		if created {
			log.Infow("identity created", "path", IdentityPath(path))
		}
	}
	if d.id, err = peer.IDFromPrivateKey(d.key); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("datadir: identity: %w", err)
	}
	return d, nil
}

// Path returns the directory's path.
func (d *Dir) Path() string { return d.path }

// DB returns the directory's database.
func (d *Dir) DB() *bbolt.DB { return d.db }

// Key returns the identity key.
func (d *Dir) Key() crypto.PrivKey { return d.key }

// ID returns the peer ID of the identity key.
func (d *Dir) ID() peer.ID { return d.id }

// Close closes the database, releasing the directory's lock; every committed change is
// already on disk.
func (d *Dir) Close() error { return d.db.Close() }
