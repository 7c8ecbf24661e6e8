package keystore

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"reflect"
	"sync"
	"testing"
)

var (
	keysOnce sync.Once
	keys     map[string]crypto.PrivateKey
)

// testKeys returns one key of each kind, by the Algorithm Seal records.
func testKeys(t testing.TB) map[string]crypto.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
		keys = map[string]crypto.PrivateKey{}
		r, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys["rsa-2048"] = r
		for name, c := range map[string]elliptic.Curve{"ecdsa-p256": elliptic.P256(), "ecdsa-p384": elliptic.P384(), "ecdsa-p521": elliptic.P521()} {
			k, _ := ecdsa.GenerateKey(c, rand.Reader)
			keys[name] = k
		}
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		keys["ed25519"] = ed
		for name, c := range map[string]ecdh.Curve{"x25519": ecdh.X25519(), "ecdh-p256": ecdh.P256(), "ecdh-p384": ecdh.P384()} {
			k, _ := c.GenerateKey(rand.Reader)
			keys[name] = k
		}
	})
	return keys
}

type equaler interface{ Equal(crypto.PrivateKey) bool }

func TestRoundTrip(t *testing.T) {
	m := mustMaster(t, "pass", "somesalt")
	for alg, key := range testKeys(t) {
		s, err := m.Seal("user/42/"+alg, key)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if s.Algorithm != alg {
			t.Errorf("Algorithm = %q, want %q", s.Algorithm, alg)
		}
		if len(s.WrappedKey) != wrappedSize || s.Blob[0] != 1 || s.WrappedKey[0] != 1 {
			t.Errorf("%s: wrapped key %d bytes, versions %d/%d", alg, len(s.WrappedKey), s.Blob[0], s.WrappedKey[0])
		}
		got, err := m.Open("user/42/"+alg, s)
		if err != nil {
			t.Fatalf("%s: Open: %v", alg, err)
		}
		if reflect.TypeOf(got) != reflect.TypeOf(key) {
			t.Errorf("%s: Open gave %T, sealed %T", alg, got, key)
		}
		if !key.(equaler).Equal(got) {
			t.Errorf("%s: opened key differs from the sealed one", alg)
		}
		again, _ := m.Seal("user/42/"+alg, key)
		if bytes.Equal(again.Blob, s.Blob) || bytes.Equal(again.WrappedKey[9:], s.WrappedKey[9:]) {
			t.Errorf("%s: sealing twice gave the same bytes", alg)
		}
	}
}

// containsWindow reports whether any n-byte window of secret occurs in hay.
func containsWindow(hay, secret []byte, n int) bool {
	for i := 0; i+n <= len(secret); i++ {
		if bytes.Contains(hay, secret[i:i+n]) {
			return true
		}
	}
	return false
}

func TestNoPlaintextInSealed(t *testing.T) {
	m := mustMaster(t, "pass", "somesalt")
	// The search itself must be able to fail.
	if !containsWindow([]byte("xx0123456789abcdefyy"), []byte("__0123456789abcdef__"), 16) {
		t.Fatal("containsWindow misses a planted window")
	}
	for alg, key := range testKeys(t) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		pemText := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		s, err := m.Seal("k", key)
		if err != nil {
			t.Fatal(err)
		}
		stored := bytes.Join([][]byte{[]byte(s.Algorithm), s.Blob, s.WrappedKey}, nil)
		if containsWindow(stored, der, 16) {
			t.Errorf("%s: a 16-byte window of the PKCS #8 DER appears in the sealed record", alg)
		}
		body := bytes.Join(bytes.Split(pemText, []byte("\n"))[1:], nil) // base64 without header or newlines
		if bytes.Contains(stored, pemText) || containsWindow(stored, body, 16) {
			t.Errorf("%s: the PEM appears in the sealed record", alg)
		}
		if containsWindow(stored, m.k.wrap[:], 8) || containsWindow(stored, m.k.verify[:], 8) {
			t.Errorf("%s: master key material appears in the sealed record", alg)
		}
	}
}

func TestWrongMaster(t *testing.T) {
	right := mustMaster(t, "right", "somesalt")
	key := testKeys(t)["ecdsa-p256"]
	s, err := right.Seal("ca/issuing", key)
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]*MasterKey{
		"wrong passphrase": mustMaster(t, "wrong", "somesalt"),
		"other salt":       mustMaster(t, "right", "somesalt2"),
		"key file":         newTestKeyFile(t),
	} {
		_, err := m.Open("ca/issuing", s)
		if !errors.Is(err, ErrWrongPassphrase) || errors.Is(err, ErrTampered) {
			t.Errorf("%s: Open = %v, want ErrWrongPassphrase only", name, err)
		}
		if err := m.Verify(right.Verifier()); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}
}

func TestTampered(t *testing.T) {
	m := mustMaster(t, "pass", "somesalt")
	key := testKeys(t)["ed25519"]
	s, err := m.Seal("alice", key)
	if err != nil {
		t.Fatal(err)
	}
	wantTampered := func(what string, id string, s *Sealed) {
		t.Helper()
		got, err := m.Open(id, s)
		if !errors.Is(err, ErrTampered) || errors.Is(err, ErrWrongPassphrase) || got != nil {
			t.Errorf("%s: Open = %v, %v; want ErrTampered", what, got, err)
		}
	}
	clone := func() *Sealed {
		return &Sealed{Algorithm: s.Algorithm, Blob: bytes.Clone(s.Blob), WrappedKey: bytes.Clone(s.WrappedKey)}
	}
	for i := range s.Blob {
		c := clone()
		c.Blob[i] ^= 0x01
		wantTampered("blob bit flip", "alice", c)
	}
	for i := range s.WrappedKey {
		c := clone()
		c.WrappedKey[i] ^= 0x80
		if i >= 1 && i <= fingerprintSize {
			// The documented exception: an altered master fingerprint
			// reads as a record of another master key.
			if _, err := m.Open("alice", c); !errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("fingerprint byte %d altered: %v", i, err)
			}
			continue
		}
		wantTampered("wrapped key bit flip", "alice", c)
	}
	for _, n := range []int{0, 1, 12, len(s.Blob) - 1} {
		c := clone()
		c.Blob = c.Blob[:n]
		wantTampered("blob truncated", "alice", c)
	}
	for _, n := range []int{0, 1, 9, wrappedSize - 1} {
		c := clone()
		c.WrappedKey = c.WrappedKey[:n]
		wantTampered("wrapped key truncated", "alice", c)
	}
	c := clone()
	c.Blob = append(c.Blob, 0)
	wantTampered("blob extended", "alice", c)
	wantTampered("nil record", "alice", nil)

	// A record filed under another id does not open.
	wantTampered("swapped id", "bob", s)
	wantTampered("same-length id", "carol", s)
	wantTampered("id case", "Alice", s)
	wantTampered("id prefix", "alic", s)
	wantTampered("id extended", "alice\x00", s)
	// Nor one whose algorithm label was changed.
	c = clone()
	c.Algorithm = "ecdsa-p256"
	wantTampered("algorithm relabelled", "alice", c)

	// Mixing halves of two records sealed under the same id and master.
	_, ed2, _ := ed25519.GenerateKey(rand.Reader)
	other, _ := m.Seal("alice", ed2)
	wantTampered("blob from one record, data key from another", "alice", &Sealed{Algorithm: s.Algorithm, Blob: s.Blob, WrappedKey: other.WrappedKey})

	// The untouched record still opens after all that.
	if _, err := m.Open("alice", s); err != nil {
		t.Fatalf("original no longer opens: %v", err)
	}
}

func TestSealRejects(t *testing.T) {
	m := mustMaster(t, "pass", "somesalt")
	if _, err := m.Seal("", testKeys(t)["ed25519"]); err == nil {
		t.Error("empty id accepted")
	}
	_, edPub, _ := ed25519.GenerateKey(rand.Reader)
	for name, k := range map[string]crypto.PrivateKey{
		"nil":           nil,
		"public key":    edPub.Public(),
		"nil rsa":       (*rsa.PrivateKey)(nil),
		"short ed25519": ed25519.PrivateKey{1, 2, 3},
		"p224":          mustECDSA(t, elliptic.P224()),
	} {
		if s, err := m.Seal("id", k); err == nil {
			t.Errorf("%s: sealed as %q", name, s.Algorithm)
		}
	}
}

func mustECDSA(t *testing.T, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRewrap(t *testing.T) {
	old := mustMaster(t, "old passphrase", "somesalt")
	key := testKeys(t)["x25519"]
	s, _ := old.Seal("bob", key)
	neu := mustMaster(t, "new passphrase", "newsalt!")
	r, err := old.Rewrap(neu, "bob", s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Blob, s.Blob) || bytes.Equal(r.WrappedKey, s.WrappedKey) {
		t.Error("Rewrap should keep Blob and replace WrappedKey")
	}
	got, err := neu.Open("bob", r)
	if err != nil || !key.(equaler).Equal(got) {
		t.Fatalf("open rewrapped: %v", err)
	}
	if _, err := old.Open("bob", r); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("old master opens the rewrapped record: %v", err)
	}
	if _, err := neu.Rewrap(old, "bob", s); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("rewrap from the wrong master: %v", err)
	}
	if _, err := old.Rewrap(neu, "robert", s); !errors.Is(err, ErrTampered) {
		t.Errorf("rewrap under another id: %v", err)
	}
	bad := &Sealed{Algorithm: s.Algorithm, Blob: bytes.Clone(s.Blob), WrappedKey: s.WrappedKey}
	bad.Blob[len(bad.Blob)-1] ^= 1
	if _, err := old.Rewrap(neu, "bob", bad); !errors.Is(err, ErrTampered) {
		t.Errorf("rewrap of a damaged blob: %v", err)
	}
	neu.Wipe()
	if _, err := old.Rewrap(neu, "bob", s); !errors.Is(err, ErrWiped) {
		t.Errorf("rewrap to a wiped key: %v", err)
	}
}

func BenchmarkSealOpen(b *testing.B) {
	m := mustMaster(b, "pass", "somesalt")
	for _, alg := range []string{"ecdsa-p256", "ecdsa-p384", "ed25519", "x25519", "rsa-2048"} {
		key := testKeys(b)[alg]
		b.Run(alg, func(b *testing.B) {
			for b.Loop() {
				s, err := m.Seal("bench", key)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := m.Open("bench", s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMasterFromPassphrase is the start-up cost at the default
// Argon2id parameters.
func BenchmarkMasterFromPassphrase(b *testing.B) {
	p, _ := NewKDFParams()
	for b.Loop() {
		if _, err := MasterFromPassphrase([]byte("correct horse battery staple"), p); err != nil {
			b.Fatal(err)
		}
	}
}
