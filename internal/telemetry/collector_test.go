package telemetry_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/clients/go/callbackdtest"
	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// collector is a running OpenTelemetry Collector that writes every span it
// receives over OTLP to a file, as OTLP JSON lines.
type collector struct {
	endpoint string // host:port of its OTLP gRPC receiver
	spans    string // the file exporter's output
}

// startCollector runs the collector on a free loopback port until the test
// ends. Its own telemetry is off, so that it opens no other port.
func startCollector(t *testing.T) collector {
	t.Helper()
	dir := t.TempDir()
	addr, err := callbackdtest.FreeAddr()
	require.NoError(t, err)
	c := collector{endpoint: addr, spans: filepath.Join(dir, "spans.jsonl")}
	config := fmt.Sprintf(`receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
exporters:
  file:
    path: %s
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file]
`, addr, c.spans)
	configPath := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(configPath, []byte(config), 0o600))
	var logs bytes.Buffer
	cmd := exec.Command(collectorBin, "--config=file:"+configPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("collector log:\n%s", logs.String())
		}
	})
	require.Eventually(t, func() bool {
		select {
		case <-exited:
			return true // reported below
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}, 30*time.Second, 50*time.Millisecond, "the collector's OTLP receiver never listened")
	select {
	case <-exited:
		t.Fatal("the collector exited")
	default:
	}
	return c
}

// env is the OTEL_* environment of a callbackd that exports every span to
// c, soon (the batch processor's delay is 5 s by default).
func (c collector) env(service string) []string {
	return []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + c.endpoint,
		"OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_TRACES_SAMPLER=always_on",
		"OTEL_SERVICE_NAME=" + service,
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}
}

// span is one span as the file exporter writes it (OTLP JSON: ids in hex).
type span struct {
	Service      string
	TraceID      string `json:"traceId"`
	SpanID       string `json:"spanId"`
	ParentSpanID string `json:"parentSpanId"`
	Name         string `json:"name"`
	Links        []struct {
		TraceID string `json:"traceId"`
		SpanID  string `json:"spanId"`
	} `json:"links"`
}

// read returns every span the collector wrote so far. The exporter may be
// writing a line as it reads: a last line without its newline is left for
// the next read.
func (c collector) read() ([]span, error) {
	data, err := os.ReadFile(c.spans)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	var spans []span
	for line := range bytes.Lines(data) {
		var batch struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []struct {
						Key   string `json:"key"`
						Value struct {
							StringValue string `json:"stringValue"`
						} `json:"value"`
					} `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []span `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(line, &batch); err != nil {
			return nil, fmt.Errorf("the file exporter writes OTLP JSON lines: %w", err)
		}
		for _, rs := range batch.ResourceSpans {
			service := ""
			for _, a := range rs.Resource.Attributes {
				if a.Key == "service.name" {
					service = a.Value.StringValue
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					s.Service = service
					spans = append(spans, s)
				}
			}
		}
	}
	return spans, nil
}

// waitFor waits until the collector has written a span that match accepts,
// and returns it.
func (c collector) waitFor(t *testing.T, what string, match func(span) bool) span {
	t.Helper()
	var (
		found   span
		readErr error
	)
	require.Eventually(t, func() bool {
		var spans []span
		if spans, readErr = c.read(); readErr != nil {
			return true
		}
		for _, s := range spans {
			if match(s) {
				found = s
				return true
			}
		}
		return false
	}, 30*time.Second, 100*time.Millisecond, "the collector never received %s", what)
	require.NoError(t, readErr)
	return found
}

// linksTo reports whether s links to the span (traceID, spanID).
func linksTo(s span, traceID, spanID string) bool {
	for _, l := range s.Links {
		if l.TraceID == traceID && (spanID == "" || l.SpanID == spanID) {
			return true
		}
	}
	return false
}

// startTraced runs callbackd exporting its spans to c as service.
func startTraced(t *testing.T, c collector, databaseURL, service string, args ...string) *callbackdtest.Server {
	t.Helper()
	srv := callbackdtest.ForTest(t, callbackdtest.Options{
		Binary: serverBin, Name: service, DatabaseURL: databaseURL, Env: c.env(service), Args: args,
	})
	require.NoError(t, srv.Start(t.Context()))
	t.Cleanup(func() { _ = srv.Stop() })
	return srv
}

// watch opens WatchCallbacks over Connect and reads its first heartbeat;
// the stream's events then arrive on the channel, which is closed when the
// stream ends.
func watch(t *testing.T, srv *callbackdtest.Server) <-chan *callbacksv1.CallbackEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req := connect.NewRequest(&callbacksv1.WatchCallbacksRequest{})
	req.Header().Set("Authorization", "Bearer "+callbackdtest.Token)
	stream, err := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.URL).WatchCallbacks(ctx, req)
	require.NoError(t, err)
	require.True(t, stream.Receive(), "first heartbeat: %v", stream.Err())
	events := make(chan *callbacksv1.CallbackEvent, 64)
	go func() {
		defer close(events)
		for stream.Receive() {
			if e := stream.Msg().GetEvent(); e != nil {
				select {
				case events <- e:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return events
}

// eventOf waits for the watch event of the callback id.
func eventOf(t *testing.T, events <-chan *callbacksv1.CallbackEvent, id string) *callbacksv1.CallbackEvent {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case e, ok := <-events:
			require.True(t, ok, "the watch ended")
			if e.GetReceived().GetId() == id {
				return e
			}
		case <-deadline:
			t.Fatalf("no watch event for callback %s", id)
		}
	}
}

// watchREST opens the REST watch (NDJSON) and returns a function that
// reads the next event's traceparent.
func watchREST(t *testing.T, srv *callbackdtest.Server) (nextTraceparent func() string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/api/admin/llm-callbacks/watch", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+callbackdtest.Token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { res.Body.Close() })
	require.Equal(t, http.StatusOK, res.StatusCode)
	lines := bufio.NewReader(res.Body)
	return func() string {
		for {
			line, err := lines.ReadBytes('\n')
			require.NoError(t, err)
			var msg struct {
				Result struct {
					Event *struct {
						Traceparent string `json:"traceparent"`
					} `json:"event"`
				} `json:"result"`
			}
			require.NoError(t, json.Unmarshal(line, &msg), "%s", line)
			if msg.Result.Event != nil {
				return msg.Result.Event.Traceparent
			}
		}
	}
}

// deliver posts a signed delivery with a traceparent header and returns
// the callback's id.
func deliver(t *testing.T, srv *callbackdtest.Server, traceparent string) string {
	t.Helper()
	body, err := webhook.PythonJSON(map[string]any{
		"event": "workflow.completed", "job_id": uuid.NewString(), "status": "completed",
		"workflow_name": "traced", "result": map[string]any{}, "timestamp": "2025-12-20T10:30:00.123456+00:00Z",
	})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/api/webhooks/llm-callback", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Event", "workflow.completed")
	req.Header.Set(webhook.HeaderLLMSignature, webhook.SignLLM(callbackdtest.Secret, body))
	req.Header.Set("traceparent", traceparent)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", answer)
	var ok struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal(answer, &ok))
	return ok.ID
}

// senderSpan makes a sender's trace id and span id, as its traceparent
// carries them.
func senderSpan() (traceID, spanID, traceparent string) {
	id := strings.ReplaceAll(uuid.NewString(), "-", "")
	traceID, spanID = id, id[:16]
	return traceID, spanID, "00-" + traceID + "-" + spanID + "-01"
}

// TestTracesReachACollector is the end-to-end proof of tracing: callbackd,
// configured only by OTEL_* variables, exports to a real OpenTelemetry
// Collector over OTLP, and a delivery with a known traceparent produces,
// in the collector's output, the webhook's HTTP span as a child of the
// sender's span, the ingest span and its verification span in the same
// trace, and the commit's batch span linked to the ingest span (and back).
// Both watch protocols' events carry the ingest span as traceparent; the
// ingest latency histogram has the trace id as exemplar (OpenMetrics); a
// body over the limit is still refused with 413 through the
// instrumentation. On PostgreSQL, a second replica's watcher gets the
// traceparent through the NOTIFY, whose sending and receiving are spans
// linked to the delivery.
func TestTracesReachACollector(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		c := startCollector(t)
		srv := startTraced(t, c, "", "callbackd-sqlite")
		events := watch(t, srv)
		nextREST := watchREST(t, srv)
		traceID, senderID, traceparent := senderSpan()
		id := deliver(t, srv, traceparent)

		ingest := provesIngest(t, c, traceID, senderID)
		want := "00-" + traceID + "-" + ingest.SpanID + "-01"
		require.Equal(t, want, eventOf(t, events, id).GetTraceparent(), "the Connect watch event carries the delivery's span")
		require.Equal(t, want, nextREST(), "the REST watch event carries it too")
		check := connect.NewRequest(&callbacksv1.CheckCallbacksRequest{After: "c1.0"})
		check.Header().Set("Authorization", "Bearer "+callbackdtest.Token)
		polled, err := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.URL).CheckCallbacks(t.Context(), check)
		require.NoError(t, err)
		require.Len(t, polled.Msg.GetEvents(), 1)
		require.Equal(t, want, polled.Msg.GetEvents()[0].GetTraceparent(), "and so does CheckCallbacks's")

		metrics := openMetrics(t, srv)
		require.Contains(t, metrics, `trace_id="`+traceID+`"`, "the ingest latency histogram has the trace id as exemplar")

		res, err := http.Post(srv.URL+"/api/webhooks/llm-callback", "application/json", bytes.NewReader(make([]byte, 2<<20)))
		require.NoError(t, err)
		res.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := storetest.PostgresURL(t)
		c := startCollector(t)
		a := startTraced(t, c, url, "callbackd-a")
		// b reads the feed only when a's NOTIFY wakes it: a poll could read
		// the change before the notification with its trace context came.
		b := startTraced(t, c, url, "callbackd-b", "--watch-poll=10m")
		events := watch(t, b)
		// b answers /readyz before its LISTEN may be up, and a NOTIFY sent
		// before that is lost: deliver to a until b's watcher hears of it.
		deadline := time.Now().Add(time.Minute)
		for heard := false; !heard; {
			require.True(t, time.Now().Before(deadline), "b's watcher never heard of a's deliveries")
			_, _, warmup := senderSpan()
			deliver(t, a, warmup)
			select {
			case _, ok := <-events:
				require.True(t, ok, "the watch ended")
				heard = true
			case <-time.After(2 * time.Second):
			}
		}
		traceID, senderID, traceparent := senderSpan()
		id := deliver(t, a, traceparent)

		ingest := provesIngest(t, c, traceID, senderID)
		require.Equal(t, "callbackd-a", ingest.Service)
		require.Equal(t, "00-"+traceID+"-"+ingest.SpanID+"-01", eventOf(t, events, id).GetTraceparent(),
			"the other replica's watcher gets the delivery's span through the NOTIFY")
		c.waitFor(t, "a's NOTIFY span, linked to the delivery", func(s span) bool {
			return s.Name == "callbackd.feed.notify" && s.Service == "callbackd-a" && linksTo(s, traceID, ingest.SpanID)
		})
		c.waitFor(t, "b's span of the notification heard, linked to the delivery", func(s span) bool {
			return s.Name == "callbackd.feed.heard" && s.Service == "callbackd-b" && linksTo(s, traceID, ingest.SpanID)
		})
	})
}

// provesIngest waits for the spans of one traced delivery and checks how
// they hang together; it returns the ingest span.
func provesIngest(t *testing.T, c collector, traceID, senderID string) span {
	t.Helper()
	httpSpan := c.waitFor(t, "the webhook's HTTP span", func(s span) bool {
		return s.TraceID == traceID && s.Name == "POST /api/webhooks/llm-callback"
	})
	require.Equal(t, senderID, httpSpan.ParentSpanID, "the sender's trace continues")
	ingest := c.waitFor(t, "the ingest span", func(s span) bool { return s.TraceID == traceID && s.Name == "callbackd.ingest" })
	require.Equal(t, httpSpan.SpanID, ingest.ParentSpanID)
	verify := c.waitFor(t, "the verification span", func(s span) bool {
		return s.TraceID == traceID && s.Name == "callbackd.webhook.verify"
	})
	require.Equal(t, ingest.SpanID, verify.ParentSpanID)
	commit := c.waitFor(t, "the commit's batch span, linked to the delivery", func(s span) bool {
		return s.Name == "callbackd.commit" && linksTo(s, traceID, ingest.SpanID)
	})
	require.Empty(t, commit.ParentSpanID, "a batch is a root")
	require.True(t, linksTo(ingest, commit.TraceID, commit.SpanID), "the delivery links back to its batch")
	return ingest
}

// openMetrics scrapes /metrics as Prometheus does, in the OpenMetrics
// format, the one with exemplars.
func openMetrics(t *testing.T, srv *callbackdtest.Server) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Contains(t, res.Header.Get("Content-Type"), "application/openmetrics-text")
	return string(body)
}
