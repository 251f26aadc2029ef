package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestBackfill stores callbacks, takes migration 00004 down and up again (so
// that they are rows from before it: no figures, no search document), and
// runs the backfill in batches, with a redelivery between two batches, on
// both databases.
func TestBackfill(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.OpenURL(t, d.url(t))
			base := time.Date(2025, 12, 20, 10, 0, 0, 0, time.UTC)
			var deliveries []callback.Delivery
			for i := range 25 {
				event := []string{callback.EventStepCompleted, callback.EventWorkflowCompleted, callback.EventWorkflowFailed}[i%3]
				dl := storetest.Parsed(t, event, fmt.Sprintf("job-%02d", i), "", base.Add(time.Duration(i)*time.Second))
				deliveries = append(deliveries, dl)
			}
			res, err := s.Save(ctx, deliveries)
			require.NoError(t, err)

			m, err := s.Migrator()
			require.NoError(t, err)
			// Down to before 00004, whatever came after it.
			for name := ""; name != "00004_facts_search.sql"; {
				name, err = m.Down(ctx)
				require.NoError(t, err)
				require.NotEmpty(t, name)
			}
			_, err = m.Up(ctx)
			require.NoError(t, err)
			require.Equal(t, 0, countRows(t, s, "llm_callback_search"))
			require.Equal(t, 25, countRows(t, s, "llm_callbacks WHERE duration_ms IS NULL"))

			p, err := s.BackfillStep(ctx, 10)
			require.NoError(t, err)
			require.Equal(t, store.BackfillProgress{Rows: 10, Updated: 10}, p)

			// A redelivery of a callback not yet backfilled writes its own
			// figures and document; the backfill leaves it alone.
			again := storetest.Parsed(t, callback.EventWorkflowFailed, "job-20", "", base.Add(time.Hour))
			_, err = s.Save(ctx, []callback.Delivery{again})
			require.NoError(t, err)

			p, err = s.BackfillStep(ctx, 10)
			require.NoError(t, err)
			require.Equal(t, store.BackfillProgress{Rows: 20, Updated: 10}, p)
			p, err = s.BackfillStep(ctx, 10)
			require.NoError(t, err)
			require.Equal(t, store.BackfillProgress{Rows: 25, Updated: 4, Done: true}, p)
			p, err = s.BackfillStep(ctx, 10)
			require.NoError(t, err)
			require.Equal(t, store.BackfillProgress{Rows: 25, Done: true}, p, "done stays done")

			require.Equal(t, 25, countRows(t, s, "llm_callback_search"))
			for i, r := range res {
				want := callback.Analyze(deliveries[i])
				got := readFacts(t, s, r.ID)
				require.Equal(t, want.Facts, got, "callback %d", i)
			}
			require.Equal(t, 8, countRows(t, s, "llm_callbacks WHERE error_category = 'provider'"))

			// RunBackfill on a finished backfill returns at once.
			s.RunBackfill(ctx, 10, time.Millisecond, nil)
		})
	}
}

// countRows counts the rows of a table, with an optional WHERE.
func countRows(t *testing.T, s *store.Store, from string) int {
	t.Helper()
	var n int
	require.NoError(t, s.DB().QueryRow("SELECT count(*) FROM "+from).Scan(&n))
	return n
}

// readFacts reads the figure columns of a callback.
func readFacts(t *testing.T, s *store.Store, id uuid.UUID) callback.Facts {
	t.Helper()
	row, err := s.Client().LLMCallback.Get(context.Background(), id)
	require.NoError(t, err)
	return callback.Facts{
		PromptTokens: row.PromptTokens, CompletionTokens: row.CompletionTokens, TotalTokens: row.TotalTokens,
		CostUSD: row.CostUsd, DurationMS: row.DurationMs, ErrorCategory: row.ErrorCategory,
	}
}

// TestCountBeyondTheBound saves CountBound+5 callbacks: for a filter,
// PostgreSQL then answers its planner's estimate, flagged, and SQLite the
// exact count; every callback and the unviewed badge are exact on both. The
// same history marks all viewed across several of MarkAllViewed's batches.
func TestCountBeyondTheBound(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := storetest.OpenURL(t, d.url(t))
			const n = callback.CountBound + 5
			base := time.Date(2025, 12, 20, 10, 0, 0, 0, time.UTC)
			for start := 0; start < n; start += 1000 {
				var ds []callback.Delivery
				for i := start; i < min(start+1000, n); i++ {
					ds = append(ds, callback.Delivery{Key: fmt.Sprintf("k%05d", i), EventType: "e", Status: callback.StatusReceived,
						ExternalJobID: fmt.Sprintf("job-%05d", i), Payload: []byte(`{"event":"e"}`), ReceivedAt: base.Add(time.Duration(i) * time.Millisecond)})
				}
				_, err := s.Save(ctx, ds)
				require.NoError(t, err)
			}
			_, err := s.DB().ExecContext(ctx, "ANALYZE")
			require.NoError(t, err)
			// Every callback and the unviewed badge: exact on both, from
			// the counts migration 00010 keeps.
			for _, q := range []callback.ListQuery{{}, {Viewer: uuid.New(), UnviewedOnly: true}} {
				count, err := s.Count(ctx, q)
				require.NoError(t, err)
				require.Equal(t, callback.Count{N: n}, count, "%+v", q)
			}
			// A filter beyond the bound: PostgreSQL's planner estimate,
			// flagged; SQLite's exact count.
			for _, q := range []callback.ListQuery{{EventType: "e"}, {Query: "e", EventType: "e"}, {Viewer: uuid.New(), UnviewedOnly: true, EventType: "e"}} {
				count, err := s.Count(ctx, q)
				require.NoError(t, err)
				if s.Dialect() == store.DialectPostgres {
					require.True(t, count.Estimate, "%+v", q)
					require.GreaterOrEqual(t, count.N, int64(callback.CountBound+1))
				} else {
					require.Equal(t, callback.Count{N: n}, count, "%+v", q)
				}
			}
			// Below the bound, exact on both.
			count, err := s.Count(ctx, callback.ListQuery{Query: "job-00042"})
			require.NoError(t, err)
			require.Equal(t, callback.Count{N: 1}, count)

			// MarkAllViewed over several of its batches: every callback
			// once, one feed entry.
			admin := uuid.New()
			before, err := s.LastSeq(ctx)
			require.NoError(t, err)
			batch, err := s.MarkAllViewed(ctx, callback.ListQuery{}, admin, "Dora", base)
			require.NoError(t, err)
			require.Equal(t, int64(n), batch.Count)
			require.Equal(t, before+1, batch.Seq)
			require.Equal(t, n, countRows(t, s, fmt.Sprintf("llm_callback_views WHERE admin_user_id = '%s' AND seq IS NULL", admin)))
			changes, err := s.Changes(ctx, before, 10)
			require.NoError(t, err)
			require.Len(t, changes, 1)
			require.Equal(t, callback.ChangeViewedMany, changes[0].Kind)
		})
	}
}
