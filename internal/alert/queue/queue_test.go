package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/alert/channel"
	"github.com/callbackd/callbackd/internal/alert/queue"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// receiver is a Slack-compatible incoming webhook that counts each alert
// (by the id in its context line) and can refuse for a while.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     map[string]int // alert text → deliveries
	refuse  int            // answer 503 to this many more requests
	refused int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var msg struct {
			Text   string           `json:"text"`
			Blocks []map[string]any `json:"blocks"`
		}
		if err := json.NewDecoder(req.Body).Decode(&msg); err != nil || msg.Text == "" || len(msg.Blocks) < 3 {
			http.Error(w, "bad slack message", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.refuse > 0 {
			r.refuse--
			r.refused++
			http.Error(w, "receiver down", http.StatusServiceUnavailable)
			return
		}
		r.got[msg.Text]++
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) snapshot() (map[string]int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got {
		out[k] = v
	}
	return out, r.refused
}

type bundle struct {
	st  *store.Store
	rcv *receiver
	cfg *rules.Config
}

func setup(t *testing.T, open func(testing.TB) *store.Store, ruleYAML string) bundle {
	t.Helper()
	st := open(t)
	_, err := queue.Migrate(context.Background(), st.DB(), st.Dialect(), false)
	require.NoError(t, err)
	// Migrating again is a no-op, and the check passes.
	applied, err := queue.Migrate(context.Background(), st.DB(), st.Dialect(), false)
	require.NoError(t, err)
	require.Empty(t, applied)
	_, err = queue.Migrate(context.Background(), st.DB(), st.Dialect(), true)
	require.NoError(t, err)
	rcv := newReceiver(t)
	cfg, err := rules.Parse(fmt.Appendf(nil, "channels: [{name: chat, slack: {url: %q}}]\nrules:\n%s", rcv.URL+"/hook", ruleYAML))
	require.NoError(t, err)
	return bundle{st: st, rcv: rcv, cfg: cfg}
}

// start runs one queue (a replica) until the test ends.
func (b bundle) start(t *testing.T, cfg queue.Config) *queue.Queue {
	t.Helper()
	ch, err := channel.New(b.cfg.Channels[0], channel.Options{})
	require.NoError(t, err)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = 50 * time.Millisecond
	}
	q, err := queue.New(b.st.DB(), b.st.Dialect(), rules.NewEvaluator(b.cfg, "https://cb.example"), b.st, map[string]queue.Sender{"chat": ch}, cfg, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return q
}

func (b bundle) save(t *testing.T, event, job string) {
	t.Helper()
	_, err := b.st.Save(context.Background(), []callback.Delivery{storetest.Parsed(t, event, job, "", time.Now())})
	require.NoError(t, err)
}

// waitCursor waits until the evaluator started (its cursor is set), so that
// what is saved next is evaluated.
func waitStarted(t *testing.T, b bundle) {
	t.Helper()
	require.Eventually(t, func() bool {
		var set bool
		require.NoError(t, b.st.DB().QueryRow("SELECT seq IS NOT NULL FROM alert_cursor WHERE id = 1").Scan(&set))
		return set
	}, 10*time.Second, 20*time.Millisecond)
}

func dialects(t *testing.T, fn func(t *testing.T, open func(testing.TB) *store.Store)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, storetest.OpenSQLite) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, storetest.OpenPostgres) })
}

// Two replicas evaluate the same feed: every failure is alerted exactly
// once, redeliveries are not alerted again, and callbacks that match no
// rule raise nothing.
func TestReplicasAlertOnce(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open, "  - {name: failed, match: {event: workflow.failed}, group_by: job, group_window: 0s, channels: [chat]}")
		b.start(t, queue.Config{})
		b.start(t, queue.Config{})
		waitStarted(t, b)
		const n = 20
		for i := range n {
			b.save(t, callback.EventWorkflowFailed, fmt.Sprintf("job-%02d", i))
			b.save(t, callback.EventWorkflowCompleted, fmt.Sprintf("ok-%02d", i))
			if i%3 == 0 { // the sender's retry of the same failure
				b.save(t, callback.EventWorkflowFailed, fmt.Sprintf("job-%02d", i))
			}
		}
		require.Eventually(t, func() bool { got, _ := b.rcv.snapshot(); return len(got) == n }, 30*time.Second, 50*time.Millisecond)
		time.Sleep(500 * time.Millisecond) // room for a duplicate to arrive
		got, _ := b.rcv.snapshot()
		require.Len(t, got, n)
		for text, count := range got {
			require.Equal(t, 1, count, "alert %q", text)
			require.Contains(t, text, "1 failure of job-")
		}
	})
}

// A rate condition fires once while it holds and sends a resolved message
// when its window empties: the state between passes is the database's, so
// this is the evaluator's rate test (package rules) on both databases.
func TestRateFiresAndResolves(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open, "  - {name: rate, match: {}, rate: {above_percent: 50, within: 3s, min_callbacks: 4}, group_window: 0s, channels: [chat]}")
		b.start(t, queue.Config{})
		waitStarted(t, b)
		for i := range 3 {
			b.save(t, callback.EventWorkflowFailed, fmt.Sprintf("job-%d", i))
		}
		b.save(t, callback.EventWorkflowCompleted, "job-ok")
		b.save(t, callback.EventWorkflowFailed, "job-3") // still firing: no second message
		var firing, resolved string
		require.Eventually(t, func() bool {
			got, _ := b.rcv.snapshot()
			for text := range got {
				switch {
				case strings.Contains(text, "Resolved: failure rate of summarise-document"):
					resolved = text
				case strings.Contains(text, "Failure rate of summarise-document"):
					firing = text
				}
			}
			return firing != "" && resolved != ""
		}, 30*time.Second, 50*time.Millisecond)
		require.Contains(t, firing, "at 75 % (3 of 4)", "fires on the fourth callback, once")
		require.Contains(t, resolved, "at 0 % (0 of 0)")
		got, _ := b.rcv.snapshot()
		require.Len(t, got, 2, "one firing and one resolved message: %v", got)
		for text, n := range got {
			require.Equal(t, 1, n, "alert %q", text)
		}
	})
}

// A receiver that is down for a while gets the alert once it is back; the
// failed attempts are recorded with their errors.
func TestRetriesAfterOutage(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open, "  - {name: failed, match: {event: workflow.failed}, group_window: 0s, channels: [chat]}")
		b.rcv.refuse = 3
		q := b.start(t, queue.Config{})
		waitStarted(t, b)
		b.save(t, callback.EventWorkflowFailed, "job-1")
		require.Eventually(t, func() bool { got, _ := b.rcv.snapshot(); return len(got) == 1 }, 30*time.Second, 50*time.Millisecond)
		_, refused := b.rcv.snapshot()
		require.Equal(t, 3, refused)
		var ds []rules.Delivery
		require.Eventually(t, func() bool {
			var err error
			ds, _, err = q.Deliveries(context.Background(), 10, "")
			require.NoError(t, err)
			return len(ds) == 1 && ds[0].Status == rules.DeliverySent
		}, 10*time.Second, 50*time.Millisecond)
		d := ds[0]
		require.Equal(t, "chat", d.Channel)
		require.Equal(t, "failed", d.Notice.Rule)
		require.Equal(t, 4, d.Attempts)
		require.Len(t, d.Errors, 3)
		require.Contains(t, d.Errors[0].Error, "503 Service Unavailable: receiver down")
		require.NotContains(t, d.Errors[0].Error, "/hook", "the webhook URL's path is its secret")
		require.False(t, d.FinishedAt.IsZero())
	})
}

// A delivery that never succeeds is recorded as failed after its last
// attempt, and listed page by page.
func TestFinalFailureRecorded(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open, "  - {name: failed, match: {event: workflow.failed}, group_by: job, group_window: 0s, channels: [chat]}")
		b.rcv.refuse = 1 << 30
		q := b.start(t, queue.Config{MaxAttempts: 2})
		waitStarted(t, b)
		b.save(t, callback.EventWorkflowFailed, "job-1")
		b.save(t, callback.EventWorkflowFailed, "job-2")
		require.Eventually(t, func() bool {
			ds, _, err := q.Deliveries(context.Background(), 10, "")
			require.NoError(t, err)
			return len(ds) == 2 && ds[0].Status == rules.DeliveryFailed && ds[1].Status == rules.DeliveryFailed
		}, 30*time.Second, 50*time.Millisecond)
		first, next, err := q.Deliveries(context.Background(), 1, "")
		require.NoError(t, err)
		require.Len(t, first, 1)
		require.NotEmpty(t, next)
		second, next2, err := q.Deliveries(context.Background(), 1, next)
		require.NoError(t, err)
		require.Len(t, second, 1)
		require.Empty(t, next2)
		require.Greater(t, first[0].ID, second[0].ID, "newest first")
		require.Len(t, second[0].Errors, 2)
		_, _, err = q.Deliveries(context.Background(), 1, "x")
		require.ErrorIs(t, err, queue.ErrBadPageToken)
	})
}

// Evaluation writes per pass, not per callback: callbacks that no rule
// selects leave no trace, and a callback two rules count is remembered by
// one seen row (so that its redelivery is counted by none); the error
// details of the payload are matched.
func TestSeenOncePerCountedCallback(t *testing.T) {
	t.Parallel()
	dialects(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open, `  - {name: failed, match: {event: workflow.failed}, group_by: job, group_window: 0s, channels: [chat]}
  - {name: three-failures, match: {event: workflow.failed}, count: {at_least: 3, within: 1h}, group_by: none, group_window: 0s, channels: [chat]}
  - {name: provider, match: {event: workflow.failed, error: {category: provider}}, group_by: none, group_window: 0s, channels: [chat]}
  - {name: network, match: {event: workflow.failed, error: {category: network}}, group_by: none, group_window: 0s, channels: [chat]}`)
		b.start(t, queue.Config{})
		waitStarted(t, b)
		for i := range 30 {
			b.save(t, callback.EventWorkflowCompleted, fmt.Sprintf("ok-%02d", i))
		}
		for i := range 2 {
			b.save(t, callback.EventWorkflowFailed, fmt.Sprintf("job-%02d", i))
			b.save(t, callback.EventWorkflowFailed, fmt.Sprintf("job-%02d", i)) // the sender's retry
		}
		last, err := b.st.LastSeq(context.Background())
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var seq int64
			require.NoError(t, b.st.DB().QueryRow("SELECT seq FROM alert_cursor WHERE id = 1").Scan(&seq))
			return seq >= last
		}, 30*time.Second, 20*time.Millisecond)
		require.Eventually(t, func() bool { got, _ := b.rcv.snapshot(); return len(got) == 4 }, 30*time.Second, 50*time.Millisecond)
		var seen int
		require.NoError(t, b.st.DB().QueryRow("SELECT count(*) FROM alert_seen").Scan(&seen))
		require.Equal(t, 2, seen, "one row per counted callback, none for the completed ones")
		var states int
		require.NoError(t, b.st.DB().QueryRow("SELECT count(*) FROM alert_state WHERE rule = 'three-failures'").Scan(&states))
		require.Equal(t, 1, states, "the count rule's group holds the two failures")
		var raw string
		require.NoError(t, b.st.DB().QueryRow("SELECT state FROM alert_state WHERE rule = 'three-failures'").Scan(&raw))
		var s rules.State
		require.NoError(t, json.Unmarshal([]byte(raw), &s))
		require.Len(t, s.Times, 2, "the redeliveries are not counted: a third would fire the rule")
		time.Sleep(300 * time.Millisecond)
		got, _ := b.rcv.snapshot()
		require.Len(t, got, 4, "two failures alerted once each by failed and by provider (read from the payload), the count and network rules silent")
		for text, n := range got {
			require.Equal(t, 1, n, text)
		}
	})
}
