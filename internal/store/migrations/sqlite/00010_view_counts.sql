-- The unviewed badge (issue 14): how many callbacks an admin has not
-- viewed is the number of callbacks less the number of the admin's views,
-- since every view is of an existing callback (the foreign key cascades).
-- Both numbers are kept here by triggers, in the writing transaction, so
-- that the badge reads two rows instead of counting (see the PostgreSQL
-- migration). SQLite's triggers run per row: an increment of a row that
-- its single writer already has in its page cache.

-- +goose Up
CREATE TABLE llm_callback_count (
    id        integer NOT NULL PRIMARY KEY CHECK (id = 1),
    callbacks integer NOT NULL
);
CREATE TABLE llm_callback_view_counts (
    admin_user_id uuid    NOT NULL PRIMARY KEY,
    views         integer NOT NULL
);
INSERT INTO llm_callback_count (id, callbacks) SELECT 1, count(*) FROM llm_callbacks;
INSERT INTO llm_callback_view_counts (admin_user_id, views)
    SELECT admin_user_id, count(*) FROM llm_callback_views GROUP BY admin_user_id;

-- +goose StatementBegin
CREATE TRIGGER llm_callback_count_insert AFTER INSERT ON llm_callbacks BEGIN
    UPDATE llm_callback_count SET callbacks = callbacks + 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER llm_callback_count_delete AFTER DELETE ON llm_callbacks BEGIN
    UPDATE llm_callback_count SET callbacks = callbacks - 1 WHERE id = 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER llm_callback_view_counts_insert AFTER INSERT ON llm_callback_views BEGIN
    INSERT OR IGNORE INTO llm_callback_view_counts (admin_user_id, views) VALUES (new.admin_user_id, 0);
    UPDATE llm_callback_view_counts SET views = views + 1 WHERE admin_user_id = new.admin_user_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER llm_callback_view_counts_delete AFTER DELETE ON llm_callback_views BEGIN
    UPDATE llm_callback_view_counts SET views = views - 1 WHERE admin_user_id = old.admin_user_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER llm_callback_view_counts_delete;
DROP TRIGGER llm_callback_view_counts_insert;
DROP TRIGGER llm_callback_count_delete;
DROP TRIGGER llm_callback_count_insert;
DROP TABLE llm_callback_view_counts;
DROP TABLE llm_callback_count;
