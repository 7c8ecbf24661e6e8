package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
	"software.sslmate.com/src/go-pkcs12"
)

// runCLI runs the command in-process with stdin and returns exit code,
// stdout and stderr.
func runCLI(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	root := newRootCommand()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetIn(bytes.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.Execute()
	code := 0
	if err != nil {
		code = exitCode(err)
		errb.WriteString("signet: " + err.Error() + "\n")
	}
	return code, out.String(), errb.String()
}

type world struct {
	dir string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	ca, _ := testpki.NewCA("CLI CA")
	os.WriteFile(filepath.Join(dir, "ca.crt"), testpki.CertPEM(ca.Cert), 0o644)
	for name, kt := range map[string]testpki.KeyType{"alice": testpki.P256, "bob": testpki.RSA2048, "carol": testpki.X25519} {
		id, err := ca.Issue(name+"@example.org", kt, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := id.WriteFiles(dir, name); err != nil {
			t.Fatal(err)
		}
		if name == "bob" {
			p12, _ := pkcs12.Modern.Encode(id.Key, id.Cert, id.Chain, "pw")
			os.WriteFile(filepath.Join(dir, "bob.p12"), p12, 0o600)
			os.WriteFile(filepath.Join(dir, "pass"), []byte("pw\n"), 0o600)
		}
	}
	msg := "From: alice@example.org\nTo: bob@example.org\nSubject: cli\n\nhello from the command line\n"
	os.WriteFile(filepath.Join(dir, "msg.eml"), []byte(msg), 0o644)
	return &world{dir}
}

func (w *world) p(name string) string { return filepath.Join(w.dir, name) }

func TestCLIRoundTrip(t *testing.T) {
	w := newWorld(t)
	code, _, errs := runCLI(t, nil, "sign", "--cert", w.p("alice.crt"), "--key", w.p("alice.key"), "--in", w.p("msg.eml"), "--out", w.p("signed.eml"))
	if code != 0 {
		t.Fatalf("sign: %d %s", code, errs)
	}
	code, _, errs = runCLI(t, nil, "encrypt", "--to", w.p("bob.crt"), "--to", w.p("carol.crt"), "--in", w.p("signed.eml"), "--out", w.p("enc.eml"))
	if code != 0 {
		t.Fatalf("encrypt: %d %s", code, errs)
	}
	enc, _ := os.ReadFile(w.p("enc.eml"))
	// bob decrypts with his PKCS #12, from standard input to standard output
	code, dec, errs := runCLI(t, enc, "decrypt", "--p12", w.p("bob.p12"), "--pass-file", w.p("pass"))
	if code != 0 || !strings.Contains(dec, "multipart/signed") {
		t.Fatalf("decrypt: %d %s", code, errs)
	}
	if !strings.Contains(errs, "is signed") {
		t.Fatalf("decrypt did not say the content is signed: %q", errs)
	}
	// carol (X25519) decrypts too
	if code, _, errs := runCLI(t, enc, "decrypt", "--cert", w.p("carol.crt"), "--key", w.p("carol.key")); code != 0 {
		t.Fatalf("carol: %d %s", code, errs)
	}
	code, report, errs := runCLI(t, []byte(dec), "verify", "--trust", w.p("ca.crt"), "--json")
	if code != 0 {
		t.Fatalf("verify: %d %s %s", code, report, errs)
	}
	var rep struct {
		OK      bool `json:"ok"`
		Signers []struct {
			Subject     string `json:"subject"`
			FromMatches bool   `json:"from_matches"`
		} `json:"signers"`
	}
	if err := json.Unmarshal([]byte(report), &rep); err != nil || !rep.OK || len(rep.Signers) != 1 || !rep.Signers[0].FromMatches {
		t.Fatalf("json report %v: %s", err, report)
	}
}

func TestCLIFailures(t *testing.T) {
	w := newWorld(t)
	_, signed, _ := runCLI(t, nil, "sign", "--cert", w.p("alice.crt"), "--key", w.p("alice.key"), "--in", w.p("msg.eml"))
	_, enc, _ := runCLI(t, []byte(signed), "encrypt", "--to", w.p("bob.crt"))

	t.Run("fail/usage-exits-2", func(t *testing.T) {
		for _, args := range [][]string{
			{"encrypt"},
			{"encrypt", "--to", w.p("bob.crt"), "--cipher", "des"},
			{"sign", "--cert", w.p("alice.crt"), "--key", w.p("alice.key"), "--digest", "sha1"},
			{"verify"},
			{"nosuchcommand"},
			{"sign", "--bogus"},
		} {
			if code, _, errs := runCLI(t, nil, args...); code != 2 {
				t.Errorf("%v: exit %d, want 2 (%s)", args, code, errs)
			}
		}
	})
	t.Run("fail/sign-foreign-from", func(t *testing.T) {
		code, _, errs := runCLI(t, nil, "sign", "--cert", w.p("bob.crt"), "--key", w.p("bob.key"), "--in", w.p("msg.eml"), "--out", w.p("x.eml"))
		if code != 1 || !strings.Contains(errs, "not in the signer's certificate") {
			t.Fatalf("%d %s", code, errs)
		}
		if _, err := os.Stat(w.p("x.eml")); !os.IsNotExist(err) {
			t.Fatal("output file created on failure")
		}
	})
	t.Run("fail/key-does-not-match-certificate", func(t *testing.T) {
		code, _, errs := runCLI(t, nil, "sign", "--cert", w.p("alice.crt"), "--key", w.p("bob.key"), "--in", w.p("msg.eml"))
		if code != 1 || !strings.Contains(errs, "does not belong") {
			t.Fatalf("%d %s", code, errs)
		}
	})
	t.Run("fail/decrypt-uniform-error", func(t *testing.T) {
		tampered := []byte(enc)
		i := strings.Index(enc, "\r\n\r\n") + 600
		if tampered[i] == 'A' {
			tampered[i] = 'B'
		} else {
			tampered[i] = 'A'
		}
		var msgs []string
		for _, in := range []struct {
			data []byte
			cert string
			key  string
		}{
			{[]byte(enc), "alice.crt", "alice.key"},
			{tampered, "bob.crt", "bob.key"},
		} {
			code, out, errs := runCLI(t, in.data, "decrypt", "--cert", w.p(in.cert), "--key", w.p(in.key), "--out", w.p("never.eml"))
			if code != 1 || out != "" {
				t.Fatalf("exit %d, %d bytes out", code, len(out))
			}
			msgs = append(msgs, errs)
		}
		if msgs[0] != msgs[1] || !strings.Contains(msgs[0], "decryption failed") {
			t.Fatalf("errors differ or are unclear: %q vs %q", msgs[0], msgs[1])
		}
		if _, err := os.Stat(w.p("never.eml")); !os.IsNotExist(err) {
			t.Fatal("output file created on failure")
		}
	})
	t.Run("fail/verify-untrusted", func(t *testing.T) {
		other, _ := testpki.NewCA("Other CA")
		os.WriteFile(w.p("other.crt"), testpki.CertPEM(other.Cert), 0o644)
		code, report, errs := runCLI(t, []byte(signed), "verify", "--trust", w.p("other.crt"), "--out", w.p("v.eml"))
		if code != 1 || !strings.Contains(report, "NOT TRUSTED") || !strings.Contains(errs, "untrusted certificate") {
			t.Fatalf("%d\n%s\n%s", code, report, errs)
		}
		if _, err := os.Stat(w.p("v.eml")); !os.IsNotExist(err) {
			t.Fatal("--out written although verification failed")
		}
	})
	t.Run("fail/verify-not-signed", func(t *testing.T) {
		msg, _ := os.ReadFile(w.p("msg.eml"))
		code, _, errs := runCLI(t, msg, "verify", "--trust", w.p("ca.crt"))
		if code != 1 || !strings.Contains(errs, "not signed") {
			t.Fatalf("%d %s", code, errs)
		}
	})
	t.Run("ok/verify-at-time", func(t *testing.T) {
		code, report, _ := runCLI(t, []byte(signed), "verify", "--trust", w.p("ca.crt"), "--at", "2001-01-01T00:00:00Z")
		if code != 1 || !strings.Contains(report, "2001-01-01T00:00:00Z (--at)") {
			t.Fatalf("a certificate not yet valid in 2001 passed, or the report does not name the time: %d\n%s", code, report)
		}
	})
}

func TestHelpDescribesEveryCommand(t *testing.T) {
	for _, cmd := range []string{"sign", "verify", "encrypt", "decrypt", "demo"} {
		code, out, _ := runCLI(t, nil, cmd, "--help")
		if code != 0 || !strings.Contains(out, "Usage:") || len(out) < 400 {
			t.Errorf("%s --help: %d, %d bytes", cmd, code, len(out))
		}
	}
}

func TestDemo(t *testing.T) {
	dir := t.TempDir()
	code, out, errs := runCLI(t, nil, "demo", "--dir", dir)
	if code != 0 || !strings.Contains(out, "round trip OK") {
		t.Fatalf("demo: %d %s %s", code, out, errs)
	}
	for _, f := range []string{"ca.crt", "alice.crt", "alice.key", "bob.crt", "bob.key", "message.eml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("demo did not write %s", f)
		}
	}
}
