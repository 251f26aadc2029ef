package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"
)

// LLMCallbackView records an admin's first view of a callback (table
// llm_callback_views). It is a join table rather than an array column so
// that concurrent "mark viewed" calls never race.
//
// SPEC.md gives it the primary key (callback_id, admin_user_id). ent allows
// composite primary keys only on edge schemas, whose both sides are ent
// entities, and an admin is not an entity here (admins come from the
// credential). So the table has a surrogate bigint id and a UNIQUE index on
// (callback_id, admin_user_id); that index is what
// INSERT ... ON CONFLICT (callback_id, admin_user_id) DO NOTHING relies on,
// so it enforces exactly what the composite key would.
type LLMCallbackView struct {
	ent.Schema
}

// Annotations names the table.
func (LLMCallbackView) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table("llm_callback_views")}
}

// Fields of LLMCallbackView.
func (LLMCallbackView) Fields() []ent.Field {
	return []ent.Field{
		field.Int64("id"),
		field.UUID("callback_id", uuid.UUID{}).Immutable(),
		field.UUID("admin_user_id", uuid.UUID{}).Immutable(),
		field.Text("admin_name"),
		field.Time("viewed_at").Immutable(),
		// NULL for the views of a MarkAllViewed, which the change feed
		// announces as one entry of llm_callback_view_batches (00005).
		field.Int64("seq").Optional().Nillable().Unique().Immutable().Comment("change-feed position"),
	}
}

// Edges of LLMCallbackView.
func (LLMCallbackView) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("callback", LLMCallback.Type).Ref("views").
			Field("callback_id").Unique().Required().Immutable(),
	}
}

// Indexes of LLMCallbackView.
func (LLMCallbackView) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("callback_id", "admin_user_id").Unique().
			StorageKey("llm_callback_views_callback_id_admin_user_id"),
		index.Fields("admin_user_id", "viewed_at").
			StorageKey("llm_callback_views_admin_user_id_viewed_at"),
	}
}
