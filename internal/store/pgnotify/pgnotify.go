// Package pgnotify links the callbackd processes (replicas) that share one
// PostgreSQL database with LISTEN/NOTIFY: a replica that commits to the
// change feed sends a NOTIFY, and every replica LISTENs and wakes its watch
// hub for each one. It implements watch.Link, the interface the watch
// domain depends on; the watch package itself knows no database.
package pgnotify

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
)

// Channel is the PostgreSQL notification channel of the change feed. Its
// payload is empty: a notification only says "read the feed", so it stays
// tiny and a lost or merged one costs nothing but latency.
const Channel = "callbackd_feed"

// notifyInterval is the least time between two NOTIFYs of one replica;
// commits in between share the next one. A NOTIFY is a transaction of its
// own (it takes a transaction id and wakes every listening backend), and
// one per committed batch cost PostgreSQL a fifth of its CPU per ingested
// callback (see BENCHMARKS.md). Other replicas' watchers see a burst's
// first commit at once and the rest at most this much later; this
// replica's watchers are poked directly and never wait for it.
const notifyInterval = 5 * time.Millisecond

// notifySQL sends the notification without waiting for its commit record to
// reach the disk: a notification carries no data (the callbacks it announces
// were committed synchronously before), and one lost in a crash costs only
// the other replicas' poll interval. set_config(..., true) applies to this
// statement's own transaction.
const notifySQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')"

// Link carries "the change feed grew" between the replicas of one
// PostgreSQL database: Announce schedules a NOTIFY (at most one per
// notifyInterval, merging the announcements in between), and Listen LISTENs
// for the other replicas' notifications. Build it with New.
type Link struct {
	db         *sql.DB
	url        string
	log        *slog.Logger
	dirty      chan struct{}
	reconnects prometheus.Counter
}

// New returns a Link over the database at url (db is a pool on the same
// database, used to send notifications; Listen opens a connection of its
// own). Its metrics are registered on reg.
func New(db *sql.DB, url string, log *slog.Logger, reg prometheus.Registerer) (*Link, error) {
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callbackd_listener_reconnects_total",
		Help: "Times the PostgreSQL LISTEN connection was re-established.",
	})
	if err := reg.Register(reconnects); err != nil {
		return nil, fmt.Errorf("register listener metrics: %w", err)
	}
	return &Link{db: db, url: url, log: log, dirty: make(chan struct{}, 1), reconnects: reconnects}, nil
}

// Announce schedules a NOTIFY for the other replicas. It never blocks the
// commit path; the NOTIFY itself is sent by Listen's loop.
func (l *Link) Announce() {
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

// Listen sends the announced notifications and LISTENs for the other
// replicas' ones until ctx ends, calling heard for each notification and
// after each reconnect (notifications sent while disconnected are lost, so
// the feed must be read).
func (l *Link) Listen(ctx context.Context, heard func()) error {
	listener := pq.NewListener(l.url, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventReconnected:
			l.reconnects.Inc()
			l.log.Info("watch: LISTEN connection re-established; catching up")
			heard()
		case pq.ListenerEventDisconnected:
			l.log.Warn("watch: LISTEN connection lost", "err", err)
		case pq.ListenerEventConnectionAttemptFailed:
			l.log.Debug("watch: LISTEN reconnect failed", "err", err)
		}
	})
	defer listener.Close()
	if err := listener.Listen(Channel); err != nil {
		return fmt.Errorf("watch: LISTEN %s: %w", Channel, err)
	}
	var (
		quiet   <-chan time.Time // non-nil until notifyInterval after the last NOTIFY
		pending bool             // an announcement came since the last NOTIFY
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-listener.Notify:
			// nil after a reconnect; either way, read the feed.
			heard()
		case <-l.dirty:
			if quiet != nil {
				pending = true
				continue
			}
			l.notify(ctx)
			quiet = time.After(notifyInterval)
		case <-quiet:
			quiet = nil
			if pending {
				pending = false
				l.notify(ctx)
				quiet = time.After(notifyInterval)
			}
		}
	}
}

// notify tells the other replicas to read the feed.
func (l *Link) notify(ctx context.Context) {
	if _, err := l.db.ExecContext(ctx, notifySQL, Channel); err != nil && ctx.Err() == nil {
		// The other replicas' hubs poll, so they catch up anyway.
		l.log.Warn("watch: NOTIFY failed", "err", err)
	}
}
