package main

import (
	"context"
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

	"github.com/callbackd/callbackd/auth"
	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/ingest"
	"github.com/callbackd/callbackd/retention"
	"github.com/callbackd/callbackd/server"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/store/pgnotify"
	"github.com/callbackd/callbackd/watch"
	"github.com/callbackd/callbackd/web"
	"github.com/callbackd/callbackd/webhook"
)

// Run serves until ctx ends (SIGINT/SIGTERM).
func (ServeCmd) Run(ctx context.Context, log *slog.Logger, db *DatabaseFlags, c *ServeFlags, con console) error {
	app, err := c.build(ctx, log, db)
	if err != nil {
		return err
	}
	defer app.close()
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	if _, set := os.LookupEnv("GOGC"); !set && c.GCHeapFloor > 0 {
		go gcFloor{floor: uint64(c.GCHeapFloor), every: time.Second}.run(ctx)
	}
	if app.generatedToken != "" {
		announceLogin(log, con, db.DataDir, loginURL(ln.Addr().String(), c.TLSCert != "", app.generatedToken))
	}
	return app.serve(ctx, ln)
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

// app is a built callbackd: every part constructed and validated, nothing
// listening yet.
type app struct {
	server *server.Server
	ingest *ingest.Service
	store  *store.Store
	hub    *watch.Hub
	pruner *retention.Runner
	// generatedToken is the admin token callbackd generated, when no admin
	// credential was configured; Run prints a login URL with it.
	generatedToken string
}

// serve runs the server, the watch hub (with, on PostgreSQL, its replica
// link) and retention on ln until ctx ends; tests use it with their own listener.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	if err := a.hub.Start(ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return a.hub.Run(gctx) })
	g.Go(func() error { return a.pruner.Run(gctx) })
	g.Go(func() error { return a.server.Serve(gctx, ln) })
	return g.Wait()
}

// close releases the parts in dependency order: queued deliveries commit
// before the database closes.
func (a *app) close() {
	a.ingest.Close()
	_ = a.store.Close()
}

// build validates the configuration (reporting every problem at once), opens
// and migrates the database, and wires the server. On failure it releases
// what it opened.
func (c *ServeFlags) build(ctx context.Context, log *slog.Logger, db *DatabaseFlags) (_ *app, err error) {
	verifier, proxies, err := c.validate(log)
	if err != nil {
		return nil, err
	}
	ui, err := web.NewHandler()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db.DatabaseURL, db.DataDir, log)
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
	authn, generated, err := c.authenticator(ctx, log, db.DataDir)
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
		if link, err = pgnotify.New(st.DB(), db.DatabaseURL, log, reg); err != nil {
			return nil, err
		}
	}
	hub, err := watch.NewHub(st, watch.Config{Buffer: c.WatchBuffer, PollInterval: c.WatchPoll, Link: link}, log, reg)
	if err != nil {
		return nil, err
	}
	// One commit worker: batches commit one at a time anyway (the change-feed
	// counter is locked until commit), and a second worker only grabs a small
	// batch early and then waits, delaying the deliveries that arrive behind
	// it (measured: p99 at half the maximum rate 16 ms with two workers,
	// 10 ms with one, at the same throughput).
	const workers = 1
	svc, err := ingest.New(ctx, ingest.Config{
		Mode:         ingest.Mode(c.IngestMode),
		MaxBodyBytes: c.MaxBodyBytes,
		Payload:      callback.PayloadLimits{MaxDepth: c.MaxJSONDepth},
		Workers:      workers,

		FailuresPerSecond: c.WebhookFailureRate,
		FailureBurst:      c.WebhookFailureBurst,
	}, st, verifier, hub, log, reg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			svc.Close() // before the store closes: deferred calls run last-in first-out
		}
	}()
	srv, err := server.New(ctx, server.Config{
		TrustedProxies:  proxies,
		TLSCertFile:     c.TLSCert,
		TLSKeyFile:      c.TLSKey,
		MaxBodyBytes:    c.MaxBodyBytes,
		Heartbeat:       c.Heartbeat,
		ShutdownTimeout: c.ShutdownTimeout,

		MaxStreams:                c.MaxStreams,
		MaxStreamsPerAdmin:        c.MaxStreamsPerAdmin,
		MaxUnauthenticatedStreams: c.MaxUnauthenticatedStreams,
		UnauthenticatedStreamIdle: c.UnauthenticatedStreamIdle,
		AdminAuthFailureRate:      c.AdminAuthFailureRate,
		AdminAuthFailureBurst:     c.AdminAuthFailureBurst,
		DevelopmentSecret:         c.developmentSecret(),
	}, server.Deps{Store: st, Ingester: svc, Authenticator: authn, Signer: verifier, Hub: hub, Logger: log, Registry: reg, UI: ui})
	if err != nil {
		return nil, err
	}
	return &app{server: srv, ingest: svc, store: st, hub: hub, pruner: pruner, generatedToken: generated}, nil
}

// validate checks the flags that need no database, reporting every problem
// at once, and builds the signature verifier (failing closed on any
// misconfiguration) and the trusted proxy list.
func (c *ServeFlags) validate(log *slog.Logger) (*webhook.Verifier, []netip.Prefix, error) {
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
	var problems []error
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		problems = append(problems, fmt.Errorf("--addr %q: %w", c.Addr, err))
	}
	development := c.developmentSecret()
	switch {
	case !development:
	case err == nil && !isLoopbackHost(host) && len(c.WebhookSecret) == 0:
		problems = append(problems, fmt.Errorf("--addr %q is not a loopback address: configure the LLM service's webhook secret with --webhook-secret or LLM_WEBHOOK_SECRET (without one, callbackd would accept the service's public development secret, with which anyone can sign)", c.Addr))
	case err == nil && !isLoopbackHost(host):
		problems = append(problems, fmt.Errorf("--webhook-secret / LLM_WEBHOOK_SECRET: the LLM service's public development secret is refused on --addr %q, which is not a loopback address: anyone can sign with it", c.Addr))
	}
	if c.GCHeapFloor < 0 {
		problems = append(problems, fmt.Errorf("--gc-heap-floor %d: must be 0 (off) or positive", c.GCHeapFloor))
	}
	if c.MaxBodyBytes <= 0 {
		problems = append(problems, fmt.Errorf("--max-body-bytes %d: must be positive", c.MaxBodyBytes))
	}
	var proxies []netip.Prefix
	for _, cidr := range c.TrustedProxy {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			problems = append(problems, fmt.Errorf("--trusted-proxy %q: %w", cidr, err))
		}
		proxies = append(proxies, p)
	}
	if c.MaxStreams < 1 || c.MaxStreamsPerAdmin < 1 || c.MaxUnauthenticatedStreams < 1 {
		problems = append(problems, fmt.Errorf("--max-streams, --max-streams-per-admin, --max-unauthenticated-streams: must be at least 1"))
	}
	if c.UnauthenticatedStreamIdle <= 0 {
		problems = append(problems, fmt.Errorf("--unauthenticated-stream-idle %s: must be positive", c.UnauthenticatedStreamIdle))
	}
	if c.AdminAuthFailureRate < 0 || (c.AdminAuthFailureRate > 0 && c.AdminAuthFailureBurst < 1) {
		problems = append(problems, fmt.Errorf("--admin-auth-failure-rate %g, --admin-auth-failure-burst %d: the rate must be 0 (off) or positive, the burst at least 1", c.AdminAuthFailureRate, c.AdminAuthFailureBurst))
	}
	if c.MaxJSONDepth < 2 {
		problems = append(problems, fmt.Errorf("--max-json-depth %d: must be at least 2", c.MaxJSONDepth))
	}
	v, err := webhook.NewVerifier(webhook.Config{
		Secrets:       secrets,
		Tolerance:     c.SignatureTolerance,
		AllowUnsigned: c.AllowUnsigned,
	})
	if err != nil {
		problems = append(problems, err)
	}
	if err := errors.Join(problems...); err != nil {
		return nil, nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if development {
		log.Warn("the LLM scheme accepts the LLM service's PUBLIC development secret (no --webhook-secret / LLM_WEBHOOK_SECRET configured, or that secret given): anyone can sign callbacks; allowed on a loopback address only")
	}
	if c.IngestMode != string(ingest.ModeGroupCommit) {
		log.Warn("benchmark ingest mode: not for production", "mode", c.IngestMode)
	}
	if c.AllowUnsigned {
		log.Warn("!!! --allow-unsigned is ON: deliveries without any signature are STORED (marked unverified). Never use this outside local experiments. !!!")
	}
	return v, proxies, nil
}

// developmentSecret reports whether the LLM scheme accepts the sender's
// public development secret: when no secret is configured (it is then the
// default), or when it is among the configured ones. It asks a verifier of
// the configured secrets to verify a body signed with it, so that the
// secrets' syntax (names, whitespace) is read exactly as the webhook reads
// it; secrets too malformed to build a verifier are reported by validate.
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
