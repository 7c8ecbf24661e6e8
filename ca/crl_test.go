package ca

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
)

// crlRegistry: zlint's CRL lints. The S/MIME BR source has none, so the
// RFC 5280 ones run with the community ones and the TLS BR ones (BR 7.2 and
// 4.9.7 of both documents agree on CRLs: AKI, number, ECDSA encoding,
// nextUpdate at most ten days for subscribers, twelve months for CAs).
func crlRegistry(root bool) lint.Registry {
	r, err := lint.GlobalRegistry().Filter(lint.FilterOptions{IncludeSources: lint.SourceList{
		lint.RFC5280, lint.Community, lint.CABFBaselineRequirements,
	}})
	if err != nil {
		panic(err)
	}
	if root {
		cfg, err := lint.NewConfigFromString("[e_crl_next_update_invalid]\nSubscriberCRL = false\n")
		if err != nil {
			panic(err)
		}
		r.SetConfiguration(cfg)
	}
	return r
}

func lintCRL(t *testing.T, der []byte, root bool) map[string]string {
	t.Helper()
	zc, err := zx509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("zcrypto cannot parse the CRL: %v", err)
	}
	rs := zlint.LintRevocationListEx(zc, crlRegistry(root))
	if len(rs.Results) == 0 {
		t.Fatal("no CRL lint ran")
	}
	return findings(rs)
}

func TestCRL(t *testing.T) {
	for _, typ := range caKeyTypes {
		t.Run(typ, func(t *testing.T) {
			c := newTestCA(t, typ)
			now := time.Now().UTC().Truncate(time.Second)
			revoked := []Revoked{
				{Serial: big.NewInt(0x1234), At: now.Add(-time.Hour), Reason: KeyCompromise},
				{Serial: serialNumber(), At: now.Add(-2 * time.Hour), Reason: Superseded},
				{Serial: serialNumber(), At: now, Reason: Unspecified},
			}
			der, err := CRL(testOrg(), c.issuing, c.issuingKey, 7, revoked, now, 0)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(c.issuing); err != nil {
				t.Errorf("signature: %v", err)
			}
			if crl.SignatureAlgorithm != c.issuing.SignatureAlgorithm {
				t.Errorf("signed with %v, want %v", crl.SignatureAlgorithm, c.issuing.SignatureAlgorithm)
			}
			if crl.Number.Int64() != 7 {
				t.Errorf("number %v, want 7", crl.Number)
			}
			if !bytes.Equal(crl.AuthorityKeyId, c.issuing.SubjectKeyId) {
				t.Errorf("AKI %x, want %x", crl.AuthorityKeyId, c.issuing.SubjectKeyId)
			}
			if !crl.ThisUpdate.Equal(now) || crl.NextUpdate.Sub(crl.ThisUpdate) != DefaultCRLValidity {
				t.Errorf("thisUpdate %v nextUpdate %v", crl.ThisUpdate, crl.NextUpdate)
			}
			if len(crl.RevokedCertificateEntries) != len(revoked) {
				t.Fatalf("%d entries, want %d", len(crl.RevokedCertificateEntries), len(revoked))
			}
			for i, e := range crl.RevokedCertificateEntries {
				if e.SerialNumber.Cmp(revoked[i].Serial) != 0 || e.ReasonCode != revoked[i].Reason || !e.RevocationTime.Equal(revoked[i].At) {
					t.Errorf("entry %d: %x %d %v, want %+v", i, e.SerialNumber, e.ReasonCode, e.RevocationTime, revoked[i])
				}
				if revoked[i].Reason == Unspecified && len(e.Extensions) != 0 {
					t.Errorf("entry %d: unspecified reason written as an extension", i)
				}
			}
			checkIDP(t, crl, CRLURL(testOrg(), c.issuing))
			if f := lintCRL(t, der, false); len(f) > 0 {
				t.Errorf("zlint: %s", describe(f))
			}
		})
	}
}

// checkIDP finds the critical issuing distribution point naming uri.
func checkIDP(t *testing.T, crl *x509.RevocationList, uri string) {
	t.Helper()
	for _, e := range crl.Extensions {
		if !e.Id.Equal(oidIssuingDistributionPoint) {
			continue
		}
		var idp struct {
			DP struct {
				FullName []asn1.RawValue `asn1:"optional,tag:0"`
			} `asn1:"optional,tag:0"`
		}
		if rest, err := asn1.Unmarshal(e.Value, &idp); err != nil || len(rest) != 0 {
			t.Fatalf("IDP does not parse: %v", err)
		}
		if !e.Critical || len(idp.DP.FullName) != 1 || idp.DP.FullName[0].Tag != 6 || string(idp.DP.FullName[0].Bytes) != uri {
			t.Errorf("IDP critical=%v names %v, want %s", e.Critical, idp.DP.FullName, uri)
		}
		return
	}
	t.Error("no issuing distribution point")
}

func TestRootCRL(t *testing.T) {
	c := newTestCA(t, keyP384)
	now := time.Now()
	revoked := []Revoked{{Serial: c.issuing.SerialNumber, At: now, Reason: CACompromise}}
	der, err := CRL(testOrg(), c.root, c.rootKey, 1, revoked, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if crl.NextUpdate.Sub(crl.ThisUpdate) != DefaultRootCRLValidity {
		t.Errorf("root CRL valid %v, want %v", crl.NextUpdate.Sub(crl.ThisUpdate), DefaultRootCRLValidity)
	}
	for _, e := range crl.Extensions {
		if e.Id.Equal(oidIssuingDistributionPoint) {
			t.Error("root CRL has an issuing distribution point")
		}
	}
	if err := crl.CheckSignatureFrom(c.root); err != nil {
		t.Error(err)
	}
	f := lintCRL(t, der, true)
	// cACompromise is right for a CA certificate whose key leaked, and
	// allowed by RFC 5280 and the S/MIME BR; the TLS BR (and so this lint)
	// allow only 1, 3, 4, 5 and 9.
	if _, ok := f["e_cab_crl_has_valid_reason_code"]; !ok {
		t.Error("e_cab_crl_has_valid_reason_code no longer fires for cACompromise: drop the exception")
	}
	delete(f, "e_cab_crl_has_valid_reason_code")
	if len(f) > 0 {
		t.Errorf("zlint: %s", describe(f))
	}
	if _, err := CRL(testOrg(), c.root, c.rootKey, 1, nil, now, MaxRootCRLValidity); err != nil {
		t.Errorf("a root CRL may last a year: %v", err)
	}
	if _, err := CRL(testOrg(), c.root, c.rootKey, 1, nil, now, MaxRootCRLValidity+24*time.Hour); !errors.Is(err, ErrValidity) {
		t.Errorf("root CRL over a year: got %v, want ErrValidity", err)
	}
}

func TestCRLRefuses(t *testing.T) {
	c := newTestCA(t, keyP384)
	now := time.Now()
	s := big.NewInt(42)
	cases := map[string]struct {
		revoked  []Revoked
		number   int64
		validity time.Duration
		want     error
	}{
		"certificateHold":   {[]Revoked{{Serial: s, At: now, Reason: 6}}, 1, 0, ErrRevoked},
		"removeFromCRL":     {[]Revoked{{Serial: s, At: now, Reason: 8}}, 1, 0, ErrRevoked},
		"duplicate":         {[]Revoked{{Serial: s, At: now}, {Serial: s, At: now}}, 1, 0, ErrRevoked},
		"future revocation": {[]Revoked{{Serial: s, At: now.Add(time.Hour)}}, 1, 0, ErrRevoked},
		"no time":           {[]Revoked{{Serial: s}}, 1, 0, ErrRevoked},
		"zero serial":       {[]Revoked{{Serial: big.NewInt(0), At: now}}, 1, 0, ErrRevoked},
		"nil serial":        {[]Revoked{{At: now}}, 1, 0, ErrRevoked},
		"negative number":   {nil, -1, 0, ErrRevoked},
		"eleven days":       {nil, 1, 11 * 24 * time.Hour, ErrValidity},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := CRL(testOrg(), c.issuing, c.issuingKey, tc.number, tc.revoked, now, tc.validity); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	leaf, _ := c.issue(t, "a@example.com", keyP256, Sign, Strict)
	if _, err := CRL(testOrg(), leaf, c.issuingKey, 1, nil, now, 0); !errors.Is(err, ErrIssuer) {
		t.Errorf("leaf as CRL issuer: got %v, want ErrIssuer", err)
	}
}

func TestReasons(t *testing.T) {
	for _, name := range []string{"keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged", "privilegeWithdrawn", "unspecified", "cACompromise"} {
		code, err := ParseReason(name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ReasonName(code) != name {
			t.Errorf("%s -> %d -> %s", name, code, ReasonName(code))
		}
	}
	if c, err := ParseReason("KEYCOMPROMISE"); err != nil || c != KeyCompromise {
		t.Errorf("case-insensitive: %d %v", c, err)
	}
	for _, bad := range []string{"certificateHold", "removeFromCRL", "", "lost"} {
		if _, err := ParseReason(bad); !errors.Is(err, ErrRevoked) {
			t.Errorf("%q: got %v, want ErrRevoked", bad, err)
		}
	}
}
