package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
)

// cond is one condition of a WHERE clause on llm_callbacks, with ?
// placeholders for args; render numbers them for the dialect.
type cond struct {
	sql  string
	args []any
}

// filters returns the conditions of q's filters (not its keyset position):
// the exact filters, the time range, unviewed_only and the search. List,
// Count, Stats and MarkAllViewed share them, so that each selects the same
// callbacks. q must have passed ListQuery.Storable.
func (s *Store) filters(q callback.ListQuery) ([]cond, error) {
	var cs []cond
	eq := func(col string, v any) { cs = append(cs, cond{"llm_callbacks." + col + " = ?", []any{v}}) }
	if q.Status != "" {
		eq("status", string(q.Status))
	}
	if q.EventType != "" {
		eq("event_type", q.EventType)
	}
	if q.WorkflowName != "" {
		eq("workflow_name", q.WorkflowName)
	}
	if q.ExternalJobID != "" {
		eq("external_job_id", q.ExternalJobID)
	}
	if !q.CreatedAfter.IsZero() {
		cs = append(cs, cond{"llm_callbacks.created_at >= ?", []any{filterTime(q.CreatedAfter)}})
	}
	if !q.CreatedBefore.IsZero() {
		cs = append(cs, cond{"llm_callbacks.created_at < ?", []any{filterTime(q.CreatedBefore)}})
	}
	if q.UnviewedOnly {
		cs = append(cs, cond{"NOT EXISTS (SELECT 1 FROM llm_callback_views WHERE llm_callback_views.callback_id = llm_callbacks.id AND llm_callback_views.admin_user_id = ?)", []any{q.Viewer}})
	}
	terms, err := callback.ParseQuery(q.Query)
	if err != nil {
		return nil, err
	}
	for _, t := range terms {
		cs = append(cs, s.searchCond(t))
	}
	return cs, nil
}

// searchCond is the condition of one search term. Both dialects match the
// words of the search document (callback.SearchDocument), which are
// separated by single spaces: PostgreSQL with a LIKE pattern that its
// pg_trgm index narrows down, SQLite with an FTS5 phrase. A term typed
// without quotes also matches a job id that begins with it, compared
// exactly (by characters on both).
func (s *Store) searchCond(t callback.SearchTerm) cond {
	phrase := strings.Join(t.Words, " ")
	var c cond
	if s.dialect == DialectPostgres {
		pattern := "% " + phrase + " %"
		if t.Prefix {
			pattern = "% " + phrase + "%"
		}
		// The words hold only letters and digits: nothing to escape.
		c = cond{"llm_callbacks.id IN (SELECT callback_id FROM llm_callback_search WHERE document LIKE ?)", []any{pattern}}
		if t.JobIDPrefix != "" {
			c.sql = "(" + c.sql + " OR starts_with(llm_callbacks.external_job_id, ?))"
			c.args = append(c.args, t.JobIDPrefix)
		}
		return c
	}
	match := `"` + phrase + `"`
	if t.Prefix {
		match += " *"
	}
	c = cond{"llm_callbacks.id IN (SELECT callback_id FROM llm_callback_search WHERE id IN (SELECT rowid FROM llm_callback_fts WHERE llm_callback_fts MATCH ?))", []any{match}}
	if t.JobIDPrefix != "" {
		c.sql = "(" + c.sql + " OR substr(llm_callbacks.external_job_id, 1, length(?)) = ?)"
		c.args = append(c.args, t.JobIDPrefix, t.JobIDPrefix)
	}
	return c
}

// render joins conditions with AND (TRUE when there are none), numbering
// placeholders from n+1 on PostgreSQL, and appends their args to args.
func (s *Store) render(cs []cond, n int, args *[]any) string {
	if len(cs) == 0 {
		return "1 = 1"
	}
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(" AND ")
		}
		parts := strings.Split(c.sql, "?")
		for j, p := range parts {
			b.WriteString(p)
			if j < len(parts)-1 {
				n++
				b.WriteString(s.placeholder(n))
			}
		}
		*args = append(*args, c.args...)
	}
	return b.String()
}

// entPredicate applies conditions to an ent selector, whose builder numbers
// the placeholders.
func entPredicate(cs []cond) func(*entsql.Selector) {
	return func(sel *entsql.Selector) {
		for _, c := range cs {
			sel.Where(entsql.P(func(b *entsql.Builder) {
				parts := strings.Split(c.sql, "?")
				for j, p := range parts {
					b.WriteString(p)
					if j < len(parts)-1 {
						b.Arg(c.args[j])
					}
				}
			}))
		}
	}
}

// Count counts the callbacks List would return. See callback.Store.
//
// It counts at most CountBound+1 rows, so its cost is bounded whatever the
// history holds. Beyond that, PostgreSQL answers with its planner's
// estimate of the filter's rows (never less than CountBound+1), flagged as
// an estimate; SQLite counts exactly, as its single process reads its own
// file fast enough at the sizes it serves (BENCHMARKS.md).
func (s *Store) Count(ctx context.Context, q callback.ListQuery) (_ callback.Count, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("count callbacks: %w", classify(err))
		}
	}()
	q = q.Storable()
	cs, err := s.filters(q)
	if err != nil {
		return callback.Count{}, err
	}
	var args []any
	where := s.render(cs, 0, &args)
	var n int64
	if err := s.readDB.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT 1 FROM llm_callbacks WHERE %s LIMIT %d) t", where, callback.CountBound+1), args...).Scan(&n); err != nil {
		return callback.Count{}, err
	}
	if n <= callback.CountBound {
		return callback.Count{N: n}, nil
	}
	if s.dialect != DialectPostgres {
		if err := s.readDB.QueryRowContext(ctx, "SELECT count(*) FROM llm_callbacks WHERE "+where, args...).Scan(&n); err != nil {
			return callback.Count{}, err
		}
		return callback.Count{N: n}, nil
	}
	var plan []byte
	if err := s.readDB.QueryRowContext(ctx, "EXPLAIN (FORMAT JSON) SELECT 1 FROM llm_callbacks WHERE "+where, args...).Scan(&plan); err != nil {
		return callback.Count{}, err
	}
	var explained []struct {
		Plan struct {
			Rows float64 `json:"Plan Rows"`
		} `json:"Plan"`
	}
	if err := json.Unmarshal(plan, &explained); err != nil || len(explained) == 0 {
		return callback.Count{}, fmt.Errorf("read the planner's estimate: %v", err)
	}
	return callback.Count{N: max(int64(explained[0].Plan.Rows), callback.CountBound+1), Estimate: true}, nil
}

// bucketKey is the SQL text of a row's time bucket: its start in UTC as
// text, the same on both dialects (SQLite stores times as UTC text; see
// migrations/sqlite/00001_callbacks.sql), with the Go layout that parses it.
func (s *Store) bucketKey(b callback.Bucket) (expr, layout string) {
	pg := map[callback.Bucket]string{callback.BucketMinute: "YYYY-MM-DD HH24:MI", callback.BucketHour: "YYYY-MM-DD HH24", callback.BucketDay: "YYYY-MM-DD"}
	layouts := map[callback.Bucket]string{callback.BucketMinute: "2006-01-02 15:04", callback.BucketHour: "2006-01-02 15", callback.BucketDay: "2006-01-02"}
	if _, ok := layouts[b]; !ok {
		b = callback.BucketHour
	}
	if s.dialect == DialectPostgres {
		return "to_char(llm_callbacks.created_at AT TIME ZONE 'UTC', '" + pg[b] + "')", layouts[b]
	}
	return fmt.Sprintf("substr(llm_callbacks.created_at, 1, %d)", len(layouts[b])), layouts[b]
}

// Stats summarises the callbacks of a range. See callback.Store.
//
// Each grouping (time bucket, workflow, total) takes three aggregate
// queries over the filtered rows, in one read snapshot: counts and sums by
// status and event type; failures by error category; and duration
// percentiles, ranked with window functions so that both dialects pick the
// same nearest-rank values by integer arithmetic.
func (s *Store) Stats(ctx context.Context, q callback.StatsQuery) (_ callback.StatsReport, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("callback statistics: %w", classify(err))
		}
	}()
	f := q.Filter.Storable()
	f.UnviewedOnly, f.After = false, nil
	cs, err := s.filters(f)
	if err != nil {
		return callback.StatsReport{}, err
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	} else {
		opts = nil
	}
	tx, err := s.readDB.BeginTx(ctx, opts)
	if err != nil {
		return callback.StatsReport{}, err
	}
	defer tx.Rollback()

	bucket, layout := s.bucketKey(q.Bucket)
	var report callback.StatsReport
	buckets, err := s.aggregate(ctx, tx, cs, bucket)
	if err != nil {
		return report, err
	}
	for _, k := range sortedKeys(buckets) {
		start, err := time.ParseInLocation(layout, k, time.UTC)
		if err != nil {
			return report, fmt.Errorf("bucket %q: %w", k, err)
		}
		report.Buckets = append(report.Buckets, callback.BucketStats{Start: start, Stats: *buckets[k]})
	}
	workflows, err := s.aggregate(ctx, tx, cs, "llm_callbacks.workflow_name")
	if err != nil {
		return report, err
	}
	for _, k := range sortedKeys(workflows) {
		report.Workflows = append(report.Workflows, callback.WorkflowStats{WorkflowName: text(k), Stats: *workflows[k]})
	}
	total, err := s.aggregate(ctx, tx, cs, "")
	if err != nil {
		return report, err
	}
	report.Total = newStats()
	if t := total[""]; t != nil {
		report.Total = *t
	}
	return report, tx.Commit()
}

// sortedKeys returns the keys of m in order.
func sortedKeys(m map[string]*callback.Stats) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func newStats() callback.Stats {
	return callback.Stats{ByStatus: map[callback.Status]int64{}, ByEventType: map[string]int64{}, FailuresByCategory: map[string]int64{}}
}

// aggregate computes the Stats of the rows matching cs grouped by the text
// expression key ("" for one group, returned under the key "").
func (s *Store) aggregate(ctx context.Context, tx *sql.Tx, cs []cond, key string) (map[string]*callback.Stats, error) {
	keySQL, groupBy, partition := "''", "", ""
	if key != "" {
		keySQL, groupBy, partition = key, "1, ", "PARTITION BY "+key+" "
	}
	out := make(map[string]*callback.Stats)
	get := func(k string) *callback.Stats {
		st := out[k]
		if st == nil {
			v := newStats()
			st = &v
			out[k] = st
		}
		return st
	}
	var args []any
	where := s.render(cs, 0, &args)
	sum := func(col string) string {
		return "COALESCE(SUM(CASE WHEN llm_callbacks.event_type <> '" + callback.EventWorkflowCompleted + "' THEN llm_callbacks." + col + " END), 0)"
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+keySQL+", llm_callbacks.status, llm_callbacks.event_type, count(*), "+
		sum("prompt_tokens")+", "+sum("completion_tokens")+", "+sum("total_tokens")+", "+sum("cost_usd")+
		" FROM llm_callbacks WHERE "+where+" GROUP BY "+groupBy+"llm_callbacks.status, llm_callbacks.event_type", args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			k, status, event              string
			n, prompt, completion, totalT int64
			cost                          float64
		)
		if err := rows.Scan(&k, &status, &event, &n, &prompt, &completion, &totalT, &cost); err != nil {
			rows.Close()
			return nil, err
		}
		st := get(k)
		st.Count += n
		st.ByStatus[callback.Status(status)] += n
		st.ByEventType[text(event)] += n
		st.PromptTokens += prompt
		st.CompletionTokens += completion
		st.TotalTokens += totalT
		st.CostUSD += cost
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	rows, err = tx.QueryContext(ctx, "SELECT "+keySQL+", llm_callbacks.error_category, count(*) FROM llm_callbacks WHERE "+where+
		" AND llm_callbacks.status = '"+string(callback.StatusError)+"' GROUP BY "+groupBy+"llm_callbacks.error_category", args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			k, category string
			n           int64
		)
		if err := rows.Scan(&k, &category, &n); err != nil {
			rows.Close()
			return nil, err
		}
		get(k).FailuresByCategory[text(category)] += n
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}

	// Nearest rank: the value at position ceil(p·n) of the sorted
	// durations, computed as (n·P + 99) / 100 in integers.
	rows, err = tx.QueryContext(ctx, `SELECT k, max(n),
	max(CASE WHEN rn = (n * 50 + 99) / 100 THEN d END),
	max(CASE WHEN rn = (n * 95 + 99) / 100 THEN d END)
FROM (SELECT `+keySQL+` AS k, llm_callbacks.duration_ms AS d,
	row_number() OVER (`+partition+`ORDER BY llm_callbacks.duration_ms) AS rn,
	count(*) OVER (`+partition+`) AS n
	FROM llm_callbacks WHERE `+where+` AND llm_callbacks.duration_ms IS NOT NULL
	AND llm_callbacks.event_type IN ('`+callback.EventWorkflowCompleted+`', '`+callback.EventWorkflowFailed+`')) t
GROUP BY k`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var (
			k           string
			n, p50, p95 int64
		)
		if err := rows.Scan(&k, &n, &p50, &p95); err != nil {
			rows.Close()
			return nil, err
		}
		st := get(k)
		st.DurationCount, st.DurationP50MS, st.DurationP95MS = n, p50, p95
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	return out, rows.Err()
}

// markAllBatch is the number of views MarkAllViewed records per
// transaction: each batch holds SQLite's writer (or PostgreSQL's index
// locks) only briefly, so ingestion goes on meanwhile.
const markAllBatch = 2000

// MarkAllViewed records the admin's view of every matching callback. See
// callback.Store.
//
// It walks the matching callbacks that the admin has not viewed newest
// first, by keyset from the newest that existed when it started (later
// arrivals are not marked), and inserts their views in batches of
// markAllBatch, each its own transaction. The views have no feed position;
// one llm_callback_view_batches row, in a last transaction, is the feed
// entry of the whole operation. If it stops half way (an error, a crash),
// the views already committed stay and a second call completes the rest.
func (s *Store) MarkAllViewed(ctx context.Context, q callback.ListQuery, admin uuid.UUID, adminName string, at time.Time) (_ callback.ViewBatch, err error) {
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("mark all callbacks viewed by %s: %w", admin, classify(err))
		}
	}()
	q = q.Storable()
	q.UnviewedOnly, q.Viewer, q.After = true, admin, nil
	cs, err := s.filters(q)
	if err != nil {
		return callback.ViewBatch{}, err
	}
	batch := callback.ViewBatch{AdminID: admin, AdminName: callback.StorableText(adminName, callback.MaxNameBytes), ViewedAt: dbTime(at)}
	var after *callback.PageToken
	for {
		n, last, err := s.markBatch(ctx, cs, after, batch)
		if err != nil {
			return callback.ViewBatch{}, err
		}
		batch.Count += n
		if last == nil {
			break
		}
		after = last
	}
	if batch.Count == 0 {
		return batch, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return callback.ViewBatch{}, err
	}
	defer tx.Rollback()
	if batch.Seq, err = advanceFeed(ctx, tx, 1); err != nil {
		return callback.ViewBatch{}, err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("INSERT INTO llm_callback_view_batches (seq, admin_user_id, admin_name, viewed_at, view_count) VALUES (%s, %s, %s, %s, %s)",
		s.placeholder(1), s.placeholder(2), s.placeholder(3), s.placeholder(4), s.placeholder(5)),
		batch.Seq, batch.AdminID, batch.AdminName, batch.ViewedAt, batch.Count); err != nil {
		return callback.ViewBatch{}, err
	}
	return batch, tx.Commit()
}

// markBatch records the views of the next markAllBatch matching callbacks
// after the keyset position (nil: from the newest) in one transaction, and
// returns how many it recorded and the position to continue from (nil at
// the end).
func (s *Store) markBatch(ctx context.Context, cs []cond, after *callback.PageToken, b callback.ViewBatch) (int64, *callback.PageToken, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	if after != nil {
		at := filterTime(after.CreatedAt)
		cs = append(slices.Clip(cs), cond{"(llm_callbacks.created_at < ? OR (llm_callbacks.created_at = ? AND llm_callbacks.id < ?))", []any{at, at, after.ID}})
	}
	var args []any
	where := s.render(cs, 0, &args)
	rows, err := tx.QueryContext(ctx, fmt.Sprintf("SELECT llm_callbacks.id, llm_callbacks.created_at FROM llm_callbacks WHERE %s ORDER BY llm_callbacks.created_at DESC, llm_callbacks.id DESC LIMIT %d", where, markAllBatch), args...)
	if err != nil {
		return 0, nil, err
	}
	var (
		ids  []any
		last callback.PageToken
	)
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id, &last.CreatedAt); err != nil {
			rows.Close()
			return 0, nil, err
		}
		last.ID = id
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, nil, err
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	if len(ids) == 0 {
		return 0, nil, nil
	}
	// INSERT ... SELECT: a callback deleted since it was read (retention)
	// is left out instead of failing the foreign key.
	in := make([]string, len(ids))
	for i := range ids {
		in[i] = s.placeholder(4 + i)
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO llm_callback_views (callback_id, admin_user_id, admin_name, viewed_at)
SELECT id, %s, %s, %s FROM llm_callbacks WHERE id IN (%s)
ON CONFLICT (callback_id, admin_user_id) DO NOTHING`, s.typed(1, "uuid"), s.typed(2, "text"), s.typed(3, "timestamptz"), strings.Join(in, ", ")),
		append([]any{b.AdminID, b.AdminName, b.ViewedAt}, ids...)...)
	if err != nil {
		return 0, nil, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, nil, err
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, err
	}
	if len(ids) < markAllBatch {
		return n, nil, nil
	}
	last.CreatedAt = last.CreatedAt.UTC()
	return n, &last, nil
}

// typed is the n-th placeholder, cast to a PostgreSQL type where the
// statement gives it none (a SELECT list).
func (s *Store) typed(n int, pgType string) string {
	if s.dialect == DialectPostgres {
		return s.placeholder(n) + "::" + pgType
	}
	return s.placeholder(n)
}
