-- llm_callback_views records each admin's first view of a callback. The
-- unique index on (callback_id, admin_user_id) stands in for the composite
-- primary key of SPEC.md (see ent/schema/llmcallbackview.go).

-- +goose Up
CREATE TABLE llm_callback_views (
    id            integer  NOT NULL PRIMARY KEY AUTOINCREMENT,
    callback_id   uuid     NOT NULL,
    admin_user_id uuid     NOT NULL,
    admin_name    text     NOT NULL,
    viewed_at     datetime NOT NULL,
    seq           integer  NOT NULL,
    CONSTRAINT llm_callback_views_llm_callbacks_views FOREIGN KEY (callback_id)
        REFERENCES llm_callbacks (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX llm_callback_views_seq_key ON llm_callback_views (seq);
CREATE UNIQUE INDEX llm_callback_views_callback_id_admin_user_id ON llm_callback_views (callback_id, admin_user_id);
CREATE INDEX llm_callback_views_admin_user_id_viewed_at ON llm_callback_views (admin_user_id, viewed_at);

-- +goose Down
DROP TABLE llm_callback_views;
