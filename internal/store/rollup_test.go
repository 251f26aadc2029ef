package store_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// rollUpAll runs RollUpStep as at now until nothing is left, and returns
// the hours it computed.
func rollUpAll(t *testing.T, s *store.Store, now time.Time) []time.Time {
	t.Helper()
	var hours []time.Time
	for range 1000 {
		p, err := s.RollUpStep(context.Background(), now)
		require.NoError(t, err)
		if p.Hour.IsZero() {
			return hours
		}
		hours = append(hours, p.Hour)
	}
	t.Fatal("the roll-up never caught up")
	return nil
}

// statsQueries are the queries whose reports must not change when rollups
// serve them: whole and partial hours, each rollup filter, daily buckets.
func statsQueries(base time.Time) []callback.StatsQuery {
	within := func(f callback.ListQuery) callback.ListQuery {
		if f.CreatedAfter.IsZero() {
			f.CreatedAfter = base.Add(-time.Hour)
		}
		if f.CreatedBefore.IsZero() {
			f.CreatedBefore = base.Add(6 * time.Hour)
		}
		return f
	}
	return []callback.StatsQuery{
		{Filter: within(callback.ListQuery{})},
		{Filter: callback.ListQuery{}}, // no range at all
		{Filter: within(callback.ListQuery{CreatedAfter: base.Add(25 * time.Minute), CreatedBefore: base.Add(150 * time.Minute)})},
		{Filter: within(callback.ListQuery{WorkflowName: "summarise-document"})},
		{Filter: within(callback.ListQuery{Status: callback.StatusError})},
		{Filter: within(callback.ListQuery{EventType: callback.EventWorkflowCompleted})},
		{Filter: within(callback.ListQuery{}), Bucket: callback.BucketDay},
	}
}

// TestRollUp computes the hourly rollups of a history, and checks that
// Stats reads them (a rollup row changed by hand shows), that its reports
// equal those read from the callbacks for every kind of query, and that a
// redelivery or a prune of a rolled-up hour sends Stats back to the
// callbacks for that hour until the roll-up computes it again.
func TestRollUp(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.OpenURL(t, d.url(t))
			base := time.Date(2025, 12, 20, 10, 0, 0, 0, time.UTC)
			events := []string{callback.EventStepCompleted, callback.EventWorkflowCompleted, callback.EventWorkflowFailed}
			var ds []callback.Delivery
			for i := range 60 {
				ds = append(ds, storetest.Parsed(t, events[i%3], fmt.Sprintf("job-%02d", i), "s1", base.Add(time.Duration(i)*4*time.Minute)))
			}
			_, err := s.Save(ctx, ds)
			require.NoError(t, err)

			stats := func(q callback.StatsQuery) callback.StatsReport {
				t.Helper()
				r, err := s.Stats(ctx, q)
				require.NoError(t, err)
				return r
			}
			var want []callback.StatsReport
			for _, q := range statsQueries(base) {
				want = append(want, stats(q))
			}
			require.Equal(t, int64(60), want[0].Total.Count)

			// Four hours of callbacks (10:00 to 13:56); as at 14:05 the last
			// is not closed yet (RollUpGrace).
			require.Equal(t, []time.Time{base, base.Add(time.Hour), base.Add(2 * time.Hour)}, rollUpAll(t, s, base.Add(4*time.Hour+5*time.Minute)))
			require.Equal(t, []time.Time{base.Add(3 * time.Hour)}, rollUpAll(t, s, base.Add(5*time.Hour)))
			require.Empty(t, rollUpAll(t, s, base.Add(5*time.Hour)), "nothing left")
			require.Positive(t, countRows(t, s, "llm_callback_stats_hours"))
			ph := "?"
			if s.Dialect() == store.DialectPostgres {
				ph = "$1"
			}
			rowsOf := func(hour time.Time) int64 {
				t.Helper()
				var n int64
				require.NoError(t, s.DB().QueryRowContext(ctx, "SELECT count(*) FROM llm_callback_stats_hours WHERE hour = "+ph, hour).Scan(&n))
				return n
			}
			for i, q := range statsQueries(base) {
				require.Equal(t, want[i], stats(q), "query %d: %+v", i, q)
			}

			// Later, the day is over: it is rolled up from its hours.
			require.Empty(t, rollUpAll(t, s, base.Add(48*time.Hour)))
			require.Positive(t, countRows(t, s, "llm_callback_stats_days"))
			for i, q := range statsQueries(base) {
				require.Equal(t, want[i], stats(q), "query %d with the day rolled up: %+v", i, q)
			}

			// Stats reads each rollup table: a count changed by hand shows,
			// and computing the hours again puts it right.
			recompute := func() {
				t.Helper()
				for h := range 4 {
					// As a redelivery marks an hour.
					_, err := s.DB().ExecContext(ctx, "INSERT INTO llm_callback_stats_stale (hour) VALUES ("+ph+")", base.Add(time.Duration(h)*time.Hour))
					require.NoError(t, err)
				}
				require.Len(t, rollUpAll(t, s, base.Add(48*time.Hour)), 4)
			}
			for _, c := range []struct {
				table string
				query int
			}{
				{"llm_callback_stats_hour_totals", 0}, // the time series
				{"llm_callback_stats_days", 1},        // the workflows of whole days
				{"llm_callback_stats_hours", 3},       // a workflow's figures
				{"llm_callback_stats_hours", 2},       // the workflows of partial days
			} {
				_, err := s.DB().ExecContext(ctx, "UPDATE "+c.table+" SET callbacks = callbacks + 1000")
				require.NoError(t, err)
				q := statsQueries(base)[c.query]
				require.NotEqual(t, want[c.query], stats(q), "%s read by %+v", c.table, q)
				recompute()
				require.Equal(t, want[c.query], stats(q))
			}

			// A redelivery of a callback of 10:00 marks the hour stale: Stats
			// reads it from the callbacks, the other hours from their
			// (here tampered) rollups.
			_, err = s.DB().ExecContext(ctx, "UPDATE llm_callback_stats_hour_totals SET callbacks = callbacks + 1000")
			require.NoError(t, err)
			again := ds[0]
			again.ReceivedAt = base.Add(5 * time.Hour)
			_, err = s.Save(ctx, []callback.Delivery{again})
			require.NoError(t, err)
			require.Equal(t, 1, countRows(t, s, "llm_callback_stats_stale"))
			got := stats(statsQueries(base)[0])
			require.Equal(t, want[0].Buckets[0], got.Buckets[0], "hour 10 from the callbacks")
			require.NotEqual(t, want[0].Buckets[1], got.Buckets[1], "hour 11 from its tampered rollup")
			require.Equal(t, []time.Time{base}, rollUpAll(t, s, base.Add(48*time.Hour)))
			require.Equal(t, 0, countRows(t, s, "llm_callback_stats_stale"))
			recompute()
			for i, q := range statsQueries(base) {
				require.Equal(t, want[i], stats(q), "query %d after recomputing: %+v", i, q)
			}

			// A prune of the first hour and a half: the hours it touched are
			// stale, and Stats sees the callbacks that are left.
			n, _, err := s.Prune(ctx, callback.PruneQuery{Before: base.Add(90 * time.Minute), Batch: 1000, IncludeUnviewed: true})
			require.NoError(t, err)
			require.Equal(t, 23, n) // 10:00 to 11:28, every 4 minutes
			require.Equal(t, 2, countRows(t, s, "llm_callback_stats_stale"))
			require.Equal(t, int64(60-23), stats(statsQueries(base)[0]).Total.Count)
			require.Equal(t, []time.Time{base, base.Add(time.Hour)}, rollUpAll(t, s, base.Add(48*time.Hour)))
			require.Zero(t, rowsOf(base), "hour 10 is empty now")
			require.Equal(t, int64(60-23), stats(statsQueries(base)[0]).Total.Count)
		})
	}
}

// TestStatsEstimatesDurations rolls up more than CountBound callbacks:
// Stats then takes the duration percentiles from the rollups' histograms,
// flagged as estimates, within 1.1 % of the exact nearest-rank values,
// while every count stays exact.
func TestStatsEstimatesDurations(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.OpenURL(t, d.url(t))
			const n = callback.CountBound + 500
			base := time.Date(2025, 12, 20, 10, 0, 0, 0, time.UTC)
			var durations []int64
			for start := 0; start < n; start += 1000 {
				var ds []callback.Delivery
				for i := start; i < min(start+1000, n); i++ {
					dur := int64(1 + (i*7919)%120000) // 1 ms to 2 min, spread
					durations = append(durations, dur)
					body := fmt.Sprintf(`{"event":"workflow.completed","job_id":"job-%05d","status":"completed","workflow_name":"w","duration_ms":%d}`, i, dur)
					dl, err := callback.ParsePayload([]byte(body), "", callback.PayloadLimits{})
					require.NoError(t, err)
					dl.ReceivedAt = base.Add(time.Duration(i) * 500 * time.Millisecond) // about 90 minutes
					ds = append(ds, dl)
				}
				_, err := s.Save(ctx, ds)
				require.NoError(t, err)
			}
			q := callback.StatsQuery{Filter: callback.ListQuery{CreatedAfter: base, CreatedBefore: base.Add(3 * time.Hour)}}
			exact, err := s.Stats(ctx, q)
			require.NoError(t, err)
			require.False(t, exact.DurationsEstimated)
			slices.Sort(durations)
			rank := func(p int) int64 { return durations[(n*p+99)/100-1] }
			require.Equal(t, rank(50), exact.Total.DurationP50MS)
			require.Equal(t, rank(95), exact.Total.DurationP95MS)

			rollUpAll(t, s, base.Add(4*time.Hour))
			got, err := s.Stats(ctx, q)
			require.NoError(t, err)
			require.True(t, got.DurationsEstimated)
			require.Equal(t, exact.Total.Count, got.Total.Count)
			require.Equal(t, int64(n), got.Total.DurationCount)
			within := func(want, got int64) {
				t.Helper()
				require.LessOrEqual(t, math.Abs(float64(got-want))/float64(want), 0.011, "want %d, got %d", want, got)
			}
			within(rank(50), got.Total.DurationP50MS)
			within(rank(95), got.Total.DurationP95MS)
			require.Len(t, got.Buckets, 2)
			for i := range got.Buckets {
				require.Equal(t, exact.Buckets[i].Stats.Count, got.Buckets[i].Stats.Count)
				require.Equal(t, exact.Buckets[i].Stats.DurationCount, got.Buckets[i].Stats.DurationCount)
				within(exact.Buckets[i].Stats.DurationP50MS, got.Buckets[i].Stats.DurationP50MS)
				within(exact.Buckets[i].Stats.DurationP95MS, got.Buckets[i].Stats.DurationP95MS)
			}
		})
	}
}
