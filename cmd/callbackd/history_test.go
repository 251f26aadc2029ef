package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/webhook"
)

// deliverPayload signs payload as the LLM service does and posts it.
func deliverPayload(t *testing.T, base string, payload map[string]any) {
	t.Helper()
	body, err := webhook.PythonJSON(payload)
	require.NoError(t, err)
	res := delivery{body: body, headers: map[string]string{"X-Webhook-Signature": webhook.SignLLM(testSecret, body)}}.send(t, base)
	require.Equal(t, http.StatusOK, res.status, res.body)
}

// TestHistoryRPCs runs search, counts, statistics and MarkAllViewed on every
// protocol (gRPC, gRPC-Web, Connect, REST) and both databases.
func TestHistoryRPCs(t *testing.T) {
	t.Parallel()
	databases(t, func(t *testing.T, databaseURL string) {
		srv := startServer(t, databaseURL)
		for i := range 3 {
			deliverPayload(t, srv.base, map[string]any{"event": "workflow.failed", "job_id": fmt.Sprintf("fa11ed%02d-0000-4000-8000-000000000000", i),
				"workflow_name": "translate", "status": "failed", "error_message": "LLM provider timed out",
				"error": map[string]any{"category": "provider"}, "duration_ms": 1000 * (i + 1), "timestamp": "2025-12-20T10:30:00.123456+00:00Z"})
		}
		for i := range 2 {
			deliverPayload(t, srv.base, map[string]any{"event": "llm.step.completed", "job_id": fmt.Sprintf("5bc0de%02d-0000-4000-8000-000000000000", i),
				"workflow_name": "summarise", "step_id": "extract", "result": map[string]any{"text": "quarterly figures"},
				"tokens": map[string]any{"prompt": 100, "completion": 20, "total": 120}, "cost_usd": 0.5, "duration_ms": 10, "timestamp": "2025-12-20T10:30:00.123456+00:00Z"})
		}

		clients := map[string]callbacksv1connect.CallbackAdminServiceClient{
			"connect": callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base),
			"grpc":    callbacksv1connect.NewCallbackAdminServiceClient(h2cClient(), srv.base, connect.WithGRPC()),
			"grpcweb": callbacksv1connect.NewCallbackAdminServiceClient(http.DefaultClient, srv.base, connect.WithGRPCWeb()),
		}
		// The protocols run one after the other, as one admin: the first
		// MarkAllViewed leaves 2 of the 5 unviewed, and repeating it changes
		// nothing.
		wantUnviewed := int64(5)
		for name, client := range clients {
			t.Run(name, func(t *testing.T) {
				ctx := t.Context()
				auth := func(r connect.AnyRequest) { r.Header().Set("Authorization", "Bearer "+srv.token) }
				listReq := connect.NewRequest(&callbacksv1.ListCallbacksRequest{Query: "timed out", PageSize: 2, IncludeTotalSize: true, IncludeUnviewedCount: true})
				auth(listReq)
				list, err := client.ListCallbacks(ctx, listReq)
				require.NoError(t, err)
				require.Len(t, list.Msg.GetCallbacks(), 2)
				require.NotEmpty(t, list.Msg.GetNextPageToken())
				require.Equal(t, int64(3), list.Msg.GetTotalSize())
				require.False(t, list.Msg.GetTotalSizeIsEstimate())
				require.Equal(t, wantUnviewed, list.Msg.GetUnviewedCount())

				statsReq := connect.NewRequest(&callbacksv1.GetCallbackStatsRequest{Bucket: callbacksv1.StatsBucket_STATS_BUCKET_DAY})
				auth(statsReq)
				stats, err := client.GetCallbackStats(ctx, statsReq)
				require.NoError(t, err)
				total := stats.Msg.GetTotal()
				require.Equal(t, int64(5), total.GetCount())
				require.Equal(t, int64(3), total.GetFailuresByCategory()["provider"])
				require.Equal(t, int64(240), total.GetTotalTokens())
				require.InDelta(t, 1.0, total.GetCostUsd(), 1e-9)
				require.Equal(t, int64(3), total.GetDurationCount())
				require.Equal(t, int64(2000), total.GetDurationP50Ms())
				require.Len(t, stats.Msg.GetWorkflows(), 2)
				require.NotEmpty(t, stats.Msg.GetBuckets())

				markReq := connect.NewRequest(&callbacksv1.MarkAllViewedRequest{Query: "translate", Status: callbacksv1.CallbackStatus_CALLBACK_STATUS_ERROR})
				auth(markReq)
				_, err = client.MarkAllViewed(ctx, markReq)
				require.NoError(t, err)
				listReq = connect.NewRequest(&callbacksv1.ListCallbacksRequest{IncludeUnviewedCount: true, PageSize: 1})
				auth(listReq)
				list, err = client.ListCallbacks(ctx, listReq)
				require.NoError(t, err)
				require.Equal(t, int64(2), list.Msg.GetUnviewedCount())
				wantUnviewed = 2
			})
		}

		t.Run("rest", func(t *testing.T) {
			get := func(path string) map[string]any {
				t.Helper()
				return restJSON(t, srv, http.MethodGet, path, "")
			}
			page := get("/api/admin/llm-callbacks?q=" + url.QueryEscape(`"quarterly figures"`) + "&include_total_size=true")
			require.Len(t, page["callbacks"], 2)
			require.Equal(t, "2", page["total_size"], "int64 is a JSON string")
			page = get("/api/admin/llm-callbacks?q=5bc0de01")
			require.Len(t, page["callbacks"], 1, "job id prefix")

			stats := get("/api/admin/llm-callbacks/stats?bucket=STATS_BUCKET_HOUR&workflow_name=summarise")
			total := stats["total"].(map[string]any)
			require.Equal(t, "2", total["count"])
			require.Equal(t, "200", total["prompt_tokens"])

			marked := restJSON(t, srv, http.MethodPost, "/api/admin/llm-callbacks/view-all", `{"q":"summarise"}`)
			require.Equal(t, "2", marked["marked"])
			again := restJSON(t, srv, http.MethodPost, "/api/admin/llm-callbacks/view-all", `{}`)
			require.Contains(t, []any{nil, "0"}, again["marked"], "everything was viewed already")
			counts := get("/api/admin/llm-callbacks?include_unviewed_count=true&page_size=1")
			require.Contains(t, []any{nil, "0"}, counts["unviewed_count"])
		})

		t.Run("one viewed_many event", func(t *testing.T) {
			ctx := t.Context()
			client := clients["connect"]
			checkReq := connect.NewRequest(&callbacksv1.CheckCallbacksRequest{})
			checkReq.Header().Set("Authorization", "Bearer "+srv.token)
			start, err := client.CheckCallbacks(ctx, checkReq)
			require.NoError(t, err)
			deliverPayload(t, srv.base, map[string]any{"event": "job.cancelled", "job_id": uuid.NewString(), "timestamp": time.Now().Format(time.RFC3339)})
			deliverPayload(t, srv.base, map[string]any{"event": "job.cancelled", "job_id": uuid.NewString(), "timestamp": time.Now().Format(time.RFC3339)})
			markReq := connect.NewRequest(&callbacksv1.MarkAllViewedRequest{EventType: "job.cancelled", CreateTimeAfter: timestamppb.New(time.Now().Add(-time.Hour))})
			markReq.Header().Set("Authorization", "Bearer "+srv.token)
			marked, err := client.MarkAllViewed(ctx, markReq)
			require.NoError(t, err)
			require.Equal(t, int64(2), marked.Msg.GetMarked())

			checkReq = connect.NewRequest(&callbacksv1.CheckCallbacksRequest{After: start.Msg.GetNextCursor()})
			checkReq.Header().Set("Authorization", "Bearer "+srv.token)
			events, err := client.CheckCallbacks(ctx, checkReq)
			require.NoError(t, err)
			var kinds []string
			for _, e := range events.Msg.GetEvents() {
				switch ev := e.GetEvent().(type) {
				case *callbacksv1.CallbackEvent_Received:
					kinds = append(kinds, "received")
				case *callbacksv1.CallbackEvent_ViewedMany:
					kinds = append(kinds, fmt.Sprintf("viewed_many:%d", ev.ViewedMany.GetCount()))
				default:
					kinds = append(kinds, fmt.Sprintf("%T", ev))
				}
			}
			require.Equal(t, []string{"received", "received", "viewed_many:2"}, kinds)

			// The stream carries the same single event.
			watchReq := connect.NewRequest(&callbacksv1.WatchCallbacksRequest{Cursor: events.Msg.GetEvents()[1].GetCursor()})
			watchReq.Header().Set("Authorization", "Bearer "+srv.token)
			stream, err := client.WatchCallbacks(ctx, watchReq)
			require.NoError(t, err)
			defer stream.Close()
			for stream.Receive() {
				if ev := stream.Msg().GetEvent(); ev != nil {
					require.Equal(t, int64(2), ev.GetViewedMany().GetCount(), "the event after the last received one")
					require.Equal(t, "test", ev.GetViewedMany().GetAdminName())
					break
				}
			}
			require.NoError(t, stream.Err())
		})
	})
}

// restJSON sends an admin REST request and decodes its JSON answer, which
// must be 200.
func restJSON(t *testing.T, srv running, method, path, body string) map[string]any {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+srv.token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, string(b))
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out), string(b))
	return out
}
