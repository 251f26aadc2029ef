package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/webhook"
)

// replayReceiver is a real HTTP server on loopback that records every
// delivery and answers 202.
type replayReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []*http.Request
	// bodies are the bodies of got, in order.
	bodies [][]byte
}

func newReplayReceiver(t *testing.T) *replayReceiver {
	t.Helper()
	rx := &replayReceiver{}
	rx.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rx.mu.Lock()
		rx.got, rx.bodies = append(rx.got, r), append(rx.bodies, b)
		rx.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "received")
	}))
	t.Cleanup(rx.Close)
	return rx
}

func (rx *replayReceiver) count() int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return len(rx.got)
}

// TestReplay runs ReplayCallback through a server whose policy opens
// loopback, on every protocol and both databases: the exact stored body
// reaches a real receiver, signed when asked; an unreachable and a silent
// target are told apart (502, 504); a server started with --no-replay
// refuses every replay (403). Every replay is logged with the target's host
// only, and counted.
func TestReplay(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		log := &syncBuffer{}
		args := []string{"--webhook-secret", "main=" + testSecret, "--replay-allow", "127.0.0.0/8", "--replay-timeout", "1s"}
		if databaseURL != "" {
			args = append(args, "--database-url", databaseURL)
		}
		srv := serveForTest(t, slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})), args...)
		// A body whose spacing and escapes a re-serialisation would change.
		job := uuid.NewString()
		body := []byte(`{"event": "workflow.completed", "job_id": "` + job + `", "workflow_name": "replay", "note": "caf\u00e9 \u2028", "n": 1.0}`)
		res := delivery{body: body, headers: signed(body, "workflow.completed")}.send(t, srv.base)
		require.Equal(t, http.StatusOK, res.status, res.body)
		var stored struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.body), &stored))

		rx := newReplayReceiver(t)
		// It reads the body first: only then does net/http watch the
		// connection and end the request when the replay gives up.
		silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			<-r.Context().Done()
		}))
		t.Cleanup(silent.Close)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "http://" + ln.Addr().String() + "/hook"
		require.NoError(t, ln.Close())

		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		env := badInputEnv{callbackID: stored.ID}
		rows := []badInput{
			replayRow("delivered unsigned", env, rx.URL+"/hook?token=do-not-log", "", "", 200, codes.OK, "", false),
			replayRow("delivered signed", env, rx.URL+"/hook", "receiver-secret", "", 200, codes.OK, "", false),
			replayRow("target refuses connections", env, closed, "", "", 502, codes.Unavailable, "replay_target_unreachable", false),
			replayRow("target never answers", env, silent.URL, "", "", 504, codes.DeadlineExceeded, "replay_target_timeout", false),
		}
		for _, row := range rows {
			for _, p := range protocols {
				before := rx.count()
				answer, ok := sendBadInput(t, srv, conn, row, p, "Bearer "+srv.token)
				require.True(t, ok)
				require.Equal(t, row.code.String(), answer.code.String(), "%s %s: %s", row.what, p, answer.detail)
				require.Equal(t, row.reason, answer.reason, "%s %s: %s", row.what, p, answer.detail)
				if p == "rest" {
					require.Equal(t, row.http, answer.http, "%s %s: %s", row.what, p, answer.detail)
				}
				if row.code != codes.OK {
					continue
				}
				require.Equal(t, before+1, rx.count(), "%s %s: one delivery", row.what, p)
				rx.mu.Lock()
				got, gotBody := rx.got[before], rx.bodies[before]
				rx.mu.Unlock()
				require.Equal(t, body, gotBody, "%s %s: the exact stored body", row.what, p)
				require.Equal(t, "workflow.completed", got.Header.Get("X-Webhook-Event"))
				if secret := row.msg.(*callbacksv1.ReplayCallbackRequest).GetSecret(); secret != "" {
					require.Equal(t, webhook.SignLLM(secret, body), got.Header.Get(webhook.HeaderLLMSignature), "%s %s", row.what, p)
				} else {
					require.Empty(t, got.Header.Get(webhook.HeaderLLMSignature), "%s %s: the original signature is not forwarded", row.what, p)
				}
			}
		}

		// The generated client's view of an answer.
		out, err := adminClient(srv).ReplayCallback(t.Context(), connect.NewRequest(&callbacksv1.ReplayCallbackRequest{Id: stored.ID, TargetUrl: rx.URL, Secret: "s", SignatureScheme: "github"}))
		require.NoError(t, err)
		require.EqualValues(t, http.StatusAccepted, out.Msg.GetStatusCode())
		require.Equal(t, "received", out.Msg.GetBodySnippet())
		require.Equal(t, "github", out.Msg.GetSignatureScheme())
		require.EqualValues(t, len(body), out.Msg.GetBodyBytes())
		require.Equal(t, rx.Listener.Addr().String(), out.Msg.GetRemoteAddr())
		require.Contains(t, out.Msg.GetHeaders(), &callbacksv1.ReplayHeader{Name: "Content-Type", Value: "text/plain"})

		// Logged with the host, never the path or query (a receiver's token).
		logged := log.String()
		require.Contains(t, logged, `"msg":"replay"`)
		require.Contains(t, logged, `"target_host":"`+rx.Listener.Addr().String()+`"`)
		require.Contains(t, logged, `"outcome":"replay_target_timeout"`)
		require.NotContains(t, logged, "do-not-log")
		require.NotContains(t, logged, "receiver-secret")
		metrics := scrape(t, srv)
		require.Contains(t, metrics, `callbackd_replays_total{outcome="2xx"} 11`)
		require.Contains(t, metrics, `callbackd_replays_total{outcome="replay_target_unreachable"} 5`)
	})

	t.Run("turned off", func(t *testing.T) {
		t.Parallel()
		srv := startServer(t, "", "--no-replay")
		ids := ingestN(t, srv, 1)
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		row := replayRow("replay turned off", badInputEnv{callbackID: ids[0]}, "https://example.com/", "", "", 403, codes.FailedPrecondition, "replay_disabled", false)
		for _, p := range protocols {
			answer, ok := sendBadInput(t, srv, conn, row, p, "Bearer "+srv.token)
			require.True(t, ok)
			require.Equal(t, row.code.String(), answer.code.String(), "%s: %s", p, answer.detail)
			require.Equal(t, row.reason, answer.reason, "%s: %s", p, answer.detail)
			if p == "rest" {
				require.Equal(t, row.http, answer.http, "%s: %s", p, answer.detail)
			}
		}
	})
}

// scrape returns the server's /metrics text.
func scrape(t *testing.T, srv running) string {
	t.Helper()
	res, err := http.Get(srv.base + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}
