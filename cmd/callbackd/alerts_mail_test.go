package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/mailpittest"
)

// TestAlertEmailReachesMailpit: failures delivered to the real webhook route
// raise one grouped alert that the e-mail channel sends to a real
// SMTP server (Mailpit, built from its pinned module); the message
// Mailpit stored has the subject, both recipients, a plain-text and an HTML
// part (the error message escaped in it) and links to the console.
func TestAlertEmailReachesMailpit(t *testing.T) {
	t.Parallel()
	bin := mailpittest.Build(t)
	databases(t, func(t *testing.T, databaseURL string) {
		// Without TLS and AUTH: this test is about the message;
		// TestEmailTLSAndAuth (internal/alert/queue) proves STARTTLS,
		// implicit TLS, AUTH and ca_file.
		mp := mailpittest.Start(t, bin)
		config := filepath.Join(t.TempDir(), "alerts.yaml")
		require.NoError(t, os.WriteFile(config, fmt.Appendf(nil, `
channels:
  - name: mail
    email:
      host: %s
      port: %d
      tls: none
      from: "callbackd <alerts@callbackd.example.com>"
      to: [oncall@example.com, lead@example.com]
rules:
  - name: failed-jobs
    match: {event: workflow.failed, workflow: translate}
    group_window: 2s
    channels: [mail]
`, mp.Host, mp.Port), 0o600))
		srv := startServer(t, databaseURL, "--alerts-config", config, "--public-url", "https://callbackd.example.com")

		const errorMessage = `LLM provider timed out <quota> & "retry"`
		for i := range 3 {
			deliverPayload(t, srv.base, map[string]any{"event": "workflow.failed", "job_id": fmt.Sprintf("fa11ed%02d-0000-4000-8000-000000000000", i),
				"workflow_name": "translate", "status": "failed", "error_message": errorMessage,
				"error": map[string]any{"category": "provider", "retryable": true}, "timestamp": "2025-12-20T10:30:00.123456+00:00Z"})
		}

		require.Eventually(t, func() bool { return len(mp.Messages(t)) >= 1 }, 30*time.Second, 100*time.Millisecond, "no mail reached mailpit")
		time.Sleep(1500 * time.Millisecond) // room for a wrong extra message
		list := mp.Messages(t)
		require.Len(t, list, 1, "the burst is one message")
		summary := list[0]

		msg := mp.Message(t, url.PathEscape(summary.ID))
		require.True(t, strings.HasPrefix(msg.Subject, "[callbackd] 3 failures of translate"), msg.Subject)
		require.Contains(t, msg.Subject, errorMessage)
		require.Equal(t, mailpittest.Address{Name: "callbackd", Address: "alerts@callbackd.example.com"}, msg.From)
		var to []string
		for _, a := range msg.To {
			to = append(to, a.Address)
		}
		require.ElementsMatch(t, []string{"oncall@example.com", "lead@example.com"}, to)
		require.Regexp(t, `^alert_[0-9a-f-]{36}@callbackd$`, msg.MessageID, "the alert's id, the same on a retry")

		require.Contains(t, msg.Text, "3 failures of translate")
		require.Contains(t, msg.Text, errorMessage, "the text part is not escaped")
		require.Contains(t, msg.Text, "Open in callbackd: https://callbackd.example.com/callbacks?")
		require.Contains(t, msg.Text, "Latest job: https://callbackd.example.com/jobs/fa11ed02-0000-4000-8000-000000000000")
		require.Contains(t, msg.Text, "Rule failed-jobs")

		require.Contains(t, msg.HTML, "<h2")
		require.Contains(t, msg.HTML, "3 failures of translate")
		require.Contains(t, msg.HTML, "&lt;quota&gt; &amp; &#34;retry&#34;", "the HTML part escapes the error message")
		require.NotContains(t, msg.HTML, "<quota>")
		require.Contains(t, msg.HTML, `<a href="https://callbackd.example.com/callbacks?`)
		require.Contains(t, msg.HTML, `<a href="https://callbackd.example.com/jobs/fa11ed02-0000-4000-8000-000000000000">Latest job</a>`)

		// The delivery is recorded as sent (once the worker has marked it).
		deliveries := func() []struct{ Rule, Channel, Status string } {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/admin/alert-deliveries", nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+srv.token)
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
			var page struct {
				Deliveries []struct{ Rule, Channel, Status string }
			}
			require.NoError(t, json.NewDecoder(res.Body).Decode(&page))
			return page.Deliveries
		}
		require.Eventually(t, func() bool {
			d := deliveries()
			require.Len(t, d, 1)
			require.Equal(t, "failed-jobs", d[0].Rule)
			require.Equal(t, "mail", d[0].Channel)
			return d[0].Status == "sent"
		}, 10*time.Second, 50*time.Millisecond)
	})
}
