package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/webhook"
)

// The webhook edge: what reaches the server before a delivery is judged
// (oversized, unreadable or encoded bodies, hostile header bytes, forged
// floods from many addresses) is answered as documented, counted and
// listed, and never disturbs the legitimate sender beside it.

// rejections lists the server's rejected deliveries over Connect.
func rejections(t *testing.T, srv running) []*callbacksv1.RejectedDelivery {
	t.Helper()
	res, err := adminClient(srv).ListRejectedDeliveries(t.Context(), connect.NewRequest(&callbacksv1.ListRejectedDeliveriesRequest{}))
	require.NoError(t, err)
	return res.Msg.GetRejected()
}

// deliveryOutcomes reads callbackd_deliveries_total by outcome.
func deliveryOutcomes(t *testing.T, srv running) map[string]float64 {
	t.Helper()
	return metricValues(t, srv)["callbackd_deliveries_total"]
}

// TestOversizedSenderReadsIts413: senders that write their whole oversized
// body before reading the answer, as Python's requests does, read the 413
// instead of a broken pipe: a raw TCP client with a Content-Length, and Go's
// http.Client streaming a body of unknown length. Each refusal is counted
// and listed, and the legitimate traffic beside them is untouched.
func TestOversizedSenderReadsIts413(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--max-body-bytes", "65536")
	const size = 8 << 20
	body := make([]byte, size)
	_, _ = rand.Read(body)
	sig := webhook.SignLLM(testSecret, body)

	besideLegitimateTraffic(t, srv, func() {
		for i := range 3 {
			// Write everything, then read: any write error fails.
			conn, err := net.Dial("tcp", srv.addr)
			require.NoError(t, err)
			_, err = fmt.Fprintf(conn, "POST /api/webhooks/llm-callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
				"User-Agent: python-requests/2.32\r\nX-Webhook-Signature: %s\r\nContent-Length: %d\r\n\r\n", sig, size)
			require.NoError(t, err)
			for off := 0; off < size; off += 64 << 10 {
				_, err := conn.Write(body[off : off+64<<10])
				require.NoError(t, err, "raw sender %d: write at %d", i, off)
			}
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			raw, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
			require.Contains(t, string(raw), `"body_too_large"`)
			conn.Close()

			// Go's client, streaming a body of unknown length (chunked).
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/webhooks/llm-callback", io.MultiReader(bytes.NewReader(body)))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Webhook-Signature", sig)
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			require.NoError(t, err, "go client %d", i)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
		}
	})
	require.Equal(t, 6.0, deliveryOutcomes(t, srv)["body_too_large"])
	listed := 0
	for _, r := range rejections(t, srv) {
		if r.GetReason() == "body_too_large" {
			listed++
			require.Greater(t, r.GetBodyBytes(), int64(65536))
			require.Equal(t, []string{"X-Webhook-Signature"}, r.GetSignatureHeaders())
		}
	}
	require.Equal(t, 6, listed)
}

// TestUnreadableAndEncodedBodiesAreCountedAndListed: a body that ends
// before its Content-Length (the sender shut down its side) is answered 400
// body_unreadable, a gzip body 415 unsupported_content_encoding; both are
// counted and listed like every rejection, beside legitimate traffic.
func TestUnreadableAndEncodedBodiesAreCountedAndListed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	besideLegitimateTraffic(t, srv, func() {
		status, raw := sendCutShort(t, srv, "POST /api/webhooks/llm-callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"event\":")
		require.Equal(t, http.StatusBadRequest, status, raw)
		require.Contains(t, raw, `"body_unreadable"`)

		body := payload(t, "workflow.completed", uuid.NewString(), nil)
		h := signed(body, "workflow.completed")
		h["Content-Encoding"] = "gzip"
		got := delivery{body: body, headers: h}.send(t, srv.base)
		require.Equal(t, http.StatusUnsupportedMediaType, got.status, got.body)
		require.Contains(t, got.body, `"unsupported_content_encoding"`)
	})
	outcomes := deliveryOutcomes(t, srv)
	require.Equal(t, 1.0, outcomes["body_unreadable"])
	require.Equal(t, 1.0, outcomes["unsupported_content_encoding"])
	var reasons []string
	for _, r := range rejections(t, srv) {
		reasons = append(reasons, r.GetReason())
	}
	require.Equal(t, []string{"unsupported_content_encoding", "body_unreadable"}, reasons)
}

// TestHostileHeaderBytesKeepRejectionsReadable: refused deliveries whose
// User-Agent, X-Webhook-Event and X-Request-Id hold bytes that are not
// UTF-8, or far too many, leave ListRejectedDeliveries answering on every
// protocol with valid, bounded strings; an X-Request-Id that is not short
// printable ASCII is replaced by one of the server's.
func TestHostileHeaderBytesKeepRejectionsReadable(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	hostile := []map[string]string{
		{"User-Agent": "curl/\xff\xfe\xc0\xaf", "X-Webhook-Event": "workflow.\xff", "X-Request-Id": "id-\xff"},
		{"User-Agent": strings.Repeat("\xe2\x82\xac", 3000), "X-Webhook-Event": strings.Repeat("e", 5000), "X-Request-Id": strings.Repeat("r", 65)},
		{"User-Agent": "ok", "X-Request-Id": "two words"},
	}
	besideLegitimateTraffic(t, srv, func() {
		for _, h := range hostile {
			conn, err := net.Dial("tcp", srv.addr)
			require.NoError(t, err)
			var req strings.Builder
			req.WriteString("POST /api/webhooks/llm-callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Webhook-Signature: sha256=00\r\nContent-Length: 2\r\nConnection: close\r\n")
			for k, v := range h {
				req.WriteString(k + ": " + v + "\r\n")
			}
			req.WriteString("\r\n{}")
			_, err = io.WriteString(conn, req.String())
			require.NoError(t, err)
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, res.Body)
			conn.Close()
			require.Equal(t, http.StatusUnauthorized, res.StatusCode)
			id := res.Header.Get("X-Request-Id")
			require.Regexp(t, `^[0-9a-f]{16}$`, id, "the caller's id %q is replaced", h["X-Request-Id"])
		}
	})

	check := func(protocol string, list []*callbacksv1.RejectedDelivery) {
		require.Len(t, list, len(hostile), protocol)
		for _, r := range list {
			for _, s := range []string{r.GetReason(), r.GetMessage(), r.GetRemoteAddr(), r.GetEventHeader(), r.GetUserAgent(), r.GetRequestId()} {
				require.True(t, utf8.ValidString(s), "%s: %q", protocol, s)
				require.LessOrEqual(t, len(s), 256, protocol)
			}
			require.Regexp(t, `^[0-9a-f]{16}$`, r.GetRequestId(), protocol)
		}
		require.Equal(t, "curl/\uFFFD", list[2].GetUserAgent(), protocol)
		require.Equal(t, "workflow.\uFFFD", list[2].GetEventHeader(), protocol)
		require.True(t, strings.HasSuffix(list[1].GetUserAgent(), "€…"), protocol)
	}
	check("connect", rejections(t, srv))

	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+srv.token)
	res, err := callbacksv1.NewCallbackAdminServiceClient(conn).ListRejectedDeliveries(ctx, &callbacksv1.ListRejectedDeliveriesRequest{})
	require.NoError(t, err)
	check("grpc", res.GetRejected())

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/admin/rejected-deliveries", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	rest, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(rest.Body)
	rest.Body.Close()
	require.Equal(t, http.StatusOK, rest.StatusCode, string(raw))
	require.True(t, utf8.Valid(raw))
}

// TestRotatingAddressesDoNotResetTheLimit: behind a trusted proxy, a
// forger that rotates through more addresses than the limiter tracks
// neither frees an address it had exhausted nor escapes the limit itself,
// while legitimate traffic is served and a valid delivery from the
// exhausted address is too.
func TestRotatingAddressesDoNotResetTheLimit(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--trusted-proxy", "127.0.0.1/32", "--webhook-failure-rate", "0.01", "--webhook-failure-burst", "3")
	forged := payload(t, "workflow.completed", uuid.NewString(), nil)
	post := func(client *http.Client, from string, body []byte, sig string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/webhooks/llm-callback", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Signature", sig)
		req.Header.Set("X-Forwarded-For", from)
		res, err := client.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	guess := webhook.SignLLM("guess", forged)
	for range 3 {
		require.Equal(t, 401, post(http.DefaultClient, "203.0.113.9", forged, guess))
	}
	require.Equal(t, 429, post(http.DefaultClient, "203.0.113.9", forged, guess))

	var limited atomic.Int64
	besideLegitimateTraffic(t, srv, func() {
		const rotations, workers = 10500, 4
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Transport: &http.Transport{}}
				for i := w; i < rotations; i += workers {
					if post(client, fmt.Sprintf("198.18.%d.%d", i>>8, i&255), forged, guess) == http.StatusTooManyRequests {
						limited.Add(1)
					}
				}
			}()
		}
		wg.Wait()
	})
	require.Greater(t, limited.Load(), int64(400), "past the table's capacity, new addresses share one budget")
	require.Equal(t, 429, post(http.DefaultClient, "203.0.113.9", forged, guess), "the exhausted address stays limited")
	good := payload(t, "workflow.completed", uuid.NewString(), nil)
	require.Equal(t, 200, post(http.DefaultClient, "203.0.113.9", good, webhook.SignLLM(testSecret, good)), "a valid delivery is served")
}

// TestDirectIngestHonoursTrustedProxy: Connect and gRPC ingest callers
// behind a trusted proxy are keyed, limited and listed by X-Forwarded-For,
// as on the REST route; a valid delivery from a limited address is served.
func TestDirectIngestHonoursTrustedProxy(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--trusted-proxy", "127.0.0.1/32", "--webhook-failure-rate", "0.01", "--webhook-failure-burst", "2")
	body := payload(t, "workflow.completed", uuid.NewString(), nil)
	guess := webhook.SignLLM("guess", body)

	client := callbacksv1connect.NewCallbackIngestServiceClient(http.DefaultClient, srv.base)
	viaConnect := func(from, sig string) connect.Code {
		req := connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: body})
		req.Header().Set("X-Webhook-Signature", sig)
		req.Header().Set("X-Forwarded-For", from)
		if _, err := client.IngestCallback(t.Context(), req); err != nil {
			return connect.CodeOf(err)
		}
		return 0 // OK, which connect.Code does not name
	}
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	grpcClient := callbacksv1.NewCallbackIngestServiceClient(conn)
	viaGRPC := func(from, sig string) codes.Code {
		ctx := metadata.AppendToOutgoingContext(context.WithoutCancel(t.Context()), "x-webhook-signature", sig, "x-forwarded-for", from)
		_, err := grpcClient.IngestCallback(ctx, &callbacksv1.IngestCallbackRequest{Body: body})
		return status.Code(err)
	}

	besideLegitimateTraffic(t, srv, func() {
		require.Equal(t, connect.CodeUnauthenticated, viaConnect("198.51.100.7", guess))
		require.Equal(t, codes.Unauthenticated, viaGRPC("198.51.100.7", guess))
		require.Equal(t, connect.CodeResourceExhausted, viaConnect("198.51.100.7", guess), "the same forwarded sender")
		require.Equal(t, codes.ResourceExhausted, viaGRPC("198.51.100.7", guess))
		require.Equal(t, connect.CodeUnauthenticated, viaConnect("198.51.100.8", guess), "another forwarded sender, same proxy")
		require.Equal(t, codes.Unauthenticated, viaGRPC("198.51.100.9", guess))
		require.Equal(t, connect.Code(0), viaConnect("198.51.100.7", webhook.SignLLM(testSecret, body)), "a valid delivery is served")
		require.Equal(t, codes.OK, viaGRPC("198.51.100.7", webhook.SignLLM(testSecret, body)))
	})
	var addrs []string
	for _, r := range rejections(t, srv) {
		addrs = append(addrs, r.GetRemoteAddr())
	}
	require.Equal(t, []string{"198.51.100.9", "198.51.100.8", "198.51.100.7", "198.51.100.7", "198.51.100.7", "198.51.100.7"}, addrs)
}

// sendCutShort writes request (a head whose Content-Length promises more
// than follows) on its own connection, then ends the sending side, so that
// the body ends early, and returns the status and body of the answer.
func sendCutShort(t *testing.T, srv running, request string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", srv.addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, request)
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(raw)
}
