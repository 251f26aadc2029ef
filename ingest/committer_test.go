package ingest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/store/storetest"
)

// countingStore is the real store, counting transactions.
type countingStore struct {
	callback.Store
	saves, rows atomic.Int64
}

func (s *countingStore) Save(ctx context.Context, d []callback.Delivery) ([]callback.SaveResult, error) {
	s.saves.Add(1)
	s.rows.Add(int64(len(d)))
	return s.Store.Save(ctx, d)
}

// publishLog records what the committer published.
type publishLog struct {
	mu      sync.Mutex
	batches int
	results int
}

func (p *publishLog) Publish(r []callback.SaveResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.batches++
	p.results += len(r)
}

func delivery(key string) callback.Delivery {
	return callback.Delivery{
		Key: key, EventType: "workflow.completed", KnownEvent: true, Status: callback.StatusProcessed,
		ExternalJobID: key, Payload: []byte(`{}`), ReceivedAt: time.Now(),
		Signature: callback.Signature{Valid: true, Scheme: "llm-hmac-sha256", VerifiedAt: time.Now()},
	}
}

// TestGroupCommit submits 200 deliveries at once (20 logical callbacks, 10
// deliveries each): every caller gets its own correct answer, fewer
// transactions than deliveries run, and each committed batch is published.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	st := &countingStore{Store: storetest.OpenSQLite(t)}
	pub := &publishLog{}
	c := newCommitter(t.Context(), st, pub, 1, 64)
	const keys, per = 20, 10
	var wg sync.WaitGroup
	results := make([]callback.SaveResult, keys*per)
	for i := range keys * per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := c.submit(t.Context(), delivery(fmt.Sprintf("job-%d:workflow.completed", i%keys)))
			require.NoError(t, err)
			results[i] = r
		}()
	}
	wg.Wait()
	c.close()

	fresh := map[string]int{}
	for i, r := range results {
		require.Equal(t, fmt.Sprintf("job-%d:workflow.completed", i%keys), r.Key)
		if !r.Duplicate {
			fresh[r.Key]++
		}
	}
	require.Len(t, fresh, keys)
	for k, n := range fresh {
		require.Equal(t, 1, n, "exactly one first delivery of %s", k)
	}
	require.Equal(t, int64(keys*per), st.rows.Load())
	require.Less(t, st.saves.Load(), int64(keys*per), "deliveries share transactions")
	require.Equal(t, int(st.saves.Load()), pub.batches, "one publication per committed batch")
	page, err := st.List(t.Context(), callback.ListQuery{PageSize: 100})
	require.NoError(t, err)
	require.Len(t, page.Callbacks, keys)
	for _, cb := range page.Callbacks {
		require.Equal(t, per, cb.DeliveryCount)
	}
}

// TestCommitterCloseDrainsThenRefuses: deliveries queued before close are
// committed; later ones are refused with ErrClosed (HTTP 503, retryable).
func TestCommitterCloseDrainsThenRefuses(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	c := newCommitter(t.Context(), st, nil, 1, 8)
	r, err := c.submit(t.Context(), delivery("a:workflow.completed"))
	require.NoError(t, err)
	require.False(t, r.Duplicate)
	c.close()
	_, err = c.submit(t.Context(), delivery("b:workflow.completed"))
	require.ErrorIs(t, err, ErrClosed)
}
