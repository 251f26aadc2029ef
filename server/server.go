// Package server is callbackd's transport layer: one port that serves gRPC,
// gRPC-Web and Connect (through connect-go handlers), the REST gateway,
// health, readiness and metrics, over HTTP/1.1 and h2c, or TLS. It adapts
// requests to the domain packages and their errors to status codes; it holds
// no business logic of its own.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/callbackd/callbackd/gen/callbacks/v1/callbacksv1connect"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/failurelimit"
	"github.com/callbackd/callbackd/internal/oidc"
	"github.com/callbackd/callbackd/internal/replay"
	"github.com/callbackd/callbackd/internal/session"
	"github.com/callbackd/callbackd/internal/watch"
)

// Config is what a Server needs besides its dependencies. New validates it
// and reports every problem at once.
type Config struct {
	// TLSCertificate, when set, makes the server speak TLS (HTTP/2 by ALPN,
	// and HTTP/1.1) with it. The caller loads it, so that a bad certificate
	// is a configuration error found before anything else is opened.
	TLSCertificate *tls.Certificate
	// MaxBodyBytes is the webhook body limit; larger bodies get 413.
	MaxBodyBytes int64
	// TrustedProxies are the load balancers whose X-Forwarded-For names the
	// client (for logs and the per-address limit on failed deliveries).
	TrustedProxies []netip.Prefix
	// Heartbeat is the interval of WatchCallbacks heartbeats; zero means 15 s.
	Heartbeat time.Duration
	// ShutdownTimeout bounds how long Run waits for in-flight requests after
	// its context ends before closing connections.
	ShutdownTimeout time.Duration
	// MaxStreams caps the streams open at once, of every kind; zero means
	// DefaultMaxStreams.
	MaxStreams int
	// MaxStreamsPerAdmin caps the watch streams of one admin identity;
	// zero means DefaultMaxStreamsPerAdmin.
	MaxStreamsPerAdmin int
	// MaxUnauthenticatedStreams caps the streams open to anyone (reflection,
	// health Watch); zero means DefaultMaxUnauthenticatedStreams.
	MaxUnauthenticatedStreams int
	// UnauthenticatedStreamIdle ends an unauthenticated stream that sent and
	// received nothing for this long; zero means
	// DefaultUnauthenticatedStreamIdle.
	UnauthenticatedStreamIdle time.Duration
	// AdminAuthFailureRate is how many failed admin authentications per
	// second one remote host may make (beyond AdminAuthFailureBurst) before
	// its failures get 429; zero disables the throttle.
	AdminAuthFailureRate float64
	// AdminAuthFailureBurst is the burst of AdminAuthFailureRate.
	AdminAuthFailureBurst int
	// DevelopmentSecret tells admins (GetServerInfo, and so the web UI) that
	// the webhook accepts the sender's public development secret.
	DevelopmentSecret bool
	// PublicURL is the console's address as browsers see it (behind a
	// proxy, the proxy's): its origin is the only one whose requests a
	// session cookie authenticates, and an https one makes cookies Secure.
	// Empty: the request's own Host (and scheme).
	PublicURL string
	// TokenLoginForm offers the token form on the sign-in page beside
	// "Sign in with ..." (it is always offered without OIDC).
	TokenLoginForm bool
	// OIDCProviderName names the provider on the sign-in button.
	OIDCProviderName string
	// Build is the running build, reported by GetServerInfo, the OpenAPI
	// documents and the callbackd_build_info metric; zero means
	// buildinfo.Read().
	Build buildinfo.Info
}

// Defaults of the stream limits.
const (
	DefaultMaxStreams                = 1000
	DefaultMaxStreamsPerAdmin        = 32
	DefaultMaxUnauthenticatedStreams = 64
	DefaultUnauthenticatedStreamIdle = 30 * time.Second
)

// internalUnaryStreams is how many requests besides streams the gateway's
// in-process connection carries at once.
const internalUnaryStreams = 1024

// Deps are the collaborators a Server adapts to the network.
type Deps struct {
	Store         callback.Store
	Ingester      Ingester
	Authenticator Authenticator
	// Signer signs the test callbacks that SendTestCallback sends itself.
	Signer Signer
	Hub    *watch.Hub
	// Publisher tells watchers about views; nil means Hub, which also
	// announces them to the other replicas (watch.Link).
	Publisher Publisher
	Logger    *slog.Logger
	// UI serves the web UI at "/" (every path that is not an RPC, the REST
	// API, health or metrics); nil serves none.
	UI http.Handler
	// Registry receives the server's metrics; nil creates a private one.
	Registry *prometheus.Registry
	// Tracing, when not nil, traces every route but health, reflection,
	// metrics and the UI (see tracing); nil traces nothing.
	Tracing trace.TracerProvider
	// Sessions keeps browser sessions: the token form and OIDC sign-in
	// exchange a credential for a session cookie. Nil: no browser sessions
	// (bearer credentials only), and no /auth routes.
	Sessions *session.Manager
	// OIDC signs admins in through an OpenID Connect provider; nil: off.
	// It needs Sessions.
	OIDC *oidc.Provider
	// Alerts is what the admin API reads of alerting; nil when alerts
	// are off.
	Alerts Alerts
	// Replayer sends ReplayCallback's deliveries under the server's replay
	// policy; nil turns replay off.
	Replayer Replayer
}

// Alerts is the part of alerting the admin API reads: the configuration
// and the deliveries (package alert/queue).
type Alerts interface {
	Config() *rules.Config
	Deliveries(ctx context.Context, limit int, after string) ([]rules.Delivery, string, error)
}

// Server is a validated, ready-to-run callbackd server. Build it with New,
// start it with Run or Serve.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	registry *prometheus.Registry
	handler  http.Handler
	// internal carries the REST gateway's gRPC connection to the server's
	// own handlers. It is in memory because grpc-gateway's in-process mode
	// skips interceptors and cannot stream, and a loopback port would be a
	// second, unlogged way in; net.Pipe is the standard library's supported
	// in-memory connection (grpc's bufconn is a test helper).
	internal *pipeListener
	rpc      http.Handler
	gwConn   *grpc.ClientConn
	tls      *tls.Config
	// gate authenticates admin requests before their bodies are read.
	gate *authGate
	// caps counts open streams against the stream caps.
	caps *streamCaps
	// errorWriter answers refusals made before a handler runs in the
	// request's own protocol (gRPC, gRPC-Web or Connect).
	errorWriter *connect.ErrorWriter
	// idleClosed counts unauthenticated streams ended for idleness.
	idleClosed prometheus.Counter
	// replays counts ReplayCallback calls by outcome.
	replays *replayMetrics
	// streams is cancelled when shutdown begins, and with it every
	// long-lived stream, which would otherwise hold the server open until the
	// deadline: http.Server.Shutdown waits for requests but never cancels them.
	streams     context.Context
	stopStreams context.CancelFunc
}

// New validates cfg, wires every protocol onto one handler and returns a
// server ready to Run. It does not listen yet.
func New(ctx context.Context, cfg Config, deps Deps) (*Server, error) {
	var problems []error
	if cfg.ShutdownTimeout <= 0 {
		problems = append(problems, errors.New("shutdown-timeout: must be positive"))
	}
	if cfg.MaxBodyBytes <= 0 {
		problems = append(problems, errors.New("max-body-bytes: must be positive"))
	}
	if cfg.MaxStreams < 0 || cfg.MaxStreamsPerAdmin < 0 || cfg.MaxUnauthenticatedStreams < 0 || cfg.UnauthenticatedStreamIdle < 0 {
		problems = append(problems, errors.New("stream limits: must be positive"))
	}
	if cfg.AdminAuthFailureRate > 0 && cfg.AdminAuthFailureBurst < 1 {
		problems = append(problems, errors.New("admin-auth-failure-burst: must be at least 1 when the rate is set"))
	}
	if deps.Store == nil {
		problems = append(problems, errors.New("store: missing"))
	}
	if deps.Ingester == nil {
		problems = append(problems, errors.New("ingester: missing"))
	}
	if deps.Authenticator == nil {
		problems = append(problems, errors.New("authenticator: missing"))
	}
	if deps.Signer == nil {
		problems = append(problems, errors.New("signer: missing"))
	}
	if deps.Hub == nil {
		problems = append(problems, errors.New("watch hub: missing"))
	}
	if deps.OIDC != nil && deps.Sessions == nil {
		problems = append(problems, errors.New("OIDC sign-in: needs browser sessions"))
	}
	publicOrigin, publicTLS, err := ParsePublicURL(cfg.PublicURL)
	if err != nil {
		problems = append(problems, err)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertificate != nil {
		// ALPN: we wrap the listener ourselves, so http.Server does not add it.
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{*cfg.TLSCertificate}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	}
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Publisher == nil {
		deps.Publisher = deps.Hub
	}
	if deps.Replayer == nil {
		off, err := replay.New(replay.Config{Disabled: true})
		if err != nil {
			return nil, err
		}
		deps.Replayer = off
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 15 * time.Second
	}
	cfg.MaxStreams = cmp.Or(cfg.MaxStreams, DefaultMaxStreams)
	cfg.MaxStreamsPerAdmin = cmp.Or(cfg.MaxStreamsPerAdmin, DefaultMaxStreamsPerAdmin)
	cfg.MaxUnauthenticatedStreams = cmp.Or(cfg.MaxUnauthenticatedStreams, DefaultMaxUnauthenticatedStreams)
	cfg.UnauthenticatedStreamIdle = cmp.Or(cfg.UnauthenticatedStreamIdle, DefaultUnauthenticatedStreamIdle)
	if cfg.Build == (buildinfo.Info{}) {
		cfg.Build = buildinfo.Read()
	}
	registry := deps.Registry
	if registry == nil {
		registry = prometheus.NewRegistry()
		registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	s := &Server{
		cfg:      cfg,
		deps:     deps,
		log:      deps.Logger,
		registry: registry,
		internal: newPipeListener(),
		tls:      tlsConfig,

		errorWriter: connect.NewErrorWriter(),
		idleClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_streams_idle_closed_total",
			Help: "Unauthenticated streams ended because they were idle.",
		}),
	}
	if err := registry.Register(s.idleClosed); err != nil {
		return nil, err
	}
	// The build as a constant 1 with labels, the Prometheus convention
	// (prometheus_build_info), so that a query can join it to any series.
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "callbackd_build_info",
		Help: "Always 1; the labels name the running build: version, revision (commit) and goversion.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(cfg.Build.Version, cfg.Build.Commit, cfg.Build.GoVersion).Set(1)
	if err := registry.Register(buildInfo); err != nil {
		return nil, err
	}
	if s.replays, err = newReplayMetrics(registry); err != nil {
		return nil, err
	}
	if s.caps, err = newStreamCaps(cfg.MaxStreams, cfg.MaxStreamsPerAdmin, cfg.MaxUnauthenticatedStreams, registry); err != nil {
		return nil, err
	}
	limiter := failurelimit.New(cfg.AdminAuthFailureRate, cfg.AdminAuthFailureBurst)
	if s.gate, err = newAuthGate(deps.Authenticator, deps.Logger, cfg.TrustedProxies, limiter, registry); err != nil {
		return nil, err
	}
	if deps.Sessions != nil {
		s.gate.signIn = &signIn{
			sessions:     deps.Sessions,
			oidc:         deps.OIDC,
			gate:         s.gate,
			log:          deps.Logger,
			providerName: cfg.OIDCProviderName,
			tokenForm:    cfg.TokenLoginForm,
			secure:       tlsConfig != nil || publicTLS,
			origin:       publicOrigin,
		}
	}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	if err := s.routes(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// routes builds the single handler that serves every protocol.
func (s *Server) routes(ctx context.Context) error {
	// Admin RPCs are authenticated by admitRPC, from their headers, before
	// connect reads the request.
	traced := tracing{provider: s.deps.Tracing}
	interceptors, err := traced.rpcInterceptors()
	if err != nil {
		return err
	}
	opts := connect.WithHandlerOptions(
		// The tracing interceptor is outermost: its span covers the error
		// interceptor's work and sees the code the caller gets.
		connect.WithInterceptors(append(interceptors, newErrorInterceptor(s.log))...),
		// Compressing small messages (watch events, list pages) costs more
		// CPU than it saves bytes; large payloads are still compressed.
		connect.WithCompressMinBytes(4096),
		requestDecoding(),
	)
	// rpc serves every RPC path ("/<service>/<method>"); the public mux
	// routes each service's prefix to it and everything else elsewhere.
	rpc := http.NewServeMux()
	var rpcPrefixes []string
	handle := func(prefix string, h http.Handler) {
		rpc.Handle(prefix, h)
		rpcPrefixes = append(rpcPrefixes, prefix)
	}
	// Direct gRPC/Connect callers get the body limit from the protocol layer
	// (a little headroom covers the message framing around the body).
	handle(callbacksv1connect.NewCallbackIngestServiceHandler(&ingestHandler{ingester: s.deps.Ingester, trusted: s.cfg.TrustedProxies},
		opts, connect.WithReadMaxBytes(int(s.cfg.MaxBodyBytes)+1024)))
	handle(callbacksv1connect.NewCallbackAdminServiceHandler(&adminHandler{
		store:     s.deps.Store,
		hub:       s.deps.Hub,
		publisher: s.deps.Publisher,
		heartbeat: s.cfg.Heartbeat,
		now:       time.Now,
		signer:    s.deps.Signer,
		ingester:  s.deps.Ingester,
		alerts:    s.deps.Alerts,
		replayer:  s.deps.Replayer,
		replays:   s.replays,
		log:       s.log,

		developmentSecret: s.cfg.DevelopmentSecret,
		build:             s.cfg.Build,
	}, opts, connect.WithReadMaxBytes(adminMessageBytes)))
	anyone := connect.WithInterceptors(idleStreamInterceptor{})
	handle(grpchealth.NewHandler(&healthChecker{store: s.deps.Store}, anyone, connect.WithReadMaxBytes(healthMessageBytes)))
	reflector := grpcreflect.NewStaticReflector(
		callbacksv1connect.CallbackIngestServiceName,
		callbacksv1connect.CallbackAdminServiceName,
		grpchealth.HealthV1ServiceName,
	)
	handle(grpcreflect.NewHandlerV1(reflector, anyone, connect.WithReadMaxBytes(reflectionMessageBytes)))
	handle(grpcreflect.NewHandlerV1Alpha(reflector, anyone, connect.WithReadMaxBytes(reflectionMessageBytes)))
	s.rpc = s.admitRPC(rpc)

	conn, err := dialSelf(func(ctx context.Context, _ string) (net.Conn, error) {
		return s.internal.DialContext(ctx)
	}, traced.gatewayDialOptions()...)
	if err != nil {
		return err
	}
	s.gwConn = conn
	gateway, err := newGateway(ctx, conn)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	for _, prefix := range rpcPrefixes {
		mux.Handle(prefix, s.rpc)
	}
	if s.deps.UI != nil {
		mux.Handle("/", s.deps.UI)
	}
	if s.gate.signIn != nil {
		s.gate.signIn.routes(mux)
	}
	mux.Handle("/api/", traced.http(gateway))
	mux.Handle(adminRESTPrefix, traced.http(s.admitREST(gateway)))
	mux.Handle("GET "+restWatchPath, traced.http(s.admitREST(newRESTWatch(gateway, conn))))
	mux.Handle("POST "+webhookPath, traced.http(&webhookHandler{limit: s.cfg.MaxBodyBytes, trusted: s.cfg.TrustedProxies, ingester: s.deps.Ingester, log: s.log}))
	// Any other method on the webhook path is a 405, not the 404 that
	// "/api/" would answer.
	mux.HandleFunc(webhookPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		writeRouteError(w, http.StatusMethodNotAllowed)
	})
	spec, err := openAPISpec(s.cfg.Build.Version)
	if err != nil {
		return err
	}
	specV3, err := openAPIV3(spec)
	if err != nil {
		return err
	}
	mux.HandleFunc("GET /openapi.json", serveOpenAPI(spec))
	mux.HandleFunc("GET /openapi.v3.json", serveOpenAPI(specV3))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	// OpenMetrics when the scraper asks for it (Prometheus does), because
	// only that format carries exemplars: the trace ids of sampled
	// deliveries on the ingest latency histogram.
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry, EnableOpenMetrics: true}))
	s.handler = s.logRequests(mux)
	return nil
}

// ParsePublicURL returns the origin of the console's public URL ("" when
// unset) and whether it is https.
func ParsePublicURL(raw string) (origin string, https bool, err error) {
	if raw == "" {
		return "", false, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return "", false, fmt.Errorf("public URL %q: want http(s)://host[:port][/path]", raw)
	}
	return u.Scheme + "://" + u.Host, u.Scheme == "https", nil
}

// Handler returns the server's root handler, for tests that bring their own
// http.Server.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, ends open streams, lets in-flight requests finish within
// ShutdownTimeout, then closes what remains.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	public := s.newHTTPServer(s.handler)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if s.tls != nil {
		protocols.SetHTTP2(true)
		public.TLSConfig = s.tls
		ln = tls.NewListener(ln, s.tls)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	public.Protocols = protocols

	// The gateway's in-process connection speaks h2c only and skips the
	// request log (the public server already logged the REST request).
	internal := s.newHTTPServer(asPublicPeer(s.endStreamsOnShutdown(s.rpc)))
	internal.Protocols = new(http.Protocols)
	internal.Protocols.SetUnencryptedHTTP2(true)
	// Every REST admin call shares this one connection. With HTTP/2's
	// default of 250 concurrent streams, 250 open REST watches would make
	// every other REST call queue behind them; admitRPC caps streams at
	// MaxStreams, so this limit leaves room for internalUnaryStreams
	// requests however many watches are open.
	internal.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: s.cfg.MaxStreams + internalUnaryStreams}

	s.log.Info("listening", "addr", ln.Addr().String(), "tls", s.tls != nil)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serveUntilClosed(public, ln) })
	g.Go(func() error { return serveUntilClosed(internal, s.internal) })
	g.Go(func() error {
		<-gctx.Done()
		s.stopStreams()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
		defer cancel()
		err := public.Shutdown(sctx)
		if err != nil {
			s.log.Warn("graceful shutdown timed out; closing connections", "err", err)
			_ = public.Close()
		}
		_ = s.gwConn.Close()
		_ = internal.Shutdown(sctx)
		_ = internal.Close()
		return nil
	})
	return g.Wait()
}

// serveUntilClosed serves and treats the normal end of Shutdown as success.
func serveUntilClosed(srv *http.Server, ln net.Listener) error {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newHTTPServer sets the timeouts every server needs. WriteTimeout stays
// zero because server streams (WatchCallbacks) live for hours; unary RPCs are
// bounded by ReadTimeout on the request and by handler contexts instead.
func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
