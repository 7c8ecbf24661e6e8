package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// normEmail returns an address in canonical (lower-case) form, or
// ErrInvalid unless it has exactly one @ with text on both sides and no
// spaces or control characters.
func normEmail(email string) (string, error) {
	e := strings.ToLower(email)
	local, domain, ok := strings.Cut(e, "@")
	switch {
	case e == "":
		return "", fmt.Errorf("%w: empty e-mail address", ErrInvalid)
	case !ok || strings.Contains(domain, "@"):
		return "", fmt.Errorf("%w: e-mail address %q must contain exactly one @", ErrInvalid, email)
	case local == "" || domain == "":
		return "", fmt.Errorf("%w: e-mail address %q needs a name before the @ and a domain after it", ErrInvalid, email)
	case strings.ContainsFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", fmt.Errorf("%w: e-mail address %q contains a space or control character", ErrInvalid, email)
	}
	return e, nil
}

// checkUserStatus accepts UserActive, UserDisabled and, if allowEmpty, "".
func checkUserStatus(status string, allowEmpty bool) error {
	switch status {
	case UserActive, UserDisabled:
		return nil
	case "":
		if allowEmpty {
			return nil
		}
	}
	return fmt.Errorf("%w: user status %q (want %q or %q)", ErrInvalid, status, UserActive, UserDisabled)
}

// checkKind accepts the recipient kinds and, if allowEmpty, "".
func checkKind(kind string, allowEmpty bool) error {
	switch kind {
	case KindMailbox, KindContact, KindGroup:
		return nil
	case "":
		if allowEmpty {
			return nil
		}
	}
	return fmt.Errorf("%w: recipient kind %q (want %q, %q or %q)", ErrInvalid, kind, KindMailbox, KindContact, KindGroup)
}

// escapeLike escapes the LIKE wildcards in s for `LIKE ? ESCAPE '\'`.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

const userColumns = `email, display_name, status, kind, source, external_id, pref_sign, pref_encrypt,
	created_at, updated_at`

func scanUser(sc interface{ Scan(...any) error }) (*User, error) {
	var u User
	var created, updated int64
	if err := sc.Scan(&u.Email, &u.DisplayName, &u.Status, &u.Kind, &u.Source, &u.ExternalID,
		&u.PreferredSign, &u.PreferredEncrypt, &created, &updated); err != nil {
		return nil, err
	}
	u.CreatedAt, u.UpdatedAt = fromUnix(created), fromUnix(updated)
	return &u, nil
}

// PutUser creates or updates a user. The audit entry records whether the
// user was created or updated, its display name and status, and for an
// update the previous ones.
func (s *sqlStore) PutUser(ctx context.Context, u User, actor string) error {
	email, err := normEmail(u.Email)
	if err != nil {
		return fmt.Errorf("store: put user: %w", err)
	}
	what := fmt.Sprintf("put user %q", email)
	if err := checkUserStatus(u.Status, true); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := checkKind(u.Kind, true); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	now := time.Now()
	created := nowIfZero(u.CreatedAt)
	return s.inTx(ctx, what, func(r runner) error {
		old, err := scanUser(r.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, email))
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var owner string
		err = r.queryRow(ctx, `SELECT email FROM aliases WHERE address = ?`, email).Scan(&owner)
		if err == nil {
			return fmt.Errorf("%w: %s is an alias of %s", ErrExists, email, owner)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		keep := func(v, def string, get func(*User) string) string {
			switch {
			case v != "":
				return v
			case old != nil:
				return get(old)
			}
			return def
		}
		status := keep(u.Status, UserActive, func(o *User) string { return o.Status })
		kind := keep(u.Kind, KindMailbox, func(o *User) string { return o.Kind })
		source := keep(u.Source, "", func(o *User) string { return o.Source })
		extID := keep(u.ExternalID, "", func(o *User) string { return o.ExternalID })
		if old != nil && old.Kind == KindGroup && kind != KindGroup {
			if _, err := r.exec(ctx, `DELETE FROM group_members WHERE group_email = ?`, email); err != nil {
				return err
			}
		}
		if _, err := r.exec(ctx, `INSERT INTO users (email, display_name, status, kind, source, external_id,
				created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (email) DO UPDATE SET
				display_name = excluded.display_name,
				status = excluded.status,
				kind = excluded.kind,
				source = excluded.source,
				external_id = excluded.external_id,
				updated_at = excluded.updated_at`,
			email, u.DisplayName, status, kind, source, extID, created.Unix(), now.Unix()); err != nil {
			return err
		}
		detail := fmt.Sprintf("created display_name=%q status=%s kind=%s", u.DisplayName, status, kind)
		if old != nil {
			detail = fmt.Sprintf("updated display_name=%q status=%s kind=%s (was display_name=%q status=%s kind=%s)",
				u.DisplayName, status, kind, old.DisplayName, old.Status, old.Kind)
		}
		if source != "" {
			detail += " source=" + source
		}
		return r.audit(ctx, AuditEntry{At: now, Actor: actor, Action: ActionUserPut, Subject: email, Detail: detail})
	})
}

// GetUser returns a user by address.
func (s *sqlStore) GetUser(ctx context.Context, email string) (*User, error) {
	e, err := normEmail(email)
	if err != nil {
		return nil, fmt.Errorf("store: get user: %w", err)
	}
	u, err := scanUser(s.read().queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, e))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: user %q: %w", e, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get user %q: %w", e, err)
	}
	if u.Aliases, err = aliasesOf(ctx, s.read(), e); err != nil {
		return nil, fmt.Errorf("store: get user %q: %w", e, err)
	}
	return u, nil
}

// ListUsers returns the users matching f, ordered by address.
func (s *sqlStore) ListUsers(ctx context.Context, f UserFilter) ([]User, error) {
	if err := checkUserStatus(f.Status, true); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	if err := checkKind(f.Kind, true); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("store: list users: %w: negative limit", ErrInvalid)
	}
	q := `SELECT ` + userColumns + ` FROM users WHERE 1 = 1`
	var args []any
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.Source != "" {
		q += ` AND source = ?`
		args = append(args, f.Source)
	}
	if f.Prefix != "" {
		// Addresses are stored in lower case and the pattern is lower-cased,
		// so SQLite's case-insensitive LIKE and PostgreSQL's case-sensitive
		// one give the same answer.
		q += ` AND email LIKE ? ESCAPE '\'`
		args = append(args, escapeLike(strings.ToLower(f.Prefix))+"%")
	}
	q += ` ORDER BY email`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.read().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	rows.Close()
	if err := fillAliases(ctx, s.read(), out); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	return out, nil
}

// countUserCertificates counts the certificates, revoked or not, that name
// email as primary address or in their address list.
func countUserCertificates(ctx context.Context, r runner, email string) (int, error) {
	var n int
	err := r.queryRow(ctx, `SELECT COUNT(*) FROM certificates WHERE email = ?
		OR fingerprint IN (SELECT fingerprint FROM certificate_emails WHERE email = ?)`, email, email).Scan(&n)
	return n, err
}

// DisableUser sets a user's status to disabled; its certificates stay as
// they are. The audit entry records the previous status and how many
// certificates the user keeps.
func (s *sqlStore) DisableUser(ctx context.Context, email, actor string) error {
	e, err := normEmail(email)
	if err != nil {
		return fmt.Errorf("store: disable user: %w", err)
	}
	what := fmt.Sprintf("disable user %q", e)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	now := time.Now()
	return s.inTx(ctx, what, func(r runner) error {
		var was string
		err := r.queryRow(ctx, `SELECT status FROM users WHERE email = ?`, e).Scan(&was)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := r.exec(ctx, `UPDATE users SET status = ?, updated_at = ? WHERE email = ?`,
			UserDisabled, now.Unix(), e); err != nil {
			return err
		}
		n, err := countUserCertificates(ctx, r, e)
		if err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{At: now, Actor: actor, Action: ActionUserDisable, Subject: e,
			Detail: fmt.Sprintf("status=%s (was %s) certificates kept=%d", UserDisabled, was, n)})
	})
}

// DeleteUser removes a user who has no certificates in the store.
func (s *sqlStore) DeleteUser(ctx context.Context, email, actor string) error {
	e, err := normEmail(email)
	if err != nil {
		return fmt.Errorf("store: delete user: %w", err)
	}
	what := fmt.Sprintf("delete user %q", e)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		u, err := scanUser(r.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, e))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		n, err := countUserCertificates(ctx, r, e)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %s still has %d certificate(s) in the store (revoked ones count too); "+
				"a user with certificates cannot be deleted, disable it instead", ErrInvalid, e, n)
		}
		for _, q := range []string{
			`DELETE FROM aliases WHERE email = ?`,
			`DELETE FROM group_members WHERE group_email = ?`,
			`DELETE FROM users WHERE email = ?`,
		} {
			if _, err := r.exec(ctx, q, e); err != nil {
				return err
			}
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionUserDelete, Subject: e,
			Detail: fmt.Sprintf("display_name=%q status=%s", u.DisplayName, u.Status)})
	})
}
