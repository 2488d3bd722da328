//! Background jobs: what the worker runs, one kind per file (`convert`: a submission's
//! conversion). A kind is a type that implements [`BackgroundJob`] — its stable kind name, its
//! payload (the type itself, as JSON), how often it may be tried, what one attempt does and
//! what giving up does — plus one line in [`FILE_KINDS`] or [`NOTICE_KINDS`] and [`run`]. Jobs are enqueued inside the
//! business transaction that needs them ([`new_job`] gives the store its row), retried with
//! [`backoff`], and dead-lettered with their reason once their attempts are spent; the queue
//! itself is the store's (`background_jobs`).

pub mod convert;
pub mod notify;
pub mod release;

use std::future::Future;

use kenshin_store::{ClaimedJob, NewJob, StoreError};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::Duration;

use crate::state::AppState;

/// The kinds this worker runs: files (conversions, releases) in one lane, notices in another.
pub const FILE_KINDS: &[&str] = &[convert::ConvertSubmission::KIND, release::ReleaseHeld::KIND];
pub const NOTICE_KINDS: &[&str] = &[notify::Notify::KIND, notify::SendNotification::KIND];

/// One kind of background job. The value is the job's payload.
pub trait BackgroundJob: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Stored with the job; never change it once jobs of the kind exist.
    const KIND: &'static str;
    /// Attempts before the job is dead-lettered.
    const MAX_ATTEMPTS: u32 = 5;

    /// What the job is about: at most one job of a kind per subject is queued.
    fn subject(&self) -> Option<String> {
        None
    }

    /// One attempt. A job that records its own end in its business transaction (as the
    /// conversion does) leaves nothing for the queue to do; otherwise `Ok` marks it done.
    fn run(
        self,
        state: &AppState,
        job: &ClaimedJob,
    ) -> impl Future<Output = Result<(), JobError>> + Send;

    /// What happens when the job is given up, beyond its dead letter.
    fn give_up(self, state: &AppState, reason: &str) -> impl Future<Output = ()> + Send {
        let _ = (state, reason);
        async {}
    }
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Worth another attempt (storage, database, a service not reachable).
    #[error("{0:#}")]
    Retry(anyhow::Error),
    /// Will fail the same way every time: dead-lettered at once.
    #[error("{0}")]
    Fatal(String),
}

macro_rules! retried {
    ($($error:ty),*) => {$(
        impl From<$error> for JobError {
            fn from(err: $error) -> JobError {
                JobError::Retry(err.into())
            }
        }
    )*};
}

retried!(
    anyhow::Error,
    StoreError,
    crate::vault::VaultError,
    serde_json::Error,
    tokio::task::JoinError
);

/// The store's row for `job`, acting for organisation `org_id`.
pub fn new_job<J: BackgroundJob>(job: &J, org_id: Option<i64>) -> NewJob {
    NewJob {
        kind: J::KIND.to_owned(),
        subject: job.subject(),
        org_id,
        payload: serde_json::to_string(job).unwrap_or_else(|_| "null".into()),
        max_attempts: J::MAX_ATTEMPTS,
    }
}

/// Enqueues `job` on its own (not inside another transaction) and wakes the worker.
pub async fn enqueue<J: BackgroundJob>(
    state: &AppState,
    job: &J,
    org_id: Option<i64>,
) -> Result<bool, StoreError> {
    let added = state
        .db
        .enqueue_job(&new_job(job, org_id), state.now())
        .await?;
    state.jobs.notify_one();
    Ok(added)
}

/// How long after its `attempt`-th failure a job waits: 10 s, doubling, at most 15 minutes.
pub fn backoff(attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(10);
    Duration::seconds(10 * (1_i64 << doublings)).min(Duration::minutes(15))
}

/// Runs one claimed job of any kind to its end: done, retried later, or dead-lettered.
pub async fn run(state: &AppState, job: ClaimedJob) -> Result<(), StoreError> {
    match job.kind.as_str() {
        convert::ConvertSubmission::KIND => perform::<convert::ConvertSubmission>(state, job).await,
        release::ReleaseHeld::KIND => perform::<release::ReleaseHeld>(state, job).await,
        notify::Notify::KIND => perform::<notify::Notify>(state, job).await,
        notify::SendNotification::KIND => perform::<notify::SendNotification>(state, job).await,
        other => {
            let reason = format!("no worker runs jobs of kind {other:?}");
            tracing::error!(job = %job.id, %reason, "job dead-lettered");
            state.db.bury_job(&job.id, &reason, state.now()).await
        }
    }
}

async fn perform<J: BackgroundJob>(
    state: &AppState,
    claimed: ClaimedJob,
) -> Result<(), StoreError> {
    let job: J = match serde_json::from_str(&claimed.payload) {
        Ok(job) => job,
        Err(err) => {
            let reason = format!("the payload is not a {} job: {err}", J::KIND);
            tracing::error!(job = %claimed.id, %reason, "job dead-lettered");
            return state.db.bury_job(&claimed.id, &reason, state.now()).await;
        }
    };
    if claimed.exhausted() {
        let reason = format!(
            "its worker stopped during each of its {} attempts",
            claimed.max_attempts
        );
        return give_up(state, job, &claimed, &reason).await;
    }
    let renewal = keep_lease(state, &claimed);
    let outcome = job.clone().run(state, &claimed).await;
    renewal.abort();
    match outcome {
        Ok(()) => {
            state
                .db
                .complete_job(&claimed.id, claimed.attempt, state.now())
                .await
        }
        Err(JobError::Fatal(reason)) => give_up(state, job, &claimed, &reason).await,
        Err(JobError::Retry(err)) => {
            let error = format!("{err:#}");
            if claimed.attempt >= claimed.max_attempts {
                return give_up(state, job, &claimed, &error).await;
            }
            let run_after = state.now() + backoff(claimed.attempt);
            tracing::warn!(job = %claimed.id, kind = J::KIND, attempt = claimed.attempt, %error, %run_after, "job attempt failed; it will be retried");
            state
                .db
                .retry_job(&claimed.id, claimed.attempt, &error, run_after, state.now())
                .await
        }
    }
}

async fn give_up<J: BackgroundJob>(
    state: &AppState,
    job: J,
    claimed: &ClaimedJob,
    reason: &str,
) -> Result<(), StoreError> {
    tracing::error!(job = %claimed.id, kind = J::KIND, attempts = claimed.attempt, %reason, "job given up and dead-lettered");
    job.give_up(state, reason).await;
    state.db.bury_job(&claimed.id, reason, state.now()).await
}

/// How long a worker may hold a job without renewing it before another may take it.
pub fn lease_of(state: &AppState) -> Duration {
    Duration::seconds(i64::from(state.config.job_lease_seconds))
}

/// Renews the job's lease at a third of its length while the attempt runs, so a long job
/// keeps its lease and only a dead worker's job is taken over.
fn keep_lease(state: &AppState, job: &ClaimedJob) -> tokio::task::JoinHandle<()> {
    let db = state.db.clone();
    let clock = state.clock.clone();
    let lease = lease_of(state);
    let (id, attempt) = (job.id.clone(), job.attempt);
    tokio::spawn(async move {
        let period = (lease / 3_i32).unsigned_abs();
        loop {
            tokio::time::sleep(period).await;
            let now = clock.now();
            match db.renew_job_lease(&id, attempt, now + lease, now).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(job = %id, error = %err, "could not renew the job's lease")
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_fifteen_minutes() {
        assert_eq!(backoff(1), Duration::seconds(10));
        assert_eq!(backoff(2), Duration::seconds(20));
        assert_eq!(backoff(4), Duration::seconds(80));
        assert_eq!(backoff(7), Duration::seconds(640));
        assert_eq!(backoff(8), Duration::minutes(15));
        assert_eq!(backoff(u32::MAX), Duration::minutes(15));
    }
}
