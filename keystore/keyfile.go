package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// keyFilePrefix starts every key file; the rest of the line is the 32-byte
// key in standard base64. A text file survives copying, printing and
// pasting into a password manager, and names itself when found lying
// around.
const keyFilePrefix = "signet-master-key-v1:"

// maxKeyFileSize bounds what LoadKeyFile reads (the real file is 66 bytes).
const maxKeyFileSize = 1024

// NewKeyFile creates path holding 32 fresh random bytes, with mode 0600,
// and returns the master key from it. It refuses to overwrite anything that
// exists at path (a lost key file means every sealed key is lost). The
// folder must exist. The file is synced to disk before NewKeyFile returns.
//
// A key file on the same disk as the sealed keys protects them only from
// someone who gets the database without the folder: the command line warns
// that it is for trials, and production uses SIGNET_PASSPHRASE.
func NewKeyFile(path string) (*MasterKey, error) {
	raw := make([]byte, 32)
	defer clear(raw)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return nil, fmt.Errorf("keystore: random key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("keystore: key file %s already exists; refusing to overwrite it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: create key file: %w", err)
	}
	text := make([]byte, 0, len(keyFilePrefix)+base64.StdEncoding.EncodedLen(32)+1)
	text = append(text, keyFilePrefix...)
	text = base64.StdEncoding.AppendEncode(text, raw)
	text = append(text, '\n')
	defer clear(text)
	err = f.Chmod(0o600) // exactly 0600 whatever the umask
	if runtime.GOOS == "windows" {
		err = nil // mode bits mean little there; the ACL of the folder rules
	}
	if err == nil {
		_, err = f.Write(text)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("keystore: write key file: %w", err)
	}
	syncDir(filepath.Dir(path))
	return newMaster(raw)
}

// syncDir makes the new directory entry durable where the platform allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// LoadKeyFile reads a key file made by NewKeyFile. On Unix it refuses a
// file that is not a regular file or that group or others may read or
// write, naming the fix (chmod 600).
func LoadKeyFile(path string) (*MasterKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keystore: key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("keystore: key file %s has mode %04o, readable or writable by group or others; run chmod 600 %s", path, perm, path)
	}
	buf, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(buf)
	if err != nil {
		return nil, fmt.Errorf("keystore: read key file: %w", err)
	}
	body, ok := bytes.CutPrefix(bytes.TrimRight(buf, "\r\n"), []byte(keyFilePrefix))
	if !ok || len(buf) > maxKeyFileSize {
		return nil, fmt.Errorf("keystore: %s is not a Signet master key file", path)
	}
	damaged := fmt.Errorf("keystore: key file %s is damaged (want 32 bytes in base64)", path)
	if len(body) != base64.StdEncoding.EncodedLen(32) {
		return nil, damaged
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Strict().Decode(raw, body)
	if err != nil || n != 32 || base64.StdEncoding.EncodeToString(raw[:n]) != string(body) {
		clear(raw)
		return nil, damaged
	}
	raw = raw[:32]
	return newMaster(raw)
}
