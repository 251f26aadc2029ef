package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/webhook"
)

// delivery is one HTTP request to the webhook route.
type delivery struct {
	method  string
	body    []byte
	headers map[string]string // nil values of a default header remove it
	chunked bool
}

// send posts d to the server's webhook route.
func (d delivery) send(t *testing.T, base string) response {
	t.Helper()
	method := d.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader = bytes.NewReader(d.body)
	if d.chunked {
		body = io.MultiReader(bytes.NewReader(d.body)) // unknown length → chunked
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+"/api/webhooks/llm-callback", body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "LLM Job Service/1.0")
	for k, v := range d.headers {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return response{status: res.StatusCode, body: string(b), header: res.Header}
}

// payload builds an LLM-service body for event and job.
func payload(t *testing.T, event, job string, extra map[string]any) []byte {
	t.Helper()
	p := map[string]any{
		"event":         event,
		"job_id":        job,
		"workflow_name": "summarise",
		"timestamp":     time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00") + "Z",
	}
	switch event {
	case "workflow.completed":
		p["status"], p["result"] = "completed", map[string]any{"summary": "ok"}
	case "workflow.failed":
		p["status"], p["error_message"] = "failed", "boom"
	case "llm.step.completed":
		p["step_id"], p["tokens"] = "step-1", map[string]any{"total": 10}
	}
	for k, v := range extra {
		if v == nil {
			delete(p, k)
			continue
		}
		p[k] = v
	}
	b, err := webhook.PythonJSON(p)
	require.NoError(t, err)
	return b
}

// signed returns headers that sign body with the test secret.
func signed(body []byte, event string) map[string]string {
	return map[string]string{"X-Webhook-Signature": webhook.SignLLM(testSecret, body), "X-Webhook-Event": event}
}

// TestWebhookStatusTable checks every row of the webhook table in
// docs/errors.md through the real server, on both databases: the status, the
// machine reason, that nothing is stored for a rejection, and that error
// bodies carry no secret material.
func TestWebhookStatusTable(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL, "--max-body-bytes", "4096")
		job := uuid.NewString()
		good := payload(t, "workflow.completed", job, nil)
		sig := webhook.SignLLM(testSecret, good)
		with := func(body []byte, extra map[string]string) delivery {
			h := signed(body, "workflow.completed")
			for k, v := range extra {
				h[k] = v
			}
			return delivery{body: body, headers: h}
		}
		step := payload(t, "llm.step.completed", job, nil)
		big := payload(t, "workflow.completed", uuid.NewString(), map[string]any{"result": map[string]any{"text": strings.Repeat("x", 5000)}})
		deep := []byte(`{"event":"workflow.completed","job_id":"` + uuid.NewString() + `","x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`)
		spaced := bytes.ReplaceAll(good, []byte(`,"`), []byte(`, "`))

		rows := []struct {
			name      string
			d         delivery
			status    int
			reason    string
			stored    bool // a row exists afterwards for the body's job
			duplicate bool
		}{
			{"valid LLM delivery", with(good, nil), 200, "", true, false},
			{"redelivery with a new timestamp", with(payload(t, "workflow.completed", job, map[string]any{"timestamp": "2030-01-01T00:00:00+00:00Z"}), nil), 200, "", true, true},
			{"charset parameter", with(payload(t, "workflow.failed", uuid.NewString(), nil), map[string]string{"Content-Type": "application/json; charset=utf-8", "X-Webhook-Event": "workflow.failed"}), 200, "", true, false},
			{"step event", with(step, map[string]string{"X-Webhook-Event": "llm.step.completed"}), 200, "", true, false},
			{"unknown event stored", with(payload(t, "job.paused", uuid.NewString(), nil), map[string]string{"X-Webhook-Event": "job.paused"}), 200, "", true, false},
			{"no event header (other senders)", with(payload(t, "workflow.completed", uuid.NewString(), nil), map[string]string{"X-Webhook-Event": ""}), 200, "", true, false},
			{"upper-case hex signature", with(good, map[string]string{"X-Webhook-Signature": "sha256=" + strings.ToUpper(sig[7:])}), 200, "", true, true},
			{"missing signature", with(good, map[string]string{"X-Webhook-Signature": ""}), 401, "signature_missing", false, false},
			{"wrong secret", with(good, map[string]string{"X-Webhook-Signature": webhook.SignLLM("not-the-secret", good)}), 401, "signature_mismatch", false, false},
			{"missing sha256= prefix", with(good, map[string]string{"X-Webhook-Signature": sig[7:]}), 401, "signature_malformed", false, false},
			{"not hex", with(good, map[string]string{"X-Webhook-Signature": "sha256=zz"}), 401, "signature_malformed", false, false},
			{"body re-serialised by a proxy", with(spaced, map[string]string{"X-Webhook-Signature": sig}), 401, "signature_mismatch", false, false},
			{"admin credential does not sign", with(good, map[string]string{"X-Webhook-Signature": "", "Authorization": "Bearer anything"}), 401, "signature_missing", false, false},
			{"body over the limit", with(big, nil), 413, "body_too_large", false, false},
			{"chunked body over the limit", delivery{body: big, chunked: true, headers: signed(big, "workflow.completed")}, 413, "body_too_large", false, false},
			{"text/plain", with(good, map[string]string{"Content-Type": "text/plain"}), 415, "unsupported_media_type", false, false},
			{"no content type", with(good, map[string]string{"Content-Type": ""}), 415, "unsupported_media_type", false, false},
			{"form encoded", with(good, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}), 415, "unsupported_media_type", false, false},
			{"gzip content encoding", with(good, map[string]string{"Content-Encoding": "gzip"}), 415, "unsupported_content_encoding", false, false},
			{"identity content encoding", with(payload(t, "workflow.failed", uuid.NewString(), nil), map[string]string{"Content-Encoding": "identity", "X-Webhook-Event": "workflow.failed"}), 200, "", true, false},
			{"empty body", with([]byte{}, nil), 400, "empty_body", false, false},
			{"not UTF-8", with([]byte("{\"event\":\"workflow.completed\",\"job_id\":\"\xff\"}"), nil), 400, "invalid_utf8", false, false},
			{"malformed JSON", with([]byte(`{"event":"workflow.completed",`), nil), 400, "malformed_json", false, false},
			{"trailing garbage", with(append(append([]byte{}, good...), []byte(" x")...), nil), 400, "malformed_json", false, false},
			{"top level array", with([]byte(`[1,2]`), nil), 400, "not_object", false, false},
			{"duplicate keys", with([]byte(`{"event":"workflow.completed","job_id":"a","job_id":"b"}`), nil), 400, "duplicate_key", false, false},
			{"nested too deep", with(deep, nil), 400, "too_deep", false, false},
			{"missing event", with(payload(t, "workflow.completed", uuid.NewString(), map[string]any{"event": nil}), map[string]string{"X-Webhook-Event": ""}), 400, "missing_event", false, false},
			{"missing job_id", with(payload(t, "workflow.completed", "", map[string]any{"job_id": nil}), nil), 400, "missing_job_id", false, false},
			{"step without step_id", with(payload(t, "llm.step.completed", uuid.NewString(), map[string]any{"step_id": nil}), map[string]string{"X-Webhook-Event": "llm.step.completed"}), 400, "missing_step_id", false, false},
			{"event header differs from body", with(payload(t, "workflow.completed", uuid.NewString(), nil), map[string]string{"X-Webhook-Event": "workflow.failed"}), 400, "event_mismatch", false, false},
			{"GET on the webhook route", delivery{method: http.MethodGet}, 405, "method_not_allowed", false, false},
		}
		for _, row := range rows {
			t.Run(row.name, func(t *testing.T) {
				before := countRows(t, srv)
				res := row.d.send(t, srv.base)
				require.Equal(t, row.status, res.status, res.body)
				require.Equal(t, "application/json", res.header.Get("Content-Type"))
				require.NotContains(t, res.body, testSecret)
				after := countRows(t, srv)
				if row.status != 200 {
					var e struct{ Code, Reason, Message string }
					require.NoError(t, json.Unmarshal([]byte(res.body), &e), res.body)
					require.Equal(t, row.reason, e.Reason, res.body)
					if row.status == http.StatusMethodNotAllowed {
						require.Equal(t, "unimplemented", e.Code, res.body)
					}
					require.NotEmpty(t, e.Message)
					require.Equal(t, before, after, "a rejected delivery must store nothing")
					return
				}
				var ok struct {
					ID         string `json:"id"`
					CallbackID string `json:"callback_id"`
					Duplicate  bool   `json:"duplicate"`
				}
				require.NoError(t, json.Unmarshal([]byte(res.body), &ok))
				require.Equal(t, row.duplicate, ok.Duplicate)
				if row.duplicate {
					require.Equal(t, before, after)
				} else {
					require.Equal(t, before+1, after)
				}
			})
		}
	})
}

// countRows counts stored callbacks through the store.
func countRows(t *testing.T, srv running) int {
	t.Helper()
	n := 0
	q := callback.ListQuery{PageSize: callback.MaxPageSize}
	for {
		page, err := srv.app.store.List(t.Context(), q)
		require.NoError(t, err)
		n += len(page.Callbacks)
		if page.Next == nil {
			return n
		}
		q.After = page.Next
	}
}

// TestOversizedBodyIsRefusedWithoutReadingIt sends bodies that never end
// (a chunked one past the limit, and one whose Content-Length promises more
// than the limit but which sends almost nothing): the server can only answer
// if it stops keeping the body at the limit, and it closes the connection
// instead of waiting for the rest (it discards what arrives for a bounded
// time first: TestLingeringCloseIsBounded in package server).
func TestOversizedBodyIsRefusedWithoutReadingIt(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--max-body-bytes", "65536")
	chunk := strings.Repeat("a", 16384)
	for name, request := range map[string]string{
		// 80 KiB of chunks > 64 KiB, and no final chunk.
		"chunked": "Transfer-Encoding: chunked\r\n\r\n" + strings.Repeat(fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk), 5),
		// A Content-Length over the limit, then only two bytes.
		"declared": "Content-Length: 10000000\r\n\r\n{}",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.addr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = fmt.Fprintf(conn, "POST /api/webhooks/llm-callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Webhook-Signature: sha256=00\r\n%s", request)
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			reader := bufio.NewReader(conn)
			res, err := http.ReadResponse(reader, nil)
			require.NoError(t, err)
			_, _ = io.ReadAll(res.Body)
			res.Body.Close()
			require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
			require.True(t, res.Close, "the connection must be closed, not drained")
			// Closed (EOF, or a reset because unread bytes were pending), not
			// kept open waiting for the rest of the body.
			_, err = reader.ReadByte()
			var netErr net.Error
			require.Error(t, err)
			require.False(t, errors.As(err, &netErr) && netErr.Timeout(), "connection left open: %v", err)
		})
	}
	require.Equal(t, 0, countRows(t, srv))
}

// TestConcurrentRedeliveriesMakeOneRow delivers one logical callback 50 times
// at once (each a retry with its own timestamp, as the LLM service retries):
// every delivery is answered 200, one row holds delivery count 50.
func TestConcurrentRedeliveriesMakeOneRow(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		job := uuid.NewString()
		const n = 50
		var wg sync.WaitGroup
		results := make([]response, n)
		for i := range n {
			body := payload(t, "workflow.completed", job, map[string]any{"timestamp": fmt.Sprintf("2025-12-20T10:30:%02d.000000+00:00Z", i)})
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = delivery{body: body, headers: signed(body, "workflow.completed")}.send(t, srv.base)
			}()
		}
		wg.Wait()
		ids, fresh := map[string]bool{}, 0
		for _, r := range results {
			require.Equal(t, http.StatusOK, r.status, r.body)
			var ok struct {
				ID        string `json:"id"`
				Duplicate bool   `json:"duplicate"`
			}
			require.NoError(t, json.Unmarshal([]byte(r.body), &ok))
			ids[ok.ID] = true
			if !ok.Duplicate {
				fresh++
			}
		}
		require.Len(t, ids, 1, "every delivery names the same row")
		require.Equal(t, 1, fresh, "exactly one delivery created the row")
		page, err := srv.app.store.List(t.Context(), callback.ListQuery{ExternalJobID: job})
		require.NoError(t, err)
		require.Len(t, page.Callbacks, 1)
		require.Equal(t, n, page.Callbacks[0].DeliveryCount)
	})
}

// TestUnsignedExperimentMode stores signature-less deliveries as unverified
// only with --allow-unsigned, and still refuses bad signatures.
func TestUnsignedExperimentMode(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--allow-unsigned")
	body := payload(t, "workflow.completed", uuid.NewString(), nil)
	res := delivery{body: body}.send(t, srv.base)
	require.Equal(t, http.StatusOK, res.status, res.body)
	var ok struct {
		ID string `json:"id"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.body), &ok))
	got, err := srv.app.store.Get(t.Context(), uuid.MustParse(ok.ID), uuid.Nil)
	require.NoError(t, err)
	require.False(t, got.Signature.Valid)
	require.Equal(t, webhook.SchemeUnsigned, got.Signature.Scheme)

	bad := delivery{body: body, headers: map[string]string{"X-Webhook-Signature": webhook.SignLLM("wrong", body)}}.send(t, srv.base)
	require.Equal(t, http.StatusUnauthorized, bad.status)
}

// clientFrom sends from a given loopback address.
func clientFrom(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
}

// TestForgedFloodIsRateLimitedPerAddress: an address that keeps failing
// authentication gets 429 for its failures, while a correctly signed
// delivery from that same address is served (the signature is checked
// first), and so is the real sender beside it: legitimate traffic from the
// flooding address itself, and a sender on another address.
func TestForgedFloodIsRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "", "--webhook-failure-rate", "0.01", "--webhook-failure-burst", "3")
	post := func(client *http.Client, body []byte, sig string) int {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.base+"/api/webhooks/llm-callback", bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Webhook-Signature", sig)
		res, err := client.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	attacker, sender := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	forged := payload(t, "workflow.completed", uuid.NewString(), nil)
	var statuses []int
	for range 6 {
		statuses = append(statuses, post(attacker, forged, webhook.SignLLM("guess", forged)))
	}
	require.Equal(t, []int{401, 401, 401, 429, 429, 429}, statuses)
	// A correctly signed delivery from the flooding address is served.
	require.Equal(t, 200, post(attacker, forged, webhook.SignLLM(testSecret, forged)))
	require.Equal(t, 429, post(attacker, forged, webhook.SignLLM("guess", forged)), "and the forgeries stay limited")
	// Another address has its own budget.
	require.Equal(t, 401, post(sender, forged, webhook.SignLLM("guess", forged)))

	// The legitimate senders post from 127.0.0.1; so does this flood.
	besideLegitimateTraffic(t, srv, func() {
		limited := 0
		for range 200 {
			if post(http.DefaultClient, forged, webhook.SignLLM("guess", forged)) == http.StatusTooManyRequests {
				limited++
			}
		}
		require.GreaterOrEqual(t, limited, 197, "the flood itself is limited")
	})
}

// TestRejectedDeliveriesAreListed: refused deliveries are not stored but
// admins can see the recent ones, with no body or signature.
func TestRejectedDeliveriesAreListed(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	body := payload(t, "workflow.completed", uuid.NewString(), nil)
	forged := webhook.SignLLM("wrong-secret", body)
	delivery{body: body, headers: map[string]string{"X-Webhook-Signature": forged, "X-Webhook-Event": "workflow.completed", "X-Request-Id": "req-123"}}.send(t, srv.base)
	delivery{body: []byte("{}"), headers: map[string]string{"Content-Type": "text/plain"}}.send(t, srv.base)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.base+"/api/admin/rejected-deliveries", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, string(raw))
	require.NotContains(t, string(raw), forged[7:], "no signature")
	require.NotContains(t, string(raw), "summarise", "no body")
	var got struct {
		Rejected []struct {
			Reason           string   `json:"reason"`
			BodyBytes        string   `json:"body_bytes"`
			EventHeader      string   `json:"event_header"`
			SignatureHeaders []string `json:"signature_headers"`
			RequestID        string   `json:"request_id"`
		} `json:"rejected"`
	}
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got.Rejected, 2)
	require.Equal(t, "unsupported_media_type", got.Rejected[0].Reason, "newest first")
	first := got.Rejected[1]
	require.Equal(t, "signature_mismatch", first.Reason)
	require.Equal(t, fmt.Sprint(len(body)), first.BodyBytes)
	require.Equal(t, "workflow.completed", first.EventHeader)
	require.Equal(t, []string{"X-Webhook-Signature"}, first.SignatureHeaders)
	require.Equal(t, "req-123", first.RequestID)
	require.Equal(t, 0, countRows(t, srv))
}

// TestDirectCallersCannotPoseAsTheGateway: a gRPC or Connect caller that
// sends callbackd-* headers (the keys under which the gateway once passed the
// HTTP request's content type and client address) is described by its own
// connection, and so is a REST caller sending them: the webhook route reads
// those facts from the HTTP request itself.
func TestDirectCallersCannotPoseAsTheGateway(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "")
	body := payload(t, "workflow.completed", uuid.NewString(), nil)
	client := callbacksv1connect.NewCallbackIngestServiceClient(http.DefaultClient, srv.base)
	req := connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: body})
	req.Header().Set("X-Webhook-Signature", webhook.SignLLM("wrong-secret", body))
	req.Header().Set("Callbackd-Remote-Addr", "203.0.113.9")
	req.Header().Set("Callbackd-Content-Type", "text/plain")
	_, err := client.IngestCallback(t.Context(), req)
	require.Equal(t, connect.CodeUnauthenticated, connect.CodeOf(err), "judged by its signature, not a forged content type: %v", err)

	// Through the gateway the same delivery is described by the HTTP request.
	res := delivery{body: body, headers: map[string]string{"X-Webhook-Signature": webhook.SignLLM("wrong-secret", body),
		"Callbackd-Remote-Addr": "203.0.113.9"}}.send(t, srv.base)
	require.Equal(t, http.StatusUnauthorized, res.status, res.body)

	admin := callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base)
	list := connect.NewRequest(&callbacksv1.ListRejectedDeliveriesRequest{})
	list.Header().Set("Authorization", "Bearer "+srv.token)
	got, err := admin.ListRejectedDeliveries(t.Context(), list)
	require.NoError(t, err)
	require.Len(t, got.Msg.GetRejected(), 2)
	for _, r := range got.Msg.GetRejected() {
		require.Equal(t, "signature_mismatch", r.GetReason())
		host, _, err := net.SplitHostPort(r.GetRemoteAddr())
		require.NoError(t, err, r.GetRemoteAddr())
		require.Equal(t, "127.0.0.1", host, "the connection's address, not the forged one")
	}
}
