//! The pages of a logged-in person: home, sending, sent files, inbox, 受信完了, own
//! activity and the operator console.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use kenshin_auth::{Action, Resource};
use kenshin_core::{DeliveryId, DeliveryState, SubmissionId};
use kenshin_store::ListFilter;
use kenshin_ui::chart::{bar_chart, Bar};
use serde::Deserialize;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime, UtcOffset};

use super::{html, page_or_error, CsrfForm, WebPerson};
use crate::error::ApiError;
use crate::service;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct HomeQuery {
    welcome: Option<String>,
}

/// `GET /`: the menu of what the person may do; the login page for anyone else.
pub async fn home(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<HomeQuery>,
) -> Response {
    let mut context = person.context(&state, "page.home");
    if query.welcome.is_some() {
        context["flash"] = json!({"kind": "ok", "key": "setup.done"});
    }
    context["previous_login"] = person.previous_login(&state).await;
    html(&state, StatusCode::OK, "home.html", person.lang, context)
}

/// Submissions per day over the last 14 days (JST), as an SVG bar chart.
fn per_day_chart(
    lang: kenshin_ui::Lang,
    now: OffsetDateTime,
    received: &[OffsetDateTime],
) -> String {
    let jst = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let today = now.to_offset(jst).date();
    let bars: Vec<Bar> = (0..14)
        .rev()
        .map(|back| {
            let day = today - Duration::days(back);
            Bar {
                label: format!("{}/{}", u8::from(day.month()), day.day()),
                value: received
                    .iter()
                    .filter(|at| at.to_offset(jst).date() == day)
                    .count() as u64,
            }
        })
        .collect();
    bar_chart(kenshin_ui::text(lang, "submissions.chart_title"), &bars)
}

/// `GET /submissions`: the organisation's sent files, each receiver's state, a chart.
pub async fn submissions(State(state): State<AppState>, person: WebPerson) -> Response {
    if !person.may(Resource::Submission, Action::Read) {
        return person.forbidden(&state);
    }
    let result = async {
        let filter = ListFilter {
            state: None,
            limit: 200,
            offset: 0,
            ..ListFilter::default()
        };
        let (items, total) = service::submissions::list(&state, &person.caller, &filter).await?;
        let received: Vec<OffsetDateTime> = items.iter().map(|s| s.received_at).collect();
        let mut context = person.context(&state, "page.submissions");
        context["items"] = serde_json::to_value(&items).unwrap_or_default();
        context["total"] = total.into();
        context["chart"] = per_day_chart(person.lang, state.now(), &received).into();
        context["may_upload"] = person.may(Resource::Submission, Action::Create).into();
        Ok(html(
            &state,
            StatusCode::OK,
            "submissions.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

/// A file's history proven against the current checkpoint, as the page shows it.
async fn ledger_history(
    state: &AppState,
    submission: SubmissionId,
    delivery: Option<DeliveryId>,
) -> Result<(Vec<Value>, Option<String>), ApiError> {
    let (events, checkpoint) = service::ledger::proven_history(state, submission, delivery).await?;
    let history = events
        .into_iter()
        .map(|event| {
            json!({
                "index": event.index,
                "at": kenshin_core::api::timestamp::format(event.at),
                "kind": event.kind.as_str(),
            })
        })
        .collect();
    Ok((history, checkpoint))
}

/// `GET /submissions/{id}`: the receipt — states, conversion counts, the ledger history.
pub async fn submission(
    State(state): State<AppState>,
    person: WebPerson,
    Path(id): Path<String>,
) -> Response {
    if !person.may(Resource::Submission, Action::Read) {
        return person.forbidden(&state);
    }
    let result = async {
        let id: SubmissionId = id.parse().map_err(|_| ApiError::not_found())?;
        let view = service::submissions::show(&state, &person.caller, id).await?;
        let (history, checkpoint) = ledger_history(&state, id, None).await?;
        let mut context = person.context(&state, "page.submission");
        context["s"] = serde_json::to_value(&view).unwrap_or_default();
        context["history"] = history.into();
        context["checkpoint"] = checkpoint.into();
        context["may_report"] = person.may(Resource::Report, Action::Read).into();
        Ok(html(
            &state,
            StatusCode::OK,
            "submission.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

/// `GET /upload`: the receivers this organisation has routes to.
pub async fn upload(State(state): State<AppState>, person: WebPerson) -> Response {
    if !person.may(Resource::Submission, Action::Create) {
        return person.forbidden(&state);
    }
    let result = async {
        let destinations = service::submissions::destinations(&state, &person.caller).await?;
        let receivers: Vec<Value> = destinations
            .receivers
            .iter()
            .map(|(code, name)| json!({"code": code.to_string(), "name": name}))
            .collect();
        let convert = destinations.convert;
        let mut context = person.context(&state, "page.upload");
        context["receivers"] = receivers.into();
        context["convert"] = convert.into();
        Ok(html(
            &state,
            StatusCode::OK,
            "upload.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

#[derive(Deserialize)]
pub struct InboxQuery {
    state: Option<String>,
    sender: Option<String>,
    from: Option<String>,
    to: Option<String>,
    insurer_number: Option<String>,
    format: Option<String>,
    offset: Option<u64>,
    done: Option<u32>,
    failed: Option<u32>,
}

/// Rows per inbox page.
const INBOX_PAGE: u32 = 100;

/// `GET /inbox?state=`: deliveries addressed to the organisation, with the time left before
/// unconfirmed ones are destroyed.
pub async fn inbox(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<InboxQuery>,
) -> Response {
    if !person.may(Resource::Delivery, Action::Read) {
        return person.forbidden(&state);
    }
    let wanted = query
        .state
        .clone()
        .filter(|s| !s.is_empty() && s.parse::<DeliveryState>().is_ok());
    let offset = query.offset.unwrap_or(0).min(1 << 40);
    let result = async {
        let search = match service::deliveries::search(
            query.sender.as_deref(),
            query.from.as_deref(),
            query.to.as_deref(),
            query.insurer_number.as_deref(),
            query.format.as_deref(),
        ) {
            Ok(search) => Some(search),
            Err(service::Error::Refused(refusal)) => {
                // Said above the list, with the fields as typed; nothing matches.
                return Ok(inbox_page(
                    &state,
                    &person,
                    &query,
                    wanted,
                    Vec::new(),
                    0,
                    offset,
                    Some(refusal.to_string()),
                ));
            }
            Err(err) => return Err(err.into()),
        };
        let filter = ListFilter {
            state: wanted.clone(),
            limit: INBOX_PAGE,
            offset,
            search: search.unwrap_or_default(),
            ..ListFilter::default()
        };
        let (items, total) = service::deliveries::list(&state, &person.caller, &filter).await?;
        Ok(inbox_page(
            &state, &person, &query, wanted, items, total, offset, None,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

#[allow(clippy::too_many_arguments)]
fn inbox_page(
    state: &AppState,
    person: &WebPerson,
    query: &InboxQuery,
    wanted: Option<String>,
    items: Vec<kenshin_core::api::DeliveryView>,
    total: u64,
    offset: u64,
    error: Option<String>,
) -> Response {
    {
        let mut context = person.context(state, "page.inbox");
        context["search"] = json!({
            "sender": query.sender.as_deref().unwrap_or(""),
            "from": query.from.as_deref().unwrap_or(""),
            "to": query.to.as_deref().unwrap_or(""),
            "insurer_number": query.insurer_number.as_deref().unwrap_or(""),
            "format": query.format.as_deref().unwrap_or(""),
        });
        context["formats"] = json!(["std-csv", "mhlw-xml", "fhir", "pass-through"]);
        context["search_error"] = error.into();
        // The same search, for the paging links.
        let mut keep: Vec<(String, String)> = Vec::new();
        for (k, v) in [
            ("state", wanted.as_deref()),
            ("sender", query.sender.as_deref()),
            ("from", query.from.as_deref()),
            ("to", query.to.as_deref()),
            ("insurer_number", query.insurer_number.as_deref()),
            ("format", query.format.as_deref()),
        ] {
            if let Some(v) = v.filter(|v| !v.is_empty()) {
                keep.push((k.to_owned(), v.to_owned()));
            }
        }
        let link = |at: u64| {
            let mut query: Vec<String> = keep
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(
                            v,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                })
                .collect();
            query.push(format!("offset={at}"));
            format!("/inbox?{}", query.join("&"))
        };
        let page = u64::from(INBOX_PAGE);
        context["prev"] = (offset > 0)
            .then(|| link(offset.saturating_sub(page)))
            .into();
        context["next"] = (offset + page < total).then(|| link(offset + page)).into();
        context["range"] = json!({"first": if total == 0 { 0 } else { offset + 1 }, "last": (offset + items.len() as u64)});
        if let Some(done) = query.done {
            context["bulk"] = json!({"done": done, "failed": query.failed.unwrap_or(0)});
        }

        context["items"] = serde_json::to_value(&items).unwrap_or_default();
        context["total"] = total.into();
        context["state"] = wanted.into();
        context["states"] = json!(["ready", "downloaded", "confirmed", "expired", "withdrawn"]);
        html(state, StatusCode::OK, "inbox.html", person.lang, context)
    }
}

/// The ids of a bulk form (`id=…&id=…`) and its CSRF token.
fn bulk_form(body: &[u8]) -> (Vec<kenshin_core::DeliveryId>, String) {
    let mut ids = Vec::new();
    let mut csrf = String::new();
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "id" => {
                if let Ok(id) = value.parse() {
                    ids.push(id);
                }
            }
            "_csrf" => csrf = value.into_owned(),
            _ => {}
        }
    }
    (ids, csrf)
}

/// `POST /inbox/archive`: the files ticked in the inbox as one ZIP, streamed.
pub async fn inbox_archive(
    State(state): State<AppState>,
    person: WebPerson,
    body: axum::body::Bytes,
) -> Response {
    let (ids, csrf) = bulk_form(&body);
    if let Some(refused) =
        person.refuse_post(&state, &csrf, Resource::DeliveryContent, Action::Download)
    {
        return refused;
    }
    if ids.is_empty() {
        return Redirect::to("/inbox").into_response();
    }
    match service::deliveries::archive(&state, &person.caller, &ids).await {
        Ok((_, stream)) => crate::request::zip_attachment(stream, state.now()),
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

/// `POST /inbox/confirm`: 受信完了 for the files ticked in the inbox.
pub async fn inbox_confirm(
    State(state): State<AppState>,
    person: WebPerson,
    body: axum::body::Bytes,
) -> Response {
    let (ids, csrf) = bulk_form(&body);
    if let Some(refused) = person.refuse_post(&state, &csrf, Resource::Delivery, Action::Confirm) {
        return refused;
    }
    match service::deliveries::confirm_all(&state, &person.caller, &ids).await {
        Ok(outcomes) => {
            let done = outcomes.iter().filter(|o| o.result.is_ok()).count();
            let failed = outcomes.len() - done;
            Redirect::to(&format!("/inbox?done={done}&failed={failed}")).into_response()
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

#[derive(Deserialize)]
pub struct DeliveryQuery {
    confirmed: Option<String>,
}

/// `GET /deliveries/{id}`: details, download, 受信完了.
pub async fn delivery(
    State(state): State<AppState>,
    person: WebPerson,
    Path(id): Path<String>,
    Query(query): Query<DeliveryQuery>,
) -> Response {
    if !person.may(Resource::Delivery, Action::Read) {
        return person.forbidden(&state);
    }
    let result = async {
        let id: DeliveryId = id.parse().map_err(|_| ApiError::not_found())?;
        let view = service::deliveries::show(&state, &person.caller, id).await?;
        let (history, _) = ledger_history(&state, view.submission_id, Some(id)).await?;
        let mut context = person.context(&state, "page.delivery");
        context["d"] = serde_json::to_value(&view).unwrap_or_default();
        context["history"] = history.into();
        context["may_download"] = person
            .may(Resource::DeliveryContent, Action::Download)
            .into();
        context["may_confirm"] = person.may(Resource::Delivery, Action::Confirm).into();
        if query.confirmed.is_some() {
            context["flash"] = json!({"kind": "ok", "key": "delivery.confirmed"});
        }
        Ok(html(
            &state,
            StatusCode::OK,
            "delivery.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

/// `POST /deliveries/{id}/confirm`: 受信完了 — the content is destroyed.
pub async fn confirm(
    State(state): State<AppState>,
    person: WebPerson,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) =
        person.refuse_post(&state, &form.csrf, Resource::Delivery, Action::Confirm)
    {
        return refused;
    }
    let result = async {
        let id: DeliveryId = id.parse().map_err(|_| ApiError::not_found())?;
        service::deliveries::confirm(&state, &person.caller, id).await?;
        Ok(Redirect::to(&format!("/deliveries/{id}?confirmed=1")).into_response())
    }
    .await;
    page_or_error(&state, &person, result)
}

/// `GET /history`: the person's own latest activity.
pub async fn history(State(state): State<AppState>, person: WebPerson) -> Response {
    let result = async {
        let rows = service::audit::own_history(&state, &person.caller).await?;
        let rows: Vec<Value> = rows
            .into_iter()
            .map(|r| {
                json!({
                    "at": kenshin_core::api::timestamp::format(r.at),
                    "action": r.action,
                    "objects": r.objects,
                    "outcome": r.outcome,
                    "source": r.source,
                })
            })
            .collect();
        let mut context = person.context(&state, "page.history");
        context["rows"] = rows.into();
        Ok(html(
            &state,
            StatusCode::OK,
            "history.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

/// `GET /ledger`: the current signed checkpoint, the public key and how to verify both the
/// log and one's own files independently.
pub async fn ledger(State(state): State<AppState>, person: WebPerson) -> Response {
    if !person.may(Resource::Ledger, Action::Read) {
        return person.forbidden(&state);
    }
    let result = async {
        let checkpoint = state
            .ledger
            .checkpoint()
            .await
            .map_err(|_| ApiError::internal())?;
        let mut context = person.context(&state, "page.ledger");
        context["checkpoint"] = checkpoint.as_ref().map(|c| c.note.clone()).into();
        context["size"] = checkpoint.as_ref().map(|c| c.size).into();
        context["signed_at"] = checkpoint
            .as_ref()
            .map(|c| kenshin_core::api::timestamp::format(c.signed_at))
            .into();
        context["key"] = service::ledger::verifier_key(&state).into();
        context["org_code"] = person.caller.org.code.to_string().into();
        Ok(html(
            &state,
            StatusCode::OK,
            "ledger.html",
            person.lang,
            context,
        ))
    }
    .await;
    page_or_error(&state, &person, result)
}

/// `GET /ops`: the operator console — metadata only, never content.
#[derive(Deserialize)]
pub struct OpsQuery {
    done: Option<String>,
}

pub async fn ops(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<OpsQuery>,
) -> Response {
    let mut extra = serde_json::Map::new();
    if let Some(done) = query.done.as_deref() {
        let key = match done {
            "route_created" => "ops.route_created",
            "route_updated" => "ops.route_updated",
            "route_deleted" => "ops.route_deleted",
            _ => "ops.delegated",
        };
        extra.insert("flash".into(), json!({"kind": "ok", "key": key}));
    }
    ops_page(&state, &person, StatusCode::OK, extra).await
}

/// The operator console with `extra` in its context (a new organisation and its admin's
/// one-time password, shown once; a refused change's reason).
pub(super) async fn ops_page(
    state: &AppState,
    person: &WebPerson,
    status: StatusCode,
    extra: serde_json::Map<String, Value>,
) -> Response {
    let (state, person) = (state.clone(), person);
    let operator = person.caller.org.kind == kenshin_core::OrgKind::Operator;
    if !operator || !person.may(Resource::Usage, Action::Read) {
        return person.forbidden(&state);
    }
    let result = async {
        let console = service::operations::console(&state, &person.caller).await?;
        let usage: Vec<Value> = console
            .usage
            .into_iter()
            .map(|u| {
                json!({"month": u.month, "receiver": format!("{} ({})", u.org_name, u.org_code), "records": u.records})
            })
            .collect();
        let orgs: Vec<Value> = console
            .orgs
            .iter()
            .map(|o| json!({"code": o.code.to_string(), "name": o.name, "kind": o.kind.as_str()}))
            .collect();
        let routes: Vec<Value> = console
            .routes
            .iter()
            .map(|r| json!({"from": r.sender.to_string(), "to": r.receiver.to_string(), "mode": r.mode.as_str()}))
            .collect();
        // Which map version each institution converts with (publication state, metadata).
        let maps: Vec<Value> = console
            .maps
            .iter()
            .map(|(org, map)| {
                json!({
                    "org": org.code.to_string(),
                    "map": format!("{}@{}", map.map_id, map.version),
                    "active": map.is_active(),
                    "activated_at": map.activated_at.map(kenshin_core::api::timestamp::format),
                    "sha256": map.sha256,
                })
            })
            .collect();
        let health = console.health;
        let mut context = person.context(&state, "page.ops");
        context["usage"] = usage.into();
        context["orgs"] = orgs.into();
        context["routes"] = routes.into();
        context["maps"] = maps.into();
        context["alerts"] = health.alerts.clone().into();
        context["health"] = serde_json::to_value(&health).unwrap_or_default();
        context["queue_depth"] = console.queue_depth.into();
        context["notice_queue_depth"] = console.notice_queue_depth.into();
        context["ledger_size"] = console.ledger_size.into();
        context["may_manage"] = (person.may(Resource::Org, Action::Create)
            && person.may(Resource::Route, Action::Create))
        .into();
        context["kinds"] = json!(["institution", "insurer", "agent", "clinic"]);
        let code_of = |kinds: &[kenshin_core::OrgKind]| -> Vec<Value> {
            console
                .orgs
                .iter()
                .filter(|o| kinds.contains(&o.kind))
                .map(|o| json!({"code": o.code.to_string(), "name": o.name}))
                .collect()
        };
        use kenshin_core::OrgKind::*;
        context["senders"] = code_of(&[Institution, Clinic]).into();
        context["receivers"] = code_of(&[Insurer, Agent, Clinic]).into();
        context["insurers"] = code_of(&[Insurer]).into();
        context["agents"] = code_of(&[Agent]).into();
        for (key, value) in extra {
            context[key] = value;
        }
        Ok(html(&state, status, "ops.html", person.lang, context))
    }
    .await;
    page_or_error(&state, person, result)
}
