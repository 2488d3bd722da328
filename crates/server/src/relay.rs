//! The file lifecycle (DESIGN §3) on top of the store and the vault.
//!
//! Each operation is: do the slow, reversible work (streaming, encrypting, fsync), then one
//! database transaction that changes state and appends the events, then the irreversible
//! clean-up (deleting blobs whose keys the transaction destroyed). A crash at any point leaves
//! either the old state or the new one, plus at most garbage that recovery removes.

use bytes::Bytes;
use futures::Stream;
use kenshin_core::api::ErrorCode;
use kenshin_core::{DeliveryId, RouteMode, SubmissionId};
use kenshin_store::{DeliveryRecord, NewObject, NewSubmission, Org, SubmissionRecord};
use time::{Duration, OffsetDateTime};

use crate::error::ApiError;
use crate::state::AppState;

/// Who is acting, as recorded in events (`cert:<serial>`, `system:retention`, …).
pub type Actor<'a> = &'a str;

/// Receives an upload. With a `receiver`, along the route to it: pass-through routes deliver
/// at once. Without one, the file is converted: it is queued for a conversion worker, which
/// splits it by 保険者番号 over the sender's convert routes.
pub async fn submit<S, E>(
    state: &AppState,
    sender: &Org,
    sender_cert_serial: Option<String>,
    receiver: Option<&str>,
    filename: &str,
    body: S,
    actor: Actor<'_>,
) -> Result<(SubmissionRecord, Vec<DeliveryRecord>), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let route = match receiver {
        Some(receiver) => {
            let route = state.db.route_between(sender.id, receiver).await?;
            // The same answer whether the organisation does not exist or has no route from
            // the sender: the sender learns nothing about who else uses the service.
            let route = route.ok_or_else(|| {
                ApiError::new(
                    http::StatusCode::NOT_FOUND,
                    ErrorCode::NotFound,
                    format!("no route from {} to {receiver}", sender.code),
                )
            })?;
            Some(route)
        }
        None => {
            if !state.db.has_convert_route(sender.id).await? {
                return Err(ApiError::new(
                    http::StatusCode::NOT_FOUND,
                    ErrorCode::NotFound,
                    format!(
                        "{} has no conversion route; name a receiver with `to`",
                        sender.code
                    ),
                ));
            }
            // MHLW archives carry standard codes and need no map; exports do.
            let is_archive = filename.to_ascii_lowercase().ends_with(".zip");
            if !is_archive && state.db.active_map(sender.id).await?.is_none() {
                return Err(ApiError::new(
                    http::StatusCode::CONFLICT,
                    ErrorCode::InvalidState,
                    "no active map file (変換テーブル) for this institution; upload and activate one first",
                ));
            }
            None
        }
    };
    let sealed = state
        .vault
        .seal_stream(body, state.config.max_upload_bytes)
        .await?;
    let now = OffsetDateTime::now_utc();
    let expires_at = now + Duration::days(i64::from(state.config.retention_days));
    let (deliver_to, enqueue) = match route.as_ref().map(|r| (r.mode, r.receiver_id)) {
        Some((RouteMode::PassThrough, receiver_id)) => (vec![(receiver_id, expires_at)], false),
        // A named receiver on a convert route, or no receiver: the worker converts and routes.
        Some((RouteMode::Convert, _)) | None => (Vec::new(), true),
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
        enqueue,
        commitment_key: kenshin_crypto::DataKey::generate()
            .map_err(|_| ApiError::internal())?
            .expose_secret()
            .to_vec(),
        actor: actor.to_owned(),
    };
    match state.db.record_submission(&new, now).await {
        Ok(recorded) => {
            if enqueue {
                state.jobs.notify_one();
            }
            Ok(recorded)
        }
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
pub(crate) async fn finish_shredding(state: &AppState, shredded: Vec<kenshin_core::ObjectId>) {
    if shredded.is_empty() {
        return;
    }
    state.vault.delete_blobs(shredded).await;
    if let Err(err) = state.db.checkpoint().await {
        tracing::debug!(error = %err, "WAL checkpoint after shredding deferred");
    }
}
