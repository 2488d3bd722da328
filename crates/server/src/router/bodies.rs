//! Request bodies: every route has a size limit, enforced before anything reads the body.
//!
//! A body announced larger than its route's limit (`Content-Length`) is answered `413` at
//! once, before authentication and before a byte of it is read; a body without a length
//! (chunked, or HTTP/2 without `content-length`) is read through a counter that stops at the
//! limit, so memory stays bounded whatever a client sends, signed in or not. The limits:
//!
//! | route | limit |
//! |---|---|
//! | `POST /api/v1/submissions` | `max_upload_bytes` (streamed into a sealed blob, never buffered) |
//! | `POST /api/v1/maps` | [`MAX_MAP_BYTES`](crate::service::maps::MAX_MAP_BYTES) |
//! | `POST /maps` (the page's map upload) | the same plus 64 KiB of form |
//! | `POST /maps/check` (the page's sample check) | [`MAX_SAMPLE_BYTES`](crate::web::maps::MAX_SAMPLE_BYTES) plus 64 KiB |
//! | everything else (login, forms, JSON, certificate requests) | [`SMALL_BODY_BYTES`] |

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kenshin_core::api::ErrorCode;

use crate::error::ApiError;
use crate::state::AppState;

pub use crate::request::SMALL_BODY_BYTES;

/// The streamed upload.
const UPLOAD_ROUTE: &str = "/api/v1/submissions";

/// Room for a multipart form's other fields and boundaries around a file.
const FORM_OVERHEAD: u64 = 64 * 1024;

/// The largest body `method` on the route template `route` accepts.
pub fn limit_for(state: &AppState, method: &Method, route: &str) -> u64 {
    if !takes_body(method) {
        // Nothing reads a GET's or DELETE's body; should anything try, the small limit holds.
        return SMALL_BODY_BYTES;
    }
    match route {
        UPLOAD_ROUTE => state.config.max_upload_bytes,
        "/api/v1/maps" => crate::service::maps::MAX_MAP_BYTES as u64,
        "/maps" => crate::service::maps::MAX_MAP_BYTES as u64 + FORM_OVERHEAD,
        "/maps/check" => crate::web::maps::MAX_SAMPLE_BYTES as u64 + FORM_OVERHEAD,
        _ => SMALL_BODY_BYTES,
    }
}

/// Methods whose body a handler may read (and whose announced length is refused early).
fn takes_body(method: &Method) -> bool {
    method == Method::POST || method == Method::PUT || method == Method::PATCH
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::PayloadTooLarge,
        format!(
            "リクエストの本文が大きすぎます（上限 {limit} バイト） / the request body is larger than this endpoint accepts ({limit} bytes)"
        ),
    )
}

/// Whether a path is a web page (which answers people with a page, not JSON).
fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path.starts_with("/auth/")
        || path.starts_with("/ledger/")
        || path == "/health"
        || path == "/metrics")
}

/// The 413 answer: a Japanese page for people (`page_lang`), JSON for programs.
fn refuse(state: &AppState, page_lang: Option<kenshin_ui::Lang>, limit: u64) -> Response {
    let mut response = match page_lang {
        Some(lang) => crate::web::too_large_page(state, lang, limit),
        None => too_large(limit).into_response(),
    };
    // HTTP/1.1: the rest of the body is not read, so the connection cannot carry another
    // request.
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

/// The middleware (a route layer, so the matched route is known).
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(path, MatchedPath::as_str);
    let limit = limit_for(&state, request.method(), route);
    // Streamed into a sealed blob by the handler, which counts against the same limit and
    // answers 413 itself (and removes what it wrote).
    let streamed = route == UPLOAD_ROUTE && request.method() == Method::POST;
    // Only what a refusal needs is kept: the page language, for people.
    let page_lang = is_page(path).then(|| crate::web::lang_of(request.headers()));
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if takes_body(request.method()) && announced.is_some_and(|length| length > limit) {
        return refuse(&state, page_lang, limit);
    }
    let request = if streamed {
        request
    } else {
        let (parts, body) = request.into_parts();
        let limited =
            http_body_util::Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
        Request::from_parts(parts, Body::new(limited))
    };
    let response = next.run(request).await;
    // An extractor that hit the limit while reading answers 413 in its own words (plain
    // text); every 413 leaves in the usual format.
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<ErrorCode>().is_none()
    {
        return refuse(&state, page_lang, limit);
    }
    response
}
