-- The unviewed badge (issue 14): how many callbacks an admin has not
-- viewed is the number of callbacks less the number of the admin's views,
-- since every view is of an existing callback (the foreign key cascades).
-- Counting either at ten million rows takes seconds, and counting the
-- unviewed ones with an anti-join probed the views' index once per
-- callback until the bound (326 ms at two million, BENCHMARKS.md). Both
-- numbers are kept here instead, by statement-level triggers over the
-- statements' transition tables, in the writing transaction: exact at
-- every snapshot, whatever the history's size, and one row update per
-- statement (an ingest batch, a MarkAllViewed batch, a prune batch), never
-- one per row.
--
-- The total is one row that every ingest transaction updates after its
-- insert; ingest transactions are already serialised by feed_position,
-- which they lock first, so the row adds no wait of its own. Views count
-- per admin. The triggers are made before the counts, in the migration's
-- transaction: their lock on the tables holds writers back until the
-- counts are committed.

-- +goose Up
CREATE TABLE llm_callback_count (
    id        integer NOT NULL PRIMARY KEY CHECK (id = 1),
    callbacks bigint  NOT NULL
);
CREATE TABLE llm_callback_view_counts (
    admin_user_id uuid   NOT NULL PRIMARY KEY,
    views         bigint NOT NULL
);

-- +goose StatementBegin
CREATE FUNCTION llm_callback_count_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE llm_callback_count SET callbacks = callbacks + d.n
    FROM (SELECT count(*) AS n FROM changed) d WHERE id = 1 AND d.n > 0;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION llm_callback_count_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE llm_callback_count SET callbacks = callbacks - d.n
    FROM (SELECT count(*) AS n FROM changed) d WHERE id = 1 AND d.n > 0;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION llm_callback_view_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO llm_callback_view_counts AS c (admin_user_id, views)
    SELECT admin_user_id, count(*) FROM changed GROUP BY admin_user_id ORDER BY admin_user_id
    ON CONFLICT (admin_user_id) DO UPDATE SET views = c.views + excluded.views;
    RETURN NULL;
END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION llm_callback_view_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE llm_callback_view_counts c SET views = c.views - d.n
    FROM (SELECT admin_user_id, count(*) AS n FROM changed GROUP BY admin_user_id) d
    WHERE c.admin_user_id = d.admin_user_id;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER llm_callback_count_insert AFTER INSERT ON llm_callbacks
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION llm_callback_count_inserted();
CREATE TRIGGER llm_callback_count_delete AFTER DELETE ON llm_callbacks
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION llm_callback_count_deleted();
CREATE TRIGGER llm_callback_view_counts_insert AFTER INSERT ON llm_callback_views
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION llm_callback_view_counts_inserted();
CREATE TRIGGER llm_callback_view_counts_delete AFTER DELETE ON llm_callback_views
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION llm_callback_view_counts_deleted();

INSERT INTO llm_callback_count (id, callbacks) SELECT 1, count(*) FROM llm_callbacks;
INSERT INTO llm_callback_view_counts (admin_user_id, views)
    SELECT admin_user_id, count(*) FROM llm_callback_views GROUP BY admin_user_id;

-- +goose Down
DROP TRIGGER llm_callback_view_counts_delete ON llm_callback_views;
DROP TRIGGER llm_callback_view_counts_insert ON llm_callback_views;
DROP TRIGGER llm_callback_count_delete ON llm_callbacks;
DROP TRIGGER llm_callback_count_insert ON llm_callbacks;
DROP FUNCTION llm_callback_view_counts_deleted();
DROP FUNCTION llm_callback_view_counts_inserted();
DROP FUNCTION llm_callback_count_deleted();
DROP FUNCTION llm_callback_count_inserted();
DROP TABLE llm_callback_view_counts;
DROP TABLE llm_callback_count;
