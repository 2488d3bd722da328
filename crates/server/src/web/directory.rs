//! The operator console's directory forms: a new organisation with its first admin (the
//! one-time password shown on the answer only), routes created, changed (pass-through ↔
//! convert) and deleted, insurers delegated to agents. The rules are `service::directory`'s.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use kenshin_auth::{Action, Resource};
use kenshin_core::RouteMode;
use kenshin_ui::Lang;
use serde::Deserialize;
use serde_json::json;

use super::WebPerson;
use crate::service::directory::{self, OrgForm};
use crate::service::{Error, Refusal};
use crate::state::AppState;

/// A refusal's words in the page language (the service's text is `ja / en`).
fn words(err: &Error, lang: Lang) -> Option<String> {
    let text = match err {
        Error::Refused(Refusal::Directory(problem)) => problem.to_string(),
        Error::Account(crate::service::AccountProblem::Login) => {
            "ログインIDは半角の英数字と . _ - @ で 64 文字までです / a login id is 1 to 64 characters of A-Z a-z 0-9 . _ - @".into()
        }
        Error::Account(crate::service::AccountProblem::Name) => {
            "氏名は 1〜100 文字で入力してください / a name is 1 to 100 characters".into()
        }
        Error::Account(problem) => problem.to_string(),
        _ => return None,
    };
    Some(super::notifications::in_language(&text, lang))
}

/// The console again, with the reason a change was refused.
async fn refused(state: &AppState, person: &WebPerson, err: Error) -> Response {
    match words(&err, person.lang) {
        Some(text) => {
            let mut extra = serde_json::Map::new();
            extra.insert("directory_error".into(), text.into());
            super::pages::ops_page(state, person, StatusCode::BAD_REQUEST, extra).await
        }
        None => super::api_error_page(state, person, err),
    }
}

#[derive(Deserialize)]
pub struct NewOrgForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    code: String,
    kind: String,
    name: String,
    #[serde(default)]
    insurer_numbers: String,
    #[serde(default)]
    admin_login: String,
    #[serde(default)]
    admin_name: String,
}

/// `POST /ops/orgs`
pub async fn create_org(
    State(state): State<AppState>,
    person: WebPerson,
    Form(form): Form<NewOrgForm>,
) -> Response {
    if let Some(refused) = person.refuse_post(&state, &form.csrf, Resource::Org, Action::Create) {
        return refused;
    }
    let org = OrgForm {
        code: form.code,
        kind: form.kind,
        name: form.name,
        insurer_numbers: form.insurer_numbers,
    };
    let admin = (!form.admin_login.trim().is_empty())
        .then(|| (form.admin_login.trim(), form.admin_name.trim()));
    match directory::create_org(&state, &person.caller, &org, admin).await {
        Ok(created) => {
            let mut extra = serde_json::Map::new();
            // The admin's one-time password is shown on this answer only.
            extra.insert(
                "created".into(),
                json!({
                    "code": created.org.code.to_string(),
                    "name": created.org.name,
                    "admin": created.admin.as_ref().map(|(user, password)| json!({
                        "login": user.login,
                        "password": password.as_str(),
                    })),
                }),
            );
            super::pages::ops_page(&state, &person, StatusCode::CREATED, extra).await
        }
        Err(err) => refused(&state, &person, err).await,
    }
}

#[derive(Deserialize)]
pub struct RouteForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    /// `create`, `update` or `delete`.
    #[serde(rename = "do")]
    action: String,
    from: String,
    to: String,
    #[serde(default)]
    mode: String,
}

/// `POST /ops/routes`
pub async fn routes(
    State(state): State<AppState>,
    person: WebPerson,
    Form(form): Form<RouteForm>,
) -> Response {
    let action = match form.action.as_str() {
        "create" => Action::Create,
        "delete" => Action::Delete,
        _ => Action::Update,
    };
    if let Some(refused) = person.refuse_post(&state, &form.csrf, Resource::Route, action) {
        return refused;
    }
    let mode = match form.mode.as_str() {
        "convert" => RouteMode::Convert,
        _ => RouteMode::PassThrough,
    };
    let caller = &person.caller;
    let (result, done) = match action {
        Action::Create => (
            directory::create_route(&state, caller, &form.from, &form.to, mode)
                .await
                .map(|_| ()),
            "route_created",
        ),
        Action::Delete => (
            directory::delete_route(&state, caller, &form.from, &form.to).await,
            "route_deleted",
        ),
        _ => (
            directory::update_route(&state, caller, &form.from, &form.to, mode)
                .await
                .map(|_| ()),
            "route_updated",
        ),
    };
    match result {
        Ok(()) => Redirect::to(&format!("/ops?done={done}#routes")).into_response(),
        Err(err) => refused(&state, &person, err).await,
    }
}

#[derive(Deserialize)]
pub struct DelegationForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    insurer: String,
    agent: String,
}

/// `POST /ops/delegations`
pub async fn delegate(
    State(state): State<AppState>,
    person: WebPerson,
    Form(form): Form<DelegationForm>,
) -> Response {
    if let Some(refused) = person.refuse_post(&state, &form.csrf, Resource::Org, Action::Update) {
        return refused;
    }
    match directory::delegate(&state, &person.caller, &form.insurer, &form.agent).await {
        Ok(()) => Redirect::to("/ops?done=delegated#delegation").into_response(),
        Err(err) => refused(&state, &person, err).await,
    }
}
