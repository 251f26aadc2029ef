package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// Credentials of test servers.
const (
	testSecret     = "test-secret"
	testAdminToken = "test-admin-token-0123456789"
)

// running is a callbackd started by a test on a random loopback port.
type running struct {
	base  string // http://127.0.0.1:PORT
	addr  string
	app   *app
	token string // an admin token
}

// startServer builds callbackd from flags exactly as main does and serves it
// on a random port until the test ends, logging warnings to the test log.
func startServer(t *testing.T, databaseURL string, extra ...string) running {
	t.Helper()
	return startServerArgs(t, databaseURL, append([]string{"--webhook-secret", "main=" + testSecret}, extra...)...)
}

// startServerArgs is startServer without a webhook secret of its own: args
// choose it (or, with none, the development secret).
func startServerArgs(t *testing.T, databaseURL string, extra ...string) running {
	t.Helper()
	args := append([]string{"--log-level", "warn"}, extra...)
	if databaseURL != "" {
		args = append(args, "--database-url", databaseURL)
	}
	return serveForTest(t, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})), args...)
}

// serveForTest completes and opens callbackd from the test admin token and
// args exactly as main does, logging to log, and runs it on a random
// loopback port until tb (a test or a fuzz function) ends. The garbage
// collector's heap floor is off unless args turn it on: it tunes the whole
// test process.
func serveForTest(tb testing.TB, log *slog.Logger, args ...string) running {
	tb.Helper()
	args = append([]string{"--data-dir", tb.TempDir(), "--admin-token", "test=" + testAdminToken, "--gc-heap-floor=0"}, args...)
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	a, err := openForTest(ctx, log, args...)
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ln) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done)
	})
	return running{base: "http://" + ln.Addr().String(), addr: ln.Addr().String(), app: a, token: testAdminToken}
}

// openForTest parses args, completes the configuration and opens the app,
// as ServeCmd.Run does; the caller runs or closes it.
func openForTest(ctx context.Context, log *slog.Logger, args ...string) (*app, error) {
	var cli CLI
	parser, err := newParser(&cli, io.Discard, io.Discard)
	if err != nil {
		return nil, err
	}
	if _, err := parser.Parse(args); err != nil {
		return nil, err
	}
	cfg, err := cli.ServeFlags.complete(log, &cli.DatabaseFlags)
	if err != nil {
		return nil, err
	}
	return cfg.open(ctx, log)
}

// testWriter sends server logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// databases runs f against SQLite and PostgreSQL.
func databases(t *testing.T, f func(t *testing.T, databaseURL string)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f(t, "")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f(t, storetest.PostgresURL(t))
	})
}

// h2cClient speaks HTTP/2 without TLS, as gRPC clients do.
func h2cClient() *http.Client {
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: protocols}}
}

// signedBody returns a workflow.completed payload for job, serialised as the
// LLM service does, and its signature.
func signedBody(t *testing.T, job string) ([]byte, string) {
	t.Helper()
	body, err := webhook.PythonJSON(map[string]any{
		"event":         "workflow.completed",
		"job_id":        job,
		"status":        "completed",
		"workflow_name": "summarise",
		"result":        map[string]any{"summary": "ok"},
		"cost_data":     map[string]any{"total_tokens": 12, "cost_usd": "0.01", "llm_calls": []any{}},
		"timestamp":     "2025-12-20T10:30:00.123456+00:00Z",
	})
	require.NoError(t, err)
	return body, webhook.SignLLM(testSecret, body)
}

func TestHelpDocumentsEveryFlag(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"--help"}, &out, &out))
	for _, want := range []string{"--addr", "CALLBACKD_ADDR", "--database-url", "DATABASE_URL", "--webhook-secret", "LLM_WEBHOOK_SECRET", "--data-dir", "CALLBACKD_DATA_DIR", "--shutdown-timeout", "migrate"} {
		require.Contains(t, out.String(), want)
	}
	if benchBuild {
		return
	}
	// The ingest benchmark's reference modes are not product flags.
	require.NotContains(t, out.String(), "ingest-mode")
	require.ErrorContains(t, run(t.Context(), []string{"--ingest-mode=discard"}, io.Discard, io.Discard), "unknown flag --ingest-mode")
}

// TestInvalidConfigurationReportsEveryProblem: every problem of the
// configuration is reported at once, and none is found after the database
// was touched. Each case alone (a bad certificate, a bad token file) would
// otherwise be found only after the schema was migrated.
func TestInvalidConfigurationReportsEveryProblem(t *testing.T) {
	t.Parallel()
	files := t.TempDir()
	badCert := filepath.Join(files, "cert.pem")
	require.NoError(t, os.WriteFile(badCert, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o600))
	badAlerts := filepath.Join(files, "alerts.yaml")
	require.NoError(t, os.WriteFile(badAlerts, []byte("channels: [{name: c, slack: {url: 'ftp://x'}}]\nrules: [{name: r, channels: [nope]}]\n"), 0o600))
	badTokens := filepath.Join(files, "tokens")
	require.NoError(t, os.WriteFile(badTokens, []byte("ops="+testAdminToken+"\nno-equals-sign\n"), 0o600))
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"everything at once", []string{"--addr", "nonsense", "--max-body-bytes", "0",
			"--standard-webhooks-secret", "whsec_!!!notbase64", "--trusted-proxy", "10.0.0.0", "--gc-heap-floor=-1",
			"--tls-cert", badCert, "--tls-key", badCert, "--admin-token-file", badTokens,
			"--jwt-issuer", "https://idp", "--jwt-admin-claim", "role", "--retention-interval", "0s", "--heartbeat", "0s",
			"--webhook-failure-rate=-1", "--watch-buffer", "0", "--alerts-config", badAlerts,
			"--replay-allow", "127.0.0.0/8,not-a-range", "--replay-timeout", "0s"},
			[]string{"--addr", "max-body-bytes", "whsec", "--trusted-proxy", "--gc-heap-floor", "--tls-cert", "tokens:2",
				"JWT issuer is set", "JWT admin claim", "--retention-interval", "--heartbeat", "--webhook-failure-rate", "--watch-buffer",
				`slack.url "ftp://x"`, `no channel is named "nope"`, `--replay-allow "not-a-range"`, "--replay-timeout"}},
		{"a bad alerts file alone", []string{"--alerts-config", badAlerts, "--public-url", "ftp://x"}, []string{"--alerts-config", `slack.url "ftp://x"`, `no channel is named "nope"`}},
		{"a missing alerts file", []string{"--alerts-config", filepath.Join(files, "absent.yaml")}, []string{"absent.yaml: no such file"}},
		{"a bad certificate alone", []string{"--tls-cert", badCert, "--tls-key", badCert}, []string{"--tls-cert"}},
		{"a certificate without its key", []string{"--tls-cert", badCert}, []string{"give both"}},
		{"a bad token file alone", []string{"--admin-token-file", badTokens}, []string{"tokens:2"}},
		{"a missing token file", []string{"--admin-token-file", filepath.Join(files, "absent")}, []string{"absent: no such file"}},
		{"a bad JWKS URL", []string{"--jwks-url", "ftp://idp/jwks"}, []string{"scheme must be http or https"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			databases(t, func(t *testing.T, databaseURL string) {
				dataDir := filepath.Join(t.TempDir(), "data")
				args := append([]string{"--data-dir", dataDir, "--database-url", databaseURL}, tc.args...)
				err := run(t.Context(), args, io.Discard, io.Discard)
				require.Error(t, err)
				for _, want := range tc.want {
					require.Contains(t, err.Error(), want)
				}
				// Nothing was opened: no data directory (no SQLite file, no
				// generated token), and on PostgreSQL no table at all (no
				// migration ran, not even goose's bookkeeping).
				require.NoDirExists(t, dataDir)
				if databaseURL != "" {
					db, err := sql.Open("postgres", databaseURL)
					require.NoError(t, err)
					defer db.Close()
					var tables int
					require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&tables))
					require.Zero(t, tables, "a migration ran before the configuration was complete")
				}
			})
		})
	}
}

func TestProtocols(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		ctx := t.Context()

		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })

		t.Run("grpc health", func(t *testing.T) {
			res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
			require.Equal(t, healthpb.HealthCheckResponse_SERVING, res.GetStatus())
			// An unknown service is NotFound, as the health protocol says.
			_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "no.such.Service"})
			require.Equal(t, codes.NotFound, status.Code(err), "%v", err)
			require.Equal(t, "not_found", grpcReason(err))
		})

		t.Run("grpc reflection", func(t *testing.T) {
			stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
			require.NoError(t, err)
			require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
				MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
			}))
			res, err := stream.Recv()
			require.NoError(t, err)
			var names []string
			for _, s := range res.GetListServicesResponse().GetService() {
				names = append(names, s.GetName())
			}
			require.ElementsMatch(t, []string{
				"callbacks.v1.CallbackIngestService",
				"callbacks.v1.CallbackAdminService",
				"grpc.health.v1.Health",
			}, names)
		})

		t.Run("http health and readiness", func(t *testing.T) {
			for path, want := range map[string]string{"/healthz": "ok\n", "/readyz": "ready\n"} {
				res, err := http.Get(srv.base + path)
				require.NoError(t, err)
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				require.Equal(t, http.StatusOK, res.StatusCode, path)
				require.Equal(t, want, string(b), path)
			}
		})

		t.Run("ingest over grpc", func(t *testing.T) {
			job := uuid.NewString()
			body, sig := signedBody(t, job)
			md := metadata.Pairs("x-webhook-signature", sig, "x-webhook-event", "workflow.completed")
			client := callbacksv1.NewCallbackIngestServiceClient(conn)
			res, err := client.IngestCallback(metadata.NewOutgoingContext(ctx, md), &callbacksv1.IngestCallbackRequest{Body: body})
			require.NoError(t, err)
			require.False(t, res.GetDuplicate())
			require.NoError(t, uuid.Validate(res.GetId()))

			// The same logical callback again is a duplicate of the same row.
			again, err := client.IngestCallback(metadata.NewOutgoingContext(ctx, md), &callbacksv1.IngestCallbackRequest{Body: body})
			require.NoError(t, err)
			require.True(t, again.GetDuplicate())
			require.Equal(t, res.GetId(), again.GetId())

			// A bad signature is Unauthenticated.
			bad := metadata.Pairs("x-webhook-signature", webhook.SignLLM("wrong", body))
			_, err = client.IngestCallback(metadata.NewOutgoingContext(ctx, bad), &callbacksv1.IngestCallbackRequest{Body: body})
			require.Equal(t, codes.Unauthenticated, status.Code(err))
		})

		for name, opts := range map[string][]connect.ClientOption{
			"connect": nil,
			"grpc":    {connect.WithGRPC()},
			"grpcweb": {connect.WithGRPCWeb()},
		} {
			t.Run("ingest over connect client "+name, func(t *testing.T) {
				httpClient := http.DefaultClient
				if name == "grpc" {
					httpClient = h2cClient()
				}
				client := callbacksv1connect.NewCallbackIngestServiceClient(httpClient, srv.base, opts...)
				body, sig := signedBody(t, uuid.NewString())
				req := connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: body})
				req.Header().Set("X-Webhook-Signature", sig)
				res, err := client.IngestCallback(ctx, req)
				require.NoError(t, err)
				require.False(t, res.Msg.GetDuplicate())

				_, err = client.IngestCallback(ctx, connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: body}))
				require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
			})
		}

		t.Run("ingest over rest", func(t *testing.T) {
			job := uuid.NewString()
			body, sig := signedBody(t, job)
			res := delivery{body: body, headers: map[string]string{"X-Webhook-Signature": sig, "X-Webhook-Event": "workflow.completed"}}.send(t, srv.base)
			require.Equal(t, http.StatusOK, res.status, res.body)
			var got struct {
				ID         string `json:"id"`
				CallbackID string `json:"callback_id"`
				Duplicate  *bool  `json:"duplicate"`
			}
			require.NoError(t, json.Unmarshal([]byte(res.body), &got))
			require.NoError(t, uuid.Validate(got.ID))
			require.Contains(t, got.CallbackID, job)
			require.NotNil(t, got.Duplicate, "duplicate must be present even when false")
			require.False(t, *got.Duplicate)
		})

		t.Run("literal routes win over {id}", func(t *testing.T) {
			// Each route answers in the shape of the RPC it must reach.
			for path, want := range map[string]string{
				"/api/admin/llm-callbacks/watch":               `{"result":{"heartbeat":{"cursor":"c1.`,
				"/api/admin/llm-callbacks/check":               `"next_cursor":"c1.`,
				"/api/admin/llm-callbacks/stats":               `"total":{`,
				"/api/admin/llm-callbacks/" + uuid.NewString(): `"reason":"not_found"`,
				"/api/admin/llm-callbacks":                     `"callbacks":[`,
			} {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+path, nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer "+srv.token)
				res, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				line, _ := bufio.NewReader(res.Body).ReadString('\n')
				res.Body.Close()
				require.Contains(t, line, want, path)
			}
		})
	})
}

// response is a REST answer.
type response struct {
	status int
	body   string
	header http.Header
}

func TestGracefulShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	// Serve, open a health Watch stream (long-lived), then stop: Serve must
	// return well before the shutdown timeout because streams are ended.
	ctx, cancel := context.WithCancel(t.Context())
	a, err := openForTest(ctx, slog.New(slog.DiscardHandler), "--data-dir", t.TempDir(), "--shutdown-timeout", "30s", "--gc-heap-floor=0", "--admin-token", "test="+testAdminToken)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- a.run(ctx, ln) }()

	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	// A reflection session is a long-lived bidirectional stream (grpcurl keeps
	// one open).
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	require.NoError(t, err)
	require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}))
	_, err = stream.Recv()
	require.NoError(t, err)
	// A watch stream: it must end with Unavailable, the code that tells
	// clients to resume (elsewhere) from their cursor.
	watchCtx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+testAdminToken)
	watchStream, err := callbacksv1.NewCallbackAdminServiceClient(conn).WatchCallbacks(watchCtx, &callbacksv1.WatchCallbacksRequest{})
	require.NoError(t, err)
	first, err := watchStream.Recv()
	require.NoError(t, err)
	require.NotNil(t, first.GetHeartbeat())
	// The same watch over REST (NDJSON through the gateway).
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/api/admin/llm-callbacks/watch", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	restWatch, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer restWatch.Body.Close()
	require.Equal(t, "application/x-ndjson", restWatch.Header.Get("Content-Type"))
	lines := bufio.NewScanner(restWatch.Body)
	require.True(t, lines.Scan(), "the REST watch's first line")
	require.Contains(t, lines.Text(), "heartbeat")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not return: an open stream held the server past shutdown")
	}
	// The streams ended with the server, with a status rather than a hang.
	_, err = stream.Recv()
	require.Error(t, err)
	_, err = watchStream.Recv()
	require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
	require.Contains(t, err.Error(), "resume from the last cursor")
	// The REST watch's last line is the same Unavailable, with the cursor.
	var last string
	for lines.Scan() {
		last = lines.Text()
	}
	// It is the REST error body, under "error".
	var end struct {
		Error struct {
			Code    string `json:"code"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(last), &end), "last line %q", last)
	require.Equal(t, "unavailable", end.Error.Code, "last line %q", last)
	require.Equal(t, "unavailable", end.Error.Reason, "last line %q", last)
	require.Contains(t, end.Error.Message, "cursor", "last line %q", last)
}

// metricFamilies scrapes the server's /metrics.
func metricFamilies(t *testing.T, srv running) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(srv.base + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(res.Body)
	require.NoError(t, err)
	return families
}
