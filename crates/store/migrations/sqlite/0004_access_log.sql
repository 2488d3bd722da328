-- The access log (MHLW guideline 6.0): every request and background action — who, which
-- organisation, when (ms, UTC), from where, what, which objects, result, bytes. Append-only;
-- batches are digested into the ledger so that a removed or edited line is detected.
-- Paths are stored without their query strings (a file name there may contain a name).

CREATE TABLE access_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    org         TEXT,
    actor_kind  TEXT    NOT NULL CHECK (actor_kind IN ('user', 'certificate', 'system', 'anonymous')),
    actor       TEXT    NOT NULL,
    device      TEXT,
    session     TEXT,
    source      TEXT,
    action      TEXT    NOT NULL,
    method      TEXT,
    path        TEXT,
    objects     TEXT    NOT NULL DEFAULT '',
    outcome     TEXT    NOT NULL CHECK (outcome IN ('success', 'denied', 'not_found', 'failed')),
    status      INTEGER,
    bytes       INTEGER,
    detail      TEXT
) STRICT;
CREATE INDEX access_log_org_time ON access_log (org, at);

CREATE TRIGGER access_log_append_only_update BEFORE UPDATE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;
CREATE TRIGGER access_log_append_only_delete BEFORE DELETE ON access_log
BEGIN SELECT RAISE(ABORT, 'the access log is append-only'); END;

-- Ledger anchoring: an event of kind access_log_digest covers access_log rows
-- [digest_first, digest_last] with a hash chained from the previous digest.
ALTER TABLE events ADD COLUMN digest_first INTEGER;
ALTER TABLE events ADD COLUMN digest_last INTEGER;
ALTER TABLE events ADD COLUMN digest TEXT;
