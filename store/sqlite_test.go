package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

func openTemp(t *testing.T) *SQLite {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "signet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLite(t *testing.T) {
	runStoreSuite(t, func(t *testing.T) Store { return openTemp(t) })
}

func TestOpenMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	_, err := Open(t.Context(), filepath.Join(dir, "signet.db"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "data folder "+dir+" does not exist") {
		t.Fatalf("Open in a missing folder: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open created the folder: %v", err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(t.Context(), filepath.Join(dir, "a?mode=memory")); !errors.Is(err, ErrInvalid) {
		t.Errorf("path with '?': %v", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), filepath.Join(file, "signet.db")); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("path under a file: %v", err)
	}
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := Open(t.Context(), junk); err == nil {
		s.Close()
		t.Error("Open accepted a file that is not a database")
	}
}

func TestOpenFileMode(t *testing.T) {
	s := openTemp(t)
	if err := s.SetSetting(t.Context(), "x", "y", actor); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.Path(), s.Path() + "-wal", s.Path() + "-shm"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v (WAL mode should keep -wal and -shm while open)", p, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, st.Mode().Perm())
		}
	}
}

func TestOpenPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	// Hold two connections at once so the pool cannot hand back the same one.
	for i := range 2 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var mode string
		var fk, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 || busy != busyTimeoutMS {
			t.Errorf("connection %d: journal_mode=%s foreign_keys=%d busy_timeout=%d", i, mode, fk, busy)
		}
	}
}

// versions returns the rows of schema_migrations.
func versions(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func allVersions() []int {
	var out []int
	for _, m := range migrations {
		out = append(out, m.version)
	}
	return out
}

func hasIndex(t *testing.T, db *sql.DB, name string) bool { return hasObject(t, db, "index", name) }

func hasTable(t *testing.T, db *sql.DB, name string) bool { return hasObject(t, db, "table", name) }

func hasObject(t *testing.T, db *sql.DB, kind, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM sqlite_master WHERE type = ? AND name = ?", kind, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestOpenTwiceIsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "signet.db")
	for i := range 3 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("open %d: %v", i+1, err)
		}
		if got := versions(t, s.db); !slices.Equal(got, allVersions()) {
			t.Fatalf("open %d: schema_migrations = %v, want %v", i+1, got, allVersions())
		}
		s.Close()
	}
}

func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "signet.db")
	var wg sync.WaitGroup
	stores := make([]*SQLite, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent open %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	if got := versions(t, stores[0].db); !slices.Equal(got, allVersions()) {
		t.Fatalf("schema_migrations = %v, want %v", got, allVersions())
	}
}

func TestMigrateFromVersion0(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	// An empty file, and a database with an empty schema_migrations table.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bare := filepath.Join(dir, "bare.db")
	db, err := sql.Open("sqlite", bare)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{empty, bare} {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if got := versions(t, s.db); !slices.Equal(got, allVersions()) {
			t.Errorf("%s: schema_migrations = %v", path, got)
		}
		if err := s.SetSetting(ctx, "a", "b", actor); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		s.Close()
	}
}

func TestMigrateUpgradesOlderSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "signet.db")
	db, err := sql.Open("sqlite", path+"?_txlock=immediate&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, db, sqliteDialect, 1); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db); !slices.Equal(got, []int{1}) {
		t.Fatalf("old database at versions %v, want [1]", got)
	}
	if hasIndex(t, db, "certificates_issuer_serial") {
		t.Fatal("version 1 already has the version 2 index")
	}
	old := &sqlStore{db: db, d: sqliteDialect}
	c := testCert("legacy", "legacy@example.org", UsageSign, issuerA)
	legacyPutCert(t, db, c)

	// Version 1 to 2, then more data in the version 2 schema.
	if err := migrate(ctx, db, sqliteDialect, 2); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, db); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("database at versions %v, want [1 2]", got)
	}
	if !hasIndex(t, db, "certificates_issuer_serial") || hasTable(t, db, "users") {
		t.Fatal("version 2 schema: wrong index or table set")
	}
	c2 := testCert("legacy2", "legacy2@example.org", UsageEncrypt, issuerA)
	c2.Emails = []string{"legacy2@example.org", "alias@example.org"}
	c2.KeyID = "legacy-key"
	if err := old.SetSetting(ctx, "org.name", "Legacy", actor); err != nil {
		t.Fatal(err)
	}
	if err := old.PutKey(ctx, softKey("legacy-key"), actor); err != nil {
		t.Fatal(err)
	}
	legacyPutCert(t, db, c2)
	if err := old.RevokeCertificate(ctx, fingerprint(c2), 1, t0, actor); err != nil {
		t.Fatal(err)
	}
	v2Tables := []string{"settings", "sealed_keys", "certificates", "certificate_emails", "ca", "audit"}
	v2 := dumpTables(t, db, v2Tables...)
	db.Close()

	// Open brings it to the latest version, keeping every row.
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := versions(t, s.db); !slices.Equal(got, allVersions()) {
		t.Fatalf("after upgrade: versions %v, want %v", got, allVersions())
	}
	for _, idx := range []string{"certificates_email", "certificates_issuer_serial", "certificate_emails_email", "audit_at"} {
		if !hasIndex(t, s.db, idx) {
			t.Errorf("index %s missing after upgrade", idx)
		}
	}
	if !hasTable(t, s.db, "users") {
		t.Fatal("users table missing after upgrade")
	}
	// Columns added since (certificates.source) are left out.
	if got := dumpTablesExcept(t, s.db, map[string]bool{"source": true}, v2Tables...); got != v2 {
		t.Fatalf("upgrade changed existing data:\n%s\nwant\n%s", got, v2)
	}
	if us, err := s.ListUsers(ctx, UserFilter{}); err != nil || len(us) != 0 {
		t.Fatalf("users after upgrade = %+v, %v; want none", us, err)
	}
	got, err := s.GetCertificate(ctx, fingerprint(c))
	if err != nil || got.Email != "legacy@example.org" {
		t.Fatalf("certificate after upgrade: %+v, %v", got, err)
	}
	if got2, err := s.GetCertificate(ctx, fingerprint(c2)); err != nil || got2.Status != StatusRevoked || got2.KeyID != "legacy-key" {
		t.Fatalf("version 2 certificate after upgrade: %+v, %v", got2, err)
	}
	// The new users table works with the certificates stored before it.
	for _, u := range []string{"legacy@example.org", "alias@example.org"} {
		if err := s.PutUser(ctx, User{Email: u}, actor); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteUser(ctx, u, actor); !errors.Is(err, ErrInvalid) {
			t.Fatalf("DeleteUser(%s) with a pre-upgrade certificate: %v, want ErrInvalid", u, err)
		}
	}
	// The new unique index holds even for SQL that skips the Go checks.
	_, err = s.db.ExecContext(ctx, `INSERT INTO certificates (fingerprint, serial, issuer, subject, email, emails,
		cert_usage, profile, not_before, not_after, der, key_id, third_party, status, revoked_at,
		revocation_reason, issuer_fingerprint, created_at)
		VALUES (?, ?, '', '', '', '[]', 'sign', '', 0, 1, x'00', NULL, 0, 'valid', NULL, 0, ?, 0)`,
		strings.Repeat("e", 64), got.Serial, issuerA)
	if err == nil || !sqliteDialect.isUnique(err) {
		t.Fatalf("duplicate issuer and serial: %v, want a unique violation", err)
	}
	if sqliteDialect.isUnique(errors.New("other")) {
		t.Fatal("isUnique accepts any error")
	}
}

func TestOpenNewerSchemaFails(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t)
	if _, err := s.db.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, s.Path())
	if err == nil || !strings.Contains(err.Error(), "schema version 99 is newer") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "signet.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ms := mutations()
	for _, m := range ms {
		if err := m.do(t, s); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	if err := s.PutKey(ctx, softKey("kept"), actor); err != nil {
		t.Fatal(err)
	}
	want := dump(t, s.db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := dump(t, s.db); got != want {
		t.Fatalf("state after reopening differs:\n%s\nwant\n%s", got, want)
	}
	ca, err := s.GetCA(ctx)
	if err != nil || ca.CRLNumber != 1 || ca.Org != "Example" {
		t.Fatalf("GetCA after reopen = %+v, %v", ca, err)
	}
	if v, ok, _ := s.GetSetting(ctx, "org.name"); !ok || v != "Example" {
		t.Fatalf("setting after reopen = %q, %v", v, ok)
	}
	if k, err := s.GetKey(ctx, "kept"); err != nil || string(k.Sealed) != string(softKey("kept").Sealed) {
		t.Fatalf("key after reopen = %+v, %v", k, err)
	}
	if es, _ := s.ListAudit(ctx, AuditFilter{}); len(es) != len(ms)+1 {
		t.Fatalf("%d audit entries after reopen, want %d", len(es), len(ms)+1)
	}
	if n, err := s.NextCRLNumber(ctx, actor); err != nil || n != 2 {
		t.Fatalf("NextCRLNumber after reopen = %d, %v; want 2", n, err)
	}
	if u, err := s.GetUser(ctx, "m@example.org"); err != nil || u.Status != UserDisabled || u.DisplayName != "M. Example" {
		t.Fatalf("user after reopen = %+v, %v", u, err)
	}
	if _, err := s.GetUser(ctx, "gone@example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted user after reopen: %v", err)
	}
}

// dump renders every row of every table, to compare database states.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	return dumpTables(t, db, "settings", "sealed_keys", "certificates", "certificate_emails", "ca", "users", "audit")
}

// dumpTables renders every row of the tables named.
// legacyPutCert writes a certificate with the version 1 columns only, as
// Signet did before later migrations added columns.
func legacyPutCert(t *testing.T, db *sql.DB, c Certificate) {
	t.Helper()
	c, err := normCertificate(c)
	if err != nil {
		t.Fatal(err)
	}
	emails, _ := json.Marshal(c.Emails)
	var keyID any
	if c.KeyID != "" {
		keyID = c.KeyID
	}
	if _, err := db.ExecContext(t.Context(), `INSERT INTO certificates (fingerprint, serial, issuer, subject, email, emails,
		cert_usage, profile, not_before, not_after, der, key_id, third_party, status, revoked_at,
		revocation_reason, issuer_fingerprint, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'valid', NULL, 0, ?, ?)`,
		c.Fingerprint, c.Serial, c.Issuer, c.Subject, c.Email, string(emails), c.Usage, c.Profile,
		c.NotBefore.Unix(), c.NotAfter.Unix(), c.DER, keyID, b2i(c.ThirdParty), c.IssuerFingerprint,
		c.CreatedAt.Unix()); err != nil {
		t.Fatalf("writing a certificate with the old schema: %v", err)
	}
	for _, e := range c.Emails {
		if _, err := db.ExecContext(t.Context(), `INSERT INTO certificate_emails (fingerprint, email) VALUES (?, ?)`,
			c.Fingerprint, e); err != nil {
			t.Fatal(err)
		}
	}
}

func dumpTables(t *testing.T, db *sql.DB, tables ...string) string {
	t.Helper()
	return dumpTablesExcept(t, db, nil, tables...)
}

// dumpTablesExcept is dumpTables leaving out the columns named in skip.
func dumpTablesExcept(t *testing.T, db *sql.DB, skip map[string]bool, tables ...string) string {
	t.Helper()
	var b strings.Builder
	for _, table := range tables {
		rows, err := db.QueryContext(t.Context(), "SELECT * FROM "+table+" ORDER BY 1, 2")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			kept := vals[:0:0]
			for i, v := range vals {
				if !skip[cols[i]] {
					kept = append(kept, v)
				}
			}
			fmt.Fprintf(&b, "%s %v\n", table, kept)
		}
		rows.Close()
	}
	return b.String()
}

// TestAuditFailureRollsBack makes the audit insert fail (a trigger aborts
// it) and checks that each mutating method then fails and changes nothing.
func TestAuditFailureRollsBack(t *testing.T) {
	ms := mutations()
	for i, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			s := openTemp(t)
			for _, prior := range ms[:i] {
				if err := prior.do(t, s); err != nil {
					t.Fatalf("set-up %s: %v", prior.name, err)
				}
			}
			// A check that the mutation works with a healthy audit log
			// happens in the suite; here the log is broken first.
			before := dump(t, s.db)
			if _, err := s.db.ExecContext(t.Context(), `CREATE TRIGGER audit_fail BEFORE INSERT ON audit
				BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END`); err != nil {
				t.Fatal(err)
			}
			err := m.do(t, s)
			if err == nil || !strings.Contains(err.Error(), "audit log unavailable") {
				t.Fatalf("%s with a failing audit log: %v", m.name, err)
			}
			if after := dump(t, s.db); after != before {
				t.Fatalf("%s changed state although its audit entry failed:\nbefore\n%s\nafter\n%s", m.name, before, after)
			}
		})
	}
}

func TestClosedStore(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := s.GetSetting(ctx, "x"); err == nil {
		t.Error("GetSetting on a closed store succeeded")
	}
	if err := s.SetSetting(ctx, "x", "y", actor); err == nil {
		t.Error("SetSetting on a closed store succeeded")
	}
	if _, err := s.NextCRLNumber(ctx, actor); err == nil || errors.Is(err, ErrNotInitialized) {
		t.Errorf("NextCRLNumber on a closed store: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.SetSetting(ctx, "x", "y", actor); !errors.Is(err, context.Canceled) {
		t.Errorf("SetSetting with a canceled context: %v", err)
	}
	if _, ok, err := s.GetSetting(t.Context(), "x"); err != nil || ok {
		t.Errorf("canceled SetSetting stored the setting: %v, %v", ok, err)
	}
}

func TestRebind(t *testing.T) {
	q := `SELECT a FROM t WHERE b = ? AND c = '?' AND "d?" = ? LIMIT ?`
	if got := rebindNone(q); got != q {
		t.Errorf("rebindNone changed the query: %s", got)
	}
	want := `SELECT a FROM t WHERE b = $1 AND c = '?' AND "d?" = $2 LIMIT $3`
	if got := rebindDollar(q); got != want {
		t.Errorf("rebindDollar = %s\nwant          %s", got, want)
	}
}

// TestMigrationsPortable guards against SQLite-only syntax creeping into
// the migrations the PostgreSQL dialect will share.
func TestMigrationsPortable(t *testing.T) {
	banned := []string{"BLOB", "AUTOINCREMENT", "WITHOUT ROWID", "INSERT OR", "REPLACE INTO",
		"DATETIME", "PRAGMA", "STRICT", "COLLATE NOCASE"}
	for _, m := range migrations {
		for _, stmt := range m.stmts {
			for _, b := range banned {
				if strings.Contains(strings.ToUpper(stmt), b) {
					t.Errorf("migration %d uses %s: %s", m.version, b, stmt)
				}
			}
		}
	}
	for i := 1; i < len(migrations); i++ {
		if migrations[i].version <= migrations[i-1].version {
			t.Errorf("migration versions not increasing at %d", i)
		}
	}
}
