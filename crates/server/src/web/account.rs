//! The person's own account: who they are, when and from where they last logged in, and
//! changing their own password (the current password and a code from their authenticator;
//! every other session of theirs ends).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;
use serde_json::json;

use super::{html, WebPerson};
use crate::service::sessions;
use crate::service::Refusal;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct AccountQuery {
    changed: Option<u64>,
    notify: Option<String>,
    passkey: Option<String>,
}

/// `GET /account`
pub async fn page(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<AccountQuery>,
) -> Response {
    let flash = query.changed.map(|ended| (ended, "account.changed"));
    let mut page = account_page(&state, &person, StatusCode::OK, flash, None, Vec::new());
    page.notify_saved = query.notify.is_some();
    page.passkey_done = match query.passkey.as_deref() {
        Some("added") => Some("account.passkey_added"),
        Some("removed") => Some("account.passkey_removed"),
        _ => None,
    };
    page.render().await
}

/// The account page with why a passkey was not registered (a refusal's words, or a text key).
pub(super) async fn page_with_passkey_error(
    state: &AppState,
    web: &WebPerson,
    text: Option<String>,
    key: Option<&'static str>,
) -> Response {
    let text = text.or_else(|| key.map(|k| kenshin_ui::text(web.lang, k).to_owned()));
    refused_page(state, web, |page| page.passkey_error = text).await
}

/// The account page answering a refused form (422), as `refused` marks it.
async fn refused_page(
    state: &AppState,
    web: &WebPerson,
    refused: impl FnOnce(&mut AccountPage<'_>),
) -> Response {
    let mut page = account_page(
        state,
        web,
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
        None,
        Vec::new(),
    );
    refused(&mut page);
    page.render().await
}

/// The account page with a refused notification setting's reason.
pub(super) async fn page_with_notice_error(
    state: &AppState,
    web: &WebPerson,
    problem: String,
) -> Response {
    refused_page(state, web, |page| page.notify_error = Some(problem)).await
}

/// The account page as one answer builds it.
struct AccountPage<'a> {
    state: &'a AppState,
    web: &'a WebPerson,
    status: StatusCode,
    flash: Option<(u64, &'a str)>,
    error: Option<&'a str>,
    problems: Vec<String>,
    /// New recovery codes, shown on this answer only.
    codes: Option<Vec<String>>,
    /// The code given to make new recovery codes was not right.
    codes_error: bool,
    /// The notification settings were just saved.
    notify_saved: bool,
    /// Why the notification settings were refused.
    notify_error: Option<String>,
    /// A passkey was just added or removed (a text key).
    passkey_done: Option<&'a str>,
    /// Why a passkey was not registered.
    passkey_error: Option<String>,
}

fn account_page<'a>(
    state: &'a AppState,
    web: &'a WebPerson,
    status: StatusCode,
    flash: Option<(u64, &'a str)>,
    error: Option<&'a str>,
    problems: Vec<String>,
) -> AccountPage<'a> {
    AccountPage {
        state,
        web,
        status,
        flash,
        error,
        problems,
        codes: None,
        codes_error: false,
        notify_saved: false,
        notify_error: None,
        passkey_done: None,
        passkey_error: None,
    }
}

impl AccountPage<'_> {
    async fn render(self) -> Response {
        let (state, web) = (self.state, self.web);
        let mut context = web.context(state, "page.account");
        let user = web.user();
        context["account"] = json!({
            "login": user.login,
            "name": user.display_name,
            "role": user.role,
        });
        context["previous_login"] = web.previous_login(state).await;
        if let Some((ended, key)) = self.flash {
            context["flash"] = json!({"kind": "ok", "key": key});
            context["sessions_ended"] = ended.into();
        }
        context["error"] = self.error.into();
        context["problems"] = self.problems.into();
        context["recovery_codes"] = self.codes.into();
        context["codes_error"] = self.codes_error.into();
        if let Err(err) = super::notifications::account_context(state, web, &mut context).await {
            return super::api_error_page(state, web, err);
        }
        context["passkeys_enabled"] = crate::service::passkeys::enabled(state).into();
        match crate::service::passkeys::list(state, &web.person()).await {
            Ok(passkeys) => {
                context["passkeys"] = passkeys
                    .iter()
                    .map(|p| {
                        let at = |t: time::OffsetDateTime| {
                            t.format(&time::format_description::well_known::Rfc3339)
                                .unwrap_or_default()
                        };
                        json!({
                            "id": p.id,
                            "label": p.label,
                            "created_at": at(p.created_at),
                            "last_used_at": p.last_used_at.map(at),
                        })
                    })
                    .collect::<Vec<_>>()
                    .into();
            }
            Err(err) => return super::api_error_page(state, web, err),
        }
        context["passkey_done"] = self.passkey_done.into();
        context["passkey_error"] = self.passkey_error.into();
        context["notify_saved"] = self.notify_saved.into();
        context["notify_error"] = self.notify_error.into();
        html(state, self.status, "account.html", web.lang, context)
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    code: String,
}

/// `POST /account/recovery-codes`: new recovery codes, shown on this page once.
pub async fn recovery_codes(
    State(state): State<AppState>,
    web: WebPerson,
    Form(form): Form<CodeForm>,
) -> Response {
    if !web.csrf_ok(&state, &form.csrf) {
        return web.csrf_refused(&state);
    }
    match sessions::regenerate_recovery_codes(&state, &web.person(), &form.code).await {
        Ok(codes) => {
            let mut page = account_page(&state, &web, StatusCode::OK, None, None, Vec::new());
            // The codes are shown once, on this answer only.
            page.codes = Some(codes);
            page.render().await
        }
        Err(err) if err.refusal() == Some(&Refusal::InvalidCredentials) => {
            let mut page = account_page(
                &state,
                &web,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                Vec::new(),
            );
            page.codes_error = true;
            page.render().await
        }
        Err(err) => super::api_error_page(&state, &web, err),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    current: String,
    new: String,
    again: String,
    code: String,
}

/// `POST /account/password`
pub async fn change_password(
    State(state): State<AppState>,
    web: WebPerson,
    Form(form): Form<PasswordForm>,
) -> Response {
    if !web.csrf_ok(&state, &form.csrf) {
        return web.csrf_refused(&state);
    }
    if form.new != form.again {
        return account_page(
            &state,
            &web,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("account.mismatch"),
            Vec::new(),
        )
        .render()
        .await;
    }
    let person = web.person();
    match sessions::change_own_password(&state, &person, &form.current, &form.new, &form.code).await
    {
        Ok(Ok(ended)) => Redirect::to(&format!("/account?changed={ended}")).into_response(),
        Ok(Err(problems)) => {
            let messages = super::password_problems(&problems, web.lang);
            account_page(
                &state,
                &web,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                None,
                messages,
            )
            .render()
            .await
        }
        Err(err) if err.refusal() == Some(&Refusal::InvalidCredentials) => {
            account_page(
                &state,
                &web,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some("account.wrong"),
                Vec::new(),
            )
            .render()
            .await
        }
        Err(err) => super::api_error_page(&state, &web, err),
    }
}

/// `POST /account/notifications`: the person's address, language and topics (`topic` once per
/// chosen topic).
pub async fn save_notifications(
    State(state): State<AppState>,
    web: WebPerson,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| super::notifications::first(&fields, name);
    if !web.csrf_ok(&state, field("_csrf")) {
        return web.csrf_refused(&state);
    }
    let topics = super::notifications::every(&fields, "topic");
    match crate::service::notifications::set_my_settings(
        &state,
        &web.caller,
        field("email"),
        kenshin_notify::Language::from_code(field("language")),
        &topics,
    )
    .await
    {
        Ok(_) => Redirect::to("/account?notify=saved#notifications").into_response(),
        Err(crate::service::Error::Refused(Refusal::BadNotification(problem))) => {
            page_with_notice_error(
                &state,
                &web,
                super::notifications::problem_text(&problem, web.lang),
            )
            .await
        }
        Err(err) => super::api_error_page(&state, &web, err),
    }
}
