package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/ent"
	"github.com/callbackd/callbackd/ent/llmcallbackview"
	"github.com/callbackd/callbackd/internal/callback"
)

// MarkViewed records an admin's first view of a callback. See
// callback.Store.
//
// The insert relies on the unique index (callback_id, admin_user_id):
// concurrent calls for the same pair all reach INSERT ... ON CONFLICT DO
// NOTHING, exactly one inserts, and the others then read its row. An
// unknown callback fails the foreign key.
func (s *Store) MarkViewed(ctx context.Context, id, admin uuid.UUID, adminName string, at time.Time) (_ callback.View, _ bool, err error) {
	defer func() {
		if err != nil {
			s.writeFailed(err)
			err = fmt.Errorf("mark callback %s viewed by %s: %w", id, admin, classify(err))
		}
	}()
	// Most calls repeat a view: answer them without taking the feed lock.
	if v, err := s.view(ctx, id, admin); err == nil {
		return v, false, nil
	} else if !errors.Is(err, callback.ErrNotFound) {
		return callback.View{}, false, err
	}

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return callback.View{}, false, err
	}
	defer tx.Rollback() // after Commit, a no-op; otherwise it returns the feed position
	seq, err := advanceFeed(ctx, tx, 1)
	if err != nil {
		return callback.View{}, false, err
	}
	// The name comes from a credential (a JWT claim may hold anything): it
	// follows the column rule like every other stored text.
	v := callback.View{CallbackID: id, AdminID: admin, AdminName: callback.StorableText(adminName, callback.MaxNameBytes), ViewedAt: dbTime(at), Seq: seq}
	q := fmt.Sprintf(`INSERT INTO llm_callback_views (callback_id, admin_user_id, admin_name, viewed_at, seq)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (callback_id, admin_user_id) DO NOTHING`,
		s.placeholder(1), s.placeholder(2), s.placeholder(3), s.placeholder(4), s.placeholder(5))
	res, err := tx.ExecContext(ctx, q, v.CallbackID, v.AdminID, v.AdminName, v.ViewedAt, v.Seq)
	if isForeignKeyViolation(err) {
		return callback.View{}, false, callback.ErrNotFound
	}
	if err != nil {
		return callback.View{}, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return callback.View{}, false, err
	}
	if n == 1 {
		if err := tx.Commit(); err != nil {
			return callback.View{}, false, err
		}
		return v, true, nil
	}
	// Another call recorded the view first; it has committed, since it
	// held the feed lock we took after it.
	if err := tx.Rollback(); err != nil {
		return callback.View{}, false, err
	}
	v, err = s.view(ctx, id, admin)
	return v, false, err
}

// view returns the recorded view of a callback by an admin, or ErrNotFound.
func (s *Store) view(ctx context.Context, id, admin uuid.UUID) (callback.View, error) {
	row, err := s.client.LLMCallbackView.Query().
		Where(llmcallbackview.CallbackID(id), llmcallbackview.AdminUserID(admin)).
		Only(ctx)
	if ent.IsNotFound(err) {
		return callback.View{}, callback.ErrNotFound
	}
	if err != nil {
		return callback.View{}, err
	}
	return toView(row), nil
}
