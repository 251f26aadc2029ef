-- llm_callbacks holds one row per logical callback; ent/schema/llmcallback.go
-- explains each column. feed_position is the single counter from which every
-- change-feed position (seq) is taken, for callbacks and views alike.
--
-- Times are text in UTC, "YYYY-MM-DD HH:MM:SS.ffffff+00:00" with trailing
-- zeros of the fraction dropped (the driver's _time_format=sqlite). In one
-- zone these strings sort in time order, which keyset pagination needs:
-- where lengths differ, "+" sorts before "." and before every digit.

-- +goose Up
CREATE TABLE llm_callbacks (
    id                 uuid     NOT NULL,
    callback_id        text     NOT NULL,
    event_type         text     NOT NULL,
    known_event        bool     NOT NULL,
    status             text     NOT NULL,
    external_job_id    text     NOT NULL,
    workflow_name      text     NOT NULL,
    step_id            text     NOT NULL,
    error_message      text     NOT NULL,
    payload            blob     NOT NULL,
    payload_preview    text     NOT NULL,
    user_agent         text     NOT NULL,
    signature_valid    bool     NOT NULL,
    signature_scheme   text     NOT NULL,
    signature_key_name text     NOT NULL,
    verified_at        datetime NULL,
    delivery_count     integer  NOT NULL,
    created_at         datetime NOT NULL,
    updated_at         datetime NOT NULL,
    last_delivery_at   datetime NOT NULL,
    seq                integer  NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT llm_callbacks_status_check CHECK (status IN ('received', 'processed', 'error'))
);
CREATE UNIQUE INDEX llm_callbacks_callback_id_key ON llm_callbacks (callback_id);
CREATE UNIQUE INDEX llm_callbacks_seq_key ON llm_callbacks (seq);
CREATE INDEX llm_callbacks_created_at_id ON llm_callbacks (created_at, id);
CREATE INDEX llm_callbacks_status ON llm_callbacks (status);
CREATE INDEX llm_callbacks_external_job_id ON llm_callbacks (external_job_id);
CREATE INDEX llm_callbacks_workflow_name ON llm_callbacks (workflow_name);
CREATE INDEX llm_callbacks_event_type ON llm_callbacks (event_type);

CREATE TABLE feed_position (
    id  integer NOT NULL PRIMARY KEY CHECK (id = 1),
    seq integer NOT NULL
);
INSERT INTO feed_position (id, seq) VALUES (1, 0);

-- +goose Down
DROP TABLE feed_position;
DROP TABLE llm_callbacks;
