// Package storetest holds the conformance suite that every callback.Store
// implementation passes, and helpers that open fresh, migrated SQLite and
// PostgreSQL stores for the tests of other packages.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/lib/pq" // registers the "postgres" driver

	"github.com/callbackd/callbackd/internal/store"
)

// PostgresEnv names the environment variable with the URL of the
// PostgreSQL server that tests create their databases on.
const PostgresEnv = "CALLBACKD_TEST_POSTGRES_URL"

// DefaultPostgresURL is used when PostgresEnv is empty.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SQLiteURL returns the URL of a SQLite file in a fresh temporary
// directory. The file does not exist yet and is not migrated.
func SQLiteURL(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), store.SQLiteFileName)
}

// PostgresURL creates an empty database with a random name on the server
// of PostgresEnv (DefaultPostgresURL if unset), drops it when the test
// ends, and returns its URL. When the server cannot be reached the test is
// skipped, unless the environment variable CI is set: then it fails, so
// that CI never passes without having run the PostgreSQL tests.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		base = DefaultPostgresURL
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := sql.Open("postgres", base)
	if err == nil {
		err = admin.PingContext(ctx)
	}
	if err != nil {
		if admin != nil {
			admin.Close()
		}
		msg := fmt.Sprintf("PostgreSQL at %s is unreachable (set %s): %v", u.Redacted(), PostgresEnv, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	defer admin.Close()

	var b [8]byte
	rand.Read(b[:])
	name := "callbackd_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := sql.Open("postgres", base)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// OpenSQLite returns a migrated store on a fresh SQLite file, closed when
// the test ends.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	return OpenURL(t, SQLiteURL(t))
}

// OpenPostgres returns a migrated store on a fresh PostgreSQL database,
// closed and dropped when the test ends; see PostgresURL for when it skips.
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	return OpenURL(t, PostgresURL(t))
}

// OpenURL opens the store at databaseURL, migrates it up and closes it
// when the test ends.
func OpenURL(t testing.TB, databaseURL string) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, databaseURL, "", nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	m, err := s.Migrator()
	if err != nil {
		t.Fatalf("migrator: %v", err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return s
}

// ServerURL is the URL of the PostgreSQL server's maintenance database that
// PostgresURL creates test databases on: the value of PostgresEnv, or
// DefaultPostgresURL.
func ServerURL() string {
	if u := os.Getenv(PostgresEnv); u != "" {
		return u
	}
	return DefaultPostgresURL
}
