package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
)

// DefaultBackfillBatch is the number of callbacks BackfillStep reads per
// transaction: small enough that a batch holds SQLite's single writer (or
// PostgreSQL's row locks) for a few tens of milliseconds, so ingestion
// continues beside it.
const DefaultBackfillBatch = 1000

// BackfillProgress says where the backfill stands.
type BackfillProgress struct {
	Rows    int64 // callbacks read so far, by every run
	Updated int   // callbacks this step filled in
	Done    bool  // nothing is left
}

// BackfillStep fills the payload figures (callback.Facts) and the search
// document of at most batch callbacks stored before migration 00004, in one
// transaction, and returns the progress. Callbacks are read in (created_at,
// id) order from the position saved in facts_backfill, which the same
// transaction advances: a backfill stopped at any point (a restart, a
// crash) resumes after the last committed batch, and replicas that run it
// at once take turns, since each locks the position.
//
// It runs on a live database. A callback that already has its search
// document was written by Save since the migration, with its figures, and is
// skipped. The others are rewritten only if their seq is still the one read:
// a delivery committed meanwhile changed it, and wrote the figures of the
// newer body itself.
func (s *Store) BackfillStep(ctx context.Context, batch int) (p BackfillProgress, err error) {
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("backfill payload figures: %w", classify(err))
		}
	}()
	if batch <= 0 {
		batch = DefaultBackfillBatch
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return p, err
	}
	defer tx.Rollback()
	lock := ""
	if s.dialect == DialectPostgres {
		lock = " FOR UPDATE"
	}
	var (
		afterAt sql.NullTime
		afterID uuid.NullUUID
	)
	if err := tx.QueryRowContext(ctx, "SELECT done, after_created_at, after_id, rows_done FROM facts_backfill WHERE id = 1"+lock).
		Scan(&p.Done, &afterAt, &afterID, &p.Rows); err != nil {
		return p, err
	}
	if p.Done {
		return p, nil
	}
	where := ""
	args := []any{}
	if afterAt.Valid && afterID.Valid {
		where = fmt.Sprintf("WHERE (c.created_at > %s OR (c.created_at = %s AND c.id > %s)) ",
			s.placeholder(1), s.placeholder(2), s.placeholder(3))
		at := dbTime(afterAt.Time)
		args = append(args, at, at, afterID.UUID)
	}
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.created_at, c.seq, c.event_type, c.external_job_id, c.workflow_name,
	c.step_id, c.error_message, c.payload, sr.callback_id IS NULL
FROM llm_callbacks c LEFT JOIN llm_callback_search sr ON sr.callback_id = c.id
`+where+fmt.Sprintf("ORDER BY c.created_at, c.id LIMIT %d", batch), args...)
	if err != nil {
		return p, err
	}
	type pending struct {
		id  uuid.UUID
		seq int64
		d   callback.Delivery
	}
	var (
		todo   []pending
		n      int
		lastAt time.Time
		lastID uuid.UUID
	)
	for rows.Next() {
		var (
			r       pending
			missing bool
		)
		if err := rows.Scan(&r.id, &lastAt, &r.seq, &r.d.EventType, &r.d.ExternalJobID, &r.d.WorkflowName,
			&r.d.StepID, &r.d.ErrorMessage, &r.d.Payload, &missing); err != nil {
			rows.Close()
			return p, err
		}
		n++
		lastID = r.id
		if missing {
			todo = append(todo, r)
		}
	}
	if err := rows.Close(); err != nil {
		return p, err
	}
	if err := rows.Err(); err != nil {
		return p, err
	}
	update, err := tx.PrepareContext(ctx, fmt.Sprintf(`UPDATE llm_callbacks SET prompt_tokens = %s, completion_tokens = %s,
	total_tokens = %s, cost_usd = %s, duration_ms = %s, error_category = %s WHERE id = %s AND seq = %s`,
		s.placeholder(1), s.placeholder(2), s.placeholder(3), s.placeholder(4), s.placeholder(5), s.placeholder(6),
		s.placeholder(7), s.placeholder(8)))
	if err != nil {
		return p, err
	}
	defer update.Close()
	insert, err := tx.PrepareContext(ctx, fmt.Sprintf(`INSERT INTO llm_callback_search (callback_id, document) VALUES (%s, %s)
	ON CONFLICT (callback_id) DO NOTHING`, s.placeholder(1), s.placeholder(2)))
	if err != nil {
		return p, err
	}
	defer insert.Close()
	for _, r := range todo {
		d := callback.Analyze(r.d)
		f := d.Facts
		res, err := update.ExecContext(ctx, nullable(f.PromptTokens), nullable(f.CompletionTokens), nullable(f.TotalTokens),
			nullable(f.CostUSD), nullable(f.DurationMS), f.ErrorCategory, r.id, r.seq)
		if err != nil {
			return p, err
		}
		if k, err := res.RowsAffected(); err != nil || k == 0 {
			continue // rewritten by a delivery since it was read
		}
		if _, err := insert.ExecContext(ctx, r.id, d.SearchText); err != nil {
			return p, err
		}
		p.Updated++
	}
	p.Rows += int64(n)
	p.Done = n < batch
	if n > 0 {
		_, err = tx.ExecContext(ctx, fmt.Sprintf("UPDATE facts_backfill SET done = %s, after_created_at = %s, after_id = %s, rows_done = %s WHERE id = 1",
			s.placeholder(1), s.placeholder(2), s.placeholder(3), s.placeholder(4)), p.Done, dbTime(lastAt), lastID, p.Rows)
	} else {
		_, err = tx.ExecContext(ctx, "UPDATE facts_backfill SET done = "+s.boolean(true)+" WHERE id = 1")
	}
	if err != nil {
		return p, err
	}
	return p, tx.Commit()
}

// boolean is a boolean literal of the dialect.
func (s *Store) boolean(v bool) string {
	switch {
	case s.dialect == DialectPostgres && v:
		return "true"
	case s.dialect == DialectPostgres:
		return "false"
	case v:
		return "1"
	}
	return "0"
}

// RunBackfill runs BackfillStep until nothing is left or ctx ends, logging
// its progress: a line when it starts, one every backfillLogEvery batches
// and one when it is done. A failed step (the database unreachable, say) is
// logged and tried again after retry; a database that needs no backfill
// costs one read of its position.
func (s *Store) RunBackfill(ctx context.Context, batch int, retry time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	for steps := 0; ; steps++ {
		p, err := s.BackfillStep(ctx, batch)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Warn("backfill of payload figures and search documents failed; retrying", "err", err, "retry_in", retry)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			continue
		case p.Done && steps == 0 && p.Updated == 0 && p.Rows == 0:
			return // nothing was ever to do
		case p.Done:
			if steps > 0 || p.Updated > 0 {
				log.Info("backfill of payload figures and search documents done", "rows", p.Rows, "duration", time.Since(start).Round(time.Millisecond))
			}
			return
		case steps == 0:
			log.Info("backfill of payload figures and search documents started", "rows_done", p.Rows)
		case steps%backfillLogEvery == 0:
			log.Info("backfill of payload figures and search documents", "rows_done", p.Rows)
		}
	}
}

// backfillLogEvery is how many batches pass between progress lines.
const backfillLogEvery = 50
