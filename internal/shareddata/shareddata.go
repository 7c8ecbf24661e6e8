// Package shareddata gives the tests of this module access to the shared
// third-party test material (Wycheproof, RFC 4134, PKITS, pyca, MimeKit and
// the OpenSSL fuzz corpus), kept in ../shared/testdata beside the module
// root rather than in the module itself.
//
// Material a test needs is reached with [Path], [ReadFile] or [AddSeeds]: when
// it is missing the test is skipped, or fails when the environment variable
// CI is "true", so that a CI run never passes without it. Material that only
// adds to a test (extra fuzz seeds) is reached with [Lookup].
package shareddata

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// root is the shared test data folder, found once per test binary.
var root = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if st, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil && st.Mode().IsRegular() {
			return filepath.Join(filepath.Dir(dir), "shared", "testdata"), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod in %s or any folder above it", wd)
		}
	}
})

// Path returns the path of rel (a file or folder) inside the shared test
// data (../shared/testdata beside the module root, found by walking up from
// the working directory to the folder holding go.mod). When it is missing
// the test is skipped, or fails when CI=true.
func Path(t testing.TB, rel string) string {
	t.Helper()
	dir, err := root()
	if err != nil {
		t.Fatalf("locating the shared test data: %v", err)
	}
	path := filepath.Join(dir, filepath.FromSlash(rel))
	_, err = os.Stat(path)
	switch {
	case err == nil:
		return path
	case !errors.Is(err, fs.ErrNotExist):
		t.Fatalf("shared test data %s: %v", rel, err)
	case os.Getenv("CI") == "true":
		t.Fatalf("shared test data %s is missing (required because CI=true): %v", rel, err)
	default:
		t.Skipf("shared test data %s is missing: %v", rel, err)
	}
	return ""
}

// Lookup returns the path of rel inside the shared test data and whether it
// exists. Unlike [Path] it neither skips nor fails the test: it is for
// material a test can do without.
func Lookup(rel string) (path string, ok bool) {
	dir, err := root()
	if err != nil {
		return "", false
	}
	path = filepath.Join(dir, filepath.FromSlash(rel))
	_, err = os.Stat(path)
	return path, err == nil
}

// ReadFile returns the contents of the file rel of the shared test data,
// skipping or failing the test as [Path] does when it is missing.
func ReadFile(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(Path(t, rel))
	if err != nil {
		t.Fatalf("shared test data: %v", err)
	}
	return b
}

// AddSeeds adds the contents of each file directly inside the folder rel of
// the shared test data (a fuzz corpus) to f's seed corpus as a []byte, in
// name order, and returns how many it added. Subfolders are left out. It
// skips or fails the test as [Path] does when the folder is missing.
func AddSeeds(f *testing.F, rel string) int {
	f.Helper()
	dir := Path(f, rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatalf("shared test data: %v", err)
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatalf("shared test data: %v", err)
		}
		f.Add(b)
		n++
	}
	return n
}

// Hex is a byte string that unmarshals from a JSON hex string (Wycheproof
// vectors).
type Hex []byte

// UnmarshalJSON decodes a JSON string of hex digits.
func (h *Hex) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}
