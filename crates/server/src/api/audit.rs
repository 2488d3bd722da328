//! `GET /api/v1/audit/access`: an organisation searches and exports its own access log —
//! CSV, JSON lines, FHIR R4 AuditEvent bundle, or IHE ATNA (DICOM audit messages, one
//! document per line).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kenshin_audit::{AccessRecord, Action, Actor, ObjectKind, ObjectRef, Outcome};
use kenshin_store::{AccessFilter, AccessRow};
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::Caller;
use super::{check_range, ApiQuery, MAX_INTEGER};
use crate::error::ApiError;
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

/// A stored row in the export model.
pub fn to_record(row: AccessRow) -> AccessRecord {
    let actor = match row.actor_kind.as_str() {
        "user" => Actor::User { login: row.actor },
        "certificate" => Actor::Certificate {
            serial: row.actor,
            device: row.device.unwrap_or_default(),
        },
        "system" => Actor::System { task: row.actor },
        _ => Actor::Anonymous,
    };
    let objects = row
        .objects
        .iter()
        .filter_map(|o| {
            let (kind, id) = o.split_once(':')?;
            let kind = match kind {
                "ledger_entry" => ObjectKind::Ledger,
                other => ObjectKind::from_code(other)?,
            };
            Some(ObjectRef::new(kind, id))
        })
        .collect();
    AccessRecord {
        seq: row.seq.max(0) as u64,
        at: row.at,
        org: row.org,
        actor,
        session: row.session,
        source: row.source,
        action: Action::from_code(&row.action),
        objects,
        outcome: match row.outcome.as_str() {
            "success" => Outcome::Success,
            "denied" => Outcome::Denied,
            "not_found" => Outcome::NotFound,
            _ => Outcome::Failed,
        },
        status: row.status,
        bytes: row.bytes,
        detail: row.detail,
    }
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

/// Writes records in an export format; returns the content type.
pub fn export(
    format: &str,
    records: Vec<AccessRecord>,
    out: &mut Vec<u8>,
) -> Result<&'static str, String> {
    let result = match format {
        "csv" => kenshin_audit::write_csv(&records, &mut *out).map(|_| "text/csv; charset=utf-8"),
        "jsonl" => kenshin_audit::write_jsonl(&records, &mut *out).map(|_| "application/x-ndjson"),
        "fhir" => {
            kenshin_audit::write_fhir_bundle(&records, &mut *out).map(|_| "application/fhir+json")
        }
        "atna" => kenshin_audit::write_atna(&records, &mut *out).map(|_| "application/xml"),
        other => {
            return Err(format!(
                "format: use csv, jsonl, fhir or atna, not {other:?}"
            ))
        }
    };
    result.map_err(|e| e.to_string())
}

/// The export formats of `GET /api/v1/audit/access`.
#[derive(Clone, Copy, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AuditFormat {
    Csv,
    #[default]
    Jsonl,
    Fhir,
    Atna,
}

impl AuditFormat {
    fn as_str(self) -> &'static str {
        match self {
            AuditFormat::Csv => "csv",
            AuditFormat::Jsonl => "jsonl",
            AuditFormat::Fhir => "fhir",
            AuditFormat::Atna => "atna",
        }
    }
}

/// The most rows one export answers.
const MAX_EXPORT_ROWS: u32 = 100_000;

/// `GET /api/v1/audit/access?format=&from=&to=&actor=&action=&object=&after=&limit=`
#[utoipa::path(get, path = "/api/v1/audit/access", tag = "audit",
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
    caller.require(
        kenshin_auth::Resource::AuditLog,
        kenshin_auth::Action::Export,
    )?;
    let filter = AccessFilter {
        // An organisation only ever sees its own trail.
        org: Some(caller.org.code.to_string()),
        from: time_param("from", &query.from)?,
        to: time_param("to", &query.to)?,
        actor: query.actor,
        action: query.action,
        object: query.object,
        after_seq: check_range("after", query.after.unwrap_or(0), 0, MAX_INTEGER as i64)?,
        limit: check_range("limit", query.limit.unwrap_or(10_000), 1, MAX_EXPORT_ROWS)?,
    };
    // Rows of this very request are written after it; what is recorded so far is exported.
    state.access.flush().await;
    let rows = state.db.search_access(&filter).await?;
    let records: Vec<AccessRecord> = rows.into_iter().map(to_record).collect();
    let mut body = Vec::new();
    let content_type = export(
        query.format.unwrap_or_default().as_str(),
        records,
        &mut body,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "access log export failed");
        ApiError::internal()
    })?;
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}
