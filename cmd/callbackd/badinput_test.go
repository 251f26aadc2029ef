package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/errdocs"
	"github.com/callbackd/callbackd/internal/watch"
	"github.com/callbackd/callbackd/internal/webhook"
)

// badInput is one bad request and the answer docs/errors.md promises for it,
// the same on every protocol that can carry it.
type badInput struct {
	what string
	// service and method name the RPC; service "" is CallbackAdminService.
	service, method string
	// msg is the request for every protocol, unless wire (protobuf binary:
	// gRPC, gRPC-Web, Connect) or json (Connect JSON) replace it for
	// protocols whose client could not encode the bad value; a protocol
	// with neither skips the row.
	msg  proto.Message
	wire []byte
	json string
	// rest is the REST request: "METHOD /path?query", with restBody.
	rest     string
	restBody string
	// header is sent on every protocol (as metadata on gRPC).
	header map[string]string
	// The answer: HTTP status (REST), gRPC code and ErrorInfo reason ("" for
	// success).
	http   int
	code   codes.Code
	reason string
	// beside runs the row while legitimate deliveries flow.
	beside bool
}

// badInputEnv holds what rows need from a running server.
type badInputEnv struct {
	// token is a real page token for a List without filters.
	token string
	// callbackID names a stored callback.
	callbackID string
}

// withTokenTime returns token with its time replaced by micros.
func withTokenTime(t *testing.T, token string, micros int64) string {
	t.Helper()
	if token == "" { // the table is only being read (TestBadInputTableIsDocumented)
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	fields["t"] = micros
	b, err = json.Marshal(fields)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(b)
}

// stringField is the protobuf binary of one string (or bytes) field,
// whatever its bytes: the generated code refuses to encode invalid UTF-8.
func stringField(num protowire.Number, v string) []byte {
	b := protowire.AppendTag(nil, num, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// badInputs is the table. Every row's (HTTP, code, reason) is a row of
// docs/errors.md (TestBadInputTableIsDocumented).
func badInputs(t *testing.T, env badInputEnv) []badInput {
	unknown := uuid.NewString()
	pastEnd := watch.FormatCursor(1 << 40)
	notUTF8Body := []byte(`{"event":"workflow.completed","job_id":"j","workflow_name":"` + "\xff\xfe" + `"}`)
	bad := []badInput{
		{what: "id not a UUID (Get)", method: "GetCallback", msg: &callbacksv1.GetCallbackRequest{Id: "nope"},
			rest: "GET /api/admin/llm-callbacks/nope", http: 400, code: codes.InvalidArgument, reason: "invalid_id", beside: true},
		{what: "id not a UUID (MarkViewed)", method: "MarkViewed", msg: &callbacksv1.MarkViewedRequest{Id: "nope"},
			rest: "POST /api/admin/llm-callbacks/nope/view", http: 400, code: codes.InvalidArgument, reason: "invalid_id"},
		{what: "unknown id (Get)", method: "GetCallback", msg: &callbacksv1.GetCallbackRequest{Id: unknown},
			rest: "GET /api/admin/llm-callbacks/" + unknown, http: 404, code: codes.NotFound, reason: "not_found"},
		{what: "unknown id (MarkViewed)", method: "MarkViewed", msg: &callbacksv1.MarkViewedRequest{Id: unknown},
			rest: "POST /api/admin/llm-callbacks/" + unknown + "/view", http: 404, code: codes.NotFound, reason: "not_found"},
		{what: "negative page_size (List)", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{PageSize: -1},
			rest: "GET /api/admin/llm-callbacks?page_size=-1", http: 400, code: codes.InvalidArgument, reason: "invalid_page_size"},
		{what: "negative page_size (Check)", method: "CheckCallbacks", msg: &callbacksv1.CheckCallbacksRequest{PageSize: -1},
			rest: "GET /api/admin/llm-callbacks/check?page_size=-1", http: 400, code: codes.InvalidArgument, reason: "invalid_page_size"},
		{what: "page_size not a number", method: "ListCallbacks", json: `{"pageSize":"many"}`,
			rest: "GET /api/admin/llm-callbacks?page_size=many", http: 400, code: codes.InvalidArgument, reason: "invalid_page_size"},
		{what: "page_size over the maximum is clamped", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{PageSize: math.MaxInt32},
			rest: "GET /api/admin/llm-callbacks?page_size=2147483647", http: 200, code: codes.OK},
		{what: "page_token malformed", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{PageToken: "garbage"},
			rest: "GET /api/admin/llm-callbacks?page_token=garbage", http: 400, code: codes.InvalidArgument, reason: "invalid_page_token", beside: true},
		{what: "page_token made for other filters", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{PageToken: env.token, WorkflowName: "other"},
			rest: "GET /api/admin/llm-callbacks?workflow_name=other&page_token=" + env.token, http: 400, code: codes.InvalidArgument, reason: "invalid_page_token"},
	}
	for _, micros := range []int64{math.MinInt64, math.MaxInt64} {
		tok := withTokenTime(t, env.token, micros)
		bad = append(bad, badInput{what: "page_token time " + strconv.FormatInt(micros, 10), method: "ListCallbacks",
			msg: &callbacksv1.ListCallbacksRequest{PageToken: tok}, rest: "GET /api/admin/llm-callbacks?page_token=" + tok,
			http: 400, code: codes.InvalidArgument, reason: "invalid_page_token", beside: micros == math.MinInt64})
	}
	return append(bad, []badInput{
		{what: "status an unknown number", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{Status: 99},
			rest: "GET /api/admin/llm-callbacks?status=99", http: 400, code: codes.InvalidArgument, reason: "invalid_status", beside: true},
		{what: "status an unknown name", method: "ListCallbacks", json: `{"status":"nope"}`,
			rest: "GET /api/admin/llm-callbacks?status=nope", http: 400, code: codes.InvalidArgument, reason: "invalid_status"},
		{what: "time seconds out of range", method: "ListCallbacks",
			msg:  &callbacksv1.ListCallbacksRequest{CreateTimeAfter: &timestamppb.Timestamp{Seconds: 1 << 60}},
			json: `{"createTimeAfter":"10000-01-01T00:00:00Z"}`,
			rest: "GET /api/admin/llm-callbacks?create_time_after.seconds=1152921504606846976", http: 400, code: codes.InvalidArgument, reason: "invalid_time", beside: true},
		{what: "time nanos out of range", method: "ListCallbacks",
			msg:  &callbacksv1.ListCallbacksRequest{CreateTimeBefore: &timestamppb.Timestamp{Seconds: 1, Nanos: 2_000_000_000}},
			json: `{"createTimeBefore":"2025-01-01T00:00:00.1234567891Z"}`,
			rest: "GET /api/admin/llm-callbacks?create_time_before.nanos=2000000000", http: 400, code: codes.InvalidArgument, reason: "invalid_time"},
		{what: "time not a timestamp", method: "ListCallbacks", json: `{"createTimeAfter":"yesterday"}`,
			rest: "GET /api/admin/llm-callbacks?create_time_after=yesterday", http: 400, code: codes.InvalidArgument, reason: "invalid_time"},
		{what: "string filter not UTF-8", method: "ListCallbacks", wire: stringField(5, "\xff\xfe"), json: `{"workflowName":"` + "\xff\xfe" + `"}`,
			rest: "GET /api/admin/llm-callbacks?workflow_name=%FF%FE", http: 400, code: codes.InvalidArgument, reason: "invalid_utf8", beside: true},
		{what: "string filter an escaped lone surrogate", method: "ListCallbacks", json: `{"workflowName":"\ud800"}`,
			http: 400, code: codes.InvalidArgument, reason: "invalid_utf8"},
		{what: "id not UTF-8", method: "GetCallback", wire: stringField(1, "\xff"), json: `{"id":"` + "\xff" + `"}`,
			rest: "GET /api/admin/llm-callbacks/%FF", http: 400, code: codes.InvalidArgument, reason: "invalid_utf8"},
		{what: "cursor not UTF-8", method: "WatchCallbacks", wire: stringField(1, "c1.\xff"), json: `{"cursor":"c1.` + "\xff" + `"}`,
			rest: "GET /api/admin/llm-callbacks/watch?cursor=c1.%FF", http: 400, code: codes.InvalidArgument, reason: "invalid_utf8"},
		// The filter gets the rule of stored columns (the store's), so it
		// matches what the same text became when it was stored.
		{what: "NUL in a string filter", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{ExternalJobId: "job\x00id"},
			rest: "GET /api/admin/llm-callbacks?external_job_id=job%00id", http: 200, code: codes.OK, beside: true},
		{what: "cursor malformed (Check)", method: "CheckCallbacks", msg: &callbacksv1.CheckCallbacksRequest{After: "bogus"},
			rest: "GET /api/admin/llm-callbacks/check?after=bogus", http: 400, code: codes.InvalidArgument, reason: "invalid_cursor", beside: true},
		{what: "cursor malformed (Watch)", method: "WatchCallbacks", msg: &callbacksv1.WatchCallbacksRequest{Cursor: "bogus"},
			rest: "GET /api/admin/llm-callbacks/watch?cursor=bogus", http: 400, code: codes.InvalidArgument, reason: "invalid_cursor"},
		{what: "cursor past the end (Check)", method: "CheckCallbacks", msg: &callbacksv1.CheckCallbacksRequest{After: pastEnd},
			rest: "GET /api/admin/llm-callbacks/check?after=" + pastEnd, http: 400, code: codes.InvalidArgument, reason: "invalid_cursor"},
		{what: "cursor past the end (Watch)", method: "WatchCallbacks", msg: &callbacksv1.WatchCallbacksRequest{Cursor: pastEnd},
			rest: "GET /api/admin/llm-callbacks/watch?cursor=" + pastEnd, http: 400, code: codes.InvalidArgument, reason: "invalid_cursor", beside: true},
		{what: "unknown field", method: "ListCallbacks", json: `{"workflowName":"w","nope":1}`,
			rest: "GET /api/admin/llm-callbacks?workflow_name=w&nope=1", http: 400, code: codes.InvalidArgument, reason: "unknown_field"},
		{what: "unknown field in a body", method: "SendTestCallback", json: `{"nope":1}`,
			rest: "POST /api/admin/llm-callbacks/test", restBody: `{"nope":1}`, http: 400, code: codes.InvalidArgument, reason: "unknown_field"},
		{what: "message not protobuf or JSON", method: "ListCallbacks", wire: []byte{0xff, 0xff, 0xff}, json: `[1,2`,
			http: 400, code: codes.InvalidArgument, reason: "malformed_request"},
		{what: "body not JSON", method: "SendTestCallback", json: `{"eventType":`,
			rest: "POST /api/admin/llm-callbacks/test", restBody: `{"eventType":`, http: 400, code: codes.InvalidArgument, reason: "malformed_request"},
		{what: "query not URL-encoded", method: "ListCallbacks",
			rest: "GET /api/admin/llm-callbacks?workflow_name=%zz", http: 400, code: codes.InvalidArgument, reason: "malformed_request"},
		{what: "REST method not allowed on a route", method: "ListCallbacks",
			rest: "DELETE /api/admin/llm-callbacks", http: 405, code: codes.Unimplemented, reason: "method_not_allowed"},
		{what: "search query too long (List)", method: "ListCallbacks", msg: &callbacksv1.ListCallbacksRequest{Query: strings.Repeat("a", callback.MaxQueryBytes+1)},
			rest: "GET /api/admin/llm-callbacks?q=" + strings.Repeat("a", callback.MaxQueryBytes+1), http: 400, code: codes.InvalidArgument, reason: "invalid_query", beside: true},
		{what: "search query with too many terms (MarkAllViewed)", method: "MarkAllViewed", msg: &callbacksv1.MarkAllViewedRequest{Query: strings.Repeat("a ", callback.MaxQueryTerms+1)},
			rest: "POST /api/admin/llm-callbacks/view-all", restBody: `{"q":"` + strings.Repeat("a ", callback.MaxQueryTerms+1) + `"}`, http: 400, code: codes.InvalidArgument, reason: "invalid_query"},
		{what: "stats bucket an unknown number", method: "GetCallbackStats", msg: &callbacksv1.GetCallbackStatsRequest{Bucket: 99},
			rest: "GET /api/admin/llm-callbacks/stats?bucket=99", http: 400, code: codes.InvalidArgument, reason: "invalid_bucket"},
		{what: "stats range with too many buckets", method: "GetCallbackStats",
			msg:  &callbacksv1.GetCallbackStatsRequest{Bucket: callbacksv1.StatsBucket_STATS_BUCKET_MINUTE, CreateTimeAfter: timestamppb.New(time.Unix(0, 0))},
			rest: "GET /api/admin/llm-callbacks/stats?bucket=STATS_BUCKET_MINUTE&create_time_after=1970-01-01T00:00:00Z", http: 400, code: codes.InvalidArgument, reason: "invalid_range"},
		{what: "stats range that ends before it starts", method: "GetCallbackStats",
			msg:  &callbacksv1.GetCallbackStatsRequest{CreateTimeAfter: timestamppb.New(time.Unix(1000, 0)), CreateTimeBefore: timestamppb.New(time.Unix(10, 0))},
			rest: "GET /api/admin/llm-callbacks/stats?create_time_after=1970-01-01T00:16:40Z&create_time_before=1970-01-01T00:00:10Z", http: 400, code: codes.InvalidArgument, reason: "invalid_range"},
		{what: "test event type unknown", method: "SendTestCallback", msg: &callbacksv1.SendTestCallbackRequest{EventType: "nope"},
			rest: "POST /api/admin/llm-callbacks/test", restBody: `{"event_type":"nope"}`, http: 400, code: codes.InvalidArgument, reason: "invalid_event_type"},
		// ReplayCallback on a server with the default policy: every target
		// that is not a public address is refused before anything is sent,
		// by address or by a name that resolves to one.
		replayRow("target not http(s)", env, "file:///etc/passwd", "", "", 400, codes.InvalidArgument, "invalid_replay_target", true),
		replayRow("target with credentials", env, "https://user:pass@example.com/", "", "", 400, codes.InvalidArgument, "invalid_replay_target", false),
		replayRow("target missing", env, "", "", "", 400, codes.InvalidArgument, "invalid_replay_target", false),
		replayRow("target on loopback", env, "http://127.0.0.1:9/hook", "", "", 403, codes.PermissionDenied, "replay_target_forbidden", true),
		replayRow("target named localhost", env, "http://localhost:9/hook", "", "", 403, codes.PermissionDenied, "replay_target_forbidden", false),
		replayRow("target the cloud metadata address", env, "http://169.254.169.254/latest/meta-data/", "", "", 403, codes.PermissionDenied, "replay_target_forbidden", false),
		replayRow("target private (RFC 1918)", env, "http://10.0.0.1/", "", "", 403, codes.PermissionDenied, "replay_target_forbidden", false),
		replayRow("target IPv6 unique local", env, "http://[fd00::1]/", "", "", 403, codes.PermissionDenied, "replay_target_forbidden", false),
		replayRow("replay scheme without a secret", env, "https://example.com/", "", "github", 400, codes.InvalidArgument, "invalid_replay_signature", false),
		replayRow("replay scheme unknown", env, "https://example.com/", "s3cret", "md5", 400, codes.InvalidArgument, "invalid_replay_signature", false),
		replayRow("replay standard-webhooks secret not whsec_", env, "https://example.com/", "s3cret", "standard-webhooks", 400, codes.InvalidArgument, "invalid_replay_signature", false),
		{what: "replay of an unknown id", method: "ReplayCallback", msg: &callbacksv1.ReplayCallbackRequest{Id: unknown, TargetUrl: "https://example.com/"},
			rest: "POST /api/admin/llm-callbacks/" + unknown + "/replay", restBody: `{"target_url":"https://example.com/"}`, http: 404, code: codes.NotFound, reason: "not_found"},
		{what: "replay id not a UUID", method: "ReplayCallback", msg: &callbacksv1.ReplayCallbackRequest{Id: "nope", TargetUrl: "https://example.com/"},
			rest: "POST /api/admin/llm-callbacks/nope/replay", restBody: `{"target_url":"https://example.com/"}`, http: 400, code: codes.InvalidArgument, reason: "invalid_id"},
		// The webhook: a signed body that is not UTF-8, and a forged one.
		{what: "webhook body not UTF-8", service: "CallbackIngestService", method: "IngestCallback",
			msg: &callbacksv1.IngestCallbackRequest{Body: notUTF8Body}, rest: "POST /api/webhooks/llm-callback", restBody: string(notUTF8Body),
			header: map[string]string{"X-Webhook-Signature": webhook.SignLLM(testSecret, notUTF8Body)},
			http:   400, code: codes.InvalidArgument, reason: "invalid_utf8", beside: true},
		{what: "webhook signature mismatch", service: "CallbackIngestService", method: "IngestCallback",
			msg: &callbacksv1.IngestCallbackRequest{Body: []byte(`{}`)}, rest: "POST /api/webhooks/llm-callback", restBody: `{}`,
			header: map[string]string{"X-Webhook-Signature": webhook.SignLLM("wrong", []byte(`{}`))},
			http:   401, code: codes.Unauthenticated, reason: "signature_mismatch"},
	}...)
}

// replayRow is a ReplayCallback row for the stored callback of env.
func replayRow(what string, env badInputEnv, target, secret, scheme string, status int, code codes.Code, reason string, beside bool) badInput {
	msg := &callbacksv1.ReplayCallbackRequest{Id: env.callbackID, TargetUrl: target, Secret: secret, SignatureScheme: scheme}
	body, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		panic(err)
	}
	return badInput{what: what, method: "ReplayCallback", msg: msg, rest: "POST /api/admin/llm-callbacks/" + env.callbackID + "/replay", restBody: string(body),
		http: status, code: code, reason: reason, beside: beside}
}

// protocols are the ways a row is sent.
var protocols = []string{"grpc", "grpcweb", "connect", "connect+json", "rest"}

// TestBadInputs sends every row of the table on every protocol, on both
// databases, and requires the documented code and reason everywhere; rows
// marked beside run while legitimate deliveries flow, which must be
// untouched.
func TestBadInputs(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		ingestN(t, srv, 3)
		first, err := adminClient(srv).ListCallbacks(t.Context(), connect.NewRequest(&callbacksv1.ListCallbacksRequest{PageSize: 1}))
		require.NoError(t, err)
		env := badInputEnv{token: first.Msg.GetNextPageToken(), callbackID: first.Msg.GetCallbacks()[0].GetId()}
		require.NotEmpty(t, env.token)
		conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })

		for _, row := range badInputs(t, env) {
			t.Run(row.what, func(t *testing.T) {
				send := func() {
					sent := 0
					for _, p := range protocols {
						if answer, ok := sendBadInput(t, srv, conn, row, p, "Bearer "+srv.token); ok {
							sent++
							require.Equal(t, row.code.String(), answer.code.String(), "%s: %s", p, answer.detail)
							require.Equal(t, row.reason, answer.reason, "%s: %s", p, answer.detail)
							if p == "rest" {
								require.Equal(t, row.http, answer.http, "%s: %s", p, answer.detail)
							}
						}
					}
					require.Positive(t, sent)
				}
				if row.beside {
					besideLegitimateTraffic(t, srv, send)
				} else {
					send()
				}
			})
		}
	})
}

// TestBadInputsNeedACredentialFirst: the admin rows of the table, sent
// without a credential, are answered 401 on every protocol, before their
// request is looked at; only REST answers a bad URL first.
func TestBadInputsNeedACredentialFirst(t *testing.T) {
	t.Parallel()
	// Every row fails authentication from one address: no failure limit.
	srv := startServer(t, "", "--admin-auth-failure-rate", "0")
	conn, err := grpc.NewClient(srv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	for _, row := range badInputs(t, badInputEnv{token: base64.RawURLEncoding.EncodeToString([]byte(`{"t":0}`))}) {
		if row.service != "" {
			continue
		}
		for _, p := range protocols {
			answer, ok := sendBadInput(t, srv, conn, row, p, "")
			if !ok {
				continue
			}
			require.Equal(t, codes.Unauthenticated.String(), answer.code.String(), "%s %s: %s", row.what, p, answer.detail)
			require.Equal(t, "unauthenticated", answer.reason, "%s %s: %s", row.what, p, answer.detail)
		}
	}
}

// badAnswer is what one protocol answered.
type badAnswer struct {
	code   codes.Code
	reason string
	http   int    // REST only
	detail string // for failure messages
}

// sendBadInput sends row over protocol; ok is false when the row has no
// form for it.
func sendBadInput(t *testing.T, srv running, conn *grpc.ClientConn, row badInput, protocol, authz string) (badAnswer, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	service := row.service
	if service == "" {
		service = "CallbackAdminService"
	}
	procedure := "/callbacks.v1." + service + "/" + row.method
	streaming := row.method == "WatchCallbacks"
	header := map[string]string{}
	if authz != "" {
		header["Authorization"] = authz
	}
	for k, v := range row.header {
		header[k] = v
	}
	var body []byte
	switch protocol {
	case "rest":
		if row.rest == "" {
			return badAnswer{}, false
		}
		return sendREST(t, ctx, srv, row, header), true
	case "connect+json":
		switch {
		case row.json != "":
			body = []byte(row.json)
		case row.msg != nil:
			b, err := protojson.Marshal(row.msg)
			require.NoError(t, err)
			body = b
		default:
			return badAnswer{}, false
		}
	default:
		switch {
		case row.wire != nil:
			body = row.wire
		case row.msg != nil:
			b, err := proto.Marshal(row.msg)
			require.NoError(t, err)
			body = b
		default:
			return badAnswer{}, false
		}
	}
	if protocol == "grpc" {
		md := metadata.MD{}
		for k, v := range header {
			md.Set(k, v)
		}
		ctx = metadata.NewOutgoingContext(ctx, md)
		var err error
		if streaming {
			var stream grpc.ClientStream
			stream, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, procedure, grpc.ForceCodec(rawCodec{"proto"}))
			if err == nil {
				if err = stream.SendMsg(&body); err == nil {
					_ = stream.CloseSend()
					var out []byte
					err = stream.RecvMsg(&out)
				}
			}
		} else {
			var out []byte
			err = conn.Invoke(ctx, procedure, &body, &out, grpc.ForceCodec(rawCodec{"proto"}))
		}
		st := status.Convert(err)
		return badAnswer{code: st.Code(), reason: grpcReason(err), detail: fmt.Sprint(err)}, true
	}
	opts := []connect.ClientOption{connect.WithCodec(rawCodec{"proto"})}
	switch protocol {
	case "grpcweb":
		opts = append(opts, connect.WithGRPCWeb())
	case "connect+json":
		opts = []connect.ClientOption{connect.WithCodec(rawCodec{"json"})}
	}
	client := connect.NewClient[[]byte, []byte](http.DefaultClient, srv.base+procedure, opts...)
	req := connect.NewRequest(&body)
	for k, v := range header {
		req.Header().Set(k, v)
	}
	var err error
	if streaming {
		stream, serr := client.CallServerStream(ctx, req)
		err = serr
		if serr == nil {
			if !stream.Receive() {
				err = stream.Err()
			}
			_ = stream.Close()
		}
	} else {
		_, err = client.CallUnary(ctx, req)
	}
	if err == nil {
		return badAnswer{code: codes.OK}, true
	}
	var ce *connect.Error
	require.ErrorAs(t, err, &ce)
	a := badAnswer{code: codes.Code(ce.Code()), detail: err.Error()}
	for _, d := range ce.Details() {
		v, derr := d.Value()
		if info, ok := v.(*errdetails.ErrorInfo); derr == nil && ok && info.GetDomain() == "callbackd" {
			a.reason = info.GetReason()
		}
	}
	return a, true
}

// sendREST sends the row's REST request. A watch that opens (200) is read
// until its first line, which must be a heartbeat.
func sendREST(t *testing.T, ctx context.Context, srv running, row badInput, header map[string]string) badAnswer {
	t.Helper()
	method, path, _ := strings.Cut(row.rest, " ")
	var body io.Reader
	if row.restBody != "" {
		body = strings.NewReader(row.restBody)
	}
	req, err := http.NewRequestWithContext(ctx, method, srv.base+path, body)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	line, _ := readLine(res.Body)
	a := badAnswer{http: res.StatusCode, code: codes.OK, detail: fmt.Sprintf("%d %s", res.StatusCode, line)}
	if res.StatusCode == http.StatusOK {
		return a
	}
	// Every REST error, a watch's before its first message included, has
	// the one REST error body.
	var e struct {
		Code    string `json:"code"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&e), a.detail)
	require.Equal(t, "application/json", res.Header.Get("Content-Type"), a.detail)
	a.reason = e.Reason
	var c connect.Code
	require.NoError(t, c.UnmarshalText([]byte(e.Code)), a.detail)
	a.code = codes.Code(c)
	return a
}

// readLine reads up to the first newline.
func readLine(r io.Reader) ([]byte, error) {
	var out []byte
	buf := make([]byte, 1)
	for len(out) < 1<<20 {
		n, err := r.Read(buf)
		if n > 0 {
			if buf[0] == '\n' {
				return out, nil
			}
			out = append(out, buf[0])
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// rawCodec sends and receives []byte as they are, so that a test can send
// what a generated client refuses to encode. Other messages (the error
// details of gRPC statuses) are protobuf.
type rawCodec struct{ name string }

func (c rawCodec) Name() string { return c.name }

func (rawCodec) Marshal(v any) ([]byte, error) {
	if b, ok := v.(*[]byte); ok {
		return *b, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	if b, ok := v.(*[]byte); ok {
		*b = append([]byte(nil), data...)
		return nil
	}
	return proto.Unmarshal(data, v.(proto.Message))
}

// TestBadInputTableIsDocumented: every answer of the table is a row of
// docs/errors.md, and every 4xx row of its admin table is in the table.
func TestBadInputTableIsDocumented(t *testing.T) {
	t.Parallel()
	webhookRows, adminRows := docRows(t)
	documented := map[string]bool{}
	for _, r := range append(webhookRows, adminRows...) {
		documented[r] = true
	}
	tested := map[string]bool{}
	for _, row := range badInputs(t, badInputEnv{}) {
		key := answerKey(row.http, row.code, row.reason)
		tested[key] = true
		require.True(t, documented[key], "%s: %s is in no row of docs/errors.md", row.what, key)
	}
	// Rows about admission (who may send how much, how often) are tested in
	// admission_test.go, since they need their own servers and limits.
	admission := map[string]string{
		"429 RESOURCE_EXHAUSTED rate_limited":      "TestFailedAdminAuthIsThrottled",
		"413 RESOURCE_EXHAUSTED request_too_large": "TestAdminRequestSizeLimit",
		"429 RESOURCE_EXHAUSTED too_many_streams":  "TestStreamCaps",
		"400 INVALID_ARGUMENT body_unreadable":     "TestAdminBodyUnreadable",
		// A server started with --no-replay.
		"403 FAILED_PRECONDITION replay_disabled": "TestReplay",
	}
	for _, r := range adminRows {
		if strings.HasPrefix(r, "4") && admission[r] == "" && !strings.Contains(r, "unauthenticated") && !strings.Contains(r, "permission_denied") && !strings.Contains(r, "route_not_found") {
			require.True(t, tested[r], "docs/errors.md admin row %s has no row in badInputs", r)
		}
	}
}

// answerKey is "HTTP gRPC-code reason", as docs/errors.md writes them.
func answerKey(httpStatus int, code codes.Code, reason string) string {
	if reason == "" {
		reason = "—"
	}
	name := "OK"
	if code != codes.OK {
		name = strings.ToUpper(connect.Code(code).String())
	}
	return fmt.Sprintf("%d %s %s", httpStatus, name, reason)
}

// docRows reads the webhook and admin tables of docs/errors.md as answer
// keys (see answerKey). A row whose HTTP cell is not a status (a stream that
// ends) is skipped.
func docRows(t *testing.T) (webhookRows, adminRows []string) {
	t.Helper()
	for _, row := range errdocs.Rows(t, "../../docs/errors.md") {
		if row.HTTP == 0 {
			continue
		}
		key := fmt.Sprintf("%d %s %s", row.HTTP, row.Code, row.Reason)
		switch {
		case strings.Contains(row.Section, "Webhook"):
			webhookRows = append(webhookRows, key)
		case strings.Contains(row.Section, "Admin"):
			adminRows = append(adminRows, key)
		}
	}
	require.NotEmpty(t, adminRows)
	require.NotEmpty(t, webhookRows)
	return webhookRows, adminRows
}
