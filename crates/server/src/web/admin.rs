//! An organisation administrator's pages: the organisation's people (invite, disable,
//! enable, reset the second factor) and the audit trail (search and export). The same rules
//! as the API apply — they call the same functions.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use kenshin_auth::{Action, Resource, Role};
use serde::Deserialize;
use serde_json::{json, Value};
use time::{Date, OffsetDateTime, UtcOffset};

use super::{html, page_or_error, CsrfForm, WebPerson};
use crate::error::ApiError;
use crate::service::accounts::{self as users, AccountChange, NewAccount};
use crate::service::Refusal;
use crate::state::AppState;

/// The roles an administrator may give in this organisation.
fn roles_here(person: &WebPerson) -> Vec<&'static str> {
    let kind = crate::service::roles::org_kind(person.caller.org.kind);
    Role::ALL
        .iter()
        .filter(|r| r.org_kinds().contains(kind))
        .map(|r| r.as_str())
        .collect()
}

async fn people_page(
    state: &AppState,
    person: &WebPerson,
    status: StatusCode,
    created: Option<Value>,
    error: Option<String>,
    flash: Option<&str>,
) -> Response {
    let result = async {
        let accounts = users::accounts_of(state, &person.caller).await?;
        let mut context = person.context(state, "page.people");
        context["accounts"] = serde_json::to_value(&accounts).unwrap_or_default();
        context["roles"] = roles_here(person).into();
        context["created"] = created.into();
        context["error_text"] = error.into();
        context["me_login"] = person.user().login.clone().into();
        if let Some(key) = flash {
            context["flash"] = json!({"kind": "ok", "key": key});
        }
        Ok(html(state, status, "people.html", person.lang, context))
    }
    .await;
    page_or_error(state, person, result)
}

#[derive(Deserialize)]
pub struct PeopleQuery {
    done: Option<String>,
}

/// `GET /people`
pub async fn people(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<PeopleQuery>,
) -> Response {
    if !person.may(Resource::User, Action::Read) {
        return person.forbidden(&state);
    }
    let flash = query.done.as_deref().and_then(|done| match done {
        "disable" => Some("people.disabled"),
        "enable" => Some("people.enabled"),
        "reset-totp" => Some("people.totp_reset"),
        _ => None,
    });
    people_page(&state, &person, StatusCode::OK, None, None, flash).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    login: String,
    name: String,
    role: String,
    #[serde(default)]
    valid_until: String,
}

/// `POST /people`: a new account; its one-time initial password is shown on this page only.
pub async fn invite(
    State(state): State<AppState>,
    person: WebPerson,
    Form(form): Form<InviteForm>,
) -> Response {
    if !person.csrf_ok(&state, &form.csrf) {
        return person.csrf_refused(&state);
    }
    let new = NewAccount {
        login: form.login.trim().to_owned(),
        name: form.name.trim().to_owned(),
        role: form.role,
        valid_until: Some(form.valid_until.trim().to_owned()).filter(|d| !d.is_empty()),
    };
    match users::create_in(&state, &person.caller, new).await {
        Ok(created) => {
            let created = serde_json::to_value(&created).unwrap_or_default();
            people_page(
                &state,
                &person,
                StatusCode::CREATED,
                Some(created),
                None,
                None,
            )
            .await
        }
        Err(err) => {
            let err = ApiError::from(err);
            if err.status == StatusCode::BAD_REQUEST || err.status == StatusCode::CONFLICT {
                people_page(
                    &state,
                    &person,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                    Some(err.message),
                    None,
                )
                .await
            } else {
                super::api_error_page(&state, &person, err)
            }
        }
    }
}

/// `POST /people/{login}/disable`: the person's sessions and certificates stop at once.
pub async fn disable(
    state: State<AppState>,
    person: WebPerson,
    login: Path<String>,
    form: Form<CsrfForm>,
) -> Response {
    change(
        state,
        person,
        login,
        form,
        AccountChange::Disable,
        "disable",
    )
    .await
}

/// `POST /people/{login}/enable`
pub async fn enable(
    state: State<AppState>,
    person: WebPerson,
    login: Path<String>,
    form: Form<CsrfForm>,
) -> Response {
    change(state, person, login, form, AccountChange::Enable, "enable").await
}

/// `POST /people/{login}/reset-totp`: the person enrols a new authenticator at next login.
pub async fn reset_totp(
    state: State<AppState>,
    person: WebPerson,
    login: Path<String>,
    form: Form<CsrfForm>,
) -> Response {
    change(
        state,
        person,
        login,
        form,
        AccountChange::ResetTotp,
        "reset-totp",
    )
    .await
}

/// `POST /people/{login}/reset-password`: a new one-time password, shown on this page only;
/// the person's sessions end and they choose a new password at their next login.
pub async fn reset_password(
    State(state): State<AppState>,
    person: WebPerson,
    Path(login): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !person.csrf_ok(&state, &form.csrf) {
        return person.csrf_refused(&state);
    }
    match crate::service::accounts::reset_password(&state, &person.caller, &login).await {
        Ok(reset) => {
            let mut reset = serde_json::to_value(&reset).unwrap_or_default();
            reset["reset"] = true.into();
            people_page(&state, &person, StatusCode::OK, Some(reset), None, None).await
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

async fn change(
    State(state): State<AppState>,
    person: WebPerson,
    Path(login): Path<String>,
    Form(form): Form<CsrfForm>,
    what: AccountChange,
    done: &str,
) -> Response {
    if !person.csrf_ok(&state, &form.csrf) {
        return person.csrf_refused(&state);
    }
    match users::change(&state, &person.caller, &login, what).await {
        Ok(_) => Redirect::to(&format!("/people?done={done}")).into_response(),
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    from: Option<String>,
    to: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    object: Option<String>,
}

/// A `YYYY-MM-DD` day in JST as its first instant (`to`: the next day's), in UTC.
fn jst_day(day: &str, next: bool) -> Option<OffsetDateTime> {
    let date = Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let date = if next { date.next_day()? } else { date };
    let jst = UtcOffset::from_hms(9, 0, 0).ok()?;
    Some(date.midnight().assume_offset(jst).to_offset(UtcOffset::UTC))
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value
        .as_ref()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// `GET /audit`: the organisation's access log, filtered, latest first, with exports in the
/// formats the field uses.
pub async fn audit(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<AuditQuery>,
) -> Response {
    if !person.may(Resource::AuditLog, Action::Read) {
        return person.forbidden(&state);
    }
    let from = non_empty(&query.from).and_then(|d| jst_day(&d, false));
    let to = non_empty(&query.to).and_then(|d| jst_day(&d, true));
    let filter = kenshin_store::AccessFilter {
        org: Some(person.caller.org.code.to_string()),
        from,
        to,
        actor: non_empty(&query.actor),
        action: non_empty(&query.action),
        object: non_empty(&query.object),
        limit: 200,
        ..Default::default()
    };
    let result = async {
        let rows = crate::service::audit::latest(&state, &person.caller, filter.clone()).await?;
        let rows: Vec<Value> = rows
            .into_iter()
            .map(|r| {
                json!({
                    "at": kenshin_core::api::timestamp::format(r.at),
                    "actor": r.actor,
                    "actor_kind": r.actor_kind,
                    "action": r.action,
                    "objects": r.objects,
                    "outcome": r.outcome,
                    "source": r.source,
                })
            })
            .collect();
        // The export links carry the same filters to the API, which streams the files.
        let mut export = url_params(&[
            ("from", from.map(kenshin_core::api::timestamp::format)),
            ("to", to.map(kenshin_core::api::timestamp::format)),
            ("actor", filter.actor.clone()),
            ("action", filter.action.clone()),
            ("object", filter.object.clone()),
        ]);
        if !export.is_empty() {
            export.push('&');
        }
        let mut context = person.context(&state, "page.audit");
        context["rows"] = rows.into();
        context["q"] = json!({
            "from": non_empty(&query.from), "to": non_empty(&query.to),
            "actor": filter.actor, "action": filter.action, "object": filter.object,
        });
        context["export_query"] = export.into();
        context["may_export"] = person.may(Resource::AuditLog, Action::Export).into();
        Ok(html(
            &state,
            StatusCode::OK,
            "audit.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

fn url_params(pairs: &[(&str, Option<String>)]) -> String {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            value.as_ref().map(|v| {
                format!(
                    "{name}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `GET /organisation`: the organisation's details, its routes, and its login policy.
pub async fn organisation(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<PeopleQuery>,
) -> Response {
    if !person.may(Resource::Org, Action::Read) {
        return person.forbidden(&state);
    }
    let flash = query.done.as_deref().map(|done| match done {
        "required" => "org.required_on",
        "formats" => "org.formats_saved",
        "recipient_added" => "org.recipient_saved",
        "recipient_removed" => "org.recipient_removed",
        "webhook_removed" => "notify.webhook_removed",
        "webhook_test" => "notify.webhook_test_queued",
        _ => "org.required_off",
    });
    organisation_page(&state, &person, StatusCode::OK, flash, None).await
}

async fn organisation_page(
    state: &AppState,
    person: &WebPerson,
    status: StatusCode,
    flash: Option<&str>,
    error: Option<&str>,
) -> Response {
    organisation_page_with(state, person, status, flash, error, serde_json::Map::new()).await
}

/// The organisation page with `extra` in its context (a new webhook secret, shown once; the
/// value a refused form carried).
pub(super) async fn organisation_page_with(
    state: &AppState,
    person: &WebPerson,
    status: StatusCode,
    flash: Option<&str>,
    error: Option<&str>,
    extra: serde_json::Map<String, Value>,
) -> Response {
    let result = async {
        let own = crate::service::operations::own_organisation(state, &person.caller).await?;
        let org = own.org;
        let code = org.code.to_string();
        let routes: Vec<Value> = own
            .routes
            .into_iter()
            .map(|(r, from_name, to_name)| {
                json!({
                    "from": r.sender.to_string(), "from_name": from_name,
                    "to": r.receiver.to_string(), "to_name": to_name,
                    "mode": r.mode.as_str(),
                })
            })
            .collect();
        let mut context = person.context(state, "page.organisation");
        context["org"] = json!({
            "code": code,
            "name": org.name,
            "kind": org.kind.as_str(),
            "insurer_numbers": org.insurer_numbers.iter().map(|n| n.as_str().to_owned()).collect::<Vec<_>>(),
            "certificate_required": own.certificate_required,
            "org_setting": org.browser_certificate_required,
            "relay_policy": state.config.people_require_certificate,
            "operator": org.kind == kenshin_core::OrgKind::Operator,
        });
        context["routes"] = routes.into();
        context["may_update"] = person.may(Resource::Org, Action::Update).into();
        if org.kind.may_receive() {
            let outputs = crate::service::receivers::outputs(state, &person.caller).await?;
            let chosen: Vec<&str> = outputs.formats.iter().map(|f| f.code()).collect();
            context["receiving"] = json!({
                "formats": kenshin_convert::OutputFormat::ALL.iter().map(|f| json!({
                    "code": f.code(),
                    "field": f.code().replace('-', "_"),
                    "chosen": chosen.contains(&f.code()),
                })).collect::<Vec<_>>(),
                "recipients": outputs.recipients.iter().map(|r| json!({
                    "id": r.id,
                    "recipient": r.recipient,
                    "label": r.label,
                    "added_at": r.added_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                    "added_by": r.added_by,
                })).collect::<Vec<_>>(),
                "kind": outputs.kind.map(|k| k.code()),
            });
        }
        if let Some(key) = flash {
            context["flash"] = json!({"kind": "ok", "key": key});
        }
        context["error"] = error.into();
        super::notifications::organisation_context(state, person, &mut context).await?;
        for (key, value) in extra {
            context[key] = value;
        }
        Ok(html(state, status, "organisation.html", person.lang, context))
    }
    .await;
    page_or_error(state, person, result)
}

#[derive(Deserialize)]
pub struct FormatsForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    std_csv: String,
    #[serde(default)]
    mhlw_xml: String,
    #[serde(default)]
    fhir: String,
}

/// `POST /organisation/formats`: the formats of the converted outputs this organisation
/// receives.
pub async fn formats(
    State(state): State<AppState>,
    person: WebPerson,
    Form(form): Form<FormatsForm>,
) -> Response {
    if let Some(refused) = person.refuse_post(&state, &form.csrf, Resource::Org, Action::Update) {
        return refused;
    }
    let codes: Vec<String> = [
        ("std-csv", &form.std_csv),
        ("mhlw-xml", &form.mhlw_xml),
        ("fhir", &form.fhir),
    ]
    .into_iter()
    .filter(|(_, on)| on.as_str() == "on")
    .map(|(code, _)| code.to_owned())
    .collect();
    match crate::service::receivers::set_formats(&state, &person.caller, &codes).await {
        Ok(()) => Redirect::to("/organisation?done=formats").into_response(),
        Err(err) if err.refusal() == Some(&Refusal::NoOutputFormat) => {
            organisation_page(
                &state,
                &person,
                StatusCode::BAD_REQUEST,
                None,
                Some("org.no_format"),
            )
            .await
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

#[derive(Deserialize)]
pub struct RecipientForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    remove: String,
}

/// `POST /organisation/recipients`: adds an age recipient, or removes one (`remove`: its id).
pub async fn recipients(
    State(state): State<AppState>,
    person: WebPerson,
    Form(form): Form<RecipientForm>,
) -> Response {
    if let Some(refused) = person.refuse_post(&state, &form.csrf, Resource::Org, Action::Update) {
        return refused;
    }
    let (result, done) = if form.remove.is_empty() {
        (
            crate::service::receivers::add_recipient(
                &state,
                &person.caller,
                &form.recipient,
                &form.label,
            )
            .await
            .map(|_| ()),
            "recipient_added",
        )
    } else {
        (
            crate::service::receivers::remove_recipient(&state, &person.caller, &form.remove).await,
            "recipient_removed",
        )
    };
    match result {
        Ok(()) => Redirect::to(&format!("/organisation?done={done}")).into_response(),
        Err(crate::service::Error::Refused(Refusal::BadRecipient(problem))) => {
            let key = match problem {
                crate::service::RecipientProblem::MixedKinds => "org.recipient_mixed",
                crate::service::RecipientProblem::TooMany => "org.recipient_too_many",
                crate::service::RecipientProblem::Duplicate => "org.recipient_duplicate",
                _ => "org.recipient_invalid",
            };
            organisation_page(&state, &person, StatusCode::BAD_REQUEST, None, Some(key)).await
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    require: String,
}

/// `POST /organisation/certificate-policy`: require (or stop requiring) the organisation's
/// people to present their own client certificate. Turning it on is refused unless the admin
/// is presenting theirs right now, so nobody locks their own organisation out by mistake.
pub async fn certificate_policy(
    State(state): State<AppState>,
    person: WebPerson,
    peer: Option<axum::Extension<crate::tls::PeerInfo>>,
    Form(form): Form<PolicyForm>,
) -> Response {
    if let Some(refused) = person.refuse_post(&state, &form.csrf, Resource::Org, Action::Update) {
        return refused;
    }
    let require = form.require == "on";
    let certificate = peer
        .as_ref()
        .and_then(|p| p.0.certificate.as_ref())
        .map(|c| c.as_ref());
    match crate::service::operations::set_certificate_policy(
        &state,
        &person.caller,
        require,
        certificate,
    )
    .await
    {
        Ok(()) => {}
        Err(err) if err.refusal() == Some(&Refusal::PersonCertificateRequired) => {
            return organisation_page(
                &state,
                &person,
                StatusCode::CONFLICT,
                None,
                Some("org.need_own_certificate"),
            )
            .await;
        }
        Err(err) => return super::api_error_page(&state, &person, err),
    }
    let done = if require { "required" } else { "optional" };
    Redirect::to(&format!("/organisation?done={done}")).into_response()
}

/// `POST /organisation/webhooks`: add (`url`, `topic`…), test (`test`: an id) or remove
/// (`remove`: an id) an endpoint.
pub async fn webhooks(
    State(state): State<AppState>,
    person: WebPerson,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| super::notifications::first(&fields, name);
    if let Some(refused) = person.refuse_post(&state, field("_csrf"), Resource::Org, Action::Update)
    {
        return refused;
    }
    if !field("remove").is_empty() {
        return match crate::service::notifications::remove_endpoint(
            &state,
            &person.caller,
            field("remove"),
        )
        .await
        {
            Ok(()) => Redirect::to("/organisation?done=webhook_removed#webhooks").into_response(),
            Err(err) => super::api_error_page(&state, &person, err),
        };
    }
    if !field("test").is_empty() {
        return match crate::service::notifications::test_endpoint(
            &state,
            &person.caller,
            field("test"),
        )
        .await
        {
            Ok(_) => Redirect::to("/organisation?done=webhook_test#webhooks").into_response(),
            Err(err) => super::api_error_page(&state, &person, err),
        };
    }
    let topics = super::notifications::every(&fields, "topic");
    match crate::service::notifications::add_endpoint(&state, &person.caller, field("url"), &topics)
        .await
    {
        Ok((endpoint, secret)) => {
            let mut extra = serde_json::Map::new();
            // The secret is shown on this answer only.
            extra.insert(
                "new_webhook".into(),
                json!({"url": endpoint.url, "secret": secret.expose_text().as_str()}),
            );
            organisation_page_with(
                &state,
                &person,
                StatusCode::CREATED,
                Some("notify.webhook_added"),
                None,
                extra,
            )
            .await
        }
        Err(crate::service::Error::Refused(Refusal::BadNotification(problem))) => {
            let mut extra = serde_json::Map::new();
            extra.insert(
                "webhook_problem".into(),
                json!({"text": super::notifications::problem_text(&problem, person.lang), "url": field("url")}),
            );
            organisation_page_with(&state, &person, StatusCode::BAD_REQUEST, None, None, extra)
                .await
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}
