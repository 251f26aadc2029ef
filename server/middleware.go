package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"connectrpc.com/connect"
)

// errServerStopping is the cancellation cause of streams ended by shutdown.
var errServerStopping = errors.New("server shutting down")

// requestIDKey holds the request ID in request contexts.
type requestIDKey struct{}

// requestIDFrom returns the request's ID, or "" outside a request.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// newRequestID returns 16 random hex characters.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusRecorder remembers the status a handler wrote, and for an RPC the
// code its answer carries. It keeps Flush and Unwrap so that streams and
// http.ResponseController still work.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	rpc    rpcOutcome
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.rpc.protocol != "" {
		r.rpc.write(b, r.status)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush sends the headers, with status 200 if none was written: a gRPC
// answer that carries only trailers is flushed without a WriteHeader.
func (r *statusRecorder) Flush() {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests gives every request an ID (X-Request-Id, kept when the caller
// sent a sane one), clears deadlines for long-lived streams, and logs one line
// per request: method, path, HTTP status, duration, and for an RPC its
// protocol and code (gRPC answers 200 whatever its code).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		if isStreamRoute(r.URL.Path) {
			if isWatchRoute(r.URL.Path) {
				// ReadTimeout would end a watch that outlives it: on HTTP/1.1
				// the connection's read deadline cancels the request context.
				// Streams open to anyone keep it, as their longest lifetime.
				_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
			}
			// A REST watch is a client of a stream on the gateway's
			// internal connection: that stream ends on shutdown with the
			// cursor to resume from, and restWatch writes it as the last
			// line. Cancelling the REST request instead would end it
			// Cancelled, with no cursor.
			if r.URL.Path != restWatchPath {
				var stop func()
				ctx, stop = s.endOnShutdown(ctx, r)
				defer stop()
			}
		}
		rec := &statusRecorder{ResponseWriter: w, rpc: newRPCOutcome(r)}
		next.ServeHTTP(rec, r.WithContext(ctx))
		if !s.log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		attrs := []slog.Attr{
			slog.String("request_id", id),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", cmp.Or(rec.status, http.StatusOK)), // what net/http sends when nothing was written
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.Int64("bytes_out", rec.bytes),
			slog.String("proto", r.Proto),
		}
		if rec.rpc.protocol != "" {
			attrs = append(attrs, slog.String("protocol", rec.rpc.protocol))
			if code := rec.rpc.code(w.Header(), rec.status); code != "" {
				attrs = append(attrs, slog.String("code", code))
			}
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
	})
}

// newErrorInterceptor answers every RPC's error from its reason. Handlers
// return domain errors as they are; this outermost interceptor converts them
// (toConnectError) into the code and ErrorInfo that the apierror table
// decides, and turns a panic into an Internal error and a log line with the
// stack, instead of a dropped connection.
func newErrorInterceptor(log *slog.Logger) connect.Interceptor {
	return &errorInterceptor{log: log}
}

type errorInterceptor struct{ log *slog.Logger }

func (i *errorInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (res connect.AnyResponse, err error) {
		defer recoverHandler(ctx, i.log, req.Spec().Procedure, &err)
		res, err = next(ctx, req)
		return res, toConnectError(err)
	}
}

func (i *errorInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (i *errorInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) (err error) {
		defer recoverHandler(ctx, i.log, conn.Spec().Procedure, &err)
		return toConnectError(next(ctx, conn))
	}
}

// recoverHandler, deferred by a handler, turns its panic into an internal
// error (and a log line with the stack) instead of a dropped connection. It
// must be the deferred function itself: recover stops a panic only when
// called directly by one, so a wrapper around this call would let it through.
func recoverHandler(ctx context.Context, log *slog.Logger, procedure string, err *error) {
	if r := recover(); r != nil {
		log.ErrorContext(ctx, "handler panic", "procedure", procedure, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = toConnectError(fmt.Errorf("handler panic: %v", r))
	}
}

// endOnShutdown returns ctx for a stream request, cancelled with the cause
// errServerStopping when shutdown begins, and the function that releases it.
// Cancelling ends streams that wait on their context (the cause tells
// handlers to answer "retry elsewhere", with the cursor); closing the body
// unblocks bidirectional ones waiting for the client.
func (s *Server) endOnShutdown(ctx context.Context, r *http.Request) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.streams, func() {
		cancel(errServerStopping)
		_ = r.Body.Close()
	})
	return ctx, func() {
		stop()
		cancel(nil)
	}
}

// endStreamsOnShutdown gives the streams that h serves on the gateway's
// internal connection the same end as on the public port.
func (s *Server) endStreamsOnShutdown(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isStreamRoute(r.URL.Path) {
			ctx, stop := s.endOnShutdown(r.Context(), r)
			defer stop()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}
