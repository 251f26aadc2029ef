package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/internal/callback"
)

// Prune deletes at most q.Batch qualifying callbacks, oldest first, with
// their views (ON DELETE CASCADE), and returns how many it deleted and the
// position of the last (nil when none). Callers loop until it returns fewer
// than q.Batch, passing that position as the next batch's q.After.
func (s *Store) Prune(ctx context.Context, q callback.PruneQuery) (_ int, _ *callback.PageToken, err error) {
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("prune callbacks: %w", classify(err))
		}
	}()
	if q.Batch <= 0 || (q.Before.IsZero() && q.KeepNewest <= 0) {
		return 0, nil, nil
	}
	viewed := ""
	if !q.IncludeUnviewed {
		viewed = " AND EXISTS (SELECT 1 FROM llm_callback_views v WHERE v.callback_id = c.id)"
	}
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		if s.dialect == DialectPostgres {
			return fmt.Sprintf("$%d", len(args))
		}
		return "?"
	}
	if !q.Before.IsZero() {
		conds = append(conds, "c.created_at < "+arg(dbTime(q.Before)))
	}
	if q.KeepNewest > 0 {
		// Rows after the newest KeepNewest in (created_at, id) order.
		conds = append(conds, "c.id NOT IN (SELECT k.id FROM llm_callbacks k ORDER BY k.created_at DESC, k.id DESC LIMIT "+arg(q.KeepNewest)+")")
	}
	where := conds[0]
	if len(conds) == 2 {
		where = "(" + conds[0] + " OR " + conds[1] + ")"
	}
	after := ""
	if q.After != nil {
		// created_at >= first, so that the index walk starts there.
		at := dbTime(q.After.CreatedAt)
		after = " AND c.created_at >= " + arg(at) + " AND (c.created_at > " + arg(at) + " OR c.id > " + arg(q.After.ID) + ")"
	}
	query := "DELETE FROM llm_callbacks WHERE id IN (SELECT c.id FROM llm_callbacks c WHERE " + where + viewed + after +
		" ORDER BY c.created_at, c.id LIMIT " + arg(q.Batch) + ")"
	// The hours of the deleted callbacks are stale for the statistics'
	// rollups (rollup.go), in the same statement or transaction.
	if s.dialect == DialectPostgres {
		var (
			n    int
			last callback.PageToken
		)
		err := s.db.QueryRowContext(ctx, "WITH del AS ("+query+" RETURNING created_at, id), "+
			"stale AS (INSERT INTO llm_callback_stats_stale (hour) SELECT DISTINCT date_trunc('hour', created_at, 'UTC') FROM del ON CONFLICT DO NOTHING), "+
			"last AS (SELECT created_at, id FROM del ORDER BY created_at DESC, id DESC LIMIT 1) "+
			"SELECT (SELECT count(*) FROM del), last.created_at, last.id FROM last", args...).Scan(&n, &last.CreatedAt, &last.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, nil
		}
		if err != nil {
			return 0, nil, err
		}
		last.CreatedAt = last.CreatedAt.UTC()
		return n, &last, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query+" RETURNING created_at, id", args...)
	if err != nil {
		return 0, nil, err
	}
	var (
		deleted []time.Time // their created_at
		last    *callback.PageToken
	)
	for rows.Next() {
		var p callback.PageToken
		if err := rows.Scan(&p.CreatedAt, &p.ID); err != nil {
			rows.Close()
			return 0, nil, err
		}
		deleted = append(deleted, p.CreatedAt)
		if p.CreatedAt = p.CreatedAt.UTC(); last == nil || p.CreatedAt.After(last.CreatedAt) ||
			p.CreatedAt.Equal(last.CreatedAt) && bytes.Compare(p.ID[:], last.ID[:]) > 0 {
			last = &p
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, nil, err
	}
	if err := rows.Close(); err != nil {
		return 0, nil, err
	}
	if err := s.markStale(ctx, tx, deleted); err != nil {
		return 0, nil, err
	}
	return len(deleted), last, tx.Commit()
}
