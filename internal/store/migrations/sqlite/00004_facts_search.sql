-- The read side of a large history (issue 14): the figures of each payload
-- in columns, for statistics without parsing payloads (NULL where the
-- payload has none: callback.Facts), and a search document per callback
-- (callback.SearchDocument) indexed by FTS5.
--
-- llm_callback_search holds the documents under a stable integer key (the
-- callbacks' uuid key has only SQLite's implicit rowid, which VACUUM may
-- renumber), and llm_callback_fts indexes them as its external content,
-- kept in step by the triggers below; a deleted callback's document goes by
-- the cascade, whose deletes fire the triggers too. The ascii tokenizer
-- splits the document exactly at the spaces SearchDocument puts between
-- words and folds nothing that SearchDocument has not already folded, so
-- FTS5 and PostgreSQL's LIKE patterns see the same words.
--
-- Rows stored before this migration get their columns and document from
-- the background backfill (internal/store/backfill.go); facts_backfill is
-- its position. It is done at once on an empty table.

-- +goose Up
ALTER TABLE llm_callbacks ADD COLUMN prompt_tokens integer NULL;
ALTER TABLE llm_callbacks ADD COLUMN completion_tokens integer NULL;
ALTER TABLE llm_callbacks ADD COLUMN total_tokens integer NULL;
ALTER TABLE llm_callbacks ADD COLUMN cost_usd real NULL;
ALTER TABLE llm_callbacks ADD COLUMN duration_ms integer NULL;
ALTER TABLE llm_callbacks ADD COLUMN error_category text NOT NULL DEFAULT '';

CREATE TABLE llm_callback_search (
    id          integer NOT NULL PRIMARY KEY,
    callback_id uuid    NOT NULL,
    document    text    NOT NULL,
    CONSTRAINT llm_callback_search_llm_callbacks FOREIGN KEY (callback_id)
        REFERENCES llm_callbacks (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX llm_callback_search_callback_id ON llm_callback_search (callback_id);

CREATE VIRTUAL TABLE llm_callback_fts USING fts5(
    document, content='llm_callback_search', content_rowid='id', tokenize='ascii'
);

-- +goose StatementBegin
CREATE TRIGGER llm_callback_search_insert AFTER INSERT ON llm_callback_search BEGIN
    INSERT INTO llm_callback_fts (rowid, document) VALUES (new.id, new.document);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER llm_callback_search_delete AFTER DELETE ON llm_callback_search BEGIN
    INSERT INTO llm_callback_fts (llm_callback_fts, rowid, document) VALUES ('delete', old.id, old.document);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER llm_callback_search_update AFTER UPDATE ON llm_callback_search BEGIN
    INSERT INTO llm_callback_fts (llm_callback_fts, rowid, document) VALUES ('delete', old.id, old.document);
    INSERT INTO llm_callback_fts (rowid, document) VALUES (new.id, new.document);
END;
-- +goose StatementEnd

CREATE TABLE facts_backfill (
    id               integer  NOT NULL PRIMARY KEY CHECK (id = 1),
    done             bool     NOT NULL,
    after_created_at datetime NULL,
    after_id         uuid     NULL,
    rows_done        integer  NOT NULL DEFAULT 0
);
INSERT INTO facts_backfill (id, done) SELECT 1, NOT EXISTS (SELECT 1 FROM llm_callbacks);

-- +goose Down
DROP TABLE facts_backfill;
DROP TRIGGER llm_callback_search_update;
DROP TRIGGER llm_callback_search_delete;
DROP TRIGGER llm_callback_search_insert;
DROP TABLE llm_callback_fts;
DROP TABLE llm_callback_search;
ALTER TABLE llm_callbacks DROP COLUMN error_category;
ALTER TABLE llm_callbacks DROP COLUMN duration_ms;
ALTER TABLE llm_callbacks DROP COLUMN cost_usd;
ALTER TABLE llm_callbacks DROP COLUMN total_tokens;
ALTER TABLE llm_callbacks DROP COLUMN completion_tokens;
ALTER TABLE llm_callbacks DROP COLUMN prompt_tokens;
