package directory

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

func TestOwnerName(t *testing.T) {
	// The example of RFC 7929 2.3 / RFC 8162 3: local part "hugh".
	got, err := OwnerName("hugh@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := "c93f1e400f26708f98cb19d936620da35eec8f72e57f9eec01c1afd6._smimecert.example.com."; got != want {
		t.Fatalf("OwnerName = %s, want %s", got, want)
	}
	// The local part is hashed as written (case matters); the domain is not.
	a, _ := OwnerName("Hugh@EXAMPLE.com")
	if a == got || !strings.HasSuffix(a, "._smimecert.example.com.") {
		t.Fatalf("case handling: %s", a)
	}
	for _, bad := range []string{"", "hugh", "@example.com", "hugh@", "a@b@c"} {
		if _, err := OwnerName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSMIMEARecord(t *testing.T) {
	ca, _ := testpki.NewCA("SMIMEA CA")
	id, _ := ca.Issue("bob@example.org", testpki.P256, nil)
	rec, err := SMIMEARecord("bob@example.org", id.Cert, 3600)
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(rec)
	if len(f) != 8 || f[1] != "3600" || f[2] != "IN" || f[3] != "SMIMEA" || f[4] != "3" || f[5] != "0" || f[6] != "0" {
		t.Fatalf("record %q", rec)
	}
	der, err := hex.DecodeString(f[7])
	if err != nil || string(der) != string(id.Cert.Raw) {
		t.Fatal("the record does not carry the certificate")
	}
}
