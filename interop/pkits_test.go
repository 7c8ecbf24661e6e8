package interop

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/shareddata"
)

// pkitsDataFaults would list messages whose content does not match their
// vector (judged not applicable, with the reason); there are none: every
// disagreement fails the test.
var pkitsDataFaults = map[string]bool{}

// TestPKITSThroughVerify runs every default-setting NIST PKITS message
// through the real command, as the trust issue's acceptance asks:
// signet verify --trust TrustAnchorRootCertificate.crt --crl … --at 2020-01-01.
// It must exit 0 exactly when the vector says ShouldValidate.
func TestPKITSThroughVerify(t *testing.T) {
	dir := shareddata.Path(t, "pkits")
	var vectors []struct {
		Name                                                                        string
		CRLPath                                                                     []string
		ShouldValidate                                                              bool
		InitialPolicySet                                                            []string
		InitialPolicyMappingInhibit, InitialExplicitPolicy, InitialAnyPolicyInhibit bool
	}
	data, err := os.ReadFile(filepath.Join(dir, "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	byName := map[string]int{}
	for i, v := range vectors {
		byName[v.Name] = i
	}
	tsv, err := os.ReadFile(filepath.Join(dir, "eml-to-vector.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	ran, agreed := 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(tsv)), "\n")[1:] {
		f := strings.Split(line, "\t")
		eml, name := f[0], f[1]
		if f[3] != "anyPolicy" || f[4] != "false" || f[5] != "false" || f[6] != "false" {
			continue // not a default-setting vector
		}
		v := vectors[byName[name]]
		args := []string{"verify", "--trust", filepath.Join(dir, "certs", "TrustAnchorRootCertificate.crt"),
			"--at", "2020-01-01T00:00:00Z", "--in", filepath.Join(dir, "smime", eml)}
		for _, c := range v.CRLPath {
			args = append(args, "--crl", filepath.Join(dir, "crls", c))
		}
		r := signet(t, t.TempDir(), nil, args...)
		ran++
		ok := r.code == 0
		if r.code != 0 && r.code != 1 {
			t.Errorf("%s: exit %d: %s", eml, r.code, r.stderr)
			continue
		}
		switch {
		case ok == v.ShouldValidate:
			agreed++
			if pkitsDataFaults[eml] {
				t.Errorf("%s now agrees: remove it from pkitsDataFaults", eml)
			}
		case pkitsDataFaults[eml]:
		default:
			t.Errorf("%s (%s): exit %d, ShouldValidate %v: %s", eml, name, r.code, v.ShouldValidate, strings.TrimSpace(string(r.stderr)))
		}
	}
	if ran != 214 {
		t.Fatalf("ran %d default-setting vectors, want 214", ran)
	}
	t.Logf("PKITS through signet verify: %d of %d agree (OpenSSL 3.0: 197)", agreed, ran)
}
