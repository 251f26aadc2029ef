-- PostgreSQL's 00003 compresses payloads with lz4; SQLite does not compress
-- values. This migration keeps the two dialects' versions in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
