package datadir

import (
	"crypto/rand"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/stretchr/testify/require"

	"github.com/witnet-p2p/witnet-p2p/session/sessiontest"
)

// TestOpen: the first Open creates the directory, the key and the database; a second
// Open while the first holds the directory fails with ErrLocked; after Close the same
// identity comes back.
func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data")
	d, err := Open(path, nil)
	require.NoError(t, err)
	require.Equal(t, path, d.Path())
	want, err := peer.IDFromPrivateKey(d.Key())
	require.NoError(t, err)
	require.Equal(t, want, d.ID())
	for _, f := range []string{IdentityPath(path), DBPath(path)} {
		fi, err := os.Stat(f)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
	}

	_, err = Open(path, nil)
	require.ErrorIs(t, err, ErrLocked)

	require.NoError(t, d.Close())
	again, err := Open(path, nil)
	require.NoError(t, err)
	defer again.Close()
	require.Equal(t, d.ID(), again.ID(), "the identity is reused")
}

// TestOpenWithKey: a given key is used and no key file is written.
func TestOpenWithKey(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	path := t.TempDir()
	d, err := Open(path, key)
	require.NoError(t, err)
	defer d.Close()
	require.True(t, key.Equals(d.Key()))
	_, err = os.Stat(IdentityPath(path))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestOpenCorruptKey: a corrupt key file fails Open and releases the database lock.
func TestOpenCorruptKey(t *testing.T) {
	path := t.TempDir()
	require.NoError(t, os.WriteFile(IdentityPath(path), []byte("junk"), 0o600))
	_, err := Open(path, nil)
	require.ErrorIs(t, err, ErrIdentityFormat)
	db, err := OpenDB(path)
	require.NoError(t, err, "the lock was released")
	require.NoError(t, db.Close())
}

// TestOpenCorruptDatabase: damage is reported as ErrCorrupt, an empty file beside an
// identity key is refused, and an empty but valid store in a used directory is logged.
func TestOpenCorruptDatabase(t *testing.T) {
	path := t.TempDir()
	d, err := Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())

	require.NoError(t, os.WriteFile(DBPath(path), nil, 0o600))
	_, err = Open(path, nil)
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, "0 bytes")

	require.NoError(t, os.WriteFile(DBPath(path), []byte("not a database, but long enough to be read as one........"), 0o600))
	_, err = Open(path, nil)
	require.ErrorIs(t, err, ErrCorrupt)

	// A fresh directory whose database file is 0 bytes (a first start that crashed at once)
	// is not refused: it never held anything.
	fresh := t.TempDir()
	require.NoError(t, os.WriteFile(DBPath(fresh), nil, 0o600))
	d, err = Open(fresh, nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())
}

func TestOpenEmptyStoreWarns(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "warn", "witnet/datadir")
	path := t.TempDir()
	d, err := Open(path, nil) // creates the key and an empty database
	require.NoError(t, err)
	require.NoError(t, d.Close())
	d, err = Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, d.Close())
	require.Eventually(t, func() bool {
		return len(logs.Find(func(l map[string]any) bool {
			return strings.HasPrefix(l["msg"].(string), "database is empty although the data directory was used before")
		})) == 1
	}, 5*time.Second, time.Millisecond)
}
