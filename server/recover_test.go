package server

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/ingest"
)

// panickingIngester fails the way a bug would.
type panickingIngester struct{}

func (panickingIngester) Ingest(context.Context, ingest.Request) (ingest.Result, error) {
	panic("bug in the ingester")
}

func (panickingIngester) Rejections() []ingest.Rejection { return nil }

func (panickingIngester) Reject(context.Context, ingest.Request, int64, error) {}

// TestHandlerPanicBecomesInternal: a panicking RPC handler answers Internal
// over a real HTTP connection, and logs the panic, on both paths that
// recover: the Connect interceptor and the gateway's in-process webhook
// route.
func TestHandlerPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))

	path, handler := callbacksv1connect.NewCallbackIngestServiceHandler(
		&ingestHandler{ingester: panickingIngester{}}, connect.WithInterceptors(newRecoverInterceptor(log)))
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := callbacksv1connect.NewCallbackIngestServiceClient(srv.Client(), srv.URL)
	_, err := client.IngestCallback(t.Context(), connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: []byte(`{}`)}))
	require.Equal(t, connect.CodeInternal, connect.CodeOf(err), "%v", err)
	require.Contains(t, logged.String(), "bug in the ingester")

	logged.Reset()
	g := &gatewayIngester{ingester: panickingIngester{}, log: log}
	ctx := context.WithValue(t.Context(), webhookRequestKey{}, webhookRequest{header: http.Header{}})
	_, err = g.IngestCallback(ctx, &callbacksv1.IngestCallbackRequest{Body: []byte(`{}`)})
	require.Equal(t, connect.CodeInternal, connect.CodeOf(err), "%v", err)
	require.Contains(t, logged.String(), "bug in the ingester")
}
