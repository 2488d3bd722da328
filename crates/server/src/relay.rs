//! The file lifecycle (DESIGN §3) on top of the store and the vault.
//!
//! Each operation is: do the slow, reversible work (streaming, encrypting, fsync), then one
//! database transaction that changes state and appends the events, then the irreversible
//! clean-up (deleting blobs whose keys the transaction destroyed). A crash at any point leaves
//! either the old state or the new one, plus at most garbage that recovery removes.

use bytes::Bytes;
use futures::Stream;
use kenshin_core::{DeliveryId, RouteMode, SubmissionId};
use kenshin_store::{DeliveryRecord, NewObject, NewSubmission, Org, SubmissionRecord};
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;
use crate::AppState;

/// Who is acting, as recorded in events (`cert:<serial>`, `system:retention`, …).
pub type Actor<'a> = &'a str;

/// Receives an upload for `receiver` along an existing route and, for pass-through routes,
/// delivers it at once. Conversion routes (next: a worker queue) plug in at the `match`.
pub async fn submit<S, E>(
    state: &AppState,
    sender: &Org,
    sender_cert_serial: Option<String>,
    receiver: &str,
    filename: &str,
    body: S,
    actor: Actor<'_>,
) -> Result<(SubmissionRecord, Vec<DeliveryRecord>), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let route = state
        .db
        .route_between(sender.id, receiver)
        .await?
        .ok_or_else(|| {
            // The same answer whether the organisation does not exist or has no route from
            // the sender: the sender learns nothing about who else uses the service.
            ApiError::new(
                http::StatusCode::NOT_FOUND,
                kenshin_core::api::ErrorCode::NotFound,
                format!("no route from {} to {receiver}", sender.code),
            )
        })?;
    let sealed = state
        .vault
        .seal_stream(body, state.config.max_upload_bytes)
        .await?;
    let now = OffsetDateTime::now_utc();
    let deliver_to = match route.mode {
        RouteMode::PassThrough => vec![(
            route.receiver_id,
            now + Duration::days(i64::from(state.config.retention_days)),
        )],
    };
    let new = NewSubmission {
        id: SubmissionId::new(),
        sender_org_id: sender.id,
        sender_cert_serial,
        filename: filename.to_owned(),
        object: NewObject {
            id: sealed.id,
            kek_id: sealed.kek_id.clone(),
            wrapped_key: sealed.wrapped_key.as_bytes().to_vec(),
            plaintext_size: sealed.plaintext_size,
            plaintext_sha256: sealed.plaintext_sha256.clone(),
            ciphertext_size: sealed.ciphertext_size,
        },
        deliver_to,
        actor: actor.to_owned(),
    };
    match state.db.record_submission(&new, now).await {
        Ok(recorded) => Ok(recorded),
        Err(err) => {
            // No row names the blob: remove it now rather than wait for recovery.
            state.vault.delete_blobs(vec![sealed.id]).await;
            Err(err.into())
        }
    }
}

pub async fn withdraw(
    state: &AppState,
    sender: &Org,
    id: SubmissionId,
    actor: Actor<'_>,
) -> Result<SubmissionRecord, ApiError> {
    let (submission, shredded) = state
        .db
        .withdraw_submission(sender.id, id, actor, OffsetDateTime::now_utc())
        .await?;
    finish_shredding(state, shredded).await;
    Ok(submission)
}

pub async fn confirm(
    state: &AppState,
    receiver: &Org,
    id: DeliveryId,
    actor: Actor<'_>,
) -> Result<DeliveryRecord, ApiError> {
    let (delivery, shredded) = state
        .db
        .confirm_delivery(receiver.id, id, actor, OffsetDateTime::now_utc())
        .await?;
    finish_shredding(state, shredded).await;
    Ok(delivery)
}

/// Expires what is due at `now`; returns how many deliveries expired.
pub async fn expire_due(state: &AppState, now: OffsetDateTime) -> Result<usize, ApiError> {
    let mut total = 0;
    loop {
        let (expired, shredded) = state.db.expire_due(now, "system:retention").await?;
        finish_shredding(state, shredded).await;
        total += expired.len();
        if expired.is_empty() {
            return Ok(total);
        }
    }
}

/// After keys were destroyed: delete the blobs and flush the WAL so no copy of a destroyed
/// wrapped key survives in the database files.
async fn finish_shredding(state: &AppState, shredded: Vec<kenshin_core::ObjectId>) {
    if shredded.is_empty() {
        return;
    }
    state.vault.delete_blobs(shredded).await;
    if let Err(err) = state.db.checkpoint().await {
        tracing::debug!(error = %err, "WAL checkpoint after shredding deferred");
    }
}
