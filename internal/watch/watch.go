// Package watch streams the change feed to admins: a Hub tails the database's
// change feed (callbacks received or redelivered, callbacks viewed) into one
// in-memory ring that every subscriber reads at its own pace. A subscriber
// resuming from a cursor, or one too slow for the ring, reads what it missed
// from the database, then continues from the ring: no gap, no duplicate.
//
// The database is the source of truth. The hub reads it when poked (after a
// local commit, or when its Link hears from another replica) and also on a
// timer, so a lost notification delays an event but never loses it. While
// nobody subscribes it reads nothing (see Hub.Run).
//
// Trace context rides along in memory: the hub remembers which traced
// delivery made which feed position (told by the committer, or by another
// replica through the Link), and the changes it hands out carry that span,
// so that a watch event can be linked to its delivery.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
)

// Defaults of Config.
const (
	DefaultBuffer       = 4096
	DefaultPollInterval = time.Second
	readBatch           = 500
)

// ErrStopped ends every subscription when the hub stops (the server is
// shutting down). The watcher resumes from its last cursor, on this replica
// once it is back or on another.
var ErrStopped = errors.New("server shutting down; resume from the last cursor")

// ErrInvalidCursor is returned for a cursor that does not parse or points
// past the end of the feed.
var ErrInvalidCursor = apierror.New(apierror.InvalidCursor, "invalid cursor")

// Feed is the part of callback.Store the hub reads.
type Feed interface {
	Changes(ctx context.Context, after int64, limit int) ([]callback.Change, error)
	LastSeq(ctx context.Context) (int64, error)
}

// Link carries "the feed grew" between the callbackd processes (replicas)
// that share one database, so that a commit on one wakes the watchers of
// all. The hub depends on this interface; the store layer implements it
// (store/pgnotify, with PostgreSQL LISTEN/NOTIFY). A link only saves
// latency: the hub also polls, so a lost signal delays an event, never
// loses it.
type Link interface {
	// Announce tells the other replicas that the feed grew, and the trace
	// context of the traced deliveries that grew it (nil when none was
	// traced). It never blocks the commit path; a link may drop trace
	// context it has no room for.
	Announce(traces []callback.FeedTrace)
	// Listen calls heard whenever another replica announced (with what it
	// announced of trace context), or the link may have missed
	// announcements, until ctx ends. An error ends the hub's Run.
	Listen(ctx context.Context, heard func(traces []callback.FeedTrace)) error
}

// Config tunes a Hub.
type Config struct {
	// Buffer is how many recent changes the hub keeps in memory, shared by
	// all subscribers; one further behind reads from the database instead.
	// Zero means DefaultBuffer.
	Buffer int
	// PollInterval is how often the hub reads the feed without being poked.
	// Zero means DefaultPollInterval.
	PollInterval time.Duration
	// Link connects the hub to the other replicas of its database; nil for
	// a single process (SQLite).
	Link Link
}

// Hub tails the change feed into a ring shared by its subscribers. Build it
// with NewHub, position it with Start, run it with Run.
//
// Subscribers pull; the hub never pushes. So a slow or stuck subscriber
// costs nothing but its own position: it never slows ingestion, the hub or
// other subscribers, holds no queue, and when it resumes reading it catches
// up from the database if the ring has moved past it.
type Hub struct {
	feed    Feed
	cfg     Config
	log     *slog.Logger
	poke    chan struct{}
	metrics *metrics

	mu      sync.Mutex
	ring    []callback.Change // the most recent changes, oldest at head
	head    int               // index of the oldest change in ring
	n       int               // changes in ring
	base    int64             // the ring holds every change after base, up to last
	last    int64             // highest Seq read from the feed
	wake    chan struct{}     // closed when changes arrive or the hub stops
	stopped bool
	subs    int  // open subscriptions
	stale   bool // reads were skipped while subs was 0: last may be behind the feed

	// traces maps feed positions to the span of the delivery that made
	// them, for the most recent len(traceOrder) traced changes; empty when
	// tracing is off everywhere.
	traces     map[int64]trace.SpanContext
	traceOrder []int64 // positions in the order remembered, for eviction
	traceNext  int
}

// NewHub returns a hub over feed. Its metrics are registered on reg.
func NewHub(feed Feed, cfg Config, log *slog.Logger, reg prometheus.Registerer) (*Hub, error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = DefaultBuffer
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Hub{
		feed: feed, cfg: cfg, log: log, metrics: m,
		poke: make(chan struct{}, 1),
		ring: make([]callback.Change, cfg.Buffer),
		wake: make(chan struct{}),

		traces:     map[int64]trace.SpanContext{},
		traceOrder: make([]int64, cfg.Buffer),
	}, nil
}

// Start positions the hub at the end of the feed, so that the ring holds
// only what commits afterwards. Call it once before Run and Subscribe.
func (h *Hub) Start(ctx context.Context) error {
	last, err := h.feed.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("watch: read feed position: %w", err)
	}
	h.mu.Lock()
	h.last, h.base = last, last
	h.mu.Unlock()
	return nil
}

// Poke tells the hub that the feed may have grown. It never blocks.
func (h *Hub) Poke() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// Publish pokes the hub after a commit and announces it to the other
// replicas, with the trace context of its traced deliveries; it makes Hub
// an ingest.Publisher.
func (h *Hub) Publish(results []callback.SaveResult) {
	var traces []callback.FeedTrace
	for _, r := range results {
		if r.Trace.IsValid() {
			traces = append(traces, callback.FeedTrace{Seq: r.Seq, Span: r.Trace})
		}
	}
	h.remember(traces)
	h.Poke()
	if h.cfg.Link != nil {
		h.cfg.Link.Announce(traces)
	}
}

// heard is what the Link calls: another replica committed.
func (h *Hub) heard(traces []callback.FeedTrace) {
	h.remember(traces)
	h.Poke()
}

// remember keeps the trace context of feed positions, evicting the oldest
// beyond as many as the ring holds changes.
func (h *Hub) remember(traces []callback.FeedTrace) {
	if len(traces) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range traces {
		if _, ok := h.traces[t.Seq]; !ok {
			delete(h.traces, h.traceOrder[h.traceNext])
			h.traceOrder[h.traceNext] = t.Seq
			h.traceNext = (h.traceNext + 1) % len(h.traceOrder)
		}
		h.traces[t.Seq] = t.Span
	}
}

// traced sets the trace context of the changes whose delivery the hub
// knows; h.mu must be held.
func (h *Hub) traced(changes []callback.Change) {
	if len(h.traces) == 0 {
		return
	}
	for i := range changes {
		if sc, ok := h.traces[changes[i].Seq]; ok {
			changes[i].Trace = sc
		}
	}
}

// Traced sets the trace context of the changes (read from the feed by the
// caller) whose delivery this hub knows.
func (h *Hub) Traced(changes []callback.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.traced(changes)
}

// Run tails the feed until ctx ends, then ends every subscription with
// ErrStopped.
//
// While nobody subscribes, Run skips its reads: they would fill a ring no one
// reads, and on a busy receiver they cost as much as a tenth of the server's
// CPU (a read after every committed batch) and as much of the database's.
// The first subscriber then moves the hub to the end of the feed (see
// Subscribe); whoever resumes from an older cursor reads the database, as any
// watcher behind the ring does.
//
// With a Link, Run also listens to the other replicas, and a failing link
// ends Run with its error.
func (h *Hub) Run(ctx context.Context) error {
	if h.cfg.Link == nil {
		return h.tail(ctx)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.cfg.Link.Listen(gctx, h.heard) })
	g.Go(func() error { return h.tail(gctx) })
	return g.Wait()
}

// tail reads the feed into the ring when poked or on the timer until ctx
// ends, then ends every subscription with ErrStopped.
func (h *Hub) tail(ctx context.Context) error {
	ticker := time.NewTicker(h.cfg.PollInterval)
	defer ticker.Stop()
	defer h.stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.poke:
		case <-ticker.C:
		}
		h.mu.Lock()
		h.stale = h.stale || h.subs == 0
		// While stale, the first subscriber is moving the hub to the end of
		// the feed; reading from the old position now could mean reading
		// everything committed while nobody watched.
		idle := h.stale
		h.mu.Unlock()
		if idle {
			continue
		}
		if err := h.catchUp(ctx); err != nil && ctx.Err() == nil {
			// The database is down; the next poke or tick retries. Watchers
			// keep their streams and miss nothing.
			h.log.Warn("watch: reading the change feed failed", "err", err)
		}
	}
}

// catchUp reads every change after the hub's position into the ring.
func (h *Hub) catchUp(ctx context.Context) error {
	for {
		h.mu.Lock()
		after := h.last
		h.mu.Unlock()
		changes, err := h.feed.Changes(ctx, after, readBatch)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		h.append(changes)
		if len(changes) < readBatch {
			return nil
		}
	}
}

// append adds changes to the ring, evicting the oldest, and wakes waiting
// subscribers.
func (h *Hub) append(changes []callback.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	added := 0
	for _, c := range changes {
		if c.Seq <= h.last {
			continue
		}
		if h.n == len(h.ring) {
			h.base = h.ring[h.head].Seq // everything up to it is now only in the database
			h.head = (h.head + 1) % len(h.ring)
			h.n--
		}
		h.ring[(h.head+h.n)%len(h.ring)] = c
		h.n++
		h.last = c.Seq
		added++
	}
	if added > 0 {
		close(h.wake)
		h.wake = make(chan struct{})
	}
}

// stop ends every subscription.
func (h *Hub) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		close(h.wake)
	}
}

// after returns the ring's changes after pos (at most max); or, when the
// ring no longer covers pos, behind and the ring's base (the caller must
// read the database up to there); and the channel that is closed when more
// changes arrive.
func (h *Hub) after(pos int64, max int) (changes []callback.Change, behind bool, base int64, wake <-chan struct{}, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, false, 0, nil, ErrStopped
	}
	if pos < h.base {
		return nil, true, h.base, h.wake, nil
	}
	for i := range h.n {
		c := h.ring[(h.head+i)%len(h.ring)]
		if c.Seq <= pos {
			continue
		}
		changes = append(changes, c)
		if len(changes) == max {
			break
		}
	}
	h.traced(changes)
	return changes, false, 0, h.wake, nil
}

// Subscribe starts a subscription after cursor ("" means from now).
func (h *Hub) Subscribe(ctx context.Context, cursor string) (_ *Subscription, err error) {
	h.mu.Lock()
	h.subs++
	stale := h.stale
	h.mu.Unlock()
	defer func() {
		if err != nil {
			h.unsubscribe()
		}
	}()
	if stale {
		if err := h.skipToEnd(ctx); err != nil {
			return nil, err
		}
	}
	pos, err := h.resolve(ctx, cursor)
	if err != nil {
		return nil, err
	}
	h.metrics.watchers.Inc()
	return &Subscription{hub: h, pos: pos}, nil
}

// skipToEnd moves an idle hub to the end of the feed with an empty ring,
// rather than reading everything committed while nobody watched: that
// could be millions of rows, and no one is waiting for them.
func (h *Hub) skipToEnd(ctx context.Context) error {
	last, err := h.feed.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("watch: read feed position: %w", err)
	}
	h.mu.Lock()
	if last > h.last {
		// The ring still holds every change after base up to last: none.
		h.last, h.base, h.head, h.n = last, last, 0, 0
	}
	h.stale = false
	h.mu.Unlock()
	h.Poke() // for commits after LastSeq whose poke Run skipped meanwhile
	return nil
}

// unsubscribe forgets one subscription.
func (h *Hub) unsubscribe() {
	h.mu.Lock()
	h.subs--
	h.mu.Unlock()
}

// resolve parses a cursor; "" is the hub's current position.
func (h *Hub) resolve(ctx context.Context, cursor string) (int64, error) {
	if cursor == "" {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.last, nil
	}
	seq, err := ParseCursor(cursor)
	if err != nil {
		return 0, err
	}
	last, err := h.feed.LastSeq(ctx)
	if err != nil {
		return 0, fmt.Errorf("watch: read feed position: %w", err)
	}
	if seq > last {
		return 0, fmt.Errorf("%w: %q is past the end of the feed (was the database replaced?)", ErrInvalidCursor, cursor)
	}
	return seq, nil
}

// Position returns the cursor of the end of the feed as the hub knows it.
func (h *Hub) Position() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return FormatCursor(h.last)
}

// Subscription is one watcher's position in the feed. It is not safe for
// concurrent use.
type Subscription struct {
	hub     *Hub
	pos     int64             // Seq of the last change returned by Next
	pending []callback.Change // read but not yet returned
	closed  bool
}

// Next returns the change after the subscription's position, waiting for
// one if needed. It returns ctx's error when ctx ends and ErrStopped when
// the hub stopped.
func (s *Subscription) Next(ctx context.Context) (callback.Change, error) {
	for len(s.pending) == 0 {
		changes, behind, base, wake, err := s.hub.after(s.pos, readBatch)
		switch {
		case err != nil:
			return callback.Change{}, err
		case behind:
			// The ring moved past us: read the database, which holds every
			// committed change in order.
			if changes, err = s.hub.feed.Changes(ctx, s.pos, readBatch); err != nil {
				return callback.Change{}, err
			}
			s.hub.Traced(changes)
			s.hub.metrics.replayed.Add(float64(len(changes)))
			if len(changes) == 0 {
				// Nothing after pos is left in the database (rows moved on by
				// redeliveries, or pruned): continue from the ring.
				s.pos = base
				continue
			}
		}
		if len(changes) > 0 {
			s.pending = changes
			break
		}
		select {
		case <-ctx.Done():
			return callback.Change{}, ctx.Err()
		case <-wake:
		}
	}
	c := s.pending[0]
	s.pending = s.pending[1:]
	s.pos = c.Seq
	s.hub.metrics.fannedOut.Inc()
	return c, nil
}

// Cursor is the position after the last change Next returned.
func (s *Subscription) Cursor() string { return FormatCursor(s.pos) }

// Close ends the subscription.
func (s *Subscription) Close() {
	if !s.closed {
		s.closed = true
		s.hub.unsubscribe()
		s.hub.metrics.watchers.Dec()
	}
}

// cursorPrefix versions the opaque cursor format.
const cursorPrefix = "c1."

// FormatCursor encodes a feed position as an opaque cursor.
func FormatCursor(seq int64) string {
	return cursorPrefix + strconv.FormatInt(seq, 36)
}

// ParseCursor decodes a cursor made by FormatCursor.
func ParseCursor(cursor string) (int64, error) {
	digits, ok := strings.CutPrefix(cursor, cursorPrefix)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrInvalidCursor, cursor)
	}
	seq, err := strconv.ParseInt(digits, 36, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("%w: %q", ErrInvalidCursor, cursor)
	}
	return seq, nil
}

// metrics are the hub's Prometheus collectors.
type metrics struct {
	watchers  prometheus.Gauge
	fannedOut prometheus.Counter
	replayed  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callbackd_watchers", Help: "Watchers currently subscribed to the change feed.",
		}),
		fannedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_watch_events_fanned_out_total", Help: "Change-feed events handed to watchers.",
		}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_watch_events_replayed_total", Help: "Change-feed events that watchers read from the database (resuming, or behind the in-memory ring).",
		}),
	}
	for _, c := range []prometheus.Collector{m.watchers, m.fannedOut, m.replayed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register watch metrics: %w", err)
		}
	}
	return m, nil
}
