package cbcstream

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

type indCpaFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		Tests []struct {
			TcID    int            `json:"tcId"`
			Comment string         `json:"comment"`
			Key     shareddata.Hex `json:"key"`
			Iv      shareddata.Hex `json:"iv"`
			Msg     shareddata.Hex `json:"msg"`
			Ct      shareddata.Hex `json:"ct"`
			Result  string         `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// writeSplit writes data to w in pieces of random sizes, then closes w.
func writeSplit(rng *mrand.Rand, w io.WriteCloser, data []byte, maxPiece int) error {
	for len(data) > 0 {
		n := min(len(data), rng.IntN(maxPiece+1))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return w.Close()
}

func TestWycheproofAESCBCPKCS5(t *testing.T) {
	const name = "aes_cbc_pkcs5_test.json"
	var vf indCpaFile
	if err := json.Unmarshal(shareddata.ReadFile(t, "wycheproof/"+name), &vf); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if vf.Algorithm != "AES-CBC-PKCS5" {
		t.Fatalf("algorithm %q", vf.Algorithm)
	}
	rng := mrand.New(mrand.NewPCG(7, 8))
	counts := map[string]int{}
	for _, g := range vf.TestGroups {
		for _, tc := range g.Tests {
			maxPiece := 1 + rng.IntN(48)
			var pt, ct bytes.Buffer
			d, err := NewDecrypter(&pt, tc.Key, tc.Iv)
			if err != nil {
				t.Fatalf("tc %d: NewDecrypter: %v", tc.TcID, err)
			}
			derr := writeSplit(rng, d, tc.Ct, maxPiece)
			e, err := NewEncrypter(&ct, tc.Key, tc.Iv)
			if err != nil {
				t.Fatalf("tc %d: NewEncrypter: %v", tc.TcID, err)
			}
			if err := writeSplit(rng, e, tc.Msg, maxPiece); err != nil {
				t.Fatalf("tc %d: encrypt: %v", tc.TcID, err)
			}
			switch tc.Result {
			case "valid":
				if derr != nil || !bytes.Equal(pt.Bytes(), tc.Msg) {
					t.Errorf("tc %d: decrypted %x, %v; want %x", tc.TcID, pt.Bytes(), derr, tc.Msg)
				}
				if !bytes.Equal(ct.Bytes(), tc.Ct) {
					t.Errorf("tc %d: encrypted %x, want %x", tc.TcID, ct.Bytes(), tc.Ct)
				}
			case "invalid":
				if derr != ErrDecrypt {
					t.Errorf("tc %d (%s): decrypt error %v, want ErrDecrypt", tc.TcID, tc.Comment, derr)
				}
				if bytes.Equal(ct.Bytes(), tc.Ct) {
					t.Errorf("tc %d: encrypter produced the invalid ciphertext", tc.TcID)
				}
			case "acceptable":
				if derr == nil && !bytes.Equal(pt.Bytes(), tc.Msg) {
					t.Errorf("tc %d: decrypted %x, want %x or failure", tc.TcID, pt.Bytes(), tc.Msg)
				}
			default:
				t.Fatalf("tc %d: unknown result %q", tc.TcID, tc.Result)
			}
			counts[tc.Result]++
		}
	}
	total := counts["valid"] + counts["invalid"] + counts["acceptable"]
	t.Logf("%s: %d cases run (valid %d, invalid %d, acceptable %d)", name, total,
		counts["valid"], counts["invalid"], counts["acceptable"])
	if total != vf.NumberOfTests || counts["valid"] < 60 || counts["invalid"] < 100 {
		t.Errorf("ran %v of %d cases", counts, vf.NumberOfTests)
	}
}

// refEncrypt is a one-shot reference: PKCS #7 pad, then CBC over all of it.
func refEncrypt(b cipher.Block, iv, msg []byte) []byte {
	bs := b.BlockSize()
	pad := bs - len(msg)%bs
	out := append(bytes.Clone(msg), bytes.Repeat([]byte{byte(pad)}, pad)...)
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, out)
	return out
}

type cipherCase struct {
	name  string
	block cipher.Block
}

func testCiphers(t *testing.T) []cipherCase {
	var cases []cipherCase
	for _, n := range []int{16, 24, 32} {
		key := make([]byte, n)
		rand.Read(key)
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, cipherCase{fmt.Sprintf("AES-%d", n*8), b})
	}
	key := make([]byte, 24)
	rand.Read(key)
	b, err := des.NewTripleDESCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(cases, cipherCase{"3DES", b})
}

func TestRoundTripMatchesReference(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(9, 10))
	lengths := []int{0, 1, 7, 8, 9, 15, 16, 17, bufSize - 1, bufSize, bufSize + 1, 3*bufSize + 8, 200000}
	for i := 0; i < 40; i++ {
		lengths = append(lengths, rng.IntN(70000))
	}
	for _, c := range testCiphers(t) {
		for _, n := range lengths {
			iv := make([]byte, c.block.BlockSize())
			msg := make([]byte, n)
			rand.Read(iv)
			rand.Read(msg)
			maxPiece := []int{1, 13, 5000, 1 << 20}[rng.IntN(4)]

			var ct bytes.Buffer
			e, err := NewBlockEncrypter(&ct, c.block, iv)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeSplit(rng, e, msg, maxPiece); err != nil {
				t.Fatalf("%s len %d: encrypt: %v", c.name, n, err)
			}
			if want := refEncrypt(c.block, iv, msg); !bytes.Equal(ct.Bytes(), want) {
				t.Fatalf("%s len %d: ciphertext differs from the one-shot reference", c.name, n)
			}
			var pt bytes.Buffer
			d, err := NewBlockDecrypter(&pt, c.block, iv)
			if err != nil {
				t.Fatal(err)
			}
			if err := writeSplit(rng, d, ct.Bytes(), maxPiece); err != nil {
				t.Fatalf("%s len %d: decrypt: %v", c.name, n, err)
			}
			if !bytes.Equal(pt.Bytes(), msg) {
				t.Fatalf("%s len %d: round trip differs", c.name, n)
			}
		}
	}
}

// TestBadPadding encrypts final blocks with hand-made, invalid paddings and
// checks that each is refused with ErrDecrypt.
func TestBadPadding(t *testing.T) {
	for _, c := range testCiphers(t) {
		bs := c.block.BlockSize()
		iv := make([]byte, bs)
		rand.Read(iv)
		good := bytes.Repeat([]byte{byte(bs)}, bs) // a whole block of padding
		bad := map[string][]byte{}
		bad["pad byte 0"] = append(bytes.Repeat([]byte{0x41}, bs-1), 0)
		bad["pad byte bs+1"] = append(bytes.Repeat([]byte{byte(bs + 1)}, bs-1), byte(bs+1))
		bad["pad byte 0xff"] = bytes.Repeat([]byte{0xff}, bs)
		mixed := bytes.Repeat([]byte{3}, bs)
		mixed[bs-2] = 2
		bad["inconsistent pad 03 02 03"] = mixed
		first := bytes.Clone(good)
		first[0] ^= 1
		bad["full-block pad with wrong first byte"] = first
		for name, last := range bad {
			for _, prefixBlocks := range []int{0, 3} {
				plain := append(make([]byte, prefixBlocks*bs), last...)
				ct := bytes.Clone(plain)
				cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, ct)
				d, _ := NewBlockDecrypter(io.Discard, c.block, iv)
				if _, err := d.Write(ct); err != nil {
					t.Fatal(err)
				}
				if err := d.Close(); err != ErrDecrypt {
					t.Errorf("%s, %s after %d blocks: %v, want ErrDecrypt", c.name, name, prefixBlocks, err)
				}
			}
		}
		// The good full padding block decrypts to nothing.
		ct := bytes.Clone(good)
		cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, ct)
		var out bytes.Buffer
		d, _ := NewBlockDecrypter(&out, c.block, iv)
		d.Write(ct)
		if err := d.Close(); err != nil || out.Len() != 0 {
			t.Errorf("%s: full padding block: %v, %d bytes out", c.name, err, out.Len())
		}
		// Truncated and empty ciphertexts.
		for _, n := range []int{0, 1, bs - 1, bs + 1} {
			d, _ := NewBlockDecrypter(io.Discard, c.block, iv)
			d.Write(make([]byte, n))
			if err := d.Close(); err != ErrDecrypt {
				t.Errorf("%s: %d-byte ciphertext: %v, want ErrDecrypt", c.name, n, err)
			}
		}
	}
}

// TestHoldsBackLastBlock checks that a decrypter releases every block except
// the last one before Close.
func TestHoldsBackLastBlock(t *testing.T) {
	key, iv := make([]byte, 16), make([]byte, 16)
	b, _ := aes.NewCipher(key)
	ct := refEncrypt(b, iv, make([]byte, 100)) // 7 blocks
	var out bytes.Buffer
	d, _ := NewDecrypter(&out, key, iv)
	for i := 0; i < len(ct); i += 16 {
		d.Write(ct[i : i+16])
		if want := i; out.Len() != want {
			t.Fatalf("after %d ciphertext bytes, %d plaintext bytes released, want %d", i+16, out.Len(), want)
		}
	}
	if err := d.Close(); err != nil || out.Len() != 100 {
		t.Fatalf("Close: %v, %d bytes", err, out.Len())
	}
	if _, err := d.Write([]byte{1}); err != ErrClosed {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
}

func TestConstructorErrors(t *testing.T) {
	if _, err := NewEncrypter(io.Discard, make([]byte, 16), make([]byte, 8)); err != ErrIVSize {
		t.Errorf("8-byte IV for AES: %v, want ErrIVSize", err)
	}
	if _, err := NewDecrypter(io.Discard, make([]byte, 17), make([]byte, 16)); err == nil {
		t.Error("17-byte AES key accepted")
	}
	b, _ := des.NewTripleDESCipher(make([]byte, 24))
	if _, err := NewBlockDecrypter(io.Discard, b, make([]byte, 16)); err != ErrIVSize {
		t.Errorf("16-byte IV for 3DES: %v, want ErrIVSize", err)
	}
}

type failWriter struct{}

var errSink = errors.New("sink failed")

func (failWriter) Write(p []byte) (int, error) { return 0, errSink }

func TestDestinationError(t *testing.T) {
	key, iv := make([]byte, 16), make([]byte, 16)
	e, _ := NewEncrypter(failWriter{}, key, iv)
	if _, err := e.Write(make([]byte, 32)); err != errSink {
		t.Errorf("encrypter Write: %v, want the sink's error", err)
	}
	if err := e.Close(); err != errSink {
		t.Errorf("encrypter Close: %v, want the sink's error", err)
	}
	d, _ := NewDecrypter(failWriter{}, key, iv)
	if _, err := d.Write(make([]byte, 48)); err != errSink {
		t.Errorf("decrypter Write: %v, want the sink's error", err)
	}
}

// TestNoAllocationsPerWrite checks that memory does not grow with the
// message length.
func TestNoAllocationsPerWrite(t *testing.T) {
	key, iv := make([]byte, 32), make([]byte, 16)
	buf := make([]byte, 40001)
	e, _ := NewEncrypter(io.Discard, key, iv)
	d, _ := NewDecrypter(io.Discard, key, iv)
	if a := testing.AllocsPerRun(20, func() { e.Write(buf) }); a != 0 {
		t.Errorf("encrypter: %v allocations per Write", a)
	}
	if a := testing.AllocsPerRun(20, func() { d.Write(buf) }); a != 0 {
		t.Errorf("decrypter: %v allocations per Write", a)
	}
}
