package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/signet-smime/signet/internal/x509util"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

// Find returns the newest valid certificate of an address for a usage
// ("sign" also matches a dual-use certificate, as does "encrypt"; "" any).
func (s *Service) Find(ctx context.Context, email, usage string) (*store.Certificate, *x509.Certificate, error) {
	cs, err := s.Store.ListCertificates(ctx, store.CertFilter{Email: strings.ToLower(email)})
	if err != nil {
		return nil, nil, err
	}
	var best *store.Certificate
	for i := range cs {
		c := &cs[i]
		if usage != "" && c.Usage != usage && c.Usage != store.UsageBoth {
			continue
		}
		if best == nil || c.NotBefore.After(best.NotBefore) {
			best = c
		}
	}
	if best == nil {
		if usage == "" {
			return nil, nil, fmt.Errorf("%w for %s", ErrNotFound, email)
		}
		return nil, nil, fmt.Errorf("%w for %s with usage %s", ErrNotFound, email, usage)
	}
	cert, err := x509.ParseCertificate(best.DER)
	return best, cert, err
}

// Chain returns the certificates above one Signet issued: issuing, root.
func (s *Service) Chain(ctx context.Context) ([]*x509.Certificate, error) {
	_, root, iss, err := s.CA(ctx)
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{iss, root}, nil
}

// PrivateKey opens the key of a certificate Signet keeps.
func (s *Service) PrivateKey(ctx context.Context, c *store.Certificate) (crypto.PrivateKey, error) {
	if c.KeyID == "" {
		return nil, fmt.Errorf("the key of %s (%s) is not held here: it left when it was first exported, or was never here", c.Email, c.Usage)
	}
	return s.key(ctx, c.KeyID)
}

// Released is called once a certificate's key has been exported: with
// KeyCustody "client", a signing key then leaves Signet for good.
func (s *Service) Released(ctx context.Context, c *store.Certificate) (deleted bool, err error) {
	custody, err := s.KeyCustody(ctx)
	if err != nil {
		return false, err
	}
	if custody != "client" || c.Usage != store.UsageSign || c.KeyID == "" {
		return false, nil
	}
	return true, s.Store.DeleteKey(ctx, c.KeyID, s.Actor)
}

// DisplayName is the user's display name, for friendly names.
func (s *Service) DisplayName(ctx context.Context, email string) string {
	u, err := s.Store.GetUser(ctx, email)
	if err != nil {
		return ""
	}
	return u.DisplayName
}

// recordUser makes sure the mailbox is a user of the organisation, keeping
// its display name (a new non-empty name replaces the old one).
func (s *Service) recordUser(ctx context.Context, email, name string) error {
	u, err := s.Store.GetUser(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.Store.PutUser(ctx, store.User{Email: email, DisplayName: name, Status: store.UserActive}, s.Actor)
	case err != nil:
		return err
	case name != "" && name != u.DisplayName:
		u.DisplayName = name
		return s.Store.PutUser(ctx, *u, s.Actor)
	}
	return nil
}

// CheckImport says why Import would refuse cert (and key), without
// changing anything.
func (s *Service) CheckImport(ctx context.Context, cert *x509.Certificate, key crypto.PrivateKey) error {
	if cert.IsCA {
		return fmt.Errorf("%s is a CA certificate: CA certificates belong in the trust collection, not among mailbox certificates", cert.Subject)
	}
	if len(smimeEmails(cert)) == 0 {
		return fmt.Errorf("%s names no e-mail address", cert.Subject)
	}
	if _, err := s.Store.GetCertificate(ctx, Fingerprint(cert)); err == nil {
		return fmt.Errorf("%s (%s) is already here", cert.Subject, Fingerprint(cert)[:16])
	}
	if key != nil {
		pub, err := x509util.PublicKey(cert)
		if err != nil {
			return err
		}
		type eq interface{ Equal(crypto.PublicKey) bool }
		k, ok := publicKey(key).(eq)
		if !ok || !k.Equal(pub) {
			return fmt.Errorf("the private key does not belong to %s", cert.Subject)
		}
	}
	return nil
}

// Import keeps a mailbox certificate of another CA (third-party), and with
// its key (from a PKCS #12) makes it usable for signing and decryption.
// Nothing is stored unless everything is.
func (s *Service) Import(ctx context.Context, cert *x509.Certificate, key crypto.PrivateKey) error {
	if err := s.CheckImport(ctx, cert, key); err != nil {
		return err
	}
	keyID := ""
	if key != nil {
		keyID = "key-" + Fingerprint(cert)[:32]
		if err := s.putKey(ctx, keyID, key, "imported"); err != nil {
			return err
		}
	}
	if err := s.putCert(ctx, cert, usageOf(cert), "", keyID, true, "", store.SourceImported); err != nil {
		if keyID != "" {
			if derr := s.Store.DeleteKey(ctx, keyID, s.Actor); derr != nil {
				return fmt.Errorf("%w (and removing its key failed: %v)", err, derr)
			}
		}
		return err
	}
	return nil
}

// usageOf derives a usage from key usage bits.
func usageOf(c *x509.Certificate) string {
	sign := c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) != 0
	enc := c.KeyUsage&(x509.KeyUsageKeyEncipherment|x509.KeyUsageKeyAgreement) != 0
	switch {
	case sign && !enc:
		return store.UsageSign
	case enc && !sign:
		return store.UsageEncrypt
	}
	return store.UsageBoth
}

func smimeEmails(c *x509.Certificate) []string { return smime.CertificateEmails(c) }
