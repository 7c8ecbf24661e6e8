package pki

// CA keys in a PKCS #11 token (an HSM, SoftHSM2 in the tests): the root and
// issuing keys are generated inside the token and never leave it; the store
// keeps for each a SealedKey with Backend "pkcs11", no blobs, and the label
// of the token object.

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/signet-smime/signet/ca"
	"github.com/signet-smime/signet/keystore"
	"github.com/signet-smime/signet/store"
)

// Labels of the CA keys' objects in a PKCS #11 token.
const (
	RootTokenLabel    = "signet-ca-root"
	IssuingTokenLabel = "signet-ca-issuing"
)

// SettingPKCS11Token records which token holds the CA keys, as an RFC 7512
// URI without the PIN ("pkcs11:token=…?module-path=…"). It is for display
// and for a clear error when the token is not given; Signet must not load
// the module it names (whoever can write the database could otherwise make
// Signet load any library): the module comes from the command line or the
// configuration, every run.
const SettingPKCS11Token = "PKCS11Token"

// InitWithToken is Init with the root and issuing CA keys generated in the
// PKCS #11 token tok (labels RootTokenLabel and IssuingTokenLabel). It
// refuses when the folder already has a CA or the token already holds
// either label; if anything fails after the keys were generated, it
// destroys them again, so init can be run once more.
func (s *Service) InitWithToken(ctx context.Context, o InitOptions, tok *keystore.Token) (info *store.CAInfo, err error) {
	if tok == nil {
		return nil, errors.New("no PKCS #11 token to keep the CA keys in")
	}
	org, err := s.prepareInit(ctx, &o)
	if err != nil {
		return nil, err
	}
	// Check before generating anything: a refused init leaves the token
	// and the folder as they were.
	for _, label := range []string{RootTokenLabel, IssuingTokenLabel} {
		_, err := tok.Signer(label)
		switch {
		case err == nil:
			return nil, fmt.Errorf("PKCS #11 token %q already holds a key labelled %q (another Signet CA?): use another token, or delete that key first",
				tok.Config().TokenLabel, label)
		case !errors.Is(err, keystore.ErrKeyNotFound):
			return nil, err
		}
	}

	var made []string
	defer func() {
		if err != nil {
			for _, label := range made {
				_ = tok.DeleteKey(label)
			}
		}
	}()
	rootKey, err := tok.GenerateSigner(RootTokenLabel, o.CAKey)
	if err != nil {
		return nil, err
	}
	made = append(made, RootTokenLabel)
	issKey, err := tok.GenerateSigner(IssuingTokenLabel, o.CAKey)
	if err != nil {
		return nil, err
	}
	made = append(made, IssuingTokenLabel)

	now := s.now()
	root, err := ca.NewRoot(org, rootKey, now)
	if err != nil {
		return nil, err
	}
	iss, err := ca.NewIssuing(org, root, rootKey, issKey, now)
	if err != nil {
		return nil, err
	}
	for _, k := range []store.SealedKey{
		{ID: RootKeyID, Algorithm: o.CAKey, Backend: store.BackendPKCS11, Label: RootTokenLabel, CreatedAt: now},
		{ID: IssuingKeyID, Algorithm: o.CAKey, Backend: store.BackendPKCS11, Label: IssuingTokenLabel, CreatedAt: now},
	} {
		if err := s.Store.PutKey(ctx, k, s.Actor); err != nil {
			return nil, err
		}
	}
	if err := s.putCert(ctx, root, store.UsageCARoot, "", RootKeyID, false, "", store.SourceIssued); err != nil {
		return nil, err
	}
	if err := s.putCert(ctx, iss, store.UsageCAIssuing, "", IssuingKeyID, false, Fingerprint(root), store.SourceIssued); err != nil {
		return nil, err
	}
	if err := s.Store.SetSetting(ctx, SettingPKCS11Token, tok.Config().String(), s.Actor); err != nil {
		return nil, err
	}
	ci := store.CAInfo{RootFingerprint: Fingerprint(root), IssuingFingerprint: Fingerprint(iss),
		Org: o.Org, Domains: o.Domains, PublicURL: strings.TrimRight(o.PublicURL, "/")}
	if err := s.Store.SetCA(ctx, ci, s.Actor); err != nil {
		return nil, err
	}
	return s.Store.GetCA(ctx)
}

// tokenKey is Service.key for a record with Backend "pkcs11": the signer of
// the token object k.Label. It checks that the key is of the recorded
// algorithm and, for the CA keys, that it is the key of the CA certificate,
// so a stray object with the same label in another token cannot sign in the
// CA's name.
func (s *Service) tokenKey(ctx context.Context, tok *keystore.Token, k *store.SealedKey) (crypto.PrivateKey, error) {
	if tok == nil {
		where := ""
		if v, ok, err := s.Store.GetSetting(ctx, SettingPKCS11Token); err == nil && ok {
			where = " " + v
		}
		return nil, fmt.Errorf("key %s is in the PKCS #11 token%s (object %q): set SIGNET_PKCS11 to the token (MODULE:TOKEN) and %s to its PIN",
			k.ID, where, k.Label, keystore.PKCS11PINEnv)
	}
	signer, err := tok.Signer(k.Label)
	if err != nil {
		return nil, err
	}
	if kind := keystore.KeyKind(signer.Public()); kind != k.Algorithm {
		return nil, fmt.Errorf("key %q in PKCS #11 token %q is %s, but key %s was recorded as %s",
			k.Label, tok.Config().TokenLabel, kind, k.ID, k.Algorithm)
	}
	if k.ID == RootKeyID || k.ID == IssuingKeyID {
		_, root, iss, err := s.CA(ctx)
		if err != nil && !errors.Is(err, store.ErrNotInitialized) {
			return nil, err
		}
		if err == nil {
			cert := iss
			if k.ID == RootKeyID {
				cert = root
			}
			pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !pub.Equal(signer.Public()) {
				return nil, fmt.Errorf("key %q in PKCS #11 token %q is not the key of the CA certificate %q",
					k.Label, tok.Config().TokenLabel, cert.Subject.CommonName)
			}
		}
	}
	return signer, nil
}
