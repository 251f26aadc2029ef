package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/ingest"
)

// Request size limits, per route, sized for the messages each route takes.
// They are enforced while reading: a request announcing more is refused
// before any of it is read, and reading stops at the limit otherwise.
const (
	// adminMessageBytes bounds an admin request message: the largest,
	// ListCallbacks, holds a few filters and a page token.
	adminMessageBytes = 64 << 10
	// healthMessageBytes bounds a health check request: a service name.
	healthMessageBytes = 4 << 10
	// reflectionMessageBytes bounds one reflection request: a symbol or
	// file name.
	reflectionMessageBytes = 16 << 10
	// reflectionStreamBytes bounds everything one reflection stream may
	// send: a tool describing a service sends a handful of requests.
	reflectionStreamBytes = 1 << 20
	// envelopeBytes is the framing of one message in the gRPC, gRPC-Web and
	// Connect streaming protocols.
	envelopeBytes = 5
	// ingestFramingBytes is the headroom over --max-body-bytes that the
	// ingest RPC's message needs around its body field.
	ingestFramingBytes = 1024
)

// Rejections of the admission checks.
var (
	// errRequestTooLarge: the request is larger than its route's limit.
	errRequestTooLarge = apierror.New(apierror.RequestTooLarge, "request too large for this route")
	// errTooManyStreams: a stream cap is reached.
	errTooManyStreams = apierror.New(apierror.TooManyStreams, "too many concurrent streams; close one or retry later")
	// errStreamIdle: an unauthenticated stream sent and received nothing
	// for the idle limit, and was ended.
	errStreamIdle = apierror.New(apierror.StreamIdle, "stream idle for too long")
)

// route is what the admission middleware enforces on one path.
type route struct {
	admin         bool  // needs an admin credential, checked before the body
	stream        bool  // a long-lived stream: counted against the caps
	maxBytes      int64 // the most bytes read of the request body (messages are limited by the handlers' connect.WithReadMaxBytes)
	unauthStreams bool  // a stream open to anyone: capped apart, and idle-limited
}

// routeFor returns the admission policy of an RPC path, and false for
// paths that are not RPCs.
func (s *Server) routeFor(path string) (route, bool) {
	service, method, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok {
		return route{}, false
	}
	unary := func(message int) route {
		return route{maxBytes: int64(message) + envelopeBytes}
	}
	switch service {
	case callbacksv1connect.CallbackAdminServiceName:
		r := unary(adminMessageBytes)
		r.admin = true
		r.stream = method == "WatchCallbacks"
		return r, true
	case callbacksv1connect.CallbackIngestServiceName:
		return unary(int(s.cfg.MaxBodyBytes) + ingestFramingBytes), true
	case grpchealth.HealthV1ServiceName:
		r := unary(healthMessageBytes)
		r.stream = method == "Watch"
		r.unauthStreams = r.stream
		return r, true
	case "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection":
		return route{stream: true, unauthStreams: true, maxBytes: reflectionStreamBytes}, true
	}
	return route{}, false
}

// isWatchRoute reports whether path is an admin watch stream, which may
// outlive the server's ReadTimeout. Unauthenticated streams may not: the
// timeout bounds their lifetime.
func isWatchRoute(path string) bool {
	return path == "/"+callbacksv1connect.CallbackAdminServiceName+"/WatchCallbacks" ||
		path == restWatchPath
}

// admitRPC guards every RPC handler, on the public server and on the
// gateway's in-process connection alike: admin RPCs are authenticated from
// their headers before any of the body is read; a body larger than the
// route's limit is refused (by its Content-Length before reading, otherwise
// when reading reaches the limit); streams are counted against the caps;
// unauthenticated streams are ended when idle.
func (s *Server) admitRPC(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, ok := s.routeFor(r.URL.Path)
		if !ok {
			next.ServeHTTP(w, r) // the mux answers unknown paths
			return
		}
		refuse := func(err error) {
			if r.ProtoMajor == 1 {
				// net/http would otherwise read up to 256 KiB of the
				// unread body to reuse the connection.
				w.Header().Set("Connection", "close")
			}
			_ = s.errorWriter.Write(w, r, toConnectError(err))
		}
		ctx := r.Context()
		var admin *uuid.UUID
		if rt.admin {
			id, err := s.gate.check(r, true)
			if err != nil {
				refuse(err)
				return
			}
			ctx = context.WithValue(ctx, identityKey{}, id)
			admin = &id.ID
		}
		if r.ContentLength > rt.maxBytes {
			refuse(errRequestTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, rt.maxBytes)
		if rt.stream {
			release, err := s.caps.acquire(admin, rt.unauthStreams)
			if err != nil {
				refuse(err)
				return
			}
			defer release()
		}
		if rt.unauthStreams {
			var stop func()
			w, r, stop = s.idleLimit(w, r.WithContext(ctx))
			defer stop()
			ctx = r.Context()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// admitREST guards the REST gateway's admin routes at the public server:
// the credential is checked from the headers before any of the body is
// read, and the body (of an admin, then) is read up to the RPC's message
// limit here, so that an oversized one is answered 413 rather than as the
// gateway's decoding error. The request then passes admitRPC too, on the
// gateway's connection, where streams are counted.
func (s *Server) admitREST(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		refuse := func(err error) {
			if r.ProtoMajor == 1 {
				w.Header().Set("Connection", "close")
			}
			writeError(w, err)
		}
		if _, err := s.gate.check(r, false); err != nil {
			refuse(err)
			return
		}
		if r.ContentLength > adminMessageBytes {
			refuse(errRequestTooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, adminMessageBytes))
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				refuse(errRequestTooLarge)
				return
			}
			refuse(ingest.ErrBodyUnreadable)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// streamCaps counts open streams: in total, per admin, and those open to
// anyone (reflection, health Watch).
type streamCaps struct {
	maxTotal, maxPerAdmin, maxUnauth int

	mu       sync.Mutex
	total    int
	unauth   int
	perAdmin map[uuid.UUID]int

	open    *prometheus.GaugeVec
	refused *prometheus.CounterVec
}

func newStreamCaps(maxTotal, maxPerAdmin, maxUnauth int, reg prometheus.Registerer) (*streamCaps, error) {
	c := &streamCaps{
		maxTotal: maxTotal, maxPerAdmin: maxPerAdmin, maxUnauth: maxUnauth,
		perAdmin: map[uuid.UUID]int{},
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "callbackd_streams_open",
			Help: "Open streams, by kind: admin (watch) or unauthenticated (reflection, health Watch).",
		}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "callbackd_streams_refused_total",
			Help: "Streams refused with too_many_streams, by the cap reached: total, per_admin or unauthenticated.",
		}, []string{"cap"}),
	}
	for _, col := range []prometheus.Collector{c.open, c.refused} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// acquire takes a stream slot for admin (nil: an unauthenticated stream),
// or refuses with errTooManyStreams. release gives the slot back.
func (c *streamCaps) acquire(admin *uuid.UUID, unauth bool) (release func(), err error) {
	kind := "admin"
	if unauth {
		kind = "unauthenticated"
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.total >= c.maxTotal:
		c.refused.WithLabelValues("total").Inc()
		return nil, errTooManyStreams
	case unauth && c.unauth >= c.maxUnauth:
		c.refused.WithLabelValues("unauthenticated").Inc()
		return nil, errTooManyStreams
	case admin != nil && c.perAdmin[*admin] >= c.maxPerAdmin:
		c.refused.WithLabelValues("per_admin").Inc()
		return nil, errTooManyStreams
	}
	c.total++
	if unauth {
		c.unauth++
	}
	if admin != nil {
		c.perAdmin[*admin]++
	}
	c.open.WithLabelValues(kind).Inc()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			if unauth {
				c.unauth--
			}
			if admin != nil {
				if c.perAdmin[*admin]--; c.perAdmin[*admin] == 0 {
					delete(c.perAdmin, *admin)
				}
			}
			c.open.WithLabelValues(kind).Dec()
		})
	}, nil
}

// idleWriteGrace is how long an idle stream may still write its answer.
const idleWriteGrace = time.Second

// idleLimit ends r's stream once nothing has been read from or written to
// it for the unauthenticated stream idle limit: it cancels the request's
// context (cause errStreamIdle), closes the body and expires the
// connection's deadlines, which unblocks a handler waiting to read as well
// as one blocked writing to a client that does not read (after
// idleWriteGrace). stop, deferred by
// the caller, disarms it before the handler's writer becomes invalid.
func (s *Server) idleLimit(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	rc := http.NewResponseController(w)
	var (
		mu   sync.Mutex
		done bool
	)
	body := r.Body
	timer := time.AfterFunc(s.cfg.UnauthenticatedStreamIdle, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		s.idleClosed.Inc()
		cancel(errStreamIdle)
		now := time.Now()
		_ = rc.SetReadDeadline(now)
		// A write deadline resets the stream when it passes (on HTTP/2),
		// so the handler gets a moment to write the stream_idle answer;
		// one blocked on a client that does not read is cut off after it.
		_ = rc.SetWriteDeadline(now.Add(idleWriteGrace))
		_ = body.Close()
	})
	touch := func() { timer.Reset(s.cfg.UnauthenticatedStreamIdle) }
	r = r.WithContext(ctx)
	r.Body = &activityBody{ReadCloser: body, touch: touch}
	stop := func() {
		mu.Lock()
		done = true
		mu.Unlock()
		timer.Stop()
		cancel(nil)
	}
	return &activityWriter{ResponseWriter: w, touch: touch}, r, stop
}

// activityBody calls touch whenever the client sent something.
type activityBody struct {
	io.ReadCloser
	touch func()
}

func (b *activityBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.touch()
	}
	return n, err
}

// activityWriter calls touch whenever the handler wrote something. It keeps
// Flush and Unwrap so that streaming and http.ResponseController work.
type activityWriter struct {
	http.ResponseWriter
	touch func()
}

func (a *activityWriter) Write(p []byte) (int, error) {
	n, err := a.ResponseWriter.Write(p)
	if n > 0 {
		a.touch()
	}
	return n, err
}

func (a *activityWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *activityWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// idleStreamInterceptor ends an unauthenticated stream that idleLimit
// closed with the documented stream_idle answer, instead of whatever
// read error the handler saw.
type idleStreamInterceptor struct{}

func (idleStreamInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc { return next }

func (idleStreamInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (idleStreamInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		err := next(ctx, conn)
		if err != nil && errors.Is(context.Cause(ctx), errStreamIdle) {
			return toConnectError(errStreamIdle)
		}
		return err
	}
}
