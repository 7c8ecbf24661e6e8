package ca

import (
	"errors"
	"testing"
)

// TestZlintCA lints the root and issuing CA certificates for each CA key
// type: no error, warning or fatal in CABF_SMIME_BR, RFC5280, RFC5480 and
// RFC8813.
func TestZlintCA(t *testing.T) {
	for _, typ := range caKeyTypes {
		c := newTestCA(t, typ)
		for name, der := range map[string][]byte{"root": c.root.Raw, "issuing": c.issuing.Raw} {
			t.Run(typ+"/"+name, func(t *testing.T) {
				if f := lintFindings(t, der); len(f) > 0 {
					t.Errorf("zlint: %s", describe(f))
				}
			})
		}
	}
}

// x25519Exception is the one lint an X25519 certificate cannot pass:
// e_invalid_spki_algoid checks the subjectPublicKeyInfo algorithm against
// BR 7.1.3.1, which permits RSA, ECDSA P-256/384/521, Ed25519/Ed448, ML-DSA
// and ML-KEM, and not id-X25519 (1.3.101.110). No certificate profile can fix
// that: an X25519 key is outside the BR whatever else the certificate says
// (see the package documentation).
const x25519Exception = "e_invalid_spki_algoid"

// TestZlintIssue lints a certificate for every key type, usage and profile
// under each CA key type. Combinations a key cannot do must be refused with
// ErrUsage instead.
func TestZlintIssue(t *testing.T) {
	for _, caType := range caKeyTypes {
		c := newTestCA(t, caType)
		for _, keyType := range leafKeyTypes {
			for _, u := range []Usage{Sign, Encrypt, Both} {
				for _, p := range []Profile{Strict, Multipurpose} {
					t.Run(caType+"/"+keyType+"/"+string(u)+"/"+string(p), func(t *testing.T) {
						k := testKey(t, keyType, "leaf")
						cert, err := Issue(testOrg(), c.issuing, c.issuingKey, Request{
							Email: "alice@example.com", PublicKey: publicKey(k), Usage: u, Profile: p,
						})
						impossible := keyType == keyEd25519 && u != Sign || keyType == keyX25519 && u != Encrypt
						if impossible {
							if !errors.Is(err, ErrUsage) {
								t.Fatalf("Issue: got %v, want ErrUsage", err)
							}
							return
						}
						if err != nil {
							t.Fatalf("Issue: %v", err)
						}
						f := lintFindings(t, cert.Raw)
						if keyType == keyX25519 {
							if _, ok := f[x25519Exception]; !ok {
								t.Errorf("%s no longer fires for X25519: drop the exception", x25519Exception)
							}
							delete(f, x25519Exception)
						}
						if len(f) > 0 {
							t.Errorf("zlint: %s", describe(f))
						}
					})
				}
			}
		}
	}
}
