package keystore

// PKCS #11 backend: the CA keys can live in a token (an HSM, or SoftHSM2 in
// the tests) instead of being sealed by the master key. The private key is
// generated inside the token, marked sensitive and non-extractable, and
// never leaves it; Signet keeps only the label of the token object (a
// store.SealedKey with Backend "pkcs11" and no blobs) and asks the token to
// sign.
//
// # Naming a token
//
// ParsePKCS11URI accepts two forms:
//
//	/usr/lib/softhsm/libsofthsm2.so:signet            MODULE_PATH:TOKEN_LABEL
//	pkcs11:token=signet?module-path=/usr/lib/softhsm/libsofthsm2.so
//
// The simple form splits at the first colon, so the module path cannot hold
// one (use the URI form then). The second is an RFC 7512 PKCS #11 URI with
// the path attribute token and the query attributes module-path,
// pin-source (file:/path/to/pin-file, or an absolute path) and pin-value;
// values may be percent-encoded. pin-value puts the PIN on the command line
// and in the shell history, so prefer pin-source or the environment.
//
// The PIN comes, in this order, from pin-value, from the file named by
// pin-source, or from the environment variable SIGNET_PKCS11_PIN
// (PKCS11PINEnv). Without one, ParsePKCS11URI fails.
//
// # Keys
//
//	tok, err := keystore.OpenToken(cfg)                    // logs in as the user
//	defer tok.Close()
//	s, err := tok.GenerateSigner("signet-ca-root", "ecdsa-p384")
//	s, err = tok.Signer("signet-ca-root")                  // later, in a new session
//
// Both return a crypto.Signer with the usual semantics: the caller hashes
// and passes the digest and the hash (opts.HashFunc()); ECDSA signatures are
// ASN.1 (r, s), RSA ones PKCS #1 v1.5 over the DigestInfo of that hash, or
// PSS when opts is *rsa.PSSOptions. A P-384 CA key is meant to be used with
// SHA-384, which is what the ca package asks for; Sign does not choose the
// hash itself.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// PKCS11PINEnv is the environment variable ParsePKCS11URI takes the token's
// user PIN from when the URI carries none.
const PKCS11PINEnv = "SIGNET_PKCS11_PIN"

// Errors of the PKCS #11 backend, for errors.Is. Messages are one line
// starting "keystore:".
var (
	// ErrWrongPIN: the token refused the user PIN (or it is locked).
	ErrWrongPIN = errors.New("keystore: wrong PIN for the PKCS #11 token")
	// ErrTokenNotFound: the module has no token with the label asked for.
	ErrTokenNotFound = errors.New("keystore: PKCS #11 token not found")
	// ErrKeyNotFound: the token has no key pair with the label asked for.
	ErrKeyNotFound = errors.New("keystore: key not found in the PKCS #11 token")
	// ErrKeyExists: GenerateSigner was asked for a label already in use.
	ErrKeyExists = errors.New("keystore: a key with this label already exists in the PKCS #11 token")
	// ErrTokenClosed: the Token has been closed.
	ErrTokenClosed = errors.New("keystore: PKCS #11 token is closed")
)

// PKCS11Config names a token and how to log in to it.
type PKCS11Config struct {
	Module     string // path of the PKCS #11 module (.so)
	TokenLabel string // CKA_LABEL of the token (softhsm2-util --label)
	PIN        string // user PIN; see ParsePKCS11URI for where it comes from
}

// String is the RFC 7512 URI of the token, without the PIN:
// "pkcs11:token=LABEL?module-path=PATH". ParsePKCS11URI reads it back.
func (c PKCS11Config) String() string {
	return "pkcs11:token=" + escape7512(c.TokenLabel, "") + "?module-path=" + escape7512(c.Module, "/")
}

// escape7512 percent-encodes all but the unreserved characters, ':' and
// '@', and the extra characters given.
func escape7512(s, extra string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~:@", c) >= 0 || strings.IndexByte(extra, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// GoString never prints the PIN either (fmt's %#v).
func (c PKCS11Config) GoString() string {
	return fmt.Sprintf("keystore.PKCS11Config{Module:%q, TokenLabel:%q, PIN:(redacted)}", c.Module, c.TokenLabel)
}

// maxTokenLabel is the size of CK_TOKEN_INFO.label.
const maxTokenLabel = 32

// ParsePKCS11URI reads "MODULE_PATH:TOKEN_LABEL" or an RFC 7512 URI
// "pkcs11:token=LABEL?module-path=PATH[&pin-source=file:PATH|&pin-value=PIN]"
// (see the package comment above). The PIN is taken from the URI, else
// from SIGNET_PKCS11_PIN; it is an error to have none.
func ParsePKCS11URI(s string) (PKCS11Config, error) {
	var c PKCS11Config
	var err error
	if strings.HasPrefix(strings.ToLower(s), "pkcs11:") {
		c, err = parseRFC7512(s[len("pkcs11:"):])
	} else {
		module, label, ok := strings.Cut(s, ":")
		if !ok {
			return c, fmt.Errorf("keystore: PKCS #11 token %q: want MODULE_PATH:TOKEN_LABEL or a pkcs11: URI", s)
		}
		c = PKCS11Config{Module: module, TokenLabel: label}
	}
	if err != nil {
		return PKCS11Config{}, err
	}
	switch {
	case c.Module == "":
		return PKCS11Config{}, fmt.Errorf("keystore: PKCS #11 token %q: no module path", s)
	case c.TokenLabel == "":
		return PKCS11Config{}, fmt.Errorf("keystore: PKCS #11 token %q: no token label", s)
	case len(c.TokenLabel) > maxTokenLabel:
		return PKCS11Config{}, fmt.Errorf("keystore: PKCS #11 token label %q is longer than %d bytes", c.TokenLabel, maxTokenLabel)
	}
	if c.PIN == "" {
		c.PIN = os.Getenv(PKCS11PINEnv)
	}
	if c.PIN == "" {
		return PKCS11Config{}, fmt.Errorf("keystore: no PIN for PKCS #11 token %q: set %s", c.TokenLabel, PKCS11PINEnv)
	}
	return c, nil
}

// parseRFC7512 parses what follows "pkcs11:".
func parseRFC7512(s string) (PKCS11Config, error) {
	var c PKCS11Config
	path, query, _ := strings.Cut(s, "?")
	attr := func(kv string) (string, string, error) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", fmt.Errorf("keystore: PKCS #11 URI: malformed attribute %q", kv)
		}
		v, err := url.PathUnescape(v)
		if err != nil {
			return "", "", fmt.Errorf("keystore: PKCS #11 URI: attribute %s: bad percent-encoding", k)
		}
		return strings.ToLower(k), v, nil
	}
	seen := map[string]bool{}
	once := func(k string) error {
		if seen[k] {
			return fmt.Errorf("keystore: PKCS #11 URI: attribute %s given twice", k)
		}
		seen[k] = true
		return nil
	}
	for _, kv := range strings.Split(path, ";") {
		if kv == "" {
			continue
		}
		k, v, err := attr(kv)
		if err != nil {
			return c, err
		}
		if err := once(k); err != nil {
			return c, err
		}
		switch k {
		case "token":
			c.TokenLabel = v
		case "object", "id", "type":
			return c, fmt.Errorf("keystore: PKCS #11 URI: %s names a key; give only the token (Signet labels its keys itself)", k)
		default:
			return c, fmt.Errorf("keystore: PKCS #11 URI: attribute %s is not supported (select the token with token=LABEL)", k)
		}
	}
	pinSource := ""
	if query != "" {
		for _, kv := range strings.Split(query, "&") {
			if kv == "" {
				continue
			}
			k, v, err := attr(kv)
			if err != nil {
				return c, err
			}
			if err := once(k); err != nil {
				return c, err
			}
			switch k {
			case "module-path":
				c.Module = v
			case "pin-value":
				c.PIN = v
			case "pin-source":
				pinSource = v
			default:
				return c, fmt.Errorf("keystore: PKCS #11 URI: query attribute %s is not supported (use module-path, pin-source or pin-value)", k)
			}
		}
	}
	if c.PIN != "" && pinSource != "" {
		return c, errors.New("keystore: PKCS #11 URI: give pin-value or pin-source, not both")
	}
	if pinSource != "" {
		p := pinSource
		if strings.HasPrefix(p, "file:") {
			u, err := url.Parse(p)
			if err != nil || u.Path == "" {
				return c, fmt.Errorf("keystore: PKCS #11 URI: pin-source %q is not a file: URI", pinSource)
			}
			p = u.Path
		}
		if !filepath.IsAbs(p) {
			return c, fmt.Errorf("keystore: PKCS #11 URI: pin-source %q must be file:/ABSOLUTE/PATH", pinSource)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return c, fmt.Errorf("keystore: reading the PKCS #11 PIN file: %v", err)
		}
		c.PIN = strings.TrimRight(string(b), "\r\n")
		if c.PIN == "" {
			return c, fmt.Errorf("keystore: PKCS #11 PIN file %s is empty", p)
		}
	}
	return c, nil
}

// TokenKinds are the key kinds GenerateSigner makes (the names pki.NewKey
// uses). A CA key is ecdsa-p384 or rsa-4096.
var TokenKinds = []string{"ecdsa-p256", "ecdsa-p384", "ecdsa-p521", "rsa-2048", "rsa-3072", "rsa-4096"}

// KeyKind names a public key the way pki.NewKey and SealedKey.Algorithm do
// ("ecdsa-p384", "rsa-4096", …), or "" for a key it does not know.
func KeyKind(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ecdsa-p256"
		case elliptic.P384():
			return "ecdsa-p384"
		case elliptic.P521():
			return "ecdsa-p521"
		}
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	}
	return ""
}
