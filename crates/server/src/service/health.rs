//! The service's health as operators see it: database, storage, clock synchronisation and
//! security alerts. No organisation data.

use kenshin_core::api::{ComponentHealth, Health, StorageHealth};

use crate::state::AppState;

/// The status of a service whose database or storage cannot be used.
pub const UNUSABLE: &str = "error";

/// The service's health: database, storage, clock synchronisation, security alerts.
pub async fn report(state: &AppState) -> Health {
    let database = match state.db.ping().await {
        Ok(()) => ComponentHealth {
            ok: true,
            message: None,
        },
        Err(err) => ComponentHealth {
            ok: false,
            message: Some(err.to_string()),
        },
    };
    let blobs = state.vault.blobs().clone();
    let storage = match tokio::task::spawn_blocking(move || blobs.free_bytes()).await {
        Ok(Ok(Some(free))) => StorageHealth {
            ok: free > 0,
            free_bytes: Some(free),
            message: (free == 0).then(|| "storage is full".to_owned()),
        },
        // An S3 bucket has no free space to run out of; its failures show on use.
        Ok(Ok(None)) => StorageHealth {
            ok: true,
            free_bytes: None,
            message: None,
        },
        Ok(Err(err)) => StorageHealth {
            ok: false,
            free_bytes: None,
            message: Some(err.to_string()),
        },
        Err(err) => StorageHealth {
            ok: false,
            free_bytes: None,
            message: Some(err.to_string()),
        },
    };
    let clock = crate::clock::status();
    let alerts = crate::access::current_alerts(&state.db, &state.alerts).await;
    let status = if !database.ok || !storage.ok {
        UNUSABLE
    } else if !clock.synchronized || !alerts.is_empty() {
        "degraded"
    } else {
        "ok"
    };
    Health {
        status: status.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        database,
        storage,
        clock,
        alerts,
    }
}

/// The Prometheus metrics (OpenMetrics text): counters of this node, and gauges read now from
/// the database and the blob store.
pub async fn metrics(state: &AppState) -> String {
    let lanes = [crate::jobs::FILE_KINDS, crate::jobs::NOTICE_KINDS];
    state
        .metrics
        .render(&state.db, state.vault.blobs(), lanes)
        .await
}
