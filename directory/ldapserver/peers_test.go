package ldapserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/signet-smime/signet/internal/peertest"
)

// filterLog records the searches a server sees, as RFC 4515 strings.
type filterLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *filterLog) hook(bound bool, base string, scope int64, raw []byte) {
	s := "?"
	if p, err := ber.DecodePacketErr(raw); err == nil {
		if f, err := ldap.DecompileFilter(p); err == nil {
			s = f
		}
	}
	l.mu.Lock()
	l.entries = append(l.entries, fmt.Sprintf("bound=%v base=%q scope=%d filter=%s", bound, base, scope, s))
	l.mu.Unlock()
}

func (l *filterLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.entries, "\n")
}

func TestGpgsmDirmngr(t *testing.T) {
	gpgsm := peertest.NeedTool(t, "gpgsm")
	peertest.NeedTool(t, "dirmngr")
	gpgconf := peertest.NeedTool(t, "gpgconf")
	f := getFixtures(t)
	s, addr := startServer(t, Config{}, testEntries(f))
	var log filterLog
	s.traceSearch = log.hook

	home, err := os.MkdirTemp("", "ldapgpg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command(gpgconf, "--homedir", home, "--kill", "all").Run()
		os.RemoveAll(home)
	})
	os.Chmod(home, 0o700)
	host, port, _ := strings.Cut(addr, ":")
	conf := fmt.Sprintf("ldapserver %s:%s:::%s\nldaptimeout 10\nlog-file %s\ndebug ldap\nverbose\n", host, port, testBase, filepath.Join(home, "dirmngr.log"))
	if err := os.WriteFile(filepath.Join(home, "dirmngr.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gpgsm, "--homedir", home, "--batch", "--with-colons", "--list-external-keys", "alice@example.org")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	dlog, _ := os.ReadFile(filepath.Join(home, "dirmngr.log"))
	t.Logf("searches seen:\n%s", &log)
	if err != nil || !strings.Contains(strings.ToUpper(stdout.String()), strings.ToUpper(hex.EncodeToString(sha1Fingerprint(f.alice.Cert.Raw)))) {
		t.Fatalf("gpgsm --list-external-keys: %v\nstdout:\n%s\nstderr:\n%s\ndirmngr log:\n%s", err, &stdout, &stderr, dlog)
	}
	t.Logf("gpgsm output:\n%s", &stdout)
	if !strings.Contains(log.String(), "(mail=*alice@example.org*)") {
		t.Errorf("dirmngr's filter was not seen")
	}

	// The mailbox form, and a pattern too short to be a lookup: the
	// latter is refused (no output, insufficientAccessRights logged).
	for _, tt := range []struct {
		pattern string
		found   bool
	}{{"<bob@example.org>", true}, {"al", false}} {
		out, err := exec.CommandContext(ctx, gpgsm, "--homedir", home, "--batch", "--with-colons", "--list-external-keys", tt.pattern).CombinedOutput()
		if got := strings.Contains(string(out), "crt:"); got != tt.found {
			t.Errorf("%s: found %v (%v)\n%s", tt.pattern, got, err, out)
		}
	}
	t.Logf("searches seen:\n%s", &log)
	if !strings.Contains(log.String(), "filter=(|(sn=*al*)") {
		t.Errorf("short pattern not sent as expected")
	}
}

// ldapsearchLDIF runs ldapsearch and returns the values of each attribute
// (base64-decoded where needed) of the one entry returned.
func ldapsearchAttrs(t *testing.T, env []string, args ...string) map[string][][]byte {
	t.Helper()
	bin := peertest.NeedTool(t, "ldapsearch")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=10"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ldapsearch %q: %v\n%s", args, err, out)
	}
	attrs := map[string][][]byte{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, ":: "); ok {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			attrs[k] = append(attrs[k], b)
		} else if k, v, ok := strings.Cut(line, ": "); ok {
			attrs[k] = append(attrs[k], []byte(v))
		}
	}
	return attrs
}

func TestLdapsearchAndOpenSSL(t *testing.T) {
	f := getFixtures(t)
	s, addr := startServer(t, Config{TLS: f.serverTLS}, testEntries(f))
	ls, err := tlsListen(t)
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeTLS(ls)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.ca.Cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"LDAPTLS_CACERT=" + caFile, "LDAPTLS_REQCERT=demand", "LDAPRC=/dev/null", "LDAPCONF=/dev/null"}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"plain", []string{"-x", "-H", "ldap://" + addr}},
		{"StartTLS", []string{"-x", "-ZZ", "-H", "ldap://" + addr}},
		{"LDAPS", []string{"-x", "-H", "ldaps://" + ls.Addr().String()}},
		{"StartTLS+bind", []string{"-x", "-ZZ", "-H", "ldap://" + addr, "-D", adminDN, "-w", adminPW}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := ldapsearchAttrs(t, env, append(tt.args, "-b", testBase, "(mail=alice@example.org)", "userCertificate;binary", "userSMIMECertificate", "mail")...)
			if len(a["dn"]) != 1 || string(a["dn"][0]) != "mail=alice@example.org,ou=people,"+testBase {
				t.Fatalf("dn: %q", a["dn"])
			}
			if c := a["userCertificate;binary"]; len(c) != 1 || !bytes.Equal(c[0], f.alice.Cert.Raw) {
				t.Errorf("userCertificate;binary differs from the certificate")
			}
			if m := a["mail"]; len(m) != 2 {
				t.Errorf("mail: %q", m)
			}
			p7 := a["userSMIMECertificate"]
			if len(p7) != 1 {
				t.Fatalf("userSMIMECertificate: %d values", len(p7))
			}
			if tt.name == "plain" {
				checkPKCS7WithOpenSSL(t, p7[0], f)
			}
		})
	}
	// Anonymous enumeration through ldapsearch fails with 50.
	bin := peertest.NeedTool(t, "ldapsearch")
	out, err := exec.Command(bin, "-x", "-LLL", "-H", "ldap://"+addr, "-b", testBase, "(mail=*)").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Insufficient access") {
		t.Errorf("anonymous enumeration: %v\n%s", err, out)
	}
}

func checkPKCS7WithOpenSSL(t *testing.T, p7 []byte, f *fixtures) {
	t.Helper()
	openssl := peertest.NeedTool(t, "openssl")
	dir := t.TempDir()
	in := filepath.Join(dir, "smime.p7")
	if err := os.WriteFile(in, p7, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", in, "-print_certs", "-noout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	for _, want := range []string{"CN=alice@example.org", "CN=Signet LDAP Test CA"} {
		if !strings.Contains(strings.ReplaceAll(string(out), " = ", "="), want) {
			t.Errorf("openssl pkcs7 -print_certs lacks %s:\n%s", want, out)
		}
	}
	// And the certificates come out byte for byte.
	pemOut, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", in, "-print_certs").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for rest := pemOut; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		got = append(got, b.Bytes)
	}
	if len(got) != 2 || !slices.ContainsFunc(got, func(c []byte) bool { return bytes.Equal(c, f.alice.Cert.Raw) }) ||
		!slices.ContainsFunc(got, func(c []byte) bool { return bytes.Equal(c, f.ca.Cert.Raw) }) {
		t.Errorf("openssl found %d certificates, not leaf and chain", len(got))
	}
}
