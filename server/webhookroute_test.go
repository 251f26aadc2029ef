package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/ingest"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// webhookRoute serves the webhook handler (limit 64 KiB) over a real
// loopback HTTP server, with a real ingester that stores nothing.
func webhookRoute(t *testing.T) (*httptest.Server, *ingest.Service) {
	t.Helper()
	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: {"secret"}}})
	require.NoError(t, err)
	svc, err := ingest.New(t.Context(), ingest.Config{}, storetest.OpenSQLite(t), v, nil,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(svc.Close)
	srv := httptest.NewUnstartedServer(&webhookHandler{limit: 64 << 10, ingester: svc, log: slog.New(slog.DiscardHandler)})
	srv.EnableHTTP2 = true
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, svc
}

// refusedWhileWriting opens a connection that declares a body far larger
// than the limit, reads the 413 (which must come before the body ends), and
// then writes chunk every pause until a write fails. It returns how much it
// wrote and how long after the answer its writes kept succeeding.
func refusedWhileWriting(t *testing.T, addr string, chunk int, pause time.Duration) (written int64, lingered time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /api/webhooks/llm-callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", int64(1)<<40)
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(2*time.Second)))
	reader := bufio.NewReader(conn)
	res, err := http.ReadResponse(reader, nil)
	require.NoError(t, err, "answered before the body ends")
	_, _ = io.Copy(io.Discard, res.Body)
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	answered := time.Now()
	_, err = reader.ReadByte()
	require.ErrorIs(t, err, io.EOF, "the server's side is shut down after the answer")

	buf := bytes.Repeat([]byte("a"), chunk)
	for time.Since(answered) < 3*lingerTime {
		n, err := conn.Write(buf)
		written += int64(n)
		if err != nil {
			return written, time.Since(answered)
		}
		time.Sleep(pause)
	}
	t.Fatalf("writes still succeed %s after the answer", time.Since(answered))
	return 0, 0
}

// TestLingeringCloseIsBounded: after a 413 the server keeps reading what
// the sender writes, so that its writes succeed, but for at most lingerTime
// (a slow sender) and lingerBytes (a fast one), then closes. The refusals are
// recorded as rejections.
func TestLingeringCloseIsBounded(t *testing.T) {
	t.Parallel()
	srv, svc := webhookRoute(t)
	addr := srv.Listener.Addr().String()

	t.Run("slow sender: time bound", func(t *testing.T) {
		t.Parallel()
		written, lingered := refusedWhileWriting(t, addr, 1024, 50*time.Millisecond)
		require.Greater(t, lingered, lingerTime-time.Second, "writes succeed while the server lingers")
		require.Less(t, lingered, lingerTime+2*time.Second, "then the connection is closed")
		require.Less(t, written, int64(lingerBytes))
	})
	t.Run("fast sender: byte bound", func(t *testing.T) {
		t.Parallel()
		written, lingered := refusedWhileWriting(t, addr, 256<<10, 0)
		require.GreaterOrEqual(t, written, int64(lingerBytes), "the server discarded up to the bound")
		require.Less(t, written, int64(lingerBytes)+64<<20, "and not much more than kernel buffers beyond it")
		require.Less(t, lingered, lingerTime/2, "the byte bound ended it, not the time bound")
	})
	t.Run("HTTP/2: answered, stream reset", func(t *testing.T) {
		t.Parallel()
		protocols := new(http.Protocols)
		protocols.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: &http.Transport{Protocols: protocols}}
		res, err := client.Post(srv.URL+"/api/webhooks/llm-callback", "application/json", io.MultiReader(bytes.NewReader(make([]byte, 8<<20))))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		require.Equal(t, 2, res.ProtoMajor)
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
	})
	t.Cleanup(func() {
		n := 0
		for _, r := range svc.Rejections() {
			if r.Reason == "body_too_large" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%d body_too_large rejections recorded, want 3", n)
		}
	})
}

// TestIdentityEncoding: only an absent or identity Content-Encoding passes.
func TestIdentityEncoding(t *testing.T) {
	t.Parallel()
	for value, want := range map[string]bool{"": true, "identity": true, "Identity, identity": true,
		"gzip": false, "identity, br": false, "x-custom": false} {
		h := http.Header{}
		if value != "" {
			h.Set("Content-Encoding", value)
		}
		require.Equal(t, want, identityEncoding(h), "%q", value)
	}
	require.False(t, identityEncoding(http.Header{"Content-Encoding": {"identity", "deflate"}}))
}

// TestWebhookAnswers: the plain webhook handler hands a signed JSON delivery
// to the ingester and answers its result, and refuses a body that is not
// JSON with 415 before the ingester sees it, recording the refusal with the
// body's size like every other.
func TestWebhookAnswers(t *testing.T) {
	t.Parallel()
	srv, svc := webhookRoute(t)
	body := []byte(`{"event":"workflow.completed","job_id":"j-1","status":"completed"}`)
	post := func(contentType string) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+webhookPath, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set(webhook.HeaderLLMSignature, webhook.SignLLM("secret", body))
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, "application/json", res.Header.Get("Content-Type"))
		return res.StatusCode, string(b)
	}

	status, answer := post("application/json; charset=utf-8")
	require.Equal(t, http.StatusOK, status, answer)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(answer), &got))
	require.Equal(t, "j-1:workflow.completed", got["callback_id"])
	require.Equal(t, false, got["duplicate"])
	require.NotEmpty(t, got["id"])
	require.Len(t, got, 3, answer)

	for _, contentType := range []string{"text/plain", "", "application/x-www-form-urlencoded", "application/json; charset"} {
		status, answer = post(contentType)
		require.Equal(t, http.StatusUnsupportedMediaType, status, "%q: %s", contentType, answer)
		require.Contains(t, answer, `"reason":"unsupported_media_type"`)
	}
	rejected := svc.Rejections()
	require.Len(t, rejected, 4)
	require.Equal(t, "unsupported_media_type", rejected[0].Reason)
	require.Equal(t, len(body), rejected[0].BodyBytes)
}
