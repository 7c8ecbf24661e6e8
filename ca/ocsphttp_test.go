package ca

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"
)

func fetch(t *testing.T, method, u, contentType string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

func TestOCSPHTTP(t *testing.T) {
	f := newOCSPFixture(t, keyP384)
	srv := httptest.NewServer(http.StripPrefix("/ocsp", f.responder))
	defer srv.Close()
	reqDER := createRequest(t, f.revoked, f.ca.issuing, crypto.SHA1)
	b64 := base64.StdEncoding.EncodeToString(reqDER)

	check := func(t *testing.T, resp *http.Response, body []byte, cacheable bool) {
		t.Helper()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/ocsp-response" {
			t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		r, err := ocsp.ParseResponseForCert(body, f.revoked, f.ca.issuing)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != ocsp.Revoked {
			t.Errorf("status %d, want revoked", r.Status)
		}
		cc := resp.Header.Get("Cache-Control")
		if !cacheable {
			if cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			return
		}
		if want := "max-age=43200, public, no-transform, must-revalidate"; cc != want {
			t.Errorf("Cache-Control %q, want %q", cc, want)
		}
		lm, err1 := http.ParseTime(resp.Header.Get("Last-Modified"))
		exp, err2 := http.ParseTime(resp.Header.Get("Expires"))
		if err1 != nil || err2 != nil || !lm.Equal(r.ThisUpdate) || !exp.Equal(r.NextUpdate) {
			t.Errorf("Last-Modified %v Expires %v, want %v %v", lm, exp, r.ThisUpdate, r.NextUpdate)
		}
		if etag := resp.Header.Get("ETag"); len(etag) != 34 || etag[0] != '"' {
			t.Errorf("ETag %q", etag)
		}
	}

	t.Run("POST", func(t *testing.T) {
		resp, body := fetch(t, http.MethodPost, srv.URL+"/ocsp", "application/ocsp-request", reqDER)
		check(t, resp, body, false)
	})
	t.Run("GET escaped", func(t *testing.T) {
		resp, body := fetch(t, http.MethodGet, srv.URL+"/ocsp/"+url.PathEscape(b64), "", nil)
		check(t, resp, body, true)
	})
	t.Run("GET url-safe unpadded", func(t *testing.T) {
		resp, body := fetch(t, http.MethodGet, srv.URL+"/ocsp/"+base64.RawURLEncoding.EncodeToString(reqDER), "", nil)
		check(t, resp, body, true)
	})
	t.Run("GET nonce", func(t *testing.T) {
		nonced := buildRequest([]*x509.Certificate{f.ca.issuing}, []*big.Int{f.revoked.SerialNumber}, bytes.Repeat([]byte{1}, 16))
		resp, body := fetch(t, http.MethodGet, srv.URL+"/ocsp/"+url.PathEscape(base64.StdEncoding.EncodeToString(nonced)), "", nil)
		check(t, resp, body, false)
	})
	t.Run("HEAD", func(t *testing.T) {
		resp, body := fetch(t, http.MethodHead, srv.URL+"/ocsp/"+url.PathEscape(b64), "", nil)
		if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("Content-Type") != "application/ocsp-response" {
			t.Errorf("HEAD: %d, %d bytes, %q", resp.StatusCode, len(body), resp.Header.Get("Content-Type"))
		}
	})
	t.Run("GET garbage", func(t *testing.T) {
		resp, body := fetch(t, http.MethodGet, srv.URL+"/ocsp/bm90IGFuIE9DU1AgcmVxdWVzdA==", "", nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("status %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		wantResponseError(t, body, ocsp.Malformed)
	})
	t.Run("POST too large", func(t *testing.T) {
		_, body := fetch(t, http.MethodPost, srv.URL+"/ocsp", "application/ocsp-request", make([]byte, MaxOCSPRequestSize+1))
		wantResponseError(t, body, ocsp.Malformed)
	})
	t.Run("POST wrong type", func(t *testing.T) {
		resp, _ := fetch(t, http.MethodPost, srv.URL+"/ocsp", "application/octet-stream", reqDER)
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", resp.StatusCode)
		}
	})
	t.Run("PUT", func(t *testing.T) {
		resp, _ := fetch(t, http.MethodPut, srv.URL+"/ocsp", "application/ocsp-request", reqDER)
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
			t.Errorf("status %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// TestOCSPGETSlashes: base64 has '/' and '+', which clients may or may not
// escape; the responder finds the request either way, mounted anywhere.
func TestOCSPGETSlashes(t *testing.T) {
	f := newOCSPFixture(t, keyP384)
	var der []byte
	var b64 string
	for i := int64(1); ; i++ {
		der = buildRequest([]*x509.Certificate{f.ca.issuing}, []*big.Int{big.NewInt(i)}, nil)
		b64 = base64.StdEncoding.EncodeToString(der)
		if strings.Contains(b64, "/") && strings.Contains(b64, "+") {
			break
		}
	}
	for _, path := range []string{"/ocsp/" + b64, "/pki/ocsp/" + b64, "/" + b64, "/ocsp/" + url.PathEscape(b64)} {
		rec := httptest.NewRecorder()
		f.responder.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://pki.example.com"+path, nil))
		resp, err := ocsp.ParseResponse(rec.Body.Bytes(), f.ca.issuing)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if resp.Status != ocsp.Unknown || resp.SerialNumber.Sign() <= 0 {
			t.Errorf("%s: status %d for serial %v", path, resp.Status, resp.SerialNumber)
		}
	}
	// A request URL with a '+' turned into a space still works.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "http://pki.example.com/ocsp/x", nil)
	req.URL.Path, req.URL.RawPath = "/ocsp/"+strings.ReplaceAll(b64, "+", " "), ""
	f.responder.ServeHTTP(rec, req)
	if _, err := ocsp.ParseResponse(rec.Body.Bytes(), f.ca.issuing); err != nil {
		t.Errorf("'+' as space: %v", err)
	}
}
