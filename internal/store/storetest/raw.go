package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/callbackd/callbackd/internal/callback"
)

// InsertRaw writes c as a new row with plain SQL, past every rule of Save:
// its text goes to the database byte for byte, as an older version, a
// migration or a hand-made fix could have left it. It takes the next
// change-feed position, as Save does, and returns the row's id and position.
// Only ID, Key, the text fields, Status, Payload and CreatedAt of c are used;
// a zero CreatedAt means now.
func InsertRaw(t testing.TB, s SQLStore, c callback.Callback) (uuid.UUID, int64, error) {
	t.Helper()
	ctx := context.Background()
	if c.ID == uuid.Nil {
		c.ID = uuid.New()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	at := c.CreatedAt.UTC().Truncate(time.Microsecond)
	if c.Payload == nil {
		c.Payload = []byte{}
	}
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		return uuid.Nil, 0, err
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.QueryRowContext(ctx, "UPDATE feed_position SET seq = seq + 1 WHERE id = 1 RETURNING seq").Scan(&seq); err != nil {
		return uuid.Nil, 0, err
	}
	cols := []string{
		"id", "callback_id", "event_type", "known_event", "status",
		"external_job_id", "workflow_name", "step_id", "error_message",
		"payload", "payload_preview", "user_agent",
		"signature_valid", "signature_scheme", "signature_key_name", "verified_at",
		"delivery_count", "created_at", "updated_at", "last_delivery_at", "seq",
	}
	args := []any{
		c.ID, c.Key, c.EventType, c.KnownEvent, string(c.Status),
		c.ExternalJobID, c.WorkflowName, c.StepID, c.ErrorMessage,
		c.Payload, c.PayloadPreview, c.UserAgent,
		c.Signature.Valid, c.Signature.Scheme, c.Signature.KeyName, at,
		1, at, at, at, seq,
	}
	ph := make([]string, len(cols))
	for i := range ph {
		ph[i] = "?"
		if s.Dialect() == "postgres" {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
	}
	q := "INSERT INTO llm_callbacks (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(ph, ", ") + ")"
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return uuid.Nil, 0, err
	}
	return c.ID, seq, tx.Commit()
}
