-- Hourly rollups of the statistics (issue 14): GetCallbackStats over 30
-- days read every callback of the range, about ten seconds at two million
-- callbacks. llm_callback_stats_hours holds, per closed UTC hour and per
-- (workflow, status, event type, error category), what Store.Stats adds up:
-- the count, the token and cost sums, and a histogram of the finished
-- workflows' durations (internal/store/rollup.go says how it is encoded and
-- read). llm_callback_stats_hour_totals holds the same per hour without
-- the workflow (the time series of a report without a workflow filter),
-- and llm_callback_stats_days per UTC day (the per-workflow figures of
-- whole days). Stats reads these rows for the whole hours of its range and
-- the callbacks themselves only for the rest.
--
-- llm_callback_stats_rollup.through is the end of the rolled-up hours:
-- every hour before it has its rows (none when it had no callbacks). It is
-- NULL until the first roll-up. A write that changes a callback of an hour
-- already rolled up (a redelivery of an old callback, a pruned one) names
-- the hour in llm_callback_stats_stale in the same statement or
-- transaction; Stats reads a stale hour from the callbacks until the
-- roll-up has computed it again.

-- +goose Up
CREATE TABLE llm_callback_stats_hours (
    hour              timestamptz      NOT NULL,
    workflow_name     text             NOT NULL,
    status            text             NOT NULL,
    event_type        text             NOT NULL,
    error_category    text             NOT NULL,
    callbacks         bigint           NOT NULL,
    prompt_tokens     bigint           NOT NULL,
    completion_tokens bigint           NOT NULL,
    total_tokens      bigint           NOT NULL,
    cost_usd          double precision NOT NULL,
    durations         text             NOT NULL,
    PRIMARY KEY (hour, workflow_name, status, event_type, error_category)
);

CREATE TABLE llm_callback_stats_hour_totals (
    hour              timestamptz      NOT NULL,
    status            text             NOT NULL,
    event_type        text             NOT NULL,
    error_category    text             NOT NULL,
    callbacks         bigint           NOT NULL,
    prompt_tokens     bigint           NOT NULL,
    completion_tokens bigint           NOT NULL,
    total_tokens      bigint           NOT NULL,
    cost_usd          double precision NOT NULL,
    durations         text             NOT NULL,
    PRIMARY KEY (hour, status, event_type, error_category)
);

CREATE TABLE llm_callback_stats_days (
    day               timestamptz      NOT NULL,
    workflow_name     text             NOT NULL,
    status            text             NOT NULL,
    event_type        text             NOT NULL,
    error_category    text             NOT NULL,
    callbacks         bigint           NOT NULL,
    prompt_tokens     bigint           NOT NULL,
    completion_tokens bigint           NOT NULL,
    total_tokens      bigint           NOT NULL,
    cost_usd          double precision NOT NULL,
    durations         text             NOT NULL,
    PRIMARY KEY (day, workflow_name, status, event_type, error_category)
);

CREATE TABLE llm_callback_stats_rollup (
    id      integer     NOT NULL PRIMARY KEY CHECK (id = 1),
    through timestamptz NULL
);
INSERT INTO llm_callback_stats_rollup (id, through) VALUES (1, NULL);

CREATE TABLE llm_callback_stats_stale (
    hour timestamptz NOT NULL PRIMARY KEY
);

-- +goose Down
DROP TABLE llm_callback_stats_stale;
DROP TABLE llm_callback_stats_rollup;
DROP TABLE llm_callback_stats_days;
DROP TABLE llm_callback_stats_hour_totals;
DROP TABLE llm_callback_stats_hours;
