-- Payloads over about 2 KB are compressed by PostgreSQL's TOAST. lz4
-- compresses them with a fraction of the CPU of the default pglz (measured:
-- PostgreSQL CPU per 32-row batch of 2 KB callbacks 0.93–1.03 ms against
-- 1.33–1.38 ms), which is a quarter of the cost of storing a callback. Only
-- new values are compressed with it; rows already stored keep theirs. A
-- server built without lz4 (or older than PostgreSQL 14) keeps pglz.

-- +goose Up
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE llm_callbacks ALTER COLUMN payload SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'llm_callbacks.payload keeps the default compression: %', SQLERRM;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE 'ALTER TABLE llm_callbacks ALTER COLUMN payload SET COMPRESSION default';
EXCEPTION WHEN syntax_error THEN
    NULL; -- before PostgreSQL 14 there was nothing to undo
END
$$;
-- +goose StatementEnd
