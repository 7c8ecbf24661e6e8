package keystore_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/signet-smime/signet/keystore"
)

func Example() {
	// At init: make and store the KDF parameters and the verifier.
	params, _ := keystore.NewKDFParams()
	stored := params.String()
	m, err := keystore.MasterFromPassphrase([]byte("the SIGNET_PASSPHRASE value"), params)
	if err != nil {
		panic(err)
	}
	verifier := m.Verifier()

	caKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	sealed, _ := m.Seal("ca/issuing", caKey) // store Algorithm, Blob, WrappedKey
	m.Wipe()

	// At a later start: check the passphrase up front, then open.
	params, _ = keystore.ParseKDFParams(stored)
	wrong, _ := keystore.MasterFromPassphrase([]byte("a typo"), params)
	fmt.Println(errors.Is(wrong.Verify(verifier), keystore.ErrWrongPassphrase))

	m, _ = keystore.MasterFromPassphrase([]byte("the SIGNET_PASSPHRASE value"), params)
	defer m.Wipe()
	if err := m.Verify(verifier); err != nil {
		panic(err)
	}
	key, err := m.Open("ca/issuing", sealed)
	fmt.Println(sealed.Algorithm, key.(*ecdsa.PrivateKey).Equal(caKey), err)
	_, err = m.Open("ca/root", sealed)
	fmt.Println(err)
	// Output:
	// true
	// ecdsa-p384 true <nil>
	// keystore: sealed key is damaged or does not belong to this id
}
