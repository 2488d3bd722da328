//! Logging in and out, and the first-login setup (TOTP enrolment, then the password).

use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use kenshin_ui::Lang;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{error_page, html, CsrfForm, PageLang};
use crate::error::ApiError;
use crate::request::cookie;
use crate::request::{session_cookie, SESSION_COOKIE};
use crate::service::sessions::{self as people, Person};
use crate::service::Refusal;
use crate::state::AppState;
use crate::tls::PeerInfo;

/// The login form's double-submit token: a random value in a cookie and in the form, so a
/// form posted from another site (which cannot read the cookie) is refused.
pub(super) const LOGIN_COOKIE: &str = "kr_login";

#[derive(Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
    bye: Option<String>,
}

fn login_form(
    state: &AppState,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    flash: Option<(&str, &str)>,
    login_value: &str,
    peer: Option<&PeerInfo>,
) -> Response {
    let token = kenshin_auth::SessionToken::generate()
        .map(|(token, _)| token.as_str().to_owned())
        .unwrap_or_default();
    let mut context = json!({
        "title": "page.login",
        "path": "/login",
        "login_csrf": token,
        "error": error,
        "flash": flash.map(|(kind, key)| json!({"kind": kind, "key": key})),
        "login_value": login_value,
        "passkeys_enabled": crate::service::passkeys::enabled(state),
    });
    // Everyone needs their own certificate here, and this connection has none: say so
    // before the person types a password that will not get them in.
    if state.config.people_require_certificate && peer.is_none_or(|p| p.certificate.is_none()) {
        context["certificate_steps"] = json!(super::CERTIFICATE_STEPS);
    }
    let mut response = html(state, status, "login.html", lang, context);
    let cookie = format!("{LOGIN_COOKIE}={token}; Path=/login; Secure; HttpOnly; SameSite=Strict");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `GET /login`
pub async fn login_page(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    peer: Option<axum::Extension<PeerInfo>>,
    Query(query): Query<LoginQuery>,
) -> Response {
    let flash = if query.expired.is_some() {
        Some(("warn", "session.expired"))
    } else if query.bye.is_some() {
        Some(("ok", "session.logged_out"))
    } else {
        None
    };
    login_form(
        &state,
        lang,
        StatusCode::OK,
        None,
        flash,
        "",
        peer.as_ref().map(|p| &p.0),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    login: String,
    password: String,
    #[serde(default)]
    code: String,
    /// A passkey's answer instead of a code (filled in by the page's script), and the
    /// ceremony it answers.
    #[serde(default)]
    passkey: String,
    #[serde(default)]
    passkey_ceremony: String,
}

/// `POST /login`: the same checks and answers as `POST /auth/login`.
pub async fn login(
    State(state): State<AppState>,
    PageLang(lang): PageLang,
    peer: Option<axum::Extension<PeerInfo>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !kenshin_crypto::constant_time_eq(expected.as_bytes(), form.csrf.as_bytes())
    {
        return login_form(
            &state,
            lang,
            StatusCode::FORBIDDEN,
            Some("login.expired_form"),
            None,
            &form.login,
            peer.as_ref().map(|p| &p.0),
        );
    }
    let code = form.code.trim();
    let second = if form.passkey.is_empty() {
        people::SecondFactor::Code((!code.is_empty()).then_some(code))
    } else {
        people::SecondFactor::Passkey {
            ceremony: &form.passkey_ceremony,
            credential: &form.passkey,
        }
    };
    match people::authenticate_with(
        &state,
        form.login.trim(),
        &form.password,
        second,
        peer.as_ref().map(|p| p.addr),
    )
    .await
    {
        Ok((_, token, _)) => {
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&session_cookie(&token)) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(err) if err.refusal() == Some(&Refusal::InvalidCredentials) => login_form(
            &state,
            lang,
            StatusCode::UNAUTHORIZED,
            Some("login.failed"),
            None,
            &form.login,
            peer.as_ref().map(|p| &p.0),
        ),
        Err(err) => error_page(
            &state,
            lang,
            None,
            ApiError::from(err).status,
            "error.internal",
        ),
    }
}

/// A person with a session, set up or not (the setup pages and logout).
pub struct SetupPerson(Person, Lang);

impl axum::extract::FromRequestParts<AppState> for SetupPerson {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = super::lang_of(&parts.headers);
        match crate::request::session_of(parts, state).await {
            Ok(Some((user, session))) => {
                crate::access::identify(parts, &user.org_code, "user", &user.login);
                Ok(SetupPerson(Person { user, session }, lang))
            }
            Ok(None) => Err(Redirect::to("/login").into_response()),
            Err(err) => Err(error_page(state, lang, None, err.status, "error.internal")),
        }
    }
}

fn csrf_ok(state: &AppState, person: &Person, presented: &str) -> bool {
    kenshin_auth::verify_csrf(&state.server_key, &person.session, presented).is_ok()
}

/// `POST /logout`: ends the session server-side and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    SetupPerson(person, lang): SetupPerson,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !csrf_ok(&state, &person, &form.csrf) {
        return error_page(&state, lang, None, StatusCode::FORBIDDEN, "error.csrf");
    }
    if let Err(err) = people::end_session(&state, &person).await {
        return error_page(
            &state,
            lang,
            None,
            ApiError::from(err).status,
            "error.internal",
        );
    }
    let mut response = Redirect::to("/login?bye=1").into_response();
    let clear = format!(
        "{}=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Strict",
        SESSION_COOKIE
    );
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

fn setup_context(state: &AppState, person: &Person, step: &str) -> Value {
    json!({
        "title": "page.setup",
        "path": "/setup",
        "step": step,
        "csrf": kenshin_auth::csrf_token(&state.server_key, &person.session),
    })
}

/// The TOTP step: the pending secret of this session (or a new one) as a QR code and text.
async fn totp_step(
    state: &AppState,
    person: &Person,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    match people::current_enrolment(state, person).await {
        Ok(enrolment) => {
            let mut context = setup_context(state, person, "totp");
            context["qr_svg"] = enrolment.qr_svg.into();
            context["secret"] = secret_of(&enrolment.otpauth_uri).into();
            context["error"] = error.into();
            html(state, status, "setup.html", lang, context)
        }
        Err(err) => error_page(
            state,
            lang,
            None,
            ApiError::from(err).status,
            "error.internal",
        ),
    }
}

/// The base32 secret of an otpauth URI, for typing it in by hand.
fn secret_of(uri: &str) -> String {
    uri.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("secret="))
        .unwrap_or_default()
        .to_owned()
}

fn password_step(
    state: &AppState,
    person: &Person,
    lang: Lang,
    status: StatusCode,
    recovery_codes: &[String],
    error: Option<&str>,
    problems: Vec<String>,
) -> Response {
    let mut context = setup_context(state, person, "password");
    context["recovery_codes"] = recovery_codes.into();
    context["error"] = error.into();
    context["problems"] = problems.into();
    html(state, status, "setup.html", lang, context)
}

/// `GET /setup`
pub async fn setup_page(
    State(state): State<AppState>,
    SetupPerson(person, lang): SetupPerson,
) -> Response {
    if person.user.totp_secret.is_none() {
        totp_step(&state, &person, lang, StatusCode::OK, None).await
    } else if person.user.must_change_password {
        password_step(&state, &person, lang, StatusCode::OK, &[], None, Vec::new())
    } else {
        Redirect::to("/").into_response()
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    code: String,
}

/// `POST /setup/totp`: confirms the authenticator with a code; shows the recovery codes.
pub async fn setup_totp(
    State(state): State<AppState>,
    SetupPerson(person, lang): SetupPerson,
    Form(form): Form<CodeForm>,
) -> Response {
    if !csrf_ok(&state, &person, &form.csrf) {
        return error_page(&state, lang, None, StatusCode::FORBIDDEN, "error.csrf");
    }
    if person.user.totp_secret.is_some() {
        return Redirect::to("/setup").into_response();
    }
    match people::finish_enrolment(&state, &person, form.code.trim()).await {
        Ok(codes) => password_step(
            &state,
            &person,
            lang,
            StatusCode::OK,
            &codes,
            None,
            Vec::new(),
        ),
        Err(err) if err.refusal() == Some(&Refusal::InvalidCredentials) => {
            totp_step(
                &state,
                &person,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("setup.totp_failed"),
            )
            .await
        }
        Err(_) => {
            totp_step(
                &state,
                &person,
                lang,
                StatusCode::CONFLICT,
                Some("setup.totp_failed"),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    current: String,
    new: String,
}

/// `POST /setup/password`: the guideline's rules; problems are listed in the page language.
pub async fn setup_password(
    State(state): State<AppState>,
    SetupPerson(person, lang): SetupPerson,
    Form(form): Form<PasswordForm>,
) -> Response {
    if !csrf_ok(&state, &person, &form.csrf) {
        return error_page(&state, lang, None, StatusCode::FORBIDDEN, "error.csrf");
    }
    if person.user.totp_secret.is_none() {
        return Redirect::to("/setup").into_response();
    }
    match people::replace_password(&state, &person, &form.current, &form.new).await {
        Ok(Ok(())) => Redirect::to("/?welcome=1").into_response(),
        Ok(Err(problems)) => {
            let messages = super::password_problems(&problems, lang);
            password_step(
                &state,
                &person,
                lang,
                StatusCode::UNPROCESSABLE_ENTITY,
                &[],
                None,
                messages,
            )
        }
        Err(err) if err.refusal() == Some(&Refusal::InvalidCredentials) => password_step(
            &state,
            &person,
            lang,
            StatusCode::UNPROCESSABLE_ENTITY,
            &[],
            Some("setup.password_wrong"),
            Vec::new(),
        ),
        Err(err) => error_page(
            &state,
            lang,
            None,
            ApiError::from(err).status,
            "error.internal",
        ),
    }
}
