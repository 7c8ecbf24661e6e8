package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the embedded Store: one database file in the data folder,
// opened with [Open]. It is safe for concurrent use; several processes may
// open the same file (SQLite's own locking serialises writers).
type SQLite struct {
	sqlStore
	path string
}

var _ Store = (*SQLite)(nil)

// busyTimeoutMS is how long a writer waits for another's lock before
// failing with SQLITE_BUSY.
const busyTimeoutMS = 10000

var sqliteDialect = dialect{
	name:   "sqlite",
	rebind: rebindNone,
	types:  strings.NewReplacer("{bytes}", "BLOB", "{id}", "INTEGER PRIMARY KEY"),
	isUnique: func(err error) bool {
		var e *sqlite.Error
		if !errors.As(err, &e) {
			return false
		}
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	},
}

// Open opens the SQLite database at path (for example DIR/signet.db),
// creating it with mode 0600 if it does not exist, and brings its schema up
// to date. The folder must exist. The database runs in WAL mode with foreign
// keys enforced; write transactions take the write lock when they begin
// (BEGIN IMMEDIATE), so a read-then-write transaction cannot deadlock with
// another, and wait up to ten seconds for a busy lock.
func Open(ctx context.Context, path string) (*SQLite, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if strings.ContainsAny(abs, "?#") {
		return nil, fmt.Errorf("store: open %s: %w: the path may not contain '?' or '#'", path, ErrInvalid)
	}
	dir := filepath.Dir(abs)
	if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("store: open %s: %w", path, missingFolderError(dir))
	} else if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("store: open %s: %s is not a folder", path, dir)
	}
	if err := createPrivate(abs); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	dsn := fmt.Sprintf("%s?_txlock=immediate&_pragma=busy_timeout(%d)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)",
		abs, busyTimeoutMS)
	// Processes opening a new database at the same moment race to switch
	// it to WAL and to migrate it; SQLite answers the loser SQLITE_BUSY at
	// once in some of those steps (without its busy handler), so Open
	// tries again for up to the busy timeout.
	deadline := time.Now().Add(busyTimeoutMS * time.Millisecond)
	for {
		db, err := openSQLite(ctx, dsn)
		if err == nil {
			return &SQLite{sqlStore: sqlStore{db: db, d: sqliteDialect}, path: abs}, nil
		}
		if !isBusy(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("store: open %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("store: open %s: %w", path, ctx.Err())
		case <-time.After(time.Duration(10+mrand.IntN(40)) * time.Millisecond):
		}
	}
}

// openSQLite opens, checks and migrates a database.
func openSQLite(ctx context.Context, dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrate(ctx, db, sqliteDialect, latestVersion()); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// isBusy recognises SQLITE_BUSY and SQLITE_LOCKED.
func isBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "SQLITE_LOCKED") || strings.Contains(msg, "database is locked")
}

// Path returns the database file's absolute path.
func (s *SQLite) Path() string { return s.path }

// missingFolderError says the data folder does not exist; it matches
// fs.ErrNotExist.
type missingFolderError string

func (e missingFolderError) Error() string        { return "data folder " + string(e) + " does not exist" }
func (e missingFolderError) Is(target error) bool { return target == fs.ErrNotExist }

// createPrivate creates path as an empty file readable only by its owner,
// unless it exists already (then it is left as it is). An empty file is a
// valid empty SQLite database; SQLite gives the -wal and -shm files it makes
// beside it the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
