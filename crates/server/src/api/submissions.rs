//! The sender's side: upload, list, show, withdraw.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kenshin_core::api::{ErrorBody, Page, SubmissionView};
use kenshin_core::{OrgCode, SubmissionId, SubmissionState};
use serde::Deserialize;

use super::{parse_id, ApiPath, ApiQuery, ListQuery};
use crate::error::ApiError;
use crate::service::{submissions, Caller};
use crate::state::AppState;
use kenshin_auth::{Action, Resource};

#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    to: Option<String>,
    filename: Option<String>,
}

/// `POST /api/v1/submissions?to=ORGCODE&filename=NAME` with the raw file as the body.
#[utoipa::path(post, path = "/api/v1/submissions", tag = "submissions", extensions(("x-access-action" = json!("submission_create"))),
    params(("to" = Option<String>, Query, pattern = "^[A-Za-z0-9_-]{0,32}$", description = "the receiving organisation's code; omitted or empty: the file is converted and routed by 保険者番号"),
           ("filename" = String, Query, min_length = 1, description = "the file's name: 1 to 255 bytes of text without '/', '\\', control characters, surrounding spaces or a leading '.'")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "the file, streamed"),
    responses((status = 201, description = "Stored; the body is the sender's receipt", body = SubmissionView),
              (status = 400, description = "`to` or `filename` missing or malformed, or the upload ended early (upload_incomplete)", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not, or the organisation does not send", body = ErrorBody),
              (status = 404, description = "No route to `to` (whether or not it exists), or no conversion route", body = ErrorBody),
              (status = 409, description = "A conversion route but no active map", body = ErrorBody),
              (status = 413, description = "Larger than max_upload_bytes", body = ErrorBody),
              (status = 507, description = "Storage full; nothing kept", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<CreateQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SubmissionView>), ApiError> {
    submissions::require_sender(&caller)?;
    // Without `to`, the file is converted and routed by 保険者番号.
    let to: Option<OrgCode> = query
        .to
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().map_err(|e| ApiError::invalid(format!("to: {e}"))))
        .transpose()?;
    let filename = query
        .filename
        .as_deref()
        .ok_or_else(|| ApiError::invalid("the query parameter `filename` is required"))?;
    let filename = kenshin_core::validate::filename(filename)
        .map_err(|e| ApiError::invalid(format!("filename: {e}")))?;
    if let Some(length) = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if length > state.config.max_upload_bytes {
            return Err(crate::vault::VaultError::TooLarge {
                limit: state.config.max_upload_bytes,
            }
            .into());
        }
    }
    let upload = submissions::Upload {
        to: to.as_ref(),
        filename,
        body: body.into_data_stream(),
    };
    let view = submissions::send(&state, &caller, upload).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `GET /api/v1/submissions`
#[utoipa::path(get, path = "/api/v1/submissions", tag = "submissions", extensions(("x-access-action" = json!("submission_list"))),
    params(("state" = Option<SubmissionState>, Query, description = "only submissions in this state"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 100)"),
           ("offset" = Option<u64>, Query, maximum = 9223372036854775807u64, description = "submissions to skip"),
           ("sha256" = Option<String>, Query, pattern = "^[0-9a-f]{64}$", description = "only files of this content: the lowercase hex SHA-256 of the file (to find a file sent before)")),
    responses((status = 200, body = Page<SubmissionView>),
              (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Page<SubmissionView>>, ApiError> {
    caller.require(Resource::Submission, Action::Read)?;
    let filter = query.filter::<SubmissionState>()?;
    let (items, total) = submissions::list(&state, &caller, &filter).await?;
    Ok(Json(Page {
        items,
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

/// `GET /api/v1/submissions/{id}`
#[utoipa::path(get, path = "/api/v1/submissions/{id}", tag = "submissions", extensions(("x-access-action" = json!("submission_view"))), params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SubmissionView>, ApiError> {
    caller.require(Resource::Submission, Action::Read)?;
    let id: SubmissionId = parse_id(&id)?;
    Ok(Json(submissions::show(&state, &caller, id).await?))
}

/// `DELETE /api/v1/submissions/{id}`: withdraw while nothing was downloaded.
#[utoipa::path(delete, path = "/api/v1/submissions/{id}", tag = "submissions", extensions(("x-access-action" = json!("submission_withdraw"))), params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody), (status = 409, description = "Already downloaded (already_downloaded), or rejected (invalid_state)", body = ErrorBody),
              (status = 410, description = "Already withdrawn", body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SubmissionView>, ApiError> {
    caller.require(Resource::Submission, Action::Delete)?;
    let id: SubmissionId = parse_id(&id)?;
    Ok(Json(submissions::withdraw(&state, &caller, id).await?))
}

/// `GET /api/v1/submissions/{id}/report`: the conversion report, for the sender only.
#[utoipa::path(get, path = "/api/v1/submissions/{id}/report", tag = "submissions", extensions(("x-access-action" = json!("report_view"))), params(("id" = String, Path)),
    responses((status = 200, description = "The conversion report (JSON), for the sender only", body = Object, content_type = "application/json"), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 409, description = "No report (pass-through, or not converted yet)", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require(Resource::Report, Action::Read)?;
    let id: SubmissionId = parse_id(&id)?;
    let bytes = crate::service::reports::read_report(&state, &caller.org, id).await?;
    Ok(([(http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

#[utoipa::path(get, path = "/api/v1/submissions/{id}/held/{batch}", tag = "submissions", extensions(("x-access-action" = json!("held_download"))), params(("id" = String, Path), ("batch" = String, Path)),
    responses((status = 200, description = "Records held for the sender: unrouted ones in the standard CSV (one 保険者番号), or the rows returned as sent with the reason", content_type = "application/octet-stream"), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 410, description = "No longer held: released to the receiver, expired or withdrawn", body = ErrorBody)))]
pub async fn held(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, batch)): ApiPath<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require(Resource::Report, Action::Read)?;
    let id: SubmissionId = parse_id(&id)?;
    let (held, stream) =
        crate::service::submissions::held_content(&state, &caller, id, &batch).await?;
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(held.size),
    );
    headers.insert(
        http::header::CONTENT_DISPOSITION,
        crate::request::content_disposition(&held.filename),
    );
    Ok(response)
}
