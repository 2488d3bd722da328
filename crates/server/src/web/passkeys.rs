//! Passkeys in the pages: the options the page's script hands to the browser's WebAuthn
//! (`/login/passkey`, `/account/passkeys/options`, JSON), and the forms that register and
//! remove one on `/account`. The login itself is `POST /login` with the passkey's answer in
//! place of the code (`setup::login`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use serde::Deserialize;
use serde_json::json;

use super::WebPerson;
use crate::request::cookie;
use crate::service::{passkeys, Error, Refusal};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginOptionsRequest {
    #[serde(rename = "_csrf")]
    csrf: String,
    login: String,
}

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

/// `POST /login/passkey` (JSON `{_csrf, login}`): the options for `navigator.credentials.get`
/// and the ceremony's id, for the login form's passkey button.
pub async fn login_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<LoginOptionsRequest>,
) -> Response {
    let expected = cookie(&headers, super::setup::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !kenshin_crypto::constant_time_eq(expected.as_bytes(), request.csrf.as_bytes())
        || request.login.len() > 64
    {
        return json_error(StatusCode::FORBIDDEN, "login form expired");
    }
    match passkeys::begin_login(&state, &request.login).await {
        Ok((ceremony, options)) => {
            Json(json!({"ceremony": ceremony, "options": options})).into_response()
        }
        Err(Error::Refused(Refusal::PasskeysOff)) => {
            json_error(StatusCode::CONFLICT, "passkeys are off")
        }
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

/// `POST /account/passkeys/options` (header `x-csrf-token`): the options for
/// `navigator.credentials.create`.
pub async fn registration_options(
    State(state): State<AppState>,
    web: WebPerson,
    headers: HeaderMap,
) -> Response {
    let csrf = headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !web.csrf_ok(&state, csrf) {
        return json_error(StatusCode::FORBIDDEN, "csrf");
    }
    match passkeys::begin_registration(&state, &web.person()).await {
        Ok(options) => Json(options).into_response(),
        Err(Error::Refused(refusal)) => json_error(
            StatusCode::CONFLICT,
            &super::notifications::in_language(&refusal.to_string(), web.lang),
        ),
        Err(_) => json_error(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[derive(Deserialize)]
pub struct RegisterForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    credential: String,
}

/// `POST /account/passkeys`: finishes a registration (the page's script filled in the
/// browser's answer).
pub async fn register(
    State(state): State<AppState>,
    web: WebPerson,
    Form(form): Form<RegisterForm>,
) -> Response {
    if !web.csrf_ok(&state, &form.csrf) {
        return web.csrf_refused(&state);
    }
    let result = if form.credential.is_empty() {
        Err(Error::Refused(Refusal::PasskeyCeremony))
    } else {
        passkeys::finish_registration(
            &state,
            &web.person(),
            &form.password,
            &form.label,
            &form.credential,
        )
        .await
    };
    match result {
        Ok(_) => Redirect::to("/account?passkey=added#passkeys").into_response(),
        Err(Error::Refused(Refusal::InvalidCredentials)) => {
            super::account::page_with_passkey_error(
                &state,
                &web,
                None,
                Some("account.passkey_wrong_password"),
            )
            .await
        }
        Err(Error::Refused(refusal)) => {
            let text = super::notifications::in_language(&refusal.to_string(), web.lang);
            super::account::page_with_passkey_error(&state, &web, Some(text), None).await
        }
        Err(err) => super::api_error_page(&state, &web, err),
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    id: String,
}

/// `POST /account/passkeys/remove`
pub async fn remove(
    State(state): State<AppState>,
    web: WebPerson,
    Form(form): Form<RemoveForm>,
) -> Response {
    if !web.csrf_ok(&state, &form.csrf) {
        return web.csrf_refused(&state);
    }
    match passkeys::remove(&state, &web.person(), &form.id).await {
        Ok(()) => Redirect::to("/account?passkey=removed#passkeys").into_response(),
        Err(err) => super::api_error_page(&state, &web, err),
    }
}
