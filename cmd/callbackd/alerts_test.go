package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/webhook"
)

const alertWebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// alertReceiver records what the alert channels post to it.
type alertReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
	ids    []string // webhook-id of each verified webhook delivery
}

func newAlertReceiver(t *testing.T, verify *webhook.Verifier) *alertReceiver {
	r := &alertReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if verify != nil {
			res, err := verify.Verify(req.Header, body)
			if err != nil || !res.Valid {
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.bodies = append(r.bodies, body)
		r.ids = append(r.ids, req.Header.Get("webhook-id"))
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *alertReceiver) received() ([][]byte, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]string(nil), r.ids...)
}

// TestAlertsEndToEnd: callbacks delivered to the real webhook route raise
// alerts on a Slack-compatible receiver (a burst grouped into one message)
// and on a receiver that checks the Standard Webhooks signature with the
// project's verifier; a job that stops after a step is reported stuck.
func TestAlertsEndToEnd(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		slack := newAlertReceiver(t, nil)
		verifier, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {"unused"}, webhook.SchemeStandard: {alertWebhookSecret}}, Tolerance: 5 * time.Minute})
		require.NoError(t, err)
		hook := newAlertReceiver(t, verifier)
		config := filepath.Join(t.TempDir(), "alerts.yaml")
		require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, `
channels:
  - name: ops-chat
    slack: {url: %q}
  - name: pager
    webhook: {url: %q, secrets: [%s]}
rules:
  - name: failed-jobs
    match: {event: workflow.failed, workflow: translate}
    group_window: 2s
    channels: [ops-chat, pager]
  - name: stuck
    stuck: {after: 1s}
    match: {workflow: summarise}
    group_window: 0s
    channels: [ops-chat]
`, slack.URL+"/services/T0/B0/XXXX", hook.URL+"/in", alertWebhookSecret), 0o600))
		srv := startServer(t, databaseURL, "--alerts-config", config, "--public-url", "https://callbackd.example.com")

		for i := range 5 {
			deliverPayload(t, srv.base, map[string]any{"event": "workflow.failed", "job_id": fmt.Sprintf("fa11ed%02d-0000-4000-8000-000000000000", i),
				"workflow_name": "translate", "status": "failed", "error_message": "LLM provider timed out",
				"error": map[string]any{"category": "provider", "retryable": true}, "timestamp": "2025-12-20T10:30:00.123456+00:00Z"})
		}
		// A job that finishes and one that stops after its step.
		for _, job := range []string{"f1n15hed-0000-4000-8000-000000000000", "57uck000-0000-4000-8000-000000000000"} {
			deliverPayload(t, srv.base, map[string]any{"event": "llm.step.completed", "job_id": job, "workflow_name": "summarise", "step_id": "extract",
				"result": map[string]any{}, "tokens": map[string]any{"total": 1}, "cost_usd": 0, "duration_ms": 1, "timestamp": "2025-12-20T10:30:00.123456+00:00Z"})
		}
		deliverPayload(t, srv.base, map[string]any{"event": "workflow.completed", "job_id": "f1n15hed-0000-4000-8000-000000000000", "workflow_name": "summarise",
			"status": "completed", "result": map[string]any{}, "cost_data": map[string]any{"total_tokens": 1, "cost_usd": 0, "llm_calls": []any{}}, "timestamp": "2025-12-20T10:30:00.123456+00:00Z"})

		type slackMsg struct {
			Text   string           `json:"text"`
			Blocks []map[string]any `json:"blocks"`
		}
		var msgs []slackMsg
		require.Eventually(t, func() bool {
			bodies, _ := slack.received()
			msgs = msgs[:0]
			for _, b := range bodies {
				var m slackMsg
				require.NoError(t, json.Unmarshal(b, &m))
				msgs = append(msgs, m)
			}
			return len(msgs) >= 2
		}, 30*time.Second, 100*time.Millisecond)
		time.Sleep(1500 * time.Millisecond) // room for a wrong extra message
		bodies, _ := slack.received()
		require.Len(t, bodies, 2, "one grouped failure message and one stuck job")
		var failed, stuck string
		for _, m := range msgs {
			require.GreaterOrEqual(t, len(m.Blocks), 3)
			if strings.Contains(m.Text, "stuck") {
				stuck = m.Text
			} else {
				failed = m.Text
			}
		}
		require.Contains(t, failed, "5 failures of translate")
		require.Contains(t, failed, "LLM provider timed out")
		require.Contains(t, stuck, "1 stuck job of summarise, latest: llm.step.completed of job 57uck000")
		require.NotContains(t, stuck, "f1n15hed")
		require.Contains(t, string(bodies[0])+string(bodies[1]), "https://callbackd.example.com/jobs/")

		hookBodies, ids := hook.received()
		require.Len(t, hookBodies, 1, "the signed webhook got the grouped failure once, with a valid signature")
		var event struct {
			Type string `json:"type"`
			Data struct {
				ID    string `json:"id"`
				Count int    `json:"count"`
				Link  string `json:"link"`
			} `json:"data"`
		}
		require.NoError(t, json.Unmarshal(hookBodies[0], &event))
		require.Equal(t, "alert.firing", event.Type)
		require.Equal(t, 5, event.Data.Count)
		require.Equal(t, ids[0], event.Data.ID, "webhook-id is the alert's id")
		require.True(t, strings.HasPrefix(event.Data.Link, "https://callbackd.example.com/callbacks?"), event.Data.Link)

		// Admins read the rules and the deliveries over REST; others may not.
		get := func(path, token string) (int, string) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+path, nil)
			require.NoError(t, err)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(body)
		}
		status, body := get("/api/admin/alert-rules", srv.token)
		require.Equal(t, http.StatusOK, status, body)
		// Decoded: protojson's spacing varies from run to run on purpose.
		var rules struct {
			Rules []struct {
				Name         string   `json:"name"`
				Summary      string   `json:"summary"`
				ChannelKinds []string `json:"channel_kinds"`
			} `json:"rules"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &rules), body)
		require.Len(t, rules.Rules, 2)
		require.Equal(t, "failed-jobs", rules.Rules[0].Name)
		require.Equal(t, []string{"slack", "webhook"}, rules.Rules[0].ChannelKinds)
		require.Equal(t, "a job of workflow summarise with llm.step.completed and no final callback within 1s", rules.Rules[1].Summary)
		require.NotContains(t, body, alertWebhookSecret)
		require.NotContains(t, body, slack.URL)
		status, body = get("/api/admin/alert-deliveries?page_size=2", srv.token)
		require.Equal(t, http.StatusOK, status, body)
		var page struct {
			Deliveries []struct {
				Rule, Channel, Status string
			}
			NextPageToken string `json:"next_page_token"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &page))
		require.Len(t, page.Deliveries, 2)
		require.NotEmpty(t, page.NextPageToken)
		for _, d := range page.Deliveries {
			require.Equal(t, "sent", d.Status)
		}
		status, body = get("/api/admin/alert-deliveries?page_token="+page.NextPageToken, srv.token)
		require.Equal(t, http.StatusOK, status, body)
		require.Contains(t, body, `"status":"sent"`)
		status, body = get("/api/admin/alert-deliveries?page_token=junk", srv.token)
		require.Equal(t, http.StatusBadRequest, status, body)
		require.Contains(t, body, "invalid_page_token")
		status, _ = get("/api/admin/alert-rules", "")
		require.Equal(t, http.StatusUnauthorized, status)
	})
}
