package store

import (
	"regexp"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/callbackd/callbackd/internal/callback"
)

// TestRowArgsFollowTheSchema: rowArgs gives each column of ent's schema
// (saveColumns) its own value, whatever order the schema lists them in.
func TestRowArgsFollowTheSchema(t *testing.T) {
	t.Parallel()
	ptr := func(v int64) *int64 { return &v }
	cost := 0.25
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	last := first.Add(time.Minute)
	verified := last.Add(time.Second)
	now := last.Add(time.Hour)
	id := uuid.New()
	d := callback.Delivery{
		Key: "job:workflow.failed", EventType: "workflow.failed", KnownEvent: true, Status: callback.StatusError,
		ExternalJobID: "job", WorkflowName: "workflow", StepID: "step", ErrorMessage: "message",
		Payload: []byte("payload"), PayloadPreview: "preview", UserAgent: "agent",
		Signature:  callback.Signature{Valid: true, Scheme: "scheme", KeyName: "key", VerifiedAt: verified},
		ReceivedAt: last,
		Facts: callback.Facts{PromptTokens: ptr(11), CompletionTokens: ptr(12), TotalTokens: ptr(23),
			CostUSD: &cost, DurationMS: ptr(900), ErrorCategory: "category"},
	}
	earlier := d
	earlier.ReceivedAt = first
	row := &saveRow{id: id, n: 2, last: &d, first: 0, seq: 77}
	want := map[string]any{
		"id": id, "callback_id": d.Key, "event_type": d.EventType, "known_event": true, "status": "error",
		"external_job_id": "job", "workflow_name": "workflow", "step_id": "step", "error_message": "message",
		"payload": []byte("payload"), "payload_preview": "preview", "user_agent": "agent",
		"signature_valid": true, "signature_scheme": "scheme", "signature_key_name": "key", "verified_at": dbTime(verified),
		"delivery_count": 2, "created_at": dbTime(first), "updated_at": now, "last_delivery_at": dbTime(last), "seq": int64(77),
		"prompt_tokens": int64(11), "completion_tokens": int64(12), "total_tokens": int64(23), "cost_usd": 0.25,
		"duration_ms": int64(900), "error_category": "category",
	}
	args := rowArgs(row, []callback.Delivery{earlier, d}, now)
	require.Len(t, args, len(saveColumns))
	require.Len(t, want, len(saveColumns), "a column of the schema has no expected value here")
	for i, col := range saveColumns {
		require.Contains(t, want, col)
		require.Equal(t, want[col], args[i], "column %s", col)
	}
	require.Len(t, pgColumnTypes, len(saveColumns))
}

// TestSaveConflictCoversEveryColumn: a redelivery rewrites every column of
// the schema but the row's identity and birth, so a column added to ent's
// schema cannot be left stale by the upsert.
func TestSaveConflictCoversEveryColumn(t *testing.T) {
	t.Parallel()
	for _, col := range saveColumns {
		set := regexp.MustCompile(`(?m)^\s*` + col + ` = `).MatchString(saveConflict)
		switch col {
		case "id", "callback_id", "created_at":
			require.False(t, set, "%s must not change on a redelivery", col)
		default:
			require.True(t, set, "the upsert does not set %s on a redelivery", col)
		}
	}
}
