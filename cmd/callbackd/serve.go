package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/callbackd/callbackd/callback"
	"github.com/callbackd/callbackd/ingest"
	"github.com/callbackd/callbackd/server"
	"github.com/callbackd/callbackd/store"
	"github.com/callbackd/callbackd/webhook"
)

// Run serves until ctx ends (SIGINT/SIGTERM).
func (ServeCmd) Run(ctx context.Context, log *slog.Logger, db *DatabaseFlags, c *ServeFlags) error {
	app, err := c.build(ctx, log, db)
	if err != nil {
		return err
	}
	defer app.close()
	return app.server.Run(ctx)
}

// app is a built callbackd: every part constructed and validated, nothing
// listening yet.
type app struct {
	server *server.Server
	ingest *ingest.Service
	store  *store.Store
}

// serve serves on ln until ctx ends; tests use it with their own listener.
func (a *app) serve(ctx context.Context, ln net.Listener) error {
	return a.server.Serve(ctx, ln)
}

// close releases the parts in dependency order: queued deliveries commit
// before the database closes.
func (a *app) close() {
	a.ingest.Close()
	_ = a.store.Close()
}

// build validates the configuration (reporting every problem at once), opens
// and migrates the database, and wires the server.
func (c *ServeFlags) build(ctx context.Context, log *slog.Logger, db *DatabaseFlags) (*app, error) {
	verifier, err := c.verifier(log)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, db.DatabaseURL, db.DataDir, log)
	if err != nil {
		return nil, err
	}
	if err := migrate(ctx, log, st, c.NoMigrate); err != nil {
		_ = st.Close()
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	workers := 1
	if st.Dialect() == store.DialectPostgres {
		// A second worker overlaps one batch's commit round trips with the
		// next batch's; SQLite has a single writer, so one is enough there.
		workers = 2
	}
	svc, err := ingest.New(ctx, ingest.Config{
		Mode:         ingest.Mode(c.IngestMode),
		MaxBodyBytes: c.MaxBodyBytes,
		Payload:      callback.PayloadLimits{MaxDepth: c.MaxJSONDepth},
		Workers:      workers,
	}, st, verifier, nil, log, reg)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	srv, err := server.New(ctx, server.Config{
		Addr:            c.Addr,
		TLSCertFile:     c.TLSCert,
		TLSKeyFile:      c.TLSKey,
		MaxBodyBytes:    c.MaxBodyBytes,
		ShutdownTimeout: c.ShutdownTimeout,
	}, server.Deps{Store: st, Ingester: svc, Logger: log, Registry: reg})
	if err != nil {
		svc.Close()
		_ = st.Close()
		return nil, err
	}
	return &app{server: srv, ingest: svc, store: st}, nil
}

// verifier builds the signature verifier, failing closed on any
// misconfiguration.
func (c *ServeFlags) verifier(log *slog.Logger) (*webhook.Verifier, error) {
	llm := c.WebhookSecret
	if len(llm) == 0 {
		llm = []string{"development=" + webhook.DevelopmentLLMSecret}
		log.Warn("no --webhook-secret / LLM_WEBHOOK_SECRET configured: accepting the LLM service's PUBLIC development secret; set your own before exposing callbackd")
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
	if c.MaxBodyBytes <= 0 {
		problems = append(problems, fmt.Errorf("--max-body-bytes %d: must be positive", c.MaxBodyBytes))
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
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if c.IngestMode != string(ingest.ModeGroupCommit) {
		log.Warn("benchmark ingest mode: not for production", "mode", c.IngestMode)
	}
	if c.AllowUnsigned {
		log.Warn("!!! --allow-unsigned is ON: deliveries without any signature are STORED (marked unverified). Never use this outside local experiments. !!!")
	}
	return v, nil
}
