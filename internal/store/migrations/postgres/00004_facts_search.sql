-- The read side of a large history (issue 14): the figures of each payload
-- in columns, for statistics without parsing payloads (NULL where the
-- payload has none: callback.Facts), and a search document per callback
-- (callback.SearchDocument) in its own table with a pg_trgm index, which
-- answers the LIKE patterns of word, prefix and phrase search.
--
-- The document lives beside llm_callbacks rather than in it: the list and
-- feed reads never fetch it, and ent's schema (which both dialects share)
-- need not know a column that SQLite keeps in FTS5 instead.
--
-- Rows stored before this migration get their columns and document from
-- the backfill that callbackd runs in the background after migrating
-- (internal/store/backfill.go); facts_backfill is its position, so that it
-- resumes where it stopped. It is done at once on an empty table.
--
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension
-- (PostgreSQL 13+): a role that may create in the database may create it.

-- +goose Up
ALTER TABLE llm_callbacks
    ADD COLUMN prompt_tokens     bigint           NULL,
    ADD COLUMN completion_tokens bigint           NULL,
    ADD COLUMN total_tokens      bigint           NULL,
    ADD COLUMN cost_usd          double precision NULL,
    ADD COLUMN duration_ms       bigint           NULL,
    ADD COLUMN error_category    text             NOT NULL DEFAULT '';

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE llm_callback_search (
    callback_id uuid NOT NULL,
    document    text NOT NULL,
    PRIMARY KEY (callback_id),
    CONSTRAINT llm_callback_search_llm_callbacks FOREIGN KEY (callback_id)
        REFERENCES llm_callbacks (id) ON DELETE CASCADE
);
CREATE INDEX llm_callback_search_document ON llm_callback_search USING gin (document gin_trgm_ops);

CREATE TABLE facts_backfill (
    id               integer     NOT NULL PRIMARY KEY CHECK (id = 1),
    done             boolean     NOT NULL,
    after_created_at timestamptz NULL,
    after_id         uuid        NULL,
    rows_done        bigint      NOT NULL DEFAULT 0
);
INSERT INTO facts_backfill (id, done) SELECT 1, NOT EXISTS (SELECT 1 FROM llm_callbacks);

-- +goose Down
DROP TABLE facts_backfill;
DROP TABLE llm_callback_search;
ALTER TABLE llm_callbacks
    DROP COLUMN prompt_tokens,
    DROP COLUMN completion_tokens,
    DROP COLUMN total_tokens,
    DROP COLUMN cost_usd,
    DROP COLUMN duration_ms,
    DROP COLUMN error_category;
