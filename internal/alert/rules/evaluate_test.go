package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

var t0 = time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)

// memStates keeps states between passes as the queue's table does.
type memStates map[[2]string]State

func (m memStates) pass() *Pass {
	return &Pass{Load: func(rule, key string) (*State, error) {
		s := m[[2]string{rule, key}]
		return &s, nil
	}}
}

func (m memStates) keep(p *Pass) {
	p.Touched(func(rule, key string, s *State) { m[[2]string{rule, key}] = *s })
}

func cb(event, workflow, job string, at time.Time) callback.Callback {
	status := callback.StatusReceived
	msg := ""
	switch event {
	case EventFailed:
		status, msg = callback.StatusError, "model overloaded"
	case EventCompleted:
		status = callback.StatusProcessed
	}
	return callback.Callback{ID: uuid.New(), EventType: event, WorkflowName: workflow, ExternalJobID: job, Status: status, ErrorMessage: msg, CreatedAt: at}
}

func evaluator(t *testing.T, yaml string) (*Evaluator, *Rule) {
	t.Helper()
	cfg, err := Parse([]byte("channels: [{name: c, slack: {url: 'https://x.example'}}]\nrules:\n" + yaml))
	require.NoError(t, err)
	e := NewEvaluator(cfg, "https://cb.example/")
	return e, &cfg.Rules[0]
}

// observe runs one pass over callbacks at now, then the due states.
func observe(t *testing.T, e *Evaluator, r *Rule, m memStates, now time.Time, cbs ...callback.Callback) []Notice {
	t.Helper()
	p := m.pass()
	for _, c := range cbs {
		if r.Candidate(c) && (r.Rate != nil || r.MatchesError(Details{}, c.ErrorMessage)) {
			require.NoError(t, e.Observe(p, r, c, Details{}, now))
		}
	}
	m.keep(p)
	notices := p.Notices
	p = m.pass()
	for k, s := range m {
		if due := s.DueAt(r); !due.IsZero() && !due.After(now) {
			require.NoError(t, e.Due(p, r, k[1], now, func(string) (bool, error) { return false, nil }))
		}
	}
	m.keep(p)
	return append(notices, p.Notices...)
}

// A burst in one group window becomes one message; MinInterval holds the
// next one back.
func TestGroupingAndMinInterval(t *testing.T) {
	t.Parallel()
	e, r := evaluator(t, "  - {name: failed, match: {event: workflow.failed}, group_window: 1m, min_interval: 10m, channels: [c]}")
	m := memStates{}
	var all []Notice
	for i := range 12 {
		at := t0.Add(time.Duration(i) * 4 * time.Second)
		all = append(all, observe(t, e, r, m, at, cb(EventFailed, "summarise-document", fmt.Sprint("job-", i), at), cb(EventCompleted, "summarise-document", "ok", at))...)
	}
	require.Empty(t, all, "nothing before the window ends")
	ns := observe(t, e, r, m, t0.Add(time.Minute))
	require.Len(t, ns, 1)
	n := ns[0]
	require.Equal(t, 12, n.Count)
	require.Equal(t, "12 failures of summarise-document in 44s, latest: workflow.failed of job job-11 at 2026-01-02T03:00:44Z: model overloaded", n.Title)
	require.Equal(t, "https://cb.example/callbacks?after=2026-01-02T03%3A00%3A00Z&event=workflow.failed&workflow=summarise-document", n.Link)
	require.Equal(t, "https://cb.example/jobs/job-11", n.JobLink)

	// The next failure waits for the minimum interval, not only the window.
	at := t0.Add(2 * time.Minute)
	require.Empty(t, observe(t, e, r, m, at, cb(EventFailed, "summarise-document", "late", at)))
	require.Empty(t, observe(t, e, r, m, at.Add(5*time.Minute)))
	ns = observe(t, e, r, m, t0.Add(11*time.Minute))
	require.Len(t, ns, 1)
	require.Equal(t, 1, ns[0].Count)
	require.Contains(t, ns[0].Title, "1 failure of summarise-document, latest")

	// Another workflow is another group.
	require.Len(t, observe(t, e, r, m, t0.Add(20*time.Minute), cb(EventFailed, "other", "x", t0.Add(19*time.Minute))), 0)
	require.Len(t, observe(t, e, r, m, t0.Add(21*time.Minute)), 1)
}

func TestZeroWindowSendsAtOnce(t *testing.T) {
	t.Parallel()
	e, r := evaluator(t, "  - {name: f, match: {event: workflow.failed}, group_window: 0s, channels: [c]}")
	m := memStates{}
	ns := observe(t, e, r, m, t0, cb(EventFailed, "w", "j", t0))
	require.Len(t, ns, 1)
	require.Equal(t, "f", ns[0].Rule)
	require.Equal(t, StateFiring, ns[0].State)
}

func TestCountCondition(t *testing.T) {
	t.Parallel()
	e, r := evaluator(t, "  - {name: n, match: {event: workflow.failed}, count: {at_least: 3, within: 1m}, group_window: 0s, channels: [c]}")
	m := memStates{}
	// Two within a minute, a third too late for the first: no alert.
	require.Empty(t, observe(t, e, r, m, t0, cb(EventFailed, "w", "1", t0), cb(EventFailed, "w", "2", t0.Add(30*time.Second))))
	require.Empty(t, observe(t, e, r, m, t0.Add(70*time.Second), cb(EventFailed, "w", "3", t0.Add(70*time.Second))))
	// A fourth makes three within a minute.
	ns := observe(t, e, r, m, t0.Add(80*time.Second), cb(EventFailed, "w", "4", t0.Add(80*time.Second)))
	require.Len(t, ns, 1)
	require.Equal(t, 3, ns[0].Count)
	require.Contains(t, ns[0].Title, "3 failures of w in 50s")
	// The count starts again after a message.
	require.Empty(t, observe(t, e, r, m, t0.Add(90*time.Second), cb(EventFailed, "w", "5", t0.Add(90*time.Second))))
}

func TestRateFiresAndResolves(t *testing.T) {
	t.Parallel()
	e, r := evaluator(t, "  - {name: rate, match: {workflow: w}, rate: {above_percent: 50, within: 1m, min_callbacks: 4}, channels: [c]}")
	m := memStates{}
	// 3 failures of 3: below min_callbacks.
	require.Empty(t, observe(t, e, r, m, t0, cb(EventFailed, "w", "1", t0), cb(EventFailed, "w", "2", t0), cb(EventFailed, "w", "3", t0)))
	// Steps do not count.
	require.Empty(t, observe(t, e, r, m, t0, cb(EventStep, "w", "1", t0)))
	ns := observe(t, e, r, m, t0.Add(time.Second), cb(EventCompleted, "w", "4", t0.Add(time.Second)))
	require.Len(t, ns, 1)
	require.Equal(t, StateFiring, ns[0].State)
	require.Equal(t, "Failure rate of w at 75 % (3 of 4) over 1m0s", ns[0].Title)
	// Still firing: no second message.
	require.Empty(t, observe(t, e, r, m, t0.Add(2*time.Second), cb(EventFailed, "w", "5", t0.Add(2*time.Second))))
	// With no traffic the window empties and the condition clears.
	ns = observe(t, e, r, m, t0.Add(2*time.Minute))
	require.Len(t, ns, 1)
	require.Equal(t, StateResolved, ns[0].State)
	require.Contains(t, ns[0].Title, "Resolved: failure rate of w at 0 % (0 of 0)")
	for k, s := range m {
		require.True(t, s.Empty(r, t0.Add(3*time.Minute)), "state %v kept", k)
	}
}

func TestStuckJob(t *testing.T) {
	t.Parallel()
	e, r := evaluator(t, "  - {name: stuck, stuck: {after: 10m}, group_window: 0s, channels: [c]}")
	m := memStates{}
	require.Empty(t, observe(t, e, r, m, t0, cb(EventStep, "w", "finishes", t0), cb(EventStep, "w", "hangs", t0)))
	require.Empty(t, observe(t, e, r, m, t0.Add(5*time.Minute), cb(EventCompleted, "w", "finishes", t0.Add(5*time.Minute))))
	ns := observe(t, e, r, m, t0.Add(10*time.Minute))
	require.Len(t, ns, 1)
	require.Equal(t, "1 stuck job of w, latest: llm.step.completed of job hangs at 2026-01-02T03:00:00Z", ns[0].Title)
	require.Equal(t, "https://cb.example/jobs/hangs", ns[0].JobLink)
	require.Empty(t, observe(t, e, r, m, t0.Add(time.Hour)), "a stuck job is reported once")

	// A job whose final callback is stored (but not yet evaluated) is not stuck.
	m = memStates{}
	require.Empty(t, observe(t, e, r, m, t0, cb(EventStep, "w", "j", t0)))
	p := m.pass()
	require.NoError(t, e.Due(p, r, "j:j", t0.Add(time.Hour), func(job string) (bool, error) { return job == "j", nil }))
	require.Empty(t, p.Notices)
}

func TestMatchesError(t *testing.T) {
	t.Parallel()
	_, r := evaluator(t, "  - {name: e, match: {error: {category: [rate_limit], retryable: false, contains: QUOTA}}, channels: [c]}")
	f, tr := false, true
	require.True(t, r.NeedsDetails())
	require.True(t, r.MatchesError(Details{Category: "rate_limit", Retryable: &f}, "Monthly quota reached"))
	require.False(t, r.MatchesError(Details{Category: "rate_limit", Retryable: &tr}, "quota"))
	require.False(t, r.MatchesError(Details{Category: "rate_limit"}, "quota"), "retryable missing")
	require.False(t, r.MatchesError(Details{Category: "timeout", Retryable: &f}, "quota"))
	require.True(t, r.MatchesError(Details{Category: "rate_limit", Retryable: &f, Message: "over quota"}, ""))
}
