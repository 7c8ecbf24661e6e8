package smime

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/spool"
	"github.com/signet-smime/signet/smime/internal/mimeio"
)

// VerifyOptions control Verify.
type VerifyOptions struct {
	// Roots are the trust anchors; without them no chain is trusted.
	Roots *x509.CertPool
	// Intermediates add to the certificates carried in the message, both to
	// find the signer and to build the chain.
	Intermediates []*x509.Certificate
	// At is the time of validation; the current time when zero.
	At time.Time
	// AtSigningTime validates each signer's certificate at the signing
	// time it claims (for old mail whose certificates have since expired),
	// falling back to At when a signer states none. The signing time is
	// the signer's own claim, not proven by a time-stamp authority; the
	// report says which time was used.
	AtSigningTime bool
	// Validate, when set, judges each signer's certificate chain instead
	// of crypto/x509 (which lacks policy processing and CRLs): the trust
	// package's RFC 5280 validator. It gets the message's certificates and
	// CRLs as well as Intermediates. Roots is then unused.
	Validate func(leaf *x509.Certificate, intermediates []*x509.Certificate, crls [][]byte, at time.Time) ChainVerdict
	// TempDir holds encrypted spool files; the system's when empty.
	TempDir string
}

// ChainVerdict is what a Validate function found.
type ChainVerdict struct {
	OK     bool
	Code   int    // Exchange ActiveSync ValidateCert code (1: success)
	Reason string // why not, when !OK
	Chain  []*x509.Certificate
	// Revocation says how revocation was checked ("CRL", "not checked: …").
	Revocation string
	// Weak lists weak algorithms or keys in the chain's certificates.
	Weak []string
}

// MaxSignatureSize bounds the signature part of a multipart/signed message.
const MaxSignatureSize = 16 << 20

// Signer is the verdict on one signer.
type Signer struct {
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	Serial       string    `json:"serial"`
	Fingerprint  string    `json:"sha256_fingerprint"`
	Emails       []string  `json:"emails"`
	Digest       string    `json:"digest"`
	Algorithm    string    `json:"signature_algorithm"`
	SigningTime  time.Time `json:"signing_time,omitzero"`
	SignatureOK  bool      `json:"signature_ok"`
	SignatureErr string    `json:"signature_error,omitempty"`
	ChainOK      bool      `json:"chain_ok"`
	ChainErr     string    `json:"chain_error,omitempty"`
	Chain        []string  `json:"chain,omitempty"`
	ChainCode    int       `json:"status"` // ValidateCert code: 1 success
	ValidatedAt  time.Time `json:"validated_at"`
	Revocation   string    `json:"revocation,omitempty"`
	FromMatches  bool      `json:"from_matches"`
	// FromNote explains FromMatches when the certificate names no address
	// (RFC 8550 3: the check applies when addresses are present).
	FromNote string   `json:"from_note,omitempty"`
	Weak     []string `json:"weak,omitempty"`
	// Capabilities are the ciphers the signer announces it can read, in
	// order of preference (SMIMECapabilities).
	Capabilities []string `json:"capabilities,omitempty"`
	// EncryptionCertificate is the certificate the signer asks to be
	// encrypted to (SMIMEEncryptionKeyPreference), when the message carries it.
	EncryptionCertificate *x509.Certificate `json:"-"`

	Certificate *x509.Certificate `json:"-"`
}

// OK reports whether this signer passes every check.
func (s *Signer) OK() bool { return s.SignatureOK && s.ChainOK && s.FromMatches }

// Verified is the report of Verify.
type Verified struct {
	// Signed is true when the root of the message is S/MIME signed. A
	// signature over a part only does not count.
	Signed bool   `json:"signed"`
	Opaque bool   `json:"opaque"`
	Part   string `json:"signed_part"` // "root", or the part path that is signed
	// Note explains why a message is not treated as signed.
	Note      string    `json:"note,omitempty"`
	From      string    `json:"from"`
	At        time.Time `json:"validated_at"`
	Signers   []*Signer `json:"signers"`
	InnerType string    `json:"inner_type,omitempty"`
}

// OK reports whether the message is signed, has at least one signer, and
// every signer passes (with several signers, all must verify).
func (v *Verified) OK() bool {
	if !v.Signed || len(v.Signers) == 0 {
		return false
	}
	for _, s := range v.Signers {
		if !s.OK() {
			return false
		}
	}
	return true
}

// Reason is a one-line reason for failure, "" when OK.
func (v *Verified) Reason() string {
	switch {
	case v.OK():
		return ""
	case !v.Signed:
		return v.Note
	case len(v.Signers) == 0:
		return "the signature has no signers"
	}
	for i, s := range v.Signers {
		who := fmt.Sprintf("signer %d (%s)", i+1, s.Subject)
		switch {
		case !s.SignatureOK:
			return who + ": bad signature: " + s.SignatureErr
		case !s.ChainOK:
			return who + ": untrusted certificate: " + s.ChainErr
		case !s.FromMatches:
			return fmt.Sprintf("%s: From %s is not in the certificate (%s)", who, v.From, strings.Join(s.Emails, ", "))
		}
	}
	return "verification failed"
}

// ErrNotSigned says the message has no S/MIME signature at its root.
var ErrNotSigned = errors.New("smime: the message is not signed")

// Verify reads a signed S/MIME message from src, checks every signature,
// and writes the signed message (the outer message fields, then the signed
// entity) to dst only when every signature is cryptographically valid.
// The report says whether chains, addresses and algorithms pass.
func Verify(dst io.Writer, src io.Reader, opts *VerifyOptions) (*Verified, error) {
	if opts == nil {
		opts = &VerifyOptions{}
	}
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	br := pooledReader(src)
	defer releaseReader(br)
	h, err := mimeio.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("smime: reading the message header: %w", err)
	}
	v := &Verified{At: at}
	v.From, _ = fromAddress(h)
	outer, _ := splitHeader(h)
	mt, params, _ := h.ContentType()
	sp, err := spool.New(opts.TempDir)
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	var sd *cms.SignedData
	canonical := false // the signed part verified once made CRLF
	switch {
	case mt == "multipart/signed":
		sd, canonical, err = verifyDetached(br, params, sp, opts.Intermediates)
	case isPKCS7Mime(mt, params):
		st := strings.ToLower(params["smime-type"])
		if st != "" && st != "signed-data" {
			return nil, fmt.Errorf("%w: it is %s; decrypt it first", ErrNotSigned, st)
		}
		v.Opaque = true
		var body io.Reader
		if body, err = mimeio.DecodeTransfer(br, h.Get("Content-Transfer-Encoding")); err == nil {
			sd, err = cms.Verify(body, &cms.VerifyOptions{Content: sp, Certificates: opts.Intermediates})
			var cte *cms.ContentTypeError
			if errors.As(err, &cte) {
				return nil, fmt.Errorf("%w: the pkcs7-mime content is %s", ErrNotSigned, cms.ContentTypeName(cte.Got))
			}
		}
		if err == nil && sd.Detached {
			err = errors.New("smime: signed-data without content")
		}
	default:
		v.Note = "the message is not signed (its root is " + orDefault(mt, "text/plain") + ")"
		if strings.HasPrefix(mt, "multipart/") {
			if part := findSignedPart(br, params["boundary"], "", 0); part != "" {
				v.Note = fmt.Sprintf("only part %s of the message is signed, not the whole message: not treated as signed", part)
			}
		}
		return v, nil
	}
	if err != nil {
		return nil, err
	}
	v.Signed, v.Part = true, "root"
	intermediates := x509.NewCertPool()
	for _, c := range append(sd.Certificates, opts.Intermediates...) {
		intermediates.AddCert(c)
	}
	for _, si := range sd.Signers {
		when := at
		if opts.AtSigningTime && !si.SigningTime.IsZero() {
			when = si.SigningTime
		}
		s := judge(si, v.From, opts, intermediates, extra(sd, opts), sd.CRLs, when)
		s.ValidatedAt = when
		for _, c := range cms.ParseCapabilities(si.SignedAttributes) {
			s.Capabilities = append(s.Capabilities, c.String())
		}
		if pref := cms.ParseEncryptionKeyPreference(si.SignedAttributes); pref != nil {
			for _, c := range sd.Certificates {
				if pref.Matches(c) {
					s.EncryptionCertificate = c
				}
			}
		}
		v.Signers = append(v.Signers, s)
	}
	for _, s := range v.Signers {
		if !s.SignatureOK {
			return v, nil // release nothing that is not authentic
		}
	}
	if len(v.Signers) == 0 {
		return v, nil
	}
	var r io.ReadCloser
	if r, err = sp.Reader(); err != nil {
		return nil, err
	}
	defer r.Close()
	if canonical {
		// Release what was verified: the canonical (CRLF) form.
		r = canonicalReader(r)
		defer r.Close()
	}
	ir := pooledReader(r)
	defer releaseReader(ir)
	ih, err := mimeio.ReadHeader(ir)
	if err != nil {
		return nil, fmt.Errorf("smime: the signed content is not a MIME entity: %w", err)
	}
	v.InnerType, _, _ = ih.ContentType()
	if v.InnerType == "" {
		v.InnerType = "text/plain"
	}
	if dst == nil {
		return v, nil
	}
	return v, writeUnwrapped(dst, outer, ih, ir)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// verifyDetached reads a multipart/signed body: the first part is spooled
// while it streams in, the second is the signature. The first part is
// verified exactly as found (binary content, as in AS2, must not be
// altered); if a signature fails on it and it has bare LF or CR line
// endings (a message stored or relayed with local line endings), it is
// verified again in canonical CRLF form (RFC 8551 3.1.1), and canonical
// reports whether that form is the one that verified.
func verifyDetached(body io.Reader, params map[string]string, sp *spool.Spool, extra []*x509.Certificate) (sd *cms.SignedData, canonical bool, err error) {
	boundary := params["boundary"]
	if boundary == "" {
		return nil, false, errors.New("smime: multipart/signed without a boundary")
	}
	proto := strings.ToLower(params["protocol"])
	if proto != "application/pkcs7-signature" && proto != "application/x-pkcs7-signature" {
		return nil, false, fmt.Errorf("%w: multipart/signed with protocol %q is not S/MIME", ErrNotSigned, params["protocol"])
	}
	mr := mimeio.NewMultipartReader(body, boundary)
	part, err := mr.NextPart()
	if err != nil {
		return nil, false, fmt.Errorf("smime: multipart/signed has no content part: %w", err)
	}
	var cls mimeio.Classifier
	if _, err := copyPooled(io.MultiWriter(sp, &cls), part); err != nil {
		return nil, false, err
	}
	part, err = mr.NextPart()
	if err != nil {
		return nil, false, fmt.Errorf("smime: multipart/signed has no signature part: %w", err)
	}
	pr := bufio.NewReader(part)
	ph, err := mimeio.ReadHeader(pr)
	if err != nil {
		return nil, false, err
	}
	dec, err := mimeio.DecodeTransfer(pr, ph.Get("Content-Transfer-Encoding"))
	if err != nil {
		return nil, false, err
	}
	sig, err := io.ReadAll(io.LimitReader(dec, MaxSignatureSize+1))
	if err != nil {
		return nil, false, fmt.Errorf("smime: reading the signature: %w", err)
	}
	if len(sig) > MaxSignatureSize {
		return nil, false, errors.New("smime: the signature part is too large")
	}
	if _, err := mr.NextPart(); err != io.EOF {
		if err == nil {
			return nil, false, errors.New("smime: multipart/signed has more than two parts")
		}
		return nil, false, err
	}
	verify := func(canonical bool) (*cms.SignedData, error) {
		content, err := sp.Reader()
		if err != nil {
			return nil, err
		}
		defer content.Close()
		if canonical {
			content = canonicalReader(content)
			defer content.Close()
		}
		// The detached content must not also be inside the SignedData.
		return cms.Verify(bytes.NewReader(sig), &cms.VerifyOptions{Detached: content, Certificates: extra})
	}
	if sd, err = verify(false); err != nil || allSignaturesOK(sd) || !(cls.HasBareLF() || cls.HasBareCR()) {
		return sd, false, err
	}
	if csd, cerr := verify(true); cerr == nil && allSignaturesOK(csd) {
		return csd, true, nil
	}
	return sd, false, nil
}

// allSignaturesOK reports whether there are signers and every signature verifies.
func allSignaturesOK(sd *cms.SignedData) bool {
	for _, s := range sd.Signers {
		if s.Err != nil {
			return false
		}
	}
	return len(sd.Signers) > 0
}

// canonicalReader returns r with every line ending made CRLF. Closing it
// stops the conversion and waits until r is no longer read.
func canonicalReader(r io.Reader) io.ReadCloser {
	pr, pw := io.Pipe()
	c := &canonReader{PipeReader: pr, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		cw := mimeio.NewCanonicalWriter(pw)
		_, err := copyPooled(cw, r)
		if err == nil {
			err = cw.Close()
		}
		pw.CloseWithError(err)
	}()
	return c
}

type canonReader struct {
	*io.PipeReader
	done chan struct{}
}

func (c *canonReader) Close() error {
	err := c.PipeReader.Close()
	<-c.done
	return err
}

// findSignedPart looks for a signed part below a multipart root and returns
// its path ("1", "2.1" …), or "".
func findSignedPart(r io.Reader, boundary, prefix string, depth int) string {
	if boundary == "" || depth > 8 {
		return ""
	}
	mr := mimeio.NewMultipartReader(r, boundary)
	for i := 1; ; i++ {
		part, err := mr.NextPart()
		if err != nil {
			return ""
		}
		pr := bufio.NewReader(part)
		ph, err := mimeio.ReadHeader(pr)
		if err != nil {
			return ""
		}
		path := fmt.Sprintf("%s%d", prefix, i)
		mt, params, _ := ph.ContentType()
		switch {
		case mt == "multipart/signed", isPKCS7Mime(mt, params) && strings.EqualFold(params["smime-type"], "signed-data"):
			return path
		case strings.HasPrefix(mt, "multipart/"):
			if p := findSignedPart(pr, params["boundary"], path+".", depth+1); p != "" {
				return p
			}
		}
	}
}

// judge turns a cms.SignerInfo into a verdict.
func judge(si *cms.SignerInfo, from string, opts *VerifyOptions, intermediates *x509.CertPool, pool []*x509.Certificate, crls [][]byte, at time.Time) *Signer {
	s := &Signer{SigningTime: si.SigningTime, Algorithm: si.SignatureAlgorithm, Weak: si.Weak}
	s.Digest = strings.ToLower(strings.ReplaceAll(si.Digest.String(), "-", ""))
	if si.Err != nil {
		s.SignatureErr = si.Err.Error()
	} else {
		s.SignatureOK = true
	}
	c := si.Certificate
	if c == nil {
		s.ChainErr = "the signer's certificate is not available"
		return s
	}
	s.Certificate = c
	s.Subject = c.Subject.String()
	s.Issuer = c.Issuer.String()
	s.Serial = hex.EncodeToString(c.SerialNumber.Bytes())
	fp := sha256.Sum256(c.Raw)
	s.Fingerprint = hex.EncodeToString(fp[:])
	s.Emails = CertificateEmails(c)
	if len(s.Emails) == 0 {
		s.FromMatches, s.FromNote = true, "the certificate names no address, so From cannot be checked (RFC 8550 3)"
	} else {
		s.FromMatches = from != "" && CertificateHasEmail(c, from)
	}
	if c.KeyUsage != 0 && c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		s.ChainErr = "the certificate's key usage does not allow signing"
		s.ChainCode = 6
		return s
	}
	if !EmailProtectionAllowed(c) {
		s.ChainErr = "the certificate's extended key usage does not include emailProtection"
		s.ChainCode = 9
		return s
	}
	if opts.Validate != nil {
		v := opts.Validate(c, pool, crls, at)
		s.ChainOK, s.ChainCode, s.Revocation = v.OK, v.Code, v.Revocation
		s.Weak = append(s.Weak, v.Weak...)
		if !v.OK {
			s.ChainErr = v.Reason
		}
		for _, cc := range v.Chain {
			s.Chain = append(s.Chain, cc.Subject.String())
		}
		return s
	}
	if opts.Roots == nil {
		s.ChainErr = "no trust anchors given"
		s.ChainCode = 4
		return s
	}
	chains, err := c.Verify(x509.VerifyOptions{
		Roots:         opts.Roots,
		Intermediates: intermediates,
		CurrentTime:   at,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	})
	if err != nil {
		s.ChainErr = err.Error()
		s.ChainCode = 5
		return s
	}
	s.ChainOK, s.ChainCode, s.Revocation = true, 1, "not checked"
	for _, cc := range chains[0] {
		s.Chain = append(s.Chain, cc.Subject.String())
	}
	return s
}

// EmailProtectionAllowed reports whether a certificate may protect e-mail:
// no extended key usage (any purpose, RFC 5280), emailProtection or
// anyExtendedKeyUsage.
func EmailProtectionAllowed(c *x509.Certificate) bool {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return true
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageEmailProtection || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

// extra is the certificate pool a Validate function searches: the
// message's certificates and the caller's intermediates.
func extra(sd *cms.SignedData, opts *VerifyOptions) []*x509.Certificate {
	return append(append([]*x509.Certificate(nil), sd.Certificates...), opts.Intermediates...)
}
