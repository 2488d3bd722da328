//! Notifications: a person's own settings (address, language, topics), an organisation's
//! webhook endpoints with a test send, and its recent notifications with every attempt. The
//! webhook's body is documented in the OpenAPI document's `webhooks` (`Payload`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_core::api::ErrorBody;
use kenshin_notify::{Language, Topic};
use serde::{Deserialize, Serialize};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::service::notifications::{self, EndpointView, MySettings};
use crate::service::Caller;
use crate::state::AppState;

/// What reaches the person signed in.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationSettings {
    /// Where e-mails go; absent: none are sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub language: Language,
    /// The topics that reach the person (`delivery.arrived`, …).
    pub topics: Vec<Topic>,
    /// Whether `topics` are the role's defaults (never chosen).
    pub defaults: bool,
    /// Whether this relay sends e-mail at all.
    pub email_enabled: bool,
}

impl From<MySettings> for NotificationSettings {
    fn from(s: MySettings) -> NotificationSettings {
        NotificationSettings {
            email: s.email,
            language: s.language,
            topics: s.topics,
            defaults: s.defaults,
            email_enabled: s.email_enabled,
        }
    }
}

/// The settings to store.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettingsUpdate {
    /// Empty or absent: no e-mail.
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub language: Language,
    /// Topic names; empty: none.
    pub topics: Vec<String>,
}

/// A webhook endpoint (its secret is shown once, when it is added).
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookEndpointView {
    pub id: String,
    pub url: String,
    pub topics: Vec<Topic>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    pub created_by: String,
}

impl From<EndpointView> for WebhookEndpointView {
    fn from(e: EndpointView) -> WebhookEndpointView {
        WebhookEndpointView {
            id: e.id,
            url: e.url,
            topics: e.topics,
            created_at: e.created_at,
            created_by: e.created_by,
        }
    }
}

/// An endpoint to add.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookEndpoint {
    /// `https://…`; loopback and private addresses are refused unless the relay allows them.
    pub url: String,
    pub topics: Vec<String>,
}

/// A new endpoint and its signing secret (`whsec_…`), shown this once.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedWebhookEndpoint {
    pub endpoint: WebhookEndpointView,
    pub secret: String,
}

/// A test send queued.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueuedNotification {
    pub notification_id: String,
}

/// One attempt to send a notification.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttemptView {
    pub attempt: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: time::OffsetDateTime,
    /// `sent` or `failed`.
    pub outcome: String,
    /// What the other side answered, or why it could not be reached.
    pub detail: String,
}

/// A notification of the organisation.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationView {
    pub id: String,
    pub topic: String,
    /// `email` or `webhook`.
    pub channel: String,
    /// `user:<id>` or `endpoint:<id>`.
    pub target: String,
    /// `pending`, `sent` or `failed`.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: time::OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<time::OffsetDateTime>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecentQuery {
    /// At most this many, newest first (1–200, default 50).
    pub limit: Option<u32>,
}

/// `GET /api/v1/account/notifications`
#[utoipa::path(get, path = "/api/v1/account/notifications", tag = "people", extensions(("x-access-action" = json!("account_view"))),
    responses((status = 200, body = NotificationSettings),
              (status = 401, description = "No session", body = ErrorBody), (status = 403, description = "A client certificate is not a person", body = ErrorBody)))]
pub async fn my_settings(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<NotificationSettings>, ApiError> {
    Ok(Json(
        notifications::my_settings(&state, &caller).await?.into(),
    ))
}

/// `PUT /api/v1/account/notifications`
#[utoipa::path(put, path = "/api/v1/account/notifications", tag = "people", extensions(("x-access-action" = json!("account_update"))),
    request_body(content = NotificationSettingsUpdate, content_type = "application/json"),
    responses((status = 200, body = NotificationSettings),
              (status = 400, description = "Not JSON, not an e-mail address, or an unknown topic", body = ErrorBody),
              (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
              (status = 401, description = "No session", body = ErrorBody), (status = 403, description = "A client certificate is not a person", body = ErrorBody)))]
pub async fn set_my_settings(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(update): ApiJson<NotificationSettingsUpdate>,
) -> Result<Json<NotificationSettings>, ApiError> {
    let settings = notifications::set_my_settings(
        &state,
        &caller,
        &update.email,
        update.language,
        &update.topics,
    )
    .await?;
    Ok(Json(settings.into()))
}

/// `GET /api/v1/org/webhooks`
#[utoipa::path(get, path = "/api/v1/org/webhooks", tag = "organisation", extensions(("x-access-action" = json!("org_view"))),
    responses((status = 200, body = Vec<WebhookEndpointView>),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn endpoints(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<WebhookEndpointView>>, ApiError> {
    let endpoints = notifications::endpoints(&state, &caller).await?;
    Ok(Json(endpoints.into_iter().map(Into::into).collect()))
}

/// `POST /api/v1/org/webhooks`: the answer holds the signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/org/webhooks", tag = "organisation", extensions(("x-access-action" = json!("org_update"))),
    request_body(content = NewWebhookEndpoint, content_type = "application/json"),
    responses((status = 201, body = CreatedWebhookEndpoint),
              (status = 400, description = "Not JSON, not an https:// URL, an unknown topic, none, or too many endpoints", body = ErrorBody),
              (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn add_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewWebhookEndpoint>,
) -> Result<(StatusCode, Json<CreatedWebhookEndpoint>), ApiError> {
    let (endpoint, secret) =
        notifications::add_endpoint(&state, &caller, &new.url, &new.topics).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhookEndpoint {
            endpoint: endpoint.into(),
            secret: secret.expose_text().to_string(),
        }),
    ))
}

/// `DELETE /api/v1/org/webhooks/{id}`: nothing more is sent to it.
#[utoipa::path(delete, path = "/api/v1/org/webhooks/{id}", tag = "organisation", extensions(("x-access-action" = json!("org_update"))), params(("id" = String, Path)),
    responses((status = 204, description = "Removed"),
              (status = 400, description = "The id is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody),
              (status = 404, description = "No such endpoint", body = ErrorBody)))]
pub async fn remove_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    notifications::remove_endpoint(&state, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/org/webhooks/{id}/test`: a `webhook.test` payload, sent in the background.
#[utoipa::path(post, path = "/api/v1/org/webhooks/{id}/test", tag = "organisation", extensions(("x-access-action" = json!("org_update"))), params(("id" = String, Path)),
    responses((status = 202, body = QueuedNotification),
              (status = 400, description = "The id is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody),
              (status = 404, description = "No such endpoint", body = ErrorBody)))]
pub async fn test_endpoint(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<QueuedNotification>), ApiError> {
    let notification_id = notifications::test_endpoint(&state, &caller, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(QueuedNotification { notification_id }),
    ))
}

/// `GET /api/v1/org/notifications`: the latest notifications with every attempt.
#[utoipa::path(get, path = "/api/v1/org/notifications", tag = "organisation", extensions(("x-access-action" = json!("org_view"))),
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "at most this many, newest first (default 50)")),
    responses((status = 200, body = Vec<NotificationView>),
              (status = 400, description = "A malformed query", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn recent(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<RecentQuery>,
) -> Result<Json<Vec<NotificationView>>, ApiError> {
    let limit = super::check_range("limit", query.limit.unwrap_or(50), 1, 200)?;
    let views = notifications::recent(&state, &caller, limit).await?;
    Ok(Json(
        views
            .into_iter()
            .map(|v| NotificationView {
                id: v.record.id,
                topic: v.record.topic,
                channel: v.record.channel,
                target: v.record.target,
                state: v.record.state,
                created_at: v.record.created_at,
                sent_at: v.record.sent_at,
                attempts: v
                    .attempts
                    .into_iter()
                    .map(|a| AttemptView {
                        attempt: a.attempt,
                        at: a.at,
                        outcome: a.outcome,
                        detail: a.detail,
                    })
                    .collect(),
            })
            .collect(),
    ))
}
