package faults_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// TestAlertsSIGKILLSQLite is the alert crash test on SQLite.
func TestAlertsSIGKILLSQLite(t *testing.T) {
	alertCrashTest(t, "")
}

// TestAlertsSIGKILLPostgres is the alert crash test on PostgreSQL.
func TestAlertsSIGKILLPostgres(t *testing.T) {
	alertCrashTest(t, storetest.PostgresURL(t))
}

// alertReceiver is a signed-webhook alert endpoint that answers slowly (so
// that kills land mid-send) and counts what it got: deliveries per
// webhook-id, and the webhook-ids of each job (group_by: job).
type alertReceiver struct {
	mu         sync.Mutex
	deliveries map[string]int                 // webhook-id → times received
	jobIDs     map[string]map[string]struct{} // job (the alert's group) → webhook-ids
}

func (r *alertReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return
	}
	var event struct {
		Data struct {
			ID    string `json:"id"`
			Group string `json:"group"`
		} `json:"data"`
	}
	id := req.Header.Get("webhook-id")
	if json.Unmarshal(body, &event) != nil || id == "" || event.Data.ID != id {
		http.Error(w, "want a JSON alert whose data.id is the webhook-id", http.StatusBadRequest)
		return
	}
	time.Sleep(100 * time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries[id]++
	if r.jobIDs[event.Data.Group] == nil {
		r.jobIDs[event.Data.Group] = map[string]struct{}{}
	}
	r.jobIDs[event.Data.Group][id] = struct{}{}
	w.WriteHeader(http.StatusNoContent)
}

// distinct is the number of different alerts received.
func (r *alertReceiver) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.deliveries)
}

// alertCrashTest acknowledges n failed jobs (each promised one alert by a
// group_by: job rule) from a server, SIGKILLs it twice while the alerts are
// decided and sent, restarting it on the same data, and checks that the
// receiver got one alert per job, each under one webhook-id: none lost, none
// decided twice. A worker killed mid-send is rescued and sends the same
// alert again (same webhook-id, which receivers deduplicate by); such
// resends are counted and reported.
func alertCrashTest(t *testing.T, dbURL string) {
	n := envInt(t, "FAULTS_ALERTS", 60)
	recv := &alertReceiver{deliveries: map[string]int{}, jobIDs: map[string]map[string]struct{}{}}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)
	config := filepath.Join(t.TempDir(), "alerts.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `
channels:
  - name: pager
    webhook: {url: %q, secrets: [whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw]}
rules:
  - name: failed-jobs
    match: {event: workflow.failed}
    group_by: job
    group_window: 0s
    channels: [pager]
`, hook.URL+"/alerts"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, "callbackd", "", dbURL, "--alerts-config", config)
	mustStart(t, srv)

	jobs := map[string]bool{}
	client := &http.Client{Timeout: 30 * time.Second}
	for range n {
		job := uuid.NewString()
		jobs[job] = true
		payload, err := callback.SamplePayload("workflow.failed", job, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		body, err := webhook.PythonJSON(payload)
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/api/webhooks/llm-callback", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Signature", webhook.SignLLM(webhookSecret, body))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("delivery answered %d: %s", res.StatusCode, answer)
		}
	}

	// Every job is acknowledged: each is promised an alert. Kill while they
	// are being decided and sent.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for i, at := range []int{n / 3, 2 * n / 3} {
		if !waitFor(ctx, 2*time.Minute, func() bool { return recv.distinct() >= at }) {
			t.Fatalf("only %d of %d alerts before kill %d\n%s", recv.distinct(), n, i+1, srv.LogTail(20))
		}
		mustKill(t, srv)
		t.Logf("SIGKILL %d with %d of %d alerts received", i+1, recv.distinct(), n)
		time.Sleep(200 * time.Millisecond)
		mustStart(t, srv)
	}
	// A send cut by a kill is rescued after River's stuck-job delay (a
	// minute), hence the long bound.
	if !waitFor(ctx, 4*time.Minute, func() bool { return recv.distinct() >= n }) {
		t.Fatalf("only %d of %d alerts after the kills\n%s", recv.distinct(), n, srv.LogTail(20))
	}
	time.Sleep(3 * time.Second) // room for a wrong extra alert
	mustStop(t, srv)

	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.deliveries) != n {
		t.Errorf("%d distinct alerts, want %d (one per job)", len(recv.deliveries), n)
	}
	resends := 0
	for _, c := range recv.deliveries {
		resends += c - 1
	}
	for job, ids := range recv.jobIDs {
		if !jobs[job] {
			t.Errorf("alert for job %q that was never sent", job)
		}
		if len(ids) != 1 {
			t.Errorf("job %s alerted under %d webhook-ids, want 1 (decided twice)", job, len(ids))
		}
	}
	for job := range jobs {
		if _, ok := recv.jobIDs[job]; !ok {
			t.Errorf("job %s: no alert (lost)", job)
		}
	}
	t.Logf("%d alerts, each decided once; %d resent under the same webhook-id after a kill cut the send", n, resends)
}
