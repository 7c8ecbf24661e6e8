//go:build cgo

package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPKCS11CAKeys makes the CA keys in a real SoftHSM2 token with
// "signet init --ca-key-pkcs11", then issues, and checks that the commands
// that sign need the token, and that OpenSSL accepts what the token signed.
func TestPKCS11CAKeys(t *testing.T) {
	needTool(t, "softhsm2-util")
	needTool(t, "openssl")
	module := "/usr/lib/softhsm/libsofthsm2.so"
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("SoftHSM2 module missing: %v", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.Mkdir(tokens, 0o700)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\n"), 0o600)
	env := append(os.Environ(), "SOFTHSM2_CONF="+conf, "SIGNET_PKCS11_PIN=5678", "SIGNET_PASSPHRASE=")
	init := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "signet", "--so-pin", "1234", "--pin", "5678")
	init.Env = env
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v %s", err, out)
	}
	data := filepath.Join(dir, "data")
	spec := module + ":signet"
	sig := func(extra []string, args ...string) (int, string, string) {
		cmd := exec.Command(signetBin, append([]string{"--data", data}, args...)...)
		cmd.Env = append(append([]string(nil), env...), extra...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}
	if code, _, errs := sig(nil, "init", "--org", "HSM Org", "--domain", "example.org", "--ca-key-pkcs11", spec); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	// Without the token the signing commands refuse, saying what to set.
	if code, _, errs := sig(nil, "ca", "issue", "--email", "a@example.org"); code != 1 || !strings.Contains(errs, "SIGNET_PKCS11") {
		t.Fatalf("issue without token: %d %s", code, errs)
	}
	withToken := []string{"SIGNET_PKCS11=" + spec}
	if code, _, errs := sig(withToken, "ca", "issue", "--email", "a@example.org", "--usage", "both"); code != 0 {
		t.Fatalf("issue: %s", errs)
	}
	// A wrong PIN is refused.
	if code, _, _ := sig(append(withToken, "SIGNET_PKCS11_PIN=0000"), "ca", "crl"); code != 1 {
		t.Fatal("wrong PIN accepted")
	}
	crl := filepath.Join(dir, "c.crl")
	if code, _, errs := sig(withToken, "ca", "crl", "--out", crl); code != 0 {
		t.Fatalf("crl: %s", errs)
	}
	ca := filepath.Join(dir, "ca.pem")
	leaf := filepath.Join(dir, "a.pem")
	sig(nil, "ca", "export", "--pem", ca)
	if code, _, errs := sig(nil, "cert", "export", "--email", "a@example.org", "--pem", leaf); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	// OpenSSL checks the chain and the CRL signed inside the token.
	mustRun(t, dir, nil, "openssl", "verify", "-CAfile", ca, "-purpose", "smimesign", leaf)
	out := mustRun(t, dir, nil, "openssl", "crl", "-inform", "DER", "-in", crl, "-CAfile", ca, "-noout")
	_ = out
	// No private key material of the CA is in the data folder: the key
	// records hold labels only.
	db, err := os.ReadFile(filepath.Join(data, "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(db), "signet-ca-issuing") {
		t.Fatal("the CA key record does not name the token object")
	}
}
