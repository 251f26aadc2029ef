// Package queue runs alerting durably on the database callbackd stores
// callbacks in: an evaluator reads the change feed and decides alerts, and
// River (github.com/riverqueue/river) delivers them as jobs, with retries,
// exponential backoff and the final failure recorded.
//
// Exactly once, across crashes and replicas: one evaluation pass reads the
// cursor (alert_cursor), the feed after it, the rules' states and, for
// redeliveries only, the seen-set, all without holding a write lock; it
// decides in memory, then writes in ONE transaction that first moves the
// cursor by compare-and-swap (on the cursor and claimed_at it read), then
// updates the states, records the counted callbacks as seen and inserts
// River's jobs with InsertManyTx. A pass that dies before COMMIT decided
// nothing and the next pass (on any replica) decides it again; a pass whose
// swap finds the cursor moved by another decided on stale state, and its
// decisions are dropped. A job whose worker dies mid-send is rescued by
// River and sent again: a receiver may see a retry (the webhook channel's
// webhook-id lets it drop one), never a loss.
//
// Evaluation never runs on the ingest commit path: it polls the feed on
// its own schedule, and ingestion never waits for it. Its writes are per
// pass, not per callback, except one seen row per callback a rule counted:
// a callback that no rule selects costs no write, a pass in which nothing
// arrived and nothing is due writes nothing, and on SQLite the single
// writer is held only for the few statements of the write.
package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
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
	// feedBatch bounds the changes one pass reads, and so the memory of
	// its evaluation (its write is O(rules and groups) plus one seen row
	// per counted callback, in a few statements).
	feedBatch = 2000
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
	// Payloads reads the payloads of many callbacks at once (absent: deleted).
	Payloads(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]byte, error)
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
	// Reads is the pool the evaluator reads its cursor, rule states and
	// seen-set with, before its write transaction: on SQLite the store's
	// read-only pool (store.ReadDB), so that evaluation holds the single
	// writer only for its short write. Nil means the writing pool.
	Reads *sql.DB
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
	reads   *sql.DB
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
	if cfg.Reads == nil {
		cfg.Reads = db
	}
	q := &Queue{db: db, reads: cfg.Reads, dialect: dialect, cfg: cfg, ev: ev, feed: feed, senders: senders, log: log}
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
		Queues:      map[string]river.QueueConfig{queueName: {MaxWorkers: 4}},
		Workers:     workers,
		MaxAttempts: cfg.MaxAttempts,
		RetryPolicy: backoff{base: cfg.RetryBase, max: cfg.RetryMax},
		JobTimeout:  cfg.SendTimeout,
		// Poll only: River's listener would otherwise query for
		// notifications without pause (on SQLite through the store's
		// single writer connection, ahead of ingestion: 30 ms of CPU a
		// second with no callback arriving). Workers find new jobs by
		// polling every PollInterval instead, a delay alerts can afford.
		PollOnly:                    true,
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
	var pruned time.Time
	for {
		if now := q.cfg.Now(); now.Sub(pruned) >= time.Minute {
			if err := q.prune(ctx); err != nil && ctx.Err() == nil {
				q.log.Warn("alerts: forgetting old seen callbacks failed", "err", err)
			}
			pruned = now
		}
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

// Pass runs one evaluation (see the package comment) and reports whether
// the feed has more to read at once. It reads everything it needs first,
// decides in memory, then writes what it decided in one short transaction
// that moves the cursor only if no other pass moved it meanwhile.
func (q *Queue) Pass(ctx context.Context) (more bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("alerts: evaluate: %w", err)
		}
	}()
	now := q.cfg.Now().UTC()
	var (
		cursor  sql.NullInt64
		claimed int64
	)
	if err := q.reads.QueryRowContext(ctx, "SELECT seq, claimed_at FROM alert_cursor WHERE id = 1").Scan(&cursor, &claimed); err != nil {
		return false, err
	}
	if !cursor.Valid {
		// The first pass: alerts start with what arrives from now on, not
		// with the history.
		last, err := q.feed.LastSeq(ctx)
		if err != nil {
			return false, err
		}
		_, err = q.db.ExecContext(ctx, q.rebind("UPDATE alert_cursor SET seq = ? WHERE id = 1 AND seq IS NULL"), last)
		return false, err
	}
	changes, err := q.feed.Changes(ctx, cursor.Int64, feedBatch)
	if err != nil {
		return false, err
	}
	p := &rules.Pass{Load: func(rule, key string) (*rules.State, error) { return q.loadState(ctx, rule, key) }}
	seen, err := q.observe(ctx, p, changes, now)
	if err != nil {
		return false, err
	}
	if err := q.due(ctx, p, now); err != nil {
		return false, err
	}
	touched := 0
	p.Touched(func(string, string, *rules.State) { touched++ })
	if len(changes) == 0 && touched == 0 {
		return false, nil // nothing arrived, nothing due: no write at all
	}

	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	// Compare and swap: the cursor row changes on every committed pass
	// (claimed_at only grows), so if it still holds what this pass read,
	// no other pass, on any replica, committed since, and the states and
	// seen-set read above are current. The UPDATE also takes the row's lock
	// (on SQLite the database's write lock) until COMMIT.
	next := cursor.Int64
	if len(changes) > 0 {
		next = changes[len(changes)-1].Seq
	}
	res, err := tx.ExecContext(ctx, q.rebind("UPDATE alert_cursor SET seq = ?, claimed_at = ? WHERE id = 1 AND seq = ? AND claimed_at = ?"),
		next, max(now.UnixMicro(), claimed+1), cursor.Int64, claimed)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 0 {
		// Another pass won: what this one decided is void; decide again
		// from where that one left off.
		return true, nil
	}
	if err := q.markSeen(ctx, tx, seen, now); err != nil {
		return false, err
	}
	if err := q.saveStates(ctx, tx, p, now); err != nil {
		return false, err
	}
	if err := q.enqueue(ctx, tx, p.Notices); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	for _, n := range p.Notices {
		q.log.Info("alert decided", "rule", n.Rule, "state", n.State, "count", n.Count, "id", n.ID, "title", n.Title)
	}
	return len(changes) == feedBatch, nil
}

// prune forgets counted callbacks old enough that no redelivery is
// expected.
func (q *Queue) prune(ctx context.Context) error {
	_, err := q.db.ExecContext(ctx, q.rebind("DELETE FROM alert_seen WHERE seen_at < ?"), q.cfg.Now().Add(-seenRetention).UnixMicro())
	return err
}

// seenRule is the rule column of the seen-set rows this version writes:
// one row per callback, for every rule at once (a pass observes a callback
// for all its rules together). Rows of older versions name their rule.
const seenRule = ""

// candidate is a callback and the rules its columns select.
type candidate struct {
	c     callback.Callback
	rules []*rules.Rule
}

// observe applies the callbacks of the changes to the rules they may
// concern and returns the ids of the callbacks it counted, which the
// write records as seen. A callback that no rule's columns select costs
// nothing but this loop; the seen-set is read only for redeliveries (a
// first delivery is in the feed once, so it cannot have been counted).
func (q *Queue) observe(ctx context.Context, p *rules.Pass, changes []callback.Change, now time.Time) ([]string, error) {
	all := q.ev.Config().Rules
	var (
		candidates  []candidate
		redelivered []string
	)
	for _, ch := range changes {
		if ch.Callback == nil {
			continue
		}
		var rs []*rules.Rule
		for i := range all {
			if all[i].Candidate(*ch.Callback) {
				rs = append(rs, &all[i])
			}
		}
		if len(rs) == 0 {
			continue
		}
		candidates = append(candidates, candidate{c: *ch.Callback, rules: rs})
		if ch.Callback.DeliveryCount > 1 {
			redelivered = append(redelivered, ch.Callback.ID.String())
		}
	}
	counted, err := q.seenAmong(ctx, redelivered)
	if err != nil {
		return nil, err
	}
	details, err := q.readDetails(ctx, candidates)
	if err != nil {
		return nil, err
	}
	var seen []string
	for _, cd := range candidates {
		c := cd.c
		countedNow := false
		for _, r := range cd.rules {
			// A stuck rule's observation is idempotent (a job's latest
			// step, or its end), so its redeliveries need no seen-set.
			if r.Stuck == nil && counted[c.ID.String()] {
				continue
			}
			d := rules.Details{}
			if r.NeedsDetails() && c.EventType == rules.EventFailed {
				d = details[c.ID]
			}
			if r.Rate == nil && r.Stuck == nil && !r.MatchesError(d, c.ErrorMessage) {
				continue
			}
			if err := q.ev.Observe(p, r, c, d, now); err != nil {
				return nil, err
			}
			if r.Stuck == nil {
				countedNow = true
			}
		}
		if countedNow {
			seen = append(seen, c.ID.String())
		}
	}
	return seen, nil
}

// details reads, in one query, the error details of the failures some
// candidate rule matches on them (a callback deleted by retention
// meanwhile has none).
func (q *Queue) readDetails(ctx context.Context, candidates []candidate) (map[uuid.UUID]rules.Details, error) {
	var ids []uuid.UUID
	for _, cd := range candidates {
		if cd.c.EventType == rules.EventFailed && slices.ContainsFunc(cd.rules, (*rules.Rule).NeedsDetails) {
			ids = append(ids, cd.c.ID)
		}
	}
	out := map[uuid.UUID]rules.Details{}
	if len(ids) == 0 {
		return out, nil
	}
	payloads, err := q.feed.Payloads(ctx, ids)
	if err != nil {
		return nil, err
	}
	for id, p := range payloads {
		out[id] = rules.ParseDetails(p)
	}
	return out, nil
}

// seenBatch bounds the callbacks one seen-set statement names.
const seenBatch = 200

// seenAmong returns which of the callbacks a previous pass counted.
func (q *Queue) seenAmong(ctx context.Context, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	ruleNames := []any{seenRule}
	for _, r := range q.ev.Config().Rules {
		ruleNames = append(ruleNames, r.Name)
	}
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), seenBatch)]
		ids = ids[len(chunk):]
		args := append(slices.Clone(ruleNames), anySlice(chunk)...)
		rows, err := q.reads.QueryContext(ctx, q.rebind("SELECT callback_id FROM alert_seen WHERE rule IN ("+marks(len(ruleNames))+") AND callback_id IN ("+marks(len(chunk))+")"), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// markSeen records the counted callbacks, a few hundred per statement.
func (q *Queue) markSeen(ctx context.Context, tx *sql.Tx, ids []string, now time.Time) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), seenBatch)]
		ids = ids[len(chunk):]
		var args []any
		for _, id := range chunk {
			args = append(args, seenRule, id, now.UnixMicro())
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", len(chunk)), ", ")
		if _, err := tx.ExecContext(ctx, q.rebind("INSERT INTO alert_seen (rule, callback_id, seen_at) VALUES "+values+" ON CONFLICT (rule, callback_id) DO NOTHING"), args...); err != nil {
			return err
		}
	}
	return nil
}

// marks is n comma-separated placeholders.
func marks(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// due runs the states whose time came.
func (q *Queue) due(ctx context.Context, p *rules.Pass, now time.Time) error {
	rows, err := q.reads.QueryContext(ctx, q.rebind("SELECT rule, group_key FROM alert_state WHERE due_at IS NOT NULL AND due_at <= ? ORDER BY due_at LIMIT ?"), now.UnixMicro(), dueBatch)
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
		if !ok {
			// The rule was removed from the configuration: touching its
			// state makes saveStates delete it.
			if _, err := p.State(k[0], k[1]); err != nil {
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

func (q *Queue) loadState(ctx context.Context, rule, key string) (*rules.State, error) {
	var raw string
	err := q.reads.QueryRowContext(ctx, q.rebind("SELECT state FROM alert_state WHERE rule = ? AND group_key = ?"), rule, key).Scan(&raw)
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

// stateBatch bounds the states one upsert writes.
const stateBatch = 100

// saveStates writes the states the pass touched: one upsert statement per
// hundred states kept, one DELETE per state emptied.
func (q *Queue) saveStates(ctx context.Context, tx *sql.Tx, p *rules.Pass, now time.Time) error {
	var (
		err  error
		args []any
		rows int
	)
	flush := func() error {
		if rows == 0 {
			return nil
		}
		values := strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?), ", rows), ", ")
		_, err := tx.ExecContext(ctx, q.rebind("INSERT INTO alert_state (rule, group_key, state, due_at) VALUES "+values+`
ON CONFLICT (rule, group_key) DO UPDATE SET state = excluded.state, due_at = excluded.due_at`), args...)
		args, rows = args[:0], 0
		return err
	}
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
		args = append(args, rule, key, string(raw), due)
		if rows++; rows == stateBatch {
			err = flush()
		}
	})
	if err != nil {
		return err
	}
	return flush()
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
