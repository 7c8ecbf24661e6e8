package pkcs12

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// opensslPKI is a hierarchy made with the openssl binary: an EC root, an EC
// intermediate, and leaves with RSA, EC P-384, Ed25519 and X25519 keys.
type opensslPKI struct {
	dir   string
	root  *x509.Certificate
	inter *x509.Certificate
	// per leaf name: key and certificate files, parsed key and certificate
	leaves map[string]opensslLeaf
}

type opensslLeaf struct {
	keyFile, certFile string
	key               crypto.PrivateKey
	cert              *x509.Certificate
}

var (
	opensslOnce sync.Once
	opensslData *opensslPKI
	opensslErr  error
	opensslDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if opensslDir != "" {
		os.RemoveAll(opensslDir)
	}
	os.Exit(code)
}

// openssl runs the openssl binary in dir.
func openssl(dir string, args ...string) error {
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &opensslError{args: args, out: string(out), err: err}
	}
	return nil
}

type opensslError struct {
	args []string
	out  string
	err  error
}

func (e *opensslError) Error() string {
	return "openssl " + strings.Join(e.args, " ") + ": " + e.err.Error() + "\n" + e.out
}

func readPEMFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block in " + path)
	}
	return b.Bytes, nil
}

func readCert(path string) (*x509.Certificate, error) {
	d, err := readPEMFile(path)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(d)
}

func makeOpenSSLPKI() (*opensslPKI, error) {
	dir, err := os.MkdirTemp("", "pkcs12-openssl-")
	if err != nil {
		return nil, err
	}
	opensslDir = dir
	steps := [][]string{
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "root.key"},
		{"req", "-x509", "-new", "-key", "root.key", "-subj", "/CN=OpenSSL Test Root", "-days", "30", "-out", "root.pem"},
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "inter.key"},
		{"req", "-x509", "-new", "-key", "inter.key", "-subj", "/CN=OpenSSL Test Intermediate", "-days", "30",
			"-CA", "root.pem", "-CAkey", "root.key", "-out", "inter.pem"},
		{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "rsa.key"},
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", "ec.key"},
		{"genpkey", "-algorithm", "ED25519", "-out", "ed25519.key"},
		{"genpkey", "-algorithm", "X25519", "-out", "x25519.key"},
		{"pkey", "-in", "x25519.key", "-pubout", "-out", "x25519.pub"},
	}
	for _, name := range []string{"rsa", "ec", "ed25519"} {
		steps = append(steps, []string{"req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=OpenSSL Test " + name,
			"-days", "30", "-CA", "inter.pem", "-CAkey", "inter.key", "-out", name + ".pem"})
	}
	// X25519 cannot sign its own request: the CA certifies the public key.
	steps = append(steps, []string{"x509", "-new", "-subj", "/CN=OpenSSL Test x25519", "-force_pubkey", "x25519.pub",
		"-days", "30", "-CA", "inter.pem", "-CAkey", "inter.key", "-out", "x25519.pem"})
	for _, s := range steps {
		if err := openssl(dir, s...); err != nil {
			return nil, err
		}
	}
	chain, err := os.ReadFile(filepath.Join(dir, "inter.pem"))
	if err != nil {
		return nil, err
	}
	root, err := os.ReadFile(filepath.Join(dir, "root.pem"))
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "chain.pem"), append(chain, root...), 0o600); err != nil {
		return nil, err
	}
	p := &opensslPKI{dir: dir, leaves: map[string]opensslLeaf{}}
	if p.root, err = readCert(filepath.Join(dir, "root.pem")); err != nil {
		return nil, err
	}
	if p.inter, err = readCert(filepath.Join(dir, "inter.pem")); err != nil {
		return nil, err
	}
	for _, name := range []string{"rsa", "ec", "ed25519", "x25519"} {
		l := opensslLeaf{keyFile: name + ".key", certFile: name + ".pem"}
		keyDER, err := readPEMFile(filepath.Join(dir, l.keyFile))
		if err != nil {
			return nil, err
		}
		if l.key, err = x509.ParsePKCS8PrivateKey(keyDER); err != nil {
			return nil, err
		}
		if l.cert, err = readCert(filepath.Join(dir, l.certFile)); err != nil {
			return nil, err
		}
		p.leaves[name] = l
	}
	return p, nil
}

func getOpenSSLPKI(t *testing.T) *opensslPKI {
	t.Helper()
	_, err := exec.LookPath("openssl")
	requireTool(t, err == nil, "openssl binary not found: %v", err)
	opensslOnce.Do(func() { opensslData, opensslErr = makeOpenSSLPKI() })
	if opensslErr != nil {
		t.Fatal(opensslErr)
	}
	return opensslData
}

// export runs "openssl pkcs12 -export" for leaf with the chain and returns
// the file.
func (p *opensslPKI) export(t *testing.T, leaf, password string, opts ...string) []byte {
	t.Helper()
	l := p.leaves[leaf]
	out := filepath.Join(p.dir, strings.ReplaceAll(t.Name(), "/", "_")+".p12")
	args := append([]string{"pkcs12", "-export"}, opts...)
	args = append(args, "-inkey", l.keyFile, "-in", l.certFile, "-certfile", "chain.pem",
		"-passout", "pass:"+password, "-out", out)
	if err := openssl(p.dir, args...); err != nil {
		// The RC2, RC4 and single-DES variants need OpenSSL's legacy
		// provider, which some installations lack.
		requireTool(t, !strings.Contains(strings.Join(opts, " "), "-legacy"), "%v", err)
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOpenSSLExport(t *testing.T) {
	p := getOpenSSLPKI(t)
	cases := []struct {
		name     string
		password string
		opts     []string
		noCheck  bool // wrong passwords cannot be detected
	}{
		{"default", "secret", nil, false}, // PBES2/PBKDF2-SHA-256/AES-256-CBC, MAC SHA-256
		{"legacy", "secret", []string{"-legacy"}, false},
		{"aes128-sha512", "secret", []string{"-keypbe", "AES-128-CBC", "-certpbe", "AES-128-CBC", "-macalg", "sha512"}, false},
		{"mac-sha1", "secret", []string{"-macalg", "sha1"}, false},
		{"mac-sha224", "secret", []string{"-macalg", "sha224"}, false},
		{"mac-sha384", "secret", []string{"-macalg", "sha384"}, false},
		{"mac-sha512-256", "secret", []string{"-macalg", "sha512-256"}, false},
		{"aes192-des-ede3", "secret", []string{"-keypbe", "AES-192-CBC", "-certpbe", "DES-EDE3-CBC"}, false},
		{"2des-rc2-128", "secret", []string{"-legacy", "-keypbe", "PBE-SHA1-2DES", "-certpbe", "PBE-SHA1-RC2-128"}, false},
		{"rc4", "secret", []string{"-legacy", "-keypbe", "PBE-SHA1-RC4-128", "-certpbe", "PBE-SHA1-RC4-40"}, false},
		{"pbes2-des-rc2", "secret", []string{"-legacy", "-keypbe", "DES-CBC", "-certpbe", "RC2-CBC"}, false},
		{"pbes2-rc2-40-64", "secret", []string{"-legacy", "-keypbe", "RC2-40-CBC", "-certpbe", "RC2-64-CBC"}, false},
		{"noiter", "secret", []string{"-noiter", "-nomaciter"}, false},
		{"unencrypted", "secret", []string{"-keypbe", "NONE", "-certpbe", "NONE"}, false},
		{"nomac", "secret", []string{"-nomac"}, false},
		{"nomac-legacy", "secret", []string{"-nomac", "-legacy"}, false},
		{"nomac-unencrypted", "secret", []string{"-nomac", "-keypbe", "NONE", "-certpbe", "NONE"}, true},
		{"empty-password", "", nil, false},
		{"empty-password-legacy", "", []string{"-legacy"}, false},
		{"empty-password-nomac-legacy", "", []string{"-legacy", "-nomac"}, false},
		{"non-ascii-password", "pässwörd €", nil, false},
		{"non-ascii-password-legacy", "pässwörd €", []string{"-legacy"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := p.export(t, "rsa", c.password, c.opts...)
			l := p.leaves["rsa"]
			key, cert, chain, err := Decode(data, c.password)
			if err != nil {
				t.Fatal(err)
			}
			// -certfile order: intermediate, then root.
			checkDecoded(t, key, cert, chain, l.key, l.cert, p.inter, p.root)
			if c.noCheck {
				return
			}
			for _, wrong := range []string{c.password + "x", "Secret", ""} {
				if wrong == c.password {
					continue
				}
				if _, _, _, err := Decode(data, wrong); !errors.Is(err, ErrIncorrectPassword) {
					t.Errorf("password %q: got %v, want ErrIncorrectPassword", wrong, err)
				}
			}
			// Wrapped in BER (indefinite lengths, the authSafe OCTET
			// STRING in segments), the MAC must still verify.
			key, cert, chain, err = Decode(berify(t, data), c.password)
			if err != nil {
				t.Fatalf("BER form: %v", err)
			}
			checkDecoded(t, key, cert, chain, l.key, l.cert, p.inter, p.root)
		})
	}
}

func TestOpenSSLKeyTypes(t *testing.T) {
	p := getOpenSSLPKI(t)
	for _, leaf := range []string{"ec", "ed25519", "x25519"} {
		for _, opts := range [][]string{nil, {"-legacy"}} {
			name := leaf + "/" + strings.Join(append([]string{"default"}, opts...), "")
			t.Run(name, func(t *testing.T) {
				data := p.export(t, leaf, "secret", opts...)
				l := p.leaves[leaf]
				key, cert, chain, err := Decode(data, "secret")
				if err != nil {
					t.Fatal(err)
				}
				checkDecoded(t, key, cert, chain, l.key, l.cert, p.inter, p.root)
			})
		}
	}
}

// TestOpenSSLPKCS8 decrypts EncryptedPrivateKeyInfo files from "openssl
// pkcs8 -topk8" with every PBKDF2 PRF and several ciphers, through the same
// decryption code as pkcs8ShroudedKeyBag.
func TestOpenSSLPKCS8(t *testing.T) {
	p := getOpenSSLPKI(t)
	cases := [][]string{
		{"-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA1"},
		{"-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA224"},
		{"-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA256"},
		{"-v2", "aes-192-cbc", "-v2prf", "hmacWithSHA384"},
		{"-v2", "des-ede3-cbc", "-v2prf", "hmacWithSHA512"},
		{"-v1", "PBE-SHA1-3DES"},
		{"-v1", "PBE-SHA1-2DES"},
	}
	legacy := [][]string{
		{"-v1", "PBE-SHA1-RC2-40"},
		{"-v1", "PBE-SHA1-RC2-128"},
		{"-v2", "rc2-cbc"},
		{"-v2", "des-cbc"},
	}
	for _, l := range legacy {
		cases = append(cases, append(l, "-provider", "legacy", "-provider", "default"))
	}
	for i, opts := range cases {
		name := strings.Join(opts, " ")
		name, _, _ = strings.Cut(name, " -provider")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(p.dir, "pkcs8-"+string(rune('a'+i))+".der")
			args := append([]string{"pkcs8", "-topk8", "-in", "rsa.key", "-outform", "DER", "-passout", "pass:secret", "-out", out}, opts...)
			if err := openssl(p.dir, args...); err != nil {
				requireTool(t, !strings.Contains(strings.Join(opts, " "), "legacy"), "%v", err)
				t.Fatal(err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			key, err := decryptPKCS8(data, "secret")
			if err != nil {
				t.Fatal(err)
			}
			if !p.leaves["rsa"].key.(interface{ Equal(crypto.PrivateKey) bool }).Equal(key) {
				t.Error("decrypted key differs")
			}
			if _, err := decryptPKCS8(data, "wrong"); !errors.Is(err, ErrIncorrectPassword) {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}
