-- The read side of a large history (issue 14): the figures of each payload
-- in columns, for statistics without parsing payloads (NULL where the
-- payload has none: callback.Facts), and a search document per callback
-- (callback.SearchDocument) in its own table, with a GIN index of its words
-- (each word one lexeme, exactly as callbackd wrote it: array_to_tsvector,
-- no text-search parser) that finds the candidates of a word, prefix or
-- phrase; a LIKE pattern over the document then checks each candidate.
--
-- Not pg_trgm: a trigram index takes every three letters of the document
-- as a key, and maintaining it at ingest tripled PostgreSQL's CPU per
-- callback (BENCHMARKS.md, "Issue 14"); a word index takes one key per
-- distinct word.
--
-- The document lives beside llm_callbacks rather than in it: the list and
-- feed reads never fetch it, and ent's schema (which both dialects share)
-- need not know a column that SQLite keeps in FTS5 instead.
--
-- Rows stored before this migration get their columns and document from
-- the backfill that callbackd runs in the background after migrating
-- (internal/store/backfill.go); facts_backfill is its position, so that it
-- resumes where it stopped. It is done at once on an empty table.

-- +goose Up
ALTER TABLE llm_callbacks
    ADD COLUMN prompt_tokens     bigint           NULL,
    ADD COLUMN completion_tokens bigint           NULL,
    ADD COLUMN total_tokens      bigint           NULL,
    ADD COLUMN cost_usd          double precision NULL,
    ADD COLUMN duration_ms       bigint           NULL,
    ADD COLUMN error_category    text             NOT NULL DEFAULT '';

CREATE TABLE llm_callback_search (
    callback_id uuid NOT NULL,
    document    text NOT NULL,
    PRIMARY KEY (callback_id),
    CONSTRAINT llm_callback_search_llm_callbacks FOREIGN KEY (callback_id)
        REFERENCES llm_callbacks (id) ON DELETE CASCADE
);
CREATE INDEX llm_callback_search_words ON llm_callback_search
    USING gin (array_to_tsvector(string_to_array(btrim(document), ' ')));

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
