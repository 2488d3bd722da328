//! Persistence for Kenshin Relay.
//!
//! Two stores, deliberately ignorant of cryptography:
//! - [`Database`]: the metadata database (SQLite by default) — organisations, routes,
//!   certificates, objects with their *wrapped* data keys, submissions, deliveries and the
//!   append-only event record. Every lifecycle transition is one transaction that also appends
//!   its events, so the record can never disagree with the state.
//! - [`BlobStore`]: opaque blobs (ciphertext, written by the server's vault) in a directory or
//!   an S3-compatible bucket, durable (fsync, or a completed upload) before any row refers to
//!   them.

mod access;
mod blobs;
mod certs;
mod conversion;
mod db;
mod error;
mod events;
mod held;
mod jobs;
mod ledger;
mod maps;
mod notify;
mod objects;
mod orgs;
mod outputs;
mod passkeys;
mod people;
mod provision;
mod receivers;
mod relay;
mod snapshot;
mod timefmt;
mod usage;

pub use access::{AccessExpiryPlan, AccessFilter, AccessRow};
pub use blobs::{
    BlobLocation, BlobReader, BlobStore, BlobWriter, Recovery, S3Objects, S3Reader, S3Settings,
    S3Writer,
};
pub use certs::{CertRecord, NewCert};
pub use conversion::{CompletedConversion, Job, Receiver};
pub use db::{Backend, Database, SequencerLease};
pub use error::{is_storage_full, StoreError};
pub use events::{EventRecord, NewEvent, RecordCounts};
pub use held::{HeldOutput, HeldRecord, Released};
pub use jobs::{ClaimedJob, JobRecord, NewJob};
pub use ledger::{LedgerEntry, NewLedgerEntry, StoredCheckpoint};
pub use maps::MapRecord;
pub use notify::{
    ExpiringDelivery, MailRecipient, NewNotification, NotificationAttempt, NotificationRecord,
    PersonNotifications, WebhookEndpoint, NOTICE_JOB_KIND,
};
pub use objects::{NewObject, ObjectRecord, SealedContent, ShredList};
pub use orgs::{NewOrg, Org, Route};
pub use outputs::ConvertedOutput;
pub use passkeys::PasskeyRecord;
pub use people::{NewUser, SessionRecord, UserRecord};
pub use provision::{create_postgres_database, prepare_postgres_restore};
pub use receivers::{ReceiverSettings, RecipientRecord};
pub use relay::{
    ConversionRecord, DeliveryRecord, DeliverySearch, DownloadGrant, ListFilter, NewSubmission,
    SubmissionRecord,
};
pub use snapshot::ExportedSnapshot;
pub use usage::UsageRow;
