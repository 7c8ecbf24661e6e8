// Package keyfile reads certificates and private keys from files in the
// forms people have: PEM or DER (detected), PKCS #8, PKCS #1 or SEC 1 keys,
// and PKCS #12 bundles.
package keyfile

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/signet-smime/signet/internal/ber"
	"github.com/signet-smime/signet/internal/pkcs12"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ParseCertificates reads every certificate in data: PEM blocks
// (CERTIFICATE, TRUSTED CERTIFICATE, PKCS7), a DER certificate, or a DER
// PKCS #7 certs-only bundle.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			switch b.Type {
			case "CERTIFICATE", "TRUSTED CERTIFICATE", "X509 CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					return nil, fmt.Errorf("bad certificate: %w", err)
				}
				out = append(out, c)
			case "PKCS7", "CMS":
				cs, err := parsePKCS7Certs(b.Bytes)
				if err != nil {
					return nil, err
				}
				out = append(out, cs...)
			}
		}
		if len(out) == 0 {
			return nil, errors.New("no certificate in the PEM data")
		}
		return out, nil
	}
	if c, err := x509.ParseCertificate(data); err == nil {
		return []*x509.Certificate{c}, nil
	}
	if cs, err := parsePKCS7Certs(data); err == nil && len(cs) > 0 {
		return cs, nil
	}
	if cs, err := x509.ParseCertificates(data); err == nil && len(cs) > 0 {
		return cs, nil
	}
	return nil, errors.New("not a certificate (PEM, DER or PKCS #7 expected)")
}

// parsePKCS7Certs reads the certificates of a DER ContentInfo SignedData.
func parsePKCS7Certs(data []byte) ([]*x509.Certificate, error) {
	der, err := ber.Normalize(data)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS #7 bundle: %w", err)
	}
	s := cryptobyte.String(der)
	var ci, inner, sd cryptobyte.String
	var oid []byte
	if !s.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1Bytes(&oid, cbasn1.OBJECT_IDENTIFIER) ||
		!ci.ReadASN1(&inner, cbasn1.Tag(0).ContextSpecific().Constructed()) || !inner.ReadASN1(&sd, cbasn1.SEQUENCE) {
		return nil, errors.New("not a PKCS #7 bundle")
	}
	var skip cryptobyte.String
	if !sd.SkipASN1(cbasn1.INTEGER) || !sd.SkipASN1(cbasn1.SET) || !sd.SkipASN1(cbasn1.SEQUENCE) {
		return nil, errors.New("bad PKCS #7 SignedData")
	}
	var out []*x509.Certificate
	if sd.ReadOptionalASN1(&skip, nil, cbasn1.Tag(0).ContextSpecific().Constructed()) {
		for !skip.Empty() {
			var c cryptobyte.String
			var tag cbasn1.Tag
			if !skip.ReadAnyASN1Element(&c, &tag) {
				return nil, errors.New("bad certificate set")
			}
			if tag != cbasn1.SEQUENCE {
				continue
			}
			cert, err := x509.ParseCertificate(c)
			if err != nil {
				return nil, fmt.Errorf("bad certificate in bundle: %w", err)
			}
			out = append(out, cert)
		}
	}
	return out, nil
}

// ParsePrivateKey reads a private key: PEM or DER, PKCS #8, PKCS #1 or SEC 1.
// Encrypted PEM keys are refused with a hint.
func ParsePrivateKey(data []byte) (crypto.PrivateKey, error) {
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				return nil, errors.New("no private key in the PEM data")
			}
			if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
				return nil, errors.New("the key is encrypted: decrypt it first (openssl pkey) or use --p12 with --pass-file")
			}
			if strings.HasSuffix(b.Type, "PRIVATE KEY") {
				return parseKeyDER(b.Bytes)
			}
		}
	}
	return parseKeyDER(data)
}

func parseKeyDER(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("not a private key (PKCS #8, PKCS #1 or SEC 1 expected)")
}

// LoadCertificates reads the certificates in a file.
func LoadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cs, err := ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cs, nil
}

// LoadPrivateKey reads the private key in a file.
func LoadPrivateKey(path string) (crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// ReadPassFile reads a password: the first line of the file.
func ReadPassFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSuffix(line, "\r"), nil
}

// LoadPKCS12 reads a PKCS #12 file: the key, its certificate and the chain.
// Modern (PBES2/AES, PBMAC1) and legacy (3DES, RC2) encodings are read,
// and BER files such as NSS (Thunderbird, Firefox) and .NET export.
func LoadPKCS12(path, password string) (crypto.PrivateKey, *x509.Certificate, []*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	key, cert, chain, err := pkcs12.Decode(data, password)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, cert, chain, nil
}

// LoadCSR reads a PKCS #10 certificate request, PEM or DER.
func LoadCSR(path string) (*x509.CertificateRequest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%s: a PEM %s, not a CERTIFICATE REQUEST", path, b.Type)
		}
		data = b.Bytes
	}
	csr, err := x509.ParseCertificateRequest(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not a PKCS #10 certificate request (PEM or DER)", path)
	}
	return csr, nil
}
