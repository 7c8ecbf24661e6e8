package smime

import (
	"bytes"
	"crypto/x509"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-smime/signet/cms"
	"github.com/signet-smime/signet/internal/shareddata"
	"github.com/signet-smime/signet/internal/testpki"
)

// fuzzDeadline bounds one input: Verify and Decrypt must finish (no hang).
const fuzzDeadline = 20 * time.Second

func within(t *testing.T, data []byte, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(fuzzDeadline):
		t.Fatalf("no result after %v for input %q", fuzzDeadline, data)
	}
}

// addMessageSeeds adds the OpenSSL S/MIME fuzz seed(s) and the real-world
// messages of the shared test data.
func addMessageSeeds(f *testing.F, extra ...[]byte) {
	if shareddata.AddSeeds(f, "fuzz-cms/smime") == 0 {
		f.Fatal("no seed in shared test data fuzz-cms/smime")
	}
	for _, p := range []string{
		"mimekit-smime/thunderbird-signed.txt",
		"mimekit-smime/octet-stream-with-mixed-line-endings.dat",
		"rfc4134/4.8.eml",
		"rfc4134/4.9.eml",
		"rfc4134/5.3.eml",
		"pyca-pkcs7/index-extra/signed-opaque.msg",
	} {
		if path, ok := shareddata.Lookup(p); ok {
			f.Add(readFile(f, path))
		}
	}
	for _, b := range extra {
		f.Add(b)
	}
}

var (
	fuzzPKIOnce sync.Once
	fuzzP       *pki
	fuzzSeeds   [][]byte
)

// fuzzPKI returns a small PKI and messages signed and encrypted with it.
func fuzzPKI(f *testing.F) (*pki, [][]byte) {
	fuzzPKIOnce.Do(func() {
		fuzzP = newPKI(f, testpki.P256)
		fuzzSeeds = append(fuzzSeeds, signMsg(f, fuzzP, plainMsg, false), signMsg(f, fuzzP, plainMsg, true))
		r, err := cms.NewRecipient(fuzzP.bob.Cert, nil)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range []cms.Cipher{cms.AES128GCM, cms.AES128CBC} {
			var out bytes.Buffer
			if err := Encrypt(&out, strings.NewReader(plainMsg), &EncryptOptions{Cipher: c}, r); err != nil {
				f.Fatal(err)
			}
			fuzzSeeds = append(fuzzSeeds, out.Bytes())
		}
	})
	return fuzzP, fuzzSeeds
}

func FuzzVerify(f *testing.F) {
	p, seeds := fuzzPKI(f)
	addMessageSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, data []byte) {
		within(t, data, func() {
			var out bytes.Buffer
			v, err := Verify(&out, bytes.NewReader(data), &VerifyOptions{Roots: p.roots})
			if err != nil {
				if out.Len() != 0 {
					t.Errorf("%d bytes released with error %v", out.Len(), err)
				}
				return
			}
			if v == nil {
				t.Fatal("nil report without an error")
			}
			// Nothing that is not authentic is released.
			authentic := v.Signed && len(v.Signers) > 0
			for _, s := range v.Signers {
				authentic = authentic && s.SignatureOK
			}
			if !authentic && out.Len() != 0 {
				t.Errorf("%d bytes released for a message whose signatures did not all verify", out.Len())
			}
			if v.OK() && !authentic {
				t.Error("OK() without valid signatures")
			}
		})
	})
}

func FuzzDecrypt(f *testing.F) {
	p, seeds := fuzzPKI(f)
	ids := []*cms.Identity{{Certificate: p.bob.Cert, Key: p.bob.Key}}
	if dir, ok := shareddata.Lookup("rfc4134"); ok {
		k, kerr := x509.ParsePKCS8PrivateKey(readFile(f, filepath.Join(dir, "BobPrivRSAEncrypt.pri")))
		c, cerr := x509.ParseCertificate(readFile(f, filepath.Join(dir, "BobRSASignByCarl.cer")))
		if kerr != nil || cerr != nil {
			f.Fatal(kerr, cerr)
		}
		ids = append(ids, &cms.Identity{Certificate: c, Key: k})
	}
	addMessageSeeds(f, seeds...)
	f.Fuzz(func(t *testing.T, data []byte) {
		within(t, data, func() {
			var out bytes.Buffer
			d, err := Decrypt(&out, bytes.NewReader(data), nil, ids...)
			if err != nil {
				// Nothing is released unless decryption succeeds.
				if out.Len() != 0 || d != nil {
					t.Errorf("error %v, yet %d bytes released and report %+v", err, out.Len(), d)
				}
				return
			}
			if d == nil || d.Recipients < 1 {
				t.Errorf("report %+v", d)
			}
		})
	})
}
