-- Alerting's evaluation state (package internal/alert/queue). The alert
-- evaluator reads the change feed after alert_cursor.seq, decides, and in
-- ONE transaction updates the per-rule state, enqueues the alert deliveries
-- (River's jobs) and moves the cursor: a crash before COMMIT decides
-- nothing, and the cursor moves by compare-and-swap (seq and claimed_at as
-- read), so of two replicas' passes over the same changes one commits and
-- each alert is decided once. Times are Unix microseconds: both dialects
-- compare them as integers.

-- +goose Up
CREATE TABLE alert_cursor (
    id         integer NOT NULL PRIMARY KEY CHECK (id = 1),
    seq        integer  NULL,     -- NULL: not started; the first pass starts at the feed's end
    claimed_at integer  NOT NULL
);
INSERT INTO alert_cursor (id, seq, claimed_at) VALUES (1, NULL, 0);

CREATE TABLE alert_state (
    rule      text   NOT NULL,
    group_key text   NOT NULL,
    state     text   NOT NULL,   -- rules.State as JSON
    due_at    integer NULL,       -- when it needs a pass without new callbacks
    PRIMARY KEY (rule, group_key)
);
CREATE INDEX alert_state_due_at ON alert_state (due_at) WHERE due_at IS NOT NULL;

-- Callbacks the rules counted: a redelivery of one is not counted again.
-- Since 2 December 2026 the evaluator writes one row per callback for all
-- rules at once, with rule '' (queue.seenRule); rows of earlier versions
-- name their rule, and both are read.
CREATE TABLE alert_seen (
    rule        text   NOT NULL,
    callback_id text   NOT NULL,
    seen_at     integer NOT NULL,
    PRIMARY KEY (rule, callback_id)
);
CREATE INDEX alert_seen_seen_at ON alert_seen (seen_at);

-- +goose Down
DROP TABLE alert_seen;
DROP TABLE alert_state;
DROP TABLE alert_cursor;
