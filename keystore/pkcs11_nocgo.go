//go:build !cgo

package keystore

import (
	"crypto"
	"errors"
)

// errNoCgo: crypto11 needs cgo to load a PKCS #11 module.
var errNoCgo = errors.New("keystore: this Signet was built without cgo (CGO_ENABLED=0), so it cannot use PKCS #11 tokens")

// Token is unavailable without cgo: OpenToken always fails.
type Token struct{ cfg PKCS11Config }

// OpenToken fails: PKCS #11 needs a build with cgo.
func OpenToken(cfg PKCS11Config) (*Token, error) { return nil, errNoCgo }

func (t *Token) Config() PKCS11Config                                     { return t.cfg }
func (t *Token) Close() error                                             { return nil }
func (t *Token) GenerateSigner(label, kind string) (crypto.Signer, error) { return nil, errNoCgo }
func (t *Token) Signer(label string) (crypto.Signer, error)               { return nil, errNoCgo }
func (t *Token) DeleteKey(label string) error                             { return errNoCgo }
