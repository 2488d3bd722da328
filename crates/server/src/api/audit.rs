//! `GET /api/v1/audit/access`: an organisation searches and exports its own access log —
//! CSV, JSON lines, FHIR R4 AuditEvent bundle, or IHE ATNA (DICOM audit messages, one
//! document per line).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kenshin_store::AccessFilter;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{check_range, ApiQuery, MAX_INTEGER};
use crate::error::ApiError;
use crate::service::audit::{self, AuditFormat};
use crate::service::Caller;
use crate::state::AppState;
use kenshin_core::api::ErrorBody;

#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    format: Option<AuditFormat>,
    from: Option<String>,
    to: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    object: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

fn time_param(name: &str, value: &Option<String>) -> Result<Option<OffsetDateTime>, ApiError> {
    value
        .as_deref()
        .map(|v| {
            OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
                ApiError::invalid(format!(
                    "{name}: expected an RFC 3339 time such as 2026-04-01T00:00:00Z"
                ))
            })
        })
        .transpose()
}

/// The most rows one export answers.
const MAX_EXPORT_ROWS: u32 = 100_000;

/// `GET /api/v1/audit/access?format=&from=&to=&actor=&action=&object=&after=&limit=`
#[utoipa::path(get, path = "/api/v1/audit/access", tag = "audit", extensions(("x-access-action" = json!("audit_export"))),
    params(("format" = Option<AuditFormat>, Query, description = "csv, jsonl (default), fhir or atna"),
           ("from" = Option<String>, Query, format = DateTime, description = "RFC 3339: rows at or after this time"),
           ("to" = Option<String>, Query, format = DateTime, description = "RFC 3339: rows before this time"),
           ("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("object" = Option<String>, Query),
           ("after" = Option<i64>, Query, minimum = 0, maximum = 9223372036854775807i64, description = "only rows with a larger sequence number"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 100000, description = "at most this many rows (default 10000)")),
    responses((status = 200, description = "The organisation's access log in the chosen format",
               content((String = "application/x-ndjson"), (String = "text/csv; charset=utf-8"), (Object = "application/fhir+json"), (String = "application/xml"))),
              (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn access(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    // Checked before the parameters, so a role without the right learns nothing more.
    caller.require(
        kenshin_auth::Resource::AuditLog,
        kenshin_auth::Action::Export,
    )?;
    let filter = AccessFilter {
        org: None,
        from: time_param("from", &query.from)?,
        to: time_param("to", &query.to)?,
        actor: query.actor,
        action: query.action,
        object: query.object,
        after_seq: check_range("after", query.after.unwrap_or(0), 0, MAX_INTEGER as i64)?,
        limit: check_range("limit", query.limit.unwrap_or(10_000), 1, MAX_EXPORT_ROWS)?,
    };
    let (content_type, body) =
        audit::export_access(&state, &caller, filter, query.format.unwrap_or_default()).await?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
