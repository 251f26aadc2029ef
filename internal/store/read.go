package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/callbackd/callbackd/ent"
	"github.com/callbackd/callbackd/ent/llmcallback"
	"github.com/callbackd/callbackd/ent/llmcallbackview"
	"github.com/callbackd/callbackd/ent/predicate"
	"github.com/callbackd/callbackd/internal/callback"
)

// listColumns are the columns of lists and feeds: all but the payload.
var listColumns = func() []string {
	var cols []string
	for _, c := range llmcallback.Columns {
		if c != llmcallback.FieldPayload {
			cols = append(cols, c)
		}
	}
	return cols
}()

// Get returns one callback with its payload and views. See callback.Store.
func (s *Store) Get(ctx context.Context, id uuid.UUID, viewer uuid.UUID) (_ callback.Callback, err error) {
	row, err := s.client.LLMCallback.Query().
		Where(llmcallback.ID(id)).
		WithViews(func(q *ent.LLMCallbackViewQuery) {
			q.Order(llmcallbackview.ByViewedAt(), llmcallbackview.ByID())
		}).
		Only(ctx)
	if ent.IsNotFound(err) {
		return callback.Callback{}, fmt.Errorf("get callback %s: %w", id, callback.ErrNotFound)
	}
	if err != nil {
		return callback.Callback{}, fmt.Errorf("get callback %s: %w", id, classify(err))
	}
	c := toCallback(row)
	c.Views = make([]callback.View, 0, len(row.Edges.Views))
	for _, v := range row.Edges.Views {
		c.Views = append(c.Views, toView(v))
		if viewer != uuid.Nil && v.AdminUserID == viewer {
			c.ViewedByMe = true
		}
	}
	return c, nil
}

// Payloads returns the payloads of the callbacks ids names, in one query:
// the alert evaluator reads the error details of a batch of failures with
// it instead of one Get (and its views) each. A callback deleted meanwhile
// is absent from the map.
func (s *Store) Payloads(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID][]byte, error) {
	out := make(map[uuid.UUID][]byte, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		rows, err := s.client.LLMCallback.Query().
			Where(llmcallback.IDIn(chunk...)).
			Select(llmcallback.FieldID, llmcallback.FieldPayload).
			All(ctx)
		if err != nil {
			return nil, fmt.Errorf("read payloads: %w", classify(err))
		}
		for _, r := range rows {
			out[r.ID] = r.Payload
		}
	}
	return out, nil
}

// List returns one page of callbacks, newest first. See callback.Store.
func (s *Store) List(ctx context.Context, q callback.ListQuery) (_ callback.Page, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("list callbacks: %w", classify(err))
		}
	}()
	size := q.PageSize
	switch {
	case size <= 0:
		size = callback.DefaultPageSize
	case size > callback.MaxPageSize:
		size = callback.MaxPageSize
	}
	q = q.Storable()
	cs, err := s.filters(q)
	if err != nil {
		return callback.Page{}, err
	}
	query := s.client.LLMCallback.Query().Select(listColumns...).Where(predicate.LLMCallback(entPredicate(cs)))
	if t := q.After; t != nil {
		at := filterTime(t.CreatedAt)
		// The redundant created_at <= at is the bound an index range scan
		// starts from, on (created_at, id) and on each (filter column,
		// created_at, id): neither planner derives it from the OR, and
		// without it a deep page walks every newer row of its index.
		query.Where(llmcallback.CreatedAtLTE(at), llmcallback.Or(
			llmcallback.CreatedAtLT(at),
			llmcallback.And(llmcallback.CreatedAt(at), llmcallback.IDLT(t.ID)),
		))
	}
	rows, err := query.
		Order(llmcallback.ByCreatedAt(entsql.OrderDesc()), llmcallback.ByID(entsql.OrderDesc())).
		Limit(size + 1).
		All(ctx)
	if err != nil {
		return callback.Page{}, err
	}
	var page callback.Page
	if len(rows) > size {
		rows = rows[:size]
		last := rows[size-1]
		page.Next = &callback.PageToken{CreatedAt: last.CreatedAt.UTC(), ID: last.ID}
	}
	page.Callbacks = make([]callback.Callback, 0, len(rows))
	ids := make([]uuid.UUID, 0, len(rows))
	for _, r := range rows {
		page.Callbacks = append(page.Callbacks, toCallback(r))
		ids = append(ids, r.ID)
	}
	if q.Viewer != uuid.Nil && len(ids) > 0 {
		viewed, err := s.client.LLMCallbackView.Query().
			Where(llmcallbackview.AdminUserID(q.Viewer), llmcallbackview.CallbackIDIn(ids...)).
			Select(llmcallbackview.FieldCallbackID).
			All(ctx)
		if err != nil {
			return callback.Page{}, err
		}
		for _, v := range viewed {
			if i := slices.Index(ids, v.CallbackID); i >= 0 {
				page.Callbacks[i].ViewedByMe = true
			}
		}
	}
	return page, nil
}

// Changes returns change-feed entries after a position. See callback.Store.
//
// Both tables are read in one snapshot (a REPEATABLE READ transaction on
// PostgreSQL, a read transaction in WAL mode on SQLite): with two separate
// snapshots a view committed between the reads could be returned while a
// callback with a smaller Seq committed in the same interval is not, and a
// watcher would move its cursor past that callback.
func (s *Store) Changes(ctx context.Context, after int64, limit int) (_ []callback.Change, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("read changes after %d: %w", after, classify(err))
		}
	}()
	if limit <= 0 {
		return nil, nil
	}
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == DialectPostgres {
		opts.Isolation = sql.LevelRepeatableRead
	} else {
		opts = nil // modernc.org/sqlite supports no isolation options; WAL reads are snapshots
	}
	tx, err := s.client.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	callbacks, err := tx.LLMCallback.Query().
		Select(listColumns...).
		Where(llmcallback.SeqGT(after)).
		Order(llmcallback.BySeq()).
		Limit(limit).
		All(ctx)
	if err != nil {
		return nil, err
	}
	views, err := tx.LLMCallbackView.Query().
		Where(llmcallbackview.SeqGT(after)).
		Order(llmcallbackview.BySeq()).
		Limit(limit).
		All(ctx)
	if err != nil {
		return nil, err
	}
	batches, err := s.viewBatches(ctx, tx, after, limit)
	if err != nil {
		return nil, err
	}
	changes := make([]callback.Change, 0, min(limit, len(callbacks)+len(views)+len(batches)))
	for len(changes) < limit && (len(callbacks) > 0 || len(views) > 0 || len(batches) > 0) {
		if len(batches) > 0 && (len(callbacks) == 0 || batches[0].Seq < callbacks[0].Seq) && (len(views) == 0 || batches[0].Seq < *views[0].Seq) {
			b := batches[0]
			changes = append(changes, callback.Change{Seq: b.Seq, Kind: callback.ChangeViewedMany, Batch: &b})
			batches = batches[1:]
			continue
		}
		if len(views) == 0 || (len(callbacks) > 0 && callbacks[0].Seq < *views[0].Seq) {
			c := toCallback(callbacks[0])
			kind := callback.ChangeRedelivered
			if c.DeliveryCount == 1 {
				kind = callback.ChangeReceived
			}
			changes = append(changes, callback.Change{Seq: c.Seq, Kind: kind, Callback: &c})
			callbacks = callbacks[1:]
			continue
		}
		v := toView(views[0])
		changes = append(changes, callback.Change{Seq: v.Seq, Kind: callback.ChangeViewed, View: &v})
		views = views[1:]
	}
	return changes, nil
}

// viewBatches reads at most limit MarkAllViewed feed entries after a
// position, in the transaction of Changes.
func (s *Store) viewBatches(ctx context.Context, tx *ent.Tx, after int64, limit int) ([]callback.ViewBatch, error) {
	rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT seq, admin_user_id, admin_name, viewed_at, view_count
FROM llm_callback_view_batches WHERE seq > %s ORDER BY seq LIMIT %d`, s.placeholder(1), limit), after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var batches []callback.ViewBatch
	for rows.Next() {
		var b callback.ViewBatch
		if err := rows.Scan(&b.Seq, &b.AdminID, &b.AdminName, &b.ViewedAt, &b.Count); err != nil {
			return nil, err
		}
		b.AdminName, b.ViewedAt = text(b.AdminName), b.ViewedAt.UTC()
		batches = append(batches, b)
	}
	return batches, rows.Err()
}

// LastSeq returns the highest committed Seq. See callback.Store.
func (s *Store) LastSeq(ctx context.Context) (int64, error) {
	var seq int64
	if err := s.readDB.QueryRowContext(ctx, "SELECT seq FROM feed_position WHERE id = 1").Scan(&seq); err != nil {
		return 0, fmt.Errorf("read last seq: %w", classify(err))
	}
	return seq, nil
}

// toCallback converts a row. Its text goes through the column rule (without
// a limit) so that a row holding bytes that are not UTF-8, written by an
// older version or by hand, is still read, with U+FFFD in their place:
// protobuf strings must be valid UTF-8, and one such row would otherwise
// fail every list, feed and watch that reaches it.
func toCallback(r *ent.LLMCallback) callback.Callback {
	c := callback.Callback{
		ID:             r.ID,
		Key:            text(r.CallbackID),
		EventType:      text(r.EventType),
		KnownEvent:     r.KnownEvent,
		Status:         callback.Status(text(string(r.Status))),
		ExternalJobID:  text(r.ExternalJobID),
		WorkflowName:   text(r.WorkflowName),
		StepID:         text(r.StepID),
		ErrorMessage:   text(r.ErrorMessage),
		Payload:        r.Payload,
		PayloadPreview: text(r.PayloadPreview),
		UserAgent:      text(r.UserAgent),
		Signature: callback.Signature{
			Valid:   r.SignatureValid,
			Scheme:  text(r.SignatureScheme),
			KeyName: text(r.SignatureKeyName),
		},
		DeliveryCount:  r.DeliveryCount,
		CreatedAt:      r.CreatedAt.UTC(),
		UpdatedAt:      r.UpdatedAt.UTC(),
		LastDeliveryAt: r.LastDeliveryAt.UTC(),
		Seq:            r.Seq,
	}
	if r.VerifiedAt != nil {
		c.Signature.VerifiedAt = r.VerifiedAt.UTC()
	}
	return c
}

// text is stored text as it is read: valid UTF-8 whatever the row holds.
func text(s string) string { return callback.StorableText(s, 0) }

// filterTime is t as a time filter or keyset position: dbTime, clamped to
// the years 0001 to 9999, so that any instant reaches the database as a value
// both dialects hold (PostgreSQL's timestamptz ends in year 294276; SQLite's
// text times sort correctly only with four-digit years). Every stored time
// lies inside that range, so clamping keeps each comparison's answer.
func filterTime(t time.Time) time.Time {
	lo := time.Date(1, time.January, 1, 0, 0, 0, 0, time.UTC)
	hi := time.Date(9999, time.December, 31, 23, 59, 59, 999999000, time.UTC)
	switch {
	case t.Before(lo):
		return lo
	case t.After(hi):
		return hi
	}
	return dbTime(t)
}

// toView converts a view row; a view recorded by MarkAllViewed has no feed
// position (Seq 0).
func toView(v *ent.LLMCallbackView) callback.View {
	cv := callback.View{
		CallbackID: v.CallbackID,
		AdminID:    v.AdminUserID,
		AdminName:  text(v.AdminName),
		ViewedAt:   v.ViewedAt.UTC(),
	}
	if v.Seq != nil {
		cv.Seq = *v.Seq
	}
	return cv
}
