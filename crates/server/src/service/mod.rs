//! The use cases: everything the service does for someone, in one place, knowing nothing of
//! HTTP. The API handlers (`api`), the web pages (`web`), the admin CLI, the worker and the
//! retention task all call these functions; none of them decides a rule itself.
//!
//! - [`caller`]: who is acting ([`Caller`]: an organisation's certificate or a person with a
//!   session) and what the permission matrix lets them do.
//! - [`sessions`]: login with password and second factor, sessions, enrolment, password
//!   change, the person-certificate rule.
//! - [`accounts`]: people's accounts (created, disabled, enabled, second factor reset).
//! - [`roles`]: an organisation's kind in the permission matrix; a device certificate's roles.
//! - [`certificates`]: issuing and revoking client certificates, publishing the CRL.
//! - [`submissions`], [`deliveries`]: the sender's and the receiver's use cases (send, list,
//!   show, withdraw; inbox, download, 受信完了), on top of [`relay`], the file lifecycle on the
//!   store and the vault (and expiry, for the retention task).
//! - [`ledger`]: checkpoints, a party's entries and proofs, receipts, a file's proven history.
//! - [`maps`]: an institution's map files (変換テーブル).
//! - [`reports`]: conversion reports.
//! - [`audit`]: the access log in its export model.
//! - [`operations`]: the operator console; an organisation's own details and routes.
//! - [`health`]: database, storage, clock and alerts, for `/health` and the operator console.
//! - [`views`]: store records as the API's views (`kenshin_core::api`), lists in one query.
//!
//! Errors are [`Error`]: typed, `#[non_exhaustive]`, each rule its own variant. Each front end
//! says them its own way (the API as `{"error": {code, message}}`, the pages as a page).
//! Time comes from the [`Clock`](crate::clock::Clock) the state carries, so rules about time
//! are tested by moving a clock, not by sleeping.

pub mod accounts;
pub mod audit;
pub mod caller;
pub mod certificates;
pub mod deliveries;
pub mod directory;
mod error;
pub mod health;
pub mod ledger;
pub mod maps;
pub mod notifications;
pub mod operations;
pub mod passkeys;
pub mod receivers;
pub mod relay;
pub mod reports;
pub mod roles;
pub mod sessions;
pub mod submissions;
pub mod views;

pub use caller::{Caller, Principal};
pub use error::{
    AccountProblem, DirectoryProblem, Error, NotificationProblem, RecipientProblem, Refusal,
};
