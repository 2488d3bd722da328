//! The OpenAPI 3.1 document of the HTTP interface (`GET /api/v1/openapi.json`), generated
//! from the handlers' annotations and the shared JSON types, so it cannot drift from the code.

use axum::Json;
use kenshin_core::api::Page;
use kenshin_core::api::{
    ClockHealth, ComponentHealth, ConversionSummary, DeliveryView, ErrorBody, ErrorCode,
    ErrorDetail, Health, LedgerEntryView, MapView, OrgRef, ProofView, StorageHealth,
    SubmissionDelivery, SubmissionView,
};
use kenshin_core::{DeliveryState, SubmissionState};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder, Schema};
use utoipa::{Modify, OpenApi};

use std::sync::OnceLock;

use super::people;
use crate::service::Caller;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kenshin Relay (健診リレー) API",
        description = "Secure relay and conversion of Japanese health-checkup results. Every `/api/v1` call needs a client certificate of the relay's CA (TLS 1.3), or a person's session (password + TOTP) with its CSRF token in `x-csrf-token` on state-changing calls. Another organisation's objects answer 404 exactly like missing ones.",
        license(name = "Apache-2.0")
    ),
    components(schemas(
        SubmissionView, SubmissionDelivery, ConversionSummary, DeliveryView, OrgRef, MapView,
        LedgerEntryView, ProofView, ErrorBody, ErrorDetail, ErrorCode, Health, ComponentHealth,
        StorageHealth, ClockHealth, SubmissionState, DeliveryState, crate::service::accounts::NewAccount, people::LoginRequest,
        Page<SubmissionView>, Page<DeliveryView>, crate::service::accounts::AccountView, crate::service::accounts::CreatedAccount, people::Me,
        crate::service::sessions::Enrolment, people::CodeRequest, people::RecoveryCodes, people::PasswordChange, crate::service::audit::AuditFormat,
        kenshin_notify::Payload, kenshin_notify::Notice, kenshin_notify::NoticeOrg, kenshin_notify::Counts, kenshin_notify::Topic,
    )),
    tags(
        (name = "submissions", description = "A sender's uploads and their receipts"),
        (name = "deliveries", description = "A receiver's inbox, download and 受信完了"),
        (name = "maps", description = "An institution's conversion maps"),
        (name = "ledger", description = "The transparency ledger: checkpoints, entries, proofs"),
        (name = "audit", description = "The organisation's access log"),
        (name = "users", description = "An organisation admin's people"),
        (name = "people", description = "Login, second factor, sessions"),
        (name = "operations", description = "Health and metrics"),
        (name = "organisation", description = "An organisation's own settings: receiving, webhooks, notifications"),
    )
)]
pub struct ApiDoc;

/// The document of the API's route table (`api::routes`): the paths its handlers declare,
/// then the answers every operation shares (server errors, body limits, binary bodies, the
/// digest headers' forms). Built once.
pub fn the_document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let (_, mut document) = super::routes().split_for_parts();
        for modifier in [
            &ServerErrors as &dyn Modify,
            &BodyLimits,
            &BinaryBodies,
            &DigestHeaders,
        ] {
            modifier.modify(&mut document);
        }
        document
    })
}

/// The document as served: [`the_document`] plus the OpenAPI 3.1 `webhooks` the relay sends
/// (utoipa has no field for them).
pub fn served_document() -> &'static serde_json::Value {
    static SERVED: OnceLock<serde_json::Value> = OnceLock::new();
    SERVED.get_or_init(|| {
        let mut document = serde_json::to_value(the_document()).unwrap_or_default();
        if let Some(map) = document.as_object_mut() {
            map.insert("webhooks".into(), webhooks());
        }
        document
    })
}

/// The notification POSTed to an organisation's webhook endpoints.
fn webhooks() -> serde_json::Value {
    serde_json::json!({
        "notification": {
            "post": {
                "summary": "A notice to an organisation's endpoint",
                "description": "Sent to every endpoint an organisation's admin registered (`/api/v1/org/webhooks`) for the notice's topic, as the Standard Webhooks specification describes: headers `webhook-id` (the notification's id, the same on every retry: drop duplicates by it), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256, keyed with the endpoint's secret `whsec_…` decoded from base64, of `{webhook-id}.{webhook-timestamp}.{body}`). Any 2xx answer is success; anything else, a timeout (15 s) or a connection failure is retried after 10 s, doubling to 15 minutes, ten attempts in all. Redirects are not followed. The body never holds an examinee's data, a file's name or its content: identifiers, organisation names, counts, states, times and a link to the page.",
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Payload"}}}
                },
                "responses": {
                    "2XX": {"description": "Received; not sent again"},
                    "default": {"description": "Not received; sent again later"}
                }
            }
        }
    })
}

/// The extension that names an operation in the access log (`x-access-action`).
pub const ACCESS_ACTION: &str = "x-access-action";

/// Every documented operation's method, path and access-log action: the API's part of the
/// access log's table of action names.
pub fn access_actions() -> Vec<(http::Method, String, String)> {
    let mut actions = Vec::new();
    for (path, item) in &the_document().paths.paths {
        for (method, operation) in [
            (http::Method::GET, &item.get),
            (http::Method::POST, &item.post),
            (http::Method::PUT, &item.put),
            (http::Method::DELETE, &item.delete),
            (http::Method::PATCH, &item.patch),
        ] {
            let Some(operation) = operation else { continue };
            let action = operation
                .extensions
                .as_ref()
                .and_then(|e| e.get(ACCESS_ACTION))
                .and_then(|v| v.as_str())
                .unwrap_or("other");
            actions.push((method, path.clone(), action.to_owned()));
        }
    }
    actions
}

/// Every operation of a path, whatever its method.
fn operations_mut(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.post,
        &mut item.put,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .flatten()
}

/// What any operation that reaches the database or storage may answer besides its own
/// responses: 503 while the database is unavailable, 500 for an unexpected failure (logged).
/// Only `/health` (which reports the failure in its own body), `/metrics` and `/ledger/key`
/// (which touch neither) are left as they are.
struct ServerErrors;

impl Modify for ServerErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            if matches!(path.as_str(), "/health" | "/metrics" | "/ledger/key") {
                continue;
            }
            for operation in operations_mut(item) {
                let responses = &mut operation.responses.responses;
                responses.entry("500".into()).or_insert_with(|| {
                    error("An unexpected failure (internal); the server log has the details").into()
                });
                responses.entry("503".into()).or_insert_with(|| {
                    error("The database or storage is unavailable (unavailable); try again later")
                        .into()
                });
            }
        }
    }
}

/// Every operation that takes a body has a limit on it (`api::bodies`): 16 KiB unless the
/// operation documents a larger one, answered 413 before the body is read.
struct BodyLimits;

impl Modify for BodyLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.post, &mut item.put, &mut item.patch]
                .into_iter()
                .flatten()
            {
                operation
                    .responses
                    .responses
                    .entry("413".into())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(format!(
                                "The request body is larger than this endpoint accepts \
                                 ({} bytes; payload_too_large), refused before it is read",
                                crate::request::SMALL_BODY_BYTES
                            ))
                            .content(
                                "application/json",
                                Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// Bodies sent or served as `application/octet-stream` (an upload, a download, a raw ledger
/// entry) are written `body = Vec<u8>` on the handlers, which utoipa renders as an array of
/// integers; on the wire they are bytes: `{"type": "string", "format": "binary"}`.
struct BinaryBodies;

impl Modify for BinaryBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let binary = || -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                .into()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in operations_mut(item) {
                let request = operation
                    .request_body
                    .iter_mut()
                    .flat_map(|body| body.content.iter_mut());
                let responses = operation
                    .responses
                    .responses
                    .values_mut()
                    .filter_map(|response| match response {
                        RefOr::T(response) => Some(response.content.iter_mut()),
                        RefOr::Ref(_) => None,
                    })
                    .flatten();
                for (content_type, content) in request.chain(responses) {
                    if content_type == "application/octet-stream" {
                        content.schema = Some(binary());
                    }
                }
            }
        }
    }
}

/// The digest headers of a download, with their exact form, so that a client (and the fuzzer
/// in `tests/api_fuzz.rs`) can check them: lowercase hex SHA-256, and RFC 9530's
/// `sha-256=:<base64>:`.
struct DigestHeaders;

impl Modify for DigestHeaders {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let pattern = |pattern: &str| -> RefOr<Schema> {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .into()
        };
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
                for response in operation.responses.responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    for (name, header) in response.headers.iter_mut() {
                        match name.as_str() {
                            kenshin_core::api::CONTENT_SHA256_HEADER => {
                                header.schema = pattern("^[0-9a-f]{64}$")
                            }
                            "repr-digest" => {
                                header.schema = pattern("^sha-256=:[A-Za-z0-9+/]{43}=:$")
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
}

/// `GET /api/v1/openapi.json`: this document, for any authenticated caller.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations", extensions(("x-access-action" = json!("api_description"))),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", body = Object, content_type = "application/json"),
              (status = 401, description = "No client certificate or session", body = ErrorBody),
              (status = 403, description = "A person's account not set up yet", body = ErrorBody)))]
pub async fn document(_caller: Caller) -> Json<&'static serde_json::Value> {
    Json(served_document())
}
