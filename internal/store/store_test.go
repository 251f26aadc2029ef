package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"entgo.io/ent/dialect/sql/schema"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// dialects opens fresh stores of each database; url gives an empty,
// unmigrated database.
var dialects = []struct {
	name string
	url  func(t testing.TB) string
}{
	{"sqlite", storetest.SQLiteURL},
	{"postgres", storetest.PostgresURL},
}

func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) callback.Store {
				return storetest.OpenURL(t, d.url(t))
			})
		})
	}
}

// TestSchemaMatchesEnt is the drift check: after the hand-written
// migrations, ent's own migration planner must find nothing to change,
// dropping of columns and indexes included. Not parallel: ent's planner
// mutates the package-level table definitions of ent/migrate.
func TestSchemaMatchesEnt(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			s := storetest.OpenURL(t, d.url(t))
			var buf bytes.Buffer
			err := s.Client().Schema.WriteTo(context.Background(), &buf,
				schema.WithDropColumn(true), schema.WithDropIndex(true), schema.WithForeignKeys(true))
			require.NoError(t, err)
			require.Empty(t, buf.String(), "the migrations differ from ent/schema")

			// ent's planner does not compare CHECK constraints: try the
			// one on status directly.
			ph := func(n int) string {
				if s.Dialect() == store.DialectPostgres {
					return fmt.Sprintf("$%d", n)
				}
				return "?"
			}
			_, err = s.DB().Exec(`INSERT INTO llm_callbacks (id, callback_id, event_type, known_event, status,
				external_job_id, workflow_name, step_id, error_message, payload, payload_preview, user_agent,
				signature_valid, signature_scheme, signature_key_name, delivery_count, created_at, updated_at,
				last_delivery_at, seq) VALUES (`+ph(1)+`, 'k', '', false, 'bogus', '', '', '', '', `+ph(2)+`, '', '',
				false, '', '', 1, `+ph(3)+`, `+ph(4)+`, `+ph(5)+`, 1)`, uuid.New(), []byte{}, time.Now(), time.Now(), time.Now())
			require.ErrorContains(t, err, "llm_callbacks_status_check")
		})
	}
}

// TestMigrateUpDownUp runs the migrations up, down and up again with data
// present.
func TestMigrateUpDownUp(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, err := store.Open(ctx, d.url(t), "", nil)
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			m, err := s.Migrator()
			require.NoError(t, err)
			exists := func(table string) bool { return tableExists(t, s, table) }

			status, err := m.Status(ctx)
			require.NoError(t, err)
			require.Len(t, status, 10)
			for _, st := range status {
				require.False(t, st.Applied, st.String())
				require.Contains(t, st.String(), "pending")
			}
			applied, err := m.Up(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{"00001_callbacks.sql", "00002_views.sql", "00003_payload_lz4.sql", "00004_facts_search.sql", "00005_view_batches.sql", "00006_admin_sessions.sql", "00008_stats_rollups.sql", "00009_alerts.sql", "00010_view_counts.sql", "00011_list_indexes.sql"}, applied)
			applied, err = m.Up(ctx)
			require.NoError(t, err)
			require.Empty(t, applied, "up is idempotent")

			res, err := s.Save(ctx, []callback.Delivery{{Key: "k", Status: callback.StatusReceived, Payload: []byte("{}"), ReceivedAt: time.Now()}})
			require.NoError(t, err)
			id := res[0].ID
			_, _, err = s.MarkViewed(ctx, id, uuid.New(), "Alice", time.Now())
			require.NoError(t, err)

			// A view of MarkAllViewed has no feed position; going down
			// gives it one that no cursor reaches.
			admin := uuid.New()
			batch, err := s.MarkAllViewed(ctx, callback.ListQuery{}, admin, "Carol", time.Now())
			require.NoError(t, err)
			require.Equal(t, int64(1), batch.Count)
			require.True(t, exists("llm_callback_stats_hours"))
			require.True(t, exists("alert_cursor"))
			require.True(t, indexExists(t, s, "llm_callbacks_status_created_at_id"))
			require.False(t, indexExists(t, s, "llm_callbacks_status"))
			name, err := m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00011_list_indexes.sql", name)
			for _, col := range []string{"status", "event_type", "workflow_name", "external_job_id"} {
				require.True(t, indexExists(t, s, "llm_callbacks_"+col), "down restores the index of %s", col)
				require.False(t, indexExists(t, s, "llm_callbacks_"+col+"_created_at_id"), "down drops the list index of %s", col)
			}
			require.True(t, exists("llm_callback_view_counts"))
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00010_view_counts.sql", name)
			for _, table := range []string{"llm_callback_count", "llm_callback_view_counts"} {
				require.False(t, exists(table), "down drops %s", table)
			}
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00009_alerts.sql", name)
			for _, table := range []string{"alert_cursor", "alert_state", "alert_seen"} {
				require.False(t, exists(table), "down drops %s", table)
			}
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00008_stats_rollups.sql", name)
			for _, table := range []string{"llm_callback_stats_hours", "llm_callback_stats_hour_totals", "llm_callback_stats_days", "llm_callback_stats_rollup", "llm_callback_stats_stale"} {
				require.False(t, exists(table), "down drops %s", table)
			}
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00006_admin_sessions.sql", name)
			require.False(t, exists("admin_sessions"))
			require.False(t, exists("login_flows"))
			require.True(t, exists("llm_callback_view_batches"))
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00005_view_batches.sql", name)
			require.False(t, exists("llm_callback_view_batches"))
			require.Equal(t, 1, countRows(t, s, fmt.Sprintf("llm_callback_views WHERE seq < 0 AND admin_user_id = '%s'", admin)))
			require.True(t, exists("llm_callback_search"))
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00004_facts_search.sql", name)
			require.False(t, exists("llm_callback_search"), "down drops the search table")
			require.False(t, exists("facts_backfill"), "down drops the backfill position")
			requireCompression(t, s, "lz4")
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00003_payload_lz4.sql", name)
			requireCompression(t, s, "")
			name, err = m.Down(ctx)
			require.NoError(t, err)
			require.Equal(t, "00002_views.sql", name)
			require.False(t, exists("llm_callback_views"), "down drops the views table")
			require.True(t, exists("llm_callbacks"))
			status, err = m.Status(ctx)
			require.NoError(t, err)
			require.True(t, status[0].Applied)
			require.False(t, status[1].Applied)
			require.False(t, status[2].Applied)
			require.False(t, status[3].Applied)
			require.False(t, status[4].Applied)
			require.False(t, status[5].Applied)
			require.False(t, status[6].Applied)
			require.False(t, status[7].Applied)
			require.False(t, status[8].Applied)
			require.False(t, status[9].Applied)
			require.Contains(t, status[0].String(), "applied")

			_, err = m.Up(ctx)
			require.NoError(t, err)
			c, err := s.Get(ctx, id, uuid.Nil)
			require.NoError(t, err, "callbacks survive the views migration going down and up")
			require.Equal(t, "k", c.Key)
			require.Empty(t, c.Views, "views went down with their table")
			_, created, err := s.MarkViewed(ctx, id, uuid.New(), "Bob", time.Now())
			require.NoError(t, err)
			require.True(t, created)

			requireCompression(t, s, "lz4")
			for _, want := range []string{"00011_list_indexes.sql", "00010_view_counts.sql", "00009_alerts.sql", "00008_stats_rollups.sql", "00006_admin_sessions.sql", "00005_view_batches.sql", "00004_facts_search.sql", "00003_payload_lz4.sql", "00002_views.sql", "00001_callbacks.sql"} {
				name, err := m.Down(ctx)
				require.NoError(t, err)
				require.Equal(t, want, name)
			}
			for _, table := range []string{"llm_callbacks", "llm_callback_views", "feed_position", "llm_callback_search", "facts_backfill", "llm_callback_view_batches", "llm_callback_stats_hours", "admin_sessions", "login_flows"} {
				require.False(t, exists(table), table)
			}
			_, err = m.Down(ctx)
			require.Error(t, err, "nothing left to roll back")

			_, err = m.Up(ctx)
			require.NoError(t, err)
			_, err = s.Get(ctx, id, uuid.Nil)
			require.ErrorIs(t, err, callback.ErrNotFound)
			seq, err := s.LastSeq(ctx)
			require.NoError(t, err)
			require.Zero(t, seq)
		})
	}
}

// requireCompression checks the compression method of llm_callbacks.payload
// on PostgreSQL ("" is the server's default); SQLite compresses nothing.
func requireCompression(t *testing.T, s *store.Store, want string) {
	t.Helper()
	if s.Dialect() != store.DialectPostgres {
		return
	}
	var method string
	require.NoError(t, s.DB().QueryRowContext(context.Background(),
		`SELECT attcompression::text FROM pg_attribute WHERE attrelid = 'llm_callbacks'::regclass AND attname = 'payload'`).Scan(&method))
	if want == "lz4" {
		want = "l" // pg_attribute's code for lz4
	}
	require.Equal(t, want, method)
}

func tableExists(t *testing.T, s *store.Store, table string) bool {
	t.Helper()
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
	if s.Dialect() == store.DialectPostgres {
		q = "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1"
	}
	var n int
	require.NoError(t, s.DB().QueryRowContext(context.Background(), q, table).Scan(&n))
	return n == 1
}

// indexExists reports whether the current schema has an index of that name.
func indexExists(t *testing.T, s *store.Store, index string) bool {
	t.Helper()
	q := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
	if s.Dialect() == store.DialectPostgres {
		q = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1"
	}
	var n int
	require.NoError(t, s.DB().QueryRowContext(context.Background(), q, index).Scan(&n))
	return n == 1
}

// TestSeqCommitOrderPostgres forces the interleaving the change-feed
// invariant is about: a transaction holds Seq n uncommitted while a Save
// runs. The Save must not commit (so no larger Seq is visible) until the
// holder ends.
func TestSeqCommitOrderPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := storetest.OpenPostgres(t)
	for _, commit := range []bool{true, false} {
		before, err := s.LastSeq(ctx)
		require.NoError(t, err)

		// The holder does what Save does, and stops before COMMIT.
		holder, err := s.DB().BeginTx(ctx, nil)
		require.NoError(t, err)
		var held int64
		require.NoError(t, holder.QueryRowContext(ctx, "UPDATE feed_position SET seq = seq + 1 WHERE id = 1 RETURNING seq").Scan(&held))
		_, err = holder.ExecContext(ctx, `INSERT INTO llm_callbacks (id, callback_id, event_type, known_event, status,
			external_job_id, workflow_name, step_id, error_message, payload, payload_preview, user_agent,
			signature_valid, signature_scheme, signature_key_name, delivery_count, created_at, updated_at,
			last_delivery_at, seq) VALUES ($1, $2, '', false, 'received', '', '', '', '', ''::bytea, '', '',
			false, '', '', 1, now(), now(), now(), $3)`, uuid.New(), uuid.NewString(), held)
		require.NoError(t, err)

		type saved struct {
			res []callback.SaveResult
			err error
		}
		done := make(chan saved, 1)
		go func() {
			res, err := s.Save(ctx, []callback.Delivery{{Key: uuid.NewString(), Status: callback.StatusReceived, ReceivedAt: time.Now()}})
			done <- saved{res, err}
		}()
		select {
		case r := <-done:
			t.Fatalf("Save committed while a smaller Seq was uncommitted: %+v", r)
		case <-time.After(300 * time.Millisecond):
		}
		changes, err := s.Changes(ctx, before, 10)
		require.NoError(t, err)
		require.Empty(t, changes, "nothing is visible while Seq %d is uncommitted", held)

		if commit {
			require.NoError(t, holder.Commit())
		} else {
			require.NoError(t, holder.Rollback())
		}
		r := <-done
		require.NoError(t, r.err)
		changes, err = s.Changes(ctx, before, 10)
		require.NoError(t, err)
		if commit {
			require.Equal(t, held+1, r.res[0].Seq)
			require.Len(t, changes, 2)
			require.Equal(t, held, changes[0].Seq)
			require.Equal(t, held+1, changes[1].Seq)
		} else {
			require.Equal(t, held, r.res[0].Seq, "a rolled-back position is reused: no gap")
			require.Len(t, changes, 1)
			require.Equal(t, held, changes[0].Seq)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("default file in data dir", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "data")
		s, err := store.Open(ctx, "", dir, nil)
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, store.DialectSQLite, s.Dialect())
		info, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), info.Mode().Perm())
		_, err = os.Stat(filepath.Join(dir, store.SQLiteFileName))
		require.NoError(t, err)
		var mode, sync, temp string
		require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode))
		require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync))
		require.NoError(t, s.DB().QueryRowContext(ctx, "PRAGMA temp_store").Scan(&temp))
		require.Equal(t, "wal", mode)
		require.Equal(t, "2", sync, "synchronous=FULL")
		require.Equal(t, "2", temp, "temp_store=MEMORY")
	})
	t.Run("file URL", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "x.db")
		s, err := store.Open(ctx, "file:"+path, "", nil)
		require.NoError(t, err)
		defer s.Close()
		_, err = os.Stat(path)
		require.NoError(t, err)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		s, err := store.Open(ctx, storetest.PostgresURL(t), "", nil)
		require.NoError(t, err)
		defer s.Close()
		require.Equal(t, store.DialectPostgres, s.Dialect())
		require.NoError(t, s.Ping(ctx))
		var sc string
		require.NoError(t, s.DB().QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&sc))
		require.Equal(t, "on", sc)
	})
	for _, bad := range []string{"mysql://x", "sqlite:", "sqlite:/tmp/x.db?mode=ro"} {
		_, err := store.Open(ctx, bad, t.TempDir(), nil)
		require.Error(t, err, bad)
	}
	_, err := store.Open(ctx, "", "", nil)
	require.Error(t, err)
}

// TestUnavailable checks that a database that cannot be reached or written
// yields callback.ErrUnavailable, which ingest answers with a retryable
// status.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("postgres down", func(t *testing.T) {
		t.Parallel()
		_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "", nil)
		require.ErrorIs(t, err, callback.ErrUnavailable)
	})
	t.Run("sqlite read-only file", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() == 0 {
			// root ignores file modes; make the database read-only instead.
			s := storetest.OpenSQLite(t)
			_, err := s.DB().ExecContext(ctx, "PRAGMA query_only = 1")
			require.NoError(t, err)
			_, err = s.Save(ctx, []callback.Delivery{{Key: "k", Status: callback.StatusReceived}})
			require.Error(t, err)
			require.ErrorIs(t, err, callback.ErrUnavailable)
			return
		}
		dir := t.TempDir()
		s := storetest.OpenURL(t, "sqlite:"+filepath.Join(dir, "x.db"))
		require.NoError(t, os.Chmod(dir, 0o500))
		t.Cleanup(func() { os.Chmod(dir, 0o700) })
		_, err := s.Save(ctx, []callback.Delivery{{Key: "k", Status: callback.StatusReceived}})
		require.ErrorIs(t, err, callback.ErrUnavailable)
	})
}
