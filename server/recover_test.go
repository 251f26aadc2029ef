package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/stretchr/testify/require"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/ingest"
)

// panickingIngester fails the way a bug would.
type panickingIngester struct{}

func (panickingIngester) Ingest(context.Context, ingest.Request) (ingest.Result, error) {
	panic("bug in the ingester")
}

func (panickingIngester) Rejections() []ingest.Rejection { return nil }

func (panickingIngester) Reject(context.Context, ingest.Request, int64, error) {}

// TestHandlerPanicBecomesInternal: a panicking ingester answers Internal
// over a real HTTP connection, and logs the panic, on both paths that
// recover: the Connect interceptor and the webhook route.
func TestHandlerPanicBecomesInternal(t *testing.T) {
	t.Parallel()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))

	path, handler := callbacksv1connect.NewCallbackIngestServiceHandler(
		&ingestHandler{ingester: panickingIngester{}}, connect.WithInterceptors(newErrorInterceptor(log)))
	mux := http.NewServeMux()
	mux.Handle(path, handler)
	mux.Handle("POST "+webhookPath, &webhookHandler{limit: 1 << 10, ingester: panickingIngester{}, log: log})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	client := callbacksv1connect.NewCallbackIngestServiceClient(srv.Client(), srv.URL)
	_, err := client.IngestCallback(t.Context(), connect.NewRequest(&callbacksv1.IngestCallbackRequest{Body: []byte(`{}`)}))
	require.Equal(t, connect.CodeInternal, connect.CodeOf(err), "%v", err)
	require.Contains(t, logged.String(), "bug in the ingester")

	logged.Reset()
	res, err := srv.Client().Post(srv.URL+webhookPath, "application/json", strings.NewReader(`{}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusInternalServerError, res.StatusCode, "%s", body)
	require.JSONEq(t, `{"code":"internal","reason":"internal","message":"internal error"}`, string(body))
	require.Contains(t, logged.String(), "bug in the ingester")
}
