//! Held records: what a conversion did not deliver, kept encrypted for the sender as batches
//! (unrouted records per 保険者番号; rows that cannot be identified, as sent). A batch ends
//! released to a receiver (a delivery of its own), expired or withdrawn — each with a ledger
//! entry, so no record is ever destroyed silently.

use std::collections::HashMap;

use kenshin_core::{
    DeliveryId, DeliveryState, EventKind, HeldReason, HeldState, ObjectId, SubmissionId,
};
use time::OffsetDateTime;

use crate::db::Scope;
use crate::events::{append, NewEvent, RecordCounts};
use crate::objects::{insert_object, shred_in_tx, NewObject, ShredList};
use crate::timefmt::{from_ms, opt_from_ms, parse, to_ms};
use crate::{Database, StoreError};

/// A batch a finished conversion keeps for the sender, durable in the blob store.
#[derive(Clone, Debug)]
pub struct HeldOutput {
    pub reason: HeldReason,
    /// The 保険者番号 of unrouted records ('' when they have none); '' for rejected rows.
    pub insurer_number: String,
    pub object: NewObject,
    pub filename: String,
    pub records: u64,
    pub expires_at: OffsetDateTime,
}

/// A held batch as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldRecord {
    pub id: String,
    pub submission_id: SubmissionId,
    pub sender_org_id: i64,
    pub sender_code: String,
    pub reason: HeldReason,
    pub insurer_number: String,
    pub object_id: ObjectId,
    pub filename: String,
    pub records: u64,
    /// Plaintext size of the batch's file.
    pub size: u64,
    pub state: HeldState,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub download_count: u64,
    pub released_at: Option<OffsetDateTime>,
    pub delivery_id: Option<DeliveryId>,
    /// The receiver a released batch went to: (code, name).
    pub released_to: Option<(String, String)>,
}

const HELD_SELECT: &str = "SELECT h.id, h.submission_id, h.sender_org_id, s.code AS sender_code, \
     h.reason, h.insurer_number, h.object_id, h.filename, h.records, o.plaintext_size, h.state, \
     h.created_at, h.expires_at, h.download_count, h.released_at, h.delivery_id, \
     r.code AS receiver_code, r.name AS receiver_name \
     FROM held_batches h JOIN orgs s ON s.id = h.sender_org_id \
     JOIN objects o ON o.id = h.object_id \
     LEFT JOIN deliveries d ON d.id = h.delivery_id \
     LEFT JOIN orgs r ON r.id = d.receiver_org_id";

#[derive(sqlx::FromRow)]
struct HeldRow {
    id: String,
    submission_id: String,
    sender_org_id: i64,
    sender_code: String,
    reason: String,
    insurer_number: String,
    object_id: String,
    filename: String,
    records: i64,
    plaintext_size: i64,
    state: String,
    created_at: i64,
    expires_at: i64,
    download_count: i64,
    released_at: Option<i64>,
    delivery_id: Option<String>,
    receiver_code: Option<String>,
    receiver_name: Option<String>,
}

impl TryFrom<HeldRow> for HeldRecord {
    type Error = StoreError;

    fn try_from(row: HeldRow) -> Result<HeldRecord, StoreError> {
        const T: &str = "held_batches";
        Ok(HeldRecord {
            id: row.id,
            submission_id: parse(T, row.submission_id)?,
            sender_org_id: row.sender_org_id,
            sender_code: row.sender_code,
            reason: parse(T, row.reason)?,
            insurer_number: row.insurer_number,
            object_id: parse(T, row.object_id)?,
            filename: row.filename,
            records: row.records.max(0) as u64,
            size: row.plaintext_size.max(0) as u64,
            state: parse(T, row.state)?,
            created_at: from_ms(row.created_at),
            expires_at: from_ms(row.expires_at),
            download_count: row.download_count.max(0) as u64,
            released_at: opt_from_ms(row.released_at),
            delivery_id: row.delivery_id.map(|d| parse(T, d)).transpose()?,
            released_to: row.receiver_code.zip(row.receiver_name),
        })
    }
}

fn held_event(kind: EventKind, actor: &str, held: &HeldRecord) -> NewEvent {
    let mut event = NewEvent::new(kind, actor);
    event.sender_org = Some(held.sender_code.clone());
    event.submission_id = Some(held.submission_id);
    event.object_id = Some(held.object_id);
    event.size = Some(held.size);
    event.counts = Some(counts(held.reason, held.records));
    event
}

/// A batch's records counted as what they are: unrouted or rejected.
fn counts(reason: HeldReason, records: u64) -> RecordCounts {
    match reason {
        HeldReason::Unrouted => RecordCounts {
            records_unrouted: records,
            ..RecordCounts::default()
        },
        HeldReason::Rejected => RecordCounts {
            records_rejected: records,
            ..RecordCounts::default()
        },
    }
}

/// Records a conversion's held batch inside the conversion's transaction, with its ledger
/// entry (`held`: counts only — never a 保険者番号 or a value).
pub(crate) async fn insert_held_in_tx(
    conn: &mut sqlx::AnyConnection,
    submission_id: SubmissionId,
    sender_org_id: i64,
    sender_code: &str,
    held: &HeldOutput,
    actor: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    insert_object(conn, &held.object, now).await?;
    sqlx::query(
        "INSERT INTO held_batches (id, submission_id, sender_org_id, reason, insurer_number, \
         object_id, filename, records, state, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(submission_id.to_string())
    .bind(sender_org_id)
    .bind(held.reason.as_str())
    .bind(&held.insurer_number)
    .bind(held.object.id.to_string())
    .bind(&held.filename)
    .bind(held.records as i64)
    .bind(HeldState::Held.as_str())
    .bind(to_ms(now))
    .bind(to_ms(held.expires_at))
    .execute(&mut *conn)
    .await?;
    let mut event = NewEvent::new(EventKind::Held, actor);
    event.sender_org = Some(sender_code.to_owned());
    event.submission_id = Some(submission_id);
    event.object_id = Some(held.object.id);
    event.size = Some(held.object.plaintext_size);
    event.reason = Some(held.reason.as_str().to_owned());
    event.counts = Some(counts(held.reason, held.records));
    append(conn, &event, now).await?;
    Ok(())
}

/// Closes the still-held batches of a withdrawn submission inside the withdrawal's
/// transaction; returns their objects for destruction.
pub(crate) async fn withdraw_held_in_tx(
    conn: &mut sqlx::AnyConnection,
    submission_id: SubmissionId,
    actor: &str,
    now: OffsetDateTime,
) -> Result<Vec<ObjectId>, StoreError> {
    let held: Vec<HeldRecord> = sqlx::query_as::<_, HeldRow>(&format!(
        "{HELD_SELECT} WHERE h.submission_id = $1 AND h.state = $2"
    ))
    .bind(submission_id.to_string())
    .bind(HeldState::Held.as_str())
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(HeldRecord::try_from)
    .collect::<Result<_, _>>()?;
    let mut objects = Vec::with_capacity(held.len());
    for batch in held {
        let Some(next) = batch.state.withdraw() else {
            continue;
        };
        close(conn, &batch, next, now).await?;
        let mut event = held_event(EventKind::Withdrawn, actor, &batch);
        event.reason = Some("withdrawn".into());
        append(conn, &event, now).await?;
        objects.push(batch.object_id);
    }
    Ok(objects)
}

async fn close(
    conn: &mut sqlx::AnyConnection,
    batch: &HeldRecord,
    next: HeldState,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE held_batches SET state = $1, closed_at = $2 WHERE id = $3 AND state = $4")
        .bind(next.as_str())
        .bind(to_ms(now))
        .bind(&batch.id)
        .bind(batch.state.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether a still-held batch needs `object` (a released batch's object is its delivery's).
pub(crate) async fn held_needs(
    conn: &mut sqlx::AnyConnection,
    object: ObjectId,
) -> Result<bool, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM held_batches WHERE object_id = $1 AND state = $2")
            .bind(object.to_string())
            .bind(HeldState::Held.as_str())
            .fetch_one(conn)
            .await?;
    Ok(n > 0)
}

/// A batch released to a receiver.
#[derive(Clone, Debug)]
pub struct Released {
    pub batch: HeldRecord,
    pub delivery_id: DeliveryId,
    pub receiver_code: String,
}

impl Database {
    /// The held batches of some submissions (of one sender's page), oldest first.
    pub async fn held_of(
        &self,
        submissions: &[SubmissionId],
    ) -> Result<HashMap<SubmissionId, Vec<HeldRecord>>, StoreError> {
        let mut out: HashMap<SubmissionId, Vec<HeldRecord>> = HashMap::new();
        if submissions.is_empty() {
            return Ok(out);
        }
        let mut rx = self.read_transaction(Scope::System).await?;
        for chunk in submissions.chunks(200) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{HELD_SELECT} WHERE h.submission_id IN ({}) ORDER BY h.created_at, h.insurer_number",
                placeholders.join(", ")
            );
            let mut query = sqlx::query_as::<_, HeldRow>(&sql);
            for id in chunk {
                query = query.bind(id.to_string());
            }
            for row in query.fetch_all(&mut *rx).await? {
                let record = HeldRecord::try_from(row)?;
                out.entry(record.submission_id).or_default().push(record);
            }
        }
        Ok(out)
    }

    /// One held batch of one of the sender's submissions (the tenant check is in the query).
    pub async fn held_batch(
        &self,
        sender_org_id: i64,
        submission: SubmissionId,
        batch: &str,
    ) -> Result<HeldRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query_as::<_, HeldRow>(&format!(
            "{HELD_SELECT} WHERE h.id = $1 AND h.submission_id = $2 AND h.sender_org_id = $3"
        ))
        .bind(batch)
        .bind(submission.to_string())
        .bind(sender_org_id)
        .fetch_optional(&mut *rx)
        .await?
        .map(HeldRecord::try_from)
        .transpose()?
        .ok_or(StoreError::NotFound)
    }

    /// The sender downloads a held batch: allowed while it is held; counted, and recorded in
    /// the ledger (`downloaded`, reason `held_by_sender`).
    pub async fn record_held_download(
        &self,
        batch: &HeldRecord,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        batch
            .state
            .download()
            .map_err(|_| StoreError::Gone(held_gone(batch)))?;
        let mut tx = self.write_transaction().await?;
        let changed = sqlx::query(
            "UPDATE held_batches SET download_count = download_count + 1 WHERE id = $1 AND state = $2",
        )
        .bind(&batch.id)
        .bind(HeldState::Held.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(StoreError::Gone(held_gone(batch)));
        }
        let mut event = held_event(EventKind::Downloaded, actor, batch);
        event.actor_org = Some(batch.sender_code.clone());
        event.reason = Some("held_by_sender".into());
        append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Releases every held batch whose 保険者番号 a convert route of its sender now takes: each
    /// becomes a delivery of its own to that receiver (the same encrypted object; the
    /// delivery's retention starts now and ends at `expires_at`), recorded in the ledger
    /// (`released`) and counted for usage. Runs after a route, an insurer or a delegation is
    /// added, and on every retention sweep.
    pub async fn release_held(
        &self,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        actor: &str,
    ) -> Result<Vec<Released>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let due: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT h.id, COALESCE(dl.agent_org_id, n.org_id) AS receiver_id, ro.code \
             FROM held_batches h \
             JOIN insurer_numbers n ON n.number = h.insurer_number \
             LEFT JOIN delegations dl ON dl.insurer_org_id = n.org_id \
             JOIN routes r ON r.receiver_org_id = COALESCE(dl.agent_org_id, n.org_id) \
                          AND r.sender_org_id = h.sender_org_id AND r.mode = 'convert' \
             JOIN orgs ro ON ro.id = COALESCE(dl.agent_org_id, n.org_id) \
             WHERE h.state = $1 AND h.reason = $2 AND ro.output_formats = 'std-csv' \
               AND NOT EXISTS (SELECT 1 FROM org_recipients rc WHERE rc.org_id = ro.id) \
             ORDER BY h.created_at LIMIT 500",
        )
        .bind(HeldState::Held.as_str())
        .bind(HeldReason::Unrouted.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let month = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
        let mut released = Vec::with_capacity(due.len());
        for (id, receiver_org_id, receiver_code) in due {
            let batch: HeldRecord =
                sqlx::query_as::<_, HeldRow>(&format!("{HELD_SELECT} WHERE h.id = $1"))
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_into()?;
            let next = batch
                .state
                .release(batch.reason)
                .map_err(crate::error::lifecycle)?;
            let delivery_id = DeliveryId::new();
            sqlx::query(
                "INSERT INTO deliveries (id, submission_id, receiver_org_id, object_id, filename, \
                 state, created_at, expires_at, records, format, insurer_number) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'std-csv', $10)",
            )
            .bind(delivery_id.to_string())
            .bind(batch.submission_id.to_string())
            .bind(receiver_org_id)
            .bind(batch.object_id.to_string())
            .bind(&batch.filename)
            .bind(DeliveryState::Ready.as_str())
            .bind(to_ms(now))
            .bind(to_ms(expires_at))
            .bind(batch.records as i64)
            .bind(&batch.insurer_number)
            .execute(&mut *tx)
            .await?;
            mark_released(&mut tx, &batch, next, delivery_id, now).await?;
            crate::usage::count_usage(&mut tx, receiver_org_id, &month, batch.records).await?;
            let mut event = held_event(EventKind::Released, actor, &batch);
            event.receiver_org = Some(receiver_code.clone());
            event.delivery_id = Some(delivery_id);
            event.counts = Some(RecordCounts {
                records_out: batch.records,
                ..RecordCounts::default()
            });
            append(&mut tx, &event, now).await?;
            released.push(Released {
                batch,
                delivery_id,
                receiver_code,
            });
        }
        tx.commit().await?;
        Ok(released)
    }

    /// Held batches a route now takes whose receiver wants other formats than the standard CSV
    /// or has age recipients: each is released by a background job that writes the receiver's
    /// formats, sealed ([`Database::release_held_as`]). (batch id, receiver org id), oldest
    /// first, at most 500.
    pub async fn held_to_reconvert(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        Ok(sqlx::query_as(
            "SELECT h.id, COALESCE(dl.agent_org_id, n.org_id) AS receiver_id \
             FROM held_batches h \
             JOIN insurer_numbers n ON n.number = h.insurer_number \
             LEFT JOIN delegations dl ON dl.insurer_org_id = n.org_id \
             JOIN routes r ON r.receiver_org_id = COALESCE(dl.agent_org_id, n.org_id) \
                          AND r.sender_org_id = h.sender_org_id AND r.mode = 'convert' \
             JOIN orgs ro ON ro.id = COALESCE(dl.agent_org_id, n.org_id) \
             WHERE h.state = $1 AND h.reason = $2 AND (ro.output_formats <> 'std-csv' \
               OR EXISTS (SELECT 1 FROM org_recipients rc WHERE rc.org_id = ro.id)) \
             ORDER BY h.created_at LIMIT 500",
        )
        .bind(HeldState::Held.as_str())
        .bind(HeldReason::Unrouted.as_str())
        .fetch_all(&mut *rx)
        .await?)
    }

    /// A held batch by id, for the job that releases it.
    pub async fn held_batch_by_id(&self, id: &str) -> Result<HeldRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query_as::<_, HeldRow>(&format!("{HELD_SELECT} WHERE h.id = $1"))
            .bind(id)
            .fetch_optional(&mut *rx)
            .await?
            .ok_or(StoreError::NotFound)?
            .try_into()
    }

    /// Releases a held batch as new outputs (the receiver's formats, sealed to its recipients):
    /// a delivery per output, the batch released (its `delivery_id` the first one's), usage
    /// counted once, `released` in the ledger per delivery, and the batch's own object — the
    /// sender's standard CSV, which the server could read — destroyed. Answers the objects to
    /// delete; a batch no longer held answers `InvalidState` and changes nothing.
    pub async fn release_held_as(
        &self,
        batch_id: &str,
        receiver_org_id: i64,
        outputs: &[crate::outputs::ConvertedOutput],
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<ShredList, StoreError> {
        let mut tx = self.write_transaction().await?;
        let batch: HeldRecord =
            sqlx::query_as::<_, HeldRow>(&format!("{HELD_SELECT} WHERE h.id = $1"))
                .bind(batch_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?
                .try_into()?;
        let next = batch
            .state
            .release(batch.reason)
            .map_err(crate::error::lifecycle)?;
        let month = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
        let mut first = None;
        for output in outputs {
            if output.receiver_org_id != receiver_org_id {
                return Err(StoreError::InvalidState(
                    "a held batch is released to one receiver".into(),
                ));
            }
            let event = held_event(EventKind::Released, actor, &batch);
            let id = crate::outputs::deliver_output(
                &mut tx,
                batch.submission_id,
                output,
                event,
                &month,
                now,
            )
            .await?;
            first.get_or_insert(id);
        }
        let first = first.ok_or_else(|| {
            StoreError::InvalidState("a held batch is released as at least one output".into())
        })?;
        mark_released(&mut tx, &batch, next, first, now).await?;
        let context = held_event(EventKind::Shredded, actor, &batch);
        let shredded = shred_in_tx(&mut tx, batch.object_id, context, "released", now).await?;
        tx.commit().await?;
        Ok(shredded)
    }

    /// Expires the held batches whose retention period ended at `now`, destroying their
    /// content with a ledger entry (`expired`, then `shredded`). At most 500 per call.
    pub async fn expire_held_due(
        &self,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(Vec<HeldRecord>, ShredList), StoreError> {
        let mut tx = self.write_transaction().await?;
        let due: Vec<HeldRecord> = sqlx::query_as::<_, HeldRow>(&format!(
            "{HELD_SELECT} WHERE h.state = $1 AND h.expires_at <= $2 ORDER BY h.expires_at LIMIT 500"
        ))
        .bind(HeldState::Held.as_str())
        .bind(to_ms(now))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(HeldRecord::try_from)
        .collect::<Result<_, _>>()?;
        let mut shredded = Vec::new();
        for batch in &due {
            let next = batch.state.expire().map_err(crate::error::lifecycle)?;
            close(&mut tx, batch, next, now).await?;
            let mut event = held_event(EventKind::Expired, actor, batch);
            event.reason = Some("held_retention_elapsed".into());
            append(&mut tx, &event, now).await?;
            let context = held_event(EventKind::Shredded, actor, batch);
            shredded.extend(shred_in_tx(&mut tx, batch.object_id, context, "expired", now).await?);
        }
        tx.commit().await?;
        Ok((due, shredded))
    }
}

/// Why a held batch can no longer be downloaded, for the sender.
fn held_gone(batch: &HeldRecord) -> String {
    match batch.state {
        HeldState::Released => "the records were released to their receiver".into(),
        HeldState::Expired => {
            "the records were destroyed at the end of the retention period".into()
        }
        HeldState::Withdrawn => "the records were destroyed when the file was withdrawn".into(),
        HeldState::Held => "the records are held".into(),
    }
}

/// A held batch released as `delivery` (the first, when it became several).
async fn mark_released(
    conn: &mut sqlx::AnyConnection,
    batch: &HeldRecord,
    next: HeldState,
    delivery: DeliveryId,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE held_batches SET state = $1, released_at = $2, delivery_id = $3 \
         WHERE id = $4 AND state = $5",
    )
    .bind(next.as_str())
    .bind(to_ms(now))
    .bind(delivery.to_string())
    .bind(&batch.id)
    .bind(batch.state.as_str())
    .execute(conn)
    .await?;
    Ok(())
}
