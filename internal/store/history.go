package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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

// pgWords is the expression of the PostgreSQL index of the search
// document's words (migration 00004): each word one lexeme, as written.
const pgWords = "array_to_tsvector(string_to_array(btrim(document), ' '))"

// searchCond is the condition of one search term. Both dialects match the
// words of the search document (callback.SearchDocument), which are
// separated by single spaces: PostgreSQL finds the documents holding every
// word with the GIN index of their words (pgWords), and checks the phrase
// (adjacent words, a prefix) with a LIKE pattern; SQLite with an FTS5
// phrase. A term typed without quotes also matches a job id that begins
// with it, compared exactly (by characters on both).
func (s *Store) searchCond(t callback.SearchTerm) cond {
	phrase := strings.Join(t.Words, " ")
	var c cond
	if s.dialect == DialectPostgres {
		pattern := "% " + phrase + " %"
		if t.Prefix {
			pattern = "% " + phrase + "%"
		}
		// The words hold only letters and digits: nothing to escape, in a
		// LIKE pattern or in a tsquery's quoted lexemes.
		lexemes := make([]string, len(t.Words))
		for i, w := range t.Words {
			lexemes[i] = "'" + w + "'"
		}
		if t.Prefix {
			lexemes[len(lexemes)-1] += ":*"
		}
		c = cond{"llm_callbacks.id IN (SELECT callback_id FROM llm_callback_search WHERE " + pgWords + " @@ ?::tsquery AND document LIKE ?)",
			[]any{strings.Join(lexemes, " & "), pattern}}
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
	if n, ok, err := s.countKept(ctx, q); err != nil || ok {
		return callback.Count{N: n}, err
	}
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

// countKept answers Count from the counts that migration 00010's triggers
// keep, when q is one they answer: no filter at all (every callback), or
// only unviewed_only (the badge: every callback less the admin's views,
// which are all of existing callbacks). Both are exact, whatever the
// history's size, and read two rows instead of counting. ok is false for
// any other query.
func (s *Store) countKept(ctx context.Context, q callback.ListQuery) (n int64, ok bool, err error) {
	// A query without terms adds no condition (filters).
	terms, err := callback.ParseQuery(q.Query)
	if err != nil || len(terms) > 0 || q.Status != "" || q.EventType != "" || q.WorkflowName != "" || q.ExternalJobID != "" ||
		!q.CreatedAfter.IsZero() || !q.CreatedBefore.IsZero() {
		return 0, false, nil
	}
	if !q.UnviewedOnly {
		err = s.readDB.QueryRowContext(ctx, "SELECT callbacks FROM llm_callback_count WHERE id = 1").Scan(&n)
		return n, err == nil, err
	}
	// One statement, so one snapshot for both counts.
	err = s.readDB.QueryRowContext(ctx, "SELECT (SELECT callbacks FROM llm_callback_count WHERE id = 1) - "+
		"COALESCE((SELECT views FROM llm_callback_view_counts WHERE admin_user_id = "+s.placeholder(1)+"), 0)", q.Viewer).Scan(&n)
	return n, err == nil, err
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
	// Not "unviewed only": the keyset walk below never reads a row twice,
	// and ON CONFLICT skips a callback the admin has already viewed. With
	// the NOT EXISTS instead, PostgreSQL re-read the admin's growing set
	// of views for every batch (20,000 callbacks took 46 s on a history of
	// 2,000,000; BENCHMARKS.md).
	q.UnviewedOnly, q.After = false, nil
	cs, err := s.filters(q)
	if err != nil {
		return callback.ViewBatch{}, err
	}
	batch := callback.ViewBatch{AdminID: admin, AdminName: callback.StorableText(adminName, callback.MaxNameBytes), ViewedAt: dbTime(at)}
	var after *callback.PageToken
	for retries := 0; ; {
		n, last, err := s.markBatch(ctx, cs, after, batch)
		if isForeignKeyViolation(err) && retries < 3 {
			// Retention deleted a callback of the batch meanwhile; the
			// batch rolled back, and its next snapshot leaves it out.
			retries++
			continue
		}
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
//
// Two statements, neither of which brings the callbacks to the process:
// the first finds the batch's last position (the markAllBatch-th matching
// callback, by the same index walk as a page), the second inserts the views
// of the callbacks between the two positions with INSERT ... SELECT. Until
// 2 December 2026 the batch's ids went to the process and back as 2,000
// parameters of an INSERT that looked each up again by primary key.
func (s *Store) markBatch(ctx context.Context, cs []cond, after *callback.PageToken, b callback.ViewBatch) (int64, *callback.PageToken, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	if after != nil {
		at := filterTime(after.CreatedAt)
		// created_at <= at bounds the index scan, as in List: without it
		// each batch would walk every row the earlier batches marked.
		cs = append(slices.Clip(cs), cond{"llm_callbacks.created_at <= ? AND (llm_callbacks.created_at < ? OR (llm_callbacks.created_at = ? AND llm_callbacks.id < ?))", []any{at, at, at, after.ID}})
	}
	var args []any
	where := s.render(cs, 0, &args)
	var (
		last    callback.PageToken
		lastID  uuid.UUID
		through = true // the batch is the last: no position bounds it
	)
	err = tx.QueryRowContext(ctx, fmt.Sprintf("SELECT llm_callbacks.created_at, llm_callbacks.id FROM llm_callbacks WHERE %s ORDER BY llm_callbacks.created_at DESC, llm_callbacks.id DESC LIMIT 1 OFFSET %d", where, markAllBatch-1), args...).
		Scan(&last.CreatedAt, &lastID)
	switch {
	case err == nil:
		through = false
		last.ID = lastID
		at := filterTime(last.CreatedAt)
		cs = append(slices.Clip(cs), cond{"(llm_callbacks.created_at > ? OR (llm_callbacks.created_at = ? AND llm_callbacks.id >= ?))", []any{at, at, lastID}})
	case !errors.Is(err, sql.ErrNoRows):
		return 0, nil, err
	}
	args = []any{b.AdminID, b.AdminName, b.ViewedAt}
	where = s.render(cs, 3, &args)
	// ON CONFLICT skips a callback the admin has viewed. A callback deleted
	// since the statement's snapshot (retention) fails the foreign key, and
	// MarkAllViewed runs the batch again.
	res, err := tx.ExecContext(ctx, fmt.Sprintf(`INSERT INTO llm_callback_views (callback_id, admin_user_id, admin_name, viewed_at)
SELECT llm_callbacks.id, %s, %s, %s FROM llm_callbacks WHERE %s
ON CONFLICT (callback_id, admin_user_id) DO NOTHING`, s.typed(1, "uuid"), s.typed(2, "text"), s.typed(3, "timestamptz"), where), args...)
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
	if through {
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
