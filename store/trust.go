package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// normTrustCert validates c and returns it in canonical form.
func normTrustCert(c TrustCert) (TrustCert, error) {
	if len(c.DER) == 0 {
		return c, fmt.Errorf("%w: no DER", ErrInvalid)
	}
	sum := sha256.Sum256(c.DER)
	fp := hex.EncodeToString(sum[:])
	if c.Fingerprint != "" && normHex(c.Fingerprint) != fp {
		return c, fmt.Errorf("%w: fingerprint %s does not match the DER (%s)", ErrInvalid, c.Fingerprint, fp)
	}
	c.Fingerprint = fp
	switch c.Kind {
	case TrustAnchor, TrustIntermediate:
	default:
		return c, fmt.Errorf("%w: trust kind %q (want %q or %q)", ErrInvalid, c.Kind, TrustAnchor, TrustIntermediate)
	}
	if c.NotBefore.IsZero() || c.NotAfter.IsZero() || !c.NotAfter.After(c.NotBefore) {
		return c, fmt.Errorf("%w: validity %v to %v", ErrInvalid, c.NotBefore, c.NotAfter)
	}
	c.AddedAt = nowIfZero(c.AddedAt)
	return c, nil
}

// PutTrustCert adds a certificate to the trust collection. The audit entry
// records its kind, subject and source, not its DER.
func (s *sqlStore) PutTrustCert(ctx context.Context, c TrustCert, actor string) error {
	return s.PutTrustCerts(ctx, []TrustCert{c}, actor)
}

// PutTrustCerts adds certificates in one transaction: all or none.
func (s *sqlStore) PutTrustCerts(ctx context.Context, cs []TrustCert, actor string) error {
	for i := range cs {
		c, err := normTrustCert(cs[i])
		if err != nil {
			return fmt.Errorf("store: put trust certificate %q: %w", cs[i].Subject, err)
		}
		cs[i] = c
	}
	what := fmt.Sprintf("put %d trust certificate(s)", len(cs))
	if len(cs) == 1 {
		what = "put trust certificate " + cs[0].Fingerprint
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		for _, c := range cs {
			if dup, err := r.exists(ctx, `SELECT 1 FROM trust_certs WHERE fingerprint = ?`, c.Fingerprint); err != nil {
				return err
			} else if dup {
				return fmt.Errorf("%w: %s", ErrExists, c.Fingerprint)
			}
			if _, err := r.exec(ctx, `INSERT INTO trust_certs (fingerprint, subject, issuer, not_before, not_after,
			der, kind, label, source, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.Fingerprint, c.Subject, c.Issuer, c.NotBefore.Unix(), c.NotAfter.Unix(), c.DER, c.Kind,
				c.Label, c.Source, c.AddedAt.Unix()); err != nil {
				if r.d.isUnique(err) {
					return fmt.Errorf("%w: %v", ErrExists, err)
				}
				return err
			}
			if err := r.audit(ctx, AuditEntry{Actor: actor, Action: ActionTrustPut, Subject: c.Fingerprint,
				Detail: fmt.Sprintf("kind=%s subject=%q label=%q source=%q", c.Kind, c.Subject, c.Label, c.Source)}); err != nil {
				return err
			}
		}
		return nil
	})
}

const trustColumns = `fingerprint, subject, issuer, not_before, not_after, der, kind, label, source, added_at`

func scanTrustCert(sc interface{ Scan(...any) error }) (*TrustCert, error) {
	var c TrustCert
	var nb, na, added int64
	if err := sc.Scan(&c.Fingerprint, &c.Subject, &c.Issuer, &nb, &na, &c.DER, &c.Kind, &c.Label,
		&c.Source, &added); err != nil {
		return nil, err
	}
	c.NotBefore, c.NotAfter, c.AddedAt = fromUnix(nb), fromUnix(na), fromUnix(added)
	return &c, nil
}

// GetTrustCert returns a trust collection certificate by fingerprint.
func (s *sqlStore) GetTrustCert(ctx context.Context, fingerprint string) (*TrustCert, error) {
	fp, err := normFingerprint(fingerprint)
	if err != nil {
		return nil, fmt.Errorf("store: get trust certificate: %w", err)
	}
	c, err := scanTrustCert(s.read().queryRow(ctx, `SELECT `+trustColumns+` FROM trust_certs WHERE fingerprint = ?`, fp))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: trust certificate %s: %w", fp, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get trust certificate %s: %w", fp, err)
	}
	return c, nil
}

// ListTrustCerts returns the trust collection, earliest expiry first.
func (s *sqlStore) ListTrustCerts(ctx context.Context) ([]TrustCert, error) {
	rows, err := s.read().query(ctx, `SELECT `+trustColumns+` FROM trust_certs ORDER BY not_after, fingerprint`)
	if err != nil {
		return nil, fmt.Errorf("store: list trust certificates: %w", err)
	}
	defer rows.Close()
	var out []TrustCert
	for rows.Next() {
		c, err := scanTrustCert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list trust certificates: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list trust certificates: %w", err)
	}
	return out, nil
}

// DeleteTrustCert removes a certificate from the trust collection. The
// audit entry records its kind and subject.
func (s *sqlStore) DeleteTrustCert(ctx context.Context, fingerprint, actor string) error {
	fp, err := normFingerprint(fingerprint)
	if err != nil {
		return fmt.Errorf("store: delete trust certificate: %w", err)
	}
	what := "delete trust certificate " + fp
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		var kind, subject string
		err := r.queryRow(ctx, `SELECT kind, subject FROM trust_certs WHERE fingerprint = ?`, fp).Scan(&kind, &subject)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := r.exec(ctx, `DELETE FROM trust_certs WHERE fingerprint = ?`, fp); err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{At: time.Now(), Actor: actor, Action: ActionTrustDelete, Subject: fp,
			Detail: fmt.Sprintf("kind=%s subject=%q", kind, subject)})
	})
}
