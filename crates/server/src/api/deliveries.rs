//! The receiver's side: inbox, download, 受信完了.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use kenshin_core::api::{DeliveryView, ErrorBody, Page, CONTENT_SHA256_HEADER};
use kenshin_core::{DeliveryId, DeliveryState};

use super::{parse_id, ApiPath, ApiQuery, ListQuery};
use crate::error::ApiError;
use crate::service::{deliveries, Caller};
use crate::state::AppState;
use kenshin_auth::{Action, Resource};

/// `GET /api/v1/deliveries`
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "deliveries", extensions(("x-access-action" = json!("delivery_list"))),
    params(("state" = Option<DeliveryState>, Query, description = "only deliveries in this state"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 100)"),
           ("offset" = Option<u64>, Query, maximum = 9223372036854775807u64, description = "deliveries to skip"),
           ("sha256" = Option<String>, Query, pattern = "^[0-9a-f]{64}$", description = "only files of this content: the lowercase hex SHA-256 of the file (to find a file sent before)")),
    responses((status = 200, body = Page<DeliveryView>),
              (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<DeliveryView>>, ApiError> {
    caller.require(Resource::Delivery, Action::Read)?;
    let filter = query.filter::<DeliveryState>()?;
    let (items, total) = deliveries::list(&state, &caller, &filter).await?;
    Ok(Json(Page {
        items,
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

/// `GET /api/v1/deliveries/{id}`
#[utoipa::path(get, path = "/api/v1/deliveries/{id}", tag = "deliveries", extensions(("x-access-action" = json!("delivery_view"))), params(("id" = String, Path)),
    responses((status = 200, body = DeliveryView), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    caller.require(Resource::Delivery, Action::Read)?;
    let id: DeliveryId = parse_id(&id)?;
    Ok(Json(deliveries::show(&state, &caller, id).await?))
}

/// `GET /api/v1/deliveries/{id}/content`: the plaintext, decrypted while it streams.
#[utoipa::path(get, path = "/api/v1/deliveries/{id}/content", tag = "deliveries", extensions(("x-access-action" = json!("delivery_download"))), params(("id" = String, Path)),
    responses((status = 200, description = "The file, decrypted while streaming", body = Vec<u8>, content_type = "application/octet-stream",
               headers(("x-content-sha256" = String, description = "lowercase hex SHA-256 of the content"),
                       ("repr-digest" = String, description = "RFC 9530: sha-256=:base64:"),
                       ("content-disposition" = String, description = "attachment with the file's name (RFC 6266/8187)"))),
              (status = 400, description = "The id is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody), (status = 410, description = "Confirmed, withdrawn or expired: destroyed", body = ErrorBody),
              (status = 500, description = "The stored content failed its integrity check (integrity_error); no bytes of it were sent", body = ErrorBody)))]
pub async fn content(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require(Resource::DeliveryContent, Action::Download)?;
    let id: DeliveryId = parse_id(&id)?;
    let (delivery, stream) = deliveries::download(&state, &caller, id).await?;
    let digest = hex::decode(&delivery.sha256).unwrap_or_default();
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(delivery.size));
    headers.insert(
        header::CONTENT_DISPOSITION,
        crate::request::content_disposition(&delivery.filename),
    );
    if let Ok(value) = HeaderValue::from_str(&delivery.sha256) {
        headers.insert(CONTENT_SHA256_HEADER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )) {
        // RFC 9530, for generic HTTP tooling.
        headers.insert("repr-digest", value);
    }
    Ok(response)
}

/// `POST /api/v1/deliveries/{id}/confirm`: 受信完了. The content is destroyed.
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/confirm", tag = "deliveries", extensions(("x-access-action" = json!("delivery_confirm"))), params(("id" = String, Path)),
    responses((status = 200, description = "受信完了: the content is destroyed", body = DeliveryView), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 409, description = "Not downloaded yet (not_downloaded); confirming again answers 200", body = ErrorBody),
              (status = 410, description = "Withdrawn or expired: nothing to confirm", body = ErrorBody)))]
pub async fn confirm(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    caller.require(Resource::Delivery, Action::Confirm)?;
    let id: DeliveryId = parse_id(&id)?;
    let view = deliveries::confirm(&state, &caller, id).await?;
    Ok(Json(view))
}
