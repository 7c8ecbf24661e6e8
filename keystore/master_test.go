package keystore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// fastParams keeps tests quick: Argon2id at 64 KiB, one pass. Never use
// such parameters for real keys.
func fastParams(salt string) *KDFParams {
	return &KDFParams{Salt: []byte(salt), Time: 1, MemoryKiB: 64, Threads: 1}
}

func mustMaster(t testing.TB, pass, salt string) *MasterKey {
	t.Helper()
	m, err := MasterFromPassphrase([]byte(pass), fastParams(salt))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Known answers for Argon2id (version 0x13), computed with the reference
// implementation's command-line tool (Debian package argon2
// 0~20171227-0.3+deb12u1), e.g.
//
//	echo -n password | argon2 somesalt -id -t 2 -k 64 -p 2 -l 32 -r
//
// The first input is the x/crypto/argon2 test vector (argon2_test.go,
// testVectors, argon2id t=2 m=64 p=2), whose published 24-byte answer
// 350ac37222f436ccb5c0972f1ebd3bf6b958bf2071841362 the same tool reproduces
// with -l 24. The RFC 9106 §5.3 vector cannot be used: it has a secret key
// and associated data, which x/crypto/argon2.IDKey does not take.
func TestArgon2idKnownAnswers(t *testing.T) {
	for _, v := range []struct {
		pass, salt string
		time, mem  uint32
		threads    uint8
		hexOut     string
		phc        string // argon2 -e output without the hash
	}{
		{"password", "somesalt", 2, 64, 2,
			"94387415dfb84ed1977465a1e8626073adf42bd4eeae1faa1dd4e23a1ff6859f",
			"$argon2id$v=19$m=64,t=2,p=2$c29tZXNhbHQ"},
		{"correct-horse-battery-staple", "signet-salt-16b!", 3, 1024, 2,
			"74b7274d9f856d209f364ee7b0ca90d606862b85393cb3bfc541a5820f069566",
			"$argon2id$v=19$m=1024,t=3,p=2$c2lnbmV0LXNhbHQtMTZiIQ"},
	} {
		p := &KDFParams{Salt: []byte(v.salt), Time: v.time, MemoryKiB: v.mem, Threads: v.threads}
		if got := hex.EncodeToString(argonKey([]byte(v.pass), p)); got != v.hexOut {
			t.Errorf("argon2id(%q, %q) = %s, want %s", v.pass, v.salt, got, v.hexOut)
		}
		if got := p.String(); got != v.phc {
			t.Errorf("String() = %s, want the reference tool's %s", got, v.phc)
		}
		q, err := ParseKDFParams(v.phc)
		if err != nil {
			t.Fatalf("parse reference string: %v", err)
		}
		if !bytes.Equal(q.Salt, p.Salt) || q.Time != p.Time || q.MemoryKiB != p.MemoryKiB || q.Threads != p.Threads {
			t.Errorf("ParseKDFParams(%s) = %+v, want %+v", v.phc, q, p)
		}
	}
}

func TestNewKDFParams(t *testing.T) {
	a, err := NewKDFParams()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKDFParams()
	if len(a.Salt) != 16 || a.Time != 3 || a.MemoryKiB != 64*1024 || a.Threads != 2 {
		t.Errorf("defaults = %+v", a)
	}
	if bytes.Equal(a.Salt, b.Salt) {
		t.Error("two calls gave the same salt")
	}
	if err := a.Validate(); err != nil {
		t.Error(err)
	}
}

func TestKDFParamsRoundTrip(t *testing.T) {
	p, _ := NewKDFParams()
	s := p.String()
	if !strings.HasPrefix(s, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Errorf("String() = %s", s)
	}
	q, err := ParseKDFParams(s)
	if err != nil {
		t.Fatal(err)
	}
	if q.String() != s || !bytes.Equal(q.Salt, p.Salt) {
		t.Errorf("round trip: %s → %s", s, q)
	}
	// As a field of a JSON settings document.
	type settings struct{ KDF *KDFParams }
	js, err := json.Marshal(settings{p})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"`+s+`"`)) {
		t.Errorf("JSON %s does not hold %s", js, s)
	}
	var back settings
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.KDF.String() != s {
		t.Errorf("JSON round trip gave %s", back.KDF)
	}
	if err := json.Unmarshal([]byte(`{"KDF":"$argon2id$v=19$m=0,t=3,p=2$c29tZXNhbHQ"}`), &back); err == nil {
		t.Error("JSON with m=0 accepted")
	}
	if _, err := (KDFParams{Salt: []byte("short"), Time: 1, MemoryKiB: 64, Threads: 1}).MarshalText(); err == nil {
		t.Error("MarshalText accepted a 5-byte salt")
	}
}

func TestParseKDFParamsRejects(t *testing.T) {
	const salt = "c29tZXNhbHQ" // "somesalt"
	good := "$argon2id$v=19$m=65536,t=3,p=2$" + salt
	if _, err := ParseKDFParams(good); err != nil {
		t.Fatalf("good string rejected: %v", err)
	}
	for _, s := range []string{
		"",
		"argon2id$v=19$m=65536,t=3,p=2$" + salt, // no leading $
		"$argon2i$v=19$m=65536,t=3,p=2$" + salt,
		"$argon2d$v=19$m=65536,t=3,p=2$" + salt,
		"$argon2id$v=16$m=65536,t=3,p=2$" + salt,
		"$argon2id$m=65536,t=3,p=2$" + salt, // no version
		"$argon2id$v=19$t=3,m=65536,p=2$" + salt,
		"$argon2id$v=19$m=65536,t=3$" + salt,
		"$argon2id$v=19$m=65536,t=3,p=2,k=1$" + salt,
		"$argon2id$v=19$m=065536,t=3,p=2$" + salt,
		"$argon2id$v=19$m=+65536,t=3,p=2$" + salt,
		"$argon2id$v=19$m=-1,t=3,p=2$" + salt,
		"$argon2id$v=19$m=,t=3,p=2$" + salt,
		"$argon2id$v=19$m=99999999999,t=3,p=2$" + salt,
		"$argon2id$v=19$m=4294967296,t=3,p=2$" + salt, // 2^32
		"$argon2id$v=19$m=2097152,t=3,p=2$" + salt,    // 2 GiB, above MaxMemoryKiB
		"$argon2id$v=19$m=15,t=3,p=2$" + salt,         // below 8·p
		"$argon2id$v=19$m=65536,t=0,p=2$" + salt,
		"$argon2id$v=19$m=65536,t=65,p=2$" + salt,
		"$argon2id$v=19$m=65536,t=3,p=0$" + salt,
		"$argon2id$v=19$m=65536,t=3,p=256$" + salt,
		"$argon2id$v=19$m=65536,t=3,p=2$" + salt + "=",                 // padding
		"$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$c29tZQ",           // hash segment
		"$argon2id$v=19$m=65536,t=3,p=2$c29tZQ",                        // 4-byte salt
		"$argon2id$v=19$m=65536,t=3,p=2$" + strings.Repeat("QUFB", 22), // 66-byte salt
		"$argon2id$v=19$m=65536,t=3,p=2$so*mesalt",
		"$argon2id$v=19$m=65536,t=3,p=2$",
		" " + good,
		good + "\n",
		"$argon2id$v=19$m=65536, t=3,p=2$" + salt,
	} {
		if p, err := ParseKDFParams(s); err == nil {
			t.Errorf("ParseKDFParams(%q) accepted: %+v", s, p)
		} else if !strings.HasPrefix(err.Error(), "keystore: malformed KDF parameters") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseKDFParams(%q): error %q is not one clear line", s, err)
		}
	}
}

func TestMasterFromPassphraseRejects(t *testing.T) {
	if _, err := MasterFromPassphrase(nil, fastParams("somesalt")); err == nil {
		t.Error("empty passphrase accepted")
	}
	if _, err := MasterFromPassphrase([]byte("x"), nil); err == nil {
		t.Error("nil params accepted")
	}
	if _, err := MasterFromPassphrase([]byte("x"), &KDFParams{Salt: []byte("somesalt")}); err == nil {
		t.Error("zero cost accepted")
	}
}

func TestVerifier(t *testing.T) {
	m := mustMaster(t, "right", "somesalt")
	v := m.Verifier()
	if len(v) != 33 || v[0] != 1 {
		t.Fatalf("verifier = %x", v)
	}
	if err := m.Verify(v); err != nil {
		t.Errorf("own verifier: %v", err)
	}
	if err := mustMaster(t, "right", "somesalt").Verify(v); err != nil {
		t.Errorf("same passphrase, derived again: %v", err)
	}
	for name, other := range map[string]*MasterKey{
		"wrong passphrase": mustMaster(t, "wrong", "somesalt"),
		"other salt":       mustMaster(t, "right", "othersalt"),
		"case":             mustMaster(t, "Right", "somesalt"),
	} {
		if err := other.Verify(v); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("%s: Verify = %v, want ErrWrongPassphrase", name, err)
		}
	}
	for _, bad := range [][]byte{nil, v[:32], append([]byte{2}, v[1:]...), append(bytes.Clone(v), 0)} {
		if err := m.Verify(bad); !errors.Is(err, ErrTampered) {
			t.Errorf("Verify(%x) = %v, want ErrTampered", bad, err)
		}
	}
	flipped := bytes.Clone(v)
	flipped[20] ^= 1
	if err := m.Verify(flipped); !errors.Is(err, ErrWrongPassphrase) {
		t.Errorf("altered verifier: %v", err)
	}
}

func TestWipe(t *testing.T) {
	m := mustMaster(t, "pass", "somesalt")
	s, err := m.Seal("id", testKeys(t)["ed25519"])
	if err != nil {
		t.Fatal(err)
	}
	v := m.Verifier()
	alias := *m // a copy of the value shares the key material
	m.Wipe()
	if m.k.wrap != [32]byte{} || m.k.verify != [32]byte{} {
		t.Error("key material not zeroed")
	}
	for _, mk := range []*MasterKey{m, &alias, nil, {}} {
		if _, err := mk.Open("id", s); !errors.Is(err, ErrWiped) {
			t.Errorf("Open after Wipe: %v", err)
		}
		if _, err := mk.Seal("id", testKeys(t)["ed25519"]); !errors.Is(err, ErrWiped) {
			t.Errorf("Seal after Wipe: %v", err)
		}
		if err := mk.Verify(v); !errors.Is(err, ErrWiped) {
			t.Errorf("Verify after Wipe: %v", err)
		}
		if mk.Verifier() != nil {
			t.Error("Verifier after Wipe is not nil")
		}
		mk.Wipe() // twice is harmless
	}
}

func TestMasterKeyNeverPrinted(t *testing.T) {
	m := mustMaster(t, "pass", "somesalt")
	secrets := [][]byte{m.k.wrap[:], m.k.verify[:]}
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q", "%T %[1]p"} {
		fmt.Fprintf(&out, verb+"\n", m)
		fmt.Fprintf(&out, verb+"\n", *m)
		fmt.Fprintf(&out, verb+"\n", []any{m, struct{ M *MasterKey }{m}})
	}
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "master", m, "value", *m)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "master", m)
	text := out.String()
	if !strings.Contains(text, redacted) {
		t.Fatalf("placeholder missing from %s", text)
	}
	for _, k := range secrets {
		for _, form := range []string{hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)), fmt.Sprint(k), string(k[:8])} {
			if strings.Contains(text, form) {
				t.Errorf("key material %q appears in printed output:\n%s", form, text)
			}
		}
		// Individual byte values in decimal, as %d of the raw struct would print them.
		dec := strings.Trim(fmt.Sprint(k[:4]), "[]")
		if strings.Contains(text, dec) {
			t.Errorf("key bytes %s appear in printed output", dec)
		}
	}
}

func TestDeriveKey(t *testing.T) {
	p, err := NewKDFParams()
	if err != nil {
		t.Fatal(err)
	}
	p.MemoryKiB, p.Time = 64, 1
	m, err := MasterFromPassphrase([]byte("one"), p)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := MasterFromPassphrase([]byte("two"), p)
	a, _ := m.DeriveKey("queue")
	a2, _ := m.DeriveKey("queue")
	b, _ := m.DeriveKey("other")
	c, _ := m2.DeriveKey("queue")
	if len(a) != 32 || !bytes.Equal(a, a2) || bytes.Equal(a, b) || bytes.Equal(a, c) {
		t.Fatalf("derived keys: stable %t, label-bound %t, master-bound %t", bytes.Equal(a, a2), !bytes.Equal(a, b), !bytes.Equal(a, c))
	}
	m.Wipe()
	if _, err := m.DeriveKey("queue"); err == nil {
		t.Fatal("DeriveKey after Wipe")
	}
}
