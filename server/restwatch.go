package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	callbacksv1 "github.com/callbackd/callbackd/gen/callbacks/v1"
	"github.com/callbackd/callbackd/internal/apierror"
)

// restWatch serves WatchCallbacks over REST as NDJSON: one
// {"result": WatchCallbacksResponse} line per message, flushed as it comes.
//
// It replaces the generated gateway route for this one path (the OpenAPI
// contract still comes from http.yaml) because the gateway answers stream
// errors in its own shape: {"error": google.rpc.Status} with the status
// derived from the code alone, even when the stream failed before its first
// message. Here an error before the first message is a REST error like any
// other (status and body from its reason), and an error after it is a last
// line {"error": <the REST error body>}.
//
// The call crosses the gateway's gRPC connection like every REST call, so
// it passes the same interceptors: authentication, stream caps, decoding.
type restWatch struct {
	gateway *runtime.ServeMux // for its header matcher and X-Forwarded-For
	client  callbacksv1.CallbackAdminServiceClient
	json    protojson.MarshalOptions
}

func newRESTWatch(gateway *runtime.ServeMux, conn grpc.ClientConnInterface) *restWatch {
	return &restWatch{
		gateway: gateway,
		client:  callbacksv1.NewCallbackAdminServiceClient(conn),
		json:    protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true},
	}
}

func (h *restWatch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, apierror.New(apierror.MalformedRequest, "query: not URL-encoded"))
		return
	}
	req := &callbacksv1.WatchCallbacksRequest{}
	// A query that does not decode marks req; the handler's decoding
	// interceptor answers it, after authentication, as on every route.
	if err := (queryParser{}).Parse(req, values, utilities.NewDoubleArray(nil)); err != nil {
		writeError(w, err)
		return
	}
	ctx, err = runtime.AnnotateContext(ctx, h.gateway, r, "/callbacks.v1.CallbackAdminService/WatchCallbacks", runtime.WithHTTPPathPattern(restWatchPath))
	if err != nil {
		writeError(w, err)
		return
	}
	stream, err := h.client.WatchCallbacks(ctx, req)
	if err != nil {
		writeRPCError(w, err)
		return
	}
	msg, err := stream.Recv()
	if err != nil {
		writeRPCError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	flush := http.NewResponseController(w)
	for {
		b, err := h.json.Marshal(msg)
		if err != nil {
			return
		}
		// Compact: protojson varies its whitespace on purpose, and a line
		// must be one line.
		var line bytes.Buffer
		line.WriteString(`{"result":`)
		if err := json.Compact(&line, b); err != nil {
			return
		}
		line.WriteString("}\n")
		if _, err := w.Write(line.Bytes()); err != nil {
			return
		}
		if err := flush.Flush(); err != nil {
			return
		}
		if msg, err = stream.Recv(); err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				_, body := restError(err)
				end, _ := json.Marshal(map[string]errorBody{"error": body})
				_, _ = w.Write(append(end, '\n'))
			}
			return
		}
	}
}
