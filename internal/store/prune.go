package store

import (
	"context"
	"fmt"
	"time"

	"github.com/callbackd/callbackd/internal/callback"
)

// Prune deletes at most q.Batch qualifying callbacks, oldest first, with
// their views (ON DELETE CASCADE), and returns how many it deleted. Callers
// loop until it returns fewer than q.Batch.
func (s *Store) Prune(ctx context.Context, q callback.PruneQuery) (_ int, err error) {
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("prune callbacks: %w", classify(err))
		}
	}()
	if q.Batch <= 0 || (q.Before.IsZero() && q.KeepNewest <= 0) {
		return 0, nil
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
	query := "DELETE FROM llm_callbacks WHERE id IN (SELECT c.id FROM llm_callbacks c WHERE " + where + viewed +
		" ORDER BY c.created_at, c.id LIMIT " + arg(q.Batch) + ")"
	// The hours of the deleted callbacks are stale for the statistics'
	// rollups (rollup.go), in the same statement or transaction.
	if s.dialect == DialectPostgres {
		var n int
		err := s.db.QueryRowContext(ctx, "WITH del AS ("+query+" RETURNING created_at), "+
			"stale AS (INSERT INTO llm_callback_stats_stale (hour) SELECT DISTINCT date_trunc('hour', created_at, 'UTC') FROM del ON CONFLICT DO NOTHING) "+
			"SELECT count(*) FROM del", args...).Scan(&n)
		return n, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, query+" RETURNING created_at", args...)
	if err != nil {
		return 0, err
	}
	var deleted []time.Time // their created_at
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			rows.Close()
			return 0, err
		}
		deleted = append(deleted, at)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, err
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := s.markStale(ctx, tx, deleted); err != nil {
		return 0, err
	}
	return len(deleted), tx.Commit()
}
