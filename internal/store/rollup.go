package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/callbackd/callbackd/internal/callback"
)

// RollUpGrace is how long after an hour ends the roll-up waits before it
// computes the hour: a callback is stored under the time it arrived, and
// commits a little later (its batch, a slow disk, another replica whose
// clock is behind). A callback that commits later than this into an hour
// already rolled up is missing from the hour's rollup until the hour is
// computed again (a redelivery or a prune of one of its callbacks marks it
// stale).
const RollUpGrace = 10 * time.Minute

// rollUpKey is the grouping of llm_callback_stats_hours within an hour.
type rollUpKey struct {
	workflow, status, event, category string
}

// rollUpRow is one row of llm_callback_stats_hours in the making.
type rollUpRow struct {
	n, prompt, completion, totalTokens int64
	cost                               float64
	durations                          histogram
}

// RollUpProgress says what one RollUpStep did.
type RollUpProgress struct {
	Hour    time.Time // the hour computed; zero when there was nothing to do
	Rows    int       // rollup rows it wrote
	Through time.Time // every hour before it is rolled up
}

// RollUpStep computes the statistics' rollup of one hour, in one
// transaction: the earliest stale hour, or else the next closed hour after
// llm_callback_stats_rollup.through, which it advances (over a stretch
// without callbacks at once). It does nothing before the backfill of
// payload figures is done, since the rollups sum those figures.
//
// Replicas take turns: each locks the roll-up position (on SQLite, the
// first statement takes the single writer). A write that changes a callback
// of a rolled-up hour names the hour stale in its own transaction (Save,
// Prune), and the roll-up deletes the stale mark before it reads the hour:
// a write that commits after that read leaves its mark (its insert waits
// for this transaction), and the hour is computed again.
func (s *Store) RollUpStep(ctx context.Context, now time.Time) (p RollUpProgress, err error) {
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("roll up statistics: %w", classify(err))
		}
	}()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return p, err
	}
	defer tx.Rollback()
	// Lock the position first: on SQLite an UPDATE takes the writer, on
	// PostgreSQL the row.
	if _, err := tx.ExecContext(ctx, "UPDATE llm_callback_stats_rollup SET through = through WHERE id = 1"); err != nil {
		return p, err
	}
	var (
		through  sql.NullTime
		backfill bool
	)
	if err := tx.QueryRowContext(ctx, "SELECT r.through, b.done FROM llm_callback_stats_rollup r, facts_backfill b WHERE r.id = 1 AND b.id = 1").Scan(&through, &backfill); err != nil {
		return p, err
	}
	if !backfill {
		return p, nil
	}
	closed := now.UTC().Add(-RollUpGrace).Truncate(time.Hour) // hours before it are closed
	if !through.Valid {
		// The first roll-up starts at the oldest callback's hour.
		oldest, err := firstTime(ctx, tx, "SELECT created_at FROM llm_callbacks ORDER BY created_at LIMIT 1")
		if err != nil {
			return p, err
		}
		through.Time = closed
		if oldest.Valid && oldest.Time.Before(closed) {
			through.Time = oldest.Time.UTC().Truncate(time.Hour)
		}
		through.Valid = true
	}
	p.Through = through.Time.UTC()
	from := p.Through // the position before this step

	stale, err := firstTime(ctx, tx, "SELECT hour FROM llm_callback_stats_stale WHERE hour < "+s.placeholder(1)+" ORDER BY hour LIMIT 1", dbTime(p.Through))
	if err != nil {
		return p, err
	}
	switch {
	case stale.Valid:
		p.Hour = stale.Time.UTC()
	case p.Through.Before(closed):
		p.Hour = p.Through
		// Skip hours without callbacks in one step.
		next, err := firstTime(ctx, tx, "SELECT created_at FROM llm_callbacks WHERE created_at >= "+s.placeholder(1)+" ORDER BY created_at LIMIT 1", dbTime(p.Through))
		if err != nil {
			return p, err
		}
		if !next.Valid || !next.Time.Before(closed) {
			p.Hour = time.Time{}
			p.Through = closed
		} else if h := next.Time.UTC().Truncate(time.Hour); h.After(p.Through) {
			p.Hour = h
		}
		if !p.Hour.IsZero() {
			p.Through = p.Hour.Add(time.Hour)
		}
		// Stale marks of the hours passed (writes to hours not yet rolled
		// up) mean nothing.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM llm_callback_stats_stale WHERE hour < %s", s.placeholder(1)), dbTime(p.Through)); err != nil {
			return p, err
		}
	}
	if !p.Hour.IsZero() {
		if p.Rows, err = s.rollUpHour(ctx, tx, p.Hour); err != nil {
			return p, err
		}
	}
	// Days are rolled up from their hours when they end before the new
	// position (one recomputed hour changes its day).
	day := p.Hour.Truncate(24 * time.Hour)
	if !stale.Valid {
		day = from.Truncate(24 * time.Hour)
	}
	for ; !day.Add(24 * time.Hour).After(p.Through); day = day.Add(24 * time.Hour) {
		if stale.Valid || day.Add(24*time.Hour).After(from) {
			if err := s.rollUpDay(ctx, tx, day); err != nil {
				return p, err
			}
		}
		if stale.Valid {
			break
		}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE llm_callback_stats_rollup SET through = "+s.placeholder(1)+" WHERE id = 1", dbTime(p.Through)); err != nil {
		return p, err
	}
	return p, tx.Commit()
}

// firstTime reads the time in the first row of a query, if any. (SQLite's
// min() would return text: an aggregate has no declared type.)
func firstTime(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.NullTime, error) {
	var t sql.NullTime
	err := tx.QueryRowContext(ctx, query, args...).Scan(&t)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return t, err
}

// rollUpTable is one of the rollup tables of migration 00008: per hour and
// workflow, per hour over every workflow, per day and workflow.
type rollUpTable struct {
	name     string
	at       string // the column of the hour or day
	workflow bool   // grouped by workflow too
}

// The rollup tables.
var (
	rollUpHours      = rollUpTable{"llm_callback_stats_hours", "hour", true}
	rollUpHourTotals = rollUpTable{"llm_callback_stats_hour_totals", "hour", false}
	rollUpDays       = rollUpTable{"llm_callback_stats_days", "day", true}
)

// rollUpHour replaces the rollup rows of one hour, per workflow and in
// total, with the sums of its callbacks, and returns how many rows it
// wrote.
func (s *Store) rollUpHour(ctx context.Context, tx *sql.Tx, hour time.Time) (int, error) {
	at := dbTime(hour)
	if _, err := tx.ExecContext(ctx, "DELETE FROM llm_callback_stats_stale WHERE hour = "+s.placeholder(1), at); err != nil {
		return 0, err
	}
	cs := []cond{
		{"llm_callbacks.created_at >= ?", []any{at}},
		{"llm_callbacks.created_at < ?", []any{dbTime(hour.Add(time.Hour))}},
	}
	groups := make(rollUpGroups)
	if err := s.groupSums(ctx, tx, cs, "''", func(_ string, k rollUpKey, n int64, sums rollUpRow) {
		groups.add(k, n, sums, nil)
	}); err != nil {
		return 0, err
	}
	if err := s.durations(ctx, tx, cs, "''", func(_ string, k rollUpKey, d int64) {
		groups.add(k, 0, rollUpRow{}, histogram{durationBin(d): 1})
	}); err != nil {
		return 0, err
	}
	totals := make(rollUpGroups)
	for k, g := range groups {
		k.workflow = ""
		totals.add(k, g.n, *g, g.durations)
	}
	n, err := s.writeRollUps(ctx, tx, rollUpHours, hour, groups)
	if err != nil {
		return 0, err
	}
	m, err := s.writeRollUps(ctx, tx, rollUpHourTotals, hour, totals)
	return n + m, err
}

// rollUpDay replaces the rollup rows of one day with the sums of its
// hours' rows.
func (s *Store) rollUpDay(ctx context.Context, tx *sql.Tx, day time.Time) error {
	groups := make(rollUpGroups)
	err := s.readRollUps(ctx, tx, rollUpHours, []cond{
		{rollUpHours.name + ".hour >= ?", []any{dbTime(day)}},
		{rollUpHours.name + ".hour < ?", []any{dbTime(day.Add(24 * time.Hour))}},
	}, func(_ time.Time, k rollUpKey, n int64, sums rollUpRow, h histogram) {
		groups.add(k, n, sums, h)
	})
	if err != nil {
		return err
	}
	_, err = s.writeRollUps(ctx, tx, rollUpDays, day, groups)
	return err
}

// rollUpGroups are the rows of one hour or day in the making.
type rollUpGroups map[rollUpKey]*rollUpRow

// add adds n callbacks, their sums and durations to group k.
func (gs rollUpGroups) add(k rollUpKey, n int64, sums rollUpRow, h histogram) {
	g := gs[k]
	if g == nil {
		g = &rollUpRow{}
		gs[k] = g
	}
	g.n += n
	g.prompt += sums.prompt
	g.completion += sums.completion
	g.totalTokens += sums.totalTokens
	g.cost += sums.cost
	g.durations.merge(h)
}

// writeRollUps replaces the rows of table t at start with groups, and
// returns how many it wrote.
func (s *Store) writeRollUps(ctx context.Context, tx *sql.Tx, t rollUpTable, start time.Time, groups rollUpGroups) (int, error) {
	at := dbTime(start)
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+t.name+" WHERE "+t.at+" = "+s.placeholder(1), at); err != nil {
		return 0, err
	}
	keys := make([]rollUpKey, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollUpKey) int {
		return strings.Compare(a.workflow+"\x00"+a.status+"\x00"+a.event+"\x00"+a.category, b.workflow+"\x00"+b.status+"\x00"+b.event+"\x00"+b.category)
	})
	cols := []string{t.at, "status", "event_type", "error_category", "callbacks", "prompt_tokens", "completion_tokens", "total_tokens", "cost_usd", "durations"}
	if t.workflow {
		cols = append(cols, "workflow_name")
	}
	// At most 500 rows of 11 values per statement: below both databases'
	// parameter limits.
	const chunk = 500
	for first := 0; first < len(keys); first += chunk {
		part := keys[first:min(first+chunk, len(keys))]
		var b strings.Builder
		args := make([]any, 0, len(part)*len(cols))
		b.WriteString("INSERT INTO " + t.name + " (" + strings.Join(cols, ", ") + ") VALUES ")
		for i, k := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteByte('(')
			for j := range cols {
				if j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(s.placeholder(i*len(cols) + j + 1))
			}
			b.WriteByte(')')
			g := groups[k]
			args = append(args, at, k.status, k.event, k.category, g.n, g.prompt, g.completion, g.totalTokens, g.cost, g.durations.String())
			if t.workflow {
				args = append(args, k.workflow)
			}
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// readRollUps reads the rows of table t matching cs (conditions on t's
// columns, named with the table), handing each to each.
func (s *Store) readRollUps(ctx context.Context, tx *sql.Tx, t rollUpTable, cs []cond, each func(start time.Time, k rollUpKey, n int64, sums rollUpRow, h histogram)) error {
	var args []any
	where := s.render(cs, 0, &args)
	workflow := "''"
	if t.workflow {
		workflow = "workflow_name"
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+t.at+", "+workflow+`, status, event_type, error_category, callbacks,
	prompt_tokens, completion_tokens, total_tokens, cost_usd, durations FROM `+t.name+" WHERE "+where, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			start     time.Time
			k         rollUpKey
			n         int64
			sums      rollUpRow
			durations string
		)
		if err := rows.Scan(&start, &k.workflow, &k.status, &k.event, &k.category, &n, &sums.prompt, &sums.completion, &sums.totalTokens, &sums.cost, &durations); err != nil {
			return err
		}
		h, err := parseHistogram(durations)
		if err != nil {
			return err
		}
		each(start.UTC(), k, n, sums, h)
	}
	return rows.Err()
}

// markStale names the hours of callbacks (their created_at times) that a
// write in tx changed, each once, for the roll-up to compute again. Hours
// not rolled up yet are named too (the roll-up drops their marks when it
// passes them): the writer does not read the roll-up's position, which
// would wait for a roll-up in progress.
func (s *Store) markStale(ctx context.Context, tx *sql.Tx, created []time.Time) error {
	var hours []any
	for _, t := range created {
		if h := dbTime(t.Truncate(time.Hour)); !slices.Contains(hours, any(h)) {
			hours = append(hours, h)
		}
	}
	if len(hours) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("INSERT INTO llm_callback_stats_stale (hour) VALUES ")
	for i := range hours {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + s.placeholder(i+1) + ")")
	}
	b.WriteString(" ON CONFLICT DO NOTHING")
	_, err := tx.ExecContext(ctx, b.String(), hours...)
	return err
}

// RunRollUp keeps the statistics' rollups current until ctx ends: it runs
// RollUpStep until nothing is left, then again every interval (an hour
// closes, a redelivery marks one stale). A failed step is logged and tried
// again at the next interval.
func (s *Store) RunRollUp(ctx context.Context, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for hours := 0; ; hours++ {
			p, err := s.RollUpStep(ctx, time.Now())
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				log.Warn("roll-up of statistics failed; retrying", "err", err, "retry_in", interval)
				break
			}
			if p.Hour.IsZero() {
				if hours > 1 {
					log.Info("roll-up of statistics caught up", "hours", hours, "through", p.Through)
				}
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// durationBinsPerOctave is the resolution of the duration histograms: a
// bin spans a factor of 2^(1/32), so the middle of a bin is within 1.1 % of
// every duration in it.
const durationBinsPerOctave = 32

// histogram counts durations (milliseconds) in logarithmic bins: bin 0
// holds durations up to 0, bin b > 0 those in [2^((b-1)/32), 2^(b/32)).
// Its text form, stored in llm_callback_stats_hours.durations, is
// "bin:count" pairs in bin order, separated by spaces.
type histogram map[int]int64

// durationBin is the bin of a duration.
func durationBin(d int64) int {
	if d <= 0 {
		return 0
	}
	return 1 + int(math.Floor(math.Log2(float64(d))*durationBinsPerOctave))
}

// binValue is the duration that stands for a bin: its geometric middle.
func binValue(b int) int64 {
	if b <= 0 {
		return 0
	}
	return int64(math.Round(math.Exp2((float64(b-1) + 0.5) / durationBinsPerOctave)))
}

// add counts one duration.
func (h *histogram) add(d int64) {
	if *h == nil {
		*h = make(histogram)
	}
	(*h)[durationBin(d)]++
}

// merge adds the counts of o.
func (h *histogram) merge(o histogram) {
	for b, n := range o {
		if *h == nil {
			*h = make(histogram)
		}
		(*h)[b] += n
	}
}

// count is the number of durations counted.
func (h histogram) count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// percentile is the nearest-rank percentile p (0..100) of the counted
// durations, as the value of its bin.
func (h histogram) percentile(p int64) int64 {
	n := h.count()
	if n == 0 {
		return 0
	}
	rank := (n*p + 99) / 100
	bins := make([]int, 0, len(h))
	for b := range h {
		bins = append(bins, b)
	}
	slices.Sort(bins)
	var seen int64
	for _, b := range bins {
		if seen += h[b]; seen >= rank {
			return binValue(b)
		}
	}
	return binValue(bins[len(bins)-1])
}

// String is the stored form of h.
func (h histogram) String() string {
	bins := make([]int, 0, len(h))
	for b := range h {
		bins = append(bins, b)
	}
	slices.Sort(bins)
	var b strings.Builder
	for i, bin := range bins {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(bin))
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(h[bin], 10))
	}
	return b.String()
}

// parseHistogram reads the stored form of a histogram.
func parseHistogram(s string) (histogram, error) {
	h := make(histogram)
	for _, f := range strings.Fields(s) {
		bin, n, ok := strings.Cut(f, ":")
		b, err1 := strconv.Atoi(bin)
		c, err2 := strconv.ParseInt(n, 10, 64)
		if !ok || err1 != nil || err2 != nil || c < 0 {
			return nil, fmt.Errorf("duration histogram %q: bad pair %q", s, f)
		}
		h[b] += c
	}
	return h, nil
}

// statsFromRollups reports whether Stats can read rollups for q: hourly or
// daily buckets and no filter but the workflow, status, event type and
// time range, which are the rollups' grouping.
func statsFromRollups(q callback.StatsQuery, f callback.ListQuery) bool {
	return q.Bucket != callback.BucketMinute && f.ExternalJobID == "" && f.Query == ""
}
