package gcmstream

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

type aeadFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		IvSize  int `json:"ivSize"`
		KeySize int `json:"keySize"`
		TagSize int `json:"tagSize"`
		Tests   []struct {
			TcID    int            `json:"tcId"`
			Comment string         `json:"comment"`
			Key     shareddata.Hex `json:"key"`
			Iv      shareddata.Hex `json:"iv"`
			Aad     shareddata.Hex `json:"aad"`
			Msg     shareddata.Hex `json:"msg"`
			Ct      shareddata.Hex `json:"ct"`
			Tag     shareddata.Hex `json:"tag"`
			Result  string         `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// writeSplit writes data to w in pieces of random sizes (including empty
// ones) and returns the first error.
func writeSplit(rng *mrand.Rand, w io.Writer, data []byte, maxPiece int) error {
	for len(data) > 0 || rng.IntN(4) == 0 {
		n := min(len(data), rng.IntN(maxPiece+1))
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		if len(data) == 0 {
			break
		}
	}
	return nil
}

func seal(t *testing.T, rng *mrand.Rand, key, nonce, aad, msg []byte, maxPiece int) (ct, tag []byte) {
	t.Helper()
	var out bytes.Buffer
	s, err := NewSealer(&out, key, nonce, aad)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	if s.Tag() != nil {
		t.Fatal("Tag available before Close")
	}
	if err := writeSplit(rng, s, msg, maxPiece); err != nil {
		t.Fatalf("Sealer.Write: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Sealer.Close: %v", err)
	}
	return out.Bytes(), s.Tag()
}

func open(t *testing.T, rng *mrand.Rand, key, nonce, aad, ct, tag []byte, maxPiece int) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	o, err := NewOpener(&out, key, nonce, aad)
	if err != nil {
		t.Fatalf("NewOpener: %v", err)
	}
	if err := writeSplit(rng, o, ct, maxPiece); err != nil {
		t.Fatalf("Opener.Write: %v", err)
	}
	return out.Bytes(), o.Verify(tag)
}

func TestWycheproofAESGCM(t *testing.T) {
	const name = "aes_gcm_test.json"
	var vf aeadFile
	if err := json.Unmarshal(shareddata.ReadFile(t, "wycheproof/"+name), &vf); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if vf.Algorithm != "AES-GCM" {
		t.Fatalf("algorithm %q", vf.Algorithm)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	counts := map[string]int{}
	keySizes := map[int]int{}
	for _, g := range vf.TestGroups {
		for _, tc := range g.Tests {
			if len(tc.Iv) != NonceSize || g.TagSize != 128 {
				// Unsupported parameters: they must be refused.
				if _, err := NewSealer(io.Discard, tc.Key, tc.Iv, tc.Aad); err != ErrNonceSize {
					t.Errorf("tc %d: %d-byte nonce: NewSealer err %v, want ErrNonceSize", tc.TcID, len(tc.Iv), err)
				}
				if _, err := NewOpener(io.Discard, tc.Key, tc.Iv, tc.Aad); err != ErrNonceSize {
					t.Errorf("tc %d: %d-byte nonce: NewOpener err %v, want ErrNonceSize", tc.TcID, len(tc.Iv), err)
				}
				counts["skipped"]++
				continue
			}
			maxPiece := 1 + rng.IntN(40)
			ct, tag := seal(t, rng, tc.Key, tc.Iv, tc.Aad, tc.Msg, maxPiece)
			pt, verr := open(t, rng, tc.Key, tc.Iv, tc.Aad, tc.Ct, tc.Tag, maxPiece)
			switch tc.Result {
			case "valid":
				if !bytes.Equal(ct, tc.Ct) || !bytes.Equal(tag, tc.Tag) {
					t.Errorf("tc %d: sealed %x %x, want %x %x", tc.TcID, ct, tag, tc.Ct, tc.Tag)
				}
				if verr != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d: opened %x, %v; want %x", tc.TcID, pt, verr, tc.Msg)
				}
			case "invalid":
				if verr != ErrAuth {
					t.Errorf("tc %d (%s): Verify = %v, want ErrAuth", tc.TcID, tc.Comment, verr)
				}
				if bytes.Equal(ct, tc.Ct) && bytes.Equal(tag, tc.Tag) {
					t.Errorf("tc %d: Sealer produced the invalid ciphertext", tc.TcID)
				}
			case "acceptable":
				if verr == nil && !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tc %d: accepted with plaintext %x, want %x", tc.TcID, pt, tc.Msg)
				}
			default:
				t.Fatalf("tc %d: unknown result %q", tc.TcID, tc.Result)
			}
			counts[tc.Result]++
			keySizes[len(tc.Key)*8]++
		}
	}
	run := counts["valid"] + counts["invalid"] + counts["acceptable"]
	t.Logf("%s: %d cases run (valid %d, invalid %d, acceptable %d), %d skipped (nonce not 12 bytes); by key size %v",
		name, run, counts["valid"], counts["invalid"], counts["acceptable"], counts["skipped"], keySizes)
	if run+counts["skipped"] != vf.NumberOfTests || run < 190 || keySizes[128] == 0 || keySizes[192] == 0 || keySizes[256] == 0 {
		t.Errorf("ran %v of %d cases, key sizes %v", counts, vf.NumberOfTests, keySizes)
	}
}

// TestMatchesStdlib compares the streaming Sealer and Opener with the
// standard library's one-shot AES-GCM for random lengths and write splits.
func TestMatchesStdlib(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	lengths := []int{0, 1, 15, 16, 17, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize, 3*chunkSize + 5, 300000}
	for i := 0; i < 30; i++ {
		lengths = append(lengths, rng.IntN(300001))
	}
	aadLengths := []int{0, 1, 16, 17, 200, chunkSize, chunkSize + 20}
	for i, n := range lengths {
		key := make([]byte, []int{16, 24, 32}[i%3])
		nonce := make([]byte, NonceSize)
		aad := make([]byte, aadLengths[i%len(aadLengths)])
		msg := make([]byte, n)
		rand.Read(key)
		rand.Read(nonce)
		rand.Read(aad)
		rand.Read(msg)
		_, aead := stdGCM(t, key)
		want := aead.Seal(nil, nonce, msg, aad)

		maxPiece := []int{1 << 20, 70000, 5000, 17}[rng.IntN(4)]
		ct, tag := seal(t, rng, key, nonce, aad, msg, maxPiece)
		if got := append(ct, tag...); !bytes.Equal(got, want) {
			t.Fatalf("len %d aad %d key %d: sealed output differs from stdlib", n, len(aad), len(key))
		}
		pt, err := open(t, rng, key, nonce, aad, want[:n], want[n:], maxPiece)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("len %d aad %d: open: %v, plaintext equal %v", n, len(aad), err, bytes.Equal(pt, msg))
		}
	}
}

func TestTamper(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	key, nonce := make([]byte, 32), make([]byte, NonceSize)
	rand.Read(key)
	rand.Read(nonce)
	aad := []byte("authenticated attributes")
	msg := make([]byte, 2*chunkSize+100)
	rand.Read(msg)
	ct, tag := seal(t, rng, key, nonce, aad, msg, 9000)

	if _, err := open(t, rng, key, nonce, aad, ct, tag, 9000); err != nil {
		t.Fatalf("untampered message rejected: %v", err)
	}
	for _, pos := range []int{0, 1, chunkSize - 1, chunkSize, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[pos] ^= 0x01
		if _, err := open(t, rng, key, nonce, aad, bad, tag, 9000); err != ErrAuth {
			t.Errorf("ciphertext byte %d flipped: %v, want ErrAuth", pos, err)
		}
	}
	for i := range tag {
		bad := bytes.Clone(tag)
		bad[i] ^= 0x80
		if _, err := open(t, rng, key, nonce, aad, ct, bad, 9000); err != ErrAuth {
			t.Errorf("tag byte %d flipped: %v, want ErrAuth", i, err)
		}
	}
	checks := []struct {
		name           string
		nonce, aad, ct []byte
		tag            []byte
	}{
		{"truncated ciphertext", nonce, aad, ct[:len(ct)-1], tag},
		{"extended ciphertext", nonce, aad, append(bytes.Clone(ct), 0), tag},
		{"ciphertext cut at a chunk boundary", nonce, aad, ct[:chunkSize], tag},
		{"other AAD", nonce, []byte("authenticated attributeS"), ct, tag},
		{"no AAD", nonce, nil, ct, tag},
		{"other nonce", append([]byte{nonce[0] ^ 1}, nonce[1:]...), aad, ct, tag},
		{"short tag", nonce, aad, ct, tag[:12]},
		{"empty tag", nonce, aad, ct, nil},
	}
	for _, c := range checks {
		if _, err := open(t, rng, key, c.nonce, c.aad, c.ct, c.tag, 9000); err != ErrAuth {
			t.Errorf("%s: %v, want ErrAuth", c.name, err)
		}
	}
}
