package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/webhook"
)

// forwardedHeaders are the HTTP headers passed to handlers as metadata under
// their own (lower-case) names: every header the webhook verifier reads, the
// event name and the admin credential.
var forwardedHeaders = func() map[string]bool {
	set := map[string]bool{"x-webhook-event": true, "authorization": true}
	for _, h := range webhook.Headers() {
		set[strings.ToLower(h)] = true
	}
	return set
}()

// headerMatcher forwards the signature headers and the credential unchanged,
// and nothing else: the gateway is not a generic header proxy.
func headerMatcher(key string) (string, bool) {
	k := strings.ToLower(key)
	return k, forwardedHeaders[k]
}

// jsonMarshaler is the gateway's JSON marshaler, except that request bodies
// are decoded strictly by decodeJSONBody (see there).
type jsonMarshaler struct {
	*runtime.JSONPb
}

// StreamContentType names what a server stream (the REST watch) is: one JSON
// value per line, not one JSON document.
func (jsonMarshaler) StreamContentType(any) string { return "application/x-ndjson" }

// NewDecoder returns a decoder that decodes protobuf messages with
// decodeJSONBody.
func (m jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	inner := m.JSONPb.NewDecoder(r)
	return runtime.DecoderFunc(func(v any) error {
		if pm, ok := v.(proto.Message); ok {
			return decodeJSONBody(r, pm)
		}
		return inner.Decode(v)
	})
}

// newGateway builds the REST gateway of the admin API. It calls the admin
// RPC handlers through conn, a gRPC client connection to this same server,
// so that admin REST requests pass the same interceptors as gRPC and Connect
// ones and server streams work (the gateway's in-process mode supports
// neither). The webhook route is not the gateway's (see webhookHandler), and
// neither is the REST watch (see restWatch).
func newGateway(ctx context.Context, conn *grpc.ClientConn) (*runtime.ServeMux, error) {
	marshaler := jsonMarshaler{&runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
	}}
	mux := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithIncomingHeaderMatcher(headerMatcher),
		runtime.WithOutgoingHeaderMatcher(func(string) (string, bool) { return "", false }),
		runtime.WithErrorHandler(gatewayError),
		setQueryParser(),
		runtime.WithMiddlewares(checkPathParams),
		runtime.WithRoutingErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, httpStatus int) {
			writeRouteError(w, httpStatus)
		}),
	)
	if err := callbacksv1.RegisterCallbackAdminServiceHandler(ctx, mux, conn); err != nil {
		return nil, fmt.Errorf("register admin gateway: %w", err)
	}
	return mux, nil
}

// checkPathParams refuses REST path parameters (callback ids) that are not
// UTF-8, which the gateway would put in a request that cannot be marshalled,
// and admin query strings that do not parse, which the gateway would answer
// with a bare 400. The values of query parameters and bodies are checked by
// queryParser and decodeJSONBody.
func checkPathParams(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if strings.HasPrefix(r.URL.Path, "/api/admin/") {
			if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
				writeError(w, apierror.New(apierror.MalformedRequest, "query: not URL-encoded"))
				return
			}
		}
		for name, v := range params {
			if !utf8.ValidString(v) {
				writeError(w, apierror.New(apierror.InvalidUTF8, name+": not valid UTF-8"))
				return
			}
		}
		next(w, r, params)
	}
}

// gatewayError writes the gateway's errors as a small JSON body. Errors from
// the gRPC hop (and from the gateway runtime) are gRPC statuses, whose HTTP
// status toConnectError chose and carried in ErrorInfo; any other error is
// answered through decide.
func gatewayError(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, err error) {
	if _, ok := status.FromError(err); !ok {
		writeError(w, err)
		return
	}
	writeRPCError(w, err)
}

// writeRouteError answers a REST request that matches no route (the
// gateway says 404) or none with its method (405).
func writeRouteError(w http.ResponseWriter, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		writeError(w, apierror.New(apierror.MethodNotAllowed, "method not allowed"))
		return
	}
	writeError(w, apierror.New(apierror.RouteNotFound, "no such route"))
}

// writeJSONError writes one REST error, with a Content-Length so that the
// answer is complete even if the connection is dropped right after it.
func writeJSONError(w http.ResponseWriter, httpStatus int, body errorBody) {
	b, _ := json.Marshal(body)
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(b)
}

// dialSelf opens the gateway's client connection through dial, an in-process
// pipe to the server's own HTTP/2 handler.
func dialSelf(dial func(context.Context, string) (net.Conn, error), extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///callbackd-internal", append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("dial gateway connection: %w", err)
	}
	return conn, nil
}

// queryParserOnce guards grpc-gateway's process-wide query parser, which
// SetQueryParameterParser writes (it has no per-mux form): every server of
// the process wants the same stateless queryParser, and setting it again
// from servers built concurrently would be a data race.
var queryParserOnce sync.Once

// setQueryParser installs queryParser, once per process and before the
// returned option reaches any mux, so that no server reads the parser while
// another writes it. The option itself does nothing.
func setQueryParser() runtime.ServeMuxOption {
	queryParserOnce.Do(func() { runtime.SetQueryParameterParser(queryParser{})(nil) })
	return func(*runtime.ServeMux) {}
}
