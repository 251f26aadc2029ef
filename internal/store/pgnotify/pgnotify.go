// Package pgnotify links the callbackd processes (replicas) that share one
// PostgreSQL database with LISTEN/NOTIFY: a replica that commits to the
// change feed sends a NOTIFY, and every replica LISTENs and wakes its watch
// hub for each one. It implements watch.Link, the interface the watch
// domain depends on; the watch package itself knows no database.
//
// A notification carries no data, only trace context when tracing is on:
// the feed position and the W3C traceparent of each traced delivery it
// announces, so that the other replicas' watchers can link their events to
// the delivery too.
package pgnotify

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/callbackd/callbackd/internal/callback"
)

// Channel is the PostgreSQL notification channel of the change feed. Its
// payload is empty unless tracing is on: a notification only says "read the
// feed", so it stays tiny and a lost or merged one costs nothing but
// latency. With tracing, it holds one line "<seq> <traceparent>" for each
// traced delivery it announces (see encodeTraces).
const Channel = "callbackd_feed"

// maxPayloadBytes bounds a notification's payload, under PostgreSQL's
// limit of 8000 bytes: about a hundred traced deliveries. The trace context
// of further deliveries merged into the same notification is dropped (their
// changes are still announced); it is telemetry, and the receiving
// replica's watchers then see no traceparent for them.
const maxPayloadBytes = 7800

// maxPendingTraces bounds the trace context waiting for the next NOTIFY: no
// more lines than the shortest ones (a one-digit position, a space, a
// traceparent of 55 bytes, a newline) that fit a payload.
const maxPendingTraces = maxPayloadBytes / 58

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
const notifySQL = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)"

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
	tracer     trace.Tracer // nil: tracing is off

	mu     sync.Mutex
	traces []callback.FeedTrace // announced since the last NOTIFY, in order
}

// New returns a Link over the database at url (db is a pool on the same
// database, used to send notifications; Listen opens a connection of its
// own). Its metrics are registered on reg. tracing, when not nil, traces
// each NOTIFY that carries trace context and each one heard ("callbackd.feed.notify",
// "callbackd.feed.heard", linked to the deliveries they announce).
func New(db *sql.DB, url string, log *slog.Logger, reg prometheus.Registerer, tracing trace.TracerProvider) (*Link, error) {
	reconnects := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "callbackd_listener_reconnects_total",
		Help: "Times the PostgreSQL LISTEN connection was re-established.",
	})
	if err := reg.Register(reconnects); err != nil {
		return nil, fmt.Errorf("register listener metrics: %w", err)
	}
	l := &Link{db: db, url: url, log: log, dirty: make(chan struct{}, 1), reconnects: reconnects}
	if tracing != nil {
		l.tracer = tracing.Tracer("github.com/callbackd/callbackd")
	}
	return l, nil
}

// Announce schedules a NOTIFY for the other replicas, with the trace
// context of traced deliveries. It never blocks the commit path; the NOTIFY
// itself is sent by Listen's loop.
func (l *Link) Announce(traces []callback.FeedTrace) {
	if len(traces) > 0 {
		l.mu.Lock()
		// A bound on what waits: more would not fit a payload anyway.
		if room := maxPendingTraces - len(l.traces); room > 0 {
			l.traces = append(l.traces, traces[:min(room, len(traces))]...)
		}
		l.mu.Unlock()
	}
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

// Listen sends the announced notifications and LISTENs for the other
// replicas' ones until ctx ends, calling heard for each notification and
// after each reconnect (notifications sent while disconnected are lost, so
// the feed must be read).
func (l *Link) Listen(ctx context.Context, heard func(traces []callback.FeedTrace)) error {
	listener := pq.NewListener(l.url, 100*time.Millisecond, 5*time.Second, func(ev pq.ListenerEventType, err error) {
		switch ev {
		case pq.ListenerEventReconnected:
			l.reconnects.Inc()
			l.log.Info("watch: LISTEN connection re-established; catching up")
			heard(nil)
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
		case n := <-listener.Notify:
			// nil after a reconnect; either way, read the feed.
			var traces []callback.FeedTrace
			if n != nil && n.Extra != "" {
				traces = decodeTraces(n.Extra)
				l.traceHeard(ctx, traces)
			}
			heard(traces)
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

// notify tells the other replicas to read the feed, with the trace context
// announced since the last NOTIFY.
func (l *Link) notify(ctx context.Context) {
	l.mu.Lock()
	traces := l.traces
	l.traces = nil
	l.mu.Unlock()
	payload, sent := encodeTraces(traces)
	if l.tracer != nil && sent > 0 {
		var span trace.Span
		ctx, span = l.tracer.Start(ctx, "callbackd.feed.notify",
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithNewRoot(),
			trace.WithLinks(deliveryLinks(traces[:sent])...),
			trace.WithAttributes(attribute.String("messaging.system", "postgresql"), attribute.String("messaging.destination.name", Channel), attribute.Int("callbackd.traces", sent)))
		defer span.End()
	}
	if _, err := l.db.ExecContext(ctx, notifySQL, Channel, payload); err != nil && ctx.Err() == nil {
		// The other replicas' hubs poll, so they catch up anyway.
		l.log.Warn("watch: NOTIFY failed", "err", err)
	}
}

// traceHeard records a notification from another replica that carried
// trace context, as a span linked to the deliveries it announced.
func (l *Link) traceHeard(ctx context.Context, traces []callback.FeedTrace) {
	if l.tracer == nil || len(traces) == 0 {
		return
	}
	_, span := l.tracer.Start(ctx, "callbackd.feed.heard",
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithNewRoot(),
		trace.WithLinks(deliveryLinks(traces)...),
		trace.WithAttributes(attribute.String("messaging.system", "postgresql"), attribute.String("messaging.destination.name", Channel), attribute.Int("callbackd.traces", len(traces))))
	span.End()
}

// deliveryLinks links a span to the deliveries of traces.
func deliveryLinks(traces []callback.FeedTrace) []trace.Link {
	links := make([]trace.Link, len(traces))
	for i, t := range traces {
		links[i] = trace.Link{SpanContext: t.Span, Attributes: []attribute.KeyValue{
			attribute.String("callbackd.link", "delivery"),
			attribute.Int64("callbackd.feed.seq", t.Seq),
		}}
	}
	return links
}

// encodeTraces writes trace context as a notification's payload, one line
// "<seq> <traceparent>" each, as many as fit maxPayloadBytes; sent is how
// many did.
func encodeTraces(traces []callback.FeedTrace) (payload string, sent int) {
	var b strings.Builder
	for _, t := range traces {
		line := strconv.FormatInt(t.Seq, 10) + " " + callback.TraceParent(t.Span) + "\n"
		if b.Len()+len(line) > maxPayloadBytes {
			break
		}
		b.WriteString(line)
		sent++
	}
	return b.String(), sent
}

// decodeTraces reads a payload written by encodeTraces. It came from
// another process: a line that is not a position and a valid traceparent is
// skipped.
func decodeTraces(payload string) []callback.FeedTrace {
	var traces []callback.FeedTrace
	for line := range strings.Lines(payload) {
		seq, parent, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(seq, 10, 64)
		if err != nil || n <= 0 {
			continue
		}
		sc, ok := callback.ParseTraceParent(parent)
		if !ok {
			continue
		}
		traces = append(traces, callback.FeedTrace{Seq: n, Span: sc})
	}
	return traces
}
