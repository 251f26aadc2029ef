package faults_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"  // the "postgres" driver, to read what the server stored
	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
)

// storedRow is what the checks read of one llm_callbacks row.
type storedRow struct {
	id            string
	deliveryCount int
	seq           int64
}

// dbState is the content of the database after a test.
type dbState struct {
	rows       map[string]storedRow // by callback_id
	count      int                  // rows in llm_callbacks
	dupKeys    int                  // extra rows sharing a callback_id
	dupSeqs    int                  // extra rows sharing a change-feed position
	feedBehind bool                 // feed_position below a row's seq
	integrity  string               // "ok" or what the integrity check said
}

// openSQLiteRO opens a stopped server's SQLite file read-only.
func openSQLiteRO(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPostgres opens the test database the server used.
func openPostgres(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", url)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(2)
	t.Cleanup(func() { db.Close() })
	return db
}

// readState reads the rows and runs the integrity checks: PRAGMA
// integrity_check on SQLite; on PostgreSQL, amcheck's bt_index_check with
// heapallindexed on every index of llm_callbacks (each heap row is in each
// index, and the B-trees are well formed).
func readState(t testing.TB, db *sql.DB, postgres bool) dbState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st := dbState{rows: make(map[string]storedRow)}
	rs, err := db.QueryContext(ctx, "SELECT callback_id, id, delivery_count, seq FROM llm_callbacks")
	if err != nil {
		t.Fatalf("read llm_callbacks: %v", err)
	}
	for rs.Next() {
		var key string
		var r storedRow
		if err := rs.Scan(&key, &r.id, &r.deliveryCount, &r.seq); err != nil {
			t.Fatalf("read llm_callbacks: %v", err)
		}
		if _, ok := st.rows[key]; ok {
			st.dupKeys++
		}
		st.rows[key] = r
		st.count++
	}
	if err := rs.Err(); err != nil {
		t.Fatalf("read llm_callbacks: %v", err)
	}
	rs.Close()
	// The unique indexes should make these zero; check the rows anyway, in
	// case an index is corrupt and lets duplicates through.
	st.dupKeys = max(st.dupKeys, sumExtra(t, ctx, db, "SELECT count(*) FROM llm_callbacks GROUP BY callback_id HAVING count(*) > 1"))
	st.dupSeqs = sumExtra(t, ctx, db, "SELECT count(*) FROM llm_callbacks GROUP BY seq HAVING count(*) > 1")
	var behind int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM llm_callbacks WHERE seq > (SELECT seq FROM feed_position WHERE id = 1)").Scan(&behind); err != nil {
		t.Fatalf("check feed position: %v", err)
	}
	st.feedBehind = behind > 0
	if postgres {
		st.integrity = pgIntegrity(t, ctx, db)
	} else {
		st.integrity = sqliteIntegrity(t, ctx, db)
	}
	return st
}

// sumExtra sums count-1 over the groups a GROUP BY ... HAVING query returns.
func sumExtra(t testing.TB, ctx context.Context, db *sql.DB, q string) int {
	t.Helper()
	rs, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rs.Close()
	extra := 0
	for rs.Next() {
		var n int
		if err := rs.Scan(&n); err != nil {
			t.Fatal(err)
		}
		extra += n - 1
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return extra
}

// sqliteIntegrity runs PRAGMA integrity_check and returns its lines.
func sqliteIntegrity(t testing.TB, ctx context.Context, db *sql.DB) string {
	t.Helper()
	rs, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	defer rs.Close()
	var lines []string
	for rs.Next() {
		var s string
		if err := rs.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, s)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "; ")
}

// pgIntegrity checks every B-tree index of the callbackd tables with
// amcheck (heapallindexed: every row is in every index) and returns "ok" or
// the problems found.
func pgIntegrity(t testing.TB, ctx context.Context, db *sql.DB) string {
	t.Helper()
	if _, err := db.ExecContext(ctx, "CREATE EXTENSION IF NOT EXISTS amcheck"); err != nil {
		t.Logf("amcheck unavailable (%v): PostgreSQL integrity limited to row checks", err)
		return "ok"
	}
	rs, err := db.QueryContext(ctx, `SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid IN ('llm_callbacks'::regclass, 'llm_callback_views'::regclass)`)
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var indexes []string
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
	}
	rs.Close()
	var problems []string
	for _, name := range indexes {
		if _, err := db.ExecContext(ctx, "SELECT bt_index_check($1::regclass, true)", name); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(problems) > 0 {
		return strings.Join(problems, "; ")
	}
	return "ok"
}

// checkLedger compares what the sender was told with what is stored and
// fills the stored, lost and duplicated figures. Every acknowledged logical
// callback must have exactly one row, with the id of every 2xx answer, and
// acknowledged deliveries <= delivery_count <= attempts (a delivery may
// commit and lose its answer in a crash, so the count may exceed the
// acknowledgements, never the attempts); no row may exist that the sender
// never sent.
func checkLedger(t testing.TB, items []*logical, st dbState, f *figures) {
	t.Helper()
	f.Stored = st.count
	f.Duplicated = st.dupKeys
	var lost, undercount, overcount, phantom, wrongID []string
	unanswered := 0 // deliveries committed whose answer was lost
	sent := make(map[string]bool, len(items))
	for _, l := range items {
		sent[l.key] = true
		attempts, acks, ids := l.snapshot()
		row, ok := st.rows[l.key]
		switch {
		case !ok && acks > 0:
			lost = append(lost, fmt.Sprintf("%s (acks %d)", l.key, acks))
		case !ok:
		case row.deliveryCount < acks:
			undercount = append(undercount, fmt.Sprintf("%s: delivery_count %d < %d acknowledged", l.key, row.deliveryCount, acks))
		case row.deliveryCount > attempts:
			overcount = append(overcount, fmt.Sprintf("%s: delivery_count %d > %d attempts", l.key, row.deliveryCount, attempts))
		default:
			unanswered += row.deliveryCount - acks
		}
		if ok && (len(ids) > 1 || len(ids) == 1 && ids[0] != row.id) {
			wrongID = append(wrongID, fmt.Sprintf("%s: answered ids %v, row id %s", l.key, ids, row.id))
		}
	}
	for key := range st.rows {
		if !sent[key] {
			phantom = append(phantom, key)
		}
	}
	f.Lost = len(lost)
	if unanswered > 0 {
		t.Logf("%d deliveries were committed but their answer never reached the sender (counted in delivery_count, not acknowledged)", unanswered)
	}
	f.Duplicated += len(wrongID)
	for _, c := range []struct {
		what string
		list []string
	}{
		{"acknowledged but not stored (lost)", lost},
		{"stored with a delivery_count below the acknowledged deliveries", undercount},
		{"stored with a delivery_count above the attempts made", overcount},
		{"answered with several ids, or an id that is not the row's (duplicated)", wrongID},
		{"stored although never sent", phantom},
	} {
		if len(c.list) > 0 {
			t.Errorf("%d callbacks %s, e.g.:\n%s", len(c.list), c.what, joinLines(c.list[:min(5, len(c.list))]))
		}
	}
	if st.dupKeys > 0 {
		t.Errorf("%d extra rows share a callback_id (duplicated)", st.dupKeys)
	}
	if st.dupSeqs > 0 {
		t.Errorf("%d extra rows share a change-feed position (seq)", st.dupSeqs)
	}
	if st.feedBehind {
		t.Errorf("feed_position.seq is below the seq of some rows")
	}
	if st.integrity != "ok" {
		t.Errorf("integrity check failed: %s", st.integrity)
	}
}

// finishSQLite ends a single-server SQLite test without a watcher: it checks
// the sender's answers, stops the server, checks the stored rows against
// the ledger and reports the figures.
func finishSQLite(t testing.TB, s *sender, srv *callbackdtest.Server, items []*logical, start time.Time) {
	t.Helper()
	f := figures{Gaps: -1}
	s.fill(&f, items)
	s.checkNoUnexpected(t, items[:f.Sent])
	mustStop(t, srv)
	checkLedger(t, items, readState(t, openSQLiteRO(t, srv.SQLitePath()), false), &f)
	f.Duration = time.Since(start)
	report(t, f)
}
