package ca

import (
	"bytes"
	"crypto"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkIssue measures issuance (certificates per second) per CA key
// type and subscriber key type; keys are made before the clock starts.
func BenchmarkIssue(b *testing.B) {
	for _, caType := range caKeyTypes {
		c := newTestCA(b, caType)
		for _, keyType := range leafKeyTypes {
			b.Run("ca="+caType+"/key="+keyType, func(b *testing.B) {
				req := Request{Email: "bench@example.com", PublicKey: publicKey(testKey(b, keyType, "leaf"))}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Issue(testOrg(), c.issuing, c.issuingKey, req); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "certs/s")
			})
		}
	}
}

// BenchmarkOCSP measures signed OCSP answers per second, directly and
// through the HTTP handler (POST, no network).
func BenchmarkOCSP(b *testing.B) {
	for _, caType := range caKeyTypes {
		f := newOCSPFixture(b, caType)
		req := createRequest(b, f.revoked, f.ca.issuing, crypto.SHA1)
		b.Run("ca="+caType+"/respond", func(b *testing.B) {
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				if _, err := f.responder.Respond(req, now); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
		})
		b.Run("ca="+caType+"/http", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				r := httptest.NewRequest(http.MethodPost, "/ocsp", bytes.NewReader(req))
				r.Header.Set("Content-Type", "application/ocsp-request")
				f.responder.ServeHTTP(rec, r)
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
		})
	}
}

// BenchmarkCRL measures signing a CRL of 10,000 entries.
func BenchmarkCRL(b *testing.B) {
	c := newTestCA(b, keyP384)
	now := time.Now()
	revoked := make([]Revoked, 10000)
	for i := range revoked {
		revoked[i] = Revoked{Serial: serialNumber(), At: now.Add(-time.Hour), Reason: KeyCompromise}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CRL(testOrg(), c.issuing, c.issuingKey, 1, revoked, now, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "crls/s")
}
