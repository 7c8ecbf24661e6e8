// Package peertest finds the real peer tools (OpenSSL, slapd, ldapsearch,
// gpgsm…) that package tests run against. A missing tool fails the test
// under CI (CI=true), where ./test.sh has installed every peer, and skips it
// elsewhere.
package peertest

import (
	"os"
	"os/exec"
	"testing"
)

// NeedTool returns the path of a peer tool, looking in PATH and then in
// /usr/sbin and /usr/lib/postfix/sbin (where Debian puts slapd and the
// Postfix test tools); without it the test fails under CI and is skipped
// elsewhere.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	if p, ok := Find(name); ok {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI (./test.sh installs it)", name)
	}
	t.Skipf("%s not installed: run ./test.sh to install the peers", name)
	return ""
}

// Find looks for a tool as NeedTool does, without failing.
func Find(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/lib/postfix/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}
