-- The history's filters by status, event type, workflow and job id each get
-- an index that also holds the list's order, (column, created_at, id),
-- replacing the single-column one: a page of a filtered list is then a
-- short range scan of its own index, however deep (PostgreSQL's migration
-- says more).

-- +goose Up
CREATE INDEX llm_callbacks_status_created_at_id ON llm_callbacks (status, created_at, id);
CREATE INDEX llm_callbacks_event_type_created_at_id ON llm_callbacks (event_type, created_at, id);
CREATE INDEX llm_callbacks_workflow_name_created_at_id ON llm_callbacks (workflow_name, created_at, id);
CREATE INDEX llm_callbacks_external_job_id_created_at_id ON llm_callbacks (external_job_id, created_at, id);
DROP INDEX llm_callbacks_status;
DROP INDEX llm_callbacks_event_type;
DROP INDEX llm_callbacks_workflow_name;
DROP INDEX llm_callbacks_external_job_id;

-- +goose Down
CREATE INDEX llm_callbacks_status ON llm_callbacks (status);
CREATE INDEX llm_callbacks_event_type ON llm_callbacks (event_type);
CREATE INDEX llm_callbacks_workflow_name ON llm_callbacks (workflow_name);
CREATE INDEX llm_callbacks_external_job_id ON llm_callbacks (external_job_id);
DROP INDEX llm_callbacks_status_created_at_id;
DROP INDEX llm_callbacks_event_type_created_at_id;
DROP INDEX llm_callbacks_workflow_name_created_at_id;
DROP INDEX llm_callbacks_external_job_id_created_at_id;
