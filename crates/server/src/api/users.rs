//! `/api/v1/users`: an organisation's administrator manages its own people — one account per
//! person (MHLW 6.0), created with a one-time initial password, disabled the day someone
//! leaves, and their second factor reset when a phone is lost.
//!
//! Only a person may manage accounts: a client certificate is a batch interface, and letting
//! it mint logins would turn a stolen machine key into a stolen person. Every operation is
//! confined to the caller's own organisation; another organisation's login is "not found".

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use kenshin_core::api::ErrorBody;

use super::{ApiJson, ApiPath};
use crate::error::ApiError;
use crate::service::accounts::{
    accounts_of, change, create_in, AccountChange, AccountView, CreatedAccount, NewAccount,
};
use crate::service::Caller;
use crate::state::AppState;

/// `GET /api/v1/users`
#[utoipa::path(get, path = "/api/v1/users", tag = "users", extensions(("x-access-action" = json!("user_list"))), responses((status = 200, description = "The organisation's people", body = Vec<AccountView>), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    Ok(Json(accounts_of(&state, &caller).await?))
}

/// `POST /api/v1/users`
#[utoipa::path(post, path = "/api/v1/users", tag = "users", extensions(("x-access-action" = json!("user_create"))),
    request_body(content = NewAccount, content_type = "application/json"),
    responses((status = 201, description = "Created; the one-time initial password is in the answer only", body = CreatedAccount),
              (status = 400, description = "Not JSON, or an invalid login, name, role or date", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "Not a person, or the role may not", body = ErrorBody),
              (status = 409, description = "The login is taken", body = ErrorBody),
              (status = 415, description = "The body is not sent as application/json", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(new): ApiJson<NewAccount>,
) -> Result<(StatusCode, Json<CreatedAccount>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(create_in(&state, &caller, new).await?),
    ))
}

/// `POST /api/v1/users/{login}/disable`: ends the person's sessions and revokes the
/// certificates issued to them at once (the database is consulted on every request) and
/// publishes the new CRL, so their handshakes fail too once the server reloads it.
#[utoipa::path(post, path = "/api/v1/users/{login}/disable", tag = "users", extensions(("x-access-action" = json!("user_disable"))), params(("login" = String, Path)),
    responses((status = 200, description = "Disabled; sessions ended, personal certificates revoked", body = AccountView),
              (status = 400, description = "The login is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "Not a person, the role may not, or no CSRF token", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 409, description = "One's own account", body = ErrorBody)))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(
        change(&state, &caller, &login, AccountChange::Disable).await?,
    ))
}

/// `POST /api/v1/users/{login}/enable`
#[utoipa::path(post, path = "/api/v1/users/{login}/enable", tag = "users", extensions(("x-access-action" = json!("user_enable"))), params(("login" = String, Path)),
    responses((status = 200, description = "Enabled", body = AccountView),
              (status = 400, description = "The login is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "Not a person, the role may not, or no CSRF token", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 409, description = "One's own account", body = ErrorBody)))]
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(
        change(&state, &caller, &login, AccountChange::Enable).await?,
    ))
}

/// `POST /api/v1/users/{login}/reset-totp`: the person enrols a new second factor at next
/// login; their recovery codes are void.
#[utoipa::path(post, path = "/api/v1/users/{login}/reset-totp", tag = "users", extensions(("x-access-action" = json!("totp_reset"))), params(("login" = String, Path)),
    responses((status = 200, description = "The second factor is reset; recovery codes void", body = AccountView),
              (status = 400, description = "The login is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "Not a person, the role may not, or no CSRF token", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 409, description = "One's own account", body = ErrorBody)))]
pub async fn reset_totp(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<AccountView>, ApiError> {
    Ok(Json(
        change(&state, &caller, &login, AccountChange::ResetTotp).await?,
    ))
}

/// `POST /api/v1/users/{login}/reset-password`: a new one-time password (in this answer only),
/// to be changed at the person's next login; their sessions end at once.
#[utoipa::path(post, path = "/api/v1/users/{login}/reset-password", tag = "users", extensions(("x-access-action" = json!("password_reset"))), params(("login" = String, Path)),
    responses((status = 200, description = "Reset; the one-time password is in the answer only", body = CreatedAccount),
              (status = 400, description = "The login is not UTF-8", body = ErrorBody),
              (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "Not a person, the role may not, or no CSRF token", body = ErrorBody), (status = 404, description = "Not found (another organisation's object alike)", body = ErrorBody),
              (status = 409, description = "One's own account", body = ErrorBody)))]
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<CreatedAccount>, ApiError> {
    Ok(Json(
        crate::service::accounts::reset_password(&state, &caller, &login).await?,
    ))
}
