//! An institution's map files (変換テーブル): upload a version, list, activate.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_core::api::{ErrorBody, MapView};
use serde::Deserialize;

use super::{ApiBytes, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::service::maps::{activate_version, maps_of, store_map};
use crate::service::Caller;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    activate: Option<bool>,
}

/// `POST /api/v1/maps[?activate=true]` with the map CSV as the body.
#[utoipa::path(post, path = "/api/v1/maps", tag = "maps", extensions(("x-access-action" = json!("map_upload"))), params(("activate" = Option<bool>, Query)),
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

/// `GET /api/v1/maps`
#[utoipa::path(get, path = "/api/v1/maps", tag = "maps", extensions(("x-access-action" = json!("map_list"))), responses((status = 200, body = Vec<MapView>), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<MapView>>, ApiError> {
    Ok(Json(maps_of(&state, &caller).await?))
}

/// `POST /api/v1/maps/{map_id}/{version}/activate`
#[utoipa::path(post, path = "/api/v1/maps/{map_id}/{version}/activate", tag = "maps", extensions(("x-access-action" = json!("map_activate"))),
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
