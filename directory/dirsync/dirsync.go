// Package dirsync brings what an upstream directory (Active Directory,
// OpenLDAP) holds into Signet's store, and what Signet issued into the
// upstream directory.
//
// Apply takes a complete upstream.Snapshot and makes the store agree with
// it for the recipients that came from that directory (User.Source is the
// directory's URL and base): people become mailboxes (or contacts), with
// their display names, alias addresses and the certificates the directory
// holds (stored as third-party, source "synced"); groups become groups with
// their members. A recipient of that source no longer in the directory, or
// disabled there, is disabled here — never deleted — so its certificates
// stay for reading old mail. Recipients made in Signet (or synced from
// another directory) are never changed by a sync, except that a local
// mailbox with the same address as an upstream one is adopted (it keeps its
// certificates and keys).
package dirsync

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/signet-smime/signet/directory/upstream"
	"github.com/signet-smime/signet/pki"
	"github.com/signet-smime/signet/smime"
	"github.com/signet-smime/signet/store"
)

// Report says what Apply changed.
type Report struct {
	Source                      string
	Added, Updated              []string // recipients
	Disabled, Reenabled         []string
	Unchanged                   int
	CertificatesAdded           int
	Warnings                    []string // entries skipped and why
	Mailboxes, Contacts, Groups int      // in the snapshot
}

func (r *Report) warn(format string, a ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, a...))
}

// Apply makes the store agree with a complete snapshot of the directory
// named source.
func Apply(ctx context.Context, svc *pki.Service, source string, snap *upstream.Snapshot) (*Report, error) {
	if !snap.Complete {
		return nil, errors.New("dirsync: an incremental snapshot cannot show removals; apply a complete one")
	}
	rep := &Report{Source: source}
	st := svc.Store
	seen := map[string]bool{}

	// owner returns whether addr may be written by this sync: absent, ours
	// already, or a local recipient of the same kind (adopted).
	owner := func(addr, kind string) (old *store.User, ok bool, err error) {
		u, alias, err := st.ResolveAddress(ctx, addr)
		if errors.Is(err, store.ErrNotFound) {
			return nil, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		switch {
		case alias:
			rep.warn("%s: skipped, it is an alias of %s here", addr, u.Email)
			return nil, false, nil
		case u.Source != "" && u.Source != source:
			rep.warn("%s: skipped, it comes from another directory (%s)", addr, u.Source)
			return nil, false, nil
		case u.Kind != kind && u.Source == "":
			rep.warn("%s: skipped, it is a %s made here, the directory has a %s", addr, u.Kind, kind)
			return nil, false, nil
		}
		return u, true, nil
	}

	// put creates or updates a recipient; ok is false when it was skipped.
	// An unchanged recipient is counted only by the caller (a group may
	// still change its members).
	put := func(addr, name, kind, id string, disabled bool, aliases []string) (ok, changed bool, err error) {
		old, ok, err := owner(addr, kind)
		if err != nil || !ok {
			return false, false, err
		}
		seen[addr] = true
		status := store.UserActive
		if disabled {
			status = store.UserDisabled
		}
		var oldAliases []string
		if old != nil {
			oldAliases = old.Aliases
		}
		// Aliases another recipient holds are skipped with a warning.
		var keep []string
		for _, a := range aliases {
			u, _, err := st.ResolveAddress(ctx, a)
			if err == nil && u.Email != addr {
				rep.warn("%s: alias %s skipped, it belongs to %s", addr, a, u.Email)
				continue
			}
			keep = append(keep, strings.ToLower(a))
		}
		slices.Sort(keep)
		changed = old == nil || old.DisplayName != name || old.Status != status || old.Kind != kind ||
			old.Source != source || old.ExternalID != id || !slices.Equal(oldAliases, keep)
		if !changed {
			return true, false, nil
		}
		if err := st.PutUser(ctx, store.User{Email: addr, DisplayName: name, Kind: kind, Status: status,
			Source: source, ExternalID: id}, svc.Actor); err != nil {
			return false, false, err
		}
		if !slices.Equal(oldAliases, keep) {
			if err := st.SetAliases(ctx, addr, keep, svc.Actor); err != nil {
				rep.warn("%s: aliases not set: %v", addr, err)
			}
		}
		switch {
		case old == nil:
			rep.Added = append(rep.Added, addr)
		case old.Status != status && disabled:
			rep.Disabled = append(rep.Disabled, addr)
		case old.Status != status:
			rep.Reenabled = append(rep.Reenabled, addr)
		default:
			rep.Updated = append(rep.Updated, addr)
		}
		return true, true, nil
	}

	for _, p := range snap.People {
		if p.Mail == "" {
			continue
		}
		kind := store.KindMailbox
		if p.Contact {
			kind = store.KindContact
			rep.Contacts++
		} else {
			rep.Mailboxes++
		}
		ok, changed, err := put(p.Mail, p.DisplayName, kind, p.ID, p.Disabled, p.Aliases)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", p.Mail, err)
		}
		if !ok {
			continue
		}
		n := rep.CertificatesAdded
		for _, c := range p.Certs {
			certFor(ctx, svc, rep, append([]string{p.Mail}, p.Aliases...), c)
		}
		if !changed && n == rep.CertificatesAdded {
			rep.Unchanged++
		} else if !changed {
			rep.Updated = append(rep.Updated, p.Mail)
		}
	}
	for _, g := range snap.Groups {
		if g.Mail == "" {
			continue
		}
		rep.Groups++
		ok, changed, err := put(g.Mail, g.Name, store.KindGroup, g.ID, false, g.Aliases)
		if err != nil {
			return rep, fmt.Errorf("%s: %w", g.Mail, err)
		}
		if !ok {
			continue
		}
		members := slices.DeleteFunc(slices.Clone(g.Members), func(m string) bool { return m == g.Mail })
		old, err := st.GroupMembers(ctx, g.Mail)
		if err != nil {
			return rep, err
		}
		slices.Sort(members)
		members = slices.Compact(members)
		switch {
		case !slices.Equal(old, members):
			if err := st.SetGroupMembers(ctx, g.Mail, members, svc.Actor); err != nil {
				rep.warn("%s: members not set: %v", g.Mail, err)
			} else if !changed {
				rep.Updated = append(rep.Updated, g.Mail)
			}
		case !changed:
			rep.Unchanged++
		}
	}

	// Gone from the directory: disabled here, certificates kept.
	gone, err := st.ListUsers(ctx, store.UserFilter{Source: source, Status: store.UserActive})
	if err != nil {
		return rep, err
	}
	for _, u := range gone {
		if seen[u.Email] {
			continue
		}
		if err := st.DisableUser(ctx, u.Email, svc.Actor); err != nil {
			return rep, err
		}
		rep.Disabled = append(rep.Disabled, u.Email)
	}
	return rep, nil
}

// certFor stores a certificate the directory holds for a recipient (its
// addresses addrs, primary first) when it names one of them: an entry may
// carry anything, and a certificate for another address is never filed
// under this one. Expired certificates are not taken.
func certFor(ctx context.Context, svc *pki.Service, rep *Report, addrs []string, c *x509.Certificate) {
	names := smime.CertificateEmails(c)
	if !slices.ContainsFunc(addrs, func(a string) bool { return slices.Contains(names, a) }) {
		rep.warn("%s: certificate %q (serial %x) skipped, it does not name the address", addrs[0], c.Subject, c.SerialNumber)
		return
	}
	if time.Now().After(c.NotAfter) {
		rep.warn("%s: certificate serial %x skipped, it expired on %s", addrs[0], c.SerialNumber, c.NotAfter.Format("2006-01-02"))
		return
	}
	added, err := svc.PutExternalCertificate(ctx, c, store.SourceSynced)
	if err != nil {
		rep.warn("%s: certificate serial %x not stored: %v", addrs[0], c.SerialNumber, err)
		return
	}
	if added {
		rep.CertificatesAdded++
	}
}
