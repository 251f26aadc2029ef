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

// notifyInterval is the least time between two NOTIFYs of one replica;
// commits in between share the next one. A NOTIFY is a transaction of its
// own (it takes a transaction id and wakes every listening backend), and
// one per committed batch cost PostgreSQL a fifth of its CPU per ingested
// callback at 4,600 callbacks/s. Other replicas' watchers see a burst's
// first commit at once and the rest at most this much later; this
// replica's watchers are poked directly and never wait for it.
const notifyInterval = 5 * time.Millisecond

// notifySQL sends the notification without waiting for its commit record to
// reach the disk: a notification carries no data (the callbacks it announces
// were committed synchronously before), and one lost in a crash costs only
// the other replicas' poll interval. set_config(..., true) applies to this
// statement's own transaction.
const notifySQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')"

// Replicas links the hubs of several callbackd processes on one PostgreSQL
// database: after a local commit it sends a NOTIFY (at most one per
// notifyInterval, merging the commits in between), and it LISTENs for the
// other replicas' notifications, poking the local hub for each. Build it
// with NewReplicas and run it with Run.
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
	var (
		quiet   <-chan time.Time // non-nil until notifyInterval after the last NOTIFY
		pending bool             // a commit happened since the last NOTIFY
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-listener.Notify:
			_ = n // nil after a reconnect; either way, read the feed
			r.hub.Poke()
		case <-r.dirty:
			if quiet != nil {
				pending = true
				continue
			}
			r.notify(ctx)
			quiet = time.After(notifyInterval)
		case <-quiet:
			quiet = nil
			if pending {
				pending = false
				r.notify(ctx)
				quiet = time.After(notifyInterval)
			}
		}
	}
}

// notify tells the other replicas to read the feed.
func (r *Replicas) notify(ctx context.Context) {
	if _, err := r.db.ExecContext(ctx, notifySQL, channel); err != nil && ctx.Err() == nil {
		// The other replicas' hubs poll, so they catch up anyway.
		r.log.Warn("watch: NOTIFY failed", "err", err)
	}
}
