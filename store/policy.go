package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// normScope checks and lower-cases "domain:D" or "user:ADDR".
func normScope(scope string) (string, error) {
	kind, v, ok := strings.Cut(strings.ToLower(strings.TrimSpace(scope)), ":")
	switch {
	case ok && kind == "domain" && v != "" && !strings.ContainsAny(v, "@ \t"):
		return kind + ":" + v, nil
	case ok && kind == "user":
		e, err := normEmail(v)
		if err != nil {
			return "", err
		}
		return kind + ":" + e, nil
	}
	return "", fmt.Errorf("%w: setting scope %q (want domain:DOMAIN or user:ADDRESS)", ErrInvalid, scope)
}

// SetScopedSetting sets a domain or user setting. The audit entry names the
// setting, not the value (a setting may hold a credential).
func (s *sqlStore) SetScopedSetting(ctx context.Context, scope, name, value, actor string) error {
	sc, err := normScope(scope)
	if err != nil {
		return fmt.Errorf("store: set scoped setting: %w", err)
	}
	what := fmt.Sprintf("set setting %s for %s", name, sc)
	if name == "" {
		return fmt.Errorf("store: %s: %w: empty name", what, ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		if _, err := r.exec(ctx, `INSERT INTO scoped_settings (scope, name, value, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			sc, name, value, time.Now().Unix()); err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionScopedSettingSet, Subject: sc + " " + name, Detail: "value set"})
	})
}

// DeleteScopedSetting removes a domain or user setting.
func (s *sqlStore) DeleteScopedSetting(ctx context.Context, scope, name, actor string) error {
	sc, err := normScope(scope)
	if err != nil {
		return fmt.Errorf("store: delete scoped setting: %w", err)
	}
	what := fmt.Sprintf("delete setting %s for %s", name, sc)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		res, err := r.exec(ctx, `DELETE FROM scoped_settings WHERE scope = ? AND name = ?`, sc, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionScopedSettingDel, Subject: sc + " " + name, Detail: "value removed"})
	})
}

// ListScopedSettings returns one scope's settings, or all.
func (s *sqlStore) ListScopedSettings(ctx context.Context, scope string) ([]ScopedSetting, error) {
	q := `SELECT scope, name, value, updated_at FROM scoped_settings`
	var args []any
	if scope != "" {
		sc, err := normScope(scope)
		if err != nil {
			return nil, fmt.Errorf("store: list scoped settings: %w", err)
		}
		q += ` WHERE scope = ?`
		args = append(args, sc)
	}
	rows, err := s.read().query(ctx, q+` ORDER BY scope, name`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list scoped settings: %w", err)
	}
	defer rows.Close()
	var out []ScopedSetting
	for rows.Next() {
		var ss ScopedSetting
		var at int64
		if err := rows.Scan(&ss.Scope, &ss.Name, &ss.Value, &at); err != nil {
			return nil, fmt.Errorf("store: list scoped settings: %w", err)
		}
		ss.UpdatedAt = fromUnix(at)
		out = append(out, ss)
	}
	return out, rows.Err()
}

// PutRule stores a new rule.
func (s *sqlStore) PutRule(ctx context.Context, pr PolicyRule, actor string) (int64, error) {
	if pr.Spec == "" {
		return 0, fmt.Errorf("store: put rule: %w: empty rule", ErrInvalid)
	}
	if err := checkActor(actor); err != nil {
		return 0, fmt.Errorf("store: put rule: %w", err)
	}
	var id int64
	err := s.inTx(ctx, "put rule", func(r runner) error {
		if err := r.queryRow(ctx, `INSERT INTO policy_rules (priority, spec, created_at) VALUES (?, ?, ?) RETURNING id`,
			pr.Priority, pr.Spec, nowIfZero(pr.CreatedAt).Unix()).Scan(&id); err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionRulePut, Subject: fmt.Sprintf("rule %d", id),
			Detail: fmt.Sprintf("priority=%d %s", pr.Priority, pr.Spec)})
	})
	return id, err
}

// ListRules returns the rules in evaluation order.
func (s *sqlStore) ListRules(ctx context.Context) ([]PolicyRule, error) {
	rows, err := s.read().query(ctx, `SELECT id, priority, spec, created_at FROM policy_rules ORDER BY priority, id`)
	if err != nil {
		return nil, fmt.Errorf("store: list rules: %w", err)
	}
	defer rows.Close()
	var out []PolicyRule
	for rows.Next() {
		var pr PolicyRule
		var at int64
		if err := rows.Scan(&pr.ID, &pr.Priority, &pr.Spec, &at); err != nil {
			return nil, fmt.Errorf("store: list rules: %w", err)
		}
		pr.CreatedAt = fromUnix(at)
		out = append(out, pr)
	}
	return out, rows.Err()
}

// DeleteRule removes a rule.
func (s *sqlStore) DeleteRule(ctx context.Context, id int64, actor string) error {
	what := fmt.Sprintf("delete rule %d", id)
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return s.inTx(ctx, what, func(r runner) error {
		res, err := r.exec(ctx, `DELETE FROM policy_rules WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionRuleDelete, Subject: fmt.Sprintf("rule %d", id), Detail: "deleted"})
	})
}

// SetCapabilities records an address's announced ciphers.
func (s *sqlStore) SetCapabilities(ctx context.Context, email string, ciphers []string, actor string) error {
	e, err := normEmail(email)
	if err != nil {
		return fmt.Errorf("store: set capabilities: %w", err)
	}
	what := "set capabilities of " + e
	if err := checkActor(actor); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	for _, c := range ciphers {
		if c == "" || strings.ContainsAny(c, ", \t") {
			return fmt.Errorf("store: %s: %w: cipher name %q", what, ErrInvalid, c)
		}
	}
	list := strings.Join(ciphers, ",")
	return s.inTx(ctx, what, func(r runner) error {
		var old string
		err := r.queryRow(ctx, `SELECT ciphers FROM capabilities WHERE email = ?`, e).Scan(&old)
		if err == nil && old == list {
			_, err := r.exec(ctx, `UPDATE capabilities SET updated_at = ? WHERE email = ?`, time.Now().Unix(), e)
			return err // unchanged: no audit entry for a refresh
		}
		if _, err := r.exec(ctx, `INSERT INTO capabilities (email, ciphers, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (email) DO UPDATE SET ciphers = excluded.ciphers, updated_at = excluded.updated_at`,
			e, list, time.Now().Unix()); err != nil {
			return err
		}
		return r.audit(ctx, AuditEntry{Actor: actor, Action: ActionCapabilitiesSet, Subject: e, Detail: "ciphers=" + list})
	})
}

// Capabilities returns an address's announced ciphers.
func (s *sqlStore) Capabilities(ctx context.Context, email string) ([]string, time.Time, error) {
	e, err := normEmail(email)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: capabilities: %w", err)
	}
	var list string
	var at int64
	err = s.read().queryRow(ctx, `SELECT ciphers, updated_at FROM capabilities WHERE email = ?`, e).Scan(&list, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, fmt.Errorf("store: capabilities of %s: %w", e, ErrNotFound)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: capabilities of %s: %w", e, err)
	}
	out := []string{}
	if list != "" {
		out = strings.Split(list, ",")
	}
	return out, fromUnix(at), nil
}
