package ca

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxOCSPRequestSize bounds a POSTed OCSP request.
const MaxOCSPRequestSize = 16 << 10

// ServeHTTP answers OCSP over HTTP (RFC 6960 appendix A, RFC 5019):
//
//   - POST with Content-Type application/ocsp-request and the DER request as
//     the body (other content types get 415);
//   - GET (or HEAD) with the base64 of the DER request, URL-encoded, as the
//     last part of the path: mount the responder at PUBLIC_URL/ocsp and it
//     answers PUBLIC_URL/ocsp/BASE64. Mount it with a plain prefix check
//     rather than under an [http.ServeMux] pattern: ServeMux redirects paths
//     with "//", which base64 produces.
//
// Every OCSP answer, error responses included, is sent with status 200 and
// Content-Type application/ocsp-response. A successful answer to a GET
// without a nonce is cacheable until its nextUpdate (Cache-Control max-age,
// public, no-transform, must-revalidate, with Last-Modified, Expires and
// ETag, RFC 5019 6.2); the rest are sent with Cache-Control no-store.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var der []byte
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		der = requestFromPath(req.URL)
	case http.MethodPost:
		mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if err != nil || mt != "application/ocsp-request" {
			http.Error(w, "content type must be application/ocsp-request", http.StatusUnsupportedMediaType)
			return
		}
		der, err = io.ReadAll(http.MaxBytesReader(w, req.Body, MaxOCSPRequestSize))
		if err != nil {
			der = nil // answered malformedRequest
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	a, err := r.respond(der, now)
	if err != nil {
		log := r.Log
		if log == nil {
			log = slog.Default()
		}
		log.Error("ocsp: cannot answer", "err", err)
	}
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	h.Set("Content-Length", strconv.Itoa(len(a.der)))
	if a.status == ocspSuccessful && req.Method != http.MethodPost && !a.nonce {
		maxAge := int64(a.nextUpdate.Sub(normalise(now)) / time.Second)
		h.Set("Cache-Control", "max-age="+strconv.FormatInt(maxAge, 10)+", public, no-transform, must-revalidate")
		h.Set("Last-Modified", a.thisUpdate.Format(http.TimeFormat))
		h.Set("Expires", a.nextUpdate.Format(http.TimeFormat))
		sum := sha256.Sum256(a.der)
		h.Set("ETag", `"`+hex.EncodeToString(sum[:16])+`"`)
	} else {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(a.der)
	}
}

// requestFromPath finds the OCSP request in a GET path: the longest tail of
// the path, after a '/', that decodes as base64 to an OCSP request. Both
// URL-encoded and bare base64 are accepted, in the standard or URL-safe
// alphabet, padded or not (and a '+' turned into a space by a careless
// client). It returns nil when there is none.
func requestFromPath(u *url.URL) []byte {
	p := u.EscapedPath()
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return nil
		}
		p = p[i+1:]
		if der := decodeRequest(p); der != nil {
			return der
		}
	}
}

func decodeRequest(escaped string) []byte {
	if escaped == "" || len(escaped) > 4*MaxOCSPRequestSize/3+4 {
		return nil
	}
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return nil
	}
	s = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(strings.TrimRight(s, "="))
	der, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	if _, err := parseOCSPRequest(der); err != nil {
		return nil
	}
	return der
}
