//! The JSON API: `/api/v1` (a client certificate or a person's session), `/auth` (people's
//! sessions), `/health`, `/metrics`. Handlers are thin: extract, call the use case in
//! `service`, answer.

pub mod audit;
mod deliveries;
pub(crate) mod health;
mod ledger;
pub(crate) mod maps;
pub mod notifications;
pub mod openapi;
pub mod people;
mod receiving;
pub(crate) mod submissions;
pub(crate) mod users;

use axum::http::StatusCode;
use kenshin_core::api::ErrorCode;
use serde::Deserialize;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::AppState;

/// The API's route table: one line per path, naming its handlers. A handler's path, method,
/// OpenAPI entry and access-log action (`x-access-action`) all come from its
/// `#[utoipa::path]`, so an endpoint is its handler plus its line here. The composition root
/// (`router`) adds the pages and the layers.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(submissions::create, submissions::list))
        .routes(routes!(submissions::show, submissions::withdraw))
        .routes(routes!(submissions::report))
        .routes(routes!(submissions::held))
        .routes(limited(
            routes!(maps::upload, maps::list),
            crate::service::maps::MAX_MAP_BYTES,
        ))
        .routes(routes!(maps::activate))
        .routes(routes!(deliveries::list))
        .routes(routes!(deliveries::show))
        .routes(routes!(deliveries::content))
        .routes(routes!(deliveries::confirm))
        .routes(routes!(deliveries::archive))
        .routes(routes!(deliveries::confirm_all))
        .routes(routes!(receiving::show))
        .routes(routes!(receiving::set_formats))
        .routes(routes!(receiving::add_recipient))
        .routes(routes!(receiving::remove_recipient))
        .routes(routes!(
            notifications::my_settings,
            notifications::set_my_settings
        ))
        .routes(routes!(
            notifications::endpoints,
            notifications::add_endpoint
        ))
        .routes(routes!(notifications::remove_endpoint))
        .routes(routes!(notifications::test_endpoint))
        .routes(routes!(notifications::recent))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::disable))
        .routes(routes!(users::enable))
        .routes(routes!(users::reset_totp))
        .routes(routes!(users::reset_password))
        .routes(routes!(audit::access))
        .routes(routes!(ledger::entries))
        .routes(routes!(ledger::entry))
        .routes(routes!(ledger::inclusion))
        .routes(routes!(ledger::consistency))
        .routes(routes!(ledger::checkpoint))
        .routes(routes!(ledger::key))
        .routes(routes!(openapi::document))
        .routes(routes!(people::login))
        .routes(routes!(people::logout))
        .routes(routes!(people::whoami))
        .routes(routes!(people::totp_enroll))
        .routes(routes!(people::totp_confirm))
        .routes(routes!(people::change_password))
        .routes(routes!(health::health))
        .routes(routes!(health::metrics))
}

/// A path's handlers with a body limit of their own (read by `ApiBytes`).
fn limited(routes: UtoipaMethodRouter<AppState>, limit: usize) -> UtoipaMethodRouter<AppState> {
    let (schemas, paths, router) = routes;
    (
        schemas,
        paths,
        router.layer(axum::extract::DefaultBodyLimit::max(limit)),
    )
}

pub async fn no_such_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint",
    )
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::InvalidRequest,
        "this endpoint does not accept that method",
    )
}

/// A query string decoded into `T`, answering malformed ones with the API's JSON error
/// (axum's own rejection is plain text).
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection| {
                ApiError::invalid(format!("query string: {}", rejection.body_text()))
            })
    }
}

/// Path parameters decoded into `T`, answering undecodable ones (not UTF-8 once
/// percent-decoded, not a number where one is expected) with the API's JSON error: 400.
pub struct ApiPath<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        use axum::extract::rejection::PathRejection;
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| ApiPath(value))
            .map_err(|rejection| match rejection {
                PathRejection::FailedToDeserializePathParams(error) => {
                    ApiError::invalid(format!("path: {}", error.body_text()))
                }
                other => {
                    tracing::error!(error = %other.body_text(), "path parameters not routed");
                    ApiError::internal()
                }
            })
    }
}

/// A JSON request body decoded into `T`, answered with the API's JSON error when it is not
/// one: a missing or other content type is 415, a body that is not JSON or not of the
/// documented shape is 400 (axum's own rejections are plain text, and 422 for the latter).
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::JsonRejection;
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| ApiJson(value))
            .map_err(|rejection| match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::InvalidRequest,
                    "the body must be JSON, sent with content-type: application/json",
                ),
                JsonRejection::BytesRejection(bytes) => body_rejection(bytes),
                other => ApiError::invalid(format!("body: {}", other.body_text())),
            })
    }
}

/// A whole request body, with a body that could not be read (too large for the route's
/// limit, or cut off) answered with the API's JSON error.
pub struct ApiBytes(pub axum::body::Bytes);

impl<S> axum::extract::FromRequest<S> for ApiBytes
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(ApiBytes)
            .map_err(body_rejection)
    }
}

fn body_rejection(rejection: axum::extract::rejection::BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "the request body is larger than this endpoint accepts",
        )
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::UploadIncomplete,
            format!(
                "the request body could not be read: {}",
                rejection.body_text()
            ),
        )
    }
}

/// The largest index, offset or count the API takes: the database stores them as signed
/// 64-bit integers, so anything larger is refused rather than wrapped.
pub const MAX_INTEGER: u64 = i64::MAX as u64;

/// Refuses a value outside `min..=max` with 400 naming the parameter.
pub(crate) fn check_range<N>(name: &str, value: N, min: N, max: N) -> Result<N, ApiError>
where
    N: PartialOrd + std::fmt::Display + Copy,
{
    if value < min || value > max {
        return Err(ApiError::invalid(format!(
            "{name} must be between {min} and {max}, not {value}"
        )));
    }
    Ok(value)
}

/// Listing pages: `limit` is 1..=1000 (default 100).
pub const MAX_PAGE: u32 = 1000;

/// `?limit=&offset=&state=` on listings.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    pub state: Option<String>,
    pub sha256: Option<String>,
}

impl ListQuery {
    fn filter<S: std::str::FromStr>(&self) -> Result<kenshin_store::ListFilter, ApiError>
    where
        S::Err: std::fmt::Display,
    {
        let limit = check_range("limit", self.limit.unwrap_or(100), 1, MAX_PAGE)?;
        let offset = check_range("offset", self.offset.unwrap_or(0), 0, MAX_INTEGER)?;
        if let Some(state) = &self.state {
            state
                .parse::<S>()
                .map_err(|e| ApiError::invalid(format!("state: {e}")))?;
        }
        if let Some(sha) = &self.sha256 {
            if sha.len() != 64 || !sha.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(ApiError::invalid(
                    "sha256: 64 lowercase hexadecimal digits (the SHA-256 of the file's content)",
                ));
            }
        }
        Ok(kenshin_store::ListFilter {
            state: self.state.clone(),
            sha256: self.sha256.clone(),
            limit,
            offset,
            search: kenshin_store::DeliverySearch::default(),
        })
    }
}

/// Parses an id from the path. A malformed id is just another id that does not exist.
fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::not_found())
}
