package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/webhook"
)

// logical is one logical callback of the simulated LLM service: what the
// receiver must store exactly once, whatever the number of deliveries.
type logical struct {
	jobID, event, stepID string
	key                  string // the callback_id the receiver must derive
	redeliveries         int    // deliberate deliveries after the first acknowledgement

	mu       sync.Mutex
	attempts int                 // HTTP requests started for it
	acks     int                 // deliveries answered 2xx
	ids      map[string]struct{} // row ids in 2xx answers
	gaveUp   bool                // a delivery ran out of attempts
}

// snapshot returns attempts, acks and the answered ids under the lock.
func (l *logical) snapshot() (attempts, acks int, ids []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.ids {
		ids = append(ids, id)
	}
	return l.attempts, l.acks, ids
}

// newLogicals makes n distinct logical callbacks: six in ten
// workflow.completed, three llm.step.completed (several steps of one job),
// one workflow.failed; about redeliverPct percent get one or two deliberate
// redeliveries.
func newLogicals(rng *rand.Rand, n, redeliverPct int) []*logical {
	out := make([]*logical, 0, n)
	job := uuid.NewString()
	for i := range n {
		l := &logical{jobID: uuid.NewString()}
		switch r := i % 10; {
		case r < 6:
			l.event = callback.EventWorkflowCompleted
		case r < 9:
			// Steps of one job share the job id and differ by step_id.
			if r == 6 {
				job = uuid.NewString()
			}
			l.jobID, l.event, l.stepID = job, callback.EventStepCompleted, fmt.Sprintf("step-%d", r)
		default:
			l.event = callback.EventWorkflowFailed
		}
		l.key = l.jobID + ":" + l.event
		if l.stepID != "" {
			l.key += ":" + l.stepID
		}
		if rng.IntN(100) < redeliverPct {
			l.redeliveries = 1 + rng.IntN(2)
		}
		out = append(out, l)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// sender delivers logical callbacks like the LLM job service: attempt 1 at
// once, then retries after a compressed 5 s / 15 s / 45 s schedule when the
// answer is not 2xx or the request fails, every retry with a rebuilt body
// (new timestamp, so new bytes and a new signature). Unlike the real sender,
// which gives up after the fourth attempt, it keeps retrying every
// steadyDelay up to maxAttempts, so that a callback refused while the
// server is down still gets through once it is back.
type sender struct {
	client      *http.Client
	target      func(l *logical, attempt int) string // base URL of an attempt
	delays      []time.Duration
	steadyDelay time.Duration
	maxAttempts int

	attempts, acks, refused, connErrors, unexpected atomic.Int64
	started                                         atomic.Int64 // logical callbacks started
	deliveries                                      atomic.Int64
	inFlight                                        atomic.Int64 // requests waiting for an answer

	mu      sync.Mutex
	samples []string       // a few unexpected answers, for the failure message
	ackedBy map[string]int // base URL → 2xx answers
	observe func(status int, err error, started time.Time)
}

// newSender returns a sender that posts to base (see sender.target for
// several replicas).
func newSender(base string) *sender {
	return &sender{
		client: &http.Client{
			Timeout: 10 * time.Second, // the sender's 30 s, compressed
			Transport: &http.Transport{
				MaxIdleConns:        256,
				MaxIdleConnsPerHost: 128,
				IdleConnTimeout:     30 * time.Second,
			},
		},
		target:      func(*logical, int) string { return base },
		delays:      []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 450 * time.Millisecond},
		steadyDelay: 500 * time.Millisecond,
		maxAttempts: 240,
		ackedBy:     make(map[string]int),
	}
}

// run delivers items with concurrency workers: each logical callback until
// acknowledged, then its deliberate redeliveries, each also until
// acknowledged. Closing stopNew stops starting new logical callbacks (those
// started still finish). It returns when every started one is done or ctx
// ends.
func (s *sender) run(ctx context.Context, items []*logical, concurrency int, stopNew <-chan struct{}) {
	work := make(chan *logical)
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for l := range work {
				for d := 0; d <= l.redeliveries && ctx.Err() == nil; d++ {
					s.deliveries.Add(1)
					s.deliver(ctx, l)
				}
			}
		})
	}
feed:
	for _, l := range items {
		select {
		case work <- l:
			s.started.Add(1)
		case <-stopNew:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// deliver makes one delivery of l, retrying until a 2xx answer, maxAttempts
// or the end of ctx.
func (s *sender) deliver(ctx context.Context, l *logical) bool {
	for attempt := 0; attempt < s.maxAttempts; attempt++ {
		if attempt > 0 {
			d := s.steadyDelay
			if attempt-1 < len(s.delays) {
				d = s.delays[attempt-1]
			}
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return false
			}
		}
		if ctx.Err() != nil {
			return false
		}
		if s.attempt(ctx, l, attempt) {
			return true
		}
	}
	l.mu.Lock()
	l.gaveUp = true
	l.mu.Unlock()
	return false
}

// ackBody is the webhook route's 200 answer.
type ackBody struct {
	ID         string `json:"id"`
	CallbackID string `json:"callback_id"`
	Duplicate  bool   `json:"duplicate"`
}

// attempt posts one freshly built and signed body and records the outcome;
// it reports whether the answer was 2xx.
func (s *sender) attempt(ctx context.Context, l *logical, n int) bool {
	payload, err := callback.SamplePayload(l.event, l.jobID, l.stepID, time.Now())
	if err != nil {
		panic(err)
	}
	body, err := webhook.PythonJSON(payload)
	if err != nil {
		panic(err)
	}
	base := s.target(l, n)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/webhooks/llm-callback", bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", webhook.SignLLM(webhookSecret, body))
	req.Header.Set("X-Webhook-Event", l.event)
	req.Header.Set("User-Agent", "LLM Job Service (faults)/1.0")

	l.mu.Lock()
	l.attempts++
	l.mu.Unlock()
	s.attempts.Add(1)
	s.inFlight.Add(1)
	sentAt := time.Now()
	res, err := s.client.Do(req)
	s.inFlight.Add(-1)
	var answer []byte
	if err == nil {
		answer, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err != nil {
		if ctx.Err() == nil {
			s.connErrors.Add(1)
			s.observeOutcome(0, err, sentAt)
		}
		return false
	}
	s.observeOutcome(res.StatusCode, nil, sentAt)
	switch {
	case res.StatusCode >= 200 && res.StatusCode < 300:
		var ack ackBody
		if err := json.Unmarshal(answer, &ack); err != nil || ack.ID == "" || ack.CallbackID != l.key {
			s.bug(fmt.Sprintf("%d answer %q for %s (want id and callback_id %q)", res.StatusCode, answer, l.key, l.key))
		}
		l.mu.Lock()
		l.acks++
		if l.ids == nil {
			l.ids = make(map[string]struct{}, 1)
		}
		l.ids[ack.ID] = struct{}{}
		l.mu.Unlock()
		s.acks.Add(1)
		s.mu.Lock()
		s.ackedBy[base]++
		s.mu.Unlock()
		return true
	case res.StatusCode == http.StatusServiceUnavailable:
		s.refused.Add(1)
	default:
		s.bug(fmt.Sprintf("%d answer %q for %s", res.StatusCode, bytes.TrimSpace(answer), l.key))
	}
	return false
}

// observeOutcome passes an outcome to the test's observer, if any.
func (s *sender) observeOutcome(status int, err error, started time.Time) {
	s.mu.Lock()
	f := s.observe
	s.mu.Unlock()
	if f != nil {
		f(status, err, started)
	}
}

// setObserver installs f to see every later outcome (status 0: no answer)
// with the time its request was sent.
func (s *sender) setObserver(f func(status int, err error, started time.Time)) {
	s.mu.Lock()
	s.observe = f
	s.mu.Unlock()
}

// bug records an answer the sender must never get.
func (s *sender) bug(msg string) {
	s.unexpected.Add(1)
	s.mu.Lock()
	if len(s.samples) < 5 {
		s.samples = append(s.samples, msg)
	}
	s.mu.Unlock()
}

// acked returns the 2xx answers per base URL.
func (s *sender) acked() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.ackedBy))
	for k, v := range s.ackedBy {
		out[k] = v
	}
	return out
}

// fill copies the sender's counters into f.
func (s *sender) fill(f *figures, items []*logical) {
	f.Sent = int(s.started.Load())
	f.Deliveries = int(s.deliveries.Load())
	f.Attempts = int(s.attempts.Load())
	f.AckedDeliveries = int(s.acks.Load())
	f.Refused = int(s.refused.Load())
	f.ConnErrors = int(s.connErrors.Load())
	f.Unexpected = int(s.unexpected.Load())
	for _, l := range items {
		if _, acks, _ := l.snapshot(); acks > 0 {
			f.Acknowledged++
		}
	}
}

// checkNoUnexpected fails the test if the server gave any answer other than
// 2xx or 503, and if any logical callback ran out of attempts.
func (s *sender) checkNoUnexpected(t testing.TB, items []*logical) {
	t.Helper()
	if n := s.unexpected.Load(); n > 0 {
		s.mu.Lock()
		t.Errorf("%d answers other than 2xx/503 (a retrying sender must only ever see those); samples:\n%s", n, joinLines(s.samples))
		s.mu.Unlock()
	}
	gaveUp := 0
	for _, l := range items {
		l.mu.Lock()
		if l.gaveUp {
			gaveUp++
		}
		l.mu.Unlock()
	}
	if gaveUp > 0 {
		t.Errorf("%d logical callbacks were never acknowledged after %d attempts", gaveUp, s.maxAttempts)
	}
}

// joinLines indents lines for a failure message.
func joinLines(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString("  ")
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}
