//! The Kenshin Relay HTTPS service.
//!
//! - [`config`]: the data directory's layout, the configuration file and its environment
//!   overrides, and the start-up checks that refuse an unsafe data directory.
//! - [`tls`]: TLS 1.3 only, client certificates verified against the built-in CA and its CRL;
//!   the connection loop that hands each request the peer's certificate.
//! - [`vault`]: encryption at rest — streams uploads into sealed blobs and blobs back out,
//!   and destroys them (crypto-shredding).
//! - [`service`]: the use cases — submissions, deliveries, maps, reports, accounts, sessions,
//!   certificates, audit export — knowing nothing of HTTP, with typed errors; the only thing
//!   the front ends, the CLI, the worker and the retention task call.
//! - [`request`]: what a request carries, for both front ends: the caller, cookies, language.
//! - [`api`]: the `/api/v1` JSON handlers, `/auth`, `/health`; [`web`]: the pages. Thin
//!   (extract → use case → answer); neither imports the other.
//! - [`router`]: the two front ends in one router, with the security headers, the body limits
//!   and the access log.
//! - [`jobs`]: the kinds of background job (the conversion is one); [`worker`] runs them.
//! - [`retention`]: the background task that expires unconfirmed deliveries.
//! - [`state`]: [`AppState`], what every handler and task is given; opening the stores.
//! - [`running`]: the composition root — [`RunningServer`] and [`RunningWorker`] wire the
//!   state, the listener, the worker and the background tasks together. Nothing in the crate
//!   imports it.

pub mod access;
pub mod api;
pub mod clock;
pub mod config;
pub mod error;
pub mod fd;
pub mod jobs;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod notifier;
pub mod receiving;
pub mod request;
pub mod retention;
pub mod router;
pub mod running;
pub mod service;
pub mod state;
pub mod tls;
pub mod vault;
pub mod web;
pub mod webauthn;
pub mod worker;

pub use config::{Config, DataDir};
pub use error::ApiError;
pub use running::{RunningServer, RunningWorker, ServerRole, Signals};
pub use state::{open_database, AppState, SHARED_STORE_SETTLE};
