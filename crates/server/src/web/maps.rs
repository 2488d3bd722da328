//! A sending institution's map files (変換テーブル): the versions, uploading a new one,
//! activating, and checking a version against a sample export. The sample is converted in
//! memory for this one answer and never stored: it is the institution's own data, shown back
//! to it (values included) and then dropped.

use std::collections::BTreeSet;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use kenshin_auth::{Action, Resource};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{html, page_or_error, CsrfForm, WebPerson};
use crate::error::ApiError;
use crate::service::maps;
use crate::state::AppState;

/// A sample for a map check may be this large (the check runs in memory).
pub const MAX_SAMPLE_BYTES: usize = 32 * 1024 * 1024;

/// The fields of a multipart form: text fields and at most one file (name, bytes). A field
/// over `limit` bytes is refused rather than buffered.
struct Fields {
    text: Vec<(String, String)>,
    file: Option<(String, Vec<u8>)>,
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.text
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_form(mut form: Multipart, limit: usize) -> Result<Fields, &'static str> {
    let mut fields = Fields {
        text: Vec::new(),
        file: None,
    };
    while let Some(mut field) = form.next_field().await.map_err(|_| "maps.bad_form")? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(|_| "maps.bad_form")? {
            if bytes.len() + chunk.len() > limit {
                return Err("maps.too_large");
            }
            bytes.extend_from_slice(&chunk);
        }
        match file_name {
            Some(file_name) if !bytes.is_empty() => fields.file = Some((file_name, bytes)),
            Some(_) => {}
            None => fields
                .text
                .push((name, String::from_utf8_lossy(&bytes).into_owned())),
        }
    }
    Ok(fields)
}

async fn maps_page(
    state: &AppState,
    person: &WebPerson,
    status: StatusCode,
    extra: Value,
) -> Response {
    let result = async {
        let versions = maps::maps_of(state, &person.caller).await?;
        let mut context = person.context(state, "page.maps");
        context["versions"] = serde_json::to_value(&versions).unwrap_or_default();
        context["may_upload"] = person.may(Resource::Map, Action::Create).into();
        context["may_activate"] = person.may(Resource::Map, Action::Update).into();
        super::merge(&mut context, extra);
        Ok(html(state, status, "maps.html", person.lang, context))
    }
    .await;
    page_or_error(state, person, result)
}

#[derive(Deserialize)]
pub struct MapsQuery {
    done: Option<String>,
}

/// `GET /maps`
pub async fn page(
    State(state): State<AppState>,
    person: WebPerson,
    Query(query): Query<MapsQuery>,
) -> Response {
    if !person.may(Resource::Map, Action::Read) {
        return person.forbidden(&state);
    }
    let flash = match query.done.as_deref() {
        Some("uploaded") => json!({"kind": "ok", "key": "maps.uploaded"}),
        Some("activated") => json!({"kind": "ok", "key": "maps.activated"}),
        _ => Value::Null,
    };
    maps_page(&state, &person, StatusCode::OK, json!({"flash": flash})).await
}

/// Reads a multipart form of this page (at most `limit` bytes a field) that must carry the
/// session's CSRF token and a file; answers the page with the problem otherwise.
async fn checked_form(
    state: &AppState,
    person: &WebPerson,
    form: Multipart,
    limit: usize,
) -> Result<(Fields, Vec<u8>), Response> {
    let mut fields = match read_form(form, limit).await {
        Ok(fields) => fields,
        Err(key) => {
            return Err(maps_page(
                state,
                person,
                StatusCode::BAD_REQUEST,
                json!({"error": key}),
            )
            .await)
        }
    };
    if !person.csrf_ok(state, fields.get("_csrf").unwrap_or_default()) {
        return Err(person.csrf_refused(state));
    }
    match fields.file.take() {
        Some((_, bytes)) => Ok((fields, bytes)),
        None => Err(maps_page(
            state,
            person,
            StatusCode::BAD_REQUEST,
            json!({"error": "maps.no_file"}),
        )
        .await),
    }
}

/// `POST /maps` (multipart: the map file, `activate`): a new immutable version.
pub async fn upload(State(state): State<AppState>, person: WebPerson, form: Multipart) -> Response {
    let (fields, bytes) = match checked_form(&state, &person, form, maps::MAX_MAP_BYTES).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let activate = fields.get("activate") == Some("on");
    match maps::store_map(&state, &person.caller, &bytes, activate).await {
        Ok(_) => Redirect::to("/maps?done=uploaded").into_response(),
        Err(err) => {
            let err = ApiError::from(err);
            if err.status.is_client_error() && err.status != StatusCode::FORBIDDEN {
                maps_page(
                    &state,
                    &person,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"error": "maps.refused", "error_detail": err.message}),
                )
                .await
            } else {
                super::api_error_page(&state, &person, err)
            }
        }
    }
}

/// `POST /maps/{map_id}/{version}/activate`
pub async fn activate(
    State(state): State<AppState>,
    person: WebPerson,
    Path((map_id, version)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !person.csrf_ok(&state, &form.csrf) {
        return person.csrf_refused(&state);
    }
    match maps::activate_version(&state, &person.caller, &map_id, &version).await {
        Ok(_) => Redirect::to("/maps?done=activated").into_response(),
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

/// `POST /maps/check` (multipart: `map` = `id@version`, the sample file): converts the
/// sample in memory with that version and shows coverage and findings. Nothing is stored.
pub async fn check(State(state): State<AppState>, person: WebPerson, form: Multipart) -> Response {
    if !person.may(Resource::Map, Action::Read) {
        return person.forbidden(&state);
    }
    let (fields, sample) = match checked_form(&state, &person, form, MAX_SAMPLE_BYTES).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    let Some(label) = fields.get("map") else {
        return super::api_error_page(&state, &person, ApiError::not_found());
    };
    let Some((map_id, version)) = label.rsplit_once('@') else {
        return super::api_error_page(&state, &person, ApiError::not_found());
    };
    let map = match maps::map_of(&state, &person.caller, map_id, version).await {
        Ok(map) => map,
        Err(err) => return super::api_error_page(&state, &person, err),
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let profile = kenshin_profile::Profile::default_profile();
        let mut items = BTreeSet::new();
        let report = kenshin_convert::convert_delimited(
            &sample[..],
            profile,
            &map,
            |record: &kenshin_profile::CheckupRecord| {
                items.extend(record.values.iter().map(|v| v.code.clone()));
                Ok(kenshin_convert::Routed::Delivered)
            },
            |_| {},
        );
        (report, items.len(), map.columns.len(), map.label())
    })
    .await;
    let Ok((report, items, columns, label)) = outcome else {
        return super::api_error_page(&state, &person, ApiError::internal());
    };
    let extra = match report {
        Ok(report) => json!({
            "check": {
                "map": label,
                "columns": columns,
                "items": items,
                "r": serde_json::to_value(&report).unwrap_or_default(),
            }
        }),
        Err(err) => json!({"error": "maps.sample_unusable", "error_detail": err.to_string()}),
    };
    maps_page(&state, &person, StatusCode::OK, extra).await
}
