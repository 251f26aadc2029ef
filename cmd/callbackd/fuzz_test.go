package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http/httpguts"
	"google.golang.org/grpc/metadata"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// startFuzzServer is startServer for a fuzz function: the server is shared
// by every input, and its logs go to the test log only from level error,
// since a fuzz run makes millions of rejected deliveries, each logged as a
// warning, and the log of a fuzz function is kept until it ends. The failure
// limiter is off so that unsigned inputs do not turn the signed ones into
// 429s.
func startFuzzServer(f *testing.F, databaseURL string) running {
	f.Helper()
	args := []string{"--webhook-secret", "main=" + testSecret, "--log-level", "error", "--webhook-failure-rate", "0"}
	if databaseURL != "" {
		args = append(args, "--database-url", databaseURL)
	}
	return serveForTest(f, slog.New(slog.NewTextHandler(fuzzLog{f}, &slog.HandlerOptions{Level: slog.LevelError})), args...)
}

type fuzzLog struct{ f *testing.F }

func (w fuzzLog) Write(p []byte) (int, error) {
	w.f.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// fuzzWatch is a WatchCallbacks stream over gRPC that lives as long as the
// fuzz function.
func fuzzWatch(f *testing.F, srv running, reads adminReads) watcher {
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+srv.token)
	stream, err := callbacksv1.NewCallbackAdminServiceClient(reads.conn).WatchCallbacks(ctx, &callbacksv1.WatchCallbacksRequest{})
	require.NoError(f, err)
	return funcWatcher{stream.Recv, cancel}
}

// FuzzIngestStoreRead drives arbitrary User-Agent, X-Webhook-Event and
// X-Request-Id headers and bodies (signed with the test secret when sign is
// set) through the webhook route of a real server on SQLite and on
// PostgreSQL, then reads what was stored back through the admin plane. It
// requires every answer to be 200 or a status and reason documented in the
// webhook table of docs/errors.md, and every stored delivery to be answered
// by Get, List and Check on Connect, gRPC and REST and to reach a watcher,
// so that no input can make a read fail. Header values that HTTP cannot
// carry (control characters) are not sent. The seeds are the poison cases of
// TestPoisonPayloadsBesideLegitimateTraffic; testdata/fuzz holds what the
// fuzzer found.
func FuzzIngestStoreRead(f *testing.F) {
	for _, p := range poisons() {
		f.Add(p.userAgent, "", "req-1", p.body(), true)
	}
	f.Add("LLM Job Service/1.0", "workflow.completed", "8d2f", legitimateBody("workflow.completed", uuid.NewString(), 1), true)
	f.Add("\xff\xfe", "llm.step.completed", "\xc3(", legitimateBody("llm.step.completed", uuid.NewString(), 2), true)
	f.Add("curl/8", "workflow.failed", "", legitimateBody("workflow.failed", uuid.NewString(), 3), false)
	f.Add("", "", "", []byte(`{"event":"x\u0000","job_id":"\u0000","step_id":"\u0000"}`), true)
	f.Add("a", "b", "c", []byte("{\"event\":\"workflow.completed\",\"job_id\":\"\xff\"}"), true)

	documented := documentedWebhookAnswers(f)
	type target struct {
		name    string
		srv     running
		reads   adminReads
		watcher watcher
	}
	var targets []target
	for name, url := range map[string]string{"sqlite": "", "postgres": storetest.PostgresURL(f)} {
		srv := startFuzzServer(f, url)
		reads := newAdminReads(f, srv)
		targets = append(targets, target{name, srv, reads, fuzzWatch(f, srv, reads)})
	}
	client := &http.Client{}

	f.Fuzz(func(t *testing.T, userAgent, event, requestID string, body []byte, sign bool) {
		headers := map[string]string{"User-Agent": userAgent, "X-Webhook-Event": event, "X-Request-Id": requestID}
		for _, v := range headers {
			if !httpguts.ValidHeaderFieldValue(v) {
				return
			}
		}
		for _, tg := range targets {
			after := tg.reads.cursor(t)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.srv.base+"/api/webhooks/llm-callback", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			for k, v := range headers {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			if userAgent == "" {
				req.Header.Set("User-Agent", "") // net/http's own otherwise
			}
			if sign {
				req.Header.Set("X-Webhook-Signature", webhook.SignLLM(testSecret, body))
			}
			res, err := client.Do(req)
			require.NoError(t, err, tg.name)
			raw, err := io.ReadAll(res.Body)
			res.Body.Close()
			require.NoError(t, err, tg.name)
			var answer struct {
				ID     string `json:"id"`
				Reason string `json:"reason"`
			}
			require.NoError(t, json.Unmarshal(raw, &answer), "%s: %d %q", tg.name, res.StatusCode, raw)
			if res.StatusCode != http.StatusOK {
				status, ok := documented[answer.Reason]
				require.True(t, ok && status == res.StatusCode, "%s: %d %s is not a row of docs/errors.md: %s", tg.name, res.StatusCode, answer.Reason, raw)
				continue
			}
			require.NotEmpty(t, answer.ID, "%s: %s", tg.name, raw)
			c := tg.reads.requireReadable(t, answer.ID, after)
			require.Equal(t, body, c.GetPayload(), "%s: the payload is stored exactly", tg.name)
			watchUntil(t, tg.watcher, answer.ID)
		}
	})
}
