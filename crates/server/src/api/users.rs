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
use kenshin_auth::{Action, Resource};
use kenshin_core::api::{ErrorBody, ErrorCode};
use kenshin_store::UserRecord;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::{Caller, Principal};
use super::{ApiJson, ApiPath};
use crate::accounts::{create_account, parse_last_day, AccountError};
use crate::error::ApiError;
use crate::state::AppState;

/// A person's account, as their organisation's administrator sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct AccountView {
    login: String,
    name: String,
    role: String,
    totp_enrolled: bool,
    must_change_password: bool,
    disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
}

impl From<&UserRecord> for AccountView {
    fn from(user: &UserRecord) -> Self {
        AccountView {
            login: user.login.clone(),
            name: user.display_name.clone(),
            role: user.role.clone(),
            totp_enrolled: user.totp_secret.is_some(),
            must_change_password: user.must_change_password,
            disabled: user.disabled_at.is_some(),
            valid_until: user.valid_until.and_then(|t| t.format(&Rfc3339).ok()),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewAccount {
    pub login: String,
    pub name: String,
    pub role: String,
    /// Last day the account may be used (`YYYY-MM-DD`, inclusive), e.g. a contract's end.
    pub valid_until: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedAccount {
    #[serde(flatten)]
    pub account: AccountView,
    /// Shown once; the person must change it at first login.
    pub initial_password: String,
}

/// A change an administrator makes to another person's account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AccountChange {
    Disable,
    Enable,
    ResetTotp,
}

fn person_only(caller: &Caller) -> Result<&UserRecord, ApiError> {
    match &caller.principal {
        Principal::Person { user, .. } => Ok(user),
        Principal::Certificate(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            "accounts are managed by a person signed in with two factors, not by a client certificate",
        )),
    }
}

/// A login of the caller's own organisation; others are indistinguishable from absent ones.
async fn own_account(
    state: &AppState,
    caller: &Caller,
    login: &str,
) -> Result<UserRecord, ApiError> {
    match state.db.user_by_login(login).await? {
        Some(user) if user.org_id == caller.org.id => Ok(user),
        _ => Err(ApiError::not_found()),
    }
}

/// `GET /api/v1/users`
#[utoipa::path(get, path = "/api/v1/users", tag = "users", responses((status = 200, description = "The organisation's people", body = Vec<AccountView>), (status = 401, description = "No client certificate or session", body = ErrorBody), (status = 403, description = "The role may not", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    Ok(Json(accounts_of(&state, &caller).await?))
}

/// The people of the caller's organisation.
pub(crate) async fn accounts_of(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<AccountView>, ApiError> {
    person_only(caller)?;
    caller.require(Resource::User, Action::Read)?;
    let users = state.db.list_users(Some(caller.org.id)).await?;
    Ok(users.iter().map(AccountView::from).collect())
}

/// `POST /api/v1/users`
#[utoipa::path(post, path = "/api/v1/users", tag = "users",
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

/// Creates an account in the caller's organisation; the initial password is in the answer
/// only.
pub(crate) async fn create_in(
    state: &AppState,
    caller: &Caller,
    new: NewAccount,
) -> Result<CreatedAccount, ApiError> {
    person_only(caller)?;
    caller.require(Resource::User, Action::Create)?;
    let valid_until = new
        .valid_until
        .as_deref()
        .map(|day| {
            parse_last_day(day).ok_or_else(|| ApiError::invalid("valid_until: expected YYYY-MM-DD"))
        })
        .transpose()?;
    let (user, initial) = create_account(
        &state.db,
        &caller.org,
        &new.login,
        &new.name,
        &new.role,
        valid_until,
    )
    .await
    .map_err(|e| match e {
        AccountError::Invalid(message) => ApiError::invalid(message),
        AccountError::Store(store) => store.into(),
    })?;
    tracing::info!(org = %caller.org.code, by = %caller.actor(), role = %user.role, "account created");
    Ok(CreatedAccount {
        account: AccountView::from(&user),
        initial_password: initial.to_string(),
    })
}

/// `POST /api/v1/users/{login}/disable`: ends the person's sessions and revokes the
/// certificates issued to them at once (the database is consulted on every request) and
/// publishes the new CRL, so their handshakes fail too once the server reloads it.
#[utoipa::path(post, path = "/api/v1/users/{login}/disable", tag = "users", params(("login" = String, Path)),
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
#[utoipa::path(post, path = "/api/v1/users/{login}/enable", tag = "users", params(("login" = String, Path)),
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
#[utoipa::path(post, path = "/api/v1/users/{login}/reset-totp", tag = "users", params(("login" = String, Path)),
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

/// Applies `what` to another person of the caller's organisation. Changing oneself is
/// refused: locking oneself out or voiding one's own factor is never what an administrator
/// meant, and could leave an organisation with no one to undo it.
pub(crate) async fn change(
    state: &AppState,
    caller: &Caller,
    login: &str,
    what: AccountChange,
) -> Result<AccountView, ApiError> {
    let me = person_only(caller)?;
    caller.require(Resource::User, Action::Update)?;
    let user = own_account(state, caller, login).await?;
    if user.id == me.id {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            "you cannot change your own account this way; ask another administrator",
        ));
    }
    let now = OffsetDateTime::now_utc();
    match what {
        AccountChange::Disable => {
            let revoked = state.db.set_user_disabled(user.id, true, now).await?;
            // The database refuses them from now on; the CRL makes handshakes fail too.
            if !revoked.is_empty() {
                if let Err(err) = crate::certificates::publish_crl(&state.db, &state.data).await {
                    tracing::error!(error = %err, "revoked a disabled person's certificates but could not publish the CRL");
                }
            }
        }
        AccountChange::Enable => state
            .db
            .set_user_disabled(user.id, false, now)
            .await
            .map(drop)?,
        AccountChange::ResetTotp => state.db.set_totp(user.id, None, None).await?,
    }
    Ok(AccountView::from(&state.db.user_by_id(user.id).await?))
}
