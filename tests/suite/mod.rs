//! The suites of `tests/tests.rs`, one module per area.

mod access_log;
mod conversion;
mod jobs;
mod ledger;
mod metrics;
mod mhlw_roundtrip;
mod notifications;
mod openapi;
mod people;
mod receiving;
mod relay_api;
mod roles;
mod roles_split;
mod security_alerts;
mod service;
mod storage_full;
mod tls_auth;
mod web_pages;
