//! Notifications in the pages: a person's own settings on `/account` (address, language,
//! topics) and an organisation's webhook endpoints and recent notifications on
//! `/organisation` (add with the secret shown once, test send, remove).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use kenshin_auth::{Action, Resource};
use kenshin_notify::{Language, Topic};
use kenshin_ui::Lang;
use serde_json::{json, Value};

use super::WebPerson;
use crate::service::notifications;
use crate::service::{Error, Refusal};
use crate::state::AppState;

fn language(lang: Lang) -> Language {
    match lang {
        Lang::En => Language::En,
        _ => Language::Ja,
    }
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The account page's notification part (`notify` in its context).
pub(super) async fn account_context(
    state: &AppState,
    web: &WebPerson,
    context: &mut Value,
) -> Result<(), Error> {
    let settings = notifications::my_settings(state, &web.caller).await?;
    let lang = language(web.lang);
    context["notify"] = json!({
        "email": settings.email,
        "language": settings.language.as_str(),
        "defaults": settings.defaults,
        "email_enabled": settings.email_enabled,
        "topics": Topic::CHOOSABLE.iter().map(|t| json!({
            "code": t.as_str(),
            "label": t.label(lang),
            "chosen": settings.topics.contains(t),
        })).collect::<Vec<_>>(),
    });
    Ok(())
}

/// A form field's first value ("" when absent): forms with repeated fields (one `topic` per
/// ticked box) are read as pairs.
fn first<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated form field.
fn every(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// `POST /account/notifications`: the person's address, language and topics (`topic` once per
/// chosen topic).
pub async fn save_account(
    State(state): State<AppState>,
    web: WebPerson,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| first(&fields, name);
    if !web.csrf_ok(&state, field("_csrf")) {
        return web.csrf_refused(&state);
    }
    let topics = every(&fields, "topic");
    match notifications::set_my_settings(
        &state,
        &web.caller,
        field("email"),
        Language::from_code(field("language")),
        &topics,
    )
    .await
    {
        Ok(_) => Redirect::to("/account?notify=saved#notifications").into_response(),
        Err(Error::Refused(Refusal::BadNotification(problem))) => {
            super::account::page_with_notice_error(&state, &web, problem_text(&problem, web.lang))
                .await
        }
        Err(err) => super::api_error_page(&state, &web, err),
    }
}

/// A refusal's words in the page language (the service's text is both, `ja / en`).
fn problem_text(problem: &crate::service::NotificationProblem, lang: Lang) -> String {
    in_language(&problem.to_string(), lang)
}

/// The half of a `日本語 / English` text in the page language.
pub(super) fn in_language(text: &str, lang: Lang) -> String {
    let mut halves = text.splitn(2, " / ");
    let ja = halves.next().unwrap_or_default().to_owned();
    let en = halves
        .next()
        .map(str::to_owned)
        .unwrap_or_else(|| ja.clone());
    match lang {
        Lang::En => en,
        _ => ja,
    }
}

/// The organisation page's webhook part (`webhooks`, `notifications`, `topics`).
pub(super) async fn organisation_context(
    state: &AppState,
    person: &WebPerson,
    context: &mut Value,
) -> Result<(), Error> {
    let lang = language(person.lang);
    let endpoints = notifications::endpoints(state, &person.caller).await?;
    context["webhooks"] = endpoints
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "url": e.url,
                "topics": e.topics.iter().map(|t| t.label(lang)).collect::<Vec<_>>(),
                "created_at": rfc3339(e.created_at),
                "created_by": e.created_by,
            })
        })
        .collect::<Vec<_>>()
        .into();
    context["topics"] = Topic::CHOOSABLE
        .iter()
        .map(|t| json!({"code": t.as_str(), "label": t.label(lang)}))
        .collect::<Vec<_>>()
        .into();
    let recent = notifications::recent(state, &person.caller, 20).await?;
    context["notifications"] = recent
        .into_iter()
        .map(|n| {
            let topic = n
                .record
                .topic
                .parse::<Topic>()
                .map(|t| t.label(lang).to_owned())
                .unwrap_or(n.record.topic.clone());
            let last = n.attempts.last();
            json!({
                "id": n.record.id,
                "topic": topic,
                "channel": n.record.channel,
                "target": n.record.target,
                "state": n.record.state,
                "created_at": rfc3339(n.record.created_at),
                "attempts": n.attempts.len(),
                "detail": last.map(|a| a.detail.clone()),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Ok(())
}

/// `POST /organisation/webhooks`: add (`url`, `topic`…), test (`test`: an id) or remove
/// (`remove`: an id) an endpoint.
pub async fn webhooks(
    State(state): State<AppState>,
    person: WebPerson,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| first(&fields, name);
    if let Some(refused) = person.refuse_post(&state, field("_csrf"), Resource::Org, Action::Update)
    {
        return refused;
    }
    if !field("remove").is_empty() {
        return match notifications::remove_endpoint(&state, &person.caller, field("remove")).await {
            Ok(()) => Redirect::to("/organisation?done=webhook_removed#webhooks").into_response(),
            Err(err) => super::api_error_page(&state, &person, err),
        };
    }
    if !field("test").is_empty() {
        return match notifications::test_endpoint(&state, &person.caller, field("test")).await {
            Ok(_) => Redirect::to("/organisation?done=webhook_test#webhooks").into_response(),
            Err(err) => super::api_error_page(&state, &person, err),
        };
    }
    let topics = every(&fields, "topic");
    match notifications::add_endpoint(&state, &person.caller, field("url"), &topics).await {
        Ok((endpoint, secret)) => {
            let mut extra = serde_json::Map::new();
            // The secret is shown on this answer only.
            extra.insert(
                "new_webhook".into(),
                json!({"url": endpoint.url, "secret": secret.expose_text().as_str()}),
            );
            super::admin::organisation_page_with(
                &state,
                &person,
                StatusCode::CREATED,
                Some("notify.webhook_added"),
                None,
                extra,
            )
            .await
        }
        Err(Error::Refused(Refusal::BadNotification(problem))) => {
            let mut extra = serde_json::Map::new();
            extra.insert(
                "webhook_problem".into(),
                json!({"text": problem_text(&problem, person.lang), "url": field("url")}),
            );
            super::admin::organisation_page_with(
                &state,
                &person,
                StatusCode::BAD_REQUEST,
                None,
                None,
                extra,
            )
            .await
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}
