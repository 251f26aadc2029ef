package watch

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callbackd/callbackd/callback"
)

// channel is the PostgreSQL notification channel of the change feed. Its
// payload is empty: a notification only says "read the feed", so it stays
// tiny and a lost or merged one costs nothing but latency.
const channel = "callbackd_feed"

// Replicas links the hubs of several callbackd processes on one PostgreSQL
// database: after a local commit it sends one NOTIFY (merging commits that
// happen while one is in flight), and it LISTENs for the other replicas'
// notifications, poking the local hub for each. Build it with NewReplicas
// and run it with Run.
type Replicas struct {
	db         *sql.DB
	url        string
	hub        *Hub
	log        *slog.Logger
	dirty      chan struct{}
	reconnects prometheus.Counter
}

// NewReplicas links hub to the other replicas through the database at url
// (db is a pool on the same database, used to send notifications).
func NewReplicas(db *sql.DB, url string, hub *Hub, log *slog.Logger, reg prometheus.Registerer) (*Replicas, error) {
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callbackd_listener_reconnects_total",
		Help: "Times the PostgreSQL LISTEN connection was re-established.",
	})
	if err := reg.Register(reconnects); err != nil {
		return nil, fmt.Errorf("register listener metrics: %w", err)
	}
	return &Replicas{db: db, url: url, hub: hub, log: log, dirty: make(chan struct{}, 1), reconnects: reconnects}, nil
}

// Publish pokes the local hub and schedules a NOTIFY for the other
// replicas. It never blocks the commit path.
func (r *Replicas) Publish(results []callback.SaveResult) {
	r.hub.Publish(results)
	select {
	case r.dirty <- struct{}{}:
	default:
	}
}

// Run sends notifications and listens for them until ctx ends.
func (r *Replicas) Run(ctx context.Context) error {
	listener := pq.NewListener(r.url, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventReconnected:
			// Notifications sent while disconnected are lost: read the feed.
			r.reconnects.Inc()
			r.log.Info("watch: LISTEN connection re-established; catching up")
			r.hub.Poke()
		case pq.ListenerEventDisconnected:
			r.log.Warn("watch: LISTEN connection lost", "err", err)
		case pq.ListenerEventConnectionAttemptFailed:
			r.log.Debug("watch: LISTEN reconnect failed", "err", err)
		}
	})
	defer listener.Close()
	if err := listener.Listen(channel); err != nil {
		return fmt.Errorf("watch: LISTEN %s: %w", channel, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-listener.Notify:
			_ = n // nil after a reconnect; either way, read the feed
			r.hub.Poke()
		case <-r.dirty:
			if _, err := r.db.ExecContext(ctx, "SELECT pg_notify($1, '')", channel); err != nil && ctx.Err() == nil {
				// The other replicas' hubs poll, so they catch up anyway.
				r.log.Warn("watch: NOTIFY failed", "err", err)
			}
		}
	}
}
