package keywrap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

type keywrapFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		KeySize int `json:"keySize"`
		Tests   []struct {
			TcID    int            `json:"tcId"`
			Comment string         `json:"comment"`
			Flags   []string       `json:"flags"`
			Key     shareddata.Hex `json:"key"`
			Msg     shareddata.Hex `json:"msg"`
			Ct      shareddata.Hex `json:"ct"`
			Result  string         `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// loadWycheproof decodes a shared Wycheproof file into v. A missing file
// fails the test under CI=true and skips it otherwise.
func loadWycheproof(t *testing.T, name string, v any) {
	t.Helper()
	if err := json.Unmarshal(shareddata.ReadFile(t, "wycheproof/"+name), v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

type wrapFuncs struct {
	wrap   func(kek, key []byte) ([]byte, error)
	unwrap func(kek, wrapped []byte) ([]byte, error)
}

func runKeywrapVectors(t *testing.T, file, algorithm string, f wrapFuncs) {
	var vf keywrapFile
	loadWycheproof(t, file, &vf)
	if vf.Algorithm != algorithm {
		t.Fatalf("%s: algorithm %q, want %q", file, vf.Algorithm, algorithm)
	}
	counts := map[string]int{}
	for _, g := range vf.TestGroups {
		for _, tc := range g.Tests {
			name := tc.Result + "/" + strings.Join(tc.Flags, ",")
			got, err := f.unwrap(tc.Key, tc.Ct)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(got, tc.Msg) {
					t.Errorf("tc %d (%s): unwrap = %x, %v; want %x", tc.TcID, name, got, err, tc.Msg)
				}
				w, err := f.wrap(tc.Key, tc.Msg)
				if err != nil || !bytes.Equal(w, tc.Ct) {
					t.Errorf("tc %d (%s): wrap = %x, %v; want %x", tc.TcID, name, w, err, tc.Ct)
				}
			case "invalid":
				if err == nil {
					t.Errorf("tc %d (%s, %s): unwrap accepted an invalid wrapped key", tc.TcID, name, tc.Comment)
				} else if err != ErrUnwrap {
					t.Errorf("tc %d: unwrap error %v, want ErrUnwrap itself", tc.TcID, err)
				}
				// Wrapping the message may succeed, but must never
				// produce the invalid ciphertext.
				if w, err := f.wrap(tc.Key, tc.Msg); err == nil && bytes.Equal(w, tc.Ct) {
					t.Errorf("tc %d (%s): wrap produced the invalid ciphertext", tc.TcID, name)
				}
				if slices.Contains(tc.Flags, "EmptyKey") || slices.Contains(tc.Flags, "WrongDataSize") {
					if _, err := f.wrap(tc.Key, tc.Msg); err == nil {
						t.Errorf("tc %d (%s): wrap accepted a %d-byte key", tc.TcID, name, len(tc.Msg))
					}
				}
			case "acceptable":
				if err == nil && !bytes.Equal(got, tc.Msg) {
					t.Errorf("tc %d (%s): unwrap = %x, want %x or failure", tc.TcID, name, got, tc.Msg)
				}
			default:
				t.Fatalf("tc %d: unknown result %q", tc.TcID, tc.Result)
			}
			counts[tc.Result]++
		}
	}
	total := counts["valid"] + counts["invalid"] + counts["acceptable"]
	t.Logf("%s: %d cases run (valid %d, invalid %d, acceptable %d)", file, total,
		counts["valid"], counts["invalid"], counts["acceptable"])
	if total != vf.NumberOfTests || counts["valid"] < 30 || counts["invalid"] < 100 {
		t.Errorf("%s: ran %v of %d cases; expected all of them", file, counts, vf.NumberOfTests)
	}
}

func TestWycheproofAESWrap(t *testing.T) {
	runKeywrapVectors(t, "aes_wrap_test.json", "AES-WRAP", wrapFuncs{Wrap, Unwrap})
}

func TestWycheproofAESKWP(t *testing.T) {
	runKeywrapVectors(t, "aes_kwp_test.json", "AES-KWP", wrapFuncs{WrapPad, UnwrapPad})
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRFC3394Vectors checks the test vectors of RFC 3394 section 4.
func TestRFC3394Vectors(t *testing.T) {
	const (
		kek128 = "000102030405060708090A0B0C0D0E0F"
		kek192 = "000102030405060708090A0B0C0D0E0F1011121314151617"
		kek256 = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F"
		key128 = "00112233445566778899AABBCCDDEEFF"
		key192 = "00112233445566778899AABBCCDDEEFF0001020304050607"
		key256 = "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"
	)
	for _, v := range []struct{ section, kek, key, wrapped string }{
		{"4.1", kek128, key128, "1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5"},
		{"4.2", kek192, key128, "96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D"},
		{"4.3", kek256, key128, "64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
		{"4.4", kek192, key192, "031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2"},
		{"4.5", kek256, key192, "A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
		{"4.6", kek256, key256, "28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	} {
		kek, key, wrapped := unhex(t, v.kek), unhex(t, v.key), unhex(t, v.wrapped)
		got, err := Wrap(kek, key)
		if err != nil || !bytes.Equal(got, wrapped) {
			t.Errorf("RFC 3394 %s: Wrap = %X, %v; want %X", v.section, got, err, wrapped)
		}
		got, err = Unwrap(kek, wrapped)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("RFC 3394 %s: Unwrap = %X, %v; want %X", v.section, got, err, key)
		}
	}
}

// TestRFC5649Vectors checks the two examples of RFC 5649 section 6.
func TestRFC5649Vectors(t *testing.T) {
	kek := unhex(t, "5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8")
	for _, v := range []struct{ key, wrapped string }{
		{"c37b7e6492584340 bed1220780894115 5068f738", "138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a"},
		{"466f7250617369", "afbeb0f07dfbf541 9200f2ccb50bb24f"},
	} {
		key, wrapped := unhex(t, v.key), unhex(t, v.wrapped)
		got, err := WrapPad(kek, key)
		if err != nil || !bytes.Equal(got, wrapped) {
			t.Errorf("WrapPad(%x) = %x, %v; want %x", key, got, err, wrapped)
		}
		got, err = UnwrapPad(kek, wrapped)
		if err != nil || !bytes.Equal(got, key) {
			t.Errorf("UnwrapPad(%x) = %x, %v; want %x", wrapped, got, err, key)
		}
	}
}

type namedFuncs struct {
	name string
	wrapFuncs
}

// TestRoundTripAndTamper wraps random keys of many lengths, checks they
// unwrap, and checks that changing any single byte makes unwrapping fail.
func TestRoundTripAndTamper(t *testing.T) {
	for _, kekLen := range []int{16, 24, 32} {
		kek := make([]byte, kekLen)
		rand.Read(kek)
		for keyLen := 1; keyLen <= 72; keyLen++ {
			key := make([]byte, keyLen)
			rand.Read(key)
			cases := []namedFuncs{{"KWP", wrapFuncs{WrapPad, UnwrapPad}}}
			if keyLen >= 16 && keyLen%8 == 0 {
				cases = append(cases, namedFuncs{"KW", wrapFuncs{Wrap, Unwrap}})
			} else if _, err := Wrap(kek, key); err != ErrWrapInput {
				t.Errorf("Wrap of %d bytes: err %v, want ErrWrapInput", keyLen, err)
			}
			for _, c := range cases {
				w, err := c.wrap(kek, key)
				if err != nil {
					t.Fatalf("%s wrap %d bytes: %v", c.name, keyLen, err)
				}
				got, err := c.unwrap(kek, w)
				if err != nil || !bytes.Equal(got, key) {
					t.Fatalf("%s round trip of %d bytes: %x, %v", c.name, keyLen, got, err)
				}
				for i := range w {
					w[i] ^= 0x10
					if _, err := c.unwrap(kek, w); err != ErrUnwrap {
						t.Fatalf("%s: byte %d of %d changed: err %v, want ErrUnwrap", c.name, i, len(w), err)
					}
					w[i] ^= 0x10
				}
			}
		}
	}
}

func TestBadKEK(t *testing.T) {
	wrapped := make([]byte, 24)
	for _, n := range []int{0, 8, 15, 17, 33} {
		kek := make([]byte, n)
		if _, err := Unwrap(kek, wrapped); err != ErrUnwrap {
			t.Errorf("Unwrap with %d-byte KEK: %v, want ErrUnwrap", n, err)
		}
		if _, err := UnwrapPad(kek, wrapped); err != ErrUnwrap {
			t.Errorf("UnwrapPad with %d-byte KEK: %v, want ErrUnwrap", n, err)
		}
		if _, err := Wrap(kek, make([]byte, 16)); err == nil {
			t.Errorf("Wrap accepted a %d-byte KEK", n)
		}
		if _, err := WrapPad(kek, make([]byte, 16)); err == nil {
			t.Errorf("WrapPad accepted a %d-byte KEK", n)
		}
	}
	if _, err := WrapPad(make([]byte, 16), nil); err != ErrWrapInput {
		t.Errorf("WrapPad of an empty key: %v, want ErrWrapInput", err)
	}
}
