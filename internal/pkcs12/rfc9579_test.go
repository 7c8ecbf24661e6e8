package pkcs12

import (
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRFC9579Vectors decodes the PBMAC1 examples of RFC 9579 Appendix A
// (password "1234"), read from the test data of the go-pkcs12 module,
// which is a test dependency and so in the module cache.
func TestRFC9579Vectors(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "software.sslmate.com/src/go-pkcs12").Output()
	dir := strings.TrimSpace(string(out))
	requireTool(t, err == nil && dir != "", "go-pkcs12 module directory not found: %v", err)
	load := func(name string) []byte {
		b64, err := os.ReadFile(filepath.Join(dir, "testdata", name))
		requireTool(t, err == nil, "%v", err)
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b64)))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	for _, c := range []struct {
		file string
		want error
	}{
		{"rfc9579-a1.txt", nil},                  // A.1: PBKDF2-HMAC-SHA-256, HMAC-SHA-256
		{"rfc9579-a2.txt", nil},                  // A.2: PBKDF2-HMAC-SHA-256, HMAC-SHA-512
		{"rfc9579-a3.txt", nil},                  // A.3: PBKDF2-HMAC-SHA-512, HMAC-SHA-512
		{"rfc9579-a4.txt", ErrIncorrectPassword}, // A.4: wrong iteration count
		{"rfc9579-a5.txt", ErrIncorrectPassword}, // A.5: wrong salt
		{"rfc9579-a6.txt", ErrMalformed},         // A.6: no key length
		// go-pkcs12's forged trust store whose 1-byte PBMAC1 key collides
		// for "1234"-unrelated passwords: refused for its key length.
		{"pbmac1-short-key-bypass.txt", ErrMalformed},
	} {
		password := "1234"
		if strings.HasPrefix(c.file, "pbmac1-short") {
			password = "realpassword"
		}
		key, cert, _, err := Decode(load(c.file), password)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%s: %v", c.file, err)
		case c.want == nil:
			t.Logf("%s: %T, %s", c.file, key, cert.Subject)
		case !errors.Is(err, c.want):
			t.Errorf("%s: got %v, want %v", c.file, err, c.want)
		}
	}
}
