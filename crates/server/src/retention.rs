//! The retention task: deliveries not confirmed within the retention period are destroyed.

use std::time::Duration;

use time::OffsetDateTime;

use crate::relay;
use crate::AppState;

/// Runs [`relay::expire_due`] every `every` until the task is aborted.
pub fn spawn(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match relay::expire_due(&state, OffsetDateTime::now_utc()).await {
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
        }
    })
}
