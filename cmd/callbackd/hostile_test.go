package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/webhook"
)

// The hostile-input tests send their bad case beside legitimate traffic and
// then check that the legitimate traffic was untouched: every signed delivery
// answered 200, stored with its exact bytes, and readable. These helpers are
// that traffic and those checks.

// legitimateTraffic is a signed sender running beside a hostile test.
type legitimateTraffic struct {
	srv  running
	stop chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	sent     map[string][]byte // stored id → body, of 200 answers
	failures []string          // anything but a 200
}

// startLegitimateTraffic starts senders goroutines that post signed
// callbacks of every event type to srv's webhook route, one after another,
// until check is called (each at least one).
func startLegitimateTraffic(t *testing.T, srv running, senders int) *legitimateTraffic {
	t.Helper()
	l := &legitimateTraffic{srv: srv, stop: make(chan struct{}), sent: map[string][]byte{}}
	events := []string{"workflow.completed", "workflow.failed", "llm.step.completed"}
	for s := range senders {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			// Each sender posts at least once, however fast the hostile
			// part is over (or however slowly this goroutine starts).
			for i := 0; ; i++ {
				event := events[(s+i)%len(events)]
				body := legitimateBody(event, uuid.NewString(), i)
				l.post(client, body, event)
				select {
				case <-l.stop:
					return
				default:
				}
			}
		}()
	}
	return l
}

// legitimateBody is a body as the LLM service serialises it.
func legitimateBody(event, job string, i int) []byte {
	p := map[string]any{
		"event":         event,
		"job_id":        job,
		"workflow_name": "summarise-document",
		"timestamp":     time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00") + "Z",
		"duration_ms":   i,
	}
	switch event {
	case "workflow.completed":
		p["status"], p["result"] = "completed", map[string]any{"summary": "ok"}
	case "workflow.failed":
		p["status"], p["error_message"] = "failed", "the model timed out"
	case "llm.step.completed":
		p["step_id"], p["tokens"] = "step-"+strconv.Itoa(i), map[string]any{"total": 10}
	}
	b, err := webhook.PythonJSON(p)
	if err != nil {
		panic(err) // a fixed, valid map
	}
	return b
}

// post sends one legitimate delivery and records its outcome.
func (l *legitimateTraffic) post(client *http.Client, body []byte, event string) {
	req, err := http.NewRequest(http.MethodPost, l.srv.base+"/api/webhooks/llm-callback", bytes.NewReader(body))
	if err != nil {
		l.fail(err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "LLM Job Service/1.0")
	req.Header.Set("X-Webhook-Event", event)
	req.Header.Set("X-Webhook-Signature", webhook.SignLLM(testSecret, body))
	res, err := client.Do(req)
	if err != nil {
		l.fail(err.Error())
		return
	}
	raw, err := io.ReadAll(res.Body)
	res.Body.Close()
	var ok struct {
		ID string `json:"id"`
	}
	if err != nil || res.StatusCode != http.StatusOK || json.Unmarshal(raw, &ok) != nil {
		l.fail(fmt.Sprintf("%d %s %v", res.StatusCode, bytes.TrimSpace(raw), err))
		return
	}
	l.mu.Lock()
	l.sent[ok.ID] = body
	l.mu.Unlock()
}

func (l *legitimateTraffic) fail(why string) {
	l.mu.Lock()
	l.failures = append(l.failures, why)
	l.mu.Unlock()
}

// check stops the senders and requires that some deliveries were made, that
// none of them failed, and that each is stored with its exact bytes.
func (l *legitimateTraffic) check(t *testing.T) {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	require.Empty(t, l.failures, "legitimate deliveries failed beside the hostile input (%d of %d)", len(l.failures), len(l.failures)+len(l.sent))
	require.NotEmpty(t, l.sent, "no legitimate delivery was made")
	for id, body := range l.sent {
		got, err := l.srv.app.store.Get(t.Context(), uuid.MustParse(id), uuid.Nil)
		require.NoError(t, err)
		require.Equal(t, body, got.Payload, "stored bytes of %s", id)
	}
	t.Logf("%d legitimate deliveries beside the hostile input, 0 failed", len(l.sent))
}

// besideLegitimateTraffic runs hostile while legitimate senders post, then
// checks the legitimate traffic.
func besideLegitimateTraffic(t *testing.T, srv running, hostile func()) {
	t.Helper()
	l := startLegitimateTraffic(t, srv, 4)
	hostile()
	l.check(t)
}

// goroutinesSettle waits until the process runs at most limit goroutines,
// and fails the test if it does not within ten seconds.
func goroutinesSettle(t *testing.T, limit int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > limit {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), limit, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// resetPeakRSS resets the process's peak resident set size (VmHWM), so that
// peakRSS reports the peak from now on. Tests that use it must not run in
// parallel with others of the package: they measure the whole process.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	runtime.GC()
	require.NoError(t, os.WriteFile("/proc/self/clear_refs", []byte("5"), 0))
}

// peakRSS returns the process's peak resident set size, in bytes, since the
// last resetPeakRSS.
func peakRSS(t *testing.T) int64 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			require.NoError(t, err)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestLegitimateTrafficIsChecked: the checks of the hostile-input tests hold
// for plain traffic, and peakRSS reads a figure.
func TestLegitimateTrafficIsChecked(t *testing.T) {
	srv := startServer(t, "")
	resetPeakRSS(t)
	besideLegitimateTraffic(t, srv, func() { time.Sleep(200 * time.Millisecond) })
	require.Greater(t, peakRSS(t), int64(1<<20))
}
