-- MarkAllViewed records a view per callback, but the change feed announces
-- the whole operation as one entry: its views have no feed position (seq
-- NULL; a unique index allows many NULLs) and llm_callback_view_batches
-- holds the entry. Watchers would otherwise receive one event per callback,
-- up to millions. Batches stay when retention deletes their callbacks: the
-- feed is history.
--
-- SQLite cannot drop a NOT NULL constraint: the views table is rebuilt
-- (nothing references it, so the rename is safe with foreign keys on).

-- +goose Up
CREATE TABLE llm_callback_views_new (
    id            integer  NOT NULL PRIMARY KEY AUTOINCREMENT,
    callback_id   uuid     NOT NULL,
    admin_user_id uuid     NOT NULL,
    admin_name    text     NOT NULL,
    viewed_at     datetime NOT NULL,
    seq           integer  NULL,
    CONSTRAINT llm_callback_views_llm_callbacks_views FOREIGN KEY (callback_id)
        REFERENCES llm_callbacks (id) ON DELETE CASCADE
);
INSERT INTO llm_callback_views_new (id, callback_id, admin_user_id, admin_name, viewed_at, seq)
    SELECT id, callback_id, admin_user_id, admin_name, viewed_at, seq FROM llm_callback_views;
DROP TABLE llm_callback_views;
ALTER TABLE llm_callback_views_new RENAME TO llm_callback_views;
CREATE UNIQUE INDEX llm_callback_views_seq_key ON llm_callback_views (seq);
CREATE UNIQUE INDEX llm_callback_views_callback_id_admin_user_id ON llm_callback_views (callback_id, admin_user_id);
CREATE INDEX llm_callback_views_admin_user_id_viewed_at ON llm_callback_views (admin_user_id, viewed_at);

CREATE TABLE llm_callback_view_batches (
    seq           integer  NOT NULL PRIMARY KEY,
    admin_user_id uuid     NOT NULL,
    admin_name    text     NOT NULL,
    viewed_at     datetime NOT NULL,
    view_count    integer  NOT NULL
);

-- +goose Down
DROP TABLE llm_callback_view_batches;
CREATE TABLE llm_callback_views_old (
    id            integer  NOT NULL PRIMARY KEY AUTOINCREMENT,
    callback_id   uuid     NOT NULL,
    admin_user_id uuid     NOT NULL,
    admin_name    text     NOT NULL,
    viewed_at     datetime NOT NULL,
    seq           integer  NOT NULL,
    CONSTRAINT llm_callback_views_llm_callbacks_views FOREIGN KEY (callback_id)
        REFERENCES llm_callbacks (id) ON DELETE CASCADE
);
-- Views without a position get distinct negative ones, which no cursor
-- reaches (feed positions start at 1).
INSERT INTO llm_callback_views_old (id, callback_id, admin_user_id, admin_name, viewed_at, seq)
    SELECT id, callback_id, admin_user_id, admin_name, viewed_at, coalesce(seq, -id) FROM llm_callback_views;
DROP TABLE llm_callback_views;
ALTER TABLE llm_callback_views_old RENAME TO llm_callback_views;
CREATE UNIQUE INDEX llm_callback_views_seq_key ON llm_callback_views (seq);
CREATE UNIQUE INDEX llm_callback_views_callback_id_admin_user_id ON llm_callback_views (callback_id, admin_user_id);
CREATE INDEX llm_callback_views_admin_user_id_viewed_at ON llm_callback_views (admin_user_id, viewed_at);
