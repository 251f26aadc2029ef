-- The history's filters by status, event type, workflow and job id each get
-- an index that also holds the list's order, (column, created_at, id),
-- replacing the single-column one. With the single-column index a page of a
-- filtered list walked the (created_at, id) index past every row of other
-- values, so page 1,000 cost seven times page 1 (BENCHMARKS.md, "Issue 14");
-- now every page is a short range scan of its own index. The new indexes
-- serve the equality lookups the old ones did, so ingestion maintains as
-- many indexes as before.
--
-- CONCURRENTLY: on a large live history the build takes minutes, and a
-- plain CREATE INDEX would block ingestion for all of it. It cannot run in
-- a transaction, so a migration interrupted midway runs again from the
-- start: each index is dropped before it is built, because an interrupted
-- concurrent build leaves an invalid index behind under the same name.

-- +goose NO TRANSACTION
-- +goose Up
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_status_created_at_id;
CREATE INDEX CONCURRENTLY llm_callbacks_status_created_at_id ON llm_callbacks (status, created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_event_type_created_at_id;
CREATE INDEX CONCURRENTLY llm_callbacks_event_type_created_at_id ON llm_callbacks (event_type, created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_workflow_name_created_at_id;
CREATE INDEX CONCURRENTLY llm_callbacks_workflow_name_created_at_id ON llm_callbacks (workflow_name, created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_external_job_id_created_at_id;
CREATE INDEX CONCURRENTLY llm_callbacks_external_job_id_created_at_id ON llm_callbacks (external_job_id, created_at, id);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_status;
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_event_type;
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_workflow_name;
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_external_job_id;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_status;
CREATE INDEX CONCURRENTLY llm_callbacks_status ON llm_callbacks (status);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_event_type;
CREATE INDEX CONCURRENTLY llm_callbacks_event_type ON llm_callbacks (event_type);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_workflow_name;
CREATE INDEX CONCURRENTLY llm_callbacks_workflow_name ON llm_callbacks (workflow_name);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_external_job_id;
CREATE INDEX CONCURRENTLY llm_callbacks_external_job_id ON llm_callbacks (external_job_id);
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_status_created_at_id;
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_event_type_created_at_id;
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_workflow_name_created_at_id;
DROP INDEX CONCURRENTLY IF EXISTS llm_callbacks_external_job_id_created_at_id;
