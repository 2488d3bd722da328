-- Conversion: routes that convert, institutions' map files, the job queue, conversion
-- reports and the per-receiver usage counts used for billing.

-- SQLite cannot change a CHECK constraint in place: rebuild routes with the new mode.
CREATE TABLE routes_v2 (
    id               INTEGER PRIMARY KEY,
    sender_org_id    INTEGER NOT NULL REFERENCES orgs(id),
    receiver_org_id  INTEGER NOT NULL REFERENCES orgs(id),
    mode             TEXT    NOT NULL CHECK (mode IN ('pass-through', 'convert')),
    created_at       INTEGER NOT NULL,
    UNIQUE (sender_org_id, receiver_org_id),
    CHECK (sender_org_id <> receiver_org_id)
) STRICT;
INSERT INTO routes_v2 (id, sender_org_id, receiver_org_id, mode, created_at)
    SELECT id, sender_org_id, receiver_org_id, mode, created_at FROM routes;
DROP TABLE routes;
ALTER TABLE routes_v2 RENAME TO routes;

-- A child institution (子機関) uses its parent's (親機関) map when it has none of its own.
ALTER TABLE orgs ADD COLUMN parent_org_id INTEGER REFERENCES orgs(id);

-- An insurer that delegated receiving to an agent (代行機関): its records go to the agent.
CREATE TABLE delegations (
    insurer_org_id  INTEGER PRIMARY KEY REFERENCES orgs(id),
    agent_org_id    INTEGER NOT NULL REFERENCES orgs(id),
    created_at      INTEGER NOT NULL
) STRICT;

-- Map files (変換テーブル). A version is immutable: content is never updated, and once a
-- version has been active it stays in the table for the record of how outputs were made.
CREATE TABLE maps (
    id            INTEGER PRIMARY KEY,
    org_id        INTEGER NOT NULL REFERENCES orgs(id),
    map_id        TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    content       BLOB    NOT NULL,
    sha256        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    activated_at  INTEGER,
    retired_at    INTEGER,
    UNIQUE (org_id, map_id, version)
) STRICT;
CREATE UNIQUE INDEX maps_one_active_per_org ON maps (org_id)
    WHERE activated_at IS NOT NULL AND retired_at IS NULL;
CREATE TRIGGER maps_content_is_immutable BEFORE UPDATE OF content, sha256, map_id, version, org_id ON maps
BEGIN
    SELECT RAISE(ABORT, 'map versions are immutable');
END;

-- The conversion queue. A worker claims a job by setting a lease; a job whose lease ran out
-- (its worker died) is claimed again.
CREATE TABLE jobs (
    submission_id  TEXT    PRIMARY KEY REFERENCES submissions(id),
    state          TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    lease_until    INTEGER,
    last_error     TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_claimable ON jobs (state, lease_until);

-- What a conversion did, for the sender: counts here, the full report encrypted as an object.
ALTER TABLE submissions ADD COLUMN map_label TEXT;
ALTER TABLE submissions ADD COLUMN profile_label TEXT;
ALTER TABLE submissions ADD COLUMN converter TEXT;
ALTER TABLE submissions ADD COLUMN records_in INTEGER;
ALTER TABLE submissions ADD COLUMN records_out INTEGER;
ALTER TABLE submissions ADD COLUMN records_rejected INTEGER;
ALTER TABLE submissions ADD COLUMN records_unrouted INTEGER;
ALTER TABLE submissions ADD COLUMN report_object_id TEXT REFERENCES objects(id);
ALTER TABLE deliveries ADD COLUMN records INTEGER;

-- Converted records per receiver per month (YYYY-MM, UTC), for usage billing.
CREATE TABLE usage (
    receiver_org_id  INTEGER NOT NULL REFERENCES orgs(id),
    month            TEXT    NOT NULL,
    records          INTEGER NOT NULL,
    PRIMARY KEY (receiver_org_id, month)
) STRICT;

-- Record counts on conversion events (no personal data: numbers only).
ALTER TABLE events ADD COLUMN records_in INTEGER;
ALTER TABLE events ADD COLUMN records_out INTEGER;
ALTER TABLE events ADD COLUMN records_rejected INTEGER;
ALTER TABLE events ADD COLUMN records_unrouted INTEGER;
