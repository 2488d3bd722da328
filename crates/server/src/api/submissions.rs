//! The sender's side: upload, list, show, withdraw.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use kenshin_core::api::{ErrorBody, ErrorCode, Page, SubmissionView};
use kenshin_core::{OrgCode, SubmissionId, SubmissionState};
use serde::Deserialize;

use super::auth::Caller;
use super::{parse_id, views, ApiPath, ApiQuery, ListQuery};
use crate::error::ApiError;
use crate::relay;
use crate::state::AppState;
use kenshin_auth::{Action, Resource};

#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    to: Option<String>,
    filename: Option<String>,
}

/// `POST /api/v1/submissions?to=ORGCODE&filename=NAME` with the raw file as the body.
#[utoipa::path(post, path = "/api/v1/submissions", tag = "submissions",
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
    caller.require(Resource::Submission, Action::Create)?;
    if !caller.org.kind.may_send() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!(
                "organisations of kind {} ({}) cannot send files",
                caller.org.kind,
                caller.org.kind.label_ja()
            ),
        ));
    }
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
    let actor = caller.actor();
    let (submission, deliveries) = relay::submit(
        &state,
        &caller.org,
        caller.cert_serial(),
        to.as_ref().map(OrgCode::as_str),
        filename,
        body.into_data_stream(),
        &actor,
    )
    .await?;
    tracing::info!(
        submission = %submission.id,
        sender = %caller.org.code,
        receiver = to.as_ref().map(OrgCode::as_str).unwrap_or("(by 保険者番号)"),
        size = submission.size,
        "submission received"
    );
    let mut view = views::submission(submission, deliveries);
    view.receipt = receipt(
        &state,
        &view.id.to_string(),
        kenshin_core::EventKind::Received,
    )
    .await;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The ledger receipt for a response. A ledger failure must not undo a stored upload or a
/// confirmation: it is logged, and the response goes out without its receipt (the entry will
/// be in the ledger; `ledger verify` proves it later).
pub(super) async fn receipt(
    state: &AppState,
    submission: &str,
    kind: kenshin_core::EventKind,
) -> Option<String> {
    match state.ledger.receipt(submission, kind).await {
        Ok(receipt) => Some(receipt),
        Err(err) => {
            tracing::error!(error = %err, %submission, "no ledger receipt");
            None
        }
    }
}

/// `GET /api/v1/submissions`
#[utoipa::path(get, path = "/api/v1/submissions", tag = "submissions",
    params(("state" = Option<SubmissionState>, Query, description = "only submissions in this state"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "page size (default 100)"),
           ("offset" = Option<u64>, Query, maximum = 9223372036854775807u64, description = "submissions to skip")),
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
    let (records, total) = state.db.list_submissions(caller.org.id, &filter).await?;
    let items = views::submissions_with_deliveries(&state.db, records).await?;
    Ok(Json(Page {
        items,
        total,
        limit: filter.limit,
        offset: filter.offset,
    }))
}

/// `GET /api/v1/submissions/{id}`
#[utoipa::path(get, path = "/api/v1/submissions/{id}", tag = "submissions", params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SubmissionView>, ApiError> {
    caller.require(Resource::Submission, Action::Read)?;
    let id: SubmissionId = parse_id(&id)?;
    let record = state.db.submission(caller.org.id, id).await?;
    let deliveries = state.db.submission_deliveries(record.id).await?;
    Ok(Json(views::submission(record, deliveries)))
}

/// `DELETE /api/v1/submissions/{id}`: withdraw while nothing was downloaded.
#[utoipa::path(delete, path = "/api/v1/submissions/{id}", tag = "submissions", params(("id" = String, Path)),
    responses((status = 200, body = SubmissionView), (status = 400, description = "The id is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody), (status = 409, description = "Already downloaded (already_downloaded), or rejected (invalid_state)", body = ErrorBody),
              (status = 410, description = "Already withdrawn", body = ErrorBody)))]
pub async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SubmissionView>, ApiError> {
    caller.require(Resource::Submission, Action::Delete)?;
    let id: SubmissionId = parse_id(&id)?;
    let record = relay::withdraw(&state, &caller.org, id, &caller.actor()).await?;
    let deliveries = state.db.submission_deliveries(record.id).await?;
    tracing::info!(submission = %id, sender = %caller.org.code, "submission withdrawn");
    Ok(Json(views::submission(record, deliveries)))
}

/// `GET /api/v1/submissions/{id}/report`: the conversion report, for the sender only.
#[utoipa::path(get, path = "/api/v1/submissions/{id}/report", tag = "submissions", params(("id" = String, Path)),
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
    let bytes = read_report(&state, &caller.org, id).await?;
    Ok(([(http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// The conversion report of one of `org`'s submissions (JSON), decrypted. The caller has
/// checked the right to read reports; another organisation's submission is not found.
pub(crate) async fn read_report(
    state: &AppState,
    org: &kenshin_store::Org,
    id: SubmissionId,
) -> Result<Vec<u8>, ApiError> {
    let object = state
        .db
        .submission_report(org.id, id)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidState,
                "this submission has no conversion report (not converted yet, or pass-through)",
            )
        })?;
    let vault = state.vault.clone();
    // Reports are small (findings are capped): read whole, authenticated, then answer.
    let bytes =
        tokio::task::spawn_blocking(move || -> Result<Vec<u8>, crate::vault::VaultError> {
            let mut reader = vault.open_reader(&object)?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut reader, &mut bytes)
                .map_err(|e| crate::vault::VaultError::Integrity(e.to_string()))?;
            Ok(bytes)
        })
        .await
        .map_err(|_| ApiError::internal())??;
    Ok(bytes)
}
