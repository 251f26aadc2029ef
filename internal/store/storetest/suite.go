package storetest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

// SQLStore is implemented by stores backed by SQL; the suite uses it for
// the checks that need the tables themselves (cascading deletes).
type SQLStore interface {
	callback.Store
	DB() *sql.DB
	Dialect() string
}

// Run runs the conformance suite. open returns a new, empty, migrated store
// for each case and releases it when that case ends; cases run in parallel.
func Run(t *testing.T, open func(t *testing.T) callback.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s callback.Store)
	}{
		{"SaveGetRoundTrip", testSaveGetRoundTrip},
		{"SaveValidation", testSaveValidation},
		{"RedeliveryInBatch", testRedeliveryInBatch},
		{"RedeliveryAcrossBatches", testRedeliveryAcrossBatches},
		{"BatchSizes", testBatchSizes},
		{"ConcurrentRedelivery", testConcurrentRedelivery},
		{"RedeliveryTimestamps", testRedeliveryTimestamps},
		{"ListFilters", testListFilters},
		{"ListKeysetWhileInserting", testListKeysetWhileInserting},
		{"ListPageSize", testListPageSize},
		{"MarkViewedConcurrent", testMarkViewedConcurrent},
		{"ViewedByMe", testViewedByMe},
		{"NotFound", testNotFound},
		{"Changes", testChanges},
		{"ChangesCursorMissesNothing", testChangesCursorMissesNothing},
		{"DeleteCascadesViews", testDeleteCascadesViews},
		{"HostileText", testHostileText},
		{"InvalidKeys", testInvalidKeys},
		{"HostileFilters", testHostileFilters},
		{"ReplayChangesOnlyTheCount", testReplayChangesOnlyTheCount},
		{"StoredBadBytesAreRead", testStoredBadBytesAreRead},
		{"Search", testSearch},
		{"SearchPaginates", testSearchPaginates},
		{"Count", testCount},
		{"CountKeptAcrossWrites", testCountKeptAcrossWrites},
		{"Stats", testStats},
		{"MarkAllViewed", testMarkAllViewed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
}

// base is a fixed, microsecond-aligned instant the cases build times from.
var base = time.Date(2025, 12, 20, 10, 30, 0, 123456000, time.UTC)

// delivery returns a valid delivery of key received at base+offset.
func delivery(key string, offset time.Duration) callback.Delivery {
	return callback.Delivery{
		Key:            key,
		EventType:      "workflow.completed",
		KnownEvent:     true,
		Status:         callback.StatusProcessed,
		ExternalJobID:  "job-" + key,
		WorkflowName:   "summarise",
		Payload:        []byte(`{"event":"workflow.completed","job_id":"` + key + `"}`),
		PayloadPreview: `{"event":"workflow.completed"}`,
		UserAgent:      "llm-service/1.0",
		Signature: callback.Signature{
			Valid:      true,
			Scheme:     "llm-hmac-sha256",
			KeyName:    "default",
			VerifiedAt: base.Add(offset),
		},
		ReceivedAt: base.Add(offset),
	}
}

func save(t *testing.T, s callback.Store, ds ...callback.Delivery) []callback.SaveResult {
	t.Helper()
	res, err := s.Save(context.Background(), ds)
	require.NoError(t, err)
	require.Len(t, res, len(ds))
	return res
}

func get(t *testing.T, s callback.Store, id uuid.UUID) callback.Callback {
	t.Helper()
	c, err := s.Get(context.Background(), id, uuid.Nil)
	require.NoError(t, err)
	return c
}

func list(t *testing.T, s callback.Store, q callback.ListQuery) callback.Page {
	t.Helper()
	p, err := s.List(context.Background(), q)
	require.NoError(t, err)
	return p
}

func keys(cs []callback.Callback) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Key
	}
	return out
}

func testSaveGetRoundTrip(t *testing.T, s callback.Store) {
	ctx := context.Background()
	// Not valid UTF-8, a NUL byte, and JSON that jsonb would reorder.
	payload := []byte("{\"z\":1,\"a\":\"\xff\xfe\x00\x80\",\"b\":  2}")
	d := callback.Delivery{
		Key:            "job-1:llm.step.completed:step-7",
		EventType:      "llm.step.completed",
		KnownEvent:     true,
		Status:         callback.StatusError,
		ExternalJobID:  "5e0c1b2a-0000-4000-8000-000000000001",
		WorkflowName:   "translate",
		StepID:         "step-7",
		ErrorMessage:   "model timed out",
		Payload:        payload,
		PayloadPreview: "{\"z\":1,…",
		UserAgent:      "LLM Service/2.3",
		Signature: callback.Signature{
			Valid:      true,
			Scheme:     "standard-webhooks",
			KeyName:    "job-secret",
			VerifiedAt: base.Add(1500 * time.Nanosecond), // below microseconds: truncated
		},
		ReceivedAt: base.Add(999 * time.Nanosecond).In(time.FixedZone("CET", 3600)),
	}
	res := save(t, s, d)[0]
	require.False(t, res.Duplicate)
	require.Equal(t, 1, res.DeliveryCount)
	require.Equal(t, d.Key, res.Key)
	require.NotEqual(t, uuid.Nil, res.ID)
	require.Positive(t, res.Seq)

	c := get(t, s, res.ID)
	require.True(t, bytes.Equal(payload, c.Payload), "payload bytes differ: %q", c.Payload)
	require.False(t, c.CreatedAt.IsZero())
	require.False(t, c.UpdatedAt.IsZero())
	require.Equal(t, callback.Callback{
		ID:             res.ID,
		Key:            d.Key,
		EventType:      d.EventType,
		KnownEvent:     true,
		Status:         callback.StatusError,
		ExternalJobID:  d.ExternalJobID,
		WorkflowName:   d.WorkflowName,
		StepID:         d.StepID,
		ErrorMessage:   d.ErrorMessage,
		Payload:        payload,
		PayloadPreview: d.PayloadPreview,
		UserAgent:      d.UserAgent,
		Signature: callback.Signature{
			Valid:      true,
			Scheme:     "standard-webhooks",
			KeyName:    "job-secret",
			VerifiedAt: base.Add(time.Microsecond),
		},
		DeliveryCount:  1,
		CreatedAt:      base,
		UpdatedAt:      c.UpdatedAt,
		LastDeliveryAt: base,
		Seq:            res.Seq,
		Views:          []callback.View{},
	}, c)
	require.Equal(t, time.UTC, c.CreatedAt.Location())

	// Unsigned, unknown event, empty body: zero values survive as such.
	u := callback.Delivery{Key: "unsigned", EventType: "something.else", Status: callback.StatusReceived, ReceivedAt: base}
	res = save(t, s, u)[0]
	c = get(t, s, res.ID)
	require.Empty(t, c.Payload)
	require.False(t, c.KnownEvent)
	require.Equal(t, callback.Signature{}, c.Signature)

	// Lists and feeds leave the payload out.
	p := list(t, s, callback.ListQuery{})
	require.Len(t, p.Callbacks, 2)
	for _, c := range p.Callbacks {
		require.Empty(t, c.Payload)
		require.Nil(t, c.Views)
	}
	changes, err := s.Changes(ctx, 0, 10)
	require.NoError(t, err)
	require.Len(t, changes, 2)
	require.Empty(t, changes[0].Callback.Payload)
	require.Equal(t, "translate", changes[0].Callback.WorkflowName)
}

func testSaveValidation(t *testing.T, s callback.Store) {
	ctx := context.Background()
	res, err := s.Save(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, res)

	bad := delivery("bad", 0)
	bad.Status = "done"
	_, err = s.Save(ctx, []callback.Delivery{delivery("good", 0), bad})
	require.Error(t, err)
	_, err = s.Save(ctx, []callback.Delivery{delivery("", 0)})
	require.Error(t, err)
	// A failed batch stores nothing.
	require.Empty(t, list(t, s, callback.ListQuery{}).Callbacks)
	seq, err := s.LastSeq(ctx)
	require.NoError(t, err)
	require.Zero(t, seq)
}

func testRedeliveryInBatch(t *testing.T, s callback.Store) {
	a1, b1, a2 := delivery("a", 0), delivery("b", time.Second), delivery("a", 5*time.Second)
	a2.Payload = []byte(`{"retry":1}`)
	a2.Status = callback.StatusError
	res := save(t, s, a1, b1, a2)

	require.False(t, res[0].Duplicate)
	require.Equal(t, 1, res[0].DeliveryCount)
	require.False(t, res[1].Duplicate)
	require.True(t, res[2].Duplicate)
	require.Equal(t, 2, res[2].DeliveryCount)
	require.Equal(t, res[0].ID, res[2].ID)
	require.Equal(t, res[0].Seq, res[2].Seq)
	require.NotEqual(t, res[0].Seq, res[1].Seq)

	c := get(t, s, res[0].ID)
	require.Equal(t, 2, c.DeliveryCount)
	require.Equal(t, a2.Payload, c.Payload, "the latest body wins")
	require.Equal(t, callback.StatusError, c.Status)
	require.Equal(t, base, c.CreatedAt, "created at the first delivery")
	require.Equal(t, base.Add(5*time.Second), c.LastDeliveryAt)
	require.Len(t, list(t, s, callback.ListQuery{}).Callbacks, 2)
}

func testRedeliveryAcrossBatches(t *testing.T, s callback.Store) {
	first := save(t, s, delivery("k", 0))[0]
	require.False(t, first.Duplicate)

	d2, d3 := delivery("k", time.Second), delivery("k", 2*time.Second)
	d3.Payload = []byte(`{"third":true}`)
	res := save(t, s, d2, delivery("other", 0), d3)
	require.True(t, res[0].Duplicate, "the row existed before this batch")
	require.Equal(t, 2, res[0].DeliveryCount)
	require.False(t, res[1].Duplicate)
	require.True(t, res[2].Duplicate)
	require.Equal(t, 3, res[2].DeliveryCount)
	require.Equal(t, first.ID, res[0].ID)
	require.Greater(t, res[0].Seq, first.Seq, "a redelivery moves the row in the feed")

	c := get(t, s, first.ID)
	require.Equal(t, 3, c.DeliveryCount)
	require.Equal(t, d3.Payload, c.Payload)
	require.Equal(t, res[2].Seq, c.Seq)
}

// testBatchSizes saves batches of every size across the ways a store may
// write them (PostgreSQL: prepared statements padded to powers of two up to
// 32 rows, one unprepared statement beyond, chunks in a transaction past 500
// rows), each with a redelivery of an earlier row and of a row in the same
// batch, and checks every answer and every stored row.
func testBatchSizes(t *testing.T, s callback.Store) {
	earlier := save(t, s, delivery("earlier", 0))[0]
	count := 1
	var lastSeq int64 = earlier.Seq
	for _, n := range []int{1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 32, 33, 64, 501} {
		batch := []callback.Delivery{delivery("earlier", time.Second)}
		for i := range n {
			batch = append(batch, delivery(fmt.Sprintf("n%d-%d", n, i), time.Duration(i)*time.Millisecond))
		}
		batch = append(batch, delivery(fmt.Sprintf("n%d-0", n), time.Hour)) // again, in the same batch
		count++
		res := save(t, s, batch...)

		require.True(t, res[0].Duplicate, "n=%d", n)
		require.Equal(t, earlier.ID, res[0].ID, "n=%d", n)
		require.Equal(t, count, res[0].DeliveryCount, "n=%d", n)
		seqs := map[int64]bool{res[0].Seq: true}
		for i := 1; i <= n; i++ {
			require.False(t, res[i].Duplicate, "n=%d row %d", n, i)
			require.Equal(t, 1, res[i].DeliveryCount, "n=%d row %d", n, i)
			seqs[res[i].Seq] = true
		}
		last := res[n+1]
		require.True(t, last.Duplicate, "n=%d", n)
		require.Equal(t, res[1].ID, last.ID, "n=%d", n)
		require.Equal(t, 2, last.DeliveryCount, "n=%d", n)
		require.Len(t, seqs, n+1, "n=%d: one position per stored row", n)
		for seq := range seqs {
			require.Greater(t, seq, lastSeq, "n=%d: positions after the previous batch's", n)
			require.LessOrEqual(t, seq, lastSeq+int64(n+1), "n=%d: no position skipped", n)
		}
		lastSeq += int64(n + 1)

		c := get(t, s, res[n].ID)
		require.Equal(t, batch[n].Key, c.Key, "n=%d", n)
		require.Equal(t, batch[n].Payload, c.Payload, "n=%d", n)
		require.Equal(t, res[n].Seq, c.Seq, "n=%d", n)
		again := get(t, s, last.ID)
		require.Equal(t, base.Add(time.Hour), again.LastDeliveryAt, "n=%d: the later delivery's fields", n)
	}
}

func testConcurrentRedelivery(t *testing.T, s callback.Store) {
	const n = 50
	var (
		wg      sync.WaitGroup
		results = make([]callback.SaveResult, n)
		errs    = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			d := delivery("same", time.Duration(i)*time.Millisecond)
			var res []callback.SaveResult
			res, errs[i] = s.Save(context.Background(), []callback.Delivery{d})
			if len(res) == 1 {
				results[i] = res[0]
			}
		})
	}
	wg.Wait()
	var fresh int
	counts := make([]int, 0, n)
	for i := range n {
		require.NoError(t, errs[i])
		if !results[i].Duplicate {
			fresh++
		}
		counts = append(counts, results[i].DeliveryCount)
		require.Equal(t, results[0].ID, results[i].ID)
	}
	require.Equal(t, 1, fresh, "exactly one delivery created the row")
	slices.Sort(counts)
	for i, c := range counts {
		require.Equal(t, i+1, c, "each delivery got its own count")
	}
	p := list(t, s, callback.ListQuery{})
	require.Len(t, p.Callbacks, 1)
	require.Equal(t, n, p.Callbacks[0].DeliveryCount)
}

func testRedeliveryTimestamps(t *testing.T, s callback.Store) {
	res := save(t, s, delivery("k", 0))[0]
	before := get(t, s, res.ID)
	time.Sleep(5 * time.Millisecond)
	save(t, s, delivery("k", time.Minute))
	after := get(t, s, res.ID)
	require.Equal(t, before.CreatedAt, after.CreatedAt)
	require.True(t, after.UpdatedAt.After(before.UpdatedAt), "updated_at %v !> %v", after.UpdatedAt, before.UpdatedAt)
	require.Equal(t, base.Add(time.Minute), after.LastDeliveryAt)
}

func testListFilters(t *testing.T, s callback.Store) {
	mk := func(key string, minute int, status callback.Status, event, workflow, job string) callback.Delivery {
		d := delivery(key, time.Duration(minute)*time.Minute)
		d.Status, d.EventType, d.WorkflowName, d.ExternalJobID = status, event, workflow, job
		return d
	}
	save(t, s,
		mk("c1", 1, callback.StatusProcessed, "workflow.completed", "summarise", "job-1"),
		mk("c2", 2, callback.StatusError, "workflow.failed", "summarise", "job-2"),
		mk("c3", 3, callback.StatusReceived, "llm.step.completed", "translate", "job-2"),
		mk("c4", 4, callback.StatusProcessed, "workflow.completed", "translate", "job-3"),
		mk("c5", 5, callback.StatusError, "workflow.failed", "classify", "job-4"),
	)
	tests := []struct {
		name string
		q    callback.ListQuery
		want []string
	}{
		{"none", callback.ListQuery{}, []string{"c5", "c4", "c3", "c2", "c1"}},
		{"status", callback.ListQuery{Status: callback.StatusError}, []string{"c5", "c2"}},
		{"event type", callback.ListQuery{EventType: "workflow.completed"}, []string{"c4", "c1"}},
		{"workflow", callback.ListQuery{WorkflowName: "translate"}, []string{"c4", "c3"}},
		{"job", callback.ListQuery{ExternalJobID: "job-2"}, []string{"c3", "c2"}},
		{"created after is inclusive", callback.ListQuery{CreatedAfter: base.Add(3 * time.Minute)}, []string{"c5", "c4", "c3"}},
		{"created before is exclusive", callback.ListQuery{CreatedBefore: base.Add(3 * time.Minute)}, []string{"c2", "c1"}},
		{"time range", callback.ListQuery{CreatedAfter: base.Add(2 * time.Minute), CreatedBefore: base.Add(4 * time.Minute)}, []string{"c3", "c2"}},
		{"combined", callback.ListQuery{Status: callback.StatusProcessed, WorkflowName: "translate"}, []string{"c4"}},
		{"no match", callback.ListQuery{WorkflowName: "nope"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := list(t, s, tt.q)
			require.Equal(t, tt.want, keys(p.Callbacks))
			require.Nil(t, p.Next)
		})
	}
}

func testListKeysetWhileInserting(t *testing.T, s callback.Store) {
	// 23 callbacks; pairs share a created_at, so pages must break ties by
	// id. Steps of 50ms from a whole second give fractions of different
	// lengths (none, .05, .1, ...), which must still sort in time order.
	var batch []callback.Delivery
	whole := base.Truncate(time.Second)
	for i := range 23 {
		d := delivery(fmt.Sprintf("old-%02d", i), 0)
		d.ReceivedAt = whole.Add(time.Duration(i/2) * 50 * time.Millisecond)
		batch = append(batch, d)
	}
	save(t, s, batch...)

	var (
		seen  = map[string]int{}
		all   []callback.Callback
		after *callback.PageToken
		pages int
	)
	for {
		p := list(t, s, callback.ListQuery{PageSize: 4, After: after})
		pages++
		all = append(all, p.Callbacks...)
		for _, c := range p.Callbacks {
			seen[c.Key]++
		}
		if p.Next == nil {
			break
		}
		last := p.Callbacks[len(p.Callbacks)-1]
		require.Equal(t, callback.PageToken{CreatedAt: last.CreatedAt, ID: last.ID}, *p.Next)
		after = p.Next
		// New callbacks keep arriving between page fetches; as in
		// production they are newer than everything already listed.
		save(t, s, delivery(fmt.Sprintf("new-%02d", pages), time.Hour+time.Duration(pages)*time.Second))
		require.Less(t, pages, 20, "pagination does not end")
	}
	require.Equal(t, 6, pages)
	for i := range 23 {
		require.Equal(t, 1, seen[fmt.Sprintf("old-%02d", i)], "old-%02d", i)
	}
	require.Len(t, all, 23, "no new row shifts later pages: %v", keys(all))
	for i := 1; i < len(all); i++ {
		prev, cur := all[i-1], all[i]
		require.True(t, prev.CreatedAt.After(cur.CreatedAt) ||
			(prev.CreatedAt.Equal(cur.CreatedAt) && bytes.Compare(prev.ID[:], cur.ID[:]) > 0),
			"order broken at %d: %s then %s", i, prev.Key, cur.Key)
	}
}

func testListPageSize(t *testing.T, s callback.Store) {
	var batch []callback.Delivery
	for i := range callback.MaxPageSize + 5 {
		batch = append(batch, delivery(fmt.Sprintf("k%03d", i), time.Duration(i)*time.Millisecond))
	}
	save(t, s, batch...)
	for _, tt := range []struct {
		size, want int
	}{
		{0, callback.DefaultPageSize},
		{-3, callback.DefaultPageSize},
		{1, 1},
		{7, 7},
		{callback.MaxPageSize, callback.MaxPageSize},
		{callback.MaxPageSize + 1, callback.MaxPageSize},
		{100000, callback.MaxPageSize},
	} {
		p := list(t, s, callback.ListQuery{PageSize: tt.size})
		require.Len(t, p.Callbacks, tt.want, "page size %d", tt.size)
		require.NotNil(t, p.Next, "page size %d", tt.size)
	}
	// A last page that is exactly full has no Next.
	p := list(t, s, callback.ListQuery{PageSize: 5, CreatedAfter: base.Add(100 * time.Millisecond)})
	require.Len(t, p.Callbacks, 5)
	require.Nil(t, p.Next)
}

func testMarkViewedConcurrent(t *testing.T, s callback.Store) {
	ctx := context.Background()
	id := save(t, s, delivery("k", 0))[0].ID
	admin := uuid.New()
	const n = 20
	var (
		wg      sync.WaitGroup
		views   = make([]callback.View, n)
		created = make([]bool, n)
		errs    = make([]error, n)
	)
	for i := range n {
		wg.Go(func() {
			views[i], created[i], errs[i] = s.MarkViewed(ctx, id, admin, fmt.Sprintf("admin %d", i), base.Add(time.Duration(i+1)*time.Second))
		})
	}
	wg.Wait()
	first := -1
	for i := range n {
		require.NoError(t, errs[i])
		if created[i] {
			require.Equal(t, -1, first, "two calls created the view")
			first = i
		}
	}
	require.NotEqual(t, -1, first, "no call created the view")
	for i := range n {
		require.Equal(t, views[first], views[i], "call %d", i)
	}
	require.Equal(t, base.Add(time.Duration(first+1)*time.Second), views[first].ViewedAt)
	require.Equal(t, fmt.Sprintf("admin %d", first), views[first].AdminName)

	// Later calls keep the first view.
	v, again, err := s.MarkViewed(ctx, id, admin, "someone", base.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, again)
	require.Equal(t, views[first], v)

	c, err := s.Get(ctx, id, admin)
	require.NoError(t, err)
	require.Equal(t, []callback.View{views[first]}, c.Views)
	require.True(t, c.ViewedByMe)
	last, err := s.LastSeq(ctx)
	require.NoError(t, err)
	require.Equal(t, v.Seq, last, "calls that created nothing took no feed position")
}

func testViewedByMe(t *testing.T, s callback.Store) {
	ctx := context.Background()
	res := save(t, s, delivery("c1", time.Second), delivery("c2", 2*time.Second), delivery("c3", 3*time.Second))
	c1, c2 := res[0].ID, res[1].ID
	alice, bob := uuid.New(), uuid.New()
	mark := func(id, admin uuid.UUID, name string, at time.Time) {
		_, created, err := s.MarkViewed(ctx, id, admin, name, at)
		require.NoError(t, err)
		require.True(t, created)
	}
	mark(c1, alice, "Alice", base.Add(time.Hour))
	mark(c2, bob, "Bob", base.Add(time.Hour))
	mark(c1, bob, "Bob", base.Add(time.Minute)) // earlier, recorded later

	viewed := func(p callback.Page) map[string]bool {
		m := map[string]bool{}
		for _, c := range p.Callbacks {
			m[c.Key] = c.ViewedByMe
		}
		return m
	}
	require.Equal(t, map[string]bool{"c1": true, "c2": false, "c3": false}, viewed(list(t, s, callback.ListQuery{Viewer: alice})))
	require.Equal(t, map[string]bool{"c1": true, "c2": true, "c3": false}, viewed(list(t, s, callback.ListQuery{Viewer: bob})))
	require.Equal(t, map[string]bool{"c1": false, "c2": false, "c3": false}, viewed(list(t, s, callback.ListQuery{Viewer: uuid.New()})))
	require.Equal(t, []string{"c3", "c2"}, keys(list(t, s, callback.ListQuery{Viewer: alice, UnviewedOnly: true}).Callbacks))
	require.Equal(t, []string{"c3"}, keys(list(t, s, callback.ListQuery{Viewer: bob, UnviewedOnly: true}).Callbacks))

	got, err := s.Get(ctx, c1, alice)
	require.NoError(t, err)
	require.True(t, got.ViewedByMe)
	require.Len(t, got.Views, 2)
	require.Equal(t, bob, got.Views[0].AdminID, "views are ordered by viewed_at")
	require.Equal(t, "Bob", got.Views[0].AdminName)
	require.Equal(t, base.Add(time.Minute), got.Views[0].ViewedAt)
	require.Equal(t, alice, got.Views[1].AdminID)
	got, err = s.Get(ctx, c2, alice)
	require.NoError(t, err)
	require.False(t, got.ViewedByMe)
}

func testNotFound(t *testing.T, s callback.Store) {
	ctx := context.Background()
	save(t, s, delivery("k", 0))
	before, err := s.LastSeq(ctx)
	require.NoError(t, err)

	_, err = s.Get(ctx, uuid.New(), uuid.Nil)
	require.ErrorIs(t, err, callback.ErrNotFound)
	_, created, err := s.MarkViewed(ctx, uuid.New(), uuid.New(), "Alice", base)
	require.ErrorIs(t, err, callback.ErrNotFound)
	require.False(t, created)
	require.NotErrorIs(t, err, callback.ErrUnavailable)

	after, err := s.LastSeq(ctx)
	require.NoError(t, err)
	require.Equal(t, before, after, "a failed MarkViewed takes no feed position")
}

func testChanges(t *testing.T, s callback.Store) {
	ctx := context.Background()
	last, err := s.LastSeq(ctx)
	require.NoError(t, err)
	require.Zero(t, last)
	changes, err := s.Changes(ctx, 0, 10)
	require.NoError(t, err)
	require.Empty(t, changes)

	a := save(t, s, delivery("a", 0))[0]
	b := save(t, s, delivery("b", time.Second))[0]
	admin := uuid.New()
	v, _, err := s.MarkViewed(ctx, a.ID, admin, "Alice", base.Add(time.Minute))
	require.NoError(t, err)
	a2 := save(t, s, delivery("a", 2*time.Second))[0]
	require.True(t, a.Seq < b.Seq && b.Seq < v.Seq && v.Seq < a2.Seq, "seqs %d %d %d %d", a.Seq, b.Seq, v.Seq, a2.Seq)

	type entry struct {
		Seq  int64
		Kind callback.ChangeKind
		Key  string
	}
	summary := func(cs []callback.Change) []entry {
		out := []entry{}
		for _, c := range cs {
			e := entry{Seq: c.Seq, Kind: c.Kind}
			switch c.Kind {
			case callback.ChangeViewed:
				require.Nil(t, c.Callback)
				require.Equal(t, c.Seq, c.View.Seq)
				e.Key = "view:" + c.View.AdminName
			default:
				require.Nil(t, c.View)
				require.Equal(t, c.Seq, c.Callback.Seq)
				require.Empty(t, c.Callback.Payload)
				e.Key = c.Callback.Key
			}
			out = append(out, e)
		}
		return out
	}
	// a's first delivery is superseded by its redelivery: the row moved.
	all := []entry{
		{b.Seq, callback.ChangeReceived, "b"},
		{v.Seq, callback.ChangeViewed, "view:Alice"},
		{a2.Seq, callback.ChangeRedelivered, "a"},
	}
	for _, tt := range []struct {
		after int64
		limit int
		want  []entry
	}{
		{0, 10, all},
		{0, 3, all},
		{0, 2, all[:2]},
		{0, 1, all[:1]},
		{b.Seq, 10, all[1:]},
		{v.Seq, 10, all[2:]},
		{v.Seq - 1, 1, all[1:2]},
		{a2.Seq, 10, []entry{}},
		{0, 0, []entry{}},
	} {
		changes, err := s.Changes(ctx, tt.after, tt.limit)
		require.NoError(t, err)
		require.Equal(t, tt.want, summary(changes), "after %d limit %d", tt.after, tt.limit)
	}
	changes, err = s.Changes(ctx, b.Seq, 1)
	require.NoError(t, err)
	require.Equal(t, v, *changes[0].View)

	last, err = s.LastSeq(ctx)
	require.NoError(t, err)
	require.Equal(t, a2.Seq, last)
}

// testChangesCursorMissesNothing checks the visibility promise of Changes:
// a watcher that follows the feed by cursor while writers commit
// concurrently sees every entry.
func testChangesCursorMissesNothing(t *testing.T, s callback.Store) {
	ctx := context.Background()
	const writers, perWriter = 4, 25
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		want = map[int64]bool{}
		errs = make(chan error, writers)
	)
	done := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				res, err := s.Save(ctx, []callback.Delivery{delivery(fmt.Sprintf("w%d-%d", w, i), 0)})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				want[res[0].Seq] = true
				mu.Unlock()
				if i%5 == 0 {
					v, _, err := s.MarkViewed(ctx, res[0].ID, uuid.New(), "watcher", base)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					want[v.Seq] = true
					mu.Unlock()
				}
			}
		})
	}
	go func() { wg.Wait(); close(done) }()

	seen := map[int64]bool{}
	var cursor int64
	poll := func() {
		changes, err := s.Changes(ctx, cursor, 7)
		require.NoError(t, err)
		for _, c := range changes {
			require.Greater(t, c.Seq, cursor)
			seen[c.Seq] = true
			cursor = c.Seq
		}
	}
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		poll()
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for before := int64(-1); before != cursor; {
		before = cursor
		poll()
	}
	require.Len(t, want, writers*perWriter+writers*perWriter/5)
	require.Equal(t, want, seen, "the watcher missed entries")
}

func testDeleteCascadesViews(t *testing.T, s callback.Store) {
	ss, ok := s.(SQLStore)
	if !ok {
		t.Skip("the store exposes no SQL database")
	}
	ctx := context.Background()
	res := save(t, s, delivery("gone", 0), delivery("kept", 0))
	for _, r := range res {
		_, _, err := s.MarkViewed(ctx, r.ID, uuid.New(), "Alice", base)
		require.NoError(t, err)
	}
	ph := "?"
	if ss.Dialect() == "postgres" {
		ph = "$1"
	}
	r, err := ss.DB().ExecContext(ctx, "DELETE FROM llm_callbacks WHERE id = "+ph, res[0].ID)
	require.NoError(t, err)
	n, err := r.RowsAffected()
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	count := func(id uuid.UUID) (n int) {
		require.NoError(t, ss.DB().QueryRowContext(ctx, "SELECT count(*) FROM llm_callback_views WHERE callback_id = "+ph, id).Scan(&n))
		return n
	}
	require.Zero(t, count(res[0].ID))
	require.Equal(t, 1, count(res[1].ID))
	_, err = s.Get(ctx, res[0].ID, uuid.Nil)
	require.ErrorIs(t, err, callback.ErrNotFound)
}
