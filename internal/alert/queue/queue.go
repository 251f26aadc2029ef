// Package queue runs alerting durably on the database callbackd stores
// callbacks in: an evaluator reads the change feed and decides alerts, and
// River (github.com/riverqueue/river) delivers them as jobs, with retries,
// exponential backoff and the final failure recorded.
//
// Exactly once, across crashes and replicas: one evaluation pass is one
// transaction that locks the cursor row (alert_cursor), reads the feed
// after it, updates the rules' state, inserts River's jobs with InsertManyTx
// and moves the cursor. A pass that dies before COMMIT decided nothing and
// the next pass (on any replica) decides it again; replicas wait on the
// cursor row's lock, so no two decide the same callbacks. A job whose
// worker dies mid-send is rescued by River and sent again: a receiver may
// see a retry (the webhook channel's webhook-id lets it drop one), never a
// loss.
//
// Evaluation never runs on the ingest commit path: it polls the feed on
// its own schedule, and ingestion never waits for it.
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/callbackd/callbackd/internal/alert/rules"
	"github.com/callbackd/callbackd/internal/apierror"
	"github.com/callbackd/callbackd/internal/callback"
)

// The dialects New accepts (those of package store).
const (
	DialectSQLite   = "sqlite3"
	DialectPostgres = "postgres"
)

// queueName is River's queue of alert deliveries.
const queueName = "callbackd_alerts"

// Defaults of Config.
const (
	DefaultPollInterval = time.Second
	DefaultMaxAttempts  = 12
	DefaultRetryBase    = 5 * time.Second
	DefaultRetryMax     = 30 * time.Minute
	DefaultSendTimeout  = 30 * time.Second
	// feedBatch bounds the changes one pass reads, and so its transaction.
	feedBatch = 500
	// dueBatch bounds the due states one pass handles.
	dueBatch = 500
	// seenRetention is how long a counted callback is remembered so that
	// its redeliveries are not counted again (the LLM service retries
	// within a minute).
	seenRetention = 7 * 24 * time.Hour
	// keepFinished is how long River keeps sent and failed deliveries,
	// which ListDeliveries shows.
	keepFinished = 7 * 24 * time.Hour
)

// Feed is the part of callback.Store the evaluator reads.
type Feed interface {
	Changes(ctx context.Context, after int64, limit int) ([]callback.Change, error)
	LastSeq(ctx context.Context) (int64, error)
	Get(ctx context.Context, id uuid.UUID, viewer uuid.UUID) (callback.Callback, error)
	List(ctx context.Context, q callback.ListQuery) (callback.Page, error)
}

// Sender sends a notice to one channel; package alert/channel implements
// it. An error makes River try again later.
type Sender interface {
	Send(ctx context.Context, n rules.Notice) error
}

// Config tunes a Queue.
type Config struct {
	// PollInterval is how often the evaluator reads the feed and the due
	// states (default 1s), and how often idle workers look for jobs.
	PollInterval time.Duration
	// MaxAttempts is how many times a delivery is tried before it is
	// recorded as failed (default 12).
	MaxAttempts int
	// RetryBase and RetryMax shape the exponential backoff: attempt n
	// waits RetryBase·2^(n-1), at most RetryMax, ±10 % jitter.
	RetryBase, RetryMax time.Duration
	// SendTimeout bounds one attempt (default 30s).
	SendTimeout time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = DefaultSendTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Queue evaluates the rules over the feed and delivers their alerts. Build
// it with New, run it with Run.
type Queue struct {
	db      *sql.DB
	dialect string
	cfg     Config
	ev      *rules.Evaluator
	feed    Feed
	senders map[string]Sender
	client  *river.Client[*sql.Tx]
	driver  riverdriver.Driver[*sql.Tx]
	log     *slog.Logger
}

// Args is one alert delivery: a River job's arguments. The notice is kept
// whole, so that every retry sends the same message with the same id.
type Args struct {
	Notice  rules.Notice `json:"notice"`
	Channel string       `json:"channel"`
}

// Kind is River's job kind of alert deliveries.
func (Args) Kind() string { return "callbackd_alert" }

// New builds a queue over db, the store's writing pool (on SQLite its one
// connection: River then queues behind the store's writes instead of
// failing with SQLITE_BUSY). senders has one Sender per channel of the
// evaluator's configuration. It opens nothing; Migrate and Run do.
func New(db *sql.DB, dialect string, ev *rules.Evaluator, feed Feed, senders map[string]Sender, cfg Config, log *slog.Logger) (*Queue, error) {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{db: db, dialect: dialect, cfg: cfg, ev: ev, feed: feed, senders: senders, log: log}
	switch dialect {
	case DialectPostgres:
		q.driver = riverdatabasesql.New(db)
	case DialectSQLite:
		q.driver = riversqlite.New(db)
	default:
		return nil, fmt.Errorf("alerts: unknown dialect %q", dialect)
	}
	for _, ch := range ev.Config().Channels {
		if senders[ch.Name] == nil {
			return nil, fmt.Errorf("alerts: no sender for channel %q", ch.Name)
		}
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker{q: q}); err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	client, err := river.NewClient(q.driver, &river.Config{
		Queues:                      map[string]river.QueueConfig{queueName: {MaxWorkers: 4}},
		Workers:                     workers,
		MaxAttempts:                 cfg.MaxAttempts,
		RetryPolicy:                 backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		JobTimeout:                  cfg.SendTimeout,
		FetchPollInterval:           cfg.PollInterval,
		FetchCooldown:               min(cfg.PollInterval, 100*time.Millisecond),
		RescueStuckJobsAfter:        max(2*cfg.SendTimeout, time.Minute),
		CompletedJobRetentionPeriod: keepFinished,
		DiscardedJobRetentionPeriod: keepFinished,
		CancelledJobRetentionPeriod: keepFinished,
		Logger:                      log.With("component", "river"),
		ErrorHandler:                &failures{log: log},
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: %w", err)
	}
	q.client = client
	return q, nil
}

// Migrate brings River's own tables up to date (rivermigrate); on
// PostgreSQL an advisory lock makes replicas that start together migrate
// one after the other. With check set it only verifies
// that they are current (--no-migrate).
func Migrate(ctx context.Context, db *sql.DB, dialect string, check bool) ([]string, error) {
	var driver riverdriver.Driver[*sql.Tx]
	switch dialect {
	case DialectPostgres:
		driver = riverdatabasesql.New(db)
	case DialectSQLite:
		driver = riversqlite.New(db)
	default:
		return nil, fmt.Errorf("alerts: unknown dialect %q", dialect)
	}
	m, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	if check {
		res, err := m.Validate(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("river migrations: %w", err)
		}
		if !res.OK {
			return nil, fmt.Errorf("river's job queue migrations are pending and --no-migrate is set (%s); run `callbackd migrate up --alerts`", strings.Join(res.Messages, "; "))
		}
		return nil, nil
	}
	if dialect == DialectPostgres {
		// River's migrations each run in their own transaction (one adds
		// an enum value that the next uses); a session lock on one
		// connection keeps replicas that start together apart.
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("river migrations: %w", err)
		}
		defer conn.Close()
		const lock = "hashtext('callbackd river migrations')"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock("+lock+")"); err != nil {
			return nil, fmt.Errorf("river migrations: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+lock+")")
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("river migrations: %w", err)
	}
	var applied []string
	for _, v := range res.Versions {
		applied = append(applied, fmt.Sprintf("river %03d %s", v.Version, v.Name))
	}
	return applied, nil
}

// Start positions a new deployment's cursor at the end of the feed, so
// that alerts begin with what arrives once the server accepts callbacks,
// not with the history. A cursor already set is kept: what arrived while
// no callbackd ran is evaluated.
func (q *Queue) Start(ctx context.Context) error {
	last, err := q.feed.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	if _, err := q.db.ExecContext(ctx, q.rebind("UPDATE alert_cursor SET seq = ? WHERE id = 1 AND seq IS NULL"), last); err != nil {
		return fmt.Errorf("alerts: position the cursor: %w", err)
	}
	return nil
}

// Run evaluates and delivers until ctx ends, then stops River's workers,
// letting sends in flight finish for a moment (a send cut short is sent
// again later, by this process or another replica).
func (q *Queue) Run(ctx context.Context) error {
	if err := q.client.Start(ctx); err != nil {
		return fmt.Errorf("alerts: start river: %w", err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := q.client.Stop(stopCtx); err != nil {
			_ = q.client.StopAndCancel(stopCtx)
		}
	}()
	ticker := time.NewTicker(q.cfg.PollInterval)
	defer ticker.Stop()
	for {
		more, err := q.Pass(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			// The database may be down for a moment: evaluation resumes
			// from the cursor, nothing is lost.
			q.log.Warn("alerts: evaluation pass failed; retrying", "err", err)
		case more:
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// rebind turns ? placeholders into PostgreSQL's $n.
func (q *Queue) rebind(query string) string {
	if q.dialect != DialectPostgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Pass runs one evaluation transaction (see the package comment) and
// reports whether the feed has more to read at once.
func (q *Queue) Pass(ctx context.Context) (more bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("alerts: evaluate: %w", err)
		}
	}()
	now := q.cfg.Now().UTC()
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// The UPDATE takes the cursor row's lock (on SQLite the transaction
	// already holds the database's write lock): every pass below runs
	// alone, whichever replica runs it.
	if _, err := tx.ExecContext(ctx, q.rebind("UPDATE alert_cursor SET claimed_at = ? WHERE id = 1"), now.UnixMicro()); err != nil {
		return false, err
	}
	var cursor sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT seq FROM alert_cursor WHERE id = 1").Scan(&cursor); err != nil {
		return false, err
	}
	if !cursor.Valid {
		// The first pass: alerts start with what arrives from now on, not
		// with the history.
		last, err := q.feed.LastSeq(ctx)
		if err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, q.rebind("UPDATE alert_cursor SET seq = ? WHERE id = 1"), last); err != nil {
			return false, err
		}
		return false, tx.Commit()
	}
	changes, err := q.feed.Changes(ctx, cursor.Int64, feedBatch)
	if err != nil {
		return false, err
	}
	p := &rules.Pass{Load: func(rule, key string) (*rules.State, error) { return q.loadState(ctx, tx, rule, key) }}
	for _, ch := range changes {
		if ch.Callback == nil {
			continue
		}
		if err := q.observe(ctx, tx, p, ch, now); err != nil {
			return false, err
		}
	}
	if err := q.due(ctx, tx, p, now); err != nil {
		return false, err
	}
	if err := q.saveStates(ctx, tx, p, now); err != nil {
		return false, err
	}
	if err := q.enqueue(ctx, tx, p.Notices); err != nil {
		return false, err
	}
	if len(changes) > 0 {
		last := changes[len(changes)-1].Seq
		if _, err := tx.ExecContext(ctx, q.rebind("UPDATE alert_cursor SET seq = ? WHERE id = 1"), last); err != nil {
			return false, err
		}
	}
	if now.Second() == 0 || len(changes) == feedBatch {
		// About once a minute: forget counted callbacks old enough that
		// no redelivery is expected.
		if _, err := tx.ExecContext(ctx, q.rebind("DELETE FROM alert_seen WHERE seen_at < ?"), now.Add(-seenRetention).UnixMicro()); err != nil {
			return false, err
		}
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	for _, n := range p.Notices {
		q.log.Info("alert decided", "rule", n.Rule, "state", n.State, "count", n.Count, "id", n.ID, "title", n.Title)
	}
	return len(changes) == feedBatch, nil
}

// observe applies one callback change to every rule it may concern.
func (q *Queue) observe(ctx context.Context, tx *sql.Tx, p *rules.Pass, ch callback.Change, now time.Time) error {
	c := *ch.Callback
	var details *rules.Details
	for i := range q.ev.Config().Rules {
		r := &q.ev.Config().Rules[i]
		if !r.Candidate(c) {
			continue
		}
		d := rules.Details{}
		if r.NeedsDetails() && c.EventType == rules.EventFailed {
			if details == nil {
				full, err := q.feed.Get(ctx, c.ID, uuid.Nil)
				switch {
				case errors.Is(err, callback.ErrNotFound): // deleted by retention meanwhile
					details = &rules.Details{}
				case err != nil:
					return err
				default:
					dd := rules.ParseDetails(full.Payload)
					details = &dd
				}
			}
			d = *details
		}
		if r.Rate == nil && r.Stuck == nil && !r.MatchesError(d, c.ErrorMessage) {
			continue
		}
		// A callback is counted once per rule: its redeliveries (a new feed
		// position each) are not, unless the first delivery was never seen
		// (the evaluator read the row only after its redelivery).
		res, err := tx.ExecContext(ctx, q.rebind("INSERT INTO alert_seen (rule, callback_id, seen_at) VALUES (?, ?, ?) ON CONFLICT (rule, callback_id) DO NOTHING"),
			r.Name, c.ID.String(), now.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			continue
		}
		if err := q.ev.Observe(p, r, c, d, now); err != nil {
			return err
		}
	}
	return nil
}

// due runs the states whose time came.
func (q *Queue) due(ctx context.Context, tx *sql.Tx, p *rules.Pass, now time.Time) error {
	rows, err := tx.QueryContext(ctx, q.rebind("SELECT rule, group_key FROM alert_state WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?"), now.UnixMicro(), dueBatch)
	if err != nil {
		return err
	}
	var keys [][2]string
	for rows.Next() {
		var k [2]string
		if err := rows.Scan(&k[0], &k[1]); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		r, ok := q.ev.Rule(k[0])
		if !ok { // the rule was removed from the configuration
			if _, err := tx.ExecContext(ctx, q.rebind("DELETE FROM alert_state WHERE rule = ? AND group_key = ?"), k[0], k[1]); err != nil {
				return err
			}
			continue
		}
		if err := q.ev.Due(p, r, k[1], now, func(job string) (bool, error) { return q.finished(ctx, job) }); err != nil {
			return err
		}
	}
	return nil
}

// finished reports whether a job's final callback is stored.
func (q *Queue) finished(ctx context.Context, job string) (bool, error) {
	for _, event := range []string{rules.EventCompleted, rules.EventFailed} {
		page, err := q.feed.List(ctx, callback.ListQuery{ExternalJobID: job, EventType: event, PageSize: 1})
		if err != nil {
			return false, err
		}
		if len(page.Callbacks) > 0 {
			return true, nil
		}
	}
	return false, nil
}

func (q *Queue) loadState(ctx context.Context, tx *sql.Tx, rule, key string) (*rules.State, error) {
	var raw string
	err := tx.QueryRowContext(ctx, q.rebind("SELECT state FROM alert_state WHERE rule = ? AND group_key = ?"), rule, key).Scan(&raw)
	s := &rules.State{}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return s, nil
	case err != nil:
		return nil, err
	}
	if err := json.Unmarshal([]byte(raw), s); err != nil {
		// A state this version cannot read starts afresh rather than
		// stopping every alert.
		q.log.Warn("alerts: unreadable rule state dropped", "rule", rule, "key", key, "err", err)
		return &rules.State{}, nil
	}
	return s, nil
}

func (q *Queue) saveStates(ctx context.Context, tx *sql.Tx, p *rules.Pass, now time.Time) error {
	var err error
	p.Touched(func(rule, key string, s *rules.State) {
		if err != nil {
			return
		}
		r, ok := q.ev.Rule(rule)
		if !ok || s.Empty(r, now) {
			_, err = tx.ExecContext(ctx, q.rebind("DELETE FROM alert_state WHERE rule = ? AND group_key = ?"), rule, key)
			return
		}
		var raw []byte
		if raw, err = json.Marshal(s); err != nil {
			return
		}
		var due sql.NullInt64
		if t := s.DueAt(r); !t.IsZero() {
			due = sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
		} else if !s.LastSent.IsZero() {
			// Kept only for MinInterval: due when it can go.
			due = sql.NullInt64{Int64: s.LastSent.Add(r.MinInterval).UnixMicro(), Valid: true}
		}
		_, err = tx.ExecContext(ctx, q.rebind(`INSERT INTO alert_state (rule, group_key, state, due_at) VALUES (?, ?, ?, ?)
ON CONFLICT (rule, group_key) DO UPDATE SET state = excluded.state, due_at = excluded.due_at`), rule, key, string(raw), due)
	})
	return err
}

// enqueue inserts one job per notice and channel in the pass's transaction.
func (q *Queue) enqueue(ctx context.Context, tx *sql.Tx, notices []rules.Notice) error {
	var params []river.InsertManyParams
	for _, n := range notices {
		r, ok := q.ev.Rule(n.Rule)
		if !ok {
			continue
		}
		for _, ch := range r.Channels {
			params = append(params, river.InsertManyParams{
				Args:       Args{Notice: n, Channel: ch},
				InsertOpts: &river.InsertOpts{Queue: queueName},
			})
		}
	}
	if len(params) == 0 {
		return nil
	}
	_, err := q.client.InsertManyTx(ctx, tx, params)
	return err
}

// worker sends one delivery.
type worker struct {
	river.WorkerDefaults[Args]
	q *Queue
}

func (w *worker) Work(ctx context.Context, job *river.Job[Args]) error {
	s := w.q.senders[job.Args.Channel]
	if s == nil {
		return river.JobCancel(fmt.Errorf("channel %q is no longer configured", job.Args.Channel))
	}
	if err := s.Send(ctx, job.Args.Notice); err != nil {
		return err
	}
	w.q.log.Info("alert sent", "rule", job.Args.Notice.Rule, "channel", job.Args.Channel, "id", job.Args.Notice.ID, "attempt", job.Attempt)
	return nil
}

// backoff is exponential backoff with jitter.
type backoff struct{ base, max time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.max
	if n := job.Attempt - 1; n < 30 {
		d = min(b.base<<n, b.max)
	}
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(d))
	return time.Now().Add(d + jitter)
}

// failures logs the attempts that fail and, loudly, the last one.
type failures struct{ log *slog.Logger }

func (f *failures) HandleError(_ context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	lvl := slog.LevelWarn
	msg := "alert delivery attempt failed; will retry"
	if job.Attempt >= job.MaxAttempts {
		lvl, msg = slog.LevelError, "alert delivery FAILED after its last attempt"
	}
	f.log.Log(context.Background(), lvl, msg, "job", job.ID, "kind", job.Kind, "attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", err)
	return nil
}

func (f *failures) HandlePanic(_ context.Context, job *rivertype.JobRow, v any, _ string) *river.ErrorHandlerResult {
	f.log.Error("alert delivery panicked", "job", job.ID, "panic", fmt.Sprint(v))
	return nil
}

// maxErrorText bounds an attempt's error in listings.
const maxErrorText = 1000

// Deliveries returns up to limit alert deliveries, newest first, after the
// cursor of a previous page ("" for the first), and the next page's cursor
// ("" on the last page).
func (q *Queue) Deliveries(ctx context.Context, limit int, after string) ([]rules.Delivery, string, error) {
	return Deliveries(ctx, q.client, limit, after)
}

// Deliveries lists the deliveries of client (see Queue.Deliveries).
func Deliveries(ctx context.Context, client *river.Client[*sql.Tx], limit int, after string) ([]rules.Delivery, string, error) {
	params := river.NewJobListParams().Kinds(Args{}.Kind()).OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(limit + 1)
	if after != "" {
		id, err := strconv.ParseInt(after, 10, 64)
		if err != nil || id <= 0 {
			return nil, "", ErrBadPageToken
		}
		params = params.Where("id < @after", river.NamedArgs{"after": id})
	}
	res, err := client.JobList(ctx, params)
	if err != nil {
		return nil, "", fmt.Errorf("list alert deliveries: %w", err)
	}
	var out []rules.Delivery
	for _, job := range res.Jobs {
		if len(out) == limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, toDelivery(job))
	}
	return out, "", nil
}

// ErrBadPageToken is a page token Deliveries did not issue.
var ErrBadPageToken = apierror.New(apierror.InvalidPageToken, "invalid page token")

// Config returns the alerts configuration the queue evaluates.
func (q *Queue) Config() *rules.Config { return q.ev.Config() }

func toDelivery(job *rivertype.JobRow) rules.Delivery {
	var args Args
	_ = json.Unmarshal(job.EncodedArgs, &args) // written by this package; a bad one shows empty
	d := rules.Delivery{
		ID: job.ID, Notice: args.Notice, Channel: args.Channel, Attempts: job.Attempt, MaxAttempts: job.MaxAttempts,
		CreatedAt: job.CreatedAt.UTC(),
	}
	switch job.State {
	case rivertype.JobStateCompleted:
		d.Status = rules.DeliverySent
	case rivertype.JobStateDiscarded:
		d.Status = rules.DeliveryFailed
	case rivertype.JobStateCancelled:
		d.Status = rules.DeliveryCancelled
	case rivertype.JobStateRunning:
		d.Status = rules.DeliverySending
	case rivertype.JobStateRetryable:
		d.Status = rules.DeliveryRetrying
	default:
		d.Status = rules.DeliveryPending
	}
	if job.FinalizedAt != nil {
		d.FinishedAt = job.FinalizedAt.UTC()
	} else {
		d.NextAttemptAt = job.ScheduledAt.UTC()
	}
	for _, e := range job.Errors {
		d.Errors = append(d.Errors, rules.AttemptError{Attempt: e.Attempt, At: e.At.UTC(), Error: callback.StorableText(e.Error, maxErrorText)})
	}
	return d
}
