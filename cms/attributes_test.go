//lint:file-ignore SA1019 DSA keys are read for legacy signatures

package cms

import (
	"bytes"
	"crypto/dsa"
	"errors"
	"testing"

	"github.com/signet-smime/signet/internal/testpki"
)

func TestSignedAttributesRoundTrip(t *testing.T) {
	signer := newIdentity(t, testpki.Ed25519)
	enc := newIdentity(t, testpki.X25519)
	s := &Signer{Certificate: signer.Cert, Key: signer.Signer(), ExtraAttributes: []Attribute{
		CapabilitiesAttribute(AES256GCM, AES128CBC),
		EncryptionKeyPreferenceAttribute(enc.Cert),
	}}
	sd, err := Verify(bytes.NewReader(signContent(t, []byte("x"), nil, s)), nil)
	if err != nil || sd.Signers[0].Err != nil {
		t.Fatal(err, sd.Signers[0].Err)
	}
	caps := ParseCapabilities(sd.Signers[0].SignedAttributes)
	if len(caps) != 2 || caps[0] != AES256GCM || caps[1] != AES128CBC {
		t.Fatalf("capabilities %v", caps)
	}
	pref := ParseEncryptionKeyPreference(sd.Signers[0].SignedAttributes)
	if pref == nil || !pref.Matches(enc.Cert) || pref.Matches(signer.Cert) {
		t.Fatalf("encryption key preference %+v", pref)
	}
}

// TestDSAKeyWithoutParameters: a DSA key whose parameters are inherited
// from the issuer is reported as unsupported, not a panic.
func TestDSAKeyWithoutParameters(t *testing.T) {
	err := verifyDSA(&dsa.PublicKey{}, make([]byte, 20), []byte{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err = %v, want ErrUnsupported", err)
	}
}
