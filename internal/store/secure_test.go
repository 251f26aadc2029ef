package store_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestSQLiteFilesArePrivate: the database, its WAL and its shared-memory
// file are created 0600 under the usual umask (SQLite would create them
// 0644), and a data directory that others may read gets a warning. Not
// parallel: it sets the process umask.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	ctx := context.Background()

	open := func(t *testing.T, databaseURL, dataDir string) string {
		t.Helper()
		var logs bytes.Buffer
		s, err := store.Open(ctx, databaseURL, dataDir, slog.New(slog.NewTextHandler(&logs, nil)))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		m, err := s.Migrator()
		require.NoError(t, err)
		_, err = m.Up(ctx)
		require.NoError(t, err)
		_, err = s.Save(ctx, []callback.Delivery{{Key: "k", Status: callback.StatusReceived, Payload: []byte(`{}`)}})
		require.NoError(t, err)
		return logs.String()
	}
	private := func(t *testing.T, db string) {
		t.Helper()
		for _, f := range []string{db, db + "-wal", db + "-shm"} {
			fi, err := os.Stat(f)
			require.NoError(t, err, "SQLite in WAL mode has written %s", f)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), f)
		}
	}

	t.Run("new data directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		logs := open(t, "", dir)
		private(t, filepath.Join(dir, store.SQLiteFileName))
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
		require.NotContains(t, logs, "group or others")
	})
	t.Run("sqlite URL", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "x.db")
		open(t, "sqlite:"+db, "")
		private(t, db)
	})
	t.Run("existing shared data directory", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o755))
		logs := open(t, "", dir)
		require.Contains(t, logs, "data directory is readable or writable by group or others")
		require.Contains(t, logs, dir)
		private(t, filepath.Join(dir, store.SQLiteFileName))
	})
	t.Run("existing shared database file", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.Chmod(dir, 0o700))
		db := filepath.Join(dir, store.SQLiteFileName)
		require.NoError(t, os.WriteFile(db, nil, 0o644))
		logs := open(t, "", dir)
		require.Contains(t, logs, "database file is readable or writable by group or others")
		require.NotContains(t, logs, "data directory is")
	})
}

// TestOpenRedactsCredentials: a PostgreSQL URL's password, in the userinfo
// or the query, reaches neither the log nor an error message, whether the
// database opens, cannot be reached, or the URL does not parse.
func TestOpenRedactsCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const userinfoSecret, querySecret = "pw-SECRET-1", "q-SECRET-2"
	noSecret := func(t *testing.T, text string) {
		t.Helper()
		require.NotContains(t, text, userinfoSecret)
		require.NotContains(t, text, querySecret)
	}

	t.Run("opens", func(t *testing.T) {
		t.Parallel()
		u, err := url.Parse(storetest.PostgresURL(t))
		require.NoError(t, err)
		// Trust authentication ignores the password: the URL still opens.
		u.User = url.UserPassword(u.User.Username(), userinfoSecret)
		q := u.Query()
		q.Set("password", querySecret)
		u.RawQuery = q.Encode()
		var logs bytes.Buffer
		s, err := store.Open(ctx, u.String(), "", slog.New(slog.NewTextHandler(&logs, nil)))
		require.NoError(t, err)
		s.Close()
		require.Contains(t, logs.String(), "database opened")
		require.Contains(t, logs.String(), "xxxxx")
		noSecret(t, logs.String())
	})
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		_, err := store.Open(ctx, "postgres://postgres:"+userinfoSecret+"@127.0.0.1:1/none?sslmode=disable&connect_timeout=2&password="+querySecret, "", nil)
		require.ErrorIs(t, err, callback.ErrUnavailable)
		noSecret(t, err.Error())
	})
	for _, bad := range []string{
		"postgres://postgres:" + userinfoSecret + "@127.0.0.1:bad/none?password=" + querySecret,
		"postgresql://postgres:" + userinfoSecret + "@[::1/none",
		"mysql://root:" + userinfoSecret + "@127.0.0.1/none?password=" + querySecret,
		"sqlite:/tmp/x.db?password=" + querySecret,
	} {
		_, err := store.Open(ctx, bad, t.TempDir(), nil)
		require.Error(t, err, bad)
		noSecret(t, err.Error())
		require.False(t, strings.Contains(err.Error(), "@127.0.0.1:bad"), "the unparsable URL is not quoted: %v", err)
	}
}
