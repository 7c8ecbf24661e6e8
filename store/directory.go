package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// aliasesOf returns one recipient's aliases, ordered.
func aliasesOf(ctx context.Context, r runner, email string) ([]string, error) {
	rows, err := r.query(ctx, `SELECT address FROM aliases WHERE email = ? ORDER BY address`, email)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// fillAliases sets the Aliases of every user in us with one query.
func fillAliases(ctx context.Context, r runner, us []User) error {
	if len(us) == 0 {
		return nil
	}
	idx := make(map[string]int, len(us))
	for i := range us {
		idx[us[i].Email] = i
	}
	rows, err := r.query(ctx, `SELECT email, address FROM aliases ORDER BY email, address`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e, a string
		if err := rows.Scan(&e, &a); err != nil {
			return err
		}
		if i, ok := idx[e]; ok {
			us[i].Aliases = append(us[i].Aliases, a)
		}
	}
	return rows.Err()
}

// normAddresses lower-cases, checks, de-duplicates and sorts addresses.
func normAddresses(in []string) ([]string, error) {
	seen := map[string]bool{}
	out := []string{}
	for _, a := range in {
		n, err := normEmail(a)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out, nil
}

// SetAliases replaces a recipient's aliases.
func (s *sqlStore) SetAliases(ctx context.Context, email string, aliases []string, actor string) error {
	e, err := normEmail(email)
	if err != nil {
		return fmt.Errorf("store: set aliases: %w", err)
	}
	what := fmt.Sprintf("set aliases of %q", e)
	as, err := normAddresses(aliases)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		if ok, err := r.exists(ctx, `SELECT 1 FROM users WHERE email = ?`, e); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
		old, err := aliasesOf(ctx, r, e)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a == e {
				return fmt.Errorf("%w: %s is the primary address, not an alias", ErrInvalid, a)
			}
			if ok, err := r.exists(ctx, `SELECT 1 FROM users WHERE email = ?`, a); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("%w: %s is a recipient's primary address", ErrExists, a)
			}
			var owner string
			err := r.queryRow(ctx, `SELECT email FROM aliases WHERE address = ?`, a).Scan(&owner)
			if err == nil && owner != e {
				return fmt.Errorf("%w: %s is already an alias of %s", ErrExists, a, owner)
			}
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if _, err := r.exec(ctx, `DELETE FROM aliases WHERE email = ?`, e); err != nil {
			return err
		}
		for _, a := range as {
			if _, err := r.exec(ctx, `INSERT INTO aliases (address, email) VALUES (?, ?)`, a, e); err != nil {
				return err
			}
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionAliasesSet, Subject: e,
			Detail: fmt.Sprintf("aliases=[%s] (was [%s])", strings.Join(as, " "), strings.Join(old, " "))})
	})
}

// ResolveAddress finds the recipient a primary address or alias belongs to.
func (s *sqlStore) ResolveAddress(ctx context.Context, addr string) (*User, bool, error) {
	a, err := normEmail(addr)
	if err != nil {
		return nil, false, fmt.Errorf("store: resolve address: %w", err)
	}
	r := s.read()
	u, err := scanUser(r.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, a))
	alias := false
	if errors.Is(err, sql.ErrNoRows) {
		alias = true
		u, err = scanUser(r.queryRow(ctx, `SELECT `+userColumns+` FROM users
			WHERE email = (SELECT email FROM aliases WHERE address = ?)`, a))
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, fmt.Errorf("store: address %q: %w", a, ErrNotFound)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: resolve address %q: %w", a, err)
	}
	if u.Aliases, err = aliasesOf(ctx, r, u.Email); err != nil {
		return nil, false, fmt.Errorf("store: resolve address %q: %w", a, err)
	}
	return u, alias, nil
}

// SetGroupMembers replaces a group's members.
func (s *sqlStore) SetGroupMembers(ctx context.Context, group string, members []string, actor string) error {
	g, err := normEmail(group)
	if err != nil {
		return fmt.Errorf("store: set group members: %w", err)
	}
	what := fmt.Sprintf("set members of group %q", g)
	ms, err := normAddresses(members)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		var kind string
		err := r.queryRow(ctx, `SELECT kind FROM users WHERE email = ?`, g).Scan(&kind)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if kind != KindGroup {
			return fmt.Errorf("%w: %s is a %s, not a group", ErrInvalid, g, kind)
		}
		for _, m := range ms {
			if m == g {
				return fmt.Errorf("%w: a group cannot be its own member", ErrInvalid)
			}
		}
		if _, err := r.exec(ctx, `DELETE FROM group_members WHERE group_email = ?`, g); err != nil {
			return err
		}
		for _, m := range ms {
			if _, err := r.exec(ctx, `INSERT INTO group_members (group_email, member) VALUES (?, ?)`, g, m); err != nil {
				return err
			}
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionMembersSet, Subject: g,
			Detail: fmt.Sprintf("%d member(s)", len(ms))})
	})
}

// GroupMembers returns a group's members.
func (s *sqlStore) GroupMembers(ctx context.Context, group string) ([]string, error) {
	g, err := normEmail(group)
	if err != nil {
		return nil, fmt.Errorf("store: group members: %w", err)
	}
	r := s.read()
	var kind string
	err = r.queryRow(ctx, `SELECT kind FROM users WHERE email = ?`, g).Scan(&kind)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: group %q: %w", g, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: group %q: %w", g, err)
	}
	if kind != KindGroup {
		return nil, fmt.Errorf("store: %s: %w: a %s, not a group", g, ErrInvalid, kind)
	}
	rows, err := r.query(ctx, `SELECT member FROM group_members WHERE group_email = ? ORDER BY member`, g)
	if err != nil {
		return nil, fmt.Errorf("store: group %q: %w", g, err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, fmt.Errorf("store: group %q: %w", g, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetPreferred records a recipient's preferred certificate for a usage.
func (s *sqlStore) SetPreferred(ctx context.Context, email, usage, fingerprint, actor string) error {
	e, err := normEmail(email)
	if err != nil {
		return fmt.Errorf("store: set preferred certificate: %w", err)
	}
	what := fmt.Sprintf("set preferred %s certificate of %q", usage, e)
	col := map[string]string{UsageSign: "pref_sign", UsageEncrypt: "pref_encrypt"}[usage]
	if col == "" {
		return fmt.Errorf("store: %s: %w: usage must be %q or %q", what, ErrInvalid, UsageSign, UsageEncrypt)
	}
	fp := ""
	if fingerprint != "" {
		if fp, err = normFingerprint(fingerprint); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		if ok, err := r.exists(ctx, `SELECT 1 FROM users WHERE email = ?`, e); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
		if fp != "" {
			ok, err := r.exists(ctx, `SELECT 1 FROM certificates WHERE fingerprint = ? AND (email = ?
				OR fingerprint IN (SELECT fingerprint FROM certificate_emails WHERE email = ?))`, fp, e, e)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: no stored certificate %s names %s", ErrInvalid, fp, e)
			}
		}
		if _, err := r.exec(ctx, `UPDATE users SET `+col+` = ?, updated_at = ? WHERE email = ?`,
			fp, time.Now().Unix(), e); err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionPreferredSet, Subject: e,
			Detail: fmt.Sprintf("%s=%s", usage, fp)})
	})
}

// normAccount checks a directory account name.
func normAccount(name string) (string, error) {
	if name == "" || len(name) > 256 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", fmt.Errorf("%w: directory account name %q", ErrInvalid, name)
	}
	return name, nil
}

// PutDirectoryAccount creates or replaces an LDAP bind account.
func (s *sqlStore) PutDirectoryAccount(ctx context.Context, name, hash, actor string) error {
	n, err := normAccount(name)
	if err != nil {
		return fmt.Errorf("store: put directory account: %w", err)
	}
	what := fmt.Sprintf("put directory account %q", n)
	if hash == "" {
		return fmt.Errorf("store: %s: %w: empty password hash", what, ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO directory_accounts (name, password_hash, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET password_hash = excluded.password_hash`,
			n, hash, time.Now().Unix()); err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionAccountPut, Subject: n, Detail: "password set"})
	})
}

// DirectoryAccount returns an account's password hash.
func (s *sqlStore) DirectoryAccount(ctx context.Context, name string) (string, error) {
	var h string
	err := s.read().queryRow(ctx, `SELECT password_hash FROM directory_accounts WHERE name = ?`, name).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: directory account %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: directory account %q: %w", name, err)
	}
	return h, nil
}

// ListDirectoryAccounts returns the account names.
func (s *sqlStore) ListDirectoryAccounts(ctx context.Context) ([]string, error) {
	rows, err := s.read().query(ctx, `SELECT name FROM directory_accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: list directory accounts: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("store: list directory accounts: %w", err)
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// DeleteDirectoryAccount removes an account.
func (s *sqlStore) DeleteDirectoryAccount(ctx context.Context, name, actor string) error {
	what := fmt.Sprintf("delete directory account %q", name)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		res, err := r.exec(ctx, `DELETE FROM directory_accounts WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionAccountDelete, Subject: name})
	})
}

// ChangeMark returns the newest audit entry's id.
func (s *sqlStore) ChangeMark(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	if err := s.read().queryRow(ctx, `SELECT MAX(id) FROM audit`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: change mark: %w", err)
	}
	return v.Int64, nil
}
