package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
)

// requestLines returns the request log lines of a JSON log by request id.
func requestLines(t *testing.T, log string) map[string]map[string]any {
	t.Helper()
	lines := map[string]map[string]any{}
	for line := range strings.Lines(log) {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &m), line)
		if m["msg"] == "request" {
			lines[m["request_id"].(string)] = m
		}
	}
	return lines
}

// TestRequestLogNamesEveryRPCCode: the request line of every RPC names its
// protocol and the code the client received, on gRPC (200 with the code in
// a trailer), gRPC-Web (the code in a header, or in the body's trailers
// frame after a message) and Connect (unary: the code's HTTP status and a
// JSON body; streams: the end-of-stream frame), for successes, handler
// errors, refusals before the handler, and errors that end a stream.
func TestRequestLogNamesEveryRPCCode(t *testing.T) {
	t.Parallel()
	log := &syncBuffer{}
	srv := serveForTest(t, slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})),
		"--webhook-secret", "main="+testSecret)

	type call struct {
		protocol, id, want string // want: the code the client saw
		status             int
	}
	var calls []call
	for _, p := range []struct {
		name, logged string
		client       *http.Client
		opts         []connect.ClientOption
	}{
		{"grpc", "grpc", h2cClient(), []connect.ClientOption{connect.WithGRPC()}},
		{"grpcweb", "grpc_web", http.DefaultClient, []connect.ClientOption{connect.WithGRPCWeb()}},
		{"connect", "connect", http.DefaultClient, nil},
	} {
		ingest := callbacksv1connect.NewCallbackIngestServiceClient(p.client, srv.base, p.opts...)
		admin := callbacksv1connect.NewCallbackAdminServiceClient(p.client, srv.base, p.opts...)
		record := func(what string, err error, status int) {
			id := p.name + "-" + what
			want := "ok"
			if err != nil {
				want = connect.CodeOf(err).String()
			}
			calls = append(calls, call{protocol: p.logged, id: id, want: want, status: status})
		}
		with := func(h http.Header, what string, token bool) {
			h.Set("X-Request-Id", p.name+"-"+what)
			if token {
				h.Set("Authorization", "Bearer "+srv.token)
			}
		}

		// A unary success, and a handler's error.
		body, sig := signedBody(t, uuid.NewString())
		req := connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: body})
		with(req.Header(), "stored", false)
		req.Header().Set("X-Webhook-Signature", sig)
		_, err := ingest.IngestCallback(t.Context(), req)
		require.NoError(t, err)
		record("stored", err, http.StatusOK)

		req = connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: body})
		with(req.Header(), "unsigned", false)
		_, err = ingest.IngestCallback(t.Context(), req)
		require.Error(t, err)
		record("unsigned", err, map[string]int{"connect": http.StatusUnauthorized}[p.name])

		// Refused before the handler: no credential.
		info := connect.NewRequest(&callbacksv1.GetServerInfoRequest{})
		with(info.Header(), "no-token", false)
		_, err = admin.GetServerInfo(t.Context(), info)
		require.Error(t, err)
		record("no-token", err, map[string]int{"connect": http.StatusUnauthorized}[p.name])

		// A stream that ends with an error, and one refused at its start.
		watch := connect.NewRequest(&callbacksv1.WatchCallbacksRequest{Cursor: "not-a-cursor"})
		with(watch.Header(), "bad-cursor", true)
		stream, err := admin.WatchCallbacks(t.Context(), watch)
		require.NoError(t, err)
		for stream.Receive() {
		}
		require.Error(t, stream.Err())
		record("bad-cursor", stream.Err(), http.StatusOK)
		require.NoError(t, stream.Close())

		watch = connect.NewRequest(&callbacksv1.WatchCallbacksRequest{})
		with(watch.Header(), "watch-no-token", false)
		stream, err = admin.WatchCallbacks(t.Context(), watch)
		require.NoError(t, err)
		for stream.Receive() {
		}
		require.Error(t, stream.Err())
		record("watch-no-token", stream.Err(), http.StatusOK)
		require.NoError(t, stream.Close())
	}

	var lines map[string]map[string]any
	require.Eventually(t, func() bool { // a line is written when its handler returns
		lines = requestLines(t, log.String())
		for _, c := range calls {
			if lines[c.id] == nil {
				return false
			}
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	codes := map[string]bool{}
	for _, c := range calls {
		line := lines[c.id]
		require.Equal(t, c.protocol, line["protocol"], c.id)
		require.Equal(t, c.want, line["code"], "%s: %v", c.id, line)
		if c.status != 0 {
			require.EqualValues(t, c.status, line["status"], c.id)
		} else {
			require.EqualValues(t, http.StatusOK, line["status"], "%s: gRPC answers 200 whatever its code", c.id)
		}
		codes[c.want] = true
	}
	// The cases cover successes and more than one kind of failure.
	require.True(t, codes["ok"] && codes["unauthenticated"] && codes["invalid_argument"], "%v", codes)

	// What is not an RPC has no code.
	res, err := http.Get(srv.base + "/healthz?x")
	require.NoError(t, err)
	res.Body.Close()
	id := res.Header.Get("X-Request-Id")
	require.Eventually(t, func() bool { return requestLines(t, log.String())[id] != nil }, 10*time.Second, 10*time.Millisecond)
	line := requestLines(t, log.String())[id]
	require.NotContains(t, line, "code")
	require.NotContains(t, line, "protocol")
}

// TestSIGTERMIsLogged: main's SIGTERM context makes callbackd log that it
// is shutting down and why (the signal), then that it has stopped. The
// test process receives a real SIGTERM: while the context is registered
// for it, it cancels the context instead of ending the process.
func TestSIGTERMIsLogged(t *testing.T) {
	// Not parallel: the signal goes to the whole test process.
	ctx, stop := signal.NotifyContext(t.Context(), syscall.SIGTERM)
	defer stop()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--admin-token", "test=" + testAdminToken,
			"--webhook-secret", "main=" + testSecret, "--log-format", "json"}, &syncBuffer{}, stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), `"msg":"listening"`) }, 30*time.Second, 10*time.Millisecond, "%s", stderr)
	require.NotContains(t, stderr.String(), "shutting down")

	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("callbackd did not stop on SIGTERM:\n%s", stderr)
	}
	require.ErrorIs(t, ctx.Err(), context.Canceled) // the signal, not the test, ended it
	out := stderr.String()
	shutting := regexp.MustCompile(`"msg":"shutting down","cause":"terminated signal received"`).FindStringIndex(out)
	require.NotNil(t, shutting, out)
	stopped := strings.Index(out, `"msg":"stopped"`)
	require.Greater(t, stopped, shutting[0], fmt.Sprintf("stopped is logged last:\n%s", out))
	require.NotContains(t, out[stopped:], `"level":"ERROR"`)
}
