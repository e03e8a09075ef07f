package node

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DBFile is the name of the database file inside a data directory.
const DBFile = "witnet-p2p.db"

// dbLockTimeout is how long Open waits for another process to release the database lock
// before reporting ErrDataDirLocked.
const dbLockTimeout = time.Second

// OpenDB opens (creating if needed) the database of dataDir, which the address book and
// the inventory share. It fails with ErrDataDirLocked if another node holds it. bbolt
// syncs every committed transaction to disk, so an acknowledged write survives a crash.
func OpenDB(dataDir string) (*bbolt.DB, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data directory: %w", err)
	}
	path := filepath.Join(dataDir, DBFile)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: dbLockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s", ErrDataDirLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("node: open database %s: %w", path, err)
	}
	return db, nil
}
