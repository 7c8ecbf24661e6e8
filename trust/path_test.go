package trust

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"
)

type ptCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var ptSerial int64 = 100

// ptMake issues a certificate from tmpl (parent nil = self-signed).
func ptMake(t testing.TB, tmpl *x509.Certificate, parent *ptCert) *ptCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ptSerial++
	tmpl.SerialNumber = big.NewInt(ptSerial)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		tmpl.NotAfter = time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if tmpl.IsCA {
		tmpl.BasicConstraintsValid = true
		if tmpl.KeyUsage == 0 {
			tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		}
	}
	signer, issuer := crypto.Signer(key), tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &ptCert{cert: c, key: key}
}

func ptCA(t testing.TB, cn string, parent *ptCert) *ptCert {
	return ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true}, parent)
}

func ptLeaf(t testing.TB, cn string, parent *ptCert) *ptCert {
	return ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature}, parent)
}

var ptAt = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func ptValidate(t *testing.T, leaf *ptCert, anchor *ptCert, inters ...*ptCert) *Result {
	t.Helper()
	return ptValidateOpts(t, leaf, ValidateOptions{Anchors: []*x509.Certificate{anchor.cert}}, inters...)
}

func ptValidateOpts(t *testing.T, leaf *ptCert, opts ValidateOptions, inters ...*ptCert) *Result {
	t.Helper()
	if opts.At.IsZero() {
		opts.At = ptAt
	}
	for _, c := range inters {
		opts.Intermediates = append(opts.Intermediates, c.cert)
	}
	r, err := Validate(leaf.cert, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPathBuilding(t *testing.T) {
	root := ptCA(t, "Root", nil)
	other := ptCA(t, "Other Root", nil)
	sub := ptCA(t, "Sub", root)
	decoy := ptCA(t, "Sub", other) // same name, different key: AKI/SKI must steer past it
	leaf := ptLeaf(t, "Leaf", sub)

	r := ptValidate(t, leaf, root, decoy, sub)
	if r.Code != CodeSuccess {
		t.Fatalf("code %d: %s", r.Code, r.Reason)
	}
	if len(r.Chain) != 3 || r.Chain[1] != sub.cert || r.Chain[2] != root.cert {
		t.Fatalf("unexpected chain of %d certificates", len(r.Chain))
	}
	if r := ptValidate(t, leaf, other, sub); r.Code != CodeUntrusted {
		t.Fatalf("untrusted anchor: code %d (%s)", r.Code, r.Reason)
	}
	if r := ptValidate(t, leaf, root); r.Code != CodeUntrusted {
		t.Fatalf("missing intermediate: code %d (%s)", r.Code, r.Reason)
	}
	// Expired intermediate: chain time invalid.
	old := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Old"}, IsCA: true,
		NotBefore: time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)}, root)
	if r := ptValidate(t, ptLeaf(t, "L", old), root, old); r.Code != CodeChainTimeInvalid {
		t.Fatalf("expired CA: code %d (%s)", r.Code, r.Reason)
	}
	// A non-CA in the middle.
	notCA := ptLeaf(t, "NotCA", root)
	if r := ptValidate(t, ptLeaf(t, "L2", notCA), root, notCA); r.Code == CodeSuccess {
		t.Fatal("path through an end-entity certificate accepted")
	}
}

func TestPathLenConstraint(t *testing.T) {
	root := ptCA(t, "Root", nil)
	ca1 := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "CA1"}, IsCA: true, MaxPathLenZero: true}, root)
	ca2 := ptCA(t, "CA2", ca1)
	leaf := ptLeaf(t, "Leaf", ca2)
	if r := ptValidate(t, leaf, root, ca1, ca2); r.Code != CodeBadChain || !strings.Contains(r.Reason, "path length") {
		t.Fatalf("pathLen 0 exceeded: code %d (%s)", r.Code, r.Reason)
	}
	if r := ptValidate(t, ptLeaf(t, "Leaf1", ca1), root, ca1); r.Code != CodeSuccess {
		t.Fatalf("pathLen 0 with leaf directly below: code %d (%s)", r.Code, r.Reason)
	}
	ca1b := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "CA1b"}, IsCA: true, MaxPathLen: 1}, root)
	ca2b := ptCA(t, "CA2b", ca1b)
	if r := ptValidate(t, ptLeaf(t, "Leafb", ca2b), root, ca1b, ca2b); r.Code != CodeSuccess {
		t.Fatalf("pathLen 1: code %d (%s)", r.Code, r.Reason)
	}
}

func TestNameConstraintsEmailDNS(t *testing.T) {
	root := ptCA(t, "Root", nil)
	ca := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Constrained"}, IsCA: true,
		PermittedEmailAddresses: []string{"example.com"}, ExcludedDNSDomains: []string{"bad.example.com"}}, root)
	good := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Good"}, EmailAddresses: []string{"alice@example.com"}}, ca)
	if r := ptValidate(t, good, root, ca); r.Code != CodeSuccess {
		t.Fatalf("permitted email: code %d (%s)", r.Code, r.Reason)
	}
	bad := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Bad"}, EmailAddresses: []string{"alice@example.org"}}, ca)
	if r := ptValidate(t, bad, root, ca); r.Code == CodeSuccess {
		t.Fatal("email outside permitted subtree accepted")
	}
	dns := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "DNS"}, EmailAddresses: []string{"a@example.com"}, DNSNames: []string{"www.bad.example.com"}}, ca)
	if r := ptValidate(t, dns, root, ca); r.Code == CodeSuccess {
		t.Fatal("DNS name in excluded subtree accepted")
	}
	// Constraints do not apply to the constraining CA itself.
	if !matchEmail("x@sub.example.com", ".example.com") || matchEmail("x@example.com", ".example.com") {
		t.Fatal("matchEmail domain semantics")
	}
	if !matchDNS("a.b.example.com", "example.com") || matchDNS("badexample.com", "example.com") {
		t.Fatal("matchDNS semantics")
	}
}

// ptDNConstraints builds a nameConstraints extension with directoryName subtrees.
func ptDNConstraints(t *testing.T, permitted, excluded []pkix.Name) pkix.Extension {
	t.Helper()
	type subtree struct {
		Base asn1.RawValue
	}
	enc := func(names []pkix.Name) []subtree {
		var out []subtree
		for _, n := range names {
			der, err := asn1.Marshal(n.ToRDNSequence())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, subtree{Base: asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: der}})
		}
		return out
	}
	type nc struct {
		Permitted []subtree `asn1:"optional,tag:0"`
		Excluded  []subtree `asn1:"optional,tag:1"`
	}
	der, err := asn1.Marshal(nc{Permitted: enc(permitted), Excluded: enc(excluded)})
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: oidNameConstraints, Critical: true, Value: der}
}

func TestNameConstraintsDirectoryName(t *testing.T) {
	root := ptCA(t, "Root", nil)
	permitted := pkix.Name{Country: []string{"US"}, Organization: []string{"Org"}, OrganizationalUnit: []string{"Permitted"}}
	ca := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "DN CA"}, IsCA: true,
		ExtraExtensions: []pkix.Extension{ptDNConstraints(t, []pkix.Name{permitted}, nil)}}, root)
	in := ptMake(t, &x509.Certificate{Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Org"}, OrganizationalUnit: []string{"permitted"}, CommonName: "In"}}, ca)
	if r := ptValidate(t, in, root, ca); r.Code != CodeSuccess {
		t.Fatalf("subject inside permitted DN subtree: code %d (%s)", r.Code, r.Reason)
	}
	out := ptMake(t, &x509.Certificate{Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Org"}, OrganizationalUnit: []string{"Elsewhere"}, CommonName: "Out"}}, ca)
	if r := ptValidate(t, out, root, ca); r.Code == CodeSuccess {
		t.Fatal("subject outside permitted DN subtree accepted")
	}
}

func oid(t *testing.T, s string) x509.OID {
	t.Helper()
	o, err := x509.ParseOID(s)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestPolicyTree(t *testing.T) {
	root := ptCA(t, "Root", nil)
	ca := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Policy CA"}, IsCA: true,
		Policies: []x509.OID{oid(t, "1.2.3.1")}}, root)
	same := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Same"}, Policies: []x509.OID{oid(t, "1.2.3.1")}}, ca)
	diff := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Diff"}, Policies: []x509.OID{oid(t, "1.2.3.2")}}, ca)
	explicit := ValidateOptions{Anchors: []*x509.Certificate{root.cert}, RequireExplicitPolicy: true}
	if r := ptValidateOpts(t, same, explicit, ca); r.Code != CodeSuccess {
		t.Fatalf("same policy: code %d (%s)", r.Code, r.Reason)
	}
	if r := ptValidateOpts(t, diff, explicit, ca); r.Code == CodeSuccess {
		t.Fatal("disjoint policies accepted with explicit policy required")
	}
	if r := ptValidate(t, diff, root, ca); r.Code != CodeSuccess {
		t.Fatalf("disjoint policies without explicit policy: code %d (%s)", r.Code, r.Reason)
	}
	// Initial policy set.
	set := ValidateOptions{Anchors: []*x509.Certificate{root.cert}, RequireExplicitPolicy: true,
		InitialPolicies: []asn1.ObjectIdentifier{{1, 2, 3, 9}}}
	if r := ptValidateOpts(t, same, set, ca); r.Code == CodeSuccess {
		t.Fatal("policy outside the initial set accepted")
	}
	// Policy mapping 1.2.3.1 -> 1.2.3.5.
	mapper := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Mapper"}, IsCA: true,
		Policies:        []x509.OID{oid(t, "1.2.3.1")},
		ExtraExtensions: []pkix.Extension{ptPolicyMappings(t, [2]asn1.ObjectIdentifier{{1, 2, 3, 1}, {1, 2, 3, 5}})}}, root)
	if len(mapper.cert.PolicyMappings) != 1 {
		t.Fatalf("policy mappings not parsed: %v", mapper.cert.PolicyMappings)
	}
	mapped := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Mapped"}, Policies: []x509.OID{oid(t, "1.2.3.5")}}, mapper)
	if r := ptValidateOpts(t, mapped, explicit, mapper); r.Code != CodeSuccess {
		t.Fatalf("mapped policy: code %d (%s)", r.Code, r.Reason)
	}
	inhibit := explicit
	inhibit.InhibitPolicyMapping = true
	if r := ptValidateOpts(t, mapped, inhibit, mapper); r.Code == CodeSuccess {
		t.Fatal("mapped policy accepted with policy mapping inhibited")
	}
	// anyPolicy in the CA, inhibited by the caller.
	anyCA := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Any CA"}, IsCA: true,
		Policies: []x509.OID{oid(t, anyPolicyOID)}}, root)
	anyLeaf := ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Any leaf"}, Policies: []x509.OID{oid(t, "1.2.3.7")}}, anyCA)
	if r := ptValidateOpts(t, anyLeaf, explicit, anyCA); r.Code != CodeSuccess {
		t.Fatalf("anyPolicy CA: code %d (%s)", r.Code, r.Reason)
	}
	inhAny := explicit
	inhAny.InhibitAnyPolicy = true
	if r := ptValidateOpts(t, anyLeaf, inhAny, anyCA); r.Code == CodeSuccess {
		t.Fatal("anyPolicy accepted with anyPolicy inhibited")
	}
}

func ptCRL(t *testing.T, issuer *ptCert, number int64, deltaBase int64, entries []x509.RevocationListEntry) *x509.RevocationList {
	t.Helper()
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                ptAt.Add(-time.Hour),
		NextUpdate:                ptAt.Add(time.Hour),
		RevokedCertificateEntries: entries,
	}
	if deltaBase > 0 {
		v, _ := asn1.Marshal(big.NewInt(deltaBase))
		tmpl.ExtraExtensions = []pkix.Extension{{Id: oidDeltaCRL, Critical: true, Value: v}}
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, issuer.cert, issuer.key)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func TestRevocationAndDeltaCRL(t *testing.T) {
	root := ptCA(t, "Root", nil)
	ca := ptCA(t, "CA", root)
	leaf := ptLeaf(t, "Leaf", ca)
	other := ptLeaf(t, "Other", ca)
	rootCRL := ptCRL(t, root, 1, 0, nil)
	entry := func(c *ptCert, reason int) x509.RevocationListEntry {
		return x509.RevocationListEntry{SerialNumber: c.cert.SerialNumber, RevocationTime: ptAt.Add(-2 * time.Hour), ReasonCode: reason}
	}
	opts := func(crls ...*x509.RevocationList) ValidateOptions {
		return ValidateOptions{Anchors: []*x509.Certificate{root.cert}, CRLs: append([]*x509.RevocationList{rootCRL}, crls...), CheckRevocation: true}
	}
	base := ptCRL(t, ca, 10, 0, []x509.RevocationListEntry{entry(other, 1)})
	if r := ptValidateOpts(t, leaf, opts(base), ca); r.Code != CodeSuccess {
		t.Fatalf("good leaf: code %d (%s)", r.Code, r.Reason)
	}
	if r := ptValidateOpts(t, other, opts(base), ca); r.Code != CodeRevoked {
		t.Fatalf("revoked leaf: code %d (%s)", r.Code, r.Reason)
	}
	if r := ptValidateOpts(t, leaf, opts(), ca); r.Code != CodeRevocationUnverified {
		t.Fatalf("no CRL: code %d (%s)", r.Code, r.Reason)
	}
	// Delta CRL revoking leaf on top of the base.
	delta := ptCRL(t, ca, 11, 10, []x509.RevocationListEntry{entry(leaf, 1)})
	if r := ptValidateOpts(t, leaf, opts(base, delta), ca); r.Code != CodeRevoked {
		t.Fatalf("leaf revoked by delta: code %d (%s)", r.Code, r.Reason)
	}
	// removeFromCRL in a delta un-revokes a certificate on hold in the base.
	unhold := ptCRL(t, ca, 12, 10, []x509.RevocationListEntry{entry(other, reasonRemoveFromCRL)})
	if r := ptValidateOpts(t, other, opts(base, unhold), ca); r.Code != CodeSuccess {
		t.Fatalf("removeFromCRL in delta: code %d (%s)", r.Code, r.Reason)
	}
	// A delta for a newer base does not apply.
	future := ptCRL(t, ca, 21, 20, []x509.RevocationListEntry{entry(leaf, 1)})
	if r := ptValidateOpts(t, leaf, opts(base, future), ca); r.Code != CodeSuccess {
		t.Fatalf("delta for a newer base applied: code %d (%s)", r.Code, r.Reason)
	}
	// Revoked intermediate.
	rootCRL2 := ptCRL(t, root, 2, 0, []x509.RevocationListEntry{entry(ca, 1)})
	o := opts(base)
	o.CRLs[0] = rootCRL2
	if r := ptValidateOpts(t, leaf, o, ca); r.Code != CodeChainRevoked {
		t.Fatalf("revoked intermediate: code %d (%s)", r.Code, r.Reason)
	}
	// Stale CRL.
	o = opts(base)
	o.At = ptAt.Add(2 * time.Hour)
	if r := ptValidateOpts(t, leaf, o, ca); r.Code != CodeRevocationUnverified {
		t.Fatalf("stale CRL: code %d (%s)", r.Code, r.Reason)
	}
}

// ptPolicyMappings builds a policyMappings extension (Go does not marshal
// Certificate.PolicyMappings).
func ptPolicyMappings(t *testing.T, maps ...[2]asn1.ObjectIdentifier) pkix.Extension {
	t.Helper()
	type mapping struct{ IssuerDomainPolicy, SubjectDomainPolicy asn1.ObjectIdentifier }
	var ms []mapping
	for _, m := range maps {
		ms = append(ms, mapping{m[0], m[1]})
	}
	der, err := asn1.Marshal(ms)
	if err != nil {
		t.Fatal(err)
	}
	return pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 33}, Critical: true, Value: der}
}

func TestNamesEqual(t *testing.T) {
	enc := func(tag int, org, cn string) []byte {
		val := func(s string) asn1.RawValue {
			return asn1.RawValue{Tag: tag, Bytes: []byte(s)}
		}
		der, err := asn1.Marshal(pkix.RDNSequence{
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: val(org)}},
			{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: val(cn)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	a := enc(asn1.TagPrintableString, "Test Org", "Some CA")
	for _, b := range [][]byte{
		enc(asn1.TagUTF8String, "Test Org", "Some CA"),
		enc(asn1.TagPrintableString, "  test   org ", "SOME CA"),
	} {
		if !namesEqual(a, b) {
			t.Errorf("names should match: %x vs %x", a, b)
		}
	}
	if namesEqual(a, enc(asn1.TagPrintableString, "Some CA", "Test Org")) {
		t.Error("RDN order must matter")
	}
	if namesEqual(a, enc(asn1.TagPrintableString, "Test Org", "Other CA")) {
		t.Error("different names matched")
	}
}

func TestSHA1Signature(t *testing.T) {
	root := ptCA(t, "Root", nil)
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "SHA-1 leaf"}, SignatureAlgorithm: x509.ECDSAWithSHA1}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl.SerialNumber = big.NewInt(7)
	tmpl.NotBefore, tmpl.NotAfter = ptAt.Add(-time.Hour), ptAt.Add(time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, key.Public(), root.key)
	if err != nil {
		t.Skipf("cannot make a SHA-1 certificate here: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckSignatureFrom(root.cert); err == nil {
		t.Log("Go accepted the SHA-1 signature itself")
	}
	r := ptValidate(t, &ptCert{cert: c, key: key}, root)
	if r.Code != CodeSuccess {
		t.Fatalf("SHA-1 signed certificate: code %d (%s)", r.Code, r.Reason)
	}
	// A tampered signature still fails.
	bad := *c
	bad.Signature = append([]byte(nil), c.Signature...)
	bad.Signature[len(bad.Signature)-1] ^= 1
	if r := ptValidate(t, &ptCert{cert: &bad}, root); r.Code == CodeSuccess {
		t.Fatal("tampered SHA-1 signature accepted")
	}
}

// FuzzParseCertificate checks that the lenient re-encoding path never
// panics and that whatever it accepts keeps the original encoding.
func FuzzParseCertificate(f *testing.F) {
	root := ptCA(f, "Root", nil)
	f.Add(root.cert.Raw)
	f.Add(ptLeaf(f, "Leaf", root).cert.Raw)
	f.Fuzz(func(t *testing.T, der []byte) {
		c, err := ParseCertificate(der)
		if err != nil {
			return
		}
		if string(c.Raw) != string(der) {
			t.Fatal("Raw differs from the input")
		}
		_, _ = Validate(c, ValidateOptions{At: ptAt, Anchors: []*x509.Certificate{root.cert}, CheckRevocation: true})
	})
}

func TestPathBuildingBounded(t *testing.T) {
	root := ptCA(t, "Root", nil)
	// Many intermediates that all chain to each other by name and carry no
	// key identifiers: the search must stay bounded.
	var inters []*ptCert
	for i := 0; i < 30; i++ {
		inters = append(inters, ptMake(t, &x509.Certificate{Subject: pkix.Name{CommonName: "Loop"}, IsCA: true}, nil))
	}
	for _, c := range inters {
		c.cert.AuthorityKeyId, c.cert.SubjectKeyId = nil, nil
	}
	leaf := ptLeaf(t, "Leaf", inters[0])
	leaf.cert.AuthorityKeyId = nil
	start := time.Now()
	r := ptValidate(t, leaf, root, inters...)
	if r.Code == CodeSuccess {
		t.Fatal("path to an unrelated anchor accepted")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("path building took %v", d)
	}
}
