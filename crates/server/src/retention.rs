//! The retention task: deliveries not confirmed within the retention period are destroyed,
//! held records a route now takes are released (and those never taken expire), receivers are
//! reminded before unconfirmed deliveries are destroyed and certificates' holders before they expire,
//! and access-log rows older than the access-log retention period are removed (recorded in
//! the ledger).

use std::time::Duration;

use time::OffsetDateTime;

use crate::service::relay;
use crate::state::AppState;

/// Runs one retention sweep every `every` until the task is aborted.
pub fn spawn(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = state.now();
            let expired = relay::expire_due(&state, now).await;
            record(
                &state,
                expired,
                "retention_expire",
                "expired unconfirmed deliveries",
            )
            .await;
            let released = relay::release_held(&state, now).await;
            record(
                &state,
                released,
                "held_release",
                "held records released to their receivers",
            )
            .await;
            let held = relay::expire_held_due(&state, now).await;
            record(&state, held, "retention_expire", "expired held records").await;
            // Queuing a notice touches no data: the sends are in the access log, not this.
            match crate::service::notifications::remind_due(&state, now).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "reminders and certificate warnings queued"),
                Err(err) => tracing::warn!(error = %err, "reminders not queued; will retry"),
            }
            // Who was told what is kept as long as the access log that records the sends.
            let kept = time::Duration::days(i64::from(state.config.access_log_retention_days));
            match state.db.expire_notifications(now - kept).await {
                Ok(0) => {}
                Ok(count) => tracing::info!(count, "notifications past retention removed"),
                Err(err) => {
                    tracing::warn!(error = %err, "notifications past retention not removed; will retry")
                }
            }
            let reports = relay::expire_reports_due(&state, now).await;
            record(
                &state,
                reports,
                "retention_expire",
                "conversion reports past retention destroyed",
            )
            .await;
            if let Err(err) = expire_access_log(&state, state.now()).await {
                tracing::error!(error = %err, "access-log retention refused");
            }
        }
    })
}

/// One step of the sweep: what it did goes to the log, and to the access log when it did
/// anything; a failure is retried at the next sweep.
async fn record(
    state: &AppState,
    outcome: Result<usize, crate::service::Error>,
    action: &str,
    what: &str,
) {
    match outcome {
        Ok(0) => {}
        Ok(count) => {
            tracing::info!(count, "{what}");
            state
                .access
                .system("system:retention", action, Vec::new(), "success")
                .await;
        }
        Err(err) => tracing::warn!(error = %err, "{what}: failed; will retry"),
    }
}

/// Removes the access-log rows older than `access_log_retention_days` before `now` (as far
/// as whole ledger-anchored batches reach) and records the step in the access log itself.
/// Returns the number of rows removed.
pub async fn expire_access_log(
    state: &AppState,
    now: OffsetDateTime,
) -> Result<u64, crate::ledger::LedgerError> {
    let cutoff = now - time::Duration::days(i64::from(state.config.access_log_retention_days));
    let outcome = state.ledger.expire_access_log(cutoff).await;
    match &outcome {
        Ok(None) => return Ok(0),
        Ok(Some((plan, removed))) => {
            tracing::info!(
                removed,
                through = plan.through,
                "access-log rows past retention removed"
            );
        }
        Err(_) => {}
    }
    let (objects, result) = match &outcome {
        Ok(Some((plan, _))) => (
            vec![format!("access-log:{}-{}", plan.after + 1, plan.through)],
            "success",
        ),
        _ => (Vec::new(), "failed"),
    };
    state
        .access
        .system("system:retention", "access_log_expire", objects, result)
        .await;
    outcome.map(|expired| expired.map_or(0, |(_, removed)| removed))
}
