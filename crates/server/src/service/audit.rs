//! The access log as an organisation exports it: its own rows only, in the audit export
//! model (`kenshin-audit`) and one of its formats.

use kenshin_audit::{AccessRecord, Action, Actor, ObjectKind, ObjectRef, Outcome};
use kenshin_store::{AccessFilter, AccessRow};
use serde::Deserialize;

use super::{Caller, Error};
use crate::state::AppState;

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

/// Writes records in an export format; returns the content type.
pub fn export(
    format: AuditFormat,
    records: &[AccessRecord],
    out: &mut Vec<u8>,
) -> Result<&'static str, kenshin_audit::Error> {
    match format.as_str() {
        "csv" => kenshin_audit::write_csv(records, &mut *out).map(|_| "text/csv; charset=utf-8"),
        "jsonl" => kenshin_audit::write_jsonl(records, &mut *out).map(|_| "application/x-ndjson"),
        "fhir" => {
            kenshin_audit::write_fhir_bundle(records, &mut *out).map(|_| "application/fhir+json")
        }
        _ => kenshin_audit::write_atna(records, &mut *out).map(|_| "application/xml"),
    }
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
    pub fn as_str(self) -> &'static str {
        match self {
            AuditFormat::Csv => "csv",
            AuditFormat::Jsonl => "jsonl",
            AuditFormat::Fhir => "fhir",
            AuditFormat::Atna => "atna",
        }
    }
}

/// The caller's organisation's access log under `filter` (its organisation is always the
/// caller's), written in `format`; returns the content type and the document.
pub async fn export_access(
    state: &AppState,
    caller: &Caller,
    mut filter: AccessFilter,
    format: AuditFormat,
) -> Result<(&'static str, Vec<u8>), Error> {
    caller.require(
        kenshin_auth::Resource::AuditLog,
        kenshin_auth::Action::Export,
    )?;
    // An organisation only ever sees its own trail.
    filter.org = Some(caller.org.code.to_string());
    // Rows of this very request are written after it; what is recorded so far is exported.
    state.access.flush().await;
    let rows = state.db.search_access(&filter).await?;
    let records: Vec<AccessRecord> = rows.into_iter().map(to_record).collect();
    let mut body = Vec::new();
    let content_type = export(format, &records, &mut body).map_err(|e| {
        tracing::error!(error = %e, "access log export failed");
        Error::Internal("access log export")
    })?;
    Ok((content_type, body))
}

/// The latest rows of the caller's organisation's access log under `filter` (its organisation
/// is always the caller's), newest first.
pub async fn latest(
    state: &AppState,
    caller: &Caller,
    mut filter: AccessFilter,
) -> Result<Vec<AccessRow>, Error> {
    caller.require(kenshin_auth::Resource::AuditLog, kenshin_auth::Action::Read)?;
    filter.org = Some(caller.org.code.to_string());
    state.access.flush().await;
    Ok(state.db.search_access_latest(&filter).await?)
}

/// A person's own latest activity (at most 200 rows), newest first.
pub async fn own_history(state: &AppState, caller: &Caller) -> Result<Vec<AccessRow>, Error> {
    let Some(user) = caller.person() else {
        return Ok(Vec::new());
    };
    Ok(state
        .db
        .search_access_latest(&AccessFilter {
            org: Some(caller.org.code.to_string()),
            actor: Some(user.login.clone()),
            limit: 200,
            ..Default::default()
        })
        .await?)
}
