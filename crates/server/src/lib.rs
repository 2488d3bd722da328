//! The Kenshin Relay HTTPS service.
//!
//! - [`config`]: the data directory's layout, the configuration file and its environment
//!   overrides, and the start-up checks that refuse an unsafe data directory.
//! - [`tls`]: TLS 1.3 only, client certificates verified against the built-in CA and its CRL;
//!   the connection loop that hands each request the peer's certificate.
//! - [`vault`]: encryption at rest — streams uploads into sealed blobs and blobs back out,
//!   and destroys them (crypto-shredding).
//! - [`relay`]: the file lifecycle on top of the store and the vault; the place where a route's
//!   mode decides what happens to a received file.
//! - [`api`]: the `/api/v1` JSON handlers and `/health`.
//! - [`retention`]: the background task that expires unconfirmed deliveries.
//! - [`state`]: [`AppState`], what every handler and task is given; opening the stores.
//! - [`running`]: the composition root — [`RunningServer`] and [`RunningWorker`] wire the
//!   state, the listener, the worker and the background tasks together. Nothing in the crate
//!   imports it.

pub mod access;
pub mod accounts;
pub mod api;
pub mod certificates;
pub mod clock;
pub mod config;
pub mod error;
pub mod fd;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod relay;
pub mod retention;
pub mod running;
pub mod state;
pub mod tls;
pub mod vault;
pub mod web;
pub mod worker;

pub use config::{Config, DataDir};
pub use error::ApiError;
pub use running::{RunningServer, RunningWorker, ServerRole, Signals};
pub use state::{open_database, AppState, SHARED_STORE_SETTLE};
