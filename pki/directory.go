package pki

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-smime/signet/store"
)

// ErrNotOurDomain: a mailbox or alias outside the organisation's domains.
var ErrNotOurDomain = errors.New("not in the organisation's domains")

// CheckDomain says whether addr is in one of the CA's domains.
func (s *Service) CheckDomain(ctx context.Context, addr string) error {
	info, err := s.Store.GetCA(ctx)
	if err != nil {
		return err
	}
	if !inDomains(strings.ToLower(addr), info.Domains) {
		return fmt.Errorf("%s: %w (%s)", addr, ErrNotOurDomain, strings.Join(info.Domains, ", "))
	}
	return nil
}

// PutExternalCertificate stores a certificate issued by another CA, without
// a key, for the addresses it names: a contact's (source
// store.SourceContact), one read from an upstream directory
// (store.SourceSynced) or one harvested from signed mail
// (store.SourceHarvested). A certificate already stored is left as it is
// (added reports false).
func (s *Service) PutExternalCertificate(ctx context.Context, cert *x509.Certificate, source string) (added bool, err error) {
	if _, err := s.Store.GetCertificate(ctx, Fingerprint(cert)); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	if len(smimeEmails(cert)) == 0 {
		return false, fmt.Errorf("certificate %q names no e-mail address", cert.Subject)
	}
	if err := s.putCert(ctx, cert, usageOf(cert), "", "", true, "", source); err != nil {
		return false, err
	}
	return true, nil
}

// AddContact records an external correspondent with its certificates. Each
// certificate must name the address (subjectAltName rfc822Name or subject
// emailAddress). The address may not be one of the organisation's
// mailboxes, groups or aliases.
func (s *Service) AddContact(ctx context.Context, addr, name string, certs []*x509.Certificate) error {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if u, alias, err := s.Store.ResolveAddress(ctx, addr); err == nil {
		switch {
		case alias:
			return fmt.Errorf("%s is an alias of %s: %w", addr, u.Email, store.ErrExists)
		case u.Kind != store.KindContact:
			return fmt.Errorf("%s is a %s, not a contact: %w", addr, u.Kind, store.ErrExists)
		}
		if name == "" {
			name = u.DisplayName
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	for _, c := range certs {
		if !slices.Contains(smimeEmails(c), addr) {
			return fmt.Errorf("certificate %q (serial %x) does not name %s (it names %s)", c.Subject, c.SerialNumber,
				addr, strings.Join(smimeEmails(c), ", "))
		}
	}
	if err := s.Store.PutUser(ctx, store.User{Email: addr, DisplayName: name, Kind: store.KindContact}, s.Actor); err != nil {
		return err
	}
	for _, c := range certs {
		if _, err := s.PutExternalCertificate(ctx, c, store.SourceContact); err != nil {
			return err
		}
	}
	return nil
}
