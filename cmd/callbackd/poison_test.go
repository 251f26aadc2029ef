package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// randomText returns n bytes of random base64 text: it does not compress,
// so past about 2.7 KB no PostgreSQL index entry holds it.
func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}

// poison is a signed delivery built to break storage, and the documented
// answer it must get.
type poison struct {
	name      string
	body      func() []byte // a fresh job each call unless the case replays
	userAgent string
	status    int
	reason    string // of a 400
}

// poisons are the hostile payloads of issue 12: strings holding U+0000,
// indexed text beyond a B-tree entry, ids beyond their limits, a User-Agent
// that is not UTF-8, lone surrogates. JSON escapes carry the NULs, as the
// sender's serialiser writes them.
func poisons() []poison {
	obj := func(fields string) func() []byte {
		return func() []byte { return []byte(strings.ReplaceAll(fields, "JOB", uuid.NewString())) }
	}
	big := randomText(3000)
	return []poison{
		{name: "NUL in error_message", body: obj(`{"error_message":"the model wrote \u0000 here","event":"workflow.failed","job_id":"JOB","status":"failed"}`), status: 200},
		{name: "NUL in workflow_name", body: obj(`{"event":"workflow.completed","job_id":"JOB","workflow_name":"\u0000summarise"}`), status: 200},
		{name: "NUL in step_id", body: obj(`{"event":"llm.step.completed","job_id":"JOB","step_id":"step\u0000"}`), status: 200},
		{name: "NUL in job_id", body: obj(`{"event":"workflow.completed","job_id":"JOB\u0000"}`), status: 200},
		{name: "NUL in error.message", body: obj(`{"error":{"message":"\u0000"},"event":"workflow.failed","job_id":"JOB"}`), status: 200},
		{name: "3 KB incompressible workflow_name", body: func() []byte {
			return []byte(`{"event":"workflow.completed","job_id":"` + uuid.NewString() + `","workflow_name":"` + randomText(3000) + `"}`)
		}, status: 200},
		{name: "300 KB error_message", body: obj(`{"error_message":"` + strings.Repeat(big, 100) + `","event":"workflow.failed","job_id":"JOB"}`), status: 200},
		{name: "lone surrogates", body: obj(`{"event":"workflow.failed","job_id":"JOB","error_message":"\ud800\udfff","workflow_name":"\udbff"}`), status: 200},
		{name: "User-Agent not UTF-8", body: obj(`{"event":"workflow.completed","job_id":"JOB"}`), userAgent: "Mozilla/5.0 \xff\xfe\xc0", status: 200},
		{name: "3 KB job_id", body: func() []byte {
			return []byte(`{"event":"workflow.completed","job_id":"` + randomText(3000) + `"}`)
		}, status: 400, reason: "job_id_too_long"},
		{name: "job_id just over the limit once escaped", body: obj(`{"event":"workflow.completed","job_id":"` + strings.Repeat(`\u0000`, callback.MaxJobIDBytes+1) + `"}`), status: 400, reason: "job_id_too_long"},
		{name: "job_id at the limit, every byte escaped", body: func() []byte {
			return []byte(`{"event":"llm.step.completed","job_id":"` + uuid.NewString()[:4] + strings.Repeat(`%`, callback.MaxJobIDBytes-4) +
				`","step_id":"` + strings.Repeat(`\u0000`, callback.MaxStepIDBytes) + `"}`)
		}, status: 200},
		{name: "200-byte event", body: obj(`{"event":"` + strings.Repeat("e", 200) + `","job_id":"JOB"}`), status: 400, reason: "event_too_long"},
		{name: "3 KB step_id", body: obj(`{"event":"llm.step.completed","job_id":"JOB","step_id":"` + big + `"}`), status: 400, reason: "step_id_too_long"},
	}
}

// send posts body, signed with the test secret, with userAgent (a default
// when empty), and returns the status and the decoded answer.
func postSigned(client *http.Client, base string, body []byte, userAgent string) (int, map[string]any, error) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/webhooks/llm-callback", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if userAgent == "" {
		userAgent = "LLM Job Service/1.0"
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("X-Webhook-Signature", webhook.SignLLM(testSecret, body))
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, err
	}
	var answer map[string]any
	if err := json.Unmarshal(raw, &answer); err != nil {
		return res.StatusCode, nil, fmt.Errorf("answer %q: %w", raw, err)
	}
	return res.StatusCode, answer, nil
}

// TestPoisonPayloadsBesideLegitimateTraffic posts every poison payload,
// over and over from two senders, while legitimate senders post beside them,
// on both databases. No legitimate delivery fails; each poison gets its
// documented answer (stored, or a 400 with its reason, never a 500); every
// stored poison keeps its exact bytes and reads back with storable columns;
// and the admin filters accept the hostile values.
func TestPoisonPayloadsBesideLegitimateTraffic(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		cases := poisons()
		documented := documentedWebhookAnswers(t)
		for _, p := range cases {
			if p.reason != "" {
				require.Equal(t, p.status, documented[p.reason], "%s: %d %s is a row of docs/errors.md", p.name, p.status, p.reason)
			}
		}
		var (
			mu     sync.Mutex
			stored = map[string][]byte{} // id → body
			posted int
		)
		besideLegitimateTraffic(t, srv, func() {
			var wg sync.WaitGroup
			deadline := time.Now().Add(2 * time.Second)
			for range 2 {
				wg.Go(func() {
					client := &http.Client{Timeout: 30 * time.Second}
					for time.Now().Before(deadline) {
						for _, p := range cases {
							body := p.body()
							status, answer, err := postSigned(client, srv.base, body, p.userAgent)
							if !assertPoisonAnswer(t, p, status, answer, err) {
								return
							}
							mu.Lock()
							posted++
							if status == http.StatusOK {
								stored[answer["id"].(string)] = body
							}
							mu.Unlock()
						}
					}
				})
			}
			wg.Wait()
		})
		t.Logf("%d poison deliveries answered as documented", posted)

		for id, body := range stored {
			c, err := srv.app.store.Get(t.Context(), uuid.MustParse(id), uuid.Nil)
			require.NoError(t, err)
			require.Equal(t, body, c.Payload, "the exact bytes of %s", id)
			for _, s := range []string{c.Key, c.EventType, c.ExternalJobID, c.WorkflowName, c.StepID, c.ErrorMessage, c.UserAgent, c.PayloadPreview} {
				require.True(t, utf8.ValidString(s) && !strings.Contains(s, "\x00"), "%s: %q", id, s)
			}
			require.LessOrEqual(t, len(c.WorkflowName), callback.MaxWorkflowNameBytes)
			require.LessOrEqual(t, len(c.ErrorMessage), callback.MaxErrorMessageBytes)
		}

		// Filters holding U+0000 or over-long values are answered on REST
		// (the %00 of a query string) and match what was stored.
		job := uuid.NewString()
		body := []byte(`{"event":"workflow.completed","job_id":"` + job + `\u0000","workflow_name":"` + randomText(3000) + `"}`)
		status, answer, err := postSigned(http.DefaultClient, srv.base, body, "")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status, answer)
		for _, query := range []string{
			"external_job_id=" + url.QueryEscape(job+"\x00"),
			"external_job_id=" + url.QueryEscape(job+"\uFFFD"),
			"workflow_name=" + url.QueryEscape(randomText(3000)) + "&external_job_id=" + url.QueryEscape(job+"\x00"),
		} {
			list := restGet(t, srv, "/api/admin/llm-callbacks?"+query, &callbacksv1.ListCallbacksResponse{}).(*callbacksv1.ListCallbacksResponse)
			if strings.HasPrefix(query, "workflow_name") {
				require.Empty(t, list.GetCallbacks(), query)
				continue
			}
			require.Len(t, list.GetCallbacks(), 1, query)
			require.Equal(t, answer["id"], list.GetCallbacks()[0].GetId())
		}
	})
}

// assertPoisonAnswer checks one poison's answer; it reports false after a
// failure, so that the sender stops.
func assertPoisonAnswer(t *testing.T, p poison, status int, answer map[string]any, err error) bool {
	t.Helper()
	switch {
	case err != nil:
		t.Errorf("%s: %v", p.name, err)
	case status != p.status:
		t.Errorf("%s: status %d, want %d: %v", p.name, status, p.status, answer)
	case status == http.StatusOK && answer["id"] == nil:
		t.Errorf("%s: 200 without an id: %v", p.name, answer)
	case status != http.StatusOK && answer["reason"] != p.reason:
		t.Errorf("%s: reason %v, want %s: %v", p.name, answer["reason"], p.reason, answer)
	default:
		return true
	}
	return false
}

// restGet GETs an admin path with the test token, requires a 200 and
// decodes the body into m with protojson, as browsers' clients do.
func restGet(t testing.TB, srv running, path string, m proto.Message) proto.Message {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s: %s", path, raw)
	require.NoError(t, protojson.Unmarshal(raw, m), "%s", raw)
	return m
}

// adminReads is the admin plane's reads of one server, on every protocol.
type adminReads struct {
	srv  running
	conn *grpc.ClientConn
}

func newAdminReads(t testing.TB, srv running) adminReads {
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return adminReads{srv: srv, conn: conn}
}

// cursor returns the feed's current end, as CheckCallbacks without a
// cursor answers it.
func (a adminReads) cursor(t testing.TB) string {
	t.Helper()
	res, err := adminClient(a.srv).CheckCallbacks(t.Context(), connect.NewRequest(&callbacksv1.CheckCallbacksRequest{}))
	require.NoError(t, err)
	return res.Msg.GetNextCursor()
}

// requireReadable requires that the callback id is answered by Get, by List
// (filtered to the microsecond it was created in, so that it is on the first
// page whatever arrives beside it) and by Check (after cursor), on Connect,
// gRPC and REST; it returns the callback as Get answered on Connect.
func (a adminReads) requireReadable(t testing.TB, id, after string) *callbacksv1.Callback {
	t.Helper()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+a.srv.token)
	grpcClient := callbacksv1.NewCallbackAdminServiceClient(a.conn)
	connectClient := adminClient(a.srv)

	got, err := connectClient.GetCallback(t.Context(), connect.NewRequest(&callbacksv1.GetCallbackRequest{Id: id}))
	require.NoError(t, err, "connect get")
	_, err = grpcClient.GetCallback(ctx, &callbacksv1.GetCallbackRequest{Id: id})
	require.NoError(t, err, "grpc get")
	restGet(t, a.srv, "/api/admin/llm-callbacks/"+id, &callbacksv1.GetCallbackResponse{})

	created := got.Msg.GetCallback().GetCreateTime()
	until := timestamppb.New(created.AsTime().Add(time.Microsecond))
	listReq := &callbacksv1.ListCallbacksRequest{CreateTimeAfter: created, CreateTimeBefore: until, PageSize: 100}
	lists := map[string][]*callbacksv1.Callback{}
	res, err := connectClient.ListCallbacks(t.Context(), connect.NewRequest(listReq))
	require.NoError(t, err, "connect list")
	lists["connect"] = res.Msg.GetCallbacks()
	gres, err := grpcClient.ListCallbacks(ctx, listReq)
	require.NoError(t, err, "grpc list")
	lists["grpc"] = gres.GetCallbacks()
	lists["rest"] = restGet(t, a.srv, "/api/admin/llm-callbacks?page_size=100&create_time_after="+
		created.AsTime().Format(time.RFC3339Nano)+"&create_time_before="+until.AsTime().Format(time.RFC3339Nano),
		&callbacksv1.ListCallbacksResponse{}).(*callbacksv1.ListCallbacksResponse).GetCallbacks()
	for protocol, cs := range lists {
		require.True(t, containsCallback(cs, id), "%s list lacks %s", protocol, id)
	}

	checkReq := &callbacksv1.CheckCallbacksRequest{After: after, PageSize: 1000}
	checks := map[string][]*callbacksv1.CallbackEvent{}
	cres, err := connectClient.CheckCallbacks(t.Context(), connect.NewRequest(checkReq))
	require.NoError(t, err, "connect check")
	checks["connect"] = cres.Msg.GetEvents()
	gcres, err := grpcClient.CheckCallbacks(ctx, checkReq)
	require.NoError(t, err, "grpc check")
	checks["grpc"] = gcres.GetEvents()
	checks["rest"] = restGet(t, a.srv, "/api/admin/llm-callbacks/check?page_size=1000&after="+url.QueryEscape(after),
		&callbacksv1.CheckCallbacksResponse{}).(*callbacksv1.CheckCallbacksResponse).GetEvents()
	for protocol, events := range checks {
		require.True(t, eventsContain(events, id), "%s check after %s lacks %s", protocol, after, id)
	}
	return got.Msg.GetCallback()
}

func containsCallback(cs []*callbacksv1.Callback, id string) bool {
	for _, c := range cs {
		if c.GetId() == id {
			return true
		}
	}
	return false
}

// eventCallback is the callback of a received or redelivered event.
func eventCallback(e *callbacksv1.CallbackEvent) *callbacksv1.Callback {
	if c := e.GetReceived(); c != nil {
		return c
	}
	return e.GetRedelivered()
}

func eventsContain(events []*callbacksv1.CallbackEvent, id string) bool {
	for _, e := range events {
		if eventCallback(e).GetId() == id {
			return true
		}
	}
	return false
}

// watchUntil reads w until an event of callback id arrives; an error or ten
// seconds without it fails the test.
func watchUntil(t testing.TB, w watcher, id string) {
	t.Helper()
	found := make(chan error, 1)
	go func() {
		for {
			msg, err := w.next()
			if err != nil {
				found <- err
				return
			}
			if eventCallback(msg.GetEvent()).GetId() == id {
				found <- nil
				return
			}
		}
	}()
	select {
	case err := <-found:
		require.NoError(t, err, "watch ended before %s", id)
	case <-time.After(10 * time.Second):
		w.close()
		t.Fatalf("watch: no event of %s in 10s", id)
	}
}

// TestStoredOddRowsStayReadable writes a row past every rule of the store
// (storetest.OddRow: bytes that are not UTF-8 and U+0000 on SQLite; on
// PostgreSQL, which refuses those, control characters and text far beyond
// the column limits) while legitimate traffic flows, then requires List,
// Get, Check and Watch to answer on Connect, gRPC and REST, with U+FFFD in
// place of the bad bytes, and later events to keep flowing to watchers.
func TestStoredOddRowsStayReadable(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		reads := newAdminReads(t, srv)
		besideLegitimateTraffic(t, srv, func() {
			cursor := reads.cursor(t)
			var watchers []watcher
			for _, protocol := range []string{"grpc", "connect", "rest"} {
				w := openWatch(t, srv, protocol, cursor)
				defer w.close()
				watchers = append(watchers, w)
			}
			raw := storetest.OddRow(srv.app.store.Dialect(), time.Now())
			id, _, err := storetest.InsertRaw(t, srv.app.store, raw)
			require.NoError(t, err)
			srv.app.hub.Poke() // as a commit of this process would

			c := reads.requireReadable(t, id.String(), cursor)
			require.Equal(t, callback.StorableText(raw.UserAgent, 0), c.GetUserAgent())
			require.Equal(t, callback.StorableText(raw.WorkflowName, 0), c.GetWorkflowName())
			require.Equal(t, raw.Payload, c.GetPayload(), "the payload is bytes, shown as stored")
			for _, w := range watchers {
				watchUntil(t, w, id.String())
			}
			// The watchers go on past the row.
			after := ingestN(t, srv, 1)[0]
			for _, w := range watchers {
				watchUntil(t, w, after)
			}
		})
	})
}

// documentedWebhookAnswers reads the webhook table of docs/errors.md: each
// documented reason with its HTTP status.
func documentedWebhookAnswers(t testing.TB) map[string]int {
	t.Helper()
	doc, err := os.ReadFile("../../docs/errors.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(doc), "## Webhook")
	require.True(t, ok, "docs/errors.md has a webhook section")
	section, _, _ = strings.Cut(section, "\n## ")
	answers := map[string]int{}
	row := regexp.MustCompile("(?m)^\\|[^|]*\\| (\\d{3})[^|]*\\|[^|]*\\| `([a-z0-9_]+)` \\|")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		status, err := strconv.Atoi(m[1])
		require.NoError(t, err)
		answers[m[2]] = status
	}
	require.NotEmpty(t, answers)
	return answers
}
