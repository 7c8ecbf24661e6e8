package keystore

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Records written by format 1, kept here so that a change to the key
// derivation, the additional data or the layout, which would strand every
// key already sealed, fails this test instead of a customer's upgrade.
// Made once with Seal; the key is Ed25519 from the seed 00 01 02 … 1f.
const (
	fixtureParams   = "$argon2id$v=19$m=64,t=1,p=1$c2lnbmV0LWZpeHR1cmUtMQ"
	fixturePass     = "format v1 fixture"
	fixtureID       = "fixture/ed25519"
	fixtureVerifier = "0183cfd15608a765152d1dfea9f1820a1ca416f6166c0e252d32e2bd75cb7c1c5e"
	fixtureBlob     = "010c5ad0388518f331d527c5367e18cadfc8d118761f2cd12a338200b9cf46bde78df153f549436bfbec9e8d6b482cf73302c16c6873e520fdc95defc1f227a42896539713e0620be9a031828e"
	fixtureWrapped  = "01175671a19ee6b2eec58353742cd6cbab210bd9e9616f3bbf171ed0bcf148c517b1d18858cbc759f74d910531404658cc38016a8aeaaeaca2b87033806f33437b3fb02efe"

	// A key file holding the bytes a0 a1 … bf, and its verifier.
	fixtureKeyFile         = "signet-master-key-v1:oKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8=\n"
	fixtureKeyFileVerifier = "01bb90736aae70a746d7018f8539bb84c99ef648e16611457850e855e0b0df403c"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFormatV1Fixture(t *testing.T) {
	p, err := ParseKDFParams(fixtureParams)
	if err != nil {
		t.Fatal(err)
	}
	m, err := MasterFromPassphrase([]byte(fixturePass), p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Verify(unhex(t, fixtureVerifier)); err != nil {
		t.Fatalf("stored verifier: %v", err)
	}
	s := &Sealed{Algorithm: "ed25519", Blob: unhex(t, fixtureBlob), WrappedKey: unhex(t, fixtureWrapped)}
	key, err := m.Open(fixtureID, s)
	if err != nil {
		t.Fatalf("stored record: %v", err)
	}
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	if !ed25519.NewKeyFromSeed(seed).Equal(key) {
		t.Error("stored record opens to a different key")
	}
	wrong, _ := MasterFromPassphrase([]byte(fixturePass+" "), p)
	if _, err := wrong.Open(fixtureID, s); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("wrong passphrase on the stored record: %v", err)
	}

	path := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(path, []byte(fixtureKeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	km, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := km.Verify(unhex(t, fixtureKeyFileVerifier)); err != nil {
		t.Errorf("stored key file verifier: %v", err)
	}
}
