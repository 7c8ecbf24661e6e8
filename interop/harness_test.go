// Package interop proves Signet against real peers: OpenSSL 3 `openssl cms`,
// GnuPG `gpgsm` and NSS `cmsutil` (Thunderbird's engine), in both
// directions. The tests run the real `signet` binary, built once.
//
// A missing peer tool fails the test when CI=true and skips it otherwise;
// ./test.sh installs every tool first.
package interop

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

var signetBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signet-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	signetBin = filepath.Join(dir, "signet")
	build := exec.Command("go", "build", "-o", signetBin, "../cmd/signet")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building signet:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool returns the path of a peer tool; without it the test fails
// under CI and is skipped elsewhere.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (./test.sh installs it): %v", name, err)
		}
		t.Skipf("%s not installed: run ./test.sh to install the peers", name)
	}
	return p
}

// result of a command.
type result struct {
	stdout, stderr []byte
	code           int
}

// run runs a command in dir with optional stdin and returns its result.
func run(t testing.TB, dir string, stdin []byte, name string, args ...string) result {
	t.Helper()
	return runEnv(t, dir, nil, stdin, name, args...)
}

// mustRun runs a command and fails the test unless it exits 0.
func mustRun(t testing.TB, dir string, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	r := run(t, dir, stdin, name, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: exit %d\nstderr: %s", name, strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// signet runs the signet binary.
func signet(t testing.TB, dir string, stdin []byte, args ...string) result {
	t.Helper()
	return run(t, dir, stdin, signetBin, args...)
}

// mustSignet runs the signet binary and fails unless it exits 0.
func mustSignet(t testing.TB, dir string, stdin []byte, args ...string) []byte {
	t.Helper()
	return mustRun(t, dir, stdin, signetBin, args...)
}

// pki is a throw-away CA with identities written to a folder as
// NAME.crt, NAME.key (PKCS #8 PEM) and NAME-chain.crt, plus ca.crt.
type pki struct {
	dir string
	ca  *testpki.Identity
	ids map[string]*testpki.Identity
}

// newPKI makes a CA and one identity per name: name@example.org with the key type given.
func newPKI(t testing.TB, people map[string]testpki.KeyType) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := testpki.NewCA("Signet Interop CA")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), testpki.CertPEM(ca.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &pki{dir: dir, ca: ca, ids: map[string]*testpki.Identity{}}
	for name, kt := range people {
		id, err := ca.Issue(name+"@example.org", kt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := id.WriteFiles(dir, name); err != nil {
			t.Fatal(err)
		}
		p.ids[name] = id
	}
	return p
}

// message returns a small RFC 5322 message from one person to another.
func message(from, to, body string) []byte {
	return []byte("From: " + from + "@example.org\r\nTo: " + to + "@example.org\r\nSubject: interop test\r\n" +
		"Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <interop@example.org>\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n" + body)
}

// write puts data in the pki folder and returns the file name.
func (p *pki) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestHarnessSignetRuns(t *testing.T) {
	r := signet(t, t.TempDir(), nil, "--version")
	if r.code != 0 || !bytes.Contains(r.stdout, []byte("signet version")) {
		t.Fatalf("signet --version: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// A usage error exits 2.
	if r := signet(t, t.TempDir(), nil, "encrypt"); r.code != 2 {
		t.Fatalf("encrypt without --to: exit %d, want 2 (%s)", r.code, r.stderr)
	}
}
