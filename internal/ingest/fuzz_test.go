package ingest

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/store/storetest"
	"github.com/callbackd/callbackd/internal/webhook"
)

// fuzzSecret signs the fuzzer's "signed" deliveries.
const fuzzSecret = "fuzz-secret"

// FuzzRejectionHeaders drives arbitrary header bytes (User-Agent,
// X-Webhook-Event, X-Request-Id, signature headers, the remote address) and
// bodies, signed or not, through a Service. Properties: Ingest never panics;
// every rejection it lists, and every string of every log line it writes, is
// valid UTF-8 and bounded; and the list converts to the protobuf messages
// that ListRejectedDeliveries answers with, in binary and JSON, without an
// error (invalid UTF-8 in a string field is what used to break it).
func FuzzRejectionHeaders(f *testing.F) {
	verifier, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{
		webhook.SchemeLLM:    {"main=" + fuzzSecret},
		webhook.SchemeStripe: {"stripe=" + fuzzSecret},
	}})
	if err != nil {
		f.Fatal(err)
	}
	logs := &stringCheck{}
	svc, err := New(f.Context(), Config{MaxBodyBytes: 1 << 16, FailuresPerSecond: 1, FailureBurst: 4},
		storetest.OpenSQLite(f), verifier, nil, slog.New(logs), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(svc.Close)

	good := `{"event":"workflow.completed","job_id":"j-1","status":"completed"}`
	f.Add([]byte(good), true, "LLM Job Service/1.0", "workflow.completed", "req-1", "", "", "203.0.113.9:5000", "application/json")
	f.Add([]byte(good), false, "curl/\xff\xfe", "workflow.\xc0", "\x00id", "sha256=00", "t=1,v1=zz", "[2001:db8::1]:80", "text/plain")
	f.Add([]byte(`{"event":"workflow.completed","job_id":"`+strings.Repeat("j", 5000)+`"}`), true, strings.Repeat("U", 300), "workflow.failed", strings.Repeat("r", 100), "", "", "\xff", "application/json")
	f.Add([]byte("{\"event\":\"\xff\"}"), true, "", "", "", "", "", "", "application/json")
	f.Add([]byte(`{"a":1,"a":2}`), true, "\u00e9\u20ac", "\xe2\x82", "id with spaces", "sha256="+strings.Repeat("A", 64), "", "10.0.0.1", "application/x+json")

	// The last argument (a Content-Type) is ignored: the transport checks it.
	f.Fuzz(func(t *testing.T, body []byte, sign bool, userAgent, event, requestID, llmSig, stripeSig, remoteAddr, _ string) {
		h := http.Header{}
		for name, v := range map[string]string{"X-Webhook-Event": event, webhook.HeaderLLMSignature: llmSig, webhook.HeaderStripeSignature: stripeSig} {
			if v != "" {
				h[name] = []string{v}
			}
		}
		if sign {
			h.Set(webhook.HeaderLLMSignature, webhook.SignLLM(fuzzSecret, body))
		}
		req := Request{Body: body, Header: h, UserAgent: userAgent, RemoteAddr: remoteAddr, RequestID: requestID}
		_, _ = svc.Ingest(t.Context(), req)
		svc.Reject(t.Context(), req, int64(len(body)), ErrBodyTooLarge)

		for _, r := range svc.Rejections() {
			for name, s := range map[string]string{"reason": r.Reason, "message": r.Message, "remote_addr": r.RemoteAddr,
				"event_header": r.EventHeader, "user_agent": r.UserAgent, "request_id": r.RequestID} {
				if !utf8.ValidString(s) || len(s) > maxMessageBytes {
					t.Fatalf("rejection %s %q: not valid UTF-8 or over %d bytes", name, s, maxMessageBytes)
				}
			}
			msg := &callbacksv1.RejectedDelivery{
				ReceiveTime: timestamppb.New(r.At), Reason: r.Reason, Message: r.Message, RemoteAddr: r.RemoteAddr,
				BodyBytes: int64(r.BodyBytes), EventHeader: r.EventHeader, UserAgent: r.UserAgent,
				SignatureHeaders: r.SignatureHeaders, RequestId: r.RequestID,
			}
			if _, err := proto.Marshal(msg); err != nil {
				t.Fatalf("protobuf: %v", err)
			}
			if _, err := protojson.Marshal(msg); err != nil {
				t.Fatalf("protojson: %v", err)
			}
		}
		if bad := logs.failures(); len(bad) > 0 {
			t.Fatalf("log strings not valid UTF-8 or over %d bytes: %q", maxMessageBytes, bad)
		}
	})
}

// stringCheck is a slog handler that records every string attribute that is
// not valid UTF-8 or longer than maxMessageBytes.
type stringCheck struct {
	mu  sync.Mutex
	bad []string
}

func (*stringCheck) Enabled(context.Context, slog.Level) bool { return true }

func (c *stringCheck) Handle(_ context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindString {
			if s := a.Value.String(); !utf8.ValidString(s) || len(s) > maxMessageBytes {
				c.mu.Lock()
				c.bad = append(c.bad, a.Key+"="+s)
				c.mu.Unlock()
			}
		}
		return true
	})
	return nil
}

func (c *stringCheck) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *stringCheck) WithGroup(string) slog.Handler      { return c }

// failures returns and forgets what was recorded.
func (c *stringCheck) failures() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	bad := c.bad
	c.bad = nil
	return bad
}
