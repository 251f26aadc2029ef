package server

import (
	"context"
	"net/http"
	"strings"

	"connectrpc.com/connect"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/ingest"
)

// Ingester stores verified deliveries; package ingest implements it.
type Ingester interface {
	Ingest(ctx context.Context, req ingest.Request) (ingest.Result, error)
	// Rejections returns recently refused deliveries, newest first.
	Rejections() []ingest.Rejection
}

// ingestHandler adapts CallbackIngestService to an Ingester.
type ingestHandler struct {
	callbacksv1connect.UnimplementedCallbackIngestServiceHandler
	ingester Ingester
}

// IngestCallback passes the raw body and the signature metadata through.
func (h *ingestHandler) IngestCallback(ctx context.Context, req *connect.Request[callbacksv1.IngestCallbackRequest]) (*connect.Response[callbacksv1.IngestCallbackResponse], error) {
	in := ingest.Request{
		Body:       req.Msg.GetBody(),
		Header:     http.Header{},
		RemoteAddr: req.Peer().Addr,
		RequestID:  requestIDFrom(ctx),
	}
	for k := range forwardedHeaders {
		if v := req.Header().Values(k); len(v) > 0 {
			in.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	in.UserAgent = req.Header().Get("User-Agent")
	if fromGateway(ctx) {
		in.HTTP = true
		in.ContentType = req.Header().Get(mdContentType)
		in.UserAgent = req.Header().Get(mdUserAgent)
		in.RemoteAddr = req.Header().Get(mdRemoteAddr)
		in.RequestID = req.Header().Get(mdRequestID)
	}
	res, err := h.ingester.Ingest(ctx, in)
	if err != nil {
		return nil, toConnectError(err)
	}
	return connect.NewResponse(&callbacksv1.IngestCallbackResponse{
		Id:         res.ID.String(),
		CallbackId: res.Key,
		Duplicate:  res.Duplicate,
	}), nil
}

// gatewayKey marks contexts of requests that came through the gateway's
// in-process connection.
type gatewayKey struct{}

// markGateway tags every request on the gateway's in-process listener. Only
// those requests may carry callbackd-* metadata describing the original HTTP
// request.
func markGateway(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), gatewayKey{}, true)))
	})
}

// fromGateway reports whether ctx belongs to a request relayed by the gateway.
func fromGateway(ctx context.Context) bool {
	v, _ := ctx.Value(gatewayKey{}).(bool)
	return v
}

// isStreamRoute reports whether a path serves a long-lived server stream.
func isStreamRoute(path string) bool {
	return strings.HasSuffix(path, "/WatchCallbacks") ||
		strings.HasSuffix(path, "/ServerReflectionInfo") ||
		strings.HasSuffix(path, "/grpc.health.v1.Health/Watch") ||
		path == "/api/admin/llm-callbacks/watch"
}
