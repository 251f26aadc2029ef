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

// bucketKey is the SQL expression of a row's time bucket, and the layout
// that parses its value scanned as text: PostgreSQL truncates the UTC time
// (date_trunc, which costs a fraction of formatting it), SQLite cuts its
// stored UTC text (see migrations/sqlite/00001_callbacks.sql).
func (s *Store) bucketKey(b callback.Bucket) (expr, layout string) {
	units := map[callback.Bucket]string{callback.BucketMinute: "minute", callback.BucketHour: "hour", callback.BucketDay: "day"}
	layouts := map[callback.Bucket]string{callback.BucketMinute: "2006-01-02 15:04", callback.BucketHour: "2006-01-02 15", callback.BucketDay: "2006-01-02"}
	if _, ok := layouts[b]; !ok {
		b = callback.BucketHour
	}
	if s.dialect == DialectPostgres {
		// A timestamp without time zone scans as RFC 3339 text.
		return "date_trunc('" + units[b] + "', llm_callbacks.created_at AT TIME ZONE 'UTC')", time.RFC3339Nano
	}
	return fmt.Sprintf("substr(llm_callbacks.created_at, 1, %d)", len(layouts[b])), layouts[b]
}

// Stats summarises the callbacks of a range. See callback.Store.
//
// The whole hours of the range that the roll-up has computed come from
// llm_callback_stats_hours (rollup.go), when the query's filters are among
// the rollups' grouping and its buckets hourly or daily; the rest of the
// range (its ends, the last hour or so, stale hours, or all of it) from the
// callbacks, in the same snapshot: counts and sums grouped by bucket,
// workflow, status, event type and error category. Duration percentiles
// are nearest-rank over the callbacks themselves, ranked with window
// functions so that both dialects pick the same values, when the range
// holds at most callback.CountBound callbacks or no rollups serve it;
// beyond that they come from the rollups' histograms and are flagged as
// estimates (within 1.1 % of a duration of that rank).
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
	var badBucket error // the first bucket text that did not parse
	start := func(b string) time.Time {
		t, err := time.ParseInLocation(layout, b, time.UTC)
		if err != nil && badBucket == nil {
			badBucket = fmt.Errorf("bucket %q: %w", b, err)
		}
		return t
	}
	acc := statsAccumulator{width: q.Bucket.Duration(), buckets: map[time.Time]*statsGroup{}, workflows: map[string]*statsGroup{}, total: *newStatsGroup()}
	raw := cs // the callbacks read directly
	if statsFromRollups(q, f) {
		if raw, err = s.readRollups(ctx, tx, f, cs, &acc); err != nil {
			return callback.StatsReport{}, err
		}
	}
	if err := s.groupSums(ctx, tx, raw, bucket, func(b string, k rollUpKey, n int64, sums rollUpRow) {
		acc.add(start(b), k, n, sums)
	}); err != nil {
		return callback.StatsReport{}, err
	}
	if !acc.fromRollups || acc.total.Count <= callback.CountBound {
		err = s.percentiles(ctx, tx, cs, bucket, func(b string) *callback.Stats { return &acc.bucket(start(b)).Stats },
			func(w string) *callback.Stats { return &acc.workflow(w).Stats }, &acc.total.Stats)
	} else {
		err = s.durations(ctx, tx, raw, bucket, func(b string, k rollUpKey, d int64) {
			acc.addDuration(start(b), k.workflow, histogram{durationBin(d): 1})
		})
		acc.estimatePercentiles()
	}
	if err != nil {
		return callback.StatsReport{}, err
	}
	if badBucket != nil {
		return callback.StatsReport{}, badBucket
	}
	return acc.report(), tx.Commit()
}

// readRollups adds the rollups of the whole hours of f's range that the
// roll-up has computed, and not marked stale since, to acc, and returns the
// conditions of the callbacks the rest of the range holds: cs and outside
// those hours.
func (s *Store) readRollups(ctx context.Context, tx *sql.Tx, f callback.ListQuery, cs []cond, acc *statsAccumulator) ([]cond, error) {
	var through sql.NullTime
	if err := tx.QueryRowContext(ctx, "SELECT through FROM llm_callback_stats_rollup WHERE id = 1").Scan(&through); err != nil || !through.Valid {
		return cs, err
	}
	// The rolled-up hours [from, to) inside the range; from zero means
	// from the start.
	var from time.Time
	if !f.CreatedAfter.IsZero() {
		from = f.CreatedAfter.UTC().Truncate(time.Hour)
		if from.Before(f.CreatedAfter) {
			from = from.Add(time.Hour)
		}
	}
	to := through.Time.UTC()
	if !f.CreatedBefore.IsZero() && f.CreatedBefore.Before(to) {
		to = f.CreatedBefore.UTC().Truncate(time.Hour)
	}
	if !from.IsZero() && !from.Before(to) {
		return cs, nil
	}
	hours := []cond{{"llm_callback_stats_hours.hour < ?", []any{filterTime(to)}}}
	rawOutside := "llm_callbacks.created_at >= ?"
	rawArgs := []any{filterTime(to)}
	if !from.IsZero() {
		hours = append(hours, cond{"llm_callback_stats_hours.hour >= ?", []any{filterTime(from)}})
		rawOutside += " OR llm_callbacks.created_at < ?"
		rawArgs = append(rawArgs, filterTime(from))
	}
	// Stale hours come from the callbacks.
	var args []any
	where := s.render(hours, 0, &args)
	rows, err := tx.QueryContext(ctx, "SELECT hour FROM llm_callback_stats_stale WHERE "+strings.ReplaceAll(where, "llm_callback_stats_hours.", ""), args...)
	if err != nil {
		return nil, err
	}
	var stale []time.Time
	for rows.Next() {
		var h time.Time
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return nil, err
		}
		stale = append(stale, h.UTC())
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, err
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, h := range stale {
		hours = append(hours, cond{"llm_callback_stats_hours.hour <> ?", []any{dbTime(h)}})
		rawOutside += " OR (llm_callbacks.created_at >= ? AND llm_callbacks.created_at < ?)"
		rawArgs = append(rawArgs, dbTime(h), dbTime(h.Add(time.Hour)))
	}
	eq := func(col, v string) {
		if v != "" {
			hours = append(hours, cond{"llm_callback_stats_hours." + col + " = ?", []any{v}})
		}
	}
	eq("status", string(f.Status))
	eq("event_type", f.EventType)
	eq("workflow_name", f.WorkflowName)
	args = args[:0]
	where = s.render(hours, 0, &args)
	rows, err = tx.QueryContext(ctx, `SELECT hour, workflow_name, status, event_type, error_category, callbacks,
	prompt_tokens, completion_tokens, total_tokens, cost_usd, durations FROM llm_callback_stats_hours WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			hour      time.Time
			k         rollUpKey
			n         int64
			sums      rollUpRow
			durations string
		)
		if err := rows.Scan(&hour, &k.workflow, &k.status, &k.event, &k.category, &n, &sums.prompt, &sums.completion, &sums.totalTokens, &sums.cost, &durations); err != nil {
			return nil, err
		}
		h, err := parseHistogram(durations)
		if err != nil {
			return nil, err
		}
		start := hour.UTC().Truncate(acc.width)
		acc.add(start, k, n, sums)
		acc.addDuration(start, k.workflow, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	acc.fromRollups = true
	return append(slices.Clip(cs), cond{"(" + rawOutside + ")", rawArgs}), nil
}

// statsGroup is the summary of one bucket, one workflow or the total, with
// the histogram of its durations when they are estimated.
type statsGroup struct {
	callback.Stats
	durations histogram
}

// statsAccumulator adds up the groups of a statistics report.
type statsAccumulator struct {
	width       time.Duration // of a bucket
	buckets     map[time.Time]*statsGroup
	workflows   map[string]*statsGroup
	total       statsGroup
	fromRollups bool // some of the figures came from rollups
	estimated   bool
}

func newStatsGroup() *statsGroup {
	return &statsGroup{Stats: callback.Stats{ByStatus: map[callback.Status]int64{}, ByEventType: map[string]int64{}, FailuresByCategory: map[string]int64{}}}
}

// bucket returns the group of the bucket starting at start, adding it when
// missing.
func (a *statsAccumulator) bucket(start time.Time) *statsGroup {
	g := a.buckets[start]
	if g == nil {
		g = newStatsGroup()
		a.buckets[start] = g
	}
	return g
}

// workflow returns the group of workflow w, adding it when missing.
func (a *statsAccumulator) workflow(w string) *statsGroup {
	g := a.workflows[w]
	if g == nil {
		g = newStatsGroup()
		a.workflows[w] = g
	}
	return g
}

// add adds n callbacks of key k with their sums to the bucket starting at
// start, k's workflow and the total.
func (a *statsAccumulator) add(start time.Time, k rollUpKey, n int64, sums rollUpRow) {
	event, category := text(k.event), text(k.category)
	for _, st := range []*callback.Stats{&a.bucket(start).Stats, &a.workflow(k.workflow).Stats, &a.total.Stats} {
		st.Count += n
		st.ByStatus[callback.Status(k.status)] += n
		st.ByEventType[event] += n
		if callback.Status(k.status) == callback.StatusError {
			st.FailuresByCategory[category] += n
		}
		st.PromptTokens += sums.prompt
		st.CompletionTokens += sums.completion
		st.TotalTokens += sums.totalTokens
		st.CostUSD += sums.cost
	}
}

// addDuration adds durations to the bucket starting at start, workflow w
// and the total.
func (a *statsAccumulator) addDuration(start time.Time, w string, h histogram) {
	if len(h) == 0 {
		return
	}
	for _, g := range []*statsGroup{a.bucket(start), a.workflow(w), &a.total} {
		g.durations.merge(h)
	}
}

// estimatePercentiles sets every group's duration figures from its
// histogram.
func (a *statsAccumulator) estimatePercentiles() {
	a.estimated = true
	set := func(g *statsGroup) {
		g.DurationCount = g.durations.count()
		g.DurationP50MS = g.durations.percentile(50)
		g.DurationP95MS = g.durations.percentile(95)
	}
	for _, g := range a.buckets {
		set(g)
	}
	for _, g := range a.workflows {
		set(g)
	}
	set(&a.total)
}

// report is the accumulated report: buckets oldest first, workflows by
// name.
func (a *statsAccumulator) report() callback.StatsReport {
	r := callback.StatsReport{Total: a.total.Stats, DurationsEstimated: a.estimated}
	starts := make([]time.Time, 0, len(a.buckets))
	for t := range a.buckets {
		starts = append(starts, t)
	}
	slices.SortFunc(starts, time.Time.Compare)
	for _, t := range starts {
		r.Buckets = append(r.Buckets, callback.BucketStats{Start: t, Stats: a.buckets[t].Stats})
	}
	names := make([]string, 0, len(a.workflows))
	for w := range a.workflows {
		names = append(names, w)
	}
	slices.Sort(names)
	for _, w := range names {
		r.Workflows = append(r.Workflows, callback.WorkflowStats{WorkflowName: text(w), Stats: a.workflows[w].Stats})
	}
	return r
}

// groupSums reads the counts and sums of the rows matching cs, grouped by
// the bucket expression, workflow, status, event type and error category.
// Tokens and cost leave out workflow.completed callbacks, whose cost_data
// restates their steps' figures (callback.Stats).
func (s *Store) groupSums(ctx context.Context, tx *sql.Tx, cs []cond, bucket string, each func(bucket string, k rollUpKey, n int64, sums rollUpRow)) error {
	var args []any
	where := s.render(cs, 0, &args)
	sum := func(col string) string {
		return "COALESCE(SUM(CASE WHEN llm_callbacks.event_type <> '" + callback.EventWorkflowCompleted + "' THEN llm_callbacks." + col + " END), 0)"
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+bucket+", llm_callbacks.workflow_name, llm_callbacks.status, llm_callbacks.event_type, llm_callbacks.error_category, count(*), "+
		sum("prompt_tokens")+", "+sum("completion_tokens")+", "+sum("total_tokens")+", "+sum("cost_usd")+
		" FROM llm_callbacks WHERE "+where+" GROUP BY 1, 2, 3, 4, 5", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b    string
			k    rollUpKey
			n    int64
			sums rollUpRow
		)
		if err := rows.Scan(&b, &k.workflow, &k.status, &k.event, &k.category, &n, &sums.prompt, &sums.completion, &sums.totalTokens, &sums.cost); err != nil {
			return err
		}
		each(b, k, n, sums)
	}
	return rows.Err()
}

// finishedWithDuration is the condition of the callbacks whose duration the
// statistics count: finished workflows that report one.
const finishedWithDuration = "llm_callbacks.duration_ms IS NOT NULL AND llm_callbacks.event_type IN ('" +
	callback.EventWorkflowCompleted + "', '" + callback.EventWorkflowFailed + "')"

// durations reads the durations of the finished workflows matching cs,
// with their bucket and grouping.
func (s *Store) durations(ctx context.Context, tx *sql.Tx, cs []cond, bucket string, each func(bucket string, k rollUpKey, d int64)) error {
	var args []any
	where := s.render(cs, 0, &args)
	rows, err := tx.QueryContext(ctx, "SELECT "+bucket+", llm_callbacks.workflow_name, llm_callbacks.status, llm_callbacks.event_type, llm_callbacks.error_category, llm_callbacks.duration_ms"+
		" FROM llm_callbacks WHERE "+where+" AND "+finishedWithDuration, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			b string
			k rollUpKey
			d int64
		)
		if err := rows.Scan(&b, &k.workflow, &k.status, &k.event, &k.category, &d); err != nil {
			return err
		}
		each(b, k, d)
	}
	return rows.Err()
}

// percentiles sets the exact duration figures of the buckets, the
// workflows and the total from one read of the finished workflows'
// durations, ranked in each grouping: only the rows at a wanted rank come
// back. bucketOf and workflowOf return the figures of a bucket (as the
// bucket expression's text) and of a workflow.
func (s *Store) percentiles(ctx context.Context, tx *sql.Tx, cs []cond, bucket string, bucketOf, workflowOf func(string) *callback.Stats, total *callback.Stats) error {
	var args []any
	where := s.render(cs, 0, &args)
	// Nearest rank: the value at position ceil(p·n) of the sorted
	// durations, computed as (n·P + 99) / 100 in integers.
	rank := func(rn, n string) string {
		return "(" + rn + " = (" + n + " * 50 + 99) / 100 OR " + rn + " = (" + n + " * 95 + 99) / 100)"
	}
	rows, err := tx.QueryContext(ctx, `SELECT b, w, d, rn_b, n_b, rn_w, n_w, rn_t, n_t FROM (SELECT `+bucket+` AS b,
	llm_callbacks.workflow_name AS w, llm_callbacks.duration_ms AS d,
	row_number() OVER (PARTITION BY `+bucket+` ORDER BY llm_callbacks.duration_ms) AS rn_b,
	count(*) OVER (PARTITION BY `+bucket+`) AS n_b,
	row_number() OVER (PARTITION BY llm_callbacks.workflow_name ORDER BY llm_callbacks.duration_ms) AS rn_w,
	count(*) OVER (PARTITION BY llm_callbacks.workflow_name) AS n_w,
	row_number() OVER (ORDER BY llm_callbacks.duration_ms) AS rn_t,
	count(*) OVER () AS n_t
	FROM llm_callbacks WHERE `+where+` AND `+finishedWithDuration+`) t
WHERE `+rank("rn_b", "n_b")+` OR `+rank("rn_w", "n_w")+` OR `+rank("rn_t", "n_t"), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	set := func(st *callback.Stats, d, rn, n int64) {
		st.DurationCount = n
		if rn == (n*50+99)/100 {
			st.DurationP50MS = d
		}
		if rn == (n*95+99)/100 {
			st.DurationP95MS = d
		}
	}
	for rows.Next() {
		var (
			b, w                         string
			d, rnB, nB, rnW, nW, rnT, nT int64
		)
		if err := rows.Scan(&b, &w, &d, &rnB, &nB, &rnW, &nW, &rnT, &nT); err != nil {
			return err
		}
		set(bucketOf(b), d, rnB, nB)
		set(workflowOf(w), d, rnW, nW)
		set(total, d, rnT, nT)
	}
	return rows.Err()
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
