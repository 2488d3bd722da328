use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_core::api::Health;

use crate::state::AppState;

/// `GET /health`: no authentication, no organisation data.
#[utoipa::path(get, path = "/health", tag = "operations", extensions(("x-access-action" = json!("health"))),
    responses((status = 200, description = "ok or degraded", body = Health), (status = 503, description = "Database or storage unusable", body = Health)))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let health = crate::service::health::report(&state).await;
    let status = if health.status == crate::service::health::UNUSABLE {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(health))
}

/// `GET /metrics`
#[utoipa::path(get, path = "/metrics", tag = "operations", extensions(("x-access-action" = json!("metrics"))),
    responses((status = 200, description = "Prometheus metrics (OpenMetrics text)", body = String, content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
pub async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let text = crate::service::health::metrics(&state).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}
