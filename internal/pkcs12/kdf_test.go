package pkcs12

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"testing"
)

// TestPKCS12KDF checks the RFC 7292 Appendix B.2 KDF against values from
// OpenSSL 3 ("openssl kdf -keylen N -kdfopt digest:D -kdfopt hexpass:P
// -kdfopt hexsalt:S -kdfopt iter:I -kdfopt id:ID PKCS12KDF"), including
// several output blocks, a 128-byte hash block, an empty salt and an empty
// password.
func TestPKCS12KDF(t *testing.T) {
	vectors := []struct {
		hash     func() hash.Hash
		id       byte
		password string // hex, already encoded
		salt     string
		iter     int
		want     string
	}{
		{sha1.New, 1, "0073006500730061006d00650000", "0a58cf64530d823f", 1,
			"adabd656fdf48f697d004bab67f65555673852608f477f71"},
		{sha512.New, 3, "00000000", "0a58cf64530d823f", 3,
			"02c84e2b5171025df27456e53d265ad21e8b1975c0e7ea8b216a7fbf0b9eafcaf83c16d58bf53e9686a980b6ea7b5ff8240ecf666eddb393f8e5353a2e3dc6b327547b637194"},
		{sha1.New, 3, "", "0a", 3,
			"730626278c5959f0d0448b0a60004d460b69c9ce"},
		{sha1.New, 1, "00410042", "", 5,
			"71868510027eb0304f6d6c505cad9d36"},
		{sha256.New, 2, "0070006100730073000000",
			"0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f4041",
			1000,
			"39fe6eb912af0c53e50d45422267b2de546bbdc6413e3a87edfa03cb5e9ab40f3f21d874ba234efbc8a9ae488f3b75d66583ff2151bc82d16ad231f059e2eac8ab18926338202743b17f82bc95dffb07d54efff7722ab1fe46b95f0d5cbee1063f6a510b"},
	}
	for i, v := range vectors {
		pw, _ := hex.DecodeString(v.password)
		salt, _ := hex.DecodeString(v.salt)
		want, _ := hex.DecodeString(v.want)
		got := pkcs12KDF(v.hash, v.id, pw, salt, v.iter, len(want))
		if !bytes.Equal(got, want) {
			t.Errorf("vector %d: got %x, want %x", i, got, want)
		}
	}
}

func TestBMPPassword(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "0000"},
		{"sesame", "0073006500730061006d00650000"},
		{"é€", "00e920ac0000"},
		{"\U0001F600", "d83dde000000"}, // outside the BMP: a surrogate pair
	} {
		if got := hex.EncodeToString(bmpPassword(c.in)); got != c.want {
			t.Errorf("bmpPassword(%q) = %s, want %s", c.in, got, c.want)
		}
	}
	if p := pkcs12Passwords(""); len(p) != 2 || len(p[0]) != 2 || len(p[1]) != 0 {
		t.Errorf("pkcs12Passwords(\"\") = %x", p)
	}
}
