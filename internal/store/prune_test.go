package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestPrune deletes old or surplus callbacks in batches, oldest first, keeps
// unviewed ones unless told otherwise, and cascades to views.
func TestPrune(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) *store.Store{"sqlite": storetest.OpenSQLite, "postgres": storetest.OpenPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			st := open(t)
			base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var ids []uuid.UUID
			for i := range 10 {
				res, err := st.Save(ctx, []callback.Delivery{{
					Key: uuid.NewString(), EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed,
					Payload: []byte(`{}`), ReceivedAt: base.Add(time.Duration(i) * time.Hour),
					Signature: callback.Signature{Valid: true, Scheme: "llm-hmac-sha256", VerifiedAt: base},
				}})
				require.NoError(t, err)
				ids = append(ids, res[0].ID)
			}
			admin := uuid.New()
			for _, id := range ids[:6] { // the six oldest are viewed
				_, _, err := st.MarkViewed(ctx, id, admin, "ops", base)
				require.NoError(t, err)
			}
			count := func() int {
				page, err := st.List(ctx, callback.ListQuery{PageSize: 100})
				require.NoError(t, err)
				return len(page.Callbacks)
			}

			// Older than 4h: ids[0..3]; all viewed; batches of 3.
			// Each batch reports its last deletion, where the next starts.
			n, last, err := st.Prune(ctx, callback.PruneQuery{Before: base.Add(4 * time.Hour), Batch: 3})
			require.NoError(t, err)
			require.Equal(t, 3, n)
			require.Equal(t, &callback.PageToken{CreatedAt: base.Add(2 * time.Hour), ID: ids[2]}, last)
			n, last, err = st.Prune(ctx, callback.PruneQuery{Before: base.Add(4 * time.Hour), Batch: 3, After: last})
			require.NoError(t, err)
			require.Equal(t, 1, n)
			require.Equal(t, ids[3], last.ID)
			n, last, err = st.Prune(ctx, callback.PruneQuery{Before: base.Add(4 * time.Hour), Batch: 3, After: last})
			require.NoError(t, err)
			require.Zero(t, n)
			require.Nil(t, last)
			_, err = st.Get(ctx, ids[3], admin)
			require.ErrorIs(t, err, callback.ErrNotFound)
			_, err = st.Get(ctx, ids[4], admin)
			require.NoError(t, err)

			// Keep the newest 2: ids[4], ids[5] are viewed and go; unviewed
			// ids[6], ids[7] stay, since unviewed callbacks are kept.
			// Nothing qualifies after ids[5]'s position: the unviewed
			// ids[6], ids[7] are kept.
			n, _, err = st.Prune(ctx, callback.PruneQuery{KeepNewest: 2, Batch: 100, After: &callback.PageToken{CreatedAt: base.Add(5 * time.Hour), ID: ids[5]}})
			require.NoError(t, err)
			require.Zero(t, n)
			require.Equal(t, 6, count())
			n, _, err = st.Prune(ctx, callback.PruneQuery{KeepNewest: 2, Batch: 100})
			require.NoError(t, err)
			require.Equal(t, 2, n)
			require.Equal(t, 4, count())

			n, _, err = st.Prune(ctx, callback.PruneQuery{KeepNewest: 2, IncludeUnviewed: true, Batch: 100})
			require.NoError(t, err)
			require.Equal(t, 2, n)
			require.Equal(t, 2, count())
			got, err := st.Get(ctx, ids[9], admin)
			require.NoError(t, err)
			require.Equal(t, ids[9], got.ID)

			// Views went with their callbacks.
			var views int
			require.NoError(t, st.DB().QueryRowContext(context.Background(), "SELECT count(*) FROM llm_callback_views").Scan(&views))
			require.Zero(t, views)
		})
	}
}
