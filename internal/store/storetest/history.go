package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
)

// history saves a small, varied history through ParsePayload, as ingest
// would, and returns the deliveries by job id.
func history(t *testing.T, s callback.Store) map[string]callback.Delivery {
	t.Helper()
	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	bodies := []struct {
		at   int
		body map[string]any
	}{
		{0, map[string]any{"event": "workflow.failed", "job_id": "7b0c5bd8-54a6-4f7a-9a8e-0f3f1c0b7a11", "workflow_name": "summarise-document", "status": "failed",
			"error_message": "LLM provider timed out after 3 attempts", "error": map[string]any{"category": "provider", "message": "Timeout"}, "duration_ms": 90000}},
		{1, map[string]any{"event": "workflow.failed", "job_id": "8c1d6ce9-0000-4000-8000-000000000002", "workflow_name": "translate", "status": "failed",
			"error_message": "Rate limited by OpenAI", "error": map[string]any{"category": "rate_limit"}, "duration_ms": "1500"}},
		{2, map[string]any{"event": "workflow.completed", "job_id": "9d2e7dfa-0000-4000-8000-000000000003", "workflow_name": "summarise-document", "status": "completed",
			"result": map[string]any{"summary": "Quarterly revenue up 12%, timeouts down"}, "cost_data": map[string]any{"total_tokens": 1834, "cost_usd": 0.0127}, "duration_ms": 5230}},
		{3, map[string]any{"event": "llm.step.completed", "job_id": "9d2e7dfa-0000-4000-8000-000000000003", "workflow_name": "summarise-document", "step_id": "extract-figures",
			"result": map[string]any{"text": "Résumé: ÉTÉ figures"}, "tokens": map[string]any{"prompt": 980, "completion": 230, "total": 1210}, "cost_usd": 0.0084, "duration_ms": 2310}},
		{4, map[string]any{"event": "llm.step.completed", "job_id": "9d2e7dfa-0000-4000-8000-000000000003", "workflow_name": "summarise-document", "step_id": "summarise",
			"result": map[string]any{"text": "gpt-4o-mini said: timeout-free"}, "tokens": map[string]any{"prompt": "400", "completion": 224}, "cost_usd": "0.0043", "duration_ms": 1200}},
		{65, map[string]any{"event": "workflow.completed", "job_id": "ab3f8e0b-0000-4000-8000-000000000004", "workflow_name": "translate", "status": "completed",
			"cost_data": map[string]any{"total_tokens": "many", "cost_usd": map[string]any{"amount": 1}}, "duration_ms": 700}},
		{66, map[string]any{"event": "job.cancelled", "job_id": "bc4a9f1c-0000-4000-8000-000000000005", "reason": "user cancelled the timeout test"}},
	}
	out := map[string]callback.Delivery{}
	var ds []callback.Delivery
	for _, b := range bodies {
		d := ParsedBody(t, b.body, at(b.at))
		ds = append(ds, d)
		out[d.Key] = d
	}
	save(t, s, ds...)
	return out
}

// searchKeys returns the keys of every callback matching a search, newest
// first, over all pages of size 2.
func searchKeys(t *testing.T, s callback.Store, q callback.ListQuery) []string {
	t.Helper()
	q.PageSize = 2
	var all []string
	for {
		page := list(t, s, q)
		all = append(all, keys(page.Callbacks)...)
		if page.Next == nil {
			return all
		}
		q.After = page.Next
	}
}

func testSearch(t *testing.T, s callback.Store) {
	history(t, s)
	const (
		failedA = "7b0c5bd8-54a6-4f7a-9a8e-0f3f1c0b7a11:workflow.failed"
		failedB = "8c1d6ce9-0000-4000-8000-000000000002:workflow.failed"
		doneC   = "9d2e7dfa-0000-4000-8000-000000000003:workflow.completed"
		step1   = "9d2e7dfa-0000-4000-8000-000000000003:llm.step.completed:extract-figures"
		step2   = "9d2e7dfa-0000-4000-8000-000000000003:llm.step.completed:summarise"
		doneD   = "ab3f8e0b-0000-4000-8000-000000000004:workflow.completed"
		other   = "bc4a9f1c-0000-4000-8000-000000000005:job.cancelled"
	)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"timed", []string{failedA}},                          // error message word
		{"TIMEOUT", []string{other, step2, failedA}},          // payload values, any case; not "timeouts" or "timed"
		{"timeout*", []string{other, step2, doneC, failedA}},  // prefix: timeout, timeouts, timeout-free; error.message Timeout
		{`"rate limited"`, []string{failedB}},                 // phrase
		{`"limited rate"`, nil},                               // phrase order matters
		{"openai rate", []string{failedB}},                    // every term must match
		{"openai timed", nil},                                 //
		{"translate", []string{doneD, failedB}},               // workflow name
		{"summarise document failed", []string{failedA}},      // workflow words and event type
		{"extract-figures", []string{step1}},                  // step id, as a phrase of its parts
		{"llm.step.completed", []string{step2, step1}},        // event type
		{"7b0c5bd8", []string{failedA}},                       // a whole word of a job id
		{"7b0c", []string{failedA}},                           // job id prefix, without a star
		{"9d2e7dfa-0000-4000", []string{step2, step1, doneC}}, // job id prefix with dashes
		{"9D2E7DFA", []string{step2, step1, doneC}},           // as a word, any case
		{"0000-4000-8000-000000000004", []string{doneD}},      // a later part of a job id is a phrase of words
		{"résumé", []string{step1}},                           // non-ASCII word
		{"RÉSUMÉ été", []string{step1}},                       // folded to lower case
		{"resume", nil},                                       // accents are not folded away
		{"gpt-4o*", []string{step2}},                          // phrase with a prefix
		{`"gpt 4o mini"`, []string{step2}},                    //
		{"12", []string{doneC}},                               // digits
		{"nothing-like-this", nil},                            //
		{"<script>", nil},                                     // punctuation only around a word: "script"
		{"%", nil},                                            // no word: no term (checked below)
	} {
		t.Run(tc.query, func(t *testing.T) {
			got := searchKeys(t, s, callback.ListQuery{Query: tc.query})
			if tc.query == "%" {
				require.Len(t, got, 7, "a query without words does not filter")
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
	// Search combines with the other filters.
	require.Equal(t, []string{failedA}, searchKeys(t, s, callback.ListQuery{Query: "timeout*", Status: callback.StatusError}))
	require.Equal(t, []string{step2, doneC}, searchKeys(t, s, callback.ListQuery{Query: "timeout*", WorkflowName: "summarise-document", CreatedAfter: base.Add(time.Minute)}))
	_, err := s.List(context.Background(), callback.ListQuery{Query: fmt.Sprintf("%0*d", callback.MaxQueryBytes+1, 0)})
	require.ErrorIs(t, err, callback.ErrBadQuery)
}

func testSearchPaginates(t *testing.T, s callback.Store) {
	var ds []callback.Delivery
	for i := range 30 {
		body := map[string]any{"event": "llm.step.completed", "job_id": fmt.Sprintf("job-%02d", i), "step_id": "s", "result": map[string]any{"text": "plain"}}
		if i%3 == 0 {
			body["result"] = map[string]any{"text": "needle in a haystack"}
		}
		ds = append(ds, ParsedBody(t, body, base.Add(time.Duration(i)*time.Second)))
	}
	save(t, s, ds...)
	got := searchKeys(t, s, callback.ListQuery{Query: "needle"})
	var want []string
	for i := 27; i >= 0; i -= 3 {
		want = append(want, fmt.Sprintf("job-%02d:llm.step.completed:s", i))
	}
	require.Equal(t, want, got)
	n, err := s.Count(context.Background(), callback.ListQuery{Query: "needle"})
	require.NoError(t, err)
	require.Equal(t, callback.Count{N: 10}, n)
}

func testCount(t *testing.T, s callback.Store) {
	ctx := context.Background()
	history(t, s)
	count := func(q callback.ListQuery) callback.Count {
		t.Helper()
		n, err := s.Count(ctx, q)
		require.NoError(t, err)
		return n
	}
	require.Equal(t, callback.Count{N: 7}, count(callback.ListQuery{}))
	require.Equal(t, callback.Count{N: 2}, count(callback.ListQuery{Status: callback.StatusError}))
	require.Equal(t, callback.Count{N: 4}, count(callback.ListQuery{Query: "timeout*"}))
	require.Equal(t, callback.Count{N: 0}, count(callback.ListQuery{Query: "timeout*", EventType: "nothing"}))

	alice := uuid.New()
	require.Equal(t, callback.Count{N: 7}, count(callback.ListQuery{Viewer: alice, UnviewedOnly: true}))
	page := list(t, s, callback.ListQuery{PageSize: 3})
	for _, c := range page.Callbacks {
		_, _, err := s.MarkViewed(ctx, c.ID, alice, "Alice", base)
		require.NoError(t, err)
	}
	require.Equal(t, callback.Count{N: 4}, count(callback.ListQuery{Viewer: alice, UnviewedOnly: true}))
	require.Equal(t, callback.Count{N: 7}, count(callback.ListQuery{Viewer: uuid.New(), UnviewedOnly: true}))
}

// testCountKeptAcrossWrites checks the counts a store may keep for the
// unfiltered total and the unviewed badge against counting the callbacks
// themselves (the same query with a create_time filter that selects every
// callback, which no kept count answers), after each kind of write that
// changes them: a batch of new callbacks, a redelivery, views one by one
// and many at once, a repeated view, and deletions that cascade to views.
func testCountKeptAcrossWrites(t *testing.T, s callback.Store) {
	ctx := context.Background()
	alice, bob, carol := uuid.New(), uuid.New(), uuid.New()
	check := func(total int64, unviewed map[uuid.UUID]int64) {
		t.Helper()
		count := func(q callback.ListQuery) int64 {
			t.Helper()
			n, err := s.Count(ctx, q)
			require.NoError(t, err)
			require.False(t, n.Estimate)
			return n.N
		}
		everything := base.Add(-24 * time.Hour)
		require.Equal(t, total, count(callback.ListQuery{}), "total")
		require.Equal(t, total, count(callback.ListQuery{CreatedAfter: everything}), "total, counted")
		for admin, want := range unviewed {
			require.Equal(t, want, count(callback.ListQuery{Viewer: admin, UnviewedOnly: true}), "unviewed by %s", admin)
			require.Equal(t, want, count(callback.ListQuery{Viewer: admin, UnviewedOnly: true, CreatedAfter: everything}), "unviewed by %s, counted", admin)
		}
	}
	check(0, map[uuid.UUID]int64{alice: 0})
	ds := history(t, s)
	check(7, map[uuid.UUID]int64{alice: 7, bob: 7})

	// A redelivery changes a callback, not the number of callbacks.
	for _, d := range ds {
		save(t, s, d)
		break
	}
	check(7, map[uuid.UUID]int64{alice: 7})

	page := list(t, s, callback.ListQuery{PageSize: 3})
	for _, c := range page.Callbacks {
		_, _, err := s.MarkViewed(ctx, c.ID, alice, "Alice", base)
		require.NoError(t, err)
	}
	_, _, err := s.MarkViewed(ctx, page.Callbacks[0].ID, alice, "Alice", base)
	require.NoError(t, err)
	_, err = s.MarkAllViewed(ctx, callback.ListQuery{Query: "timeout*"}, alice, "Alice", base)
	require.NoError(t, err)
	_, err = s.MarkAllViewed(ctx, callback.ListQuery{}, bob, "Bob", base)
	require.NoError(t, err)
	_, err = s.MarkAllViewed(ctx, callback.ListQuery{}, bob, "Bob", base)
	require.NoError(t, err)
	unviewedByAlice := int64(len(list(t, s, callback.ListQuery{Viewer: alice, UnviewedOnly: true}).Callbacks))
	require.Less(t, unviewedByAlice, int64(4))
	check(7, map[uuid.UUID]int64{alice: unviewedByAlice, bob: 0, carol: 7})

	save(t, s, delivery("late", time.Hour))
	check(8, map[uuid.UUID]int64{alice: unviewedByAlice + 1, bob: 1, carol: 8})

	ss, ok := s.(SQLStore)
	if !ok {
		return
	}
	// Deleting callbacks deletes their views (the foreign key cascades):
	// one that both viewed, then every other in one statement but two.
	ph1, ph2 := "?", "?"
	if ss.Dialect() == "postgres" {
		ph1, ph2 = "$1", "$2"
	}
	_, err = ss.DB().ExecContext(ctx, "DELETE FROM llm_callbacks WHERE id = "+ph1, page.Callbacks[0].ID)
	require.NoError(t, err)
	check(7, map[uuid.UUID]int64{alice: unviewedByAlice + 1, bob: 1, carol: 7})
	keep := list(t, s, callback.ListQuery{PageSize: 2})
	_, err = ss.DB().ExecContext(ctx, "DELETE FROM llm_callbacks WHERE id <> "+ph1+" AND id <> "+ph2, keep.Callbacks[0].ID, keep.Callbacks[1].ID)
	require.NoError(t, err)
	var aliceLeft int64
	for _, c := range keep.Callbacks {
		got := get(t, s, c.ID)
		viewed := false
		for _, v := range got.Views {
			viewed = viewed || v.AdminID == alice
		}
		if !viewed {
			aliceLeft++
		}
	}
	check(2, map[uuid.UUID]int64{alice: aliceLeft, bob: 1, carol: 2})
}

// rollerUp is a store with hourly rollups of its statistics, which Stats
// must read to the same figures as the callbacks themselves.
type rollerUp interface {
	RollUpStep(ctx context.Context, now time.Time) (store.RollUpProgress, error)
}

func testStats(t *testing.T, s callback.Store) {
	history(t, s)
	checkStats(t, s)
	r, ok := s.(rollerUp)
	if !ok {
		return
	}
	// Roll up every hour of the history, as a day later.
	for {
		p, err := r.RollUpStep(context.Background(), base.Add(24*time.Hour))
		require.NoError(t, err)
		if p.Hour.IsZero() {
			break
		}
	}
	t.Run("from rollups", func(t *testing.T) { checkStats(t, s) })
}

// checkStats checks the statistics of history's callbacks.
func checkStats(t *testing.T, s callback.Store) {
	ctx := context.Background()
	report, err := s.Stats(ctx, callback.StatsQuery{
		Filter: callback.ListQuery{CreatedAfter: base.Add(-time.Hour), CreatedBefore: base.Add(3 * time.Hour)},
		Bucket: callback.BucketHour,
	})
	require.NoError(t, err)
	hour := base.Truncate(time.Hour)
	require.Len(t, report.Buckets, 2)
	require.Equal(t, hour, report.Buckets[0].Start)
	require.Equal(t, hour.Add(time.Hour), report.Buckets[1].Start)

	first := report.Buckets[0].Stats
	require.Equal(t, int64(5), first.Count)
	require.Equal(t, map[callback.Status]int64{callback.StatusError: 2, callback.StatusProcessed: 1, callback.StatusReceived: 2}, first.ByStatus)
	require.Equal(t, map[string]int64{"workflow.failed": 2, "workflow.completed": 1, "llm.step.completed": 2}, first.ByEventType)
	require.Equal(t, map[string]int64{"provider": 1, "rate_limit": 1}, first.FailuresByCategory)
	// The steps' tokens; workflow.completed's cost_data restates them.
	require.Equal(t, int64(980+400), first.PromptTokens)
	require.Equal(t, int64(230+224), first.CompletionTokens)
	require.Equal(t, int64(1210+624), first.TotalTokens)
	require.InDelta(t, 0.0084+0.0043, first.CostUSD, 1e-12)
	// Durations of finished workflows: 1500, 5230, 90000.
	require.Equal(t, int64(3), first.DurationCount)
	require.Equal(t, int64(5230), first.DurationP50MS)
	require.Equal(t, int64(90000), first.DurationP95MS)

	second := report.Buckets[1].Stats
	require.Equal(t, int64(2), second.Count)
	require.Equal(t, map[string]int64{}, second.FailuresByCategory)
	require.Equal(t, int64(0), second.TotalTokens, "unknown shapes count as zero")
	require.Equal(t, int64(1), second.DurationCount)
	require.Equal(t, int64(700), second.DurationP50MS)

	require.Equal(t, int64(7), report.Total.Count)
	require.Equal(t, int64(4), report.Total.DurationCount)
	require.Equal(t, int64(1500), report.Total.DurationP50MS) // ranks: 700, 1500, 5230, 90000; ceil(0.5·4) = 2
	require.Equal(t, int64(90000), report.Total.DurationP95MS)

	require.Len(t, report.Workflows, 3)
	require.Equal(t, "", report.Workflows[0].WorkflowName)
	require.Equal(t, "summarise-document", report.Workflows[1].WorkflowName)
	require.Equal(t, int64(4), report.Workflows[1].Stats.Count)
	require.Equal(t, "translate", report.Workflows[2].WorkflowName)
	require.Equal(t, map[callback.Status]int64{callback.StatusError: 1, callback.StatusProcessed: 1}, report.Workflows[2].Stats.ByStatus)

	// Minute buckets, a filter, and a range with nothing in it.
	report, err = s.Stats(ctx, callback.StatsQuery{
		Filter: callback.ListQuery{CreatedAfter: base.Add(-time.Hour), CreatedBefore: base.Add(3 * time.Hour), Status: callback.StatusError},
		Bucket: callback.BucketMinute,
	})
	require.NoError(t, err)
	require.Len(t, report.Buckets, 2)
	require.Equal(t, base.Truncate(time.Minute), report.Buckets[0].Start)
	require.Equal(t, base.Truncate(time.Minute).Add(time.Minute), report.Buckets[1].Start)
	report, err = s.Stats(ctx, callback.StatsQuery{Filter: callback.ListQuery{CreatedAfter: base.Add(24 * time.Hour), CreatedBefore: base.Add(48 * time.Hour)}, Bucket: callback.BucketDay})
	require.NoError(t, err)
	require.Empty(t, report.Buckets)
	require.Empty(t, report.Workflows)
	require.Equal(t, int64(0), report.Total.Count)
}

func testMarkAllViewed(t *testing.T, s callback.Store) {
	ctx := context.Background()
	history(t, s)
	alice, bob := uuid.New(), uuid.New()
	start, err := s.LastSeq(ctx)
	require.NoError(t, err)

	// One of the matching callbacks was viewed before: it keeps its view.
	page := list(t, s, callback.ListQuery{Query: "timed", PageSize: 1})
	first, _, err := s.MarkViewed(ctx, page.Callbacks[0].ID, alice, "Alice", base)
	require.NoError(t, err)

	at := base.Add(time.Hour)
	batch, err := s.MarkAllViewed(ctx, callback.ListQuery{Query: "timeout*"}, alice, "Alice", at)
	require.NoError(t, err)
	require.Equal(t, int64(3), batch.Count, "four match, one was viewed")
	require.Equal(t, alice, batch.AdminID)
	require.Equal(t, start+2, batch.Seq, "one feed entry for the operation")

	unviewed := list(t, s, callback.ListQuery{Viewer: alice, UnviewedOnly: true})
	require.Len(t, unviewed.Callbacks, 3)
	for _, c := range searchCallbacks(t, s, callback.ListQuery{Query: "timeout*", Viewer: alice}) {
		require.True(t, c.ViewedByMe, c.Key)
	}
	c := get(t, s, page.Callbacks[0].ID)
	require.Len(t, c.Views, 1)
	require.Equal(t, first.ViewedAt, c.Views[0].ViewedAt, "the first view is kept")

	changes, err := s.Changes(ctx, start, 100)
	require.NoError(t, err)
	require.Len(t, changes, 2)
	require.Equal(t, callback.ChangeViewed, changes[0].Kind)
	require.Equal(t, callback.ChangeViewedMany, changes[1].Kind)
	require.Equal(t, batch, *changes[1].Batch)

	// Idempotent: nothing more to mark, no feed entry.
	again, err := s.MarkAllViewed(ctx, callback.ListQuery{Query: "timeout*"}, alice, "Alice", at)
	require.NoError(t, err)
	require.Equal(t, int64(0), again.Count)
	last, err := s.LastSeq(ctx)
	require.NoError(t, err)
	require.Equal(t, batch.Seq, last)

	// Another admin, every callback; a single MarkViewed afterwards answers
	// with the batch's view.
	all, err := s.MarkAllViewed(ctx, callback.ListQuery{}, bob, "Bob", at)
	require.NoError(t, err)
	require.Equal(t, int64(7), all.Count)
	v, created, err := s.MarkViewed(ctx, page.Callbacks[0].ID, bob, "Bob", at.Add(time.Hour))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, at, v.ViewedAt)
	n, err := s.Count(ctx, callback.ListQuery{Viewer: bob, UnviewedOnly: true})
	require.NoError(t, err)
	require.Zero(t, n.N)

	_, err = s.MarkAllViewed(ctx, callback.ListQuery{Query: fmt.Sprintf("%0*d", callback.MaxQueryBytes+1, 0)}, bob, "Bob", at)
	require.True(t, errors.Is(err, callback.ErrBadQuery), "%v", err)
}

// searchCallbacks returns every callback of a query, over all pages.
func searchCallbacks(t *testing.T, s callback.Store, q callback.ListQuery) []callback.Callback {
	t.Helper()
	var all []callback.Callback
	for {
		page := list(t, s, q)
		all = append(all, page.Callbacks...)
		if page.Next == nil {
			return all
		}
		q.After = page.Next
	}
}
