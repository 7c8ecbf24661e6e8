package keystore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func newTestKeyFile(t *testing.T) *MasterKey {
	t.Helper()
	m, err := NewKeyFile(filepath.Join(t.TempDir(), "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	m, err := NewKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", st.Mode().Perm())
	}
	text, _ := os.ReadFile(path)
	if len(text) != len(keyFilePrefix)+44+1 || !bytes.HasPrefix(text, []byte(keyFilePrefix)) || text[len(text)-1] != '\n' {
		t.Errorf("key file content %q", text)
	}

	s, err := m.Seal("ca/root", testKeys(t)["ecdsa-p384"])
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Verify(m.Verifier()); err != nil {
		t.Errorf("loaded key does not verify: %v", err)
	}
	if _, err := loaded.Open("ca/root", s); err != nil {
		t.Errorf("loaded key does not open: %v", err)
	}
	if err := newTestKeyFile(t).Verify(m.Verifier()); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("two key files made the same key: %v", err)
	}
}

func TestKeyFileRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "master.key")
	if _, err := NewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	_, err := NewKeyFile(path)
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("second NewKeyFile: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("existing key file was changed")
	}
	// Nor through a symbolic link, even a dangling one.
	if runtime.GOOS != "windows" {
		target := filepath.Join(dir, "elsewhere")
		link := filepath.Join(dir, "link.key")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		if _, err := NewKeyFile(link); err == nil {
			t.Error("NewKeyFile wrote through a symlink")
		}
		if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("symlink target was created: %v", err)
		}
	}
	if _, err := NewKeyFile(filepath.Join(dir, "no-such-dir", "master.key")); err == nil {
		t.Error("NewKeyFile in a missing folder succeeded")
	}
}

func TestLoadKeyFileRefusesLoosePermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "master.key")
	if _, err := NewKeyFile(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602, 0o620} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyFile(path)
		if err == nil {
			t.Errorf("mode %04o accepted", mode)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "chmod 600") || !strings.Contains(msg, path) || strings.Contains(msg, "\n") {
			t.Errorf("mode %04o: unclear error %q", mode, msg)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if _, err := LoadKeyFile(path); err != nil {
			t.Errorf("mode %04o refused: %v", mode, err)
		}
	}
}

func TestLoadKeyFileRejectsDamage(t *testing.T) {
	dir := t.TempDir()
	good := keyFilePrefix + strings.Repeat("A", 43) + "=\n"
	for name, content := range map[string]string{
		"empty":         "",
		"raw bytes":     strings.Repeat("\x01", 32),
		"no prefix":     strings.Repeat("A", 43) + "=\n",
		"other prefix":  "signet-master-key-v2:" + strings.Repeat("A", 43) + "=\n",
		"short":         keyFilePrefix + strings.Repeat("A", 42) + "==\n",
		"long":          keyFilePrefix + strings.Repeat("A", 44) + "AAAA\n",
		"not base64":    keyFilePrefix + strings.Repeat("*", 43) + "=\n",
		"extra line":    good + "more\n",
		"huge":          good + strings.Repeat("x", 4096),
		"PEM":           "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"trailing junk": strings.TrimSuffix(good, "\n") + " x\n",
	} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadKeyFile(path); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	path := filepath.Join(dir, "good")
	os.WriteFile(path, []byte(good), 0o600)
	if _, err := LoadKeyFile(path); err != nil {
		t.Errorf("well-formed file refused: %v", err)
	}
	if _, err := LoadKeyFile(dir); err == nil {
		t.Error("a directory was accepted")
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
