package retention_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/retention"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// TestOncePrunesPastSeveralBatches keeps the newest rows and loops through
// more than one batch.
func TestOncePrunesPastSeveralBatches(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	deliveries := make([]callback.Delivery, 1200)
	for i := range deliveries {
		deliveries[i] = callback.Delivery{
			Key: uuid.NewString(), EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed,
			Payload: []byte(`{}`), ReceivedAt: time.Now().Add(time.Duration(i) * time.Millisecond),
			Signature: callback.Signature{Valid: true, Scheme: "llm-hmac-sha256", VerifiedAt: time.Now()},
		}
	}
	_, err := st.Save(t.Context(), deliveries)
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	r, err := retention.New(retention.Policy{MaxRows: 100, IncludeUnviewed: true}, st, slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	n, err := r.Once(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1100, n)
	count, err := testutil.GatherAndCount(reg, "callbackd_pruned_callbacks_total")
	require.NoError(t, err)
	require.Equal(t, 1, count)
	page, err := st.List(t.Context(), callback.ListQuery{PageSize: 100})
	require.NoError(t, err)
	require.Len(t, page.Callbacks, 100)
	require.Nil(t, page.Next)
	require.Equal(t, deliveries[1199].Key, page.Callbacks[0].Key, "the newest are kept")

	// Unviewed callbacks are never pruned by default.
	keepUnviewed, err := retention.New(retention.Policy{MaxRows: 1}, st, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	n, err = keepUnviewed.Once(t.Context())
	require.NoError(t, err)
	require.Zero(t, n)
}
