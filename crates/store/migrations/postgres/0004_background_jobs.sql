-- The general background-job queue (conversion is one kind of job; notifications, sealing
-- and releasing held records are others). A job has a kind, a JSON payload, an optional
-- subject (at most one job of a kind per subject) and the organisation it acts for; it is
-- leased by a worker (FOR UPDATE SKIP LOCKED), retried no earlier than run_after, and
-- dead-lettered ('dead') with its reason in last_error when its attempts are spent. Replaces
-- the conversion-only `jobs` table, whose rows are carried over as jobs of kind 'convert'.
CREATE TABLE background_jobs (
    id            TEXT   PRIMARY KEY,
    kind          TEXT   NOT NULL,
    subject       TEXT,
    org_id        BIGINT REFERENCES orgs(id),
    payload       TEXT   NOT NULL,
    state         TEXT   NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL CHECK (max_attempts > 0),
    run_after     BIGINT NOT NULL,
    lease_until   BIGINT,
    holder        TEXT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX background_jobs_one_per_subject ON background_jobs (kind, subject)
    WHERE subject IS NOT NULL;
CREATE INDEX background_jobs_due ON background_jobs (state, run_after);

INSERT INTO background_jobs (id, kind, subject, org_id, payload, state, attempts, max_attempts,
                             run_after, lease_until, holder, last_error, created_at, updated_at)
SELECT 'convert-' || j.submission_id, 'convert', j.submission_id, s.sender_org_id,
       json_build_object('submission_id', j.submission_id)::text,
       CASE j.state WHEN 'failed' THEN 'dead' ELSE j.state END,
       j.attempts, 3, j.created_at, j.lease_until, j.holder, j.last_error,
       j.created_at, j.updated_at
FROM jobs j JOIN submissions s ON s.id = j.submission_id;

DROP TABLE jobs;

-- An organisation's connection sees the jobs that act for it; the system sees all.
ALTER TABLE background_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON background_jobs TO kenshin_app
    USING (kenshin_is_system() OR org_id = kenshin_org_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON background_jobs TO kenshin_app;
