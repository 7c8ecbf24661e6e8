package interop

// Revocation end to end: `signet verify` and `signet cert check` against
// Signet's own responders (`signet serve`: the CRL at the certificates'
// distribution point, OCSP), before and after `ca revoke`, --offline, and
// with the responder gone, under RevocationFailOpen true and false.
//
// Each verifier that must not remember an earlier answer runs with a --data
// folder holding no Signet database: no settings (the defaults) and no CRL
// cache on disk, so every run fetches afresh. The fail-closed runs use a
// second organisation's folder (the recipient's), where
// RevocationFailOpen=false is set.

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var statusLine = regexp.MustCompile(`status:\s+(\d+)`)

// revStatus is the first "status: N" of a report or error ("" if none).
func revStatus(r result) string {
	m := statusLine.FindSubmatch(append(append([]byte(nil), r.stdout...), r.stderr...))
	if m == nil {
		return ""
	}
	return string(m[1])
}

// revocationLine is the report's "revocation:" line ("" if none).
func revocationLine(r result) string {
	for _, l := range strings.Split(string(r.stdout), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "revocation:") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func show(r result) string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// TestRevocationEndToEnd: a message alice signed verifies with its
// revocation checked at Signet's own server; revoking her makes it fail
// with status 13; --offline and an unreachable server follow
// RevocationFailOpen; `cert check` of bob gives 1, then 13 once revoked.
func TestRevocationEndToEnd(t *testing.T) {
	// Not parallel: the test stops its server and expects its port to stay
	// unanswered; a parallel test's server could be given that port.
	o := newOrg(t)
	o.issue("alice@example.org", "--key", "ecdsa-p256", "--usage", "pair")
	o.issue("bob@example.org")
	o.exportP12("alice@example.org", "sign", "alice", false)
	o.exportPEM("bob@example.org", "sign", "bob")
	o.write("msg.eml", message("alice", "bob", "revocation test\r\n"))
	o.must("sign", "--p12", "alice.p12", "--pass-file", "pass.txt", "--in", "msg.eml", "--out", "signed.eml")

	// fresh: defaults (RevocationFailOpen=true) and no CRL cache on disk.
	fresh := filepath.Join(t.TempDir(), "no-data")
	verifyFresh := func(t *testing.T, extra ...string) result {
		t.Helper()
		args := append([]string{"--data", fresh, "verify", "--trust", "ca.pem", "--in", "signed.eml"}, extra...)
		return signet(t, o.dir, nil, args...)
	}
	checkBob := func(t *testing.T) result {
		t.Helper()
		return signet(t, o.dir, nil, "--data", fresh, "cert", "check", "bob.pem", "--trust", "ca.pem")
	}

	// The recipient: another organisation's folder, failing closed. It
	// never verifies while the server is up, so it holds no cached CRL.
	rcpt := filepath.Join(o.dir, "recipient")
	if r := signet(t, o.dir, nil, "--data", rcpt, "init", "--org", "Recipient Org", "--domain", "recipient.example",
		"--public-url", "http://127.0.0.1:1"); r.code != 0 {
		t.Fatalf("init of the recipient: %s", show(r))
	}
	mustSignet(t, o.dir, nil, "--data", rcpt, "config", "set", "RevocationFailOpen", "false")
	mustSignet(t, o.dir, nil, "--data", rcpt, "config", "set", "CRLConnectionTimeout", "1")
	verifyClosed := func(t *testing.T, extra ...string) result {
		t.Helper()
		args := append([]string{"--data", rcpt, "verify", "--trust", "ca.pem", "--in", "signed.eml"}, extra...)
		return signet(t, o.dir, nil, args...)
	}

	stop, _ := o.startServe(t)

	t.Run("verify-good", func(t *testing.T) {
		r := verifyFresh(t)
		line := revocationLine(r)
		if r.code != 0 || !strings.Contains(line, "good per") || !(strings.Contains(line, "CRL") || strings.Contains(line, "OCSP")) {
			t.Errorf("verify with the server up: want exit 0 and a revocation line naming the fetched CRL or OCSP; got %q\n%s", line, show(r))
		}
	})

	t.Run("verify-good-data-folder-trust", func(t *testing.T) {
		r := o.signet(nil, "verify", "--in", "signed.eml")
		if line := revocationLine(r); r.code != 0 || !strings.Contains(line, "good per") {
			t.Errorf("verify with the data folder's trust: %q\n%s", line, show(r))
		}
	})

	t.Run("cert-check-good", func(t *testing.T) {
		r := checkBob(t)
		if r.code != 0 || revStatus(r) != "1" || !strings.Contains(revocationLine(r), "good per") {
			t.Errorf("cert check of bob with the server up: want status 1, revocation good per a fetched source\n%s", show(r))
		}
	})

	t.Run("offline-fail-open", func(t *testing.T) {
		r := verifyFresh(t, "--offline")
		line := revocationLine(r)
		if r.code != 0 || !strings.Contains(line, "not checked") {
			t.Errorf("verify --offline (RevocationFailOpen=true): want exit 0 and revocation not checked; got %q\n%s", line, show(r))
		}
	})

	o.must("ca", "revoke", "--email", "alice@example.org", "--reason", "keyCompromise")
	o.must("ca", "revoke", "--email", "bob@example.org", "--reason", "keyCompromise")

	t.Run("verify-revoked", func(t *testing.T) {
		r := verifyFresh(t)
		if r.code != 1 || revStatus(r) != "13" {
			t.Errorf("verify after revoking alice: want exit 1 with status 13\n%s", show(r))
		}
		if line := revocationLine(r); !strings.Contains(line, "revoked per") {
			t.Errorf("revocation line %q does not say where the revocation came from", line)
		}
	})

	// The organisation's own folder cached the CRL before the revocation;
	// revoking clears that cache, so its next verification sees it.
	t.Run("verify-revoked-data-folder-trust", func(t *testing.T) {
		r := o.signet(nil, "verify", "--in", "signed.eml")
		if r.code != 1 || revStatus(r) != "13" {
			t.Errorf("verify from the organisation's folder after revoking: want exit 1, status 13\n%s", show(r))
		}
	})

	// --offline with RevocationFailOpen=false: revocation cannot be
	// checked, so the validation fails (16).
	t.Run("offline-fail-closed", func(t *testing.T) {
		r := verifyClosed(t, "--offline")
		if r.code != 1 || revStatus(r) != "16" {
			t.Errorf("verify --offline (RevocationFailOpen=false): want exit 1, status 16\n%s", show(r))
		}
	})

	t.Run("cert-check-revoked", func(t *testing.T) {
		r := checkBob(t)
		if r.code != 1 || revStatus(r) != "13" {
			t.Errorf("cert check of bob after revoking him: want status 13\n%s", show(r))
		}
	})

	t.Run("offline-fail-open-revoked", func(t *testing.T) {
		// Offline, the revocation is not seen: accepted, not checked.
		r := verifyFresh(t, "--offline")
		if r.code != 0 || !strings.Contains(revocationLine(r), "not checked") {
			t.Errorf("verify --offline after the revocation (RevocationFailOpen=true): %s", show(r))
		}
	})

	stop()

	t.Run("unreachable-fail-closed", func(t *testing.T) {
		r := verifyClosed(t)
		if r.code != 1 || revStatus(r) != "14" {
			t.Errorf("verify with the server down (RevocationFailOpen=false): want exit 1 with status 14\n%s", show(r))
		}
	})

	t.Run("unreachable-fail-open", func(t *testing.T) {
		r := verifyFresh(t)
		if r.code != 0 || !strings.Contains(revocationLine(r), "NOT determined") {
			t.Errorf("verify with the server down (RevocationFailOpen=true): want exit 0 and \"NOT determined\"\n%s", show(r))
		}
	})

	t.Run("unreachable-cert-check-fail-closed", func(t *testing.T) {
		r := signet(t, o.dir, nil, "--data", rcpt, "cert", "check", "bob.pem", "--trust", "ca.pem")
		if r.code != 1 || revStatus(r) != "14" {
			t.Errorf("cert check with the server down (RevocationFailOpen=false): want status 14\n%s", show(r))
		}
	})
}
