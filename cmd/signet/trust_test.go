package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-smime/signet/internal/keyfile"
	"github.com/signet-smime/signet/internal/testpki"
	"github.com/signet-smime/signet/trust"
)

type trustTestCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func trustTestIssue(t *testing.T, name string, parent *trustTestCert, ca bool, notBefore, notAfter time.Time) *trustTestCert {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, IsCA: ca,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if !ca {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.EmailAddresses = []string{"leaf@example.org"}
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &trustTestCert{c, key}
}

func sha256Hex(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func TestTrustCLI(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errs := runCLI(t, nil, "--data", data, "init", "--org", "Example Org", "--domain", "example.org"); code != 0 {
		t.Fatalf("init: %d %s", code, errs)
	}
	now := time.Now().Truncate(time.Second)
	root := trustTestIssue(t, "CLI Root", nil, true, now.AddDate(-1, 0, 0), now.AddDate(10, 0, 0))
	sub := trustTestIssue(t, "CLI Sub", root, true, now.AddDate(-1, 0, 0), now.AddDate(4, 0, 0))
	old := trustTestIssue(t, "Old Root", nil, true, now.AddDate(-10, 0, 0), now.AddDate(-1, 0, 0))
	other := trustTestIssue(t, "Other Root", nil, true, now.AddDate(-1, 0, 0), now.AddDate(6, 0, 0))
	leaf := trustTestIssue(t, "leaf@example.org", sub, false, now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0))

	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootsSST := write("roots.sst", trust.WriteSST([]*x509.Certificate{root.cert, old.cert}))
	subPEM := write("sub.pem", testpki.CertPEM(sub.cert))
	otherDER := write("other.cer", other.cert.Raw)
	leafPEM := write("leaf.pem", testpki.CertPEM(leaf.cert))
	truncated := write("broken.sst", trust.WriteSST([]*x509.Certificate{other.cert})[:60])
	run := func(args ...string) (int, string, string) {
		return runCLI(t, nil, append([]string{"--data", data, "trust"}, args...)...)
	}
	list := func() []trustRow {
		t.Helper()
		code, out, errs := run("list", "--json")
		if code != 0 {
			t.Fatalf("list: %d %s", code, errs)
		}
		var rows []trustRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		return rows
	}
	if rows := list(); len(rows) != 0 {
		t.Fatalf("new collection: %+v", rows)
	}
	if _, out, _ := run("list"); !strings.Contains(out, "empty") {
		t.Fatalf("empty list: %q", out)
	}

	// All or nothing: a broken file or an end-entity certificate imports nothing.
	for name, files := range map[string][]string{
		"truncated sst": {rootsSST, truncated},
		"end entity":    {rootsSST, leafPEM},
		"missing file":  {rootsSST, filepath.Join(dir, "absent.pem")},
	} {
		code, _, errs := run(append([]string{"import"}, files...)...)
		if code != 1 || !strings.Contains(errs, "nothing imported") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%s: import = %d, %q; want exit 1 with one line", name, code, errs)
		}
		if name == "end entity" && !strings.Contains(errs, "the trust collection holds CA certificates") {
			t.Errorf("end entity: error %q lacks the reason", errs)
		}
		if rows := list(); len(rows) != 0 {
			t.Fatalf("%s: failed import stored %+v", name, rows)
		}
	}
	if code, _, _ := run("import"); code != 2 {
		t.Errorf("import without files: exit %d, want 2", code)
	}

	// Import SST (with an expired root), PEM and DER together.
	code, out, errs := run("import", rootsSST, subPEM, otherDER)
	if code != 0 {
		t.Fatalf("import: %d %s", code, errs)
	}
	for _, want := range []string{"added anchor CN=CLI Root", "added intermediate CN=CLI Sub", "added anchor CN=Other Root",
		"expired on " + old.cert.NotAfter.UTC().Format(time.DateOnly) + ": CN=Old Root", "imported 4 certificate(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("import output lacks %q:\n%s", want, out)
		}
	}
	rows := list()
	var subjects []string
	for _, r := range rows {
		subjects = append(subjects, r.Subject)
	}
	if !slices.Equal(subjects, []string{"CN=Old Root", "CN=CLI Sub", "CN=Other Root", "CN=CLI Root"}) {
		t.Fatalf("list order = %v, want earliest expiry first", subjects)
	}
	if !rows[0].Expired || rows[1].Expired || rows[1].Kind != "intermediate" || rows[1].SHA256 != sha256Hex(sub.cert) ||
		rows[2].Source != "other.cer (der)" || rows[3].Source != "roots.sst (sst)" {
		t.Fatalf("list rows = %+v", rows)
	}
	_, out, _ = run("list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if want := "earliest expiry: " + old.cert.NotAfter.UTC().Format(time.DateOnly) + " CN=Old Root"; lines[len(lines)-1] != want {
		t.Errorf("last line %q, want %q", lines[len(lines)-1], want)
	}
	if !strings.Contains(out, sha256Hex(root.cert)) || !strings.Contains(out, "(expired)") {
		t.Errorf("list:\n%s", out)
	}

	// Duplicates are reported, not an error.
	code, out, errs = run("import", subPEM, rootsSST)
	if code != 0 || strings.Count(out, "already in the collection") != 3 || !strings.Contains(out, "imported 0") {
		t.Fatalf("re-import: %d %q %q", code, out, errs)
	}

	// Export in every format gives the same set back.
	want := []string{sha256Hex(root.cert), sha256Hex(sub.cert), sha256Hex(old.cert), sha256Hex(other.cert)}
	slices.Sort(want)
	for _, format := range []string{"sst", "p7b", "pem"} {
		path := filepath.Join(dir, "export."+format)
		if code, _, errs := run("export", "--format", format, "--out", path); code != 0 {
			t.Fatalf("export %s: %d %s", format, code, errs)
		}
		b, _ := os.ReadFile(path)
		certs, gotFormat, err := trust.Import(b)
		if err != nil {
			t.Fatalf("export %s: %v", format, err)
		}
		var got []string
		for _, c := range certs {
			got = append(got, sha256Hex(c))
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("export %s (%s): %v, want %v", format, gotFormat, got, want)
		}
		if format != "sst" {
			if cs, err := keyfile.ParseCertificates(b); err != nil || len(cs) != 4 {
				t.Errorf("export %s: keyfile reads %d, %v", format, len(cs), err)
			}
		}
	}
	if code, _, _ := run("export", "--format", "jks", "--out", filepath.Join(dir, "x")); code != 2 {
		t.Errorf("export --format jks: exit %d, want 2", code)
	}
	if code, _, _ := run("export", "--format", "pem"); code != 2 {
		t.Errorf("export without --out: exit %d, want 2", code)
	}

	// Remove by a prefix; short, unknown and bad prefixes fail.
	fp := sha256Hex(old.cert)
	if code, _, _ := run("remove", fp[:7]); code != 2 {
		t.Errorf("remove with 7 digits: exit %d, want 2", code)
	}
	if code, _, _ := run("remove", "zzzzzzzzzz"); code != 2 {
		t.Errorf("remove non-hex: exit %d, want 2", code)
	}
	code, out, errs = run("remove", strings.ToUpper(fp[:10]))
	if code != 0 || !strings.Contains(out, "removed anchor CN=Old Root") {
		t.Fatalf("remove: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("remove", fp); code != 1 || !strings.Contains(errs, "no certificate") {
		t.Errorf("remove again: %d %q", code, errs)
	}
	if rows := list(); len(rows) != 3 {
		t.Fatalf("after remove: %+v", rows)
	}
	_, out, _ = run("list")
	if !strings.Contains(out, "earliest expiry: "+sub.cert.NotAfter.UTC().Format(time.DateOnly)+" CN=CLI Sub") {
		t.Errorf("list after remove:\n%s", out)
	}
}
