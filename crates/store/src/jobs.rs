//! The background-job queue: a job has a kind, a JSON payload, an optional subject (the object
//! it is about: at most one job of a kind per subject) and the organisation it acts for. It is
//! enqueued inside the business transaction that makes it necessary, leased by a worker
//! (`FOR UPDATE SKIP LOCKED` on PostgreSQL), retried after a delay the worker chooses, and
//! dead-lettered with its reason when its attempts are spent. New kinds need no schema change.

use sqlx::AnyConnection;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

/// A job to enqueue.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    /// The object the job is about (e.g. a submission's id); a second job of the same kind
    /// for the same subject is not enqueued.
    pub subject: Option<String>,
    /// The organisation the job acts for (tenant scoping of the row); `None` for the system.
    pub org_id: Option<i64>,
    /// The job's arguments, JSON.
    pub payload: String,
    /// Attempts before the job is dead-lettered.
    pub max_attempts: u32,
}

/// A job a worker holds: run it, then complete, retry or bury it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub subject: Option<String>,
    pub org_id: Option<i64>,
    pub payload: String,
    /// This attempt's number, from 1. Above `max_attempts` when the job's workers died on
    /// every attempt: the job is to be buried, not run.
    pub attempt: u32,
    pub max_attempts: u32,
}

impl ClaimedJob {
    /// Whether the attempts are spent (workers died holding it): bury it without running.
    pub fn exhausted(&self) -> bool {
        self.attempt > self.max_attempts
    }
}

/// A job in the queue, as operators see it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct JobRecord {
    pub id: String,
    pub kind: String,
    pub subject: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl JobRecord {
    pub fn created(&self) -> OffsetDateTime {
        from_ms(self.created_at)
    }

    pub fn updated(&self) -> OffsetDateTime {
        from_ms(self.updated_at)
    }
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    id: String,
    kind: String,
    subject: Option<String>,
    org_id: Option<i64>,
    payload: String,
    attempts: i64,
    max_attempts: i64,
}

/// Enqueues `job` inside the caller's transaction; `false` when a job of its kind for its
/// subject exists already.
pub(crate) async fn enqueue_in_tx(
    conn: &mut AnyConnection,
    job: &NewJob,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    if let Some(subject) = &job.subject {
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM background_jobs WHERE kind = $1 AND subject = $2")
                .bind(&job.kind)
                .bind(subject)
                .fetch_optional(&mut *conn)
                .await?;
        if existing.is_some() {
            return Ok(false);
        }
    }
    sqlx::query(
        "INSERT INTO background_jobs (id, kind, subject, org_id, payload, state, attempts, \
         max_attempts, run_after, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $7, $7)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&job.kind)
    .bind(job.subject.as_deref())
    .bind(job.org_id)
    .bind(&job.payload)
    .bind(i64::from(job.max_attempts.max(1)))
    .bind(to_ms(now))
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Marks a job done inside the caller's transaction (its result was recorded there).
pub(crate) async fn complete_in_tx(
    conn: &mut AnyConnection,
    id: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE background_jobs SET state = 'done', lease_until = NULL, holder = NULL, \
         updated_at = $1 WHERE id = $2",
    )
    .bind(to_ms(now))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

impl Database {
    /// Enqueues a job on its own; `false` when a job of its kind for its subject exists.
    pub async fn enqueue_job(&self, job: &NewJob, now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.write_transaction().await?;
        let added = enqueue_in_tx(&mut tx, job, now).await?;
        tx.commit().await?;
        Ok(added)
    }

    /// Claims for `holder` the job of one of `kinds` that is due first: a queued one whose
    /// `run_after` has come, or a running one whose worker's lease ran out. The attempt is
    /// counted at once, so a job whose workers die on it is eventually handed out exhausted
    /// ([`ClaimedJob::exhausted`]) to be buried.
    pub async fn claim_job(
        &self,
        kinds: &[&str],
        now: OffsetDateTime,
        lease: time::Duration,
        holder: &str,
    ) -> Result<Option<ClaimedJob>, StoreError> {
        if kinds.is_empty() {
            return Ok(None);
        }
        // On PostgreSQL the candidate row is locked and rows other workers hold are skipped,
        // so a claim never waits on, or takes, a job another transaction is claiming.
        let lock = match self.backend() {
            crate::Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            crate::Backend::Sqlite => "",
        };
        let kind_list = (0..kinds.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE background_jobs SET state = 'running', lease_until = $1, \
             attempts = attempts + 1, holder = $3, updated_at = $2 \
             WHERE id = ( \
                 SELECT id FROM background_jobs \
                 WHERE kind IN ({kind_list}) AND ((state = 'queued' AND run_after <= $2) \
                    OR (state = 'running' AND lease_until < $2)) \
                 ORDER BY run_after, created_at, id LIMIT 1 {lock}) \
             RETURNING id, kind, subject, org_id, payload, attempts, max_attempts"
        );
        let mut query = sqlx::query_as::<_, ClaimedRow>(&sql)
            .bind(to_ms(now + lease))
            .bind(to_ms(now))
            .bind(holder);
        for kind in kinds {
            query = query.bind(*kind);
        }
        let mut tx = self.write_transaction().await?;
        let claimed = query.fetch_optional(&mut *tx).await?;
        tx.commit().await?;
        Ok(claimed.map(|row| ClaimedJob {
            id: row.id,
            kind: row.kind,
            subject: row.subject,
            org_id: row.org_id,
            payload: row.payload,
            attempt: row.attempts.max(0) as u32,
            max_attempts: row.max_attempts.max(0) as u32,
        }))
    }

    /// Extends a running job's lease while its worker is alive and still holds it (the same
    /// attempt). Returns false when the job was taken over or finished meanwhile.
    pub async fn renew_job_lease(
        &self,
        id: &str,
        attempt: u32,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let renewed = self
            .execute_write(
                sqlx::query(
                    "UPDATE background_jobs SET lease_until = $1, updated_at = $2 \
                     WHERE id = $3 AND state = 'running' AND attempts = $4",
                )
                .bind(to_ms(until))
                .bind(to_ms(now))
                .bind(id)
                .bind(i64::from(attempt)),
            )
            .await?
            .rows_affected();
        Ok(renewed == 1)
    }

    /// The attempt succeeded.
    pub async fn complete_job(
        &self,
        id: &str,
        attempt: u32,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE background_jobs SET state = 'done', lease_until = NULL, holder = NULL, \
                 updated_at = $1 WHERE id = $2 AND state = 'running' AND attempts = $3",
            )
            .bind(to_ms(now))
            .bind(id)
            .bind(i64::from(attempt)),
        )
        .await?;
        Ok(())
    }

    /// The attempt failed and the job is tried again no earlier than `run_after`.
    pub async fn retry_job(
        &self,
        id: &str,
        attempt: u32,
        error: &str,
        run_after: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE background_jobs SET state = 'queued', lease_until = NULL, holder = NULL, \
                 last_error = $1, run_after = $2, updated_at = $3 \
                 WHERE id = $4 AND state = 'running' AND attempts = $5",
            )
            .bind(error)
            .bind(to_ms(run_after))
            .bind(to_ms(now))
            .bind(id)
            .bind(i64::from(attempt)),
        )
        .await?;
        Ok(())
    }

    /// The job is given up: dead-lettered with `reason`, kept for operators to see.
    pub async fn bury_job(
        &self,
        id: &str,
        reason: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE background_jobs SET state = 'dead', lease_until = NULL, holder = NULL, \
                 last_error = $1, updated_at = $2 WHERE id = $3 AND state = 'running'",
            )
            .bind(reason)
            .bind(to_ms(now))
            .bind(id),
        )
        .await?;
        Ok(())
    }

    /// Hands a running job back to the queue (a worker stopping before it finished): the
    /// interrupted attempt does not count, and any worker may take it at once.
    pub async fn release_job(&self, id: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
        let released = self
            .execute_write(
                sqlx::query(
                    "UPDATE background_jobs SET state = 'queued', lease_until = NULL, holder = NULL, \
                     attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
                     run_after = $1, updated_at = $1 WHERE id = $2 AND state = 'running'",
                )
                .bind(to_ms(now))
                .bind(id),
            )
            .await?
            .rows_affected();
        Ok(released == 1)
    }

    /// Takes back at once the jobs `holder` was running when it died (a worker restarted
    /// after a crash, in the same slot): they are queued again without waiting for their
    /// leases. The interrupted attempt counts (a job that crashes its worker every time must
    /// not be retried for ever). Returns how many.
    pub async fn release_jobs_held_by(
        &self,
        holder: &str,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        Ok(self
            .execute_write(
                sqlx::query(
                    "UPDATE background_jobs SET state = 'queued', lease_until = NULL, holder = NULL, \
                     run_after = $1, updated_at = $1 WHERE state = 'running' AND holder = $2",
                )
                .bind(to_ms(now))
                .bind(holder),
            )
            .await?
            .rows_affected())
    }

    /// Jobs of `kinds` queued or running.
    pub async fn queue_depth(&self, kinds: &[&str]) -> Result<u64, StoreError> {
        if kinds.is_empty() {
            return Ok(0);
        }
        let list = (0..kinds.len())
            .map(|i| format!("${}", i + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT COUNT(*) FROM background_jobs WHERE state IN ('queued', 'running') \
             AND kind IN ({list})"
        );
        let mut query = sqlx::query_scalar::<_, i64>(&sql);
        for kind in kinds {
            query = query.bind(*kind);
        }
        let mut rx = self.read_transaction(Scope::System).await?;
        let n = query.fetch_one(&mut *rx).await?;
        Ok(n.max(0) as u64)
    }

    /// Jobs given up (dead letters).
    pub async fn dead_job_count(&self) -> Result<u64, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM background_jobs WHERE state = 'dead'")
                .fetch_one(&mut *rx)
                .await?;
        Ok(n.max(0) as u64)
    }

    /// The queue as operators see it: jobs not done (queued, running, dead), oldest first.
    pub async fn open_jobs(&self, limit: u32) -> Result<Vec<JobRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        Ok(sqlx::query_as::<_, JobRecord>(
            "SELECT id, kind, subject, state, attempts, max_attempts, last_error, created_at, \
             updated_at FROM background_jobs WHERE state <> 'done' \
             ORDER BY created_at, id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *rx)
        .await?)
    }

    /// When the job of `kind` for `subject` next runs, if it is queued (for tests and
    /// operators).
    pub async fn job_run_after(
        &self,
        kind: &str,
        subject: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT run_after FROM background_jobs WHERE kind = $1 AND subject = $2 AND state = 'queued'",
        )
        .bind(kind)
        .bind(subject)
        .fetch_optional(&mut *rx)
        .await?;
        Ok(opt_from_ms(at))
    }
}
