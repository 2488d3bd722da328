use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_core::api::{ComponentHealth, Health, StorageHealth};

use crate::state::AppState;

/// `GET /health`: no authentication, no organisation data.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "ok or degraded", body = Health), (status = 503, description = "Database or storage unusable", body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (status, health) = report(&state).await;
    (status, Json(health))
}

/// The service's health: database, storage, clock synchronisation, security alerts.
pub(crate) async fn report(state: &AppState) -> (StatusCode, Health) {
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
    let (status, code) = if !database.ok || !storage.ok {
        ("error", StatusCode::SERVICE_UNAVAILABLE)
    } else if !clock.synchronized || !alerts.is_empty() {
        ("degraded", StatusCode::OK)
    } else {
        ("ok", StatusCode::OK)
    };
    (
        code,
        Health {
            status: status.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            database,
            storage,
            clock,
            alerts,
        },
    )
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let text = state.metrics.render(&state.db, state.vault.blobs()).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
