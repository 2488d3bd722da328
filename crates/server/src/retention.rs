//! The retention task: deliveries not confirmed within the retention period are destroyed,
//! held records a route now takes are released (and those never taken expire),
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
            match relay::expire_due(&state, state.now()).await {
                Ok(0) => {}
                Ok(expired) => {
                    tracing::info!(expired, "expired unconfirmed deliveries");
                    state
                        .access
                        .system(
                            "system:retention",
                            "retention_expire",
                            Vec::new(),
                            "success",
                        )
                        .await;
                }
                Err(err) => tracing::warn!(error = %err, "retention sweep failed; will retry"),
            }
            match relay::release_held(&state, state.now()).await {
                Ok(0) => {}
                Ok(released) => {
                    state
                        .access
                        .system("system:release", "held_release", Vec::new(), "success")
                        .await;
                    tracing::info!(released, "held records released to their receivers");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "releasing held records failed; will retry")
                }
            }
            match relay::expire_held_due(&state, state.now()).await {
                Ok(0) => {}
                Ok(expired) => {
                    tracing::info!(expired, "expired held records");
                    state
                        .access
                        .system(
                            "system:retention",
                            "retention_expire",
                            Vec::new(),
                            "success",
                        )
                        .await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "expiring held records failed; will retry")
                }
            }
            match relay::expire_reports_due(&state, state.now()).await {
                Ok(0) => {}
                Ok(files) => tracing::info!(files, "conversion reports past retention destroyed"),
                Err(err) => tracing::warn!(error = %err, "expiring reports failed; will retry"),
            }
            if let Err(err) = expire_access_log(&state, state.now()).await {
                tracing::error!(error = %err, "access-log retention refused");
            }
        }
    })
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
