//! The file lifecycle (DESIGN §3) on top of the store and the vault.
//!
//! Each operation is: do the slow, reversible work (streaming, encrypting, fsync), then one
//! database transaction that changes state and appends the events, then the irreversible
//! clean-up (deleting blobs whose keys the transaction destroyed). A crash at any point leaves
//! either the old state or the new one, plus at most garbage that recovery removes.

use bytes::Bytes;
use futures::Stream;
use kenshin_core::{DeliveryId, RouteMode, SubmissionId};
use kenshin_store::{DeliveryRecord, NewSubmission, Org, SubmissionRecord};
use time::{Duration, OffsetDateTime};

use super::{Error, Refusal};
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
) -> Result<(SubmissionRecord, Vec<DeliveryRecord>), Error>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let route = match receiver {
        Some(receiver) => {
            let route = state.db.route_between(sender.id, receiver).await?;
            // The same answer whether the organisation does not exist or has no route from
            // the sender: the sender learns nothing about who else uses the service.
            let route = route.ok_or_else(|| Refusal::NoRoute {
                sender: sender.code.to_string(),
                receiver: receiver.to_owned(),
            })?;
            Some(route)
        }
        None => {
            if !state.db.has_convert_route(sender.id).await? {
                return Err(Refusal::NoConvertRoute {
                    sender: sender.code.to_string(),
                }
                .into());
            }
            // MHLW archives carry standard codes and need no map; exports do.
            let is_archive = filename.to_ascii_lowercase().ends_with(".zip");
            if !is_archive && state.db.active_map(sender.id).await?.is_none() {
                return Err(Refusal::NoActiveMap.into());
            }
            None
        }
    };
    // A pass-through file to a receiver with age recipients is sealed to them while it
    // streams in: the server never holds what opens it.
    let recipients = match route.as_ref() {
        Some(route) if route.mode == RouteMode::PassThrough => {
            super::receivers::recipients_of(state, route.receiver_id).await?
        }
        _ => None,
    };
    let sealed = state
        .vault
        .seal_stream_to(body, state.config.max_upload_bytes, recipients)
        .await?;
    let now = state.now();
    let expires_at = now + Duration::days(i64::from(state.config.retention_days));
    let (deliver_to, enqueue) = match route.as_ref().map(|r| (r.mode, r.receiver_id)) {
        Some((RouteMode::PassThrough, receiver_id)) => (vec![(receiver_id, expires_at)], false),
        // A named receiver on a convert route, or no receiver: the worker converts and routes.
        Some((RouteMode::Convert, _)) | None => (Vec::new(), true),
    };
    let id = SubmissionId::new();
    let conversion = enqueue.then(|| {
        crate::jobs::new_job(
            &crate::jobs::convert::ConvertSubmission { submission_id: id },
            Some(sender.id),
        )
    });
    let new = NewSubmission {
        id,
        sender_org_id: sender.id,
        sender_cert_serial,
        filename: filename.to_owned(),
        object: sealed.new_object(),
        deliver_to,
        enqueue: conversion,
        commitment_key: kenshin_crypto::DataKey::generate()
            .map_err(|_| Error::Internal("randomness"))?
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
) -> Result<SubmissionRecord, Error> {
    let (submission, shredded) = state
        .db
        .withdraw_submission(sender.id, id, actor, state.now())
        .await?;
    state.finish_shredding(shredded).await;
    Ok(submission)
}

/// Starts a download of one of `receiver`'s deliveries: the content, decrypted while it
/// streams. Recorded as downloaded once the first chunk authenticated (and refused if the
/// content was destroyed meanwhile); a chunk that fails authentication later cuts the stream
/// short and is recorded as an integrity failure.
pub async fn download(
    state: &AppState,
    receiver: &Org,
    id: DeliveryId,
    actor: Actor<'_>,
) -> Result<
    (
        DeliveryRecord,
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ),
    Error,
> {
    use futures::TryStreamExt as _;
    let grant = state.db.download_grant(receiver.id, id).await?;
    let stream = match state.vault.open_stream(&grant.object).await {
        Ok(stream) => stream,
        Err(err) => {
            if matches!(err, crate::vault::VaultError::Integrity(_)) {
                let _ = state
                    .db
                    .record_integrity_failure(&grant.delivery, actor, state.now())
                    .await;
            }
            return Err(err.into());
        }
    };
    let delivery = state
        .db
        .record_download(receiver.id, id, actor, state.now())
        .await?;
    tracing::info!(delivery = %id, receiver = %receiver.code, size = delivery.size, "download started");
    let db = state.db.clone();
    let clock = state.clock.clone();
    let failed = delivery.clone();
    let actor = actor.to_owned();
    let stream = stream.inspect_err(move |err| {
        // A chunk failed authentication mid-stream: the answer is cut short (the client sees
        // fewer bytes than announced), and the failure is recorded.
        tracing::error!(delivery = %failed.id, error = %err, "download aborted by an integrity failure");
        let db = db.clone();
        let failed = failed.clone();
        let actor = actor.clone();
        let at = clock.now();
        tokio::spawn(async move {
            let _ = db.record_integrity_failure(&failed, &actor, at).await;
        });
    });
    Ok((delivery, stream))
}

pub async fn confirm(
    state: &AppState,
    receiver: &Org,
    id: DeliveryId,
    actor: Actor<'_>,
) -> Result<DeliveryRecord, Error> {
    let (delivery, shredded) = state
        .db
        .confirm_delivery(receiver.id, id, actor, state.now())
        .await?;
    state.finish_shredding(shredded).await;
    Ok(delivery)
}

/// Expires what is due at `now`; returns how many deliveries expired.
/// Releases every batch of held records whose 保険者番号 a convert route of its sender now
/// takes: each becomes a delivery of its own (retention from now), recorded in the ledger.
/// Returns the number of batches released.
pub async fn release_held(state: &AppState, now: OffsetDateTime) -> Result<usize, Error> {
    Ok(release_held_in(
        &state.db,
        now,
        state.config.retention_days,
        "system:release",
    )
    .await?)
}

/// [`release_held`] on a database alone (the operator's command line after it adds a route).
pub async fn release_held_in(
    db: &kenshin_store::Database,
    now: OffsetDateTime,
    retention_days: u32,
    actor: &str,
) -> Result<usize, kenshin_store::StoreError> {
    let expires_at = now + time::Duration::days(i64::from(retention_days));
    let mut total = 0;
    loop {
        let released = db.release_held(now, expires_at, actor).await?;
        for r in &released {
            tracing::info!(submission = %r.batch.submission_id, receiver = %r.receiver_code, records = r.batch.records, delivery = %r.delivery_id, "held records released");
        }
        total += released.len();
        if released.len() < 500 {
            break;
        }
    }
    // Receivers of other formats, or with age recipients, get their batches from a job that
    // writes their formats, sealed; one job per batch (a queued one is not queued again).
    for (batch_id, receiver_org_id) in db.held_to_reconvert().await? {
        let job = crate::jobs::release::ReleaseHeld {
            batch_id,
            receiver_org_id,
        };
        db.enqueue_job(&crate::jobs::new_job(&job, Some(receiver_org_id)), now)
            .await?;
    }
    Ok(total)
}

/// Destroys the conversion reports and lists of findings of files received more than the
/// retention period before `now` (ledger: `shredded`). Returns the number of files.
pub async fn expire_reports_due(state: &AppState, now: OffsetDateTime) -> Result<usize, Error> {
    let cutoff = now - time::Duration::days(i64::from(state.config.retention_days));
    let mut total = 0;
    loop {
        let (files, shredded) = state
            .db
            .expire_reports_due(cutoff, now, "system:retention")
            .await?;
        state.finish_shredding(shredded).await;
        total += files;
        if files < 500 {
            return Ok(total);
        }
    }
}

/// Destroys the held records whose retention period ended at `now` (ledger: `expired`,
/// `shredded`). Returns the number of batches.
pub async fn expire_held_due(state: &AppState, now: OffsetDateTime) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        let (expired, shredded) = state.db.expire_held_due(now, "system:retention").await?;
        state.finish_shredding(shredded).await;
        total += expired.len();
        if expired.is_empty() {
            return Ok(total);
        }
    }
}

pub async fn expire_due(state: &AppState, now: OffsetDateTime) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        let (expired, shredded) = state.db.expire_due(now, "system:retention").await?;
        state.finish_shredding(shredded).await;
        total += expired.len();
        if expired.is_empty() {
            return Ok(total);
        }
    }
}
