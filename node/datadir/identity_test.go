package datadir

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
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

func TestLoadOrCreateIdentity(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	key, created, err := LoadOrCreateIdentity(dir)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, crypto.Ed25519, int(key.Type()))

	fi, err := os.Stat(IdentityPath(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "key file mode")
	di, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "data directory mode")

	again, created, err := LoadOrCreateIdentity(dir)
	require.NoError(t, err)
	require.False(t, created)
	require.True(t, key.Equals(again), "the key is reused")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")
}

func TestParseIdentity(t *testing.T) {
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	edDER, err := x509.MarshalPKCS8PrivateKey(edPriv)
	require.NoError(t, err)
	ecPriv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecPriv)
	require.NoError(t, err)
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})

	tests := []struct {
		name string
		data []byte
		ok   bool
	}{
		{"ed25519 (openssl genpkey -algorithm ed25519)", edPEM, true},
		{"comment before the block", append([]byte("# FOR LOCAL TESTING ONLY\n"), edPEM...), true},
		{"ecdsa p256", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}), true},
		{"not PEM", []byte("hello"), false},
		{"empty", nil, false},
		{"wrong block type", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: edDER}), false},
		{"garbage DER", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParseIdentity(tc.data)
			if !tc.ok {
				require.ErrorIs(t, err, ErrIdentityFormat)
				return
			}
			require.NoError(t, err)
			_, err = peer.IDFromPrivateKey(key)
			require.NoError(t, err)
		})
	}
}

func TestMarshalIdentityRoundTrip(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	require.NoError(t, err)
	data, err := MarshalIdentity(key)
	require.NoError(t, err)
	back, err := ParseIdentity(data)
	require.NoError(t, err)
	require.True(t, key.Equals(back))
}

func TestLoadIdentityErrors(t *testing.T) {
	_, err := LoadIdentity(filepath.Join(t.TempDir(), "missing.key"))
	require.ErrorIs(t, err, fs.ErrNotExist)

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(IdentityPath(dir), []byte("not a key"), 0o600))
	_, _, err = LoadOrCreateIdentity(dir)
	require.ErrorIs(t, err, ErrIdentityFormat, "a corrupt key is reported, never replaced")
	data, err := os.ReadFile(IdentityPath(dir))
	require.NoError(t, err)
	require.Equal(t, "not a key", string(data))
}

// TestLoadIdentityWarnsReadable: a key readable by others is used, with a warning that
// says which user must own it (a container's non-root user cannot chmod a root's key).
func TestLoadIdentityWarnsReadable(t *testing.T) {
	logs := sessiontest.CaptureLogs(t, "warn", "witnet/datadir")
	dir := t.TempDir()
	key, _, err := LoadOrCreateIdentity(dir)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(IdentityPath(dir), 0o644))
	again, err := LoadIdentity(IdentityPath(dir))
	require.NoError(t, err)
	require.True(t, key.Equals(again))
	require.Eventually(t, func() bool {
		return len(logs.Find(func(l map[string]any) bool {
			return strings.HasPrefix(l["msg"].(string), "identity key file is readable by other users") &&
				l["node_uid"] == float64(os.Getuid()) && l["owner_uid"] == float64(os.Getuid())
		})) == 1
	}, 5*time.Second, time.Millisecond)
}
