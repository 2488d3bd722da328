//! People: login with password and TOTP, first-login TOTP enrolment and password change,
//! sessions in secure cookies with idle and absolute timeouts, logout.
//!
//! Unknown users, wrong passwords, wrong codes and locked accounts all get the same answer
//! (`invalid_credentials`), after the same argon2 work, so the response tells an attacker
//! nothing. State-changing requests of a session need its CSRF token in `x-csrf-token`.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kenshin_auth::SessionId;
use kenshin_core::api::{ErrorBody, ErrorCode};
use kenshin_store::UserRecord;
use serde::{Deserialize, Serialize};

use super::ApiJson;
use crate::error::ApiError;
use crate::request::{require_csrf, session_cookie};
use crate::service::sessions::{
    authenticate, begin_enrolment, end_session, finish_enrolment, replace_password, Enrolment,
    Person,
};
use crate::state::AppState;
use crate::tls::PeerInfo;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    login: String,
    password: String,
    #[serde(default)]
    code: Option<String>,
}

/// What a session holder learns about itself.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub login: String,
    pub name: String,
    pub org: String,
    pub role: String,
    pub totp_enrolled: bool,
    pub must_change_password: bool,
    /// Send back in `x-csrf-token` on every state-changing request.
    pub csrf: String,
}

fn me(state: &AppState, user: &UserRecord, session: &SessionId) -> Me {
    Me {
        login: user.login.clone(),
        name: user.display_name.clone(),
        org: user.org_code.clone(),
        role: user.role.clone(),
        totp_enrolled: user.totp_secret.is_some(),
        must_change_password: user.must_change_password,
        csrf: kenshin_auth::csrf_token(&state.server_key, session),
    }
}

/// `POST /auth/login` `{login, password, code?}`.
#[utoipa::path(post, path = "/auth/login", tag = "people", extensions(("x-access-action" = json!("login_request"))),
    request_body(content = LoginRequest, content_type = "application/json"),
    responses((status = 200, description = "A session cookie is set; the body carries the CSRF token", body = Me,
               headers(("set-cookie" = String, description = "the session cookie (Secure, HttpOnly, SameSite=Strict)"))),
              (status = 400, description = "The body is not JSON, or not of this shape", body = ErrorBody),
              (status = 401, description = "invalid_credentials (the same for every failure)", body = ErrorBody),
              (status = 415, description = "The body is not sent as application/json", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    peer: Option<axum::Extension<PeerInfo>>,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let (user, token, session) = authenticate(
        &state,
        &request.login,
        &request.password,
        request.code.as_deref(),
        peer.map(|p| p.addr),
    )
    .await?;
    let mut response = Json(me(&state, &user, &session)).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&session_cookie(&token)).map_err(|_| ApiError::internal())?,
    );
    Ok(response)
}

/// `GET /auth/me`
#[utoipa::path(get, path = "/auth/me", tag = "people", extensions(("x-access-action" = json!("session_view"))), responses((status = 200, description = "The session's person", body = Me), (status = 401, description = "No valid session (session_required)", body = ErrorBody)))]
pub async fn whoami(State(state): State<AppState>, person: Person) -> Json<Me> {
    Json(me(&state, &person.user, &person.session))
}

/// `POST /auth/logout`
#[utoipa::path(post, path = "/auth/logout", tag = "people", extensions(("x-access-action" = json!("logout"))), responses((status = 204, description = "The session is ended"),
    (status = 401, description = "No valid session (session_required)", body = ErrorBody),
    (status = 403, description = "No CSRF token (x-csrf-token)", body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    require_csrf(&state, &person, &headers)?;
    end_session(&state, &person).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/totp/enroll`: a new secret (not active until confirmed with a code).
#[utoipa::path(post, path = "/auth/totp/enroll", tag = "people", extensions(("x-access-action" = json!("totp_enrol"))), responses((status = 200, description = "otpauth URI and QR code (SVG)", body = Enrolment),
    (status = 401, description = "No valid session (session_required)", body = ErrorBody),
    (status = 403, description = "No CSRF token (x-csrf-token)", body = ErrorBody),
    (status = 409, description = "A second factor is already enrolled", body = ErrorBody)))]
pub async fn totp_enroll(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
) -> Result<Json<Enrolment>, ApiError> {
    require_csrf(&state, &person, &headers)?;
    Ok(Json(begin_enrolment(&state, &person).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CodeRequest {
    code: String,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryCodes {
    /// Shown once; store them offline.
    pub recovery_codes: Vec<String>,
}

/// `POST /auth/totp/confirm {code}`: proves the authenticator works, then enrols it.
#[utoipa::path(post, path = "/auth/totp/confirm", tag = "people", extensions(("x-access-action" = json!("totp_enrol"))),
    request_body(content = CodeRequest, content_type = "application/json"),
    responses((status = 200, description = "Enrolled; ten recovery codes, shown once", body = RecoveryCodes),
    (status = 400, description = "The body is not JSON, or not of this shape", body = ErrorBody),
    (status = 401, description = "No valid session (session_required), or a wrong code (invalid_credentials)", body = ErrorBody),
    (status = 403, description = "No CSRF token (x-csrf-token)", body = ErrorBody),
    (status = 409, description = "No enrolment started", body = ErrorBody),
    (status = 415, description = "The body is not sent as application/json", body = ErrorBody)))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CodeRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    require_csrf(&state, &person, &headers)?;
    Ok(Json(RecoveryCodes {
        recovery_codes: finish_enrolment(&state, &person, &request.code).await?,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /auth/password {current, new}`: the guideline's rules, checked with the account's
/// own identifiers; problems come back with stable codes and Japanese and English text.
#[utoipa::path(post, path = "/auth/password", tag = "people", extensions(("x-access-action" = json!("password_change"))),
    request_body(content = PasswordChange, content_type = "application/json"),
    responses((status = 204, description = "Changed"),
    (status = 400, description = "The body is not JSON, or not of this shape", body = ErrorBody),
    (status = 401, description = "No valid session (session_required), or a wrong current password (invalid_credentials)", body = ErrorBody),
    (status = 403, description = "No CSRF token (x-csrf-token)", body = ErrorBody),
    (status = 415, description = "The body is not sent as application/json", body = ErrorBody),
    (status = 422, description = "weak_password; `error.problems` lists the rules' problems", body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PasswordChange>,
) -> Result<Response, ApiError> {
    require_csrf(&state, &person, &headers)?;
    match replace_password(&state, &person, &request.current, &request.new).await? {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(problems) => {
            let body = serde_json::json!({
                "error": {
                    "code": ErrorCode::WeakPassword,
                    "message": problems.iter().map(|p| p.message_en()).collect::<Vec<_>>().join("; "),
                    "problems": problems,
                }
            });
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response())
        }
    }
}
