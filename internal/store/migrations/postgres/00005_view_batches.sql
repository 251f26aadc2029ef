-- MarkAllViewed records a view per callback, but the change feed announces
-- the whole operation as one entry: its views have no feed position (seq
-- NULL; a unique index allows many NULLs) and llm_callback_view_batches
-- holds the entry. Watchers would otherwise receive one event per callback,
-- up to millions. Batches stay when retention deletes their callbacks: the
-- feed is history.

-- +goose Up
ALTER TABLE llm_callback_views ALTER COLUMN seq DROP NOT NULL;

CREATE TABLE llm_callback_view_batches (
    seq           bigint      NOT NULL,
    admin_user_id uuid        NOT NULL,
    admin_name    text        NOT NULL,
    viewed_at     timestamptz NOT NULL,
    view_count    bigint      NOT NULL,
    PRIMARY KEY (seq)
);

-- +goose Down
DROP TABLE llm_callback_view_batches;
-- Views without a position get distinct negative ones, which no cursor
-- reaches (feed positions start at 1).
UPDATE llm_callback_views SET seq = -id WHERE seq IS NULL;
ALTER TABLE llm_callback_views ALTER COLUMN seq SET NOT NULL;
