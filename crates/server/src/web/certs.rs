//! An organisation admin's client certificates: the list, issuing one for a device or a
//! person (the PKCS#12 bundle is handed to the browser in the answer and kept nowhere), and
//! revoking one (the database refuses it at once; the new CRL stops handshakes).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine as _;
use kenshin_auth::{Action, Resource, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{html, page_or_error, WebPerson};
use crate::error::ApiError;
use crate::service::certificates::{self, Issued};
use crate::service::Error;
use crate::state::AppState;
use kenshin_pki::RevocationReason;

const DEFAULT_DAYS: u32 = 365;

async fn certs_page(
    state: &AppState,
    person: &WebPerson,
    status: StatusCode,
    extra: Value,
) -> Response {
    let result = async {
        let now = state.now();
        let (certs, people) = certificates::of_organisation(state, &person.caller).await?;
        let certs: Vec<Value> = certs
            .into_iter()
            .rev()
            .map(|c| {
                let holder = c
                    .user_id
                    .and_then(|id| people.iter().find(|p| p.id == id))
                    .map(|p| p.login.clone());
                let status = if c.revoked_at.is_some() {
                    "revoked"
                } else if c.not_after <= now {
                    "expired"
                } else {
                    "valid"
                };
                json!({
                    "serial": c.serial,
                    "device": c.device,
                    "person": holder,
                    "roles": c.roles.as_deref().map(|r| r.split(',').filter(|r| !r.is_empty()).collect::<Vec<_>>()),
                    "not_after": kenshin_core::api::timestamp::format(c.not_after),
                    "status": status,
                    "reason": c.revocation_reason,
                })
            })
            .collect();
        let kind = crate::service::roles::org_kind(person.caller.org.kind);
        let machine_roles: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| r.is_machine_role() && r.org_kinds().contains(kind))
            .map(|r| r.as_str())
            .collect();
        let mut context = person.context(state, "page.certificates");
        context["certs"] = certs.into();
        context["people"] = people
            .iter()
            .filter(|p| p.disabled_at.is_none())
            .map(|p| json!({"login": p.login, "name": p.display_name}))
            .collect::<Vec<_>>()
            .into();
        context["machine_roles"] = machine_roles.into();
        context["default_days"] = DEFAULT_DAYS.into();
        context["may_issue"] = person.may(Resource::Certificate, Action::Create).into();
        context["may_revoke"] = person.may(Resource::Certificate, Action::Delete).into();
        super::merge(&mut context, extra);
        Ok(html(state, status, "certificates.html", person.lang, context))
    }
    .await;
    page_or_error(state, person, result)
}

#[derive(Deserialize)]
pub struct CertsQuery {
    revoked: Option<String>,
}

/// `GET /certificates`
pub async fn page(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<CertsQuery>,
) -> Response {
    if !person.may(Resource::Certificate, Action::Read) {
        return person.forbidden(&state);
    }
    let flash = if query.revoked.is_some() {
        json!({"kind": "ok", "key": "certs.revoked_done"})
    } else {
        Value::Null
    };
    certs_page(&state, &person, StatusCode::OK, json!({"flash": flash})).await
}

/// The issue form; repeated `roles` checkboxes arrive as a list.
#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    holder: String,
    name: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    days: String,
}

/// `POST /certificates`: issues, registers, and answers with the bundle to save.
pub async fn issue(
    State(state): State<AppState>,
    person: WebPerson,
    body: axum::body::Bytes,
) -> Response {
    // Repeated `roles` checkboxes decode into a list (serde_html_form, as axum-extra's Form).
    let form: IssueForm = match serde_html_form::from_bytes(&body) {
        Ok(form) => form,
        Err(_) => return super::api_error_page(&state, &person, ApiError::invalid("form")),
    };
    if let Some(refused) =
        person.refuse_post(&state, &form.csrf, Resource::Certificate, Action::Create)
    {
        return refused;
    }
    let refused = |detail: String| {
        certs_page(
            &state,
            &person,
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"error": "certs.refused", "error_detail": detail}),
        )
    };
    let days = match form.days.trim() {
        "" => DEFAULT_DAYS,
        text => match text.parse() {
            Ok(days) => days,
            Err(_) => return refused("days".into()).await,
        },
    };
    let roles = form.roles.join(",");
    let request = certificates::IssueRequest {
        name: &form.name,
        person: (form.holder == "person").then_some(form.person.as_str()),
        roles: (!roles.is_empty()).then_some(roles.as_str()),
        days,
    };
    let Issued {
        record,
        prepared,
        person: holder,
    } = match certificates::issue(&state, &person.caller, request).await {
        Ok(issued) => issued,
        Err(Error::Certificate(err)) => return refused(err.to_string()).await,
        Err(err) => return super::api_error_page(&state, &person, err),
    };
    let issued = json!({
        "serial": record.serial,
        "device": record.device,
        "person": holder,
        "roles": record.roles,
        "not_after": kenshin_core::api::timestamp::format(record.not_after),
        "password": prepared.password.as_str(),
        "p12": base64::engine::general_purpose::STANDARD.encode(&prepared.pkcs12),
        "file": format!("{}-{}.p12", person.caller.org.code, &record.serial[..8.min(record.serial.len())]),
    });
    certs_page(
        &state,
        &person,
        StatusCode::CREATED,
        json!({"issued": issued}),
    )
    .await
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    reason: String,
}

/// `POST /certificates/{serial}/revoke`
pub async fn revoke(
    State(state): State<AppState>,
    person: WebPerson,
    Path(serial): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(refused) =
        person.refuse_post(&state, &form.csrf, Resource::Certificate, Action::Delete)
    {
        return refused;
    }
    let reason = match form.reason.as_str() {
        r
        @ ("key-compromise" | "affiliation-changed" | "superseded" | "cessation-of-operation") => {
            r.parse().unwrap_or(RevocationReason::Unspecified)
        }
        _ => RevocationReason::Unspecified,
    };
    match certificates::revoke_own(&state, &person.caller, &serial, reason).await {
        Ok(_) => Redirect::to("/certificates?revoked=1").into_response(),
        Err(err @ (Error::NotFound | Error::NotPermitted { .. })) => {
            super::api_error_page(&state, &person, err)
        }
        Err(err) => {
            tracing::error!(error = %err, "revocation from the web failed");
            super::api_error_page(&state, &person, ApiError::internal())
        }
    }
}
