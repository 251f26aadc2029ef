package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/callbackd/callbackd/internal/alert/queue"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/auth"
	"github.com/callbackd/callbackd/internal/buildinfo"
	"github.com/callbackd/callbackd/internal/callback"
	"github.com/callbackd/callbackd/internal/ingest"
	"github.com/callbackd/callbackd/internal/oidc"
	"github.com/callbackd/callbackd/internal/replay"
	"github.com/callbackd/callbackd/internal/retention"
	"github.com/callbackd/callbackd/internal/session"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/internal/store/pgnotify"
	"github.com/callbackd/callbackd/internal/telemetry"
	"github.com/callbackd/callbackd/internal/watch"
	"github.com/callbackd/callbackd/internal/webhook"
	"github.com/callbackd/callbackd/server"
	"github.com/callbackd/callbackd/web"
)

// Run serves until ctx ends (SIGINT/SIGTERM). It completes the whole
// configuration first, so that no problem with it is found after the
// database was opened or migrated; then it takes the port, opens what the
// server needs and runs it.
func (ServeCmd) Run(ctx context.Context, log *slog.Logger, db *DatabaseFlags, c *ServeFlags, con console) error {
	cfg, err := c.complete(log, db)
	if err != nil {
		return err
	}
	// The port before the database: an address in use is found before any
	// migration runs.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	a, err := cfg.open(ctx, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if a.generatedToken != "" {
		announceLogin(log, con, db.DataDir, loginURL(ln.Addr().String(), cfg.tlsCert != nil, a.generatedToken))
	}
	return a.run(ctx, ln)
}

// announceLogin tells how to log in with the generated admin token. The
// login URL holds the token, so it goes only to a terminal, in plain text;
// the structured log gets the token file's path.
func announceLogin(log *slog.Logger, con console, dataDir, url string) {
	file := filepath.Join(dataDir, auth.GeneratedTokenFile)
	if con.w != nil {
		fmt.Fprintf(con.w, "\ncallbackd admin login (generated token, also in %s; set --admin-token or a JWT provider to replace it):\n\n    %s\n\n", file, url)
		return
	}
	log.Info("admin login: the generated admin token is in the token file; paste it into the web UI's login form (set --admin-token or a JWT provider to replace it)",
		"token_file", file, "ui", strings.Split(url, "#")[0])
}

// completedConfig is callbackd's configuration checked in full: every flag
// validated, the TLS certificate loaded, the admin tokens read, the web UI
// found. Building one opens nothing and writes nothing; open does.
type completedConfig struct {
	flags ServeFlags
	db    DatabaseFlags

	verifier *webhook.Verifier
	proxies  []netip.Prefix
	tlsCert  *tls.Certificate // nil: plain HTTP and h2c
	auth     auth.Config
	signIn   signIn
	// generateToken: no admin credential is configured, so open uses a
	// token generated once and kept in the data directory.
	generateToken     bool
	developmentSecret bool
	// gcFloor is the heap floor of the garbage collector; 0 leaves the
	// collector alone (the flag is 0, or GOGC is set).
	gcFloor uint64
	ui      http.Handler
	// alerts is the alerts configuration, nil without --alerts-config.
	alerts    *rules.Config
	publicURL string
	// replayer sends ReplayCallback's deliveries under the replay flags.
	replayer *replay.Replayer
}

// complete checks every setting that needs no database, reporting every
// problem at once, and returns the configuration that open runs with.
func (c *ServeFlags) complete(log *slog.Logger, db *DatabaseFlags) (*completedConfig, error) {
	cfg := &completedConfig{flags: *c, db: *db, developmentSecret: c.developmentSecret()}
	var problems []error
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }

	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		problem("--addr %q: %w", c.Addr, err)
	}
	switch {
	case !cfg.developmentSecret:
	case err == nil && !isLoopbackHost(host) && len(c.WebhookSecret) == 0:
		problem("--addr %q is not a loopback address: configure the LLM service's webhook secret with --webhook-secret or LLM_WEBHOOK_SECRET (without one, callbackd would accept the service's public development secret, with which anyone can sign)", c.Addr)
	case err == nil && !isLoopbackHost(host):
		problem("--webhook-secret / LLM_WEBHOOK_SECRET: the LLM service's public development secret is refused on --addr %q, which is not a loopback address: anyone can sign with it", c.Addr)
	}
	if cfg.verifier, err = webhook.NewVerifier(webhook.Config{
		Secrets:       c.webhookSecrets(),
		Tolerance:     c.SignatureTolerance,
		AllowUnsigned: c.AllowUnsigned,
	}); err != nil {
		problems = append(problems, err)
	}
	for _, cidr := range c.TrustedProxy {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			problem("--trusted-proxy %q: %w", cidr, err)
		}
		cfg.proxies = append(cfg.proxies, p)
	}
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		problem("--tls-cert, --tls-key: give both, or neither")
	case c.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			problem("--tls-cert %s, --tls-key %s: %w", c.TLSCert, c.TLSKey, err)
		}
		cfg.tlsCert = &cert
	}
	var authProblems []error
	cfg.auth, cfg.generateToken, authProblems = c.adminAuth()
	problems = append(problems, authProblems...)
	var signInProblems []error
	cfg.signIn, signInProblems = c.signIn()
	problems = append(problems, signInProblems...)
	problems = append(problems, c.limitProblems()...)
	if c.GCHeapFloor > 0 {
		if _, set := os.LookupEnv("GOGC"); !set {
			cfg.gcFloor = uint64(c.GCHeapFloor)
		}
	}
	if cfg.ui, err = web.NewHandler(); err != nil {
		problems = append(problems, err)
	}
	cfg.alerts, cfg.publicURL, err = c.alertsConfig(cfg.tlsCert != nil)
	if err != nil {
		problems = append(problems, err)
	}
	var replayProblems []error
	cfg.replayer, replayProblems = c.replayer()
	problems = append(problems, replayProblems...)
	if err := errors.Join(problems...); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}

	if cfg.developmentSecret {
		log.Warn("the LLM scheme accepts the LLM service's PUBLIC development secret (no --webhook-secret / LLM_WEBHOOK_SECRET configured, or that secret given): anyone can sign callbacks; allowed on a loopback address only")
	}
	if c.AllowUnsigned {
		log.Warn("!!! --allow-unsigned is ON: deliveries without any signature are STORED (marked unverified). Never use this outside local experiments. !!!")
	}
	c.BenchFlags.warn(log)
	return cfg, nil
}

// webhookSecrets are the secrets of every enabled signature scheme. The LLM
// scheme is always on: without a configured secret it accepts the sender's
// public development secret (allowed on loopback only, see complete).
func (c *ServeFlags) webhookSecrets() map[string][]string {
	llm := c.WebhookSecret
	if len(llm) == 0 {
		llm = []string{"development=" + webhook.DevelopmentLLMSecret}
	}
	secrets := map[string][]string{webhook.SchemeLLM: llm}
	for scheme, s := range map[string][]string{
		webhook.SchemeStandard: c.StandardWebhooksSecret,
		webhook.SchemeGitHub:   c.GitHubSecret,
		webhook.SchemeStripe:   c.StripeSecret,
	} {
		if len(s) > 0 {
			secrets[scheme] = s
		}
	}
	return secrets
}

// limitProblems checks every limit and duration flag. A zero that would
// silently mean "the default" further down is refused here instead, so
// that what runs is what the flags say.
func (c *ServeFlags) limitProblems() []error {
	var problems []error
	problem := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if c.ShutdownTimeout <= 0 {
		problem("--shutdown-timeout %s: must be positive", c.ShutdownTimeout)
	}
	if c.GCHeapFloor < 0 {
		problem("--gc-heap-floor %d: must be 0 (off) or positive", c.GCHeapFloor)
	}
	if c.MaxBodyBytes <= 0 {
		problem("--max-body-bytes %d: must be positive", c.MaxBodyBytes)
	}
	if c.MaxJSONDepth < 2 {
		problem("--max-json-depth %d: must be at least 2", c.MaxJSONDepth)
	}
	if c.WebhookFailureRate < 0 || (c.WebhookFailureRate > 0 && c.WebhookFailureBurst < 1) {
		problem("--webhook-failure-rate %g, --webhook-failure-burst %d: the rate must be 0 (off) or positive, the burst at least 1", c.WebhookFailureRate, c.WebhookFailureBurst)
	}
	if c.AdminAuthFailureRate < 0 || (c.AdminAuthFailureRate > 0 && c.AdminAuthFailureBurst < 1) {
		problem("--admin-auth-failure-rate %g, --admin-auth-failure-burst %d: the rate must be 0 (off) or positive, the burst at least 1", c.AdminAuthFailureRate, c.AdminAuthFailureBurst)
	}
	if c.Heartbeat <= 0 {
		problem("--heartbeat %s: must be positive", c.Heartbeat)
	}
	if c.WatchBuffer < 1 {
		problem("--watch-buffer %d: must be at least 1", c.WatchBuffer)
	}
	if c.WatchPoll <= 0 {
		problem("--watch-poll %s: must be positive", c.WatchPoll)
	}
	if c.MaxStreams < 1 || c.MaxStreamsPerAdmin < 1 || c.MaxUnauthenticatedStreams < 1 {
		problem("--max-streams, --max-streams-per-admin, --max-unauthenticated-streams: must be at least 1")
	}
	if c.UnauthenticatedStreamIdle <= 0 {
		problem("--unauthenticated-stream-idle %s: must be positive", c.UnauthenticatedStreamIdle)
	}
	if c.RetentionMaxAge < 0 {
		problem("--retention-max-age %s: must be 0 (keep forever) or positive", c.RetentionMaxAge)
	}
	if c.RetentionMaxRows < 0 {
		problem("--retention-max-rows %d: must be 0 (no limit) or positive", c.RetentionMaxRows)
	}
	if c.RetentionInterval <= 0 {
		problem("--retention-interval %s: must be positive", c.RetentionInterval)
	}
	return problems
}

// app is callbackd with every resource open and every part wired, nothing
// listening yet.
type app struct {
	log     *slog.Logger
	server  *server.Server
	ingest  *ingest.Service
	store   *store.Store
	hub     *watch.Hub
	pruner  *retention.Runner
	tracing *telemetry.Tracing
	alerts  *queue.Queue // nil without --alerts-config
	gcFloor uint64
	// generatedToken is the admin token callbackd generated, when no admin
	// credential was configured; Run prints a login URL with it.
	generatedToken string
}

// open opens and migrates the database, generates the admin token if none
// is configured, and wires the server. On failure it releases what it
// opened. Everything it can refuse without a database, complete refused.
func (cfg *completedConfig) open(ctx context.Context, log *slog.Logger) (_ *app, err error) {
	c := &cfg.flags
	build := buildinfo.Read()
	// Tracing from the OTEL_* environment; off (nil provider) unless it
	// names an exporter or an OTLP endpoint.
	tracing, err := telemetry.New(ctx, os.Getenv, build.Version)
	if err != nil {
		return nil, err
	}
	tp := tracing.TracerProvider()
	if tp != nil {
		log.Info("tracing on (OpenTelemetry)", "exporter", tracing.Exporter())
	}
	defer func() {
		if err != nil {
			_ = tracing.Shutdown(ctx)
		}
	}()
	st, err := store.Open(ctx, cfg.db.DatabaseURL, cfg.db.DataDir, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = st.Close()
		}
	}()
	if err = migrate(ctx, log, st, c.NoMigrate); err != nil {
		return nil, err
	}
	authn, generated, err := cfg.authenticator(ctx, log)
	if err != nil {
		return nil, err
	}
	alerts, err := cfg.openAlerts(ctx, log, st)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(st.DB(), "callbackd"))
	pruner, err := retention.New(retention.Policy{
		MaxAge:          c.RetentionMaxAge,
		MaxRows:         c.RetentionMaxRows,
		IncludeUnviewed: c.RetentionIncludeUnviewed,
		Interval:        c.RetentionInterval,
	}, st, log, reg)
	if err != nil {
		return nil, err
	}
	var link watch.Link // nil: one process, nothing to tell
	if st.Dialect() == store.DialectPostgres {
		if link, err = pgnotify.New(st.DB(), cfg.db.DatabaseURL, log, reg, tp); err != nil {
			return nil, err
		}
	}
	hub, err := watch.NewHub(st, watch.Config{Buffer: c.WatchBuffer, PollInterval: c.WatchPoll, Link: link}, log, reg)
	if err != nil {
		return nil, err
	}
	// One commit worker: batches commit one at a time anyway (the change
	// feed's counter is locked until commit), so a second worker only takes
	// a small batch early and waits, delaying what queues behind it
	// (BENCHMARKS.md, "Runtime tuning").
	ingestCfg := ingest.Config{
		MaxBodyBytes: c.MaxBodyBytes,
		Payload:      callback.PayloadLimits{MaxDepth: c.MaxJSONDepth},
		Workers:      1,

		FailuresPerSecond: c.WebhookFailureRate,
		FailureBurst:      c.WebhookFailureBurst,
		Tracing:           tp,
	}
	var ingestStore callback.Store = st
	var ingestPublisher ingest.Publisher = hub
	ingestCfg, ingestStore, ingestPublisher = c.BenchFlags.ingest(ingestCfg, ingestStore, ingestPublisher)
	svc, err := ingest.New(ctx, ingestCfg, ingestStore, cfg.verifier, ingestPublisher, log, reg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			svc.Close() // before the store closes: deferred calls run last-in first-out
		}
	}()
	sessions, err := session.NewManager(st, cfg.signIn.sessions, nil)
	if err != nil {
		return nil, err
	}
	var provider *oidc.Provider // nil: OIDC sign-in is off
	if cfg.signIn.oidc != nil {
		if provider, err = oidc.New(ctx, *cfg.signIn.oidc, log); err != nil {
			return nil, err
		}
	}
	srv, err := server.New(ctx, server.Config{
		TrustedProxies:  cfg.proxies,
		TLSCertificate:  cfg.tlsCert,
		MaxBodyBytes:    c.MaxBodyBytes,
		Heartbeat:       c.Heartbeat,
		ShutdownTimeout: c.ShutdownTimeout,

		MaxStreams:                c.MaxStreams,
		MaxStreamsPerAdmin:        c.MaxStreamsPerAdmin,
		MaxUnauthenticatedStreams: c.MaxUnauthenticatedStreams,
		UnauthenticatedStreamIdle: c.UnauthenticatedStreamIdle,
		AdminAuthFailureRate:      c.AdminAuthFailureRate,
		AdminAuthFailureBurst:     c.AdminAuthFailureBurst,
		DevelopmentSecret:         cfg.developmentSecret,
		PublicURL:                 c.PublicURL,
		TokenLoginForm:            c.LoginTokenForm,
		OIDCProviderName:          c.OIDCProviderName,
		Build:                     build,
	}, server.Deps{
		Store: st, Ingester: svc, Authenticator: authn, Signer: cfg.verifier, Hub: hub, Logger: log, Registry: reg, UI: cfg.ui,
		Sessions: sessions, OIDC: provider, Alerts: alertReader(alerts), Tracing: tp, Replayer: cfg.replayer,
	})
	if err != nil {
		return nil, err
	}
	return &app{log: log, server: srv, ingest: svc, store: st, hub: hub, pruner: pruner, tracing: tracing, alerts: alerts, gcFloor: cfg.gcFloor, generatedToken: generated}, nil
}

// run serves on ln until ctx ends: the server, the watch hub (with, on
// PostgreSQL, its replica link), retention and the garbage collector's heap floor
// run in one errgroup, and the first to fail stops the others. Then it
// closes the app (queued deliveries commit, the database closes). It logs
// why it shut down and when it has stopped.
func (a *app) run(ctx context.Context, ln net.Listener) error {
	err := a.serve(ctx, ln)
	a.close()
	if err != nil {
		a.log.Error("stopped", "err", err)
		return err
	}
	a.log.Info("stopped")
	return nil
}

// serve is run without closing the app.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	if err := a.hub.Start(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		<-gctx.Done()
		// The cause names the signal ("terminated signal received"), or
		// the part that failed.
		a.log.Info("shutting down", "cause", context.Cause(gctx).Error())
		return nil
	})
	g.Go(func() error { return a.hub.Run(gctx) })
	g.Go(func() error { return a.pruner.Run(gctx) })
	if a.alerts != nil {
		// Off the commit path: the queue reads the feed on its own
		// schedule (package alert/queue).
		g.Go(func() error { return a.alerts.Run(gctx) })
	}
	g.Go(func() error {
		// Rows stored before migration 00004 get their figures and search
		// documents in the background, while the server runs.
		a.store.RunBackfill(gctx, store.DefaultBackfillBatch, 10*time.Second, a.log)
		return nil
	})
	g.Go(func() error {
		// The statistics' hourly rollups follow the closed hours.
		a.store.RunRollUp(gctx, time.Minute, a.log)
		return nil
	})
	if a.gcFloor > 0 {
		g.Go(func() error {
			gcFloor{floor: a.gcFloor, every: time.Second}.run(gctx)
			return nil
		})
	}
	g.Go(func() error { return a.server.Serve(gctx, ln) })
	return g.Wait()
}

// close releases the parts in dependency order: queued deliveries commit
// before the database closes. run calls it; call it only for an app that is
// never run.
func (a *app) close() {
	a.ingest.Close()
	_ = a.store.Close()
	// The last spans (the final commits') leave after everything stopped.
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	if err := a.tracing.Shutdown(ctx); err != nil {
		a.log.Warn("tracing: spans not exported at shutdown", "err", err)
	}
}

// tracingFlushTimeout bounds the export of the last spans at shutdown: an
// unreachable collector must not hold the process.
const tracingFlushTimeout = 5 * time.Second

// developmentSecret reports whether the LLM scheme accepts the sender's
// public development secret: when no secret is configured (it is then the
// default), or when it is among the configured ones. It asks a verifier of
// the configured secrets to verify a body signed with it, so that the
// secrets' syntax (names, whitespace) is read exactly as the webhook reads
// it; secrets too malformed to build a verifier are reported by complete.
func (c *ServeFlags) developmentSecret() bool {
	if len(c.WebhookSecret) == 0 {
		return true
	}
	v, err := webhook.NewVerifier(webhook.Config{Secrets: map[string][]string{webhook.SchemeLLM: c.WebhookSecret}})
	if err != nil {
		return false
	}
	probe := []byte(`{"probe":true}`)
	h := http.Header{}
	h.Set(webhook.HeaderLLMSignature, webhook.SignLLM(webhook.DevelopmentLLMSecret, probe))
	res, err := v.Verify(h, probe)
	return err == nil && res.Valid
}

// isLoopbackHost reports whether host, from --addr, is a loopback address or
// "localhost". An empty host, 0.0.0.0 and :: listen on every interface.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
