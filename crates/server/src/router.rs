//! The composition of the HTTP front ends: the API's routes and the pages in one router,
//! the security headers every answer carries, the per-route body limits ([`bodies`]) and the
//! access log around them all. Nothing in the crate but the composition root imports it.

pub mod bodies;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// Every route the service answers, with its layers.
pub fn router(state: AppState) -> Router {
    let (api, _) = crate::api::routes().split_for_parts();
    let pages = crate::web::routes();
    let actions = crate::access::Actions::new(
        crate::api::openapi::access_actions()
            .into_iter()
            .chain(pages.actions),
    );
    api.merge(pages.router)
        .fallback(not_found)
        .method_not_allowed_fallback(crate::api::method_not_allowed)
        // Limits are per route, enforced by `bodies::limit` while the body is read (uploads
        // are streamed and limited by max_upload_bytes, never buffered).
        .layer(DefaultBodyLimit::disable())
        .layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(crate::web::CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        // Every body is limited before anything reads it (`bodies`), inside the access log so
        // a refused body is logged like any answer.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            bodies::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            crate::access::Recorder {
                log: state.access.clone(),
                metrics: state.metrics.clone(),
                actions: std::sync::Arc::new(actions),
            },
            crate::access::record,
        ))
        .with_state(state)
}

/// Outside the API a person gets the not-found page; programs get JSON.
async fn not_found(
    state: axum::extract::State<AppState>,
    lang: crate::request::PageLang,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    if path.starts_with("/api/") || path.starts_with("/auth/") || path.starts_with("/ledger/") {
        crate::api::no_such_endpoint().await.into_response()
    } else {
        crate::web::not_found(state, lang).await
    }
}
