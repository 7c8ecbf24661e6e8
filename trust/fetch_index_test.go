package trust

import (
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"runtime"
	"testing"
	"time"
)

func bigCRL(tb testing.TB, n int) (*x509.RevocationList, *x509.Certificate) {
	tb.Helper()
	key := genKey(tb, elliptic.P256())
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Big CRL CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCRLSign | x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	issuer, _ := x509.ParseCertificate(der)
	entries := make([]x509.RevocationListEntry, n)
	now := time.Now()
	for i := range entries {
		// Serials in a scrambled order, as in real CRLs.
		entries[i] = x509.RevocationListEntry{SerialNumber: big.NewInt(int64((i*7919)%n) + 1000), RevocationTime: now}
	}
	crlDER, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now,
		NextUpdate: now.Add(time.Hour), RevokedCertificateEntries: entries}, issuer, key)
	if err != nil {
		tb.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(crlDER)
	if err != nil {
		tb.Fatal(err)
	}
	return crl, issuer
}

func TestCRLIndex(t *testing.T) {
	crl, _ := bigCRL(t, 1000)
	ix := newCRLIndex(crl)
	for _, s := range []int64{1000, 1500, 1999} {
		if e, ok := ix.lookup(big.NewInt(s)); !ok || e.SerialNumber.Int64() != s {
			t.Errorf("serial %d not found", s)
		}
	}
	for _, s := range []int64{999, 2000, -1} {
		if _, ok := ix.lookup(big.NewInt(s)); ok {
			t.Errorf("serial %d found", s)
		}
	}
}

// BenchmarkCRLLookup looks serials up in a one-million-entry CRL through the
// sorted index (built once) and, for comparison, the linear scan Validate
// uses today.
func BenchmarkCRLLookup(b *testing.B) {
	const n = 1_000_000
	crl, _ := bigCRL(b, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	ix := newCRLIndex(crl)
	build := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("index of %d entries built in %s, %d bytes retained", n, build, int64(after.HeapAlloc)-int64(before.HeapAlloc))
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		s := new(big.Int)
		for i := 0; b.Loop(); i++ {
			s.SetInt64(int64(i%(2*n)) + 1000)
			ix.lookup(s)
		}
	})
	b.Run("linear", func(b *testing.B) {
		b.ReportAllocs()
		c := &x509.Certificate{SerialNumber: big.NewInt(n + 5000), RawIssuer: crl.RawIssuer}
		for b.Loop() {
			lookupEntryReason(crl, c, idp{})
		}
	})
}

// TestLargeCRLLookupThroughIndex checks lookupEntryReason (the path the
// validator takes) on a CRL large enough to be indexed: a listed serial is
// revoked, others are not.
func TestLargeCRLLookupThroughIndex(t *testing.T) {
	crl, issuer := bigCRL(t, 5000)
	for _, tc := range []struct {
		serial int64
		want   revStatus
	}{{1000, revRevoked}, {5999, revRevoked}, {999, revGood}, {6000, revGood}} {
		c := &x509.Certificate{SerialNumber: big.NewInt(tc.serial), RawIssuer: issuer.RawSubject}
		if got, _ := lookupEntryReason(crl, c, idp{}); got != tc.want {
			t.Errorf("serial %d: %v, want %v", tc.serial, got, tc.want)
		}
	}
	if indexFor(crl) == nil {
		t.Fatal("the large CRL was not indexed")
	}
}
