package pkcs12

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestRC2KnownAnswers runs the test vectors of RFC 2268 section 5 through
// the decrypter: ciphertext must decrypt to the plaintext.
func TestRC2KnownAnswers(t *testing.T) {
	vectors := []struct {
		key        string
		bits       int
		plaintext  string
		ciphertext string
	}{
		{"0000000000000000", 63, "0000000000000000", "ebb773f993278eff"},
		{"ffffffffffffffff", 64, "ffffffffffffffff", "278b27e42e2f0d49"},
		{"3000000000000000", 64, "1000000000000001", "30649edf9be7d2c2"},
		{"88", 64, "0000000000000000", "61a8a244adacccf0"},
		{"88bca90e90875a", 64, "0000000000000000", "6ccf4308974c267f"},
		{"88bca90e90875a7f0f79c384627bafb2", 64, "0000000000000000", "1a807d272bbe5db1"},
		{"88bca90e90875a7f0f79c384627bafb2", 128, "0000000000000000", "2269552ab0f85ca6"},
		{"88bca90e90875a7f0f79c384627bafb216f80a6f85920584c42fceb0be255daf1e", 129, "0000000000000000", "5b78d3a43dfff1f1"},
	}
	for _, v := range vectors {
		key, _ := hex.DecodeString(v.key)
		pt, _ := hex.DecodeString(v.plaintext)
		ct, _ := hex.DecodeString(v.ciphertext)
		c, err := newRC2Decrypter(key, v.bits)
		if err != nil {
			t.Fatalf("key %s/%d: %v", v.key, v.bits, err)
		}
		got := make([]byte, 8)
		c.Decrypt(got, ct)
		if !bytes.Equal(got, pt) {
			t.Errorf("key %s, %d bits: decrypt(%s) = %x, want %s", v.key, v.bits, v.ciphertext, got, v.plaintext)
		}
		// In place too.
		buf := append([]byte{}, ct...)
		c.Decrypt(buf, buf)
		if !bytes.Equal(buf, pt) {
			t.Errorf("key %s, %d bits: in-place decrypt = %x", v.key, v.bits, buf)
		}
	}
}

func TestRC2PiTableIsPermutation(t *testing.T) {
	var seen [256]bool
	for _, b := range rc2PiTable {
		if seen[b] {
			t.Fatalf("PITABLE repeats %#x", b)
		}
		seen[b] = true
	}
}

func TestRC2BadParameters(t *testing.T) {
	for _, c := range []struct {
		keyLen, bits int
	}{{0, 64}, {129, 64}, {8, 0}, {8, 1025}} {
		if _, err := newRC2Decrypter(make([]byte, c.keyLen), c.bits); err == nil {
			t.Errorf("key of %d bytes, %d bits: no error", c.keyLen, c.bits)
		}
	}
}

// TestCBCPadding checks the padding checks of cbcDecrypt with RC2 (a
// decrypt-only cipher): a ciphertext whose last block does not decrypt to
// valid PKCS #5 padding is refused.
func TestCBCPadding(t *testing.T) {
	c, _ := newRC2Decrypter([]byte("0123456789abcdef"), 128)
	iv := make([]byte, 8)
	if _, err := cbcDecrypt(c, iv, nil); err != errBadPadding {
		t.Errorf("empty ciphertext: %v", err)
	}
	if _, err := cbcDecrypt(c, iv, make([]byte, 7)); err != errBadPadding {
		t.Errorf("partial block: %v", err)
	}
	if _, err := cbcDecrypt(c, iv[:4], make([]byte, 8)); err == nil {
		t.Errorf("short IV accepted")
	}
	// Find the block that decrypts to xx..xx 01 under a chosen IV: with
	// CBC, plaintext = D(C) xor IV, so pick the IV from D(C).
	ct := []byte("ABCDEFGH")
	d := make([]byte, 8)
	c.Decrypt(d, ct)
	want := []byte("hello\x03\x03\x03")
	for i := range iv {
		iv[i] = d[i] ^ want[i]
	}
	got, err := cbcDecrypt(c, iv, ct)
	if err != nil || string(got) != "hello" {
		t.Fatalf("cbcDecrypt = %q, %v", got, err)
	}
	iv[6] ^= 1 // padding byte 03 becomes 02: inconsistent
	if _, err := cbcDecrypt(c, iv, ct); err != errBadPadding {
		t.Errorf("bad padding: %v", err)
	}
}
