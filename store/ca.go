package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SetCA creates or updates the CA record. The CRL number never goes down.
func (s *sqlStore) SetCA(ctx context.Context, ca CAInfo, actor string) error {
	const what = "set CA"
	var err error
	if ca.RootFingerprint, err = normFingerprint(ca.RootFingerprint); err != nil {
		return fmt.Errorf("store: %s: root: %w", what, err)
	}
	if ca.IssuingFingerprint, err = normFingerprint(ca.IssuingFingerprint); err != nil {
		return fmt.Errorf("store: %s: issuing: %w", what, err)
	}
	if ca.CRLNumber < 0 {
		return fmt.Errorf("store: %s: %w: negative CRL number", what, ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	domains := make([]string, 0, len(ca.Domains))
	for _, d := range ca.Domains {
		domains = append(domains, strings.ToLower(d))
	}
	dj, err := json.Marshal(domains)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	now := time.Now()
	created := nowIfZero(ca.CreatedAt)
	return s.inTx(ctx, what, func(r runner) error {
		for _, fp := range []string{ca.RootFingerprint, ca.IssuingFingerprint} {
			if ok, err := r.exists(ctx, `SELECT 1 FROM certificates WHERE fingerprint = ?`, fp); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("certificate %s: %w", fp, ErrNotFound)
			}
		}
		had, err := r.exists(ctx, `SELECT 1 FROM ca WHERE id = 1`)
		if err != nil {
			return err
		}
		if _, err := r.exec(ctx, `INSERT INTO ca (id, root_fingerprint, issuing_fingerprint, org, domains,
			public_url, crl_number, created_at, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET
				root_fingerprint = excluded.root_fingerprint,
				issuing_fingerprint = excluded.issuing_fingerprint,
				org = excluded.org,
				domains = excluded.domains,
				public_url = excluded.public_url,
				crl_number = CASE WHEN excluded.crl_number > ca.crl_number
					THEN excluded.crl_number ELSE ca.crl_number END,
				updated_at = excluded.updated_at`,
			ca.RootFingerprint, ca.IssuingFingerprint, ca.Org, string(dj), ca.PublicURL, ca.CRLNumber,
			created.Unix(), now.Unix()); err != nil {
			return err
		}
		op := "created"
		if had {
			op = "updated"
		}
		return r.audit(ctx, AuditEntry{At: now, Actor: actor, Action: ActionCASet, Subject: ca.IssuingFingerprint,
			Detail: fmt.Sprintf("%s root=%s issuing=%s org=%q domains=%s public_url=%s",
				op, ca.RootFingerprint, ca.IssuingFingerprint, ca.Org, strings.Join(domains, ","), ca.PublicURL)})
	})
}

// GetCA returns the CA record.
func (s *sqlStore) GetCA(ctx context.Context) (*CAInfo, error) {
	var ca CAInfo
	var domains string
	var created, updated int64
	err := s.read().queryRow(ctx, `SELECT root_fingerprint, issuing_fingerprint, org, domains, public_url,
		crl_number, created_at, updated_at FROM ca WHERE id = 1`).Scan(&ca.RootFingerprint,
		&ca.IssuingFingerprint, &ca.Org, &domains, &ca.PublicURL, &ca.CRLNumber, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: get CA: %w", ErrNotInitialized)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get CA: %w", err)
	}
	if err := json.Unmarshal([]byte(domains), &ca.Domains); err != nil {
		return nil, fmt.Errorf("store: get CA: stored domains: %w", err)
	}
	ca.CreatedAt, ca.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &ca, nil
}

// NextCRLNumber atomically increments the CRL number and returns it.
func (s *sqlStore) NextCRLNumber(ctx context.Context, actor string) (int64, error) {
	const what = "next CRL number"
	if err := checkActor(actor); err != nil {
		return 0, fmt.Errorf("store: %s: %w", what, err)
	}
	var n int64
	err := s.inTx(ctx, what, func(r runner) error {
		err := r.queryRow(ctx, `UPDATE ca SET crl_number = crl_number + 1 WHERE id = 1 RETURNING crl_number`).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotInitialized
		}
		if err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionCRLNumber, Subject: "crl",
			Detail: fmt.Sprintf("crl_number=%d", n)})
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
