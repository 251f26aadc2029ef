package server

import (
	"context"
	"net/http"
	"net/netip"
	"strings"

	"connectrpc.com/connect"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/ingest"
)

// Ingester stores verified deliveries; package ingest implements it.
type Ingester interface {
	Ingest(ctx context.Context, req ingest.Request) (ingest.Result, error)
	// Reject records a delivery that the transport refused before Ingest
	// saw it (oversized, unreadable, or encoded), with what is known of its
	// body's size, so that it is logged, counted and listed like the others.
	Reject(ctx context.Context, req ingest.Request, bodyBytes int64, err error)
	// Rejections returns recently refused deliveries, newest first.
	Rejections() []ingest.Rejection
}

// ingestHandler adapts CallbackIngestService to an Ingester for direct
// gRPC, gRPC-Web and Connect callers. REST senders post to webhookHandler.
type ingestHandler struct {
	callbacksv1connect.UnimplementedCallbackIngestServiceHandler
	ingester Ingester
	// trusted are the proxies whose X-Forwarded-For names the sender, as on
	// the webhook route.
	trusted []netip.Prefix
}

// IngestCallback passes the raw body and the signature metadata through.
func (h *ingestHandler) IngestCallback(ctx context.Context, req *connect.Request[callbacksv1.IngestCallbackRequest]) (*connect.Response[callbacksv1.IngestCallbackResponse], error) {
	in := ingest.Request{
		Body:       req.Msg.GetBody(),
		Header:     forwarded(req.Header().Values),
		UserAgent:  req.Header().Get("User-Agent"),
		RemoteAddr: clientAddr(req.Peer().Addr, req.Header(), h.trusted),
		RequestID:  requestIDFrom(ctx),
	}
	res, err := h.ingester.Ingest(ctx, in)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(ingestResponse(res)), nil
}

// forwarded collects the forwardedHeaders that values (a header lookup)
// holds.
func forwarded(values func(key string) []string) http.Header {
	h := make(http.Header, 4)
	for k := range forwardedHeaders {
		if v := values(k); len(v) > 0 {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	return h
}

// ingestResponse is the answer to an accepted delivery.
func ingestResponse(res ingest.Result) *callbacksv1.IngestCallbackResponse {
	return &callbacksv1.IngestCallbackResponse{
		Id:         res.ID.String(),
		CallbackId: res.Key,
		Duplicate:  res.Duplicate,
	}
}

// restWatchPath is the REST route of WatchCallbacks (NDJSON).
const restWatchPath = "/api/admin/llm-callbacks/watch"

// isStreamRoute reports whether a path serves a long-lived server stream.
func isStreamRoute(path string) bool {
	return strings.HasSuffix(path, "/WatchCallbacks") ||
		strings.HasSuffix(path, "/ServerReflectionInfo") ||
		strings.HasSuffix(path, "/grpc.health.v1.Health/Watch") ||
		path == restWatchPath
}
