package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// normHex lower-cases a hex string and drops ':' separators and spaces, so
// "AB:CD" and "abcd" name the same fingerprint or serial.
func normHex(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(":", "", " ", "").Replace(s)
}

// normFingerprint returns the canonical form of a SHA-256 fingerprint.
func normFingerprint(fp string) (string, error) {
	n := normHex(fp)
	if b, err := hex.DecodeString(n); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("%w: fingerprint %q is not SHA-256 hex", ErrInvalid, fp)
	}
	return n, nil
}

// normSerial returns the canonical form of a serial: lower-case hex without
// leading zeros ("0" for zero).
func normSerial(serial string) (string, error) {
	n := normHex(serial)
	if n == "" || strings.Trim(n, "0123456789abcdef") != "" {
		return "", fmt.Errorf("%w: serial %q is not hex", ErrInvalid, serial)
	}
	if n = strings.TrimLeft(n, "0"); n == "" {
		n = "0"
	}
	return n, nil
}

// validReason reports whether code is an RFC 5280 CRLReason a certificate
// can be revoked with (7 is unassigned; 8, removeFromCRL, only appears in
// delta CRLs).
func validReason(code int) bool { return code >= 0 && code <= 10 && code != 7 && code != 8 }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// normCertificate validates c and returns it in canonical form.
func normCertificate(c Certificate) (Certificate, error) {
	if len(c.DER) == 0 {
		return c, fmt.Errorf("%w: no DER", ErrInvalid)
	}
	sum := sha256.Sum256(c.DER)
	fp := hex.EncodeToString(sum[:])
	if c.Fingerprint != "" && normHex(c.Fingerprint) != fp {
		return c, fmt.Errorf("%w: fingerprint %s does not match the DER (%s)", ErrInvalid, c.Fingerprint, fp)
	}
	c.Fingerprint = fp
	var err error
	if c.Serial, err = normSerial(c.Serial); err != nil {
		return c, err
	}
	if c.IssuerFingerprint != "" {
		if c.IssuerFingerprint, err = normFingerprint(c.IssuerFingerprint); err != nil {
			return c, err
		}
	}
	switch c.Usage {
	case UsageSign, UsageEncrypt, UsageBoth, UsageCARoot, UsageCAIssuing:
	default:
		return c, fmt.Errorf("%w: usage %q", ErrInvalid, c.Usage)
	}
	if c.NotBefore.IsZero() || c.NotAfter.IsZero() || !c.NotAfter.After(c.NotBefore) {
		return c, fmt.Errorf("%w: validity %v to %v", ErrInvalid, c.NotBefore, c.NotAfter)
	}
	switch c.Source {
	case "", SourceIssued, SourceImported, SourceContact, SourceHarvested, SourceSynced:
	default:
		return c, fmt.Errorf("%w: certificate source %q", ErrInvalid, c.Source)
	}
	switch c.Status {
	case "", StatusValid:
		c.Status, c.RevokedAt, c.RevocationReason = StatusValid, time.Time{}, 0
	case StatusRevoked:
		if c.RevokedAt.IsZero() || !validReason(c.RevocationReason) {
			return c, fmt.Errorf("%w: a revoked certificate needs a revocation time and reason", ErrInvalid)
		}
	default:
		return c, fmt.Errorf("%w: status %q", ErrInvalid, c.Status)
	}
	c.Email = strings.ToLower(c.Email)
	seen := map[string]bool{}
	var emails []string
	for _, e := range c.Emails {
		e = strings.ToLower(e)
		if e != "" && !seen[e] {
			seen[e] = true
			emails = append(emails, e)
		}
	}
	c.Emails = emails
	c.CreatedAt = nowIfZero(c.CreatedAt)
	return c, nil
}

// PutCertificate stores a new certificate. The audit entry records its
// serial, subject, address and usage, not its DER.
func (s *sqlStore) PutCertificate(ctx context.Context, c Certificate, actor string) error {
	c, err := normCertificate(c)
	if err != nil {
		return fmt.Errorf("store: put certificate %q: %w", c.Subject, err)
	}
	what := "put certificate " + c.Fingerprint
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	emails, err := json.Marshal(c.Emails)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	var keyID, revokedAt any
	if c.KeyID != "" {
		keyID = c.KeyID
	}
	if c.Status == StatusRevoked {
		revokedAt = c.RevokedAt.Unix()
	}
	return s.inTx(ctx, what, func(r runner) error {
		if dup, err := r.exists(ctx, `SELECT 1 FROM certificates WHERE fingerprint = ?`, c.Fingerprint); err != nil {
			return err
		} else if dup {
			return ErrExists
		}
		if c.IssuerFingerprint != "" {
			var other string
			err := r.queryRow(ctx, `SELECT fingerprint FROM certificates WHERE issuer_fingerprint = ? AND serial = ?`,
				c.IssuerFingerprint, c.Serial).Scan(&other)
			if err == nil {
				return fmt.Errorf("%w: serial %s from this issuer is certificate %s", ErrExists, c.Serial, other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if c.KeyID != "" {
			if ok, err := r.exists(ctx, `SELECT 1 FROM sealed_keys WHERE id = ?`, c.KeyID); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("key %q: %w", c.KeyID, ErrNotFound)
			}
		}
		if _, err := r.exec(ctx, `INSERT INTO certificates (fingerprint, serial, issuer, subject, email, emails,
			cert_usage, profile, not_before, not_after, der, key_id, third_party, status, revoked_at,
			revocation_reason, issuer_fingerprint, created_at, source)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.Fingerprint, c.Serial, c.Issuer, c.Subject, c.Email, string(emails),
			c.Usage, c.Profile, c.NotBefore.Unix(), c.NotAfter.Unix(), c.DER, keyID, b2i(c.ThirdParty),
			c.Status, revokedAt, c.RevocationReason, c.IssuerFingerprint, c.CreatedAt.Unix(), c.Source); err != nil {
			if r.d.isUnique(err) {
				return fmt.Errorf("%w: %v", ErrExists, err)
			}
			return err
		}
		for _, e := range c.Emails {
			if _, err := r.exec(ctx, `INSERT INTO certificate_emails (fingerprint, email) VALUES (?, ?)`,
				c.Fingerprint, e); err != nil {
				return err
			}
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionCertificatePut, Subject: c.Fingerprint,
			Detail: fmt.Sprintf("serial=%s email=%s usage=%s third_party=%t source=%s subject=%q",
				c.Serial, c.Email, c.Usage, c.ThirdParty, c.Source, c.Subject)})
	})
}

const certColumns = `fingerprint, serial, issuer, subject, email, emails, cert_usage, profile,
	not_before, not_after, der, key_id, third_party, status, revoked_at, revocation_reason,
	issuer_fingerprint, created_at, source`

func scanCert(sc interface{ Scan(...any) error }) (*Certificate, error) {
	var c Certificate
	var emails string
	var nb, na, created int64
	var third int
	var keyID sql.NullString
	var revoked sql.NullInt64
	if err := sc.Scan(&c.Fingerprint, &c.Serial, &c.Issuer, &c.Subject, &c.Email, &emails, &c.Usage,
		&c.Profile, &nb, &na, &c.DER, &keyID, &third, &c.Status, &revoked, &c.RevocationReason,
		&c.IssuerFingerprint, &created, &c.Source); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(emails), &c.Emails); err != nil {
		return nil, fmt.Errorf("certificate %s: stored addresses: %w", c.Fingerprint, err)
	}
	c.NotBefore, c.NotAfter, c.CreatedAt = fromUnix(nb), fromUnix(na), fromUnix(created)
	c.KeyID = keyID.String
	c.ThirdParty = third != 0
	c.RevokedAt = nullUnix(revoked)
	return &c, nil
}

// GetCertificate returns a certificate by fingerprint.
func (s *sqlStore) GetCertificate(ctx context.Context, fingerprint string) (*Certificate, error) {
	fp, err := normFingerprint(fingerprint)
	if err != nil {
		return nil, fmt.Errorf("store: get certificate: %w", err)
	}
	c, err := scanCert(s.read().queryRow(ctx, `SELECT `+certColumns+` FROM certificates WHERE fingerprint = ?`, fp))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: certificate %s: %w", fp, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get certificate %s: %w", fp, err)
	}
	return c, nil
}

// GetCertificateBySerial returns the certificate an issuer issued with a serial.
func (s *sqlStore) GetCertificateBySerial(ctx context.Context, issuerFingerprint, serialHex string) (*Certificate, error) {
	issuer, err := normFingerprint(issuerFingerprint)
	if err != nil {
		return nil, fmt.Errorf("store: get certificate by serial: issuer: %w", err)
	}
	serial, err := normSerial(serialHex)
	if err != nil {
		return nil, fmt.Errorf("store: get certificate by serial: %w", err)
	}
	c, err := scanCert(s.read().queryRow(ctx, `SELECT `+certColumns+` FROM certificates
		WHERE issuer_fingerprint = ? AND serial = ?`, issuer, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: certificate with serial %s from issuer %s: %w", serial, issuer, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get certificate by serial %s: %w", serial, err)
	}
	return c, nil
}

// ListCertificates returns the certificates matching f, ordered by e-mail,
// then NotBefore, then fingerprint.
func (s *sqlStore) ListCertificates(ctx context.Context, f CertFilter) ([]Certificate, error) {
	q := `SELECT ` + certColumns + ` FROM certificates WHERE 1 = 1`
	var args []any
	if f.Email != "" {
		e := strings.ToLower(f.Email)
		q += ` AND (email = ? OR fingerprint IN (SELECT fingerprint FROM certificate_emails WHERE email = ?))`
		args = append(args, e, e)
	}
	if f.Usage != "" {
		q += ` AND cert_usage = ?`
		args = append(args, f.Usage)
	}
	if !f.IncludeRevoked {
		q += ` AND status = ?`
		args = append(args, StatusValid)
	}
	if f.IssuerFingerprint != "" {
		issuer, err := normFingerprint(f.IssuerFingerprint)
		if err != nil {
			return nil, fmt.Errorf("store: list certificates: issuer: %w", err)
		}
		q += ` AND issuer_fingerprint = ?`
		args = append(args, issuer)
	}
	if f.ThirdParty != nil {
		q += ` AND third_party = ?`
		args = append(args, b2i(*f.ThirdParty))
	}
	if f.Source != "" {
		q += ` AND source = ?`
		args = append(args, f.Source)
	}
	q += ` ORDER BY email, not_before, fingerprint`
	rows, err := s.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list certificates: %w", err)
	}
	defer rows.Close()
	var out []Certificate
	for rows.Next() {
		c, err := scanCert(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list certificates: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list certificates: %w", err)
	}
	return out, nil
}

// RevokeCertificate marks a certificate revoked.
func (s *sqlStore) RevokeCertificate(ctx context.Context, fingerprint string, reason int, at time.Time, actor string) error {
	fp, err := normFingerprint(fingerprint)
	if err != nil {
		return fmt.Errorf("store: revoke certificate: %w", err)
	}
	what := "revoke certificate " + fp
	if !validReason(reason) {
		return fmt.Errorf("store: %s: %w: revocation reason %d", what, ErrInvalid, reason)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	at = nowIfZero(at).UTC().Truncate(time.Second)
	return s.inTx(ctx, what, func(r runner) error {
		var status, serial string
		err := r.queryRow(ctx, `SELECT status, serial FROM certificates WHERE fingerprint = ?`, fp).Scan(&status, &serial)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if status == StatusRevoked {
			return ErrAlreadyRevoked
		}
		res, err := r.exec(ctx, `UPDATE certificates SET status = ?, revoked_at = ?, revocation_reason = ?
			WHERE fingerprint = ? AND status = ?`, StatusRevoked, at.Unix(), reason, fp, StatusValid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return ErrAlreadyRevoked
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionCertificateRevoke, Subject: fp,
			Detail: fmt.Sprintf("serial=%s reason=%d revoked_at=%s", serial, reason, at.Format(time.RFC3339))})
	})
}

// ListRevoked returns what a CRL from the issuer must list.
func (s *sqlStore) ListRevoked(ctx context.Context, issuerFingerprint string) ([]Revoked, error) {
	issuer, err := normFingerprint(issuerFingerprint)
	if err != nil {
		return nil, fmt.Errorf("store: list revoked: issuer: %w", err)
	}
	rows, err := s.read().query(ctx, `SELECT serial, fingerprint, revoked_at, revocation_reason, not_after
		FROM certificates WHERE issuer_fingerprint = ? AND status = ? ORDER BY revoked_at, serial`,
		issuer, StatusRevoked)
	if err != nil {
		return nil, fmt.Errorf("store: list revoked: %w", err)
	}
	defer rows.Close()
	var out []Revoked
	for rows.Next() {
		var r Revoked
		var at, na int64
		if err := rows.Scan(&r.Serial, &r.Fingerprint, &at, &r.Reason, &na); err != nil {
			return nil, fmt.Errorf("store: list revoked: %w", err)
		}
		r.RevokedAt, r.NotAfter = fromUnix(at), fromUnix(na)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list revoked: %w", err)
	}
	return out, nil
}
