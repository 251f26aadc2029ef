package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"connectrpc.com/connect"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/ingest"
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
// gRPC, gRPC-Web and Connect callers.
type ingestHandler struct {
	callbacksv1connect.UnimplementedCallbackIngestServiceHandler
	ingester Ingester
	// trusted are the proxies whose X-Forwarded-For names the sender, as on
	// the REST route.
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
		return nil, toConnectError(err)
	}
	return connect.NewResponse(ingestResponse(res)), nil
}

// gatewayIngester serves the REST webhook route: the gateway calls it in
// process, without the gRPC hop that admin routes take. That hop is what lets
// admin requests share the auth interceptor and stream; a webhook needs
// neither (its signature is checked by the ingester, and the RPC is unary),
// and on the busiest route the hop's second HTTP/2 exchange and protobuf
// round trip cost as much CPU as verifying and storing the delivery.
//
// The gateway hands it the body; the headers and the sender's address come
// from the HTTP request itself, which limitBody puts in the context. A
// direct gRPC or Connect caller never reaches this code, so it cannot pose
// as an HTTP sender.
type gatewayIngester struct {
	callbacksv1.UnimplementedCallbackIngestServiceServer
	ingester Ingester
	log      *slog.Logger
}

// IngestCallback passes the raw HTTP body and headers through.
func (g *gatewayIngester) IngestCallback(ctx context.Context, req *callbacksv1.IngestCallbackRequest) (_ *callbacksv1.IngestCallbackResponse, err error) {
	defer recoverHandler(ctx, g.log, callbacksv1connect.CallbackIngestServiceIngestCallbackProcedure, &err)
	hr, ok := ctx.Value(webhookRequestKey{}).(webhookRequest)
	if !ok {
		return nil, errors.New("webhook route without limitBody") // a wiring bug: 500
	}
	res, err := g.ingester.Ingest(ctx, ingest.Request{
		Body:        req.GetBody(),
		Header:      forwarded(hr.header.Values),
		ContentType: hr.header.Get("Content-Type"),
		HTTP:        true,
		UserAgent:   hr.header.Get("User-Agent"),
		RemoteAddr:  hr.remoteAddr,
		RequestID:   requestIDFrom(ctx),
	})
	if err != nil {
		return nil, err // gatewayError answers domain errors through decide
	}
	return ingestResponse(res), nil
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

// isStreamRoute reports whether a path serves a long-lived server stream.
func isStreamRoute(path string) bool {
	return strings.HasSuffix(path, "/WatchCallbacks") ||
		strings.HasSuffix(path, "/ServerReflectionInfo") ||
		strings.HasSuffix(path, "/grpc.health.v1.Health/Watch") ||
		path == "/api/admin/llm-callbacks/watch"
}
