package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/callbackd/callbackd/internal/alert/channel"
	"github.com/callbackd/callbackd/internal/alert/queue"
	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/store"
	"github.com/callbackd/callbackd/server"
)

// alertsConfig reads and checks --alerts-config and says where alert
// messages link; the file's problems come back joined, to be reported with
// every other flag's.
func (c *ServeFlags) alertsConfig(tls bool) (*rules.Config, string, error) {
	// --public-url itself is checked with the session flags.
	public := strings.TrimRight(c.PublicURL, "/")
	if public == "" {
		scheme := "http"
		if tls {
			scheme = "https"
		}
		public = scheme + "://" + c.Addr
	}
	if c.AlertsConfig == "" {
		return nil, public, nil
	}
	cfg, err := rules.Load(c.AlertsConfig)
	if err != nil {
		return nil, "", fmt.Errorf("--alerts-config: %w", err)
	}
	return cfg, public, nil
}

// openAlerts migrates River's tables (or, with --no-migrate, checks them)
// and builds the alert queue over the store; nil without alerts.
func (cfg *completedConfig) openAlerts(ctx context.Context, log *slog.Logger, st *store.Store) (*queue.Queue, error) {
	if cfg.alerts == nil {
		return nil, nil
	}
	applied, err := queue.Migrate(ctx, st.DB(), st.Dialect(), cfg.flags.NoMigrate)
	if err != nil {
		return nil, err
	}
	for _, name := range applied {
		log.Info("applied schema migration", "name", name)
	}
	senders := map[string]queue.Sender{}
	for _, ch := range cfg.alerts.Channels {
		s, err := channel.New(ch, channel.Options{})
		if err != nil {
			return nil, err
		}
		senders[ch.Name] = s
	}
	q, err := queue.New(st.DB(), st.Dialect(), rules.NewEvaluator(cfg.alerts, cfg.publicURL), st, senders, queue.Config{Reads: st.ReadDB()}, log)
	if err != nil {
		return nil, err
	}
	if err := q.Start(ctx); err != nil {
		return nil, err
	}
	log.Info("alerts enabled", "rules", len(cfg.alerts.Rules), "channels", len(cfg.alerts.Channels), "public_url", cfg.publicURL)
	return q, nil
}

// alertReader is the queue as the admin API reads it: a nil interface,
// not a nil *queue.Queue, when alerts are off.
func alertReader(q *queue.Queue) server.Alerts {
	if q == nil {
		return nil
	}
	return q
}
