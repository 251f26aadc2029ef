package ingest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
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
	c := newCommitter(t.Context(), st, pub, nil, 1, 64)
	const keys, per = 20, 10
	var wg sync.WaitGroup
	results := make([]callback.SaveResult, keys*per)
	for i := range keys * per {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, _, err := c.submit(t.Context(), delivery(fmt.Sprintf("job-%d:workflow.completed", i%keys)))
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
	c := newCommitter(t.Context(), st, nil, nil, 1, 8)
	r, _, err := c.submit(t.Context(), delivery("a:workflow.completed"))
	require.NoError(t, err)
	require.False(t, r.Duplicate)
	c.close()
	_, _, err = c.submit(t.Context(), delivery("b:workflow.completed"))
	require.ErrorIs(t, err, ErrClosed)
}

// batchOf returns pendings for deliveries, as the workers gather them.
func batchOf(ds ...callback.Delivery) []*pending {
	batch := make([]*pending, len(ds))
	for i, d := range ds {
		batch[i] = &pending{delivery: d, done: make(chan outcome, 1)}
	}
	return batch
}

// TestCommitterIsolatesRefusedRows commits batches in which the store
// refuses some rows, on both databases: every other delivery is stored and
// answered, only the refused ones get the error, in few transactions.
// The poison bypasses ParsePayload: a 3 KB incompressible key (which Save
// refuses on both databases, as PostgreSQL's unique index would) and, on
// PostgreSQL, a time the database itself refuses (out of timestamptz's
// range), so that a refusal by the database is isolated too.
func TestCommitterIsolatesRefusedRows(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(testing.TB) *store.Store{"sqlite": storetest.OpenSQLite, "postgres": storetest.OpenPostgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := &countingStore{Store: open(t)}
			pub := &publishLog{}
			c := newCommitter(t.Context(), st, pub, nil, 1, 64)
			defer c.close()

			key := make([]byte, 2250)
			rand.Read(key)
			longKey := delivery(base64.RawStdEncoding.EncodeToString(key)) // 3000 bytes
			var ds []callback.Delivery
			poisoned := map[int]bool{}
			for i := range 40 {
				switch {
				case i == 7:
					poisoned[i] = true
					ds = append(ds, longKey)
				case i == 23 && name == "postgres":
					d := delivery("far-future:workflow.completed")
					d.ReceivedAt = time.Date(300000, 1, 1, 0, 0, 0, 0, time.UTC)
					poisoned[i] = true
					ds = append(ds, d)
				case i == 31:
					ds = append(ds, delivery("job-3:workflow.completed")) // a redelivery within the batch
				default:
					ds = append(ds, delivery(fmt.Sprintf("job-%d:workflow.completed", i)))
				}
			}
			batch := batchOf(ds...)
			c.commit(t.Context(), batch)

			stored := 0
			for i, p := range batch {
				o := <-p.done
				if poisoned[i] {
					require.Error(t, o.err, "delivery %d", i)
					require.NotErrorIs(t, o.err, callback.ErrUnavailable, "a refused row is not a retryable failure")
					t.Logf("delivery %d refused: %v", i, o.err)
					continue
				}
				require.NoError(t, o.err, "delivery %d beside the refused rows", i)
				got, err := st.Get(t.Context(), o.result.ID, uuid.Nil)
				require.NoError(t, err)
				require.Equal(t, ds[i].Key, got.Key)
				stored++
			}
			require.Equal(t, 40-len(poisoned), stored)
			page, err := st.List(t.Context(), callback.ListQuery{ExternalJobID: "job-3:workflow.completed"})
			require.NoError(t, err)
			require.Equal(t, 2, page.Callbacks[0].DeliveryCount, "the redelivery in the other half counted once")
			// Each refused row fails one batch per halving on its way down
			// (40 → 20 → 10 → 5 → 3 → 2 → 1), and each failure costs two saves.
			require.LessOrEqual(t, st.saves.Load(), int64(1+2*6*len(poisoned)), "a few transactions per refused row, not one per delivery")
			require.Equal(t, 40-len(poisoned), pub.results, "every committed delivery is published, no refused one")
		})
	}
}

// failingStore fails every batch as unavailable storage does.
type failingStore struct {
	callback.Store
	saves atomic.Int64
}

func (s *failingStore) Save(context.Context, []callback.Delivery) ([]callback.SaveResult, error) {
	s.saves.Add(1)
	return nil, fmt.Errorf("save: %w: connection refused", callback.ErrUnavailable)
}

// TestCommitterFailsUnavailableBatchesWhole: an error a retry may fix is not
// a row's fault: the batch fails as a whole, in one transaction, and every
// delivery gets the retryable error.
func TestCommitterFailsUnavailableBatchesWhole(t *testing.T) {
	t.Parallel()
	st := &failingStore{Store: storetest.OpenSQLite(t)}
	c := newCommitter(t.Context(), st, nil, nil, 1, 64)
	defer c.close()
	var ds []callback.Delivery
	for i := range 16 {
		ds = append(ds, delivery(fmt.Sprintf("job-%d:workflow.completed", i)))
	}
	batch := batchOf(ds...)
	c.commit(t.Context(), batch)
	for _, p := range batch {
		require.ErrorIs(t, (<-p.done).err, callback.ErrUnavailable)
	}
	require.EqualValues(t, 1, st.saves.Load())
}
