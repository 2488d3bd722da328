//! People: login with password and TOTP, first-login TOTP enrolment and password change,
//! sessions in secure cookies with idle and absolute timeouts, logout.
//!
//! Unknown users, wrong passwords, wrong codes and locked accounts all get the same answer
//! (`invalid_credentials`), after the same argon2 work, so the response tells an attacker
//! nothing. State-changing requests of a session need its CSRF token in `x-csrf-token`.

use std::sync::OnceLock;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kenshin_auth::{LoginThrottle, SessionId, SessionToken, TotpSecret};
use kenshin_core::api::{ErrorBody, ErrorCode};
use kenshin_crypto::{DataKey, WrappedKey};
use kenshin_store::{AccessRow, UserRecord};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use super::ApiJson;
use crate::error::ApiError;
use crate::state::AppState;
use crate::tls::PeerInfo;

pub const SESSION_COOKIE: &str = "kr_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Argon2id takes ~76 ms and 64 MiB; two at a time keeps a login burst from exhausting memory.
fn hashing() -> &'static Semaphore {
    static PERMITS: OnceLock<Semaphore> = OnceLock::new();
    PERMITS.get_or_init(|| Semaphore::new(2))
}

fn invalid() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCredentials,
        "ログインIDまたはパスワード、確認コードが正しくありません / the login, password or code is not correct",
    )
}

fn session_required() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::SessionRequired,
        "ログインしてください / please log in (the session is missing, expired or ended)",
    )
}

/// The TOTP secret of an account is a data key wrapped by the KEK and bound to the account;
/// its first 20 bytes are the RFC 6238 secret.
fn unwrap_totp(state: &AppState, user: &UserRecord) -> Option<TotpSecret> {
    let wrapped = user.totp_secret.clone()?;
    let key = state
        .vault
        .keys()
        .unwrap(
            &WrappedKey::from_bytes(wrapped),
            format!("totp:{}", user.id).as_bytes(),
        )
        .ok()?;
    TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN]).ok()
}

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

async fn log(
    state: &AppState,
    user: Option<&UserRecord>,
    action: &str,
    outcome: &str,
    source: Option<String>,
) {
    log_with(state, user, action, outcome, source, None).await
}

async fn log_with(
    state: &AppState,
    user: Option<&UserRecord>,
    action: &str,
    outcome: &str,
    source: Option<String>,
    detail: Option<&str>,
) {
    state
        .access
        .record(AccessRow {
            seq: 0,
            at: OffsetDateTime::now_utc(),
            org: user.map(|u| u.org_code.clone()),
            actor_kind: if user.is_some() { "user" } else { "anonymous" }.into(),
            actor: user.map(|u| u.login.clone()).unwrap_or_else(|| "-".into()),
            device: None,
            session: None,
            source,
            action: action.into(),
            method: Some("POST".into()),
            path: None,
            objects: user
                .map(|u| vec![format!("user:{}", u.login)])
                .unwrap_or_default(),
            outcome: outcome.into(),
            status: None,
            bytes: None,
            detail: detail.map(str::to_owned),
        })
        .await;
}

/// `POST /auth/login` `{login, password, code?}`.
#[utoipa::path(post, path = "/auth/login", tag = "people",
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

/// The cookie that carries a session: only over HTTPS, never to scripts, never on
/// cross-site requests.
pub(crate) fn session_cookie(token: &SessionToken) -> String {
    format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
        token.as_str()
    )
}

/// Checks a login (password, then TOTP or a recovery code; a person without TOTP yet may
/// only enrol) and opens a session. Every failure is the same `invalid_credentials`; failures
/// count towards the account's throttle and towards the source's (address and network).
///
/// Order matters: a source over its limit is refused before anything is looked at (no work,
/// nothing about any account learnt or changed); a locked account, a disabled one and a wrong
/// password are refused after the same argon2 work but *before* the second factor is tried, so
/// a refused attempt never spends a recovery code or a TOTP step.
pub(crate) async fn authenticate(
    state: &AppState,
    login: &str,
    password: &str,
    code: Option<&str>,
    peer: Option<std::net::SocketAddr>,
) -> Result<(UserRecord, SessionToken, SessionId), ApiError> {
    let state = state.clone();
    let source = peer.map(|p| p.to_string());
    let now = OffsetDateTime::now_utc();
    let source_policy = state.config.source_throttle_policy();
    if let Some(addr) = peer {
        let refused = state
            .login_sources
            .lock()
            .expect("source throttle lock")
            .check(&source_policy, addr.ip(), now);
        if let Err(blocked) = refused {
            let reason = match blocked.source {
                kenshin_auth::Source::Address(_) => "address",
                kenshin_auth::Source::Prefix(..) => "prefix",
            };
            state.metrics.login_throttled(reason);
            // Not verified, so nothing about any account is known or changed.
            log_with(
                &state,
                None,
                "login_failed",
                "denied",
                source,
                Some("source_throttled"),
            )
            .await;
            return Err(invalid());
        }
    }
    let record_source_failure = |state: &AppState| {
        if let Some(addr) = peer {
            let blocked = state
                .login_sources
                .lock()
                .expect("source throttle lock")
                .record_failure(&source_policy, addr.ip(), now);
            for source in blocked {
                tracing::warn!(%source, "failed logins from this source: further logins refused for a while");
            }
        }
    };
    let user = state.db.user_by_login(login).await?;
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let Some(user) = user else {
        // The same work as a real check, so timing does not tell unknown from wrong.
        tokio::task::spawn_blocking(kenshin_auth::dummy_verify)
            .await
            .ok();
        record_source_failure(&state);
        log(&state, None, "login_failed", "denied", source).await;
        return Err(invalid());
    };
    let mut throttle: LoginThrottle = user
        .throttle
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let hash = user.password_hash.clone();
    let password = password.to_owned();
    let password_ok = tokio::task::spawn_blocking(move || {
        kenshin_auth::verify_password(&password, &hash).is_ok()
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let active = user.is_active(now);
    let locked = throttle.check(now).is_err();
    // The second factor is tried only for an attempt that may succeed: a locked or disabled
    // account's attempt must not spend a recovery code or a TOTP step.
    let second_factor_ok = match (password_ok && active && !locked, unwrap_totp(&state, &user)) {
        (true, Some(secret)) => match code {
            Some(code) => {
                match kenshin_auth::verify_totp(&secret, code, now, user.totp_last_step) {
                    Ok(step) => state.db.advance_totp_step(user.id, step).await?,
                    // Not a current TOTP code: perhaps one of the one-time recovery codes.
                    Err(_) => use_recovery_code(&state, &user, code).await?,
                }
            }
            None => false,
        },
        // Not enrolled yet: the session may only enrol (first login).
        (true, None) => true,
        (false, _) => false,
    };
    if !password_ok || !second_factor_ok || !active || locked {
        if !locked {
            throttle.record_failure(&state.config.throttle_policy(), now);
        }
        record_source_failure(&state);
        state
            .db
            .set_throttle(
                user.id,
                &serde_json::to_string(&throttle).unwrap_or_default(),
            )
            .await?;
        log(&state, Some(&user), "login_failed", "denied", source).await;
        return Err(invalid());
    }
    throttle.record_success();
    state
        .db
        .set_throttle(
            user.id,
            &serde_json::to_string(&throttle).unwrap_or_default(),
        )
        .await?;
    let (token, session) = SessionToken::generate().map_err(|_| ApiError::internal())?;
    state
        .db
        .create_session(&session.to_hex(), user.id, source.as_deref(), now)
        .await?;
    log(&state, Some(&user), "login", "success", source).await;
    Ok((user, token, session))
}

/// Spends a recovery code if `code` is one of the account's unused ones.
async fn use_recovery_code(
    state: &AppState,
    user: &UserRecord,
    code: &str,
) -> Result<bool, ApiError> {
    let Some(stored) = user.recovery_codes.as_deref() else {
        return Ok(false);
    };
    let Ok(mut set) = serde_json::from_str::<kenshin_auth::RecoveryCodeSet>(stored) else {
        return Ok(false);
    };
    if kenshin_auth::use_recovery_code(&mut set, &state.server_key, &user.login, code).is_err() {
        return Ok(false);
    }
    let remaining = serde_json::to_string(&set).map_err(|_| ApiError::internal())?;
    let spent = state
        .db
        .swap_recovery_codes(user.id, stored, &remaining)
        .await?;
    if spent {
        tracing::warn!(login = %user.login, remaining = set.remaining(), "recovery code used");
    }
    Ok(spent)
}

/// A request made with a valid session of an active person.
pub struct Person {
    pub user: UserRecord,
    pub session: SessionId,
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    crate::web::cookie(headers, SESSION_COOKIE)
}

/// Whether an organisation's people must present their own client certificate: the
/// operator's always, everyone's under the relay-wide `people_require_certificate`, otherwise
/// where the organisation requires it.
pub(crate) fn person_certificate_required(state: &AppState, org: &kenshin_store::Org) -> bool {
    org.kind == kenshin_core::OrgKind::Operator
        || state.config.people_require_certificate
        || org.browser_certificate_required
}

/// Whether this person must present their own client certificate (the operator's people
/// always; an organisation's people when it requires it), and if so, whether the TLS peer
/// did: registered to this very person, not revoked, not expired.
pub(crate) async fn check_person_certificate(
    state: &AppState,
    peer: Option<&PeerInfo>,
    user: &UserRecord,
    org: &kenshin_store::Org,
) -> Result<(), ApiError> {
    if !person_certificate_required(state, org) {
        return Ok(());
    }
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::ClientCertificateRequired,
            "本人のクライアント証明書が必要です。組織管理者から本人用の証明書（client.p12）を受け取り、ブラウザまたはクライアントに設定して接続し直してください / you must present your own client certificate: get your personal certificate (client.p12) from your organisation's admin, install it in the browser or client, and connect again",
        )
    };
    let der = peer
        .and_then(|p| p.certificate.clone())
        .ok_or_else(refused)?;
    let cert = state
        .db
        .cert_by_fingerprint(&kenshin_pki::fingerprint_sha256(der.as_ref()))
        .await?
        .ok_or_else(refused)?;
    let now = OffsetDateTime::now_utc();
    if cert.user_id != Some(user.id) || cert.revoked_at.is_some() || cert.not_after <= now {
        return Err(refused());
    }
    Ok(())
}

/// Whether the request carries a session cookie at all (to tell "expired" from "never").
pub(crate) fn has_session_cookie(headers: &HeaderMap) -> bool {
    cookie_token(headers).is_some()
}

/// The valid session of an active person on this request, if any (updates its last use).
pub(crate) async fn session_of(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(UserRecord, SessionId)>, ApiError> {
    let Some(token) = cookie_token(&parts.headers) else {
        return Ok(None);
    };
    let Ok(session) = SessionId::from_token(&token) else {
        return Ok(None);
    };
    let hash = session.to_hex();
    let Some(record) = state.db.session(&hash).await? else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    if record.revoked_at.is_some()
        || !state
            .config
            .session_policy()
            .is_valid(record.created_at, record.last_seen, now)
    {
        return Ok(None);
    }
    let user = state.db.user_by_id(record.user_id).await?;
    if !user.is_active(now) {
        return Ok(None);
    }
    state.db.touch_session(&hash, now).await?;
    Ok(Some((user, session)))
}

impl FromRequestParts<AppState> for Person {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (user, session) = session_of(parts, state)
            .await?
            .ok_or_else(session_required)?;
        crate::access::identify(parts, &user.org_code, "user", &user.login);
        Ok(Person { user, session })
    }
}

impl Person {
    /// State-changing requests carry the session's CSRF token.
    fn check_csrf(&self, state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
        let presented = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        kenshin_auth::verify_csrf(&state.server_key, &self.session, presented).map_err(|_| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                "the request lacks this session's CSRF token (x-csrf-token)",
            )
        })
    }
}

/// `GET /auth/me`
#[utoipa::path(get, path = "/auth/me", tag = "people", responses((status = 200, description = "The session's person", body = Me), (status = 401, description = "No valid session (session_required)", body = ErrorBody)))]
pub async fn whoami(State(state): State<AppState>, person: Person) -> Json<Me> {
    Json(me(&state, &person.user, &person.session))
}

/// `POST /auth/logout`
#[utoipa::path(post, path = "/auth/logout", tag = "people", responses((status = 204, description = "The session is ended"),
    (status = 401, description = "No valid session (session_required)", body = ErrorBody),
    (status = 403, description = "No CSRF token (x-csrf-token)", body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    person.check_csrf(&state, &headers)?;
    end_session(&state, &person).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends the person's session server-side.
pub(crate) async fn end_session(state: &AppState, person: &Person) -> Result<(), ApiError> {
    state
        .db
        .revoke_session(&person.session.to_hex(), OffsetDateTime::now_utc())
        .await?;
    log(state, Some(&person.user), "logout", "success", None).await;
    Ok(())
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Enrolment {
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// `POST /auth/totp/enroll`: a new secret (not active until confirmed with a code).
#[utoipa::path(post, path = "/auth/totp/enroll", tag = "people", responses((status = 200, description = "otpauth URI and QR code (SVG)", body = Enrolment),
    (status = 401, description = "No valid session (session_required)", body = ErrorBody),
    (status = 403, description = "No CSRF token (x-csrf-token)", body = ErrorBody),
    (status = 409, description = "A second factor is already enrolled", body = ErrorBody)))]
pub async fn totp_enroll(
    State(state): State<AppState>,
    person: Person,
    headers: HeaderMap,
) -> Result<Json<Enrolment>, ApiError> {
    person.check_csrf(&state, &headers)?;
    Ok(Json(begin_enrolment(&state, &person).await?))
}

/// The enrolment pending for this session, shown again (a page reload must not change
/// the QR code the person may already have scanned), or a new one.
pub(crate) async fn current_enrolment(
    state: &AppState,
    person: &Person,
) -> Result<Enrolment, ApiError> {
    let pending = state
        .pending_totp
        .lock()
        .map_err(|_| ApiError::internal())?
        .get(&person.session.to_hex())
        .cloned();
    let Some(wrapped) = pending else {
        return begin_enrolment(state, person).await;
    };
    let key = state
        .vault
        .keys()
        .unwrap(
            &WrappedKey::from_bytes(wrapped),
            format!("pending-totp:{}", person.session.to_hex()).as_bytes(),
        )
        .map_err(|_| ApiError::internal())?;
    let secret = TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN])
        .map_err(|_| ApiError::internal())?;
    enrolment_of(&secret, &person.user)
}

fn enrolment_of(secret: &TotpSecret, user: &UserRecord) -> Result<Enrolment, ApiError> {
    let uri = kenshin_auth::totp_uri(
        secret,
        &user.login,
        &user.org_code,
        kenshin_auth::TotpIssuer::Japanese,
    )
    .map_err(|e| ApiError::invalid(e.to_string()))?;
    let svg = kenshin_auth::totp_qr_svg(&uri).map_err(|_| ApiError::internal())?;
    Ok(Enrolment {
        otpauth_uri: uri.to_string(),
        qr_svg: svg.to_string(),
    })
}

/// A new TOTP secret for the person, kept (wrapped) for this session until confirmed.
pub(crate) async fn begin_enrolment(
    state: &AppState,
    person: &Person,
) -> Result<Enrolment, ApiError> {
    if person.user.totp_secret.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::InvalidState,
            "a second factor is already enrolled; an administrator must reset it first",
        ));
    }
    let key = DataKey::generate().map_err(|_| ApiError::internal())?;
    let secret = TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN])
        .map_err(|_| ApiError::internal())?;
    let enrolment = enrolment_of(&secret, &person.user)?;
    let wrapped = state
        .vault
        .keys()
        .wrap(
            &key,
            format!("pending-totp:{}", person.session.to_hex()).as_bytes(),
        )
        .map_err(|_| ApiError::internal())?;
    state
        .pending_totp
        .lock()
        .map_err(|_| ApiError::internal())?
        .insert(person.session.to_hex(), wrapped.as_bytes().to_vec());
    Ok(enrolment)
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
#[utoipa::path(post, path = "/auth/totp/confirm", tag = "people",
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
    person.check_csrf(&state, &headers)?;
    Ok(Json(RecoveryCodes {
        recovery_codes: finish_enrolment(&state, &person, &request.code).await?,
    }))
}

/// Confirms the pending TOTP secret with a code and enrols it; returns the recovery codes
/// (shown once).
pub(crate) async fn finish_enrolment(
    state: &AppState,
    person: &Person,
    code: &str,
) -> Result<Vec<String>, ApiError> {
    let pending = state
        .pending_totp
        .lock()
        .map_err(|_| ApiError::internal())?
        .get(&person.session.to_hex())
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidState,
                "start with /auth/totp/enroll",
            )
        })?;
    let key = state
        .vault
        .keys()
        .unwrap(
            &WrappedKey::from_bytes(pending),
            format!("pending-totp:{}", person.session.to_hex()).as_bytes(),
        )
        .map_err(|_| ApiError::internal())?;
    let secret = TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN])
        .map_err(|_| ApiError::internal())?;
    let step = kenshin_auth::verify_totp(&secret, code, OffsetDateTime::now_utc(), None)
        .map_err(|_| invalid())?;
    let (codes, set) = kenshin_auth::generate_recovery_codes(&state.server_key, &person.user.login)
        .map_err(|_| ApiError::internal())?;
    let wrapped = state
        .vault
        .keys()
        .wrap(&key, format!("totp:{}", person.user.id).as_bytes())
        .map_err(|_| ApiError::internal())?;
    state
        .db
        .set_totp(
            person.user.id,
            Some(wrapped.as_bytes()),
            Some(&serde_json::to_string(&set).unwrap_or_default()),
        )
        .await?;
    state.db.advance_totp_step(person.user.id, step).await?;
    state
        .pending_totp
        .lock()
        .map_err(|_| ApiError::internal())?
        .remove(&person.session.to_hex());
    Ok(codes.iter().map(|c| c.as_str().to_owned()).collect())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /auth/password {current, new}`: the guideline's rules, checked with the account's
/// own identifiers; problems come back with stable codes and Japanese and English text.
#[utoipa::path(post, path = "/auth/password", tag = "people",
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
    person.check_csrf(&state, &headers)?;
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

/// Changes the person's password after checking the current one (`invalid_credentials`
/// if wrong); the inner `Err` lists what the guideline's rules find wrong with the new one.
pub(crate) async fn replace_password(
    state: &AppState,
    person: &Person,
    current: &str,
    new: &str,
) -> Result<Result<(), Vec<kenshin_auth::PasswordProblem>>, ApiError> {
    let user = &person.user;
    let hash = user.password_hash.clone();
    let current = current.to_owned();
    let _permit = hashing()
        .acquire()
        .await
        .map_err(|_| ApiError::internal())?;
    let ok =
        tokio::task::spawn_blocking(move || kenshin_auth::verify_password(&current, &hash).is_ok())
            .await
            .map_err(|_| ApiError::internal())?;
    if !ok {
        return Err(invalid());
    }
    let names: Vec<&str> = user.display_name.split_whitespace().collect();
    let context = kenshin_auth::PasswordContext {
        login_id: &user.login,
        name_parts: &names,
        org_code: &user.org_code,
        second_factor_enrolled: user.totp_secret.is_some(),
    };
    if let Err(problems) = kenshin_auth::check_password(new, &context) {
        return Ok(Err(problems));
    }
    let new = new.to_owned();
    let hash = tokio::task::spawn_blocking(move || kenshin_auth::hash_password(&new))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|_| ApiError::internal())?;
    state.db.set_password(user.id, &hash, false).await?;
    Ok(Ok(()))
}
