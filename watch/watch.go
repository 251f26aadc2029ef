// Package watch streams the change feed to admins: a Hub tails the database's
// change feed (callbacks received or redelivered, callbacks viewed) and fans
// every entry out to subscribed watchers; a subscriber that resumes from a
// cursor first replays what it missed from the database, then continues live
// with no gap and no duplicate at the seam.
//
// The database is the source of truth. The hub reads it when poked (after a
// local commit, or on a PostgreSQL NOTIFY from another replica) and also on a
// timer, so a lost notification delays an event but never loses it.
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

	"github.com/callbackd/callbackd/callback"
)

// Defaults of Config.
const (
	DefaultBuffer       = 1024
	DefaultPollInterval = time.Second
	readBatch           = 500
)

// ErrFellBehind ends the subscription of a watcher that did not keep up: its
// buffer filled. The watcher resumes from its last cursor and loses nothing.
var ErrFellBehind = errors.New("watcher fell behind; resume from the last cursor")

// ErrStopped ends every subscription when the hub stops (the server is
// shutting down). The watcher resumes from its last cursor, on this replica
// once it is back or on another.
var ErrStopped = errors.New("server shutting down; resume from the last cursor")

// ErrInvalidCursor is returned for a cursor that does not parse or points
// past the end of the feed.
var ErrInvalidCursor = errors.New("invalid cursor")

// Feed is the part of callback.Store the hub reads.
type Feed interface {
	Changes(ctx context.Context, after int64, limit int) ([]callback.Change, error)
	LastSeq(ctx context.Context) (int64, error)
}

// Config tunes a Hub.
type Config struct {
	// Buffer is each subscriber's queue length; a subscriber whose queue is
	// full is ended with ErrFellBehind. Zero means DefaultBuffer.
	Buffer int
	// PollInterval is how often the hub reads the feed without being poked.
	// Zero means DefaultPollInterval.
	PollInterval time.Duration
}

// Hub fans the change feed out to subscribers. Build it with NewHub and run
// it with Run.
type Hub struct {
	feed    Feed
	cfg     Config
	log     *slog.Logger
	poke    chan struct{}
	metrics *metrics

	mu   sync.Mutex
	last int64 // highest Seq fanned out
	subs map[*Subscription]struct{}
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
	h := &Hub{feed: feed, cfg: cfg, log: log, poke: make(chan struct{}, 1), metrics: m, subs: map[*Subscription]struct{}{}}
	m.watchers.Set(0)
	return h, nil
}

// Start positions the hub at the end of the feed, so that Run fans out only
// what commits afterwards. Call it once before Run and before Subscribe.
func (h *Hub) Start(ctx context.Context) error {
	last, err := h.feed.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("watch: read feed position: %w", err)
	}
	h.mu.Lock()
	h.last = last
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

// Publish pokes the hub after a commit; it makes Hub an ingest.Publisher.
func (h *Hub) Publish([]callback.SaveResult) { h.Poke() }

// Run tails the feed until ctx ends, then ends every subscription.
func (h *Hub) Run(ctx context.Context) error {
	ticker := time.NewTicker(h.cfg.PollInterval)
	defer ticker.Stop()
	defer h.closeAll(ErrStopped)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.poke:
		case <-ticker.C:
		}
		if err := h.catchUp(ctx); err != nil && ctx.Err() == nil {
			// The database is down; the next poke or tick retries. Watchers
			// keep their streams and miss nothing.
			h.log.Warn("watch: reading the change feed failed", "err", err)
		}
	}
}

// catchUp reads every change after the hub's position and fans it out.
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
		h.fanOut(changes)
		if len(changes) < readBatch {
			return nil
		}
	}
}

// fanOut delivers changes to every subscriber without ever blocking: a
// subscriber whose queue is full is ended with ErrFellBehind.
func (h *Hub) fanOut(changes []callback.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range changes {
		if c.Seq <= h.last {
			continue
		}
		h.last = c.Seq
		for s := range h.subs {
			select {
			case s.live <- c:
				h.metrics.fannedOut.Inc()
			default:
				h.removeLocked(s, ErrFellBehind)
				h.metrics.fellBehind.Inc()
			}
		}
	}
}

// closeAll ends every subscription with err.
func (h *Hub) closeAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.removeLocked(s, err)
	}
}

func (h *Hub) removeLocked(s *Subscription, err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.live)
	h.metrics.watchers.Dec()
}

// Subscribe starts a subscription after cursor ("" means from now). Events
// come from Next. The subscription holds a place in the hub until Close.
func (h *Hub) Subscribe(ctx context.Context, cursor string) (*Subscription, error) {
	after, err := h.resolve(ctx, cursor)
	if err != nil {
		return nil, err
	}
	s := &Subscription{hub: h, live: make(chan callback.Change, h.cfg.Buffer)}
	h.mu.Lock()
	// Everything up to seam is replayed from the database; everything after
	// it arrives live, since the hub fans out only Seq > seam from now on.
	seam := h.last
	h.subs[s] = struct{}{}
	h.metrics.watchers.Inc()
	h.mu.Unlock()
	if after < 0 {
		after = seam
	}
	s.pos, s.seam = after, seam
	return s, nil
}

// resolve parses a cursor; -1 means "from now".
func (h *Hub) resolve(ctx context.Context, cursor string) (int64, error) {
	if cursor == "" {
		return -1, nil
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

// Subscription is one watcher's view of the feed.
type Subscription struct {
	hub    *Hub
	live   chan callback.Change
	err    error // set before live is closed
	pos    int64 // Seq of the last change returned by Next
	seam   int64 // replay from the database up to here
	replay []callback.Change
}

// Next returns the next change, replaying from the database first. It
// returns ctx's error when ctx ends, ErrFellBehind when the subscriber did
// not keep up, and ErrStopped when the hub stopped.
func (s *Subscription) Next(ctx context.Context) (callback.Change, error) {
	for s.pos < s.seam {
		if len(s.replay) == 0 {
			changes, err := s.hub.feed.Changes(ctx, s.pos, readBatch)
			if err != nil {
				return callback.Change{}, err
			}
			s.replay = changes
			if len(changes) == 0 {
				break // nothing more committed up to the seam
			}
		}
		c := s.replay[0]
		s.replay = s.replay[1:]
		if c.Seq > s.seam {
			// Past the seam the live queue has it too.
			s.replay = nil
			break
		}
		s.pos = c.Seq
		return c, nil
	}
	s.seam = 0
	for {
		select {
		case <-ctx.Done():
			return callback.Change{}, ctx.Err()
		case c, ok := <-s.live:
			if !ok {
				return callback.Change{}, s.err
			}
			if c.Seq <= s.pos {
				continue // already replayed
			}
			s.pos = c.Seq
			return c, nil
		}
	}
}

// Cursor is the position after the last change Next returned.
func (s *Subscription) Cursor() string { return FormatCursor(s.pos) }

// Close leaves the hub.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.removeLocked(s, context.Canceled)
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
	watchers   prometheus.Gauge
	fannedOut  prometheus.Counter
	fellBehind prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		watchers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "callbackd_watchers", Help: "Watchers currently subscribed to the change feed.",
		}),
		fannedOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_watch_events_fanned_out_total", Help: "Change-feed events queued to watchers.",
		}),
		fellBehind: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "callbackd_watch_fell_behind_total", Help: "Watchers ended because their queue filled.",
		}),
	}
	for _, c := range []prometheus.Collector{m.watchers, m.fannedOut, m.fellBehind} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register watch metrics: %w", err)
		}
	}
	return m, nil
}
