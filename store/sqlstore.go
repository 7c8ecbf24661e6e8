package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// sqlStore is the Store implementation shared by the SQL dialects. All SQL
// goes through runner, which applies dialect.rebind.
type sqlStore struct {
	db *sql.DB
	d  dialect
}

// runner executes queries on a *sql.DB or *sql.Tx, rebinding placeholders.
type runner struct {
	q querier
	d dialect
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.d.rebind(query), args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.d.rebind(query), args...)
}

// exists reports whether query returns a row.
func (r runner) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var one int
	err := r.queryRow(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// audit writes an audit entry (inside the caller's transaction).
func (r runner) audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := r.exec(ctx, `INSERT INTO audit (at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)`,
		e.At.Unix(), e.Actor, e.Action, e.Subject, e.Detail)
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// read returns a runner on the pool, for single-statement reads.
func (s *sqlStore) read() runner { return runner{s.db, s.d} }

// inTx runs fn in a write transaction, committing if it returns nil and
// rolling back otherwise. what prefixes errors: "store: what: …".
func (s *sqlStore) inTx(ctx context.Context, what string, fn func(r runner) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := fn(runner{tx, s.d}); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return nil
}

// Close closes the database.
func (s *sqlStore) Close() error { return s.db.Close() }

func checkActor(actor string) error {
	if actor == "" {
		return fmt.Errorf("%w: actor is required", ErrInvalid)
	}
	return nil
}

// fromUnix converts stored unix seconds to a UTC time.
func fromUnix(sec int64) time.Time { return time.Unix(sec, 0).UTC() }

// nullUnix converts a nullable stored time; NULL is the zero time.
func nullUnix(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromUnix(v.Int64)
}

func nowIfZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// GetSetting returns a setting's value; ok is false when it is not set.
func (s *sqlStore) GetSetting(ctx context.Context, name string) (string, bool, error) {
	var v string
	err := s.read().queryRow(ctx, `SELECT value FROM settings WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: get setting %q: %w", name, err)
	}
	return v, true, nil
}

// SetSetting creates or replaces a setting. The audit entry records the
// name, not the value.
func (s *sqlStore) SetSetting(ctx context.Context, name, value, actor string) error {
	what := fmt.Sprintf("set setting %q", name)
	if name == "" {
		return fmt.Errorf("store: %s: %w: empty name", what, ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		had, err := r.exists(ctx, `SELECT 1 FROM settings WHERE name = ?`, name)
		if err != nil {
			return err
		}
		now := time.Now()
		if _, err := r.exec(ctx, `INSERT INTO settings (name, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			name, value, now.Unix()); err != nil {
			return err
		}
		detail := "created"
		if had {
			detail = "updated"
		}
		return r.audit(ctx, AuditEntry{At: now, Actor: actor, Action: ActionSettingSet, Subject: name, Detail: detail})
	})
}

// ListSettings returns all settings ordered by name.
func (s *sqlStore) ListSettings(ctx context.Context) ([]Setting, error) {
	rows, err := s.read().query(ctx, `SELECT name, value, updated_at FROM settings ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list settings: %w", err)
	}
	defer rows.Close()
	var out []Setting
	for rows.Next() {
		var st Setting
		var at int64
		if err := rows.Scan(&st.Name, &st.Value, &at); err != nil {
			return nil, fmt.Errorf("store: list settings: %w", err)
		}
		st.UpdatedAt = fromUnix(at)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list settings: %w", err)
	}
	return out, nil
}

// PutKey stores a new sealed key. The audit entry records its algorithm,
// backend and label, never the sealed blobs.
func (s *sqlStore) PutKey(ctx context.Context, k SealedKey, actor string) error {
	what := fmt.Sprintf("put key %q", k.ID)
	if err := validateKey(k); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	k.CreatedAt = nowIfZero(k.CreatedAt)
	return s.inTx(ctx, what, func(r runner) error {
		taken, err := r.exists(ctx, `SELECT 1 FROM sealed_keys WHERE id = ?`, k.ID)
		if err != nil {
			return err
		}
		if taken {
			return ErrExists
		}
		if _, err := r.exec(ctx, `INSERT INTO sealed_keys (id, algorithm, sealed, wrapped, backend, label, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Algorithm, k.Sealed, k.Wrapped, k.Backend, k.Label, k.CreatedAt.Unix()); err != nil {
			if r.d.isUnique(err) {
				return ErrExists
			}
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionKeyPut, Subject: k.ID,
			Detail: fmt.Sprintf("algorithm=%s backend=%s label=%q", k.Algorithm, k.Backend, k.Label)})
	})
}

func validateKey(k SealedKey) error {
	switch {
	case k.ID == "":
		return fmt.Errorf("%w: empty key id", ErrInvalid)
	case k.Algorithm == "":
		return fmt.Errorf("%w: empty algorithm", ErrInvalid)
	case k.Backend != BackendSoft && k.Backend != BackendPKCS11:
		return fmt.Errorf("%w: backend %q (want %q or %q)", ErrInvalid, k.Backend, BackendSoft, BackendPKCS11)
	case k.Backend == BackendSoft && (len(k.Sealed) == 0 || len(k.Wrapped) == 0):
		return fmt.Errorf("%w: a soft key needs both the sealed key and the wrapped data key", ErrInvalid)
	}
	return nil
}

const keyColumns = `id, algorithm, sealed, wrapped, backend, label, created_at`

func scanKey(sc interface{ Scan(...any) error }) (*SealedKey, error) {
	var k SealedKey
	var at int64
	if err := sc.Scan(&k.ID, &k.Algorithm, &k.Sealed, &k.Wrapped, &k.Backend, &k.Label, &at); err != nil {
		return nil, err
	}
	k.CreatedAt = fromUnix(at)
	return &k, nil
}

// GetKey returns a sealed key.
func (s *sqlStore) GetKey(ctx context.Context, id string) (*SealedKey, error) {
	k, err := scanKey(s.read().queryRow(ctx, `SELECT `+keyColumns+` FROM sealed_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: key %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get key %q: %w", id, err)
	}
	return k, nil
}

// ListKeys returns all sealed keys ordered by id.
func (s *sqlStore) ListKeys(ctx context.Context) ([]SealedKey, error) {
	rows, err := s.read().query(ctx, `SELECT `+keyColumns+` FROM sealed_keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	defer rows.Close()
	var out []SealedKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list keys: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list keys: %w", err)
	}
	return out, nil
}

// DeleteKey removes a sealed key; certificates that referred to it keep
// their record with KeyID "".
func (s *sqlStore) DeleteKey(ctx context.Context, id, actor string) error {
	what := fmt.Sprintf("delete key %q", id)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		var n int
		if err := r.queryRow(ctx, `SELECT COUNT(*) FROM certificates WHERE key_id = ?`, id).Scan(&n); err != nil {
			return err
		}
		res, err := r.exec(ctx, `DELETE FROM sealed_keys WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if gone, err := res.RowsAffected(); err != nil {
			return err
		} else if gone == 0 {
			return ErrNotFound
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionKeyDelete, Subject: id,
			Detail: fmt.Sprintf("certificates detached=%d", n)})
	})
}

// Audit records an entry for an event the store does not see itself.
func (s *sqlStore) Audit(ctx context.Context, e AuditEntry) error {
	if err := checkActor(e.Actor); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	if e.Action == "" {
		return fmt.Errorf("store: audit: %w: action is required", ErrInvalid)
	}
	if err := s.read().audit(ctx, e); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// ListAudit returns the entries matching f, oldest first unless f.Newest.
func (s *sqlStore) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, action, subject, detail FROM audit WHERE 1 = 1`
	var args []any
	if !f.Since.IsZero() {
		q += ` AND at >= ?`
		args = append(args, f.Since.Unix())
	}
	if f.Action != "" {
		q += ` AND action = ?`
		args = append(args, f.Action)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if f.Newest {
		q += ` ORDER BY id DESC`
	} else {
		q += ` ORDER BY id`
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("store: list audit: %w: negative limit", ErrInvalid)
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: list audit: %w", err)
		}
		e.At = fromUnix(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list audit: %w", err)
	}
	return out, nil
}
