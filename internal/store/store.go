// Package store implements callback.Store on SQLite (the default, embedded)
// and PostgreSQL, with the ent client of package ent for reads, hand-written
// SQL for the write path and goose migrations embedded in the binary.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"  // registers the "postgres" driver
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/callbackd/callbackd/ent"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/redact"
)

var _ callback.Store = (*Store)(nil)

// The dialects Dialect returns.
const (
	DialectSQLite   = dialect.SQLite   // "sqlite3"
	DialectPostgres = dialect.Postgres // "postgres"
)

// SQLiteFileName is the database file Open creates in the data directory
// when no database URL is given.
const SQLiteFileName = "callbackd.db"

// Store keeps callbacks and views in SQLite or PostgreSQL. It implements
// callback.Store and is safe for concurrent use.
type Store struct {
	dialect string
	// db takes every write. On SQLite it has a single connection, because
	// SQLite allows one writer at a time: writers queue in the pool instead
	// of failing with SQLITE_BUSY. On PostgreSQL it is the only pool.
	db *sql.DB
	// readDB serves reads: a pool of read-only connections on SQLite (WAL
	// lets them run beside the writer), the same pool as db on PostgreSQL.
	readDB   *sql.DB
	client   *ent.Client // over readDB
	location string      // file path or redacted URL, for logs
	now      func() time.Time
	upserts  upsertStatements // PostgreSQL's prepared batch upserts, over db
}

// Open connects to the database that databaseURL names, without migrating
// it (see Migrator):
//   - "" opens the SQLite file callbackd.db in dataDir, creating dataDir
//     with mode 0700 if needed (an existing one that group or others may
//     read or write gets a warning);
//   - "postgres://..." or "postgresql://..." opens PostgreSQL with lib/pq;
//   - "sqlite:PATH" or "file:PATH" opens the SQLite file PATH.
//
// A SQLite file is created with mode 0600, and so are its -wal and -shm
// files, since SQLite gives them the main file's mode: they hold every
// callback and its exact body.
func Open(ctx context.Context, databaseURL, dataDir string, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	var (
		s   *Store
		err error
	)
	switch {
	case databaseURL == "":
		if dataDir == "" {
			return nil, errors.New("open store: no database URL and no data directory")
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: create data directory: %w", err)
		}
		warnIfShared(logger, dataDir, "data directory")
		s, err = openSQLite(filepath.Join(dataDir, SQLiteFileName), logger)
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		if _, perr := url.Parse(databaseURL); perr != nil {
			return nil, fmt.Errorf("open store: %w", redact.Error(perr, databaseURL))
		}
		s, err = openPostgres(databaseURL)
	case strings.HasPrefix(databaseURL, "sqlite:"), strings.HasPrefix(databaseURL, "file:"):
		_, path, _ := strings.Cut(databaseURL, ":")
		path = strings.TrimPrefix(path, "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("open store: SQLite URL %q: want sqlite:PATH or file:PATH without query parameters", redact.URL(databaseURL))
		}
		s, err = openSQLite(path, logger)
	default:
		return nil, fmt.Errorf("open store: unsupported database URL scheme in %q (want postgres://, postgresql://, sqlite: or file:)", redact.URL(databaseURL))
	}
	if err != nil {
		return nil, fmt.Errorf("open store: %w", redact.Error(err, databaseURL))
	}
	// Only a connection check: a database that does not take writes yet
	// (a read-only file) still opens, readiness reports it, and writes
	// recover once it does (see writeFailed).
	if err := s.ping(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store: %w", redact.Error(err, databaseURL))
	}
	logger.Info("database opened", "dialect", s.dialect, "location", s.location)
	return s, nil
}

func openPostgres(databaseURL string) (*Store, error) {
	db, err := sql.Open("postgres", withBinaryParameters(databaseURL))
	if err != nil {
		return nil, err
	}
	// synchronous_commit keeps its default (on): COMMIT returns only after
	// the WAL is flushed, so an acknowledged callback survives a crash.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	return &Store{
		dialect:  DialectPostgres,
		location: redact.URL(databaseURL),
		db:       db,
		readDB:   db,
		client:   ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db))),
		now:      time.Now,
	}, nil
}

// sqliteDSN is the modernc.org/sqlite DSN of the database file path.
//
// synchronous(FULL) fsyncs the WAL at every commit: Save promises that an
// acknowledged callback survives power loss, which NORMAL does not in WAL
// mode; batching deliveries into one transaction (group commit) pays for
// the fsyncs. _time_format=sqlite with _timezone=UTC stores every time as
// "YYYY-MM-DD HH:MM:SS.ffffff+00:00", which sorts in time order as text
// (see the comment of migrations/sqlite/00001_callbacks.sql).
// temp_store(MEMORY) keeps the statement journal, which every multi-row
// upsert inside a transaction writes, out of a temporary file: a write
// system call per page otherwise cost a tenth of the ingest CPU (measured:
// group commit 5,214 against 4,778 req/s, 198 against 224 µs per callback).
func sqliteDSN(path string, readOnly bool) string {
	dsn := "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)" +
		"&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_pragma=temp_store(MEMORY)" +
		"&_time_format=sqlite&_timezone=UTC"
	if readOnly {
		return dsn + "&_pragma=query_only(1)"
	}
	// BEGIN IMMEDIATE takes the write lock at the start of a transaction, so
	// another process holding it (callbackd migrate) makes us wait for
	// busy_timeout instead of failing when a read upgrades to a write.
	return dsn + "&_txlock=immediate"
}

func openSQLite(path string, logger *slog.Logger) (*Store, error) {
	// SQLite would create the file with mode 0644; an empty file is an
	// empty database, so create it first with 0600.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		f.Close()
	case errors.Is(err, fs.ErrExist):
		warnIfShared(logger, path, "database file")
	default:
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	// Create the file and switch it to WAL before readers open it.
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, classify(err)
	}
	readDB, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		db.Close()
		return nil, err
	}
	readDB.SetMaxOpenConns(8)
	readDB.SetMaxIdleConns(8)
	return &Store{
		dialect:  DialectSQLite,
		location: path,
		db:       db,
		readDB:   readDB,
		client:   ent.NewClient(ent.Driver(entsql.OpenDB(dialect.SQLite, readDB))),
		now:      time.Now,
	}, nil
}

// warnIfShared warns when group or others may read or write path: the
// database and the generated admin token are then exposed to other local
// users.
func warnIfShared(logger *slog.Logger, path, what string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o066 == 0 {
		return
	}
	logger.Warn(what+" is readable or writable by group or others: it holds every callback (and the generated admin token); chmod it to 0700 (a directory) or 0600 (a file)",
		"path", path, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
}

// withBinaryParameters asks lib/pq to send []byte parameters in binary:
// otherwise every payload travels hex-encoded, twice its size, and both
// sides spend CPU encoding and decoding it. An explicit setting in the URL
// wins.
func withBinaryParameters(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return databaseURL // sql.Open reports it
	}
	q := u.Query()
	if q.Has("binary_parameters") {
		return databaseURL
	}
	q.Set("binary_parameters", "yes")
	u.RawQuery = q.Encode()
	return u.String()
}

// Dialect returns DialectSQLite or DialectPostgres.
func (s *Store) Dialect() string { return s.dialect }

// DB returns the pool that takes writes, for migrations and readiness
// checks. On SQLite it has a single connection: do not hold it.
func (s *Store) DB() *sql.DB { return s.db }

// ReadDB returns the pool the store reads with: on SQLite read-only
// connections beside the single writer, so that a reader never queues
// behind the writes (on PostgreSQL the same pool as DB).
func (s *Store) ReadDB() *sql.DB { return s.readDB }

// Client returns the ent client the store reads with. On SQLite its
// connections are read-only.
func (s *Store) Client() *ent.Client { return s.client }

// Ping checks that the database answers and, on SQLite, that it takes
// writes: a file that was read-only when its connection opened would
// otherwise look ready while every delivery fails. The probe rewrites the
// header's user_version with its own value in a transaction it rolls back:
// the smallest real write, and one that needs no table.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return err
	}
	if s.dialect != DialectSQLite {
		return nil
	}
	if err := s.probeWrite(ctx); err != nil {
		s.writeFailed(err)
		return fmt.Errorf("ping %s: write probe: %w", s.dialect, classify(err))
	}
	return nil
}

// ping checks that every pool answers.
func (s *Store) ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, classify(err))
	}
	if s.readDB != s.db {
		if err := s.readDB.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s: %w", s.dialect, classify(err))
		}
	}
	return nil
}

// probeWrite writes nothing, but only a writable database accepts it.
func (s *Store) probeWrite(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var v int64
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v))
	return err
}

// Close releases the database.
func (s *Store) Close() error {
	err := errors.Join(s.upserts.close(), s.client.Close())
	if s.readDB != s.db {
		err = errors.Join(err, s.db.Close())
	}
	return err
}

// dbTime is how every time is stored: UTC, microsecond precision (what
// PostgreSQL keeps), so that values read back compare equal to the ones
// written and keyset comparisons are exact on both databases.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// placeholder returns the n-th (1-based) bind parameter of the dialect.
func (s *Store) placeholder(n int) string {
	if s.dialect == DialectPostgres {
		return fmt.Sprintf("$%d", n)
	}
	return "?"
}
