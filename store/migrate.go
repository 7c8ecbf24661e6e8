package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// dialect is what differs between the databases the SQL code runs on.
type dialect struct {
	name string
	// rebind rewrites the `?` placeholders of a query for the database.
	rebind func(query string) string
	// types expands the non-portable column types in migrations.
	types *strings.Replacer
	// isUnique reports whether err is a unique or primary-key violation.
	isUnique func(err error) bool
}

// migration is one schema version: statements run in one transaction, in
// order, after which the version is recorded in schema_migrations.
type migration struct {
	version int
	stmts   []string
}

// migrations is the schema's history, oldest first. Never edit a released
// migration: append a new one. Statements use only types both SQLite and
// PostgreSQL accept, plus {bytes} and {id}, which dialect.types expands:
// for SQLite BLOB and INTEGER PRIMARY KEY (the rowid), for PostgreSQL BYTEA
// and BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY.
var migrations = []migration{
	{1, []string{
		`CREATE TABLE settings (
			name       TEXT PRIMARY KEY,
			value      TEXT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE sealed_keys (
			id         TEXT PRIMARY KEY,
			algorithm  TEXT NOT NULL,
			sealed     {bytes},
			wrapped    {bytes},
			backend    TEXT NOT NULL CHECK (backend IN ('soft', 'pkcs11')),
			label      TEXT NOT NULL,
			created_at BIGINT NOT NULL
		)`,
		`CREATE TABLE certificates (
			fingerprint        TEXT PRIMARY KEY,
			serial             TEXT NOT NULL,
			issuer             TEXT NOT NULL,
			subject            TEXT NOT NULL,
			email              TEXT NOT NULL,
			emails             TEXT NOT NULL,
			cert_usage         TEXT NOT NULL,
			profile            TEXT NOT NULL,
			not_before         BIGINT NOT NULL,
			not_after          BIGINT NOT NULL,
			der                {bytes} NOT NULL,
			key_id             TEXT REFERENCES sealed_keys (id) ON DELETE SET NULL,
			third_party        INTEGER NOT NULL,
			status             TEXT NOT NULL CHECK (status IN ('valid', 'revoked')),
			revoked_at         BIGINT,
			revocation_reason  INTEGER NOT NULL,
			issuer_fingerprint TEXT NOT NULL,
			created_at         BIGINT NOT NULL
		)`,
		`CREATE TABLE certificate_emails (
			fingerprint TEXT NOT NULL REFERENCES certificates (fingerprint),
			email       TEXT NOT NULL,
			PRIMARY KEY (fingerprint, email)
		)`,
		`CREATE TABLE ca (
			id                  INTEGER PRIMARY KEY CHECK (id = 1),
			root_fingerprint    TEXT NOT NULL REFERENCES certificates (fingerprint),
			issuing_fingerprint TEXT NOT NULL REFERENCES certificates (fingerprint),
			org                 TEXT NOT NULL,
			domains             TEXT NOT NULL,
			public_url          TEXT NOT NULL,
			crl_number          BIGINT NOT NULL,
			created_at          BIGINT NOT NULL,
			updated_at          BIGINT NOT NULL
		)`,
		`CREATE TABLE audit (
			id      {id},
			at      BIGINT NOT NULL,
			actor   TEXT NOT NULL CHECK (actor <> ''),
			action  TEXT NOT NULL CHECK (action <> ''),
			subject TEXT NOT NULL,
			detail  TEXT NOT NULL
		)`,
	}},
	{2, []string{
		`CREATE INDEX certificates_email ON certificates (email, not_before)`,
		`CREATE UNIQUE INDEX certificates_issuer_serial
			ON certificates (issuer_fingerprint, serial) WHERE issuer_fingerprint <> ''`,
		`CREATE INDEX certificate_emails_email ON certificate_emails (email)`,
		`CREATE INDEX audit_at ON audit (at)`,
	}},
	{3, []string{
		`CREATE TABLE users (
			email        TEXT PRIMARY KEY,
			display_name TEXT NOT NULL,
			status       TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
			created_at   BIGINT NOT NULL,
			updated_at   BIGINT NOT NULL
		)`,
	}},
	{4, []string{
		`CREATE TABLE trust_certs (
			fingerprint TEXT PRIMARY KEY,
			subject     TEXT NOT NULL,
			issuer      TEXT NOT NULL,
			not_before  BIGINT NOT NULL,
			not_after   BIGINT NOT NULL,
			der         {bytes} NOT NULL,
			kind        TEXT NOT NULL CHECK (kind IN ('anchor', 'intermediate')),
			label       TEXT NOT NULL,
			source      TEXT NOT NULL,
			added_at    BIGINT NOT NULL
		)`,
		`CREATE INDEX trust_certs_not_after ON trust_certs (not_after)`,
	}},
	{5, []string{
		// The directory: recipients of three kinds, their alias addresses,
		// group members, where each certificate came from, and the accounts
		// admin tools bind with to the LDAP server.
		`ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'mailbox'
			CHECK (kind IN ('mailbox', 'contact', 'group'))`,
		`ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE users ADD COLUMN external_id TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE users ADD COLUMN pref_sign TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE users ADD COLUMN pref_encrypt TEXT NOT NULL DEFAULT ''`,
		`CREATE TABLE aliases (
			address TEXT PRIMARY KEY,
			email   TEXT NOT NULL REFERENCES users (email)
		)`,
		`CREATE INDEX aliases_email ON aliases (email)`,
		`CREATE TABLE group_members (
			group_email TEXT NOT NULL REFERENCES users (email),
			member      TEXT NOT NULL,
			PRIMARY KEY (group_email, member)
		)`,
		`ALTER TABLE certificates ADD COLUMN source TEXT NOT NULL DEFAULT ''`,
		`CREATE TABLE directory_accounts (
			name          TEXT PRIMARY KEY,
			password_hash TEXT NOT NULL,
			created_at    BIGINT NOT NULL
		)`,
	}},
	{6, []string{
		// Settings per domain and per user, and the policy rules.
		`CREATE TABLE scoped_settings (
			scope      TEXT NOT NULL,
			name       TEXT NOT NULL,
			value      TEXT NOT NULL,
			updated_at BIGINT NOT NULL,
			PRIMARY KEY (scope, name)
		)`,
		`CREATE TABLE policy_rules (
			id          {id},
			priority    INTEGER NOT NULL,
			spec        TEXT NOT NULL,
			created_at  BIGINT NOT NULL
		)`,
	}},
	{7, []string{
		// The ciphers a correspondent announced (SMIMECapabilities) in a
		// validly signed message, per address: the gateway encrypts with
		// the strongest one they read.
		`CREATE TABLE capabilities (
			email      TEXT PRIMARY KEY,
			ciphers    TEXT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
	}},
}

// latestVersion is the schema version this build writes.
func latestVersion() int { return migrations[len(migrations)-1].version }

// migrate brings the schema to version target (latestVersion() in normal
// use; tests pass lower values to build old databases). Each migration runs
// in its own transaction, re-reading the version inside it, so two
// processes opening the same database at once apply each migration once.
func migrate(ctx context.Context, db *sql.DB, d dialect, target int) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    BIGINT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		done, err := migrateStep(ctx, db, d, target)
		if err != nil || done {
			return err
		}
	}
}

// migrateStep applies the next migration up to target; done reports that
// there was nothing left to do.
func migrateStep(ctx context.Context, db *sql.DB, d dialect, target int) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migrate: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	current, err := schemaVersion(ctx, tx, d)
	if err != nil {
		return false, err
	}
	if current > latestVersion() {
		return false, fmt.Errorf("database schema version %d is newer than this Signet understands (%d): upgrade Signet", current, latestVersion())
	}
	if current >= target {
		return true, nil
	}
	var next *migration
	for i := range migrations {
		if migrations[i].version > current {
			next = &migrations[i]
			break
		}
	}
	if next == nil {
		return false, fmt.Errorf("no migration to schema version %d", target)
	}
	for i, stmt := range next.stmts {
		if _, err := tx.ExecContext(ctx, d.types.Replace(stmt)); err != nil {
			return false, fmt.Errorf("migration %d, statement %d: %w", next.version, i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, d.rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`),
		next.version, time.Now().Unix()); err != nil {
		return false, fmt.Errorf("record migration %d: %w", next.version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration %d: %w", next.version, err)
	}
	return false, nil
}

// schemaVersion returns the highest applied migration, 0 for a new database.
func schemaVersion(ctx context.Context, q querier, d dialect) (int, error) {
	var v sql.NullInt64
	if err := q.QueryRowContext(ctx, d.rebind(`SELECT MAX(version) FROM schema_migrations`)).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return int(v.Int64), nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// rebindNone leaves `?` placeholders as they are (SQLite).
func rebindNone(q string) string { return q }

// rebindDollar rewrites `?` placeholders as $1, $2, … (PostgreSQL), leaving
// question marks inside quoted strings and identifiers alone.
func rebindDollar(q string) string {
	var b strings.Builder
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
