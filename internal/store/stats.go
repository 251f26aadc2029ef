package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/callbackd/callbackd/internal/callback"
)

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
		t := start(b)
		acc.add([]*statsGroup{acc.bucket(t), acc.workflow(k.workflow), &acc.total}, k, n, sums, nil)
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
//
// Without a workflow filter, the time series comes from the hourly totals
// and the workflows' figures from the days wholly inside those hours (days
// without a stale hour) and the hourly rows of the other hours: a few
// thousand rows for 30 days rather than one per hour and workflow. With a
// workflow filter, everything comes from that workflow's hourly rows.
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
	stale, err := s.staleHours(ctx, tx, from, to)
	if err != nil {
		return nil, err
	}

	// Conditions on a rollup table: its time column within [a, b), and
	// the filters it groups by.
	within := func(t rollUpTable, a, b time.Time) []cond {
		col := t.name + "." + t.at
		c := []cond{{col + " < ?", []any{filterTime(b)}}}
		if !a.IsZero() {
			c = append(c, cond{col + " >= ?", []any{filterTime(a)}})
		}
		for _, eq := range [][2]string{{"status", string(f.Status)}, {"event_type", f.EventType}, {"workflow_name", f.WorkflowName}} {
			if eq[1] != "" {
				c = append(c, cond{t.name + "." + eq[0] + " = ?", []any{eq[1]}})
			}
		}
		return c
	}
	// Conditions leaving out hours (or the days holding them).
	without := func(t rollUpTable, hours []time.Time) []cond {
		var c []cond
		for _, h := range hours {
			c = append(c, cond{t.name + "." + t.at + " <> ?", []any{dbTime(h)}})
		}
		return c
	}
	read := func(t rollUpTable, cs []cond, into func(start time.Time, k rollUpKey) []*statsGroup) error {
		return s.readRollUps(ctx, tx, t, cs, func(start time.Time, k rollUpKey, n int64, sums rollUpRow, h histogram) {
			acc.add(into(start, k), k, n, sums, h)
		})
	}
	everything := func(start time.Time, k rollUpKey) []*statsGroup {
		return []*statsGroup{acc.bucket(start.Truncate(acc.width)), acc.workflow(k.workflow), &acc.total}
	}
	series := func(start time.Time, _ rollUpKey) []*statsGroup {
		return []*statsGroup{acc.bucket(start.Truncate(acc.width)), &acc.total}
	}
	workflows := func(_ time.Time, k rollUpKey) []*statsGroup { return []*statsGroup{acc.workflow(k.workflow)} }

	if f.WorkflowName != "" {
		err = read(rollUpHours, append(within(rollUpHours, from, to), without(rollUpHours, stale)...), everything)
	} else {
		err = read(rollUpHourTotals, append(within(rollUpHourTotals, from, to), without(rollUpHourTotals, stale)...), series)
		// Whole days [firstDay, lastDay) from the days' rows, unless a
		// stale hour is in them; the rest from the hours' rows.
		firstDay, lastDay := from.Truncate(24*time.Hour), to.Truncate(24*time.Hour)
		if firstDay.Before(from) {
			firstDay = firstDay.Add(24 * time.Hour)
		}
		var staleDays []time.Time
		for _, h := range stale {
			if d := h.Truncate(24 * time.Hour); !slices.Contains(staleDays, d) {
				staleDays = append(staleDays, d)
			}
		}
		if firstDay.Before(lastDay) {
			if err == nil {
				err = read(rollUpDays, append(within(rollUpDays, firstDay, lastDay), without(rollUpDays, staleDays)...), workflows)
			}
			for _, span := range [][2]time.Time{{from, firstDay}, {lastDay, to}} {
				if err == nil && span[0].Before(span[1]) {
					err = read(rollUpHours, append(within(rollUpHours, span[0], span[1]), without(rollUpHours, stale)...), workflows)
				}
			}
			for _, d := range staleDays {
				if err == nil && !d.Before(firstDay) && d.Before(lastDay) {
					err = read(rollUpHours, append(within(rollUpHours, d, d.Add(24*time.Hour)), without(rollUpHours, stale)...), workflows)
				}
			}
		} else if err == nil {
			err = read(rollUpHours, append(within(rollUpHours, from, to), without(rollUpHours, stale)...), workflows)
		}
	}
	if err != nil {
		return nil, err
	}
	acc.fromRollups = true

	// The callbacks outside the rolled-up hours, as ranges bounded on both
	// sides where the range is, so that each is an index range scan.
	var outside []string
	var outsideArgs []any
	between := func(a, b time.Time) {
		outside = append(outside, "(llm_callbacks.created_at >= ? AND llm_callbacks.created_at < ?)")
		outsideArgs = append(outsideArgs, filterTime(a), filterTime(b))
	}
	if !from.IsZero() && f.CreatedAfter.Before(from) {
		between(f.CreatedAfter, from)
	}
	if f.CreatedBefore.IsZero() {
		outside = append(outside, "llm_callbacks.created_at >= ?")
		outsideArgs = append(outsideArgs, filterTime(to))
	} else if to.Before(f.CreatedBefore) {
		between(to, f.CreatedBefore)
	}
	for _, h := range stale {
		between(h, h.Add(time.Hour))
	}
	if len(outside) == 0 {
		return append(slices.Clip(cs), cond{"1 = 0", nil}), nil
	}
	return append(slices.Clip(cs), cond{"(" + strings.Join(outside, " OR ") + ")", outsideArgs}), nil
}

// staleHours returns the hours in [from, to) marked stale (from zero: from
// the start).
func (s *Store) staleHours(ctx context.Context, tx *sql.Tx, from, to time.Time) ([]time.Time, error) {
	cs := []cond{{"hour < ?", []any{filterTime(to)}}}
	if !from.IsZero() {
		cs = append(cs, cond{"hour >= ?", []any{filterTime(from)}})
	}
	var args []any
	where := s.render(cs, 0, &args)
	rows, err := tx.QueryContext(ctx, "SELECT hour FROM llm_callback_stats_stale WHERE "+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var stale []time.Time
	for rows.Next() {
		var h time.Time
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		stale = append(stale, h.UTC())
	}
	return stale, rows.Err()
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

// add adds n callbacks of key k with their sums and durations to groups.
func (a *statsAccumulator) add(groups []*statsGroup, k rollUpKey, n int64, sums rollUpRow, h histogram) {
	event, category := text(k.event), text(k.category)
	for _, g := range groups {
		st := &g.Stats
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
		g.durations.merge(h)
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
