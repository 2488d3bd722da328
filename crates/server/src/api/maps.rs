//! An institution's map files (変換テーブル): upload a version, list, activate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_convert::MapFile;
use kenshin_core::api::{ErrorBody, ErrorCode, MapView};
use kenshin_profile::Profile;
use kenshin_store::MapRecord;
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth::Caller;
use super::{ApiBytes, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::state::AppState;

/// Map files are small; a larger body is a mistake.
pub const MAX_MAP_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    activate: Option<bool>,
}

fn view(record: MapRecord) -> MapView {
    MapView {
        active: record.is_active(),
        org: record.org_code,
        map_id: record.map_id,
        version: record.version,
        sha256: record.sha256,
        created_at: record.created_at,
        activated_at: record.activated_at,
    }
}

fn senders_only(caller: &Caller, action: kenshin_auth::Action) -> Result<(), ApiError> {
    caller.require(kenshin_auth::Resource::Map, action)?;
    if caller.org.kind.may_send() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "only sending institutions have map files",
        ))
    }
}

/// `POST /api/v1/maps[?activate=true]` with the map CSV as the body.
#[utoipa::path(post, path = "/api/v1/maps", tag = "maps", params(("activate" = Option<bool>, Query)),
    request_body(content = String, content_type = "text/csv", description = "the map file (docs/MAP_FORMAT.md)"),
    responses((status = 201, body = MapView),
              (status = 400, description = "The map is invalid (with its line), or `activate` is not a boolean", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not, or the organisation has no maps", body = ErrorBody),
              (status = 409, description = "This map id and version is already stored (versions are immutable)", body = ErrorBody),
              (status = 413, description = "Larger than 16 MiB", body = ErrorBody)))]
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    ApiBytes(body): ApiBytes,
) -> Result<(StatusCode, Json<MapView>), ApiError> {
    let view = store_map(&state, &caller, &body, query.activate.unwrap_or(false)).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Checks and stores a new map version of the caller's organisation (immutable; optionally
/// made the active one).
pub(crate) async fn store_map(
    state: &AppState,
    caller: &Caller,
    body: &[u8],
    activate: bool,
) -> Result<MapView, ApiError> {
    senders_only(caller, kenshin_auth::Action::Create)?;
    if body.len() > MAX_MAP_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "a map file may be at most 16 MiB",
        ));
    }
    let map = MapFile::from_reader(body, Profile::default_profile())
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if map.id.is_empty() || map.version.is_empty() {
        return Err(ApiError::invalid(
            "the map needs `setting` rows for id and version",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let sha = kenshin_crypto::sha256_hex(body);
    let mut record = state
        .db
        .insert_map(caller.org.id, &map.id, &map.version, body, &sha, now)
        .await?;
    if activate {
        record = state
            .db
            .activate_map(caller.org.id, &map.id, &map.version, now)
            .await?;
    }
    tracing::info!(org = %caller.org.code, map = %map.label(), active = record.is_active(), "map uploaded");
    Ok(view(record))
}

/// `GET /api/v1/maps`
#[utoipa::path(get, path = "/api/v1/maps", tag = "maps", responses((status = 200, body = Vec<MapView>), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<MapView>>, ApiError> {
    Ok(Json(maps_of(&state, &caller).await?))
}

/// The map versions of the caller's organisation.
pub(crate) async fn maps_of(state: &AppState, caller: &Caller) -> Result<Vec<MapView>, ApiError> {
    senders_only(caller, kenshin_auth::Action::Read)?;
    let maps = state.db.list_maps(caller.org.id).await?;
    Ok(maps.into_iter().map(view).collect())
}

/// One stored map version of the caller's organisation, parsed against the default profile.
pub(crate) async fn map_of(
    state: &AppState,
    caller: &Caller,
    map_id: &str,
    version: &str,
) -> Result<MapFile, ApiError> {
    senders_only(caller, kenshin_auth::Action::Read)?;
    let record = state.db.map_version(caller.org.id, map_id, version).await?;
    MapFile::from_reader(&record.content[..], Profile::default_profile()).map_err(|e| {
        tracing::error!(error = %e, "a stored map no longer parses");
        ApiError::internal()
    })
}

/// `POST /api/v1/maps/{map_id}/{version}/activate`
#[utoipa::path(post, path = "/api/v1/maps/{map_id}/{version}/activate", tag = "maps",
    params(("map_id" = String, Path), ("version" = String, Path)), responses((status = 200, body = MapView), (status = 400, description = "A path parameter is not UTF-8", body = ErrorBody), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody)))]
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((map_id, version)): ApiPath<(String, String)>,
) -> Result<Json<MapView>, ApiError> {
    Ok(Json(
        activate_version(&state, &caller, &map_id, &version).await?,
    ))
}

/// Makes a stored version the active one (the previous one is retired).
pub(crate) async fn activate_version(
    state: &AppState,
    caller: &Caller,
    map_id: &str,
    version: &str,
) -> Result<MapView, ApiError> {
    senders_only(caller, kenshin_auth::Action::Update)?;
    let record = state
        .db
        .activate_map(caller.org.id, map_id, version, OffsetDateTime::now_utc())
        .await?;
    Ok(view(record))
}
