-- Browser sign-in: server-side sessions and the OIDC logins in
-- progress, in the database so that every replica sees them and they
-- survive a restart. Both tables are keyed by the SHA-256 (hex) of a random
-- id that only the browser holds, in a cookie: a copy of this table opens
-- no session.

-- +goose Up
CREATE TABLE admin_sessions (
    id_hash       text        NOT NULL,
    admin_user_id uuid        NOT NULL,
    admin_name    text        NOT NULL,
    source        text        NOT NULL,
    subject       text        NOT NULL,
    created_at    datetime    NOT NULL,
    last_seen_at  datetime    NOT NULL,
    expires_at    datetime    NOT NULL,
    PRIMARY KEY (id_hash)
);
CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at);

CREATE TABLE login_flows (
    id_hash       text        NOT NULL,
    state         text        NOT NULL,
    nonce         text        NOT NULL,
    code_verifier text        NOT NULL,
    created_at    datetime    NOT NULL,
    expires_at    datetime    NOT NULL,
    PRIMARY KEY (id_hash)
);
CREATE INDEX login_flows_expires_at ON login_flows (expires_at);

-- +goose Down
DROP TABLE login_flows;
DROP TABLE admin_sessions;
