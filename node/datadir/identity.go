package datadir

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// IdentityFile is the name of the identity key file inside a data directory.
const IdentityFile = "identity.key"

// pemType is the PEM block type of the identity key: a standard PKCS#8 private key, so the
// file can be produced or inspected with openssl (openssl genpkey -algorithm ed25519).
const pemType = "PRIVATE KEY"

// IdentityPath returns the path of the identity key file in dataDir.
func IdentityPath(dataDir string) string { return filepath.Join(dataDir, IdentityFile) }

// LoadIdentity reads a PKCS#8 PEM private key (Ed25519, ECDSA or RSA) from path. Text before
// the PEM block (a comment such as "for local testing only") is ignored. A missing file
// gives an error that wraps fs.ErrNotExist.
func LoadIdentity(path string) (crypto.PrivKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("datadir: read identity: %w", err)
	}
	key, err := ParseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("datadir: %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// In a container the node runs as a non-root user, which can read a mounted key only
		// if it owns it or the key is readable by all: say who must own it.
		log.Warnw("identity key file is readable by other users: give it mode 0600, owned by the user the node runs as",
			"path", path, "mode", fi.Mode().Perm().String(), "owner_uid", fileOwner(fi), "node_uid", os.Getuid())
	}
	return key, nil
}

// ParseIdentity decodes the content of an identity key file.
func ParseIdentity(data []byte) (crypto.PrivKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, ErrIdentityFormat
	}
	if block.Type != pemType {
		return nil, fmt.Errorf("%w: PEM block %q, want %q", ErrIdentityFormat, block.Type, pemType)
	}
	std, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFormat, err)
	}
	// x509 returns Ed25519 keys by value; libp2p converts only the pointer form.
	if k, ok := std.(ed25519.PrivateKey); ok {
		std = &k
	}
	key, _, err := crypto.KeyPairFromStdKey(std)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrIdentityFormat, err)
	}
	return key, nil
}

// MarshalIdentity encodes an Ed25519 key as the content of an identity key file.
func MarshalIdentity(key crypto.PrivKey) ([]byte, error) {
	std, err := crypto.PrivKeyToStdKey(key)
	if err != nil {
		return nil, err
	}
	if k, ok := std.(*ed25519.PrivateKey); ok {
		std = *k
	}
	der, err := x509.MarshalPKCS8PrivateKey(std)
	if err != nil {
		return nil, fmt.Errorf("datadir: marshal identity: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der}), nil
}

// LoadOrCreateIdentity returns the identity key of dataDir, creating the directory (mode
// 0700) and a new Ed25519 key (mode 0600) when there is none yet. created tells which
// happened.
func LoadOrCreateIdentity(dataDir string) (key crypto.PrivKey, created bool, err error) {
	path := IdentityPath(dataDir)
	key, err = LoadIdentity(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("datadir: generate identity: %w", err)
	}
	data, err := MarshalIdentity(key)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("datadir: %w", err)
	}
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		return nil, false, fmt.Errorf("datadir: write identity: %w", err)
	}
	return key, true, nil
}

// writeFileAtomic writes data to a temporary file in the same directory, syncs it and
// renames it over path, so a crash never leaves a half-written key behind.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after a successful rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, path)
}

// PeerIDOf returns the peer ID of a private key.
func PeerIDOf(key crypto.PrivKey) (peer.ID, error) { return peer.IDFromPrivateKey(key) }
