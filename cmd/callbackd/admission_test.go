package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/store/storetest"
)

// filler is an endless request body: the oversized requests below are
// generated as they are sent, never held by the test.
type filler struct{}

func (filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

// oversizedBody is size bytes of filler, behind a message envelope that
// announces them when framed (gRPC, gRPC-Web, Connect streaming).
func oversizedBody(size int64, framed bool) io.Reader {
	body := io.LimitReader(filler{}, size)
	if !framed {
		return body
	}
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(size))
	return io.MultiReader(bytes.NewReader(prefix[:]), body)
}

// oversizedCase is one unauthenticated oversized request and its documented
// answer.
type oversizedCase struct {
	name        string
	path        string
	contentType string
	h2c         bool // gRPC and bidirectional streams need HTTP/2
	announce    bool // send a Content-Length (else the body is streamed)
	framed      bool
	// want is the gRPC status (gRPC, gRPC-Web, Connect streaming), or the
	// Connect/REST HTTP status and the code or reason its JSON body names.
	grpcStatus string
	httpStatus int
	bodyHas    string
}

// oversizedCases cover every protocol of every service: the admin service
// answers 401 before reading anything; health, reflection and ingest refuse
// the size, by Content-Length or when reading reaches the route's limit.
func oversizedCases() []oversizedCase {
	const (
		admin      = "/callbacks.v1.CallbackAdminService/ListCallbacks"
		health     = "/grpc.health.v1.Health/Check"
		reflectV1  = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
		reflectV1a = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
		ingestRPC  = "/callbacks.v1.CallbackIngestService/IngestCallback"
	)
	grpcCase := func(name, path, want string) oversizedCase {
		return oversizedCase{name: name + "/grpc", path: path, contentType: "application/grpc", h2c: true, framed: true, grpcStatus: want}
	}
	webCase := func(name, path, want string) oversizedCase {
		return oversizedCase{name: name + "/grpc-web", path: path, contentType: "application/grpc-web+proto", framed: true, grpcStatus: want}
	}
	connectCase := func(name, path string, announce bool, httpStatus int, bodyHas string) oversizedCase {
		suffix := "/connect-streamed"
		if announce {
			suffix = "/connect"
		}
		return oversizedCase{name: name + suffix, path: path, contentType: "application/proto", announce: announce, httpStatus: httpStatus, bodyHas: bodyHas}
	}
	restCase := func(name, path string, announce bool, httpStatus int, bodyHas string) oversizedCase {
		suffix := "/rest-streamed"
		if announce {
			suffix = "/rest"
		}
		return oversizedCase{name: name + suffix, path: path, contentType: "application/json", announce: announce, httpStatus: httpStatus, bodyHas: bodyHas}
	}
	const unauthenticated, exhausted = "16", "8"
	return []oversizedCase{
		grpcCase("admin", admin, unauthenticated),
		webCase("admin", admin, unauthenticated),
		connectCase("admin", admin, true, 401, `"code":"unauthenticated"`),
		connectCase("admin", admin, false, 401, `"code":"unauthenticated"`),
		restCase("admin", "/api/admin/llm-callbacks/test", true, 401, `"reason":"unauthenticated"`),
		restCase("admin", "/api/admin/llm-callbacks/test", false, 401, `"reason":"unauthenticated"`),
		restCase("admin view", "/api/admin/llm-callbacks/00000000-0000-0000-0000-000000000000/view", false, 401, `"reason":"unauthenticated"`),

		grpcCase("health", health, exhausted),
		webCase("health", health, exhausted),
		connectCase("health", health, true, 429, `"reason":"request_too_large"`),
		connectCase("health", health, false, 429, `"code":"resource_exhausted"`),

		grpcCase("reflection v1", reflectV1, exhausted),
		grpcCase("reflection v1alpha", reflectV1a, exhausted),
		{name: "reflection v1/connect-stream", path: reflectV1, contentType: "application/connect+proto", h2c: true, framed: true, bodyHas: `"code":"resource_exhausted"`, httpStatus: 200},

		grpcCase("ingest", ingestRPC, exhausted),
		webCase("ingest", ingestRPC, exhausted),
		connectCase("ingest", ingestRPC, true, 429, `"reason":"request_too_large"`),
		connectCase("ingest", ingestRPC, false, 429, `"code":"resource_exhausted"`),
		webhookCase(false),
		webhookCase(true),
	}
}

// webhookCase is an oversized delivery to the REST webhook route.
func webhookCase(announce bool) oversizedCase {
	c := oversizedCase{name: "ingest/rest-streamed", path: "/api/webhooks/llm-callback", contentType: "application/json",
		announce: announce, httpStatus: 413, bodyHas: `"reason":"body_too_large"`}
	if announce {
		c.name = "ingest/rest"
	}
	return c
}

// send posts c's oversized body, of size bytes, and returns the answer.
func (c oversizedCase) send(t *testing.T, base string, size int64) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+c.path, oversizedBody(size, c.framed))
	require.NoError(t, err)
	req.Header.Set("Content-Type", c.contentType)
	if c.contentType == "application/grpc" {
		req.Header.Set("TE", "trailers")
	}
	req.ContentLength = -1
	if c.announce {
		req.ContentLength = size
	}
	client := &http.Client{Transport: &http.Transport{}}
	if c.h2c {
		client = h2cClient()
	}
	defer client.CloseIdleConnections()
	res, err := client.Do(req)
	require.NoError(t, err, c.name)
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res, body
}

// grpcStatusOf finds the gRPC status of an answer: in its headers
// (trailers-only), its trailers, or a gRPC-Web trailer frame.
func grpcStatusOf(res *http.Response, body []byte) string {
	if s := res.Header.Get("Grpc-Status"); s != "" {
		return s
	}
	if s := res.Trailer.Get("Grpc-Status"); s != "" {
		return s
	}
	for _, line := range strings.Split(string(body), "\r\n") {
		if i := strings.Index(strings.ToLower(line), "grpc-status:"); i >= 0 {
			return strings.TrimSpace(line[i+len("grpc-status:"):])
		}
	}
	return ""
}

// TestOversizedUnauthenticatedRequestsStayBounded sends a 256 MiB request,
// without credentials, to every service on every protocol, beside
// legitimate deliveries, and requires the documented answer and a server
// that did not read or hold the request: its peak RSS grows by less than
// 64 MiB. It measures the process, so it does not run in parallel.
func TestOversizedUnauthenticatedRequestsStayBounded(t *testing.T) {
	const size = 256 << 20
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			url := ""
			if db == "postgres" {
				url = storetest.PostgresURL(t)
			}
			srv := startServer(t, url)
			besideLegitimateTraffic(t, srv, func() {
				for _, c := range oversizedCases() {
					resetPeakRSS(t)
					before := peakRSS(t)
					res, body := c.send(t, srv.base, size)
					growth := peakRSS(t) - before
					require.Less(t, growth, int64(64<<20), "%s: the server read or held the request", c.name)
					t.Logf("%s: HTTP %d, peak RSS +%d MiB", c.name, res.StatusCode, growth>>20)
					if c.grpcStatus != "" {
						require.Equal(t, c.grpcStatus, grpcStatusOf(res, body), "%s: %d %q", c.name, res.StatusCode, body)
					} else {
						require.Equal(t, c.httpStatus, res.StatusCode, "%s: %q", c.name, body)
						require.Contains(t, string(body), c.bodyHas, c.name)
					}
				}
			})
		})
	}
}

// TestAdminRequestSizeLimit: an admin's own oversized request is refused
// with request_too_large on every protocol, and a normal one still works.
func TestAdminRequestSizeLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	big := strings.Repeat("x", 100<<10)
	ctx := t.Context()

	for name, opts := range map[string][]connect.ClientOption{
		"connect": nil,
		"grpcweb": {connect.WithGRPCWeb()},
	} {
		client := adminClient(srv, opts...)
		_, err := client.ListCallbacks(ctx, connect.NewRequest(&callbacksv1.ListCallbacksRequest{WorkflowName: big}))
		require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err), "%s: %v", name, err)
		_, err = client.ListCallbacks(ctx, connect.NewRequest(&callbacksv1.ListCallbacksRequest{WorkflowName: "summarise"}))
		require.NoError(t, err, name)
	}

	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+srv.token)
	_, err = callbacksv1.NewCallbackAdminServiceClient(conn).ListCallbacks(authed, &callbacksv1.ListCallbacksRequest{WorkflowName: big})
	require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)

	for _, announce := range []bool{true, false} {
		body := `{"event_type":"` + big + `"}`
		var r io.Reader = strings.NewReader(body)
		if !announce {
			r = io.MultiReader(r) // hides the length: sent chunked
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.base+"/api/admin/llm-callbacks/test", r)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "%s", b)
		require.Contains(t, string(b), `"reason":"request_too_large"`)
	}
}

// metricValues reads the server's metrics: family name → label values
// joined with "," → value.
func metricValues(t *testing.T, srv running) map[string]map[string]float64 {
	t.Helper()
	families := metricFamilies(t, srv)
	out := map[string]map[string]float64{}
	for name, f := range families {
		out[name] = map[string]float64{}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			out[name][strings.Join(labels, ",")] = v
		}
	}
	return out
}

// grpcReason returns the ErrorInfo reason of a gRPC error.
func grpcReason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == "callbackd" {
			return info.GetReason()
		}
	}
	return ""
}

// connectReason returns the ErrorInfo reason of a Connect error.
func connectReason(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if v, derr := d.Value(); derr == nil {
			if info, ok := v.(*errdetails.ErrorInfo); ok {
				return info.GetReason()
			}
		}
	}
	return ""
}

// openReflection opens a reflection stream on conn and makes one request;
// it returns the stream and the error of that first exchange.
func openReflection(ctx context.Context, conn *grpc.ClientConn) (reflectionpb.ServerReflection_ServerReflectionInfoClient, error) {
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		return nil, err
	}
	_, err = stream.Recv()
	return stream, err
}

// TestStreamCaps opens more streams than each cap allows, beside legitimate
// deliveries: the streams past a cap are refused with too_many_streams on
// every protocol and counted, and a released slot can be taken again.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	const other = "other-admin-token-0123456789"
	srv := startServer(t, "", "--max-streams", "5", "--max-streams-per-admin", "2",
		"--max-unauthenticated-streams", "2", "--admin-token", "other="+other)
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ctx := t.Context()

	watch := func(token string) (func(), error) {
		wctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token))
		stream, err := callbacksv1.NewCallbackAdminServiceClient(conn).WatchCallbacks(wctx, &callbacksv1.WatchCallbacksRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		if err != nil {
			cancel()
			return nil, err
		}
		return cancel, nil
	}
	besideLegitimateTraffic(t, srv, func() {
		// Unauthenticated: two reflection streams, the third refused.
		for range 2 {
			_, err := openReflection(ctx, conn)
			require.NoError(t, err)
		}
		_, err := openReflection(ctx, conn)
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
		require.Equal(t, "too_many_streams", grpcReason(err))

		// One admin: two watches, the third refused (gRPC and Connect).
		var closers []func()
		for range 2 {
			stop, err := watch(srv.token)
			require.NoError(t, err)
			closers = append(closers, stop)
		}
		_, err = watch(srv.token)
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
		require.Equal(t, "too_many_streams", grpcReason(err))
		cw := openConnectWatch(t, srv, srv.token)
		require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(cw), "%v", cw)
		require.Equal(t, "too_many_streams", connectReason(cw))

		// Another admin: one watch fills the total, the next is refused,
		// over REST with 429.
		stop, err := watch(other)
		require.NoError(t, err)
		_, err = watch(other)
		require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
		code, body := restWatch(t, srv, other)
		require.Equal(t, http.StatusTooManyRequests, code, body)
		require.Contains(t, body, `"reason":"too_many_streams"`)

		m := metricValues(t, srv)
		require.Equal(t, map[string]float64{"unauthenticated": 1, "per_admin": 2, "total": 2}, m["callbackd_streams_refused_total"])
		require.Equal(t, map[string]float64{"unauthenticated": 2, "admin": 3}, m["callbackd_streams_open"])

		// A closed watch frees its slot.
		stop()
		require.Eventually(t, func() bool {
			stop, err = watch(other)
			return err == nil
		}, 5*time.Second, 50*time.Millisecond)
		stop()
		for _, c := range closers {
			c()
		}
	})
}

// openConnectWatch opens a watch with connect-go and returns the error of
// its first message.
func openConnectWatch(t *testing.T, srv running, token string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := connect.NewRequest(&callbacksv1.WatchCallbacksRequest{})
	req.Header().Set("Authorization", "Bearer "+token)
	stream, err := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base).WatchCallbacks(ctx, req)
	if err != nil {
		return err
	}
	defer stream.Close()
	if stream.Receive() {
		return nil
	}
	return stream.Err()
}

// restWatch opens a REST watch and returns its status and first line.
func restWatch(t *testing.T, srv running, token string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/admin/llm-callbacks/watch", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	line := make([]byte, 4096)
	n, _ := io.ReadAtLeast(res.Body, line, 1)
	return res.StatusCode, string(line[:n])
}

// TestUnauthenticatedStreamsEndWhenIdle opens many reflection streams that
// then fall silent: each is ended with stream_idle after the idle limit,
// and the server's goroutines return to their level before; a stream that
// keeps talking is not ended.
func TestUnauthenticatedStreamsEndWhenIdle(t *testing.T) {
	srv := startServer(t, "", "--unauthenticated-stream-idle", "1s", "--max-unauthenticated-streams", "500")
	runtime.GC()
	baseline := runtime.NumGoroutine()
	besideLegitimateTraffic(t, srv, func() {
		const conns, perConn = 8, 50
		var wg sync.WaitGroup
		errs := make(chan error, conns*perConn)
		for range conns {
			conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			defer conn.Close()
			for range perConn {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
					defer cancel()
					stream, err := openReflection(ctx, conn)
					if err != nil {
						errs <- fmt.Errorf("open: %w", err)
						return
					}
					_, err = stream.Recv() // silent: the server must end it
					errs <- err
				})
			}
		}
		// A talkative stream outlives the idle limit many times over.
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		stream, err := openReflection(t.Context(), conn)
		require.NoError(t, err)
		for range 30 { // 3 s, with pauses a tenth of the idle limit
			time.Sleep(100 * time.Millisecond)
			require.NoError(t, stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}))
			_, err := stream.Recv()
			require.NoError(t, err)
		}
		require.NoError(t, stream.CloseSend())

		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			require.Equal(t, codes.DeadlineExceeded, status.Code(err), "%v", err)
			require.Equal(t, "stream_idle", grpcReason(err))
			n++
		}
		require.Equal(t, conns*perConn, n)
		require.GreaterOrEqual(t, metricValues(t, srv)["callbackd_streams_idle_closed_total"][""], float64(conns*perConn))
	})
	goroutinesSettle(t, baseline+20)
}

// TestRESTListNotStarvedByWatches holds more REST watches open than an
// HTTP/2 connection's default stream limit: REST calls, which share the
// gateway's one connection to the handlers, still answer.
func TestRESTListNotStarvedByWatches(t *testing.T) {
	t.Parallel()
	const watches = 300
	srv := startServer(t, "", "--max-streams", "400", "--max-streams-per-admin", "400")
	besideLegitimateTraffic(t, srv, func() {
		transport := &http.Transport{MaxIdleConnsPerHost: watches}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var wg sync.WaitGroup
		opened := make(chan error, watches)
		for range watches {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/admin/llm-callbacks/watch", nil)
				req.Header.Set("Authorization", "Bearer "+srv.token)
				res, err := client.Do(req)
				if err != nil {
					opened <- err
					return
				}
				defer res.Body.Close()
				if res.StatusCode != http.StatusOK {
					opened <- fmt.Errorf("watch: HTTP %d", res.StatusCode)
					return
				}
				opened <- nil
				_, _ = io.Copy(io.Discard, res.Body) // held until cancel
			})
		}
		deadline := time.After(10 * time.Second)
		for i := range watches {
			select {
			case err := <-opened:
				require.NoError(t, err)
			case <-deadline:
				t.Fatalf("only %d of %d REST watches opened: the rest wait for the gateway's connection", i, watches)
			}
		}
		require.Equal(t, float64(watches), metricValues(t, srv)["callbackd_streams_open"]["admin"])

		lctx, lcancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer lcancel()
		req, err := http.NewRequestWithContext(lctx, http.MethodGet, srv.base+"/api/admin/llm-callbacks", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err, "REST List starved by REST watches")
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, "%s", b)
		cancel()
		wg.Wait()
	})
}

// startServerLogging is startServer with the server's log (JSON, warnings
// and up) written to w.
func startServerLogging(t *testing.T, w io.Writer, extra ...string) running {
	t.Helper()
	return serveForTest(t, slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})), append([]string{"--webhook-secret", "main=" + testSecret}, extra...)...)
}

// syncBuffer is a destination (a log, a process's output) that tests read
// while others write it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestFailedAdminAuthIsThrottled: failed admin authentications are logged
// with the remote address and request id; past the per-address burst they
// get 429 rate_limited on every protocol; a valid credential from the same
// address is never refused.
func TestFailedAdminAuthIsThrottled(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	srv := startServerLogging(t, &logs, "--admin-auth-failure-rate", "0.001", "--admin-auth-failure-burst", "3")
	ctx := t.Context()
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	grpcList := func(token string) error {
		c := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		_, err := callbacksv1.NewCallbackAdminServiceClient(conn).ListCallbacks(c, &callbacksv1.ListCallbacksRequest{})
		return err
	}
	restList := func(token string) (int, string, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+"/api/admin/llm-callbacks", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b), res.Header.Get("X-Request-Id")
	}
	valid := func() {
		t.Helper()
		require.NoError(t, grpcList(srv.token))
		code, body, _ := restList(srv.token)
		require.Equal(t, http.StatusOK, code, body)
		_, err := adminClient(srv).ListCallbacks(ctx, connect.NewRequest(&callbacksv1.ListCallbacksRequest{}))
		require.NoError(t, err)
	}

	besideLegitimateTraffic(t, srv, func() {
		valid()
		code, body, requestID := restList("wrong-token-0123456789")
		require.Equal(t, http.StatusUnauthorized, code, body)
		require.NotEmpty(t, requestID)
		require.Equal(t, codes.Unauthenticated, status.Code(grpcList("wrong")))
		bad := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base)
		req := connect.NewRequest(&callbacksv1.ListCallbacksRequest{})
		req.Header().Set("Authorization", "Bearer wrong")
		_, err := bad.ListCallbacks(ctx, req)
		require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err))
		valid() // never spends or needs the budget

		// The burst is spent: every protocol answers 429 rate_limited.
		code, body, _ = restList("wrong-token-0123456789")
		require.Equal(t, http.StatusTooManyRequests, code, body)
		require.Contains(t, body, `"reason":"rate_limited"`)
		err = grpcList("wrong")
		require.Equal(t, codes.ResourceExhausted, status.Code(err))
		require.Equal(t, "rate_limited", grpcReason(err))
		_, err = bad.ListCallbacks(ctx, req)
		require.Equal(t, connect.CodeResourceExhausted, connect.CodeOf(err))
		require.Equal(t, "rate_limited", connectReason(err))
		valid()

		// Each failure within the budget was logged with its address and
		// request id; the throttled ones were counted instead.
		var found bool
		failures := 0
		for _, line := range strings.Split(logs.String(), "\n") {
			var entry map[string]any
			if json.Unmarshal([]byte(line), &entry) != nil || entry["msg"] != "admin authentication failed" {
				continue
			}
			failures++
			require.Contains(t, entry["remote_addr"], "127.0.0.1")
			require.NotEmpty(t, entry["request_id"])
			if entry["request_id"] == requestID {
				found = true
			}
		}
		require.Equal(t, 3, failures, logs.String())
		require.True(t, found, "the REST failure's request id %s is not in the log", requestID)
		require.Equal(t, float64(3), metricValues(t, srv)["callbackd_admin_auth_failures_total"]["rate_limited"])
	})
}

// TestAdminBodyUnreadable: an admin's REST body that ends before its
// Content-Length is answered 400 body_unreadable (the request is not
// guessed at), beside legitimate traffic.
func TestAdminBodyUnreadable(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	besideLegitimateTraffic(t, srv, func() {
		status, raw := sendCutShort(t, srv, "POST /api/admin/llm-callbacks/test HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+srv.token+
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event_type\":")
		require.Equal(t, http.StatusBadRequest, status, raw)
		require.Contains(t, raw, `"reason":"body_unreadable"`)
	})
}
