package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// ingestN posts n distinct workflow.completed callbacks and returns their ids.
func ingestN(t *testing.T, srv running, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		body := payload(t, "workflow.completed", uuid.NewString(), nil)
		res := delivery{body: body, headers: signed(body, "workflow.completed")}.send(t, srv.base)
		require.Equal(t, http.StatusOK, res.status, res.body)
		var ok struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.body), &ok))
		ids[i] = ok.ID
	}
	return ids
}

// adminClient is the generated Connect client with the test admin token.
func adminClient(srv running, opts ...connect.ClientOption) callbacksv1connect.CallbackAdminServiceClient {
	return callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base, append(opts,
		connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+srv.token)
				return next(ctx, req)
			}
		})))...)
}

// watcher abstracts a WatchCallbacks stream over one protocol.
type watcher interface {
	// next returns the next message (event or heartbeat).
	next() (*callbacksv1.WatchCallbacksResponse, error)
	close()
}

// openWatch opens WatchCallbacks from cursor over protocol: "grpc"
// (grpc-go), "connect" (Connect over HTTP/1.1, what browsers use) or "rest"
// (the gateway's newline-delimited JSON).
func openWatch(t *testing.T, srv running, protocol, cursor string) watcher {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	switch protocol {
	case "grpc":
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+srv.token)
		stream, err := callbacksv1.NewCallbackAdminServiceClient(conn).WatchCallbacks(ctx, &callbacksv1.WatchCallbacksRequest{Cursor: cursor})
		require.NoError(t, err)
		return funcWatcher{stream.Recv, func() { cancel(); _ = conn.Close() }}
	case "connect":
		req := connect.NewRequest(&callbacksv1.WatchCallbacksRequest{Cursor: cursor})
		req.Header().Set("Authorization", "Bearer "+srv.token)
		stream, err := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base).WatchCallbacks(ctx, req)
		require.NoError(t, err)
		return funcWatcher{func() (*callbacksv1.WatchCallbacksResponse, error) {
			if stream.Receive() {
				return stream.Msg(), nil
			}
			return nil, fmt.Errorf("stream ended: %w", stream.Err())
		}, func() { cancel(); _ = stream.Close() }}
	case "rest":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/admin/llm-callbacks/watch?cursor="+cursor, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		lines := bufio.NewReader(res.Body)
		return funcWatcher{func() (*callbacksv1.WatchCallbacksResponse, error) {
			line, err := lines.ReadBytes('\n')
			if err != nil {
				return nil, err
			}
			var wrapper struct {
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(line, &wrapper); err != nil {
				return nil, err
			}
			if wrapper.Error != nil {
				return nil, fmt.Errorf("stream error: %s", wrapper.Error)
			}
			msg := &callbacksv1.WatchCallbacksResponse{}
			return msg, protojsonUnmarshal(wrapper.Result, msg)
		}, func() { cancel(); _ = res.Body.Close() }}
	}
	t.Fatalf("unknown protocol %q", protocol)
	return nil
}

type funcWatcher struct {
	recv func() (*callbacksv1.WatchCallbacksResponse, error)
	stop func()
}

func (w funcWatcher) next() (*callbacksv1.WatchCallbacksResponse, error) { return w.recv() }
func (w funcWatcher) close()                                             { w.stop() }

// collect reads events until it has n of them, returning the ids of
// received/redelivered callbacks in order and the last cursor.
func collect(t *testing.T, w watcher, n int) (ids []string, cursor string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(ids) < n {
			msg, err := w.next()
			if err != nil {
				t.Errorf("watch after %d of %d events: %v", len(ids), n, err)
				return
			}
			if hb := msg.GetHeartbeat(); hb != nil {
				continue
			}
			ev := msg.GetEvent()
			cursor = ev.GetCursor()
			if c := ev.GetReceived(); c != nil {
				ids = append(ids, c.GetId())
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		w.close()
		<-done
		t.Fatalf("watch: got %d of %d events in 30s", len(ids), n)
	}
	return ids, cursor
}

// firstCursor reads the opening heartbeat and returns its cursor.
func firstCursor(t *testing.T, w watcher) string {
	t.Helper()
	msg, err := w.next()
	require.NoError(t, err)
	require.NotNil(t, msg.GetHeartbeat(), "a stream opens with a heartbeat")
	return msg.GetHeartbeat().GetCursor()
}

// TestWatchResumesWithoutGapsOrDuplicates watches, disconnects, lets
// callbacks arrive, resumes from the last cursor, and checks by id that every
// callback arrived exactly once, in order, on every protocol and database.
func TestWatchResumesWithoutGapsOrDuplicates(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		for _, protocol := range []string{"grpc", "connect", "rest"} {
			t.Run(protocol, func(t *testing.T) {
				w := openWatch(t, srv, protocol, "")
				firstCursor(t, w)
				live := ingestN(t, srv, 5)
				got, cursor := collect(t, w, 5)
				require.Equal(t, live, got)
				w.close()

				missed := ingestN(t, srv, 7)
				w = openWatch(t, srv, protocol, cursor)
				defer w.close()
				require.Equal(t, cursor, firstCursor(t, w), "resume starts where the client left")
				got, _ = collect(t, w, 7)
				require.Equal(t, missed, got, "replay: every missed callback once, in order")
				after := ingestN(t, srv, 3)
				got, _ = collect(t, w, 3)
				require.Equal(t, after, got, "live after the seam, no duplicate")
			})
		}
	})
}

// TestWatchAcrossReplicas runs two callbackd processes on one PostgreSQL
// database: callbacks ingested by one reach a watcher of the other.
func TestWatchAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	a := startServer(t, url)
	b := startServer(t, url)
	w := openWatch(t, b, "connect", "")
	defer w.close()
	firstCursor(t, w)
	ids := ingestN(t, a, 10)
	got, _ := collect(t, w, 10)
	require.Equal(t, ids, got)
}

// TestCheckPollsTheFeed is WatchCallbacks for clients that poll.
func TestCheckPollsTheFeed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	client := adminClient(srv)
	start, err := client.CheckCallbacks(t.Context(), connect.NewRequest(&callbacksv1.CheckCallbacksRequest{}))
	require.NoError(t, err)
	require.Empty(t, start.Msg.GetEvents())
	ids := ingestN(t, srv, 5)
	res, err := client.CheckCallbacks(t.Context(), connect.NewRequest(&callbacksv1.CheckCallbacksRequest{After: start.Msg.GetNextCursor(), PageSize: 3}))
	require.NoError(t, err)
	require.True(t, res.Msg.GetMore())
	rest, err := client.CheckCallbacks(t.Context(), connect.NewRequest(&callbacksv1.CheckCallbacksRequest{After: res.Msg.GetNextCursor()}))
	require.NoError(t, err)
	require.False(t, rest.Msg.GetMore())
	var got []string
	for _, e := range append(res.Msg.GetEvents(), rest.Msg.GetEvents()...) {
		got = append(got, e.GetReceived().GetId())
	}
	require.Equal(t, ids, got)

	_, err = client.CheckCallbacks(t.Context(), connect.NewRequest(&callbacksv1.CheckCallbacksRequest{After: "bogus"}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
}

// TestListPaginatesWhileCallbacksArrive pages through the history while
// other callbacks keep arriving: no duplicates, no skips.
func TestListPaginatesWhileCallbacksArrive(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		before := ingestN(t, srv, 40)
		client := adminClient(srv)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					ingestN(t, srv, 1)
				}
			}
		}()
		seen := map[string]bool{}
		var order []string
		token := ""
		for {
			res, err := client.ListCallbacks(t.Context(), connect.NewRequest(&callbacksv1.ListCallbacksRequest{PageSize: 7, PageToken: token}))
			require.NoError(t, err)
			for _, c := range res.Msg.GetCallbacks() {
				require.False(t, seen[c.GetId()], "duplicate %s across pages", c.GetId())
				seen[c.GetId()] = true
				order = append(order, c.GetId())
			}
			token = res.Msg.GetNextPageToken()
			if token == "" {
				break
			}
		}
		close(stop)
		wg.Wait()
		for _, id := range before {
			require.True(t, seen[id], "callback %s skipped", id)
		}
		// Newest first: the first 40 stored appear in reverse order.
		var tail []string
		for _, id := range order {
			if containsString(before, id) {
				tail = append(tail, id)
			}
		}
		for i := range before {
			require.Equal(t, before[len(before)-1-i], tail[i])
		}

		_, err := client.ListCallbacks(t.Context(), connect.NewRequest(&callbacksv1.ListCallbacksRequest{PageToken: "garbage"}))
		require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestMarkViewedIsIdempotentUnderConcurrency marks one callback viewed from
// 20 goroutines: one view, first time kept, one "viewed" event; another
// admin still sees it unviewed.
func TestMarkViewedIsIdempotentUnderConcurrency(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL, "--jwt-hs256-secret", jwtSecret, "--jwt-admin-claim", "app_metadata.role=ADMIN")
		id := ingestN(t, srv, 1)[0]
		w := openWatch(t, srv, "connect", "")
		defer w.close()
		firstCursor(t, w)
		client := adminClient(srv)
		var wg sync.WaitGroup
		times := make([]string, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := client.MarkViewed(t.Context(), connect.NewRequest(&callbacksv1.MarkViewedRequest{Id: id}))
				require.NoError(t, err)
				times[i] = res.Msg.GetView().GetViewTime().AsTime().String()
			}()
		}
		wg.Wait()
		for _, ts := range times {
			require.Equal(t, times[0], ts, "first view time kept")
		}
		got, err := client.GetCallback(t.Context(), connect.NewRequest(&callbacksv1.GetCallbackRequest{Id: id}))
		require.NoError(t, err)
		require.Len(t, got.Msg.GetCallback().GetViews(), 1)
		require.True(t, got.Msg.GetCallback().GetViewedByMe())
		require.Equal(t, "test", got.Msg.GetCallback().GetViews()[0].GetAdminName())

		// The stream may first carry the callback's own arrival (the watch
		// opened right after it); then exactly one view follows.
		for {
			msg, err := w.next()
			require.NoError(t, err)
			if v := msg.GetEvent().GetViewed(); v != nil {
				require.Equal(t, id, v.GetCallbackId(), "watchers hear of the view")
				break
			}
			require.Equal(t, id, msg.GetEvent().GetReceived().GetId())
		}

		other := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base)
		req := connect.NewRequest(&callbacksv1.ListCallbacksRequest{UnviewedOnly: true})
		req.Header().Set("Authorization", "Bearer "+jwtFor(t, "ADMIN"))
		list, err := other.ListCallbacks(t.Context(), req)
		require.NoError(t, err)
		require.Len(t, list.Msg.GetCallbacks(), 1, "another admin has not viewed it")
		require.False(t, list.Msg.GetCallbacks()[0].GetViewedByMe())
	})
}

// TestGetCallbackErrors checks the id errors of GetCallback and MarkViewed
// on Connect and REST.
func TestGetCallbackErrors(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	client := adminClient(srv)
	_, err := client.GetCallback(t.Context(), connect.NewRequest(&callbacksv1.GetCallbackRequest{Id: "nope"}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
	_, err = client.GetCallback(t.Context(), connect.NewRequest(&callbacksv1.GetCallbackRequest{Id: uuid.NewString()}))
	require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	_, err = client.MarkViewed(t.Context(), connect.NewRequest(&callbacksv1.MarkViewedRequest{Id: uuid.NewString()}))
	require.Equal(t, connect.CodeNotFound, connect.CodeOf(err))
	for path, want := range map[string]int{
		"/api/admin/llm-callbacks/nope":                400,
		"/api/admin/llm-callbacks/" + uuid.NewString(): 404,
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+srv.token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, want, res.StatusCode, path)
	}
	// The exact bytes come back, and the parsed form for viewers.
	body := payload(t, "workflow.completed", uuid.NewString(), map[string]any{"result": map[string]any{"text": "é <script>"}})
	res := delivery{body: body, headers: signed(body, "workflow.completed")}.send(t, srv.base)
	var ok struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &ok))
	got, err := client.GetCallback(t.Context(), connect.NewRequest(&callbacksv1.GetCallbackRequest{Id: ok.ID}))
	require.NoError(t, err)
	require.Equal(t, body, got.Msg.GetCallback().GetPayload())
	require.Equal(t, "é <script>", got.Msg.GetCallback().GetPayloadJson().GetStructValue().GetFields()["result"].GetStructValue().GetFields()["text"].GetStringValue())
}

// protojsonUnmarshal decodes the gateway's JSON (proto field names).
func protojsonUnmarshal(b []byte, m *callbacksv1.WatchCallbacksResponse) error {
	return protojson.Unmarshal(b, m)
}

// TestSendTestCallback sends a self-signed sample of each event through the
// webhook route; watchers see it and it is stored verified.
func TestSendTestCallback(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	client := adminClient(srv)
	w := openWatch(t, srv, "connect", "")
	defer w.close()
	firstCursor(t, w)
	var ids []string
	for _, event := range []string{"", "workflow.failed", "llm.step.completed"} {
		res, err := client.SendTestCallback(t.Context(), connect.NewRequest(&callbacksv1.SendTestCallbackRequest{EventType: event}))
		require.NoError(t, err, event)
		require.Equal(t, "main", res.Msg.GetKeyName())
		got, err := client.GetCallback(t.Context(), connect.NewRequest(&callbacksv1.GetCallbackRequest{Id: res.Msg.GetId()}))
		require.NoError(t, err)
		c := got.Msg.GetCallback()
		require.True(t, c.GetSignature().GetValid())
		require.Equal(t, res.Msg.GetExternalJobId(), c.GetExternalJobId())
		require.Equal(t, "callbackd test callback", c.GetUserAgent())
		ids = append(ids, res.Msg.GetId())
	}
	got, _ := collect(t, w, 3)
	require.Equal(t, ids, got)
	_, err := client.SendTestCallback(t.Context(), connect.NewRequest(&callbacksv1.SendTestCallbackRequest{EventType: "nope"}))
	require.Equal(t, connect.CodeInvalidArgument, connect.CodeOf(err))
}

// TestRefusedTestCallbackIsTheServersFault: the server signs its test
// callback itself, so when its own ingester refuses it (here: a body limit
// smaller than the sample) the admin gets an internal error that names the
// ingester's reason, not the 413 a sender would get.
func TestRefusedTestCallbackIsTheServersFault(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--max-body-bytes", "64")
	_, err := adminClient(srv).SendTestCallback(t.Context(), connect.NewRequest(&callbacksv1.SendTestCallbackRequest{}))
	require.Equal(t, connect.CodeInternal, connect.CodeOf(err), "%v", err)
	require.Equal(t, "test_callback_refused", connectReason(err))
	require.Contains(t, err.Error(), "body_too_large")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/admin/llm-callbacks/test", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var body struct{ Code, Reason, Message string }
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	require.Equal(t, http.StatusInternalServerError, res.StatusCode)
	require.Equal(t, "internal", body.Code)
	require.Equal(t, "test_callback_refused", body.Reason)
	require.Contains(t, body.Message, "body_too_large")

	// Both refusals are listed, with the admin's address (the REST one
	// crossed the gateway's in-memory hop, which is not the sender).
	list, err := adminClient(srv).ListRejectedDeliveries(t.Context(), connect.NewRequest(&callbacksv1.ListRejectedDeliveriesRequest{}))
	require.NoError(t, err)
	require.Len(t, list.Msg.GetRejected(), 2)
	for _, r := range list.Msg.GetRejected() {
		require.Equal(t, "body_too_large", r.GetReason())
		require.True(t, strings.HasPrefix(r.GetRemoteAddr(), "127.0.0.1"), "remote address %q", r.GetRemoteAddr())
	}
}

// TestWatchSurvivesDatabaseConnectionLoss kills every PostgreSQL connection
// of two replicas (their pools and B's LISTEN connection), as a database
// restart would, while a watcher on B is live: deliveries refused during the
// outage get 503 (the sender retries them), and the watcher receives every
// acknowledged callback once B has reconnected by itself.
func TestWatchSurvivesDatabaseConnectionLoss(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	a := startServer(t, url, "--watch-poll", "200ms")
	b := startServer(t, url, "--watch-poll", "200ms")
	w := openWatch(t, b, "grpc", "")
	defer w.close()
	firstCursor(t, w)
	before := ingestN(t, a, 3)
	got, _ := collect(t, w, 3)
	require.Equal(t, before, got)

	admin, err := sql.Open("postgres", storetest.ServerURL())
	require.NoError(t, err)
	defer admin.Close()
	var killed int
	require.NoError(t, admin.QueryRowContext(t.Context(),
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
		databaseName(t, url)).Scan(&killed))
	require.Positive(t, killed)

	var after []string
	for range 5 {
		body := payload(t, "workflow.completed", uuid.NewString(), nil)
		for attempt := 0; ; attempt++ {
			res := delivery{body: body, headers: signed(body, "workflow.completed")}.send(t, a.base)
			if res.status == http.StatusOK {
				var ok struct {
					ID string `json:"id"`
				}
				require.NoError(t, json.Unmarshal([]byte(res.body), &ok))
				after = append(after, ok.ID)
				break
			}
			require.Equal(t, http.StatusServiceUnavailable, res.status, "only a retryable refusal is allowed: %s", res.body)
			require.Less(t, attempt, 20, "the pool never recovered")
			time.Sleep(100 * time.Millisecond)
		}
	}
	got, _ = collect(t, w, 5)
	require.Equal(t, after, got, "every acknowledged callback reaches the watcher on the other replica")
}

// databaseName extracts the database of a PostgreSQL URL.
func databaseName(t *testing.T, url string) string {
	t.Helper()
	u, err := neturl.Parse(url)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}
