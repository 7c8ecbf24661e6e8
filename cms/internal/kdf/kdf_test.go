package kdf

import (
	"bytes"
	"crypto"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestX963CAVS checks vectors from the NIST CAVP component test file
// ansx963_2001.rsp (800-135testvectors/ansx963_2001.zip, "[SHA-x] [shared
// secret length = 192] ..." sections; COUNT = 0 and 1 of each group used).
func TestX963CAVS(t *testing.T) {
	for _, v := range []struct {
		h               crypto.Hash
		z, info, output string
	}{
		{crypto.SHA1, "1c7d7b5f0597b03d06a018466ed1a93e30ed4b04dc64ccdd", "",
			"bf71dffd8f4d99223936beb46fee8ccc"},
		{crypto.SHA256, "96c05619d56c328ab95fe84b18264b08725b85e33fd34f08", "",
			"443024c3dae66b95e6f5670601558f71"},
		{crypto.SHA256, "96f600b73ad6ac5629577eced51743dd2c24c21b1ac83ee4", "",
			"b6295162a7804f5667ba9070f82fa522"},
		{crypto.SHA256, "22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d", "75eef81aa3041e33b80971203d2c0c52",
			"c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e52a13d9c7c6fc878c50c5ea0bc7b00e0" +
				"da2447cfd874f6cf92f30d0097111485500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd4962" +
				"69142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21"},
		{crypto.SHA256, "7e335afa4b31d772c0635c7b0e06f26fcd781df947d2990a", "d65a4812733f8cdbcdfb4b2f4c191d87",
			"c0bd9e38a8f9de14c2acd35b2f3410c6988cf02400543631e0d6a4c1d030365acbf398115e51aaddebdc9590664210f9" +
				"aa9fed770d4c57edeafa0b8c14f93300865251218c262d63dadc47dfa0e0284826793985137e0a544ec80abf2fdf5a" +
				"b90bdaea66204012efe34971dc431d625cd9a329b8217cc8fd0d9f02b13f2f6b0b"},
		{crypto.SHA384, "d8554db1b392cd55c3fe957bed76af09c13ac2a9392f88f6", "",
			"671a46aada145162f8ddf1ca586a1cda"},
		{crypto.SHA384, "c051fd22539c9de791d6c43a854b8f80a6bf70190050854a", "1317504aa34759bb4c931e3b78201945",
			"cf6a84434734ac6949e1d7976743277be789906908ad3ca3a8923da7f476abbeb574306d7243031a85566914bfd247d2" +
				"519c479953d9d55b6b831e56260806c39af21b74e3ecf470e3bd8332791c8a23c13352514fdef00c2d1a408ba31b2d" +
				"3f9fdcb373895484649a645d1845eec91b5bfdc5ad28c7824984482002dd4a8677"},
		{crypto.SHA512, "87fc0d8c4477485bb574f5fcea264b30885dc8d90ad82782", "",
			"947665fbb9152153ef460238506a0245"},
		{crypto.SHA512, "00aa5bb79b33e389fa58ceadc047197f14e73712f452caa9fc4c9adb369348b81507392f1a86ddfdb7c4ff8231c4bd0f44e44a1b55b1404747a9e2e753f55ef05a2d",
			"e3b5b4c1b0d5cf1d2b3a2f9937895d31",
			"4463f869f3cc18769b52264b0112b5858f7ad32a5a2d96d8cffabf7fa733633d6e4dd2a599acceb3ea54a6217ce0b50e" +
				"ef4f6b40a5c30250a5a8eeee208002267089dbf351f3f5022aa9638bf1ee419dea9c4ff745a25ac27bda33ca08bd56" +
				"dd1a59b4106cf2dbbc0ab2aa8e2efa7b17902d34276951ceccab87f9661c3e8816"},
	} {
		want := unhex(t, v.output)
		got, err := X963(v.h, unhex(t, v.z), unhex(t, v.info), len(want))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%v Z=%s: got %x, %v; want %x", v.h, v.z, got, err, want)
		}
	}
}

// naiveX963 is an independent, deliberately simple SHA-256 reference: it
// builds each hash input as one byte string.
func naiveX963(z, info []byte, length int) []byte {
	var out []byte
	for c := uint32(1); len(out) < length; c++ {
		in := append(append(append([]byte{}, z...), binary.BigEndian.AppendUint32(nil, c)...), info...)
		sum := sha256.Sum256(in)
		out = append(out, sum[:]...)
	}
	return out[:length]
}

func TestX963MatchesNaive(t *testing.T) {
	for _, length := range []int{0, 1, 16, 31, 32, 33, 64, 100, 1000} {
		z := make([]byte, 32)
		info := make([]byte, length%40)
		rand.Read(z)
		rand.Read(info)
		got, err := X963(crypto.SHA256, z, info, length)
		if err != nil {
			t.Fatal(err)
		}
		if want := naiveX963(z, info, length); !bytes.Equal(got, want) {
			t.Errorf("length %d: got %x, want %x", length, got, want)
		}
		if len(got) != length {
			t.Errorf("length %d: got %d bytes", length, len(got))
		}
	}
}

func TestX963Errors(t *testing.T) {
	if _, err := X963(crypto.SHA256, []byte{1}, nil, -1); err != ErrLength {
		t.Errorf("negative length: %v, want ErrLength", err)
	}
	if _, err := X963(crypto.MD4, []byte{1}, nil, 16); err != ErrHashUnavailable {
		t.Errorf("unlinked hash: %v, want ErrHashUnavailable", err)
	}
	if _, err := X963(crypto.Hash(0), []byte{1}, nil, 16); err != ErrHashUnavailable {
		t.Errorf("zero hash: %v, want ErrHashUnavailable", err)
	}
}

type hkdfFile struct {
	Algorithm     string `json:"algorithm"`
	NumberOfTests int    `json:"numberOfTests"`
	TestGroups    []struct {
		Tests []struct {
			TcID   int    `json:"tcId"`
			Ikm    string `json:"ikm"`
			Salt   string `json:"salt"`
			Info   string `json:"info"`
			Size   int    `json:"size"`
			Okm    string `json:"okm"`
			Result string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofHKDFSHA256 runs the Wycheproof HKDF-SHA-256 vectors through
// the standard library's crypto/hkdf, which the CMS code uses for HKDF.
func TestWycheproofHKDFSHA256(t *testing.T) {
	const name = "hkdf_sha256_test.json"
	var vf hkdfFile
	if err := json.Unmarshal(shareddata.ReadFile(t, "wycheproof/"+name), &vf); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if vf.Algorithm != "HKDF-SHA-256" {
		t.Fatalf("algorithm %q", vf.Algorithm)
	}
	counts := map[string]int{}
	for _, g := range vf.TestGroups {
		for _, tc := range g.Tests {
			got, err := hkdf.Key(sha256.New, unhex(t, tc.Ikm), unhex(t, tc.Salt), string(unhex(t, tc.Info)), tc.Size)
			switch tc.Result {
			case "valid":
				if want := unhex(t, tc.Okm); err != nil || !bytes.Equal(got, want) {
					t.Errorf("tc %d: got %x, %v; want %x", tc.TcID, got, err, want)
				}
			case "invalid":
				if err == nil {
					t.Errorf("tc %d: size %d accepted", tc.TcID, tc.Size)
				}
			case "acceptable":
				if want := unhex(t, tc.Okm); err == nil && !bytes.Equal(got, want) {
					t.Errorf("tc %d: got %x, want %x or an error", tc.TcID, got, want)
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
	if total != vf.NumberOfTests || counts["valid"] < 50 {
		t.Errorf("ran %v of %d cases", counts, vf.NumberOfTests)
	}
}
