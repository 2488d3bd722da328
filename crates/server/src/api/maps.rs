//! An institution's map files (変換テーブル): upload a version, list, activate.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use kenshin_convert::MapFile;
use kenshin_core::api::{ErrorCode, MapView};
use kenshin_profile::Profile;
use kenshin_store::MapRecord;
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth::Caller;
use super::ApiQuery;
use crate::error::ApiError;
use crate::AppState;

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
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<MapView>), ApiError> {
    senders_only(&caller, kenshin_auth::Action::Create)?;
    if body.len() > MAX_MAP_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            "a map file may be at most 16 MiB",
        ));
    }
    let map = MapFile::from_reader(&body[..], Profile::default_profile())
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if map.id.is_empty() || map.version.is_empty() {
        return Err(ApiError::invalid(
            "the map needs `setting` rows for id and version",
        ));
    }
    let now = OffsetDateTime::now_utc();
    let sha = kenshin_crypto::sha256_hex(&body);
    let mut record = state
        .db
        .insert_map(caller.org.id, &map.id, &map.version, &body, &sha, now)
        .await?;
    if query.activate.unwrap_or(false) {
        record = state
            .db
            .activate_map(caller.org.id, &map.id, &map.version, now)
            .await?;
    }
    tracing::info!(org = %caller.org.code, map = %map.label(), active = record.is_active(), "map uploaded");
    Ok((StatusCode::CREATED, Json(view(record))))
}

/// `GET /api/v1/maps`
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<MapView>>, ApiError> {
    senders_only(&caller, kenshin_auth::Action::Read)?;
    let maps = state.db.list_maps(caller.org.id).await?;
    Ok(Json(maps.into_iter().map(view).collect()))
}

/// `POST /api/v1/maps/{map_id}/{version}/activate`
pub async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    Path((map_id, version)): Path<(String, String)>,
) -> Result<Json<MapView>, ApiError> {
    senders_only(&caller, kenshin_auth::Action::Update)?;
    let record = state
        .db
        .activate_map(caller.org.id, &map_id, &version, OffsetDateTime::now_utc())
        .await?;
    Ok(Json(view(record)))
}
