-- People: one account per person (MHLW guideline 6.0), in one organisation, with a role; a
-- TOTP second factor (its secret wrapped by the KEK); login throttling state; server-side
-- sessions whose tokens are stored only as SHA-256.

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    org_id                INTEGER NOT NULL REFERENCES orgs(id),
    login                 TEXT    NOT NULL UNIQUE,
    display_name          TEXT    NOT NULL,
    role                  TEXT    NOT NULL CHECK (role IN ('admin', 'sender', 'receiver', 'viewer', 'ops_admin', 'auditor')),
    password_hash         TEXT    NOT NULL,
    must_change_password  INTEGER NOT NULL DEFAULT 1,
    totp_secret           BLOB,
    totp_last_step        INTEGER,
    recovery_codes        TEXT,
    throttle              TEXT,
    valid_from            INTEGER,
    valid_until           INTEGER,
    disabled_at           INTEGER,
    created_at            INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    token_hash  TEXT    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    created_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    revoked_at  INTEGER,
    source      TEXT
) STRICT;
CREATE INDEX sessions_user ON sessions (user_id);

-- Alerts and exports search the access log by time.
CREATE INDEX access_log_time ON access_log (at);
