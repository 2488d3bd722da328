//! The ledger over HTTP: the checkpoint and key for anyone; entries and proofs for the
//! parties of a file.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use kenshin_core::api::{ErrorBody, LedgerEntryView, ProofView};
use kenshin_store::LedgerEntry;
use serde::Deserialize;

use super::{check_range, ApiPath, ApiQuery, MAX_INTEGER};
use crate::error::ApiError;
use crate::service::{ledger, Caller};
use crate::state::AppState;

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// `GET /ledger/checkpoint`: the latest signed checkpoint (C2SP tlog-checkpoint note).
#[utoipa::path(get, path = "/ledger/checkpoint", tag = "ledger", extensions(("x-access-action" = json!("ledger_read"))),
    responses((status = 200, description = "The latest signed checkpoint (C2SP tlog-checkpoint)", body = String, content_type = "text/plain; charset=utf-8")))]
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(text(ledger::checkpoint(&state).await?))
}

/// `GET /ledger/key`: the verifier key, `<name>+<key id>+<base64 key>`.
#[utoipa::path(get, path = "/ledger/key", tag = "ledger", extensions(("x-access-action" = json!("ledger_read"))),
    responses((status = 200, description = "The verifier key (signed-note format)", body = String, content_type = "text/plain; charset=utf-8")))]
pub async fn key(State(state): State<AppState>) -> Response {
    text(format!("{}\n", ledger::verifier_key(&state)))
}

fn view(entry: LedgerEntry) -> LedgerEntryView {
    LedgerEntryView {
        index: entry.idx,
        leaf_hash: base64::engine::general_purpose::STANDARD
            .encode(kenshin_ledger::leaf_hash(&entry.entry)),
        entry: String::from_utf8_lossy(&entry.entry).into_owned(),
    }
}

/// The most entries one `GET /api/v1/ledger/entries` answers.
const MAX_ENTRIES: u32 = 10_000;

#[derive(Debug, Deserialize)]
pub struct EntriesQuery {
    submission: Option<String>,
    after: Option<u64>,
    limit: Option<u32>,
}

/// `GET /api/v1/ledger/entries?submission=ID` — a file's history, for its two parties only;
/// without `submission`, every entry in which the caller's organisation is a party
/// (`after`, `limit` page through them).
#[utoipa::path(get, path = "/api/v1/ledger/entries", tag = "ledger", extensions(("x-access-action" = json!("ledger_read"))),
    params(("submission" = Option<String>, Query, description = "a submission id: that file's history"),
           ("after" = Option<u64>, Query, maximum = 9223372036854775807u64, description = "only entries with a larger index"),
           ("limit" = Option<u32>, Query, minimum = 1, maximum = 10000, description = "at most this many entries (default 1000); without `submission` only")),
    responses((status = 200, body = Vec<LedgerEntryView>),
              (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody),
              (status = 404, description = "No such submission, or the caller is not a party to it", body = ErrorBody)))]
pub async fn entries(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<EntriesQuery>,
) -> Result<Json<Vec<LedgerEntryView>>, ApiError> {
    caller.require(kenshin_auth::Resource::Ledger, kenshin_auth::Action::Read)?;
    let limit = check_range("limit", query.limit.unwrap_or(1000), 1, MAX_ENTRIES)?;
    if let Some(after) = query.after {
        check_range("after", after, 0, MAX_INTEGER)?;
    }
    let entries = ledger::entries(
        &state,
        &caller,
        query.submission.as_deref(),
        query.after,
        limit,
    )
    .await?;
    Ok(Json(entries.into_iter().map(view).collect()))
}

/// `GET /api/v1/ledger/entries/{index}` — the raw entry bytes, parties only: exactly the
/// bytes whose RFC 6962 leaf hash is in the tree, for verifiers that hash them themselves
/// (`GET /api/v1/ledger/entries` has them as JSON).
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}", tag = "ledger", extensions(("x-access-action" = json!("ledger_read"))),
    params(("index" = u64, Path, maximum = 9223372036854775807u64, description = "the entry's index in the ledger")),
    responses((status = 200, description = "The canonical entry bytes (docs/LEDGER.md)", body = Vec<u8>, content_type = "application/octet-stream"),
              (status = 400, description = "The index is not an integer in range", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody)))]
pub async fn entry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(index): ApiPath<u64>,
) -> Result<Response, ApiError> {
    caller.require(kenshin_auth::Resource::Ledger, kenshin_auth::Action::Read)?;
    let index = check_range("index", index, 0, MAX_INTEGER)?;
    let entry = ledger::entry(&state, &caller, index).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        entry.entry,
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct InclusionQuery {
    index: u64,
    size: u64,
}

fn proof(hashes: Vec<kenshin_ledger::Hash>) -> Json<ProofView> {
    Json(ProofView {
        hashes: hashes
            .iter()
            .map(|h| base64::engine::general_purpose::STANDARD.encode(h))
            .collect(),
    })
}

/// `GET /api/v1/ledger/proof/inclusion?index=I&size=N` — parties of entry I only.
#[utoipa::path(get, path = "/api/v1/ledger/proof/inclusion", tag = "ledger", extensions(("x-access-action" = json!("ledger_read"))),
    params(("index" = u64, Query, maximum = 9223372036854775807u64, description = "the entry's index; smaller than `size`"),
           ("size" = u64, Query, maximum = 9223372036854775807u64, description = "the tree size, at most that of the latest checkpoint")),
    responses((status = 200, body = ProofView),
              (status = 400, description = "Malformed or out of range, `index` not smaller than `size`, or `size` larger than the latest checkpoint", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody)))]
pub async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<InclusionQuery>,
) -> Result<Json<ProofView>, ApiError> {
    caller.require(kenshin_auth::Resource::Ledger, kenshin_auth::Action::Read)?;
    check_range("index", query.index, 0, MAX_INTEGER)?;
    check_range("size", query.size, 0, MAX_INTEGER)?;
    Ok(proof(
        ledger::inclusion_proof(&state, &caller, query.index, query.size).await?,
    ))
}

#[derive(Debug, Deserialize)]
pub struct ConsistencyQuery {
    from: u64,
    to: u64,
}

/// `GET /api/v1/ledger/proof/consistency?from=M&to=N` — that size N extends size M.
#[utoipa::path(get, path = "/api/v1/ledger/proof/consistency", tag = "ledger", extensions(("x-access-action" = json!("ledger_read"))),
    params(("from" = u64, Query, maximum = 9223372036854775807u64, description = "the older tree size; not larger than `to`"),
           ("to" = u64, Query, maximum = 9223372036854775807u64, description = "the newer tree size, at most that of the latest checkpoint")),
    responses((status = 200, body = ProofView),
              (status = 400, description = "Malformed or out of range, `from` larger than `to`, or `to` larger than the latest checkpoint", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ConsistencyQuery>,
) -> Result<Json<ProofView>, ApiError> {
    caller.require(kenshin_auth::Resource::Ledger, kenshin_auth::Action::Read)?;
    check_range("from", query.from, 0, MAX_INTEGER)?;
    check_range("to", query.to, 0, MAX_INTEGER)?;
    Ok(proof(
        ledger::consistency_proof(&state, &caller, query.from, query.to).await?,
    ))
}
