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
    let extra = match check_sample(map, sample).await {
        Ok(check) => json!({ "check": check }),
        Err(extra) => extra,
    };
    maps_page(&state, &person, StatusCode::OK, extra).await
}

/// Converts `sample` in memory with `map`: coverage and findings, for the page; or the page's
/// error when the sample cannot be read.
async fn check_sample(map: kenshin_convert::MapFile, sample: Vec<u8>) -> Result<Value, Value> {
    let outcome = tokio::task::spawn_blocking(move || {
        let profile = kenshin_profile::Profile::default_profile();
        let sample = match maps::as_delimited(sample, map.settings.get("sheet").map(String::as_str))
        {
            Ok(sample) => sample,
            Err(problem) => {
                return (
                    Err(kenshin_convert::ConvertError::Input(problem)),
                    0,
                    map.columns.len(),
                    map.label(),
                )
            }
        };
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
        return Err(json!({"error": "maps.sample_unusable"}));
    };
    match report {
        Ok(report) => Ok(json!({
            "map": label,
            "columns": columns,
            "items": items,
            "r": serde_json::to_value(&report).unwrap_or_default(),
        })),
        Err(err) => Err(json!({"error": "maps.sample_unusable", "error_detail": err.to_string()})),
    }
}

/// Item names and header fields, for the form's suggestions when a column is placed by hand.
fn item_choices() -> Vec<String> {
    let profile = kenshin_profile::Profile::default_profile();
    let mut names: Vec<String> = kenshin_profile::HeaderField::ALL
        .iter()
        .map(|f| format!("header.{}", f.label_ja()))
        .collect();
    let mut seen = BTreeSet::new();
    for item in &profile.items {
        if seen.insert(item.name.clone()) {
            names.push(item.name.clone());
        }
    }
    names
}

/// The draft section of the page: placements, the form to fix them, the draft's text.
fn draft_context(
    suggestion: &kenshin_convert::suggest::Suggestion,
    map_text: &str,
    map_id: &str,
    version: &str,
) -> Value {
    json!({
        "draft": {
            "placements": serde_json::to_value(&suggestion.placements).unwrap_or_default(),
            "placed": suggestion.placements.iter().filter(|p| p.target.is_some()).count(),
            "rows": suggestion.rows_sampled,
            "map_text": map_text,
            "map_id": map_id,
            "version": version,
        },
        "item_choices": item_choices(),
    })
}

/// `POST /maps/draft` (multipart: the sample): a draft map for it, shown with each column's
/// placement and values, to fix, check and save. Nothing is stored.
pub async fn draft(State(state): State<AppState>, person: WebPerson, form: Multipart) -> Response {
    if !person.may(Resource::Map, Action::Create) {
        return person.forbidden(&state);
    }
    let (_, sample) = match checked_form(&state, &person, form, MAX_SAMPLE_BYTES).await {
        Ok(form) => form,
        Err(page) => return page,
    };
    match maps::draft(&person.caller, sample).await {
        Ok(Ok(suggestion)) => {
            let extra = draft_context(&suggestion, &suggestion.map_csv, "", "1");
            maps_page(&state, &person, StatusCode::OK, extra).await
        }
        Ok(Err(problem)) => {
            maps_page(
                &state,
                &person,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": "maps.sample_unusable", "error_detail": problem}),
            )
            .await
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}

/// `POST /maps/draft/submit` (multipart: the draft's text, id, version, the fixes, and for
/// `action=check` the sample): checks the fixed draft against the sample, or (`action=save`)
/// stores it as a new version.
pub async fn draft_submit(
    State(state): State<AppState>,
    person: WebPerson,
    form: Multipart,
) -> Response {
    if !person.may(Resource::Map, Action::Create) {
        return person.forbidden(&state);
    }
    let mut fields = match read_form(form, MAX_SAMPLE_BYTES).await {
        Ok(fields) => fields,
        Err(key) => {
            return maps_page(
                &state,
                &person,
                StatusCode::BAD_REQUEST,
                json!({"error": key}),
            )
            .await
        }
    };
    if !person.csrf_ok(&state, fields.get("_csrf").unwrap_or_default()) {
        return person.csrf_refused(&state);
    }
    let all = |name: &str| -> Vec<String> {
        fields
            .text
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    };
    let columns: Vec<(String, String)> =
        all("fix_source").into_iter().zip(all("fix_item")).collect();
    let values: Vec<(String, String, String)> = all("val_source")
        .into_iter()
        .zip(all("val_from"))
        .zip(all("val_to"))
        .map(|((s, f), t)| (s, f, t))
        .collect();
    let map_id = fields.get("map_id").unwrap_or_default().to_owned();
    let version = fields.get("map_version").unwrap_or_default().to_owned();
    let edited = kenshin_convert::suggest::edit_draft(
        fields.get("map_text").unwrap_or_default(),
        &map_id,
        &version,
        &columns,
        &values,
    );
    let sample = fields.file.take().map(|(_, bytes)| bytes);
    if fields.get("action") == Some("save") {
        let activate = fields.get("activate") == Some("on");
        return match maps::store_map(&state, &person.caller, edited.as_bytes(), activate).await {
            Ok(_) => Redirect::to("/maps?done=uploaded").into_response(),
            Err(err) => {
                let err = ApiError::from(err);
                if err.status.is_client_error() && err.status != StatusCode::FORBIDDEN {
                    let mut extra = redraft(&person, &edited, &map_id, &version, sample).await;
                    extra["error"] = "maps.refused".into();
                    extra["error_detail"] = err.message.into();
                    maps_page(&state, &person, StatusCode::UNPROCESSABLE_ENTITY, extra).await
                } else {
                    super::api_error_page(&state, &person, err)
                }
            }
        };
    }
    // A check: the fixed draft against the sample, in memory.
    let mut extra = redraft(&person, &edited, &map_id, &version, sample.clone()).await;
    match (
        sample,
        kenshin_convert::MapFile::from_reader(
            edited.as_bytes(),
            kenshin_profile::Profile::default_profile(),
        ),
    ) {
        (None, _) => {
            extra["error"] = "maps.no_file".into();
        }
        (Some(_), Err(err)) => {
            extra["error"] = "maps.refused".into();
            extra["error_detail"] = err.to_string().into();
        }
        (Some(sample), Ok(map)) => match check_sample(map, sample).await {
            Ok(check) => extra["check"] = check,
            Err(problem) => super::merge(&mut extra, problem),
        },
    }
    maps_page(&state, &person, StatusCode::OK, extra).await
}

/// The draft section again for an edited draft: placements re-read from the sample when there
/// is one (so fixed columns show as placed), the edited text kept as the clerk left it.
async fn redraft(
    person: &WebPerson,
    edited: &str,
    map_id: &str,
    version: &str,
    sample: Option<Vec<u8>>,
) -> Value {
    let placements = match sample {
        Some(sample) => maps::draft(&person.caller, sample)
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    match placements {
        Some(mut suggestion) => {
            kenshin_convert::suggest::apply_edits(
                &mut suggestion,
                edited,
                kenshin_profile::Profile::default_profile(),
            );
            draft_context(&suggestion, edited, map_id, version)
        }
        None => json!({
            "draft": {"placements": [], "placed": 0, "rows": 0, "map_text": edited, "map_id": map_id, "version": version},
            "item_choices": item_choices(),
        }),
    }
}

/// `GET /maps/{map_id}/{version}/download`: a stored version as uploaded.
pub async fn download(
    State(state): State<AppState>,
    person: WebPerson,
    Path((map_id, version)): Path<(String, String)>,
) -> Response {
    if !person.may(Resource::Map, Action::Read) {
        return person.forbidden(&state);
    }
    match maps::map_content(&state, &person.caller, &map_id, &version).await {
        Ok(bytes) => {
            let name = format!("{map_id}_v{version}.csv");
            (
                [
                    (axum::http::header::CONTENT_TYPE, "text/csv".to_owned()),
                    (
                        axum::http::header::CONTENT_DISPOSITION,
                        crate::request::content_disposition(&name)
                            .to_str()
                            .unwrap_or("attachment")
                            .to_owned(),
                    ),
                ],
                bytes,
            )
                .into_response()
        }
        Err(err) => super::api_error_page(&state, &person, err),
    }
}
