//! A receiving organisation's own settings: the formats of its converted outputs and the age
//! recipients its deliveries are sealed to.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_core::api::ErrorBody;
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath};
use crate::error::ApiError;
use crate::service::{receivers, Caller};
use crate::state::AppState;

/// What the organisation receives, and how it is sealed.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReceivingSettings {
    /// Format codes in the order chosen: `std-csv` (standard CSV), `mhlw-xml` (MHLW 特定健診
    /// XML archives, one per 保険者番号), `fhir` (FHIR R4 健診結果報告書 Bundles, NDJSON).
    pub formats: Vec<String>,
    /// The age recipients every delivery is sealed to; empty: not sealed to the organisation.
    pub recipients: Vec<RecipientView>,
    /// `x25519` or `mlkem768x25519` when there are recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_kind: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecipientView {
    pub id: i64,
    pub recipient: String,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: time::OffsetDateTime,
    pub added_by: String,
}

/// The formats to set.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormatsUpdate {
    pub formats: Vec<String>,
}

/// A recipient to add.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecipient {
    /// `age1…` (X25519) or `age1pq1…` (hybrid post-quantum), as `age-keygen -y` prints it.
    pub recipient: String,
    #[serde(default)]
    pub label: String,
}

async fn settings_of(state: &AppState, caller: &Caller) -> Result<ReceivingSettings, ApiError> {
    let outputs = receivers::outputs(state, caller).await?;
    Ok(ReceivingSettings {
        formats: outputs
            .formats
            .iter()
            .map(|f| f.code().to_owned())
            .collect(),
        recipients: outputs
            .recipients
            .into_iter()
            .map(|r| RecipientView {
                id: r.id,
                recipient: r.recipient,
                label: r.label,
                added_at: r.added_at,
                added_by: r.added_by,
            })
            .collect(),
        recipient_kind: outputs.kind.map(|k| k.code().to_owned()),
    })
}

/// `GET /api/v1/org/receiving`
#[utoipa::path(get, path = "/api/v1/org/receiving", tag = "organisation", extensions(("x-access-action" = json!("org_update"))),
    responses((status = 200, body = ReceivingSettings),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ReceivingSettings>, ApiError> {
    Ok(Json(settings_of(&state, &caller).await?))
}

/// `PUT /api/v1/org/receiving/formats`
#[utoipa::path(put, path = "/api/v1/org/receiving/formats", tag = "organisation", extensions(("x-access-action" = json!("org_update"))),
    request_body(content = FormatsUpdate, content_type = "application/json"),
    responses((status = 200, body = ReceivingSettings),
              (status = 400, description = "Not JSON, an unknown format, or none", body = ErrorBody),
              (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not, or the organisation does not receive", body = ErrorBody)))]
pub async fn set_formats(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(update): ApiJson<FormatsUpdate>,
) -> Result<Json<ReceivingSettings>, ApiError> {
    receivers::set_formats(&state, &caller, &update.formats).await?;
    Ok(Json(settings_of(&state, &caller).await?))
}

/// `POST /api/v1/org/receiving/recipients`: from now on every delivery is sealed to it too.
#[utoipa::path(post, path = "/api/v1/org/receiving/recipients", tag = "organisation", extensions(("x-access-action" = json!("org_update"))),
    request_body(content = NewRecipient, content_type = "application/json"),
    responses((status = 201, body = ReceivingSettings),
              (status = 400, description = "Not JSON, not an age recipient, mixed kinds, too many, or registered already", body = ErrorBody),
              (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not, or the organisation does not receive", body = ErrorBody)))]
pub async fn add_recipient(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewRecipient>,
) -> Result<(StatusCode, Json<ReceivingSettings>), ApiError> {
    receivers::add_recipient(&state, &caller, &new.recipient, &new.label).await?;
    Ok((
        StatusCode::CREATED,
        Json(settings_of(&state, &caller).await?),
    ))
}

/// `DELETE /api/v1/org/receiving/recipients/{id}`: files sealed to it before stay so.
#[utoipa::path(delete, path = "/api/v1/org/receiving/recipients/{id}", tag = "organisation", extensions(("x-access-action" = json!("org_update"))), params(("id" = String, Path)),
    responses((status = 200, body = ReceivingSettings),
              (status = 400, description = "The id is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody),
              (status = 404, description = "No such recipient", body = ErrorBody)))]
pub async fn remove_recipient(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReceivingSettings>, ApiError> {
    receivers::remove_recipient(&state, &caller, &id).await?;
    Ok(Json(settings_of(&state, &caller).await?))
}
