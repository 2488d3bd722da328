//! The OpenAPI 3.1 document of the HTTP interface (`GET /api/v1/openapi.json`), generated
//! from the handlers' annotations and the shared JSON types, so it cannot drift from the code.

use axum::Json;
use kenshin_core::api::{
    ClockHealth, ComponentHealth, ConversionSummary, DeliveryView, ErrorBody, ErrorCode,
    ErrorDetail, Health, LedgerEntryView, MapView, OrgRef, ProofView, StorageHealth,
    SubmissionDelivery, SubmissionView,
};
use kenshin_core::{DeliveryState, SubmissionState};
use utoipa::OpenApi;

use super::{audit, deliveries, health, ledger, maps, people, submissions, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kenshin Relay (健診リレー) API",
        description = "Secure relay and conversion of Japanese health-checkup results. Every `/api/v1` call needs a client certificate of the relay's CA (TLS 1.3), or a person's session (password + TOTP) with its CSRF token in `x-csrf-token` on state-changing calls. Another organisation's objects answer 404 exactly like missing ones.",
        license(name = "Apache-2.0")
    ),
    paths(
        submissions::create, submissions::list, submissions::show, submissions::withdraw, submissions::report,
        deliveries::list, deliveries::show, deliveries::content, deliveries::confirm,
        maps::upload, maps::list, maps::activate,
        audit::access,
        ledger::checkpoint, ledger::key, ledger::entries, ledger::entry, ledger::inclusion, ledger::consistency,
        users::list, users::create, users::disable, users::enable, users::reset_totp,
        people::login, people::whoami, people::logout, people::totp_enroll, people::totp_confirm, people::change_password,
        health::health, crate::metrics::endpoint,
    ),
    components(schemas(
        SubmissionView, SubmissionDelivery, ConversionSummary, DeliveryView, OrgRef, MapView,
        LedgerEntryView, ProofView, ErrorBody, ErrorDetail, ErrorCode, Health, ComponentHealth,
        StorageHealth, ClockHealth, SubmissionState, DeliveryState, users::NewAccount, people::LoginRequest,
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
    )
)]
pub struct ApiDoc;

/// `GET /api/v1/openapi.json`
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
