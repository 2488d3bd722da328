-- The general background-job queue (conversion is one kind of job; notifications, sealing
-- and releasing held records are others). A job has a kind, a JSON payload, an optional
-- subject (at most one job of a kind per subject) and the organisation it acts for; it is
-- leased by a worker, retried no earlier than run_after, and dead-lettered ('dead') with its
-- reason in last_error when its attempts are spent. Replaces the conversion-only `jobs`
-- table, whose rows are carried over as jobs of kind 'convert'.
CREATE TABLE background_jobs (
    id            TEXT    PRIMARY KEY,
    kind          TEXT    NOT NULL,
    subject       TEXT,
    org_id        INTEGER REFERENCES orgs(id),
    payload       TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL CHECK (max_attempts > 0),
    run_after     INTEGER NOT NULL,
    lease_until   INTEGER,
    holder        TEXT,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX background_jobs_one_per_subject ON background_jobs (kind, subject)
    WHERE subject IS NOT NULL;
CREATE INDEX background_jobs_due ON background_jobs (state, run_after);

INSERT INTO background_jobs (id, kind, subject, org_id, payload, state, attempts, max_attempts,
                             run_after, lease_until, holder, last_error, created_at, updated_at)
SELECT 'convert-' || j.submission_id, 'convert', j.submission_id, s.sender_org_id,
       json_object('submission_id', j.submission_id),
       CASE j.state WHEN 'failed' THEN 'dead' ELSE j.state END,
       j.attempts, 3, j.created_at, j.lease_until, j.holder, j.last_error,
       j.created_at, j.updated_at
FROM jobs j JOIN submissions s ON s.id = j.submission_id;

DROP TABLE jobs;
