package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// LLMCallback is one logical callback (table llm_callbacks): every delivery
// with the same idempotency key updates the same row.
//
// It differs from the original data model of SPEC.md, for these reasons:
//   - payload is bytea/blob, not JSON: jsonb re-serialises the document, and
//     an admin debugging a signature mismatch needs the bytes as sent;
//   - signature_scheme and signature_key_name replace signature_header: they
//     say which scheme and which configured secret verified the delivery and
//     can never leak the signature itself;
//   - delivery_count and last_delivery_at record redeliveries, since a retry
//     of the sender rebuilds the body (its timestamp changes) and only the
//     latest body is kept;
//   - known_event, step_id and user_agent keep what the admin view shows
//     without parsing the payload again;
//   - seq is the row's position in the change feed that watchers resume from;
//   - prompt_tokens … duration_ms and error_category are the payload's
//     figures, extracted at ingest for statistics (migration 00004); the
//     search documents live in their own table, which ent does not model
//     (llm_callback_search; FTS5 on SQLite);
//   - the created_at index is (created_at, id), the keyset of List, so that
//     pages are read from the index in order.
//
// updated_at is set by the store on every write, not by callers. Times are
// stored in UTC with microsecond precision on both databases.
type LLMCallback struct {
	ent.Schema
}

// Annotations names the table.
func (LLMCallback) Annotations() []schema.Annotation {
	return []schema.Annotation{
		entsql.Table("llm_callbacks"),
		entsql.Checks(map[string]string{
			"llm_callbacks_status_check": "status IN ('received', 'processed', 'error')",
		}),
	}
}

// Fields of LLMCallback.
func (LLMCallback) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Default(uuid.New).Immutable(),
		field.Text("callback_id").NotEmpty().Unique().Immutable().
			Comment("idempotency key: job_id:event or job_id:event:step_id"),
		field.Text("event_type"),
		field.Bool("known_event"),
		field.Enum("status").Values("received", "processed", "error").
			SchemaType(map[string]string{dialect.Postgres: "text"}),
		field.Text("external_job_id"),
		field.Text("workflow_name"),
		field.Text("step_id"),
		field.Text("error_message"),
		field.Bytes("payload").Comment("the exact bytes of the latest delivery"),
		field.Text("payload_preview"),
		field.Text("user_agent"),
		field.Bool("signature_valid"),
		field.Text("signature_scheme"),
		field.Text("signature_key_name"),
		field.Time("verified_at").Optional().Nillable(),
		field.Int("delivery_count"),
		field.Time("created_at").Immutable(),
		field.Time("updated_at"),
		field.Time("last_delivery_at"),
		field.Int64("seq").Unique().Comment("change-feed position, reassigned on every delivery"),
		// The payload's figures (callback.Facts), NULL where it has none.
		field.Int64("prompt_tokens").Optional().Nillable(),
		field.Int64("completion_tokens").Optional().Nillable(),
		field.Int64("total_tokens").Optional().Nillable(),
		field.Float("cost_usd").Optional().Nillable(),
		field.Int64("duration_ms").Optional().Nillable(),
		field.Text("error_category").Default("").Comment("error.category of a failed workflow"),
	}
}

// Edges of LLMCallback.
func (LLMCallback) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("views", LLMCallbackView.Type).
			Annotations(entsql.OnDelete(entsql.Cascade)),
	}
}

// Indexes of LLMCallback.
func (LLMCallback) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("created_at", "id").StorageKey("llm_callbacks_created_at_id"),
		index.Fields("status", "created_at", "id").StorageKey("llm_callbacks_status_created_at_id"),
		index.Fields("external_job_id", "created_at", "id").StorageKey("llm_callbacks_external_job_id_created_at_id"),
		index.Fields("workflow_name", "created_at", "id").StorageKey("llm_callbacks_workflow_name_created_at_id"),
		index.Fields("event_type", "created_at", "id").StorageKey("llm_callbacks_event_type_created_at_id"),
	}
}
