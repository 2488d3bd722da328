//! Submissions, deliveries and their encrypted objects: every transition of a file's life is
//! one transaction here, which also appends the events that describe it.
//!
//! Tenant isolation starts in these queries: a submission is only ever looked up together with
//! its sender's organisation id, a delivery together with its receiver's, so another
//! organisation's identifier finds nothing.

use kenshin_core::{
    DeliveryId, DeliveryState, EventKind, LifecycleError, ObjectId, SubmissionId, SubmissionState,
};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, FromRow};
use time::OffsetDateTime;

use crate::db::Scope;
use crate::error::lifecycle;
use crate::events::{append, NewEvent};
use crate::objects::{shred_in_tx, NewObject, ObjectRecord, ShredList};
use crate::timefmt::parse;
use crate::timefmt::{from_ms, opt_from_ms, to_ms};
use crate::{Database, StoreError};

/// A new submission, delivered straight away to the given receivers (pass-through routes).
#[derive(Clone, Debug)]
pub struct NewSubmission {
    pub id: SubmissionId,
    pub sender_org_id: i64,
    pub sender_cert_serial: Option<String>,
    pub filename: String,
    pub object: NewObject,
    /// `(receiver org id, delivery expiry)`; each receiver gets a delivery of the object.
    pub deliver_to: Vec<(i64, OffsetDateTime)>,
    /// A background job enqueued in the same transaction: the conversion, whose deliveries
    /// come from the worker.
    pub enqueue: Option<crate::NewJob>,
    /// The parties' key for the ledger's content commitments (32 random bytes).
    pub commitment_key: Vec<u8>,
    pub actor: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionRecord {
    pub id: SubmissionId,
    pub sender_org_id: i64,
    pub sender_code: String,
    pub sender_name: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub state: SubmissionState,
    pub object_id: ObjectId,
    pub received_at: OffsetDateTime,
    pub withdrawn_at: Option<OffsetDateTime>,
    /// Set once a conversion finished.
    pub conversion: Option<ConversionRecord>,
    /// Key of the ledger's content commitments for this file (both parties know it).
    pub commitment_key: Option<Vec<u8>>,
}

/// Counts and provenance of a finished conversion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversionRecord {
    pub records_in: u64,
    pub records_out: u64,
    pub records_rejected: u64,
    pub records_unrouted: u64,
    pub map_label: Option<String>,
    pub profile_label: Option<String>,
    pub converter: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub submission_id: SubmissionId,
    pub receiver_org_id: i64,
    pub receiver_code: String,
    pub receiver_name: String,
    pub sender_code: String,
    pub sender_name: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    pub object_id: ObjectId,
    pub state: DeliveryState,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub first_downloaded_at: Option<OffsetDateTime>,
    pub download_count: u32,
    pub confirmed_at: Option<OffsetDateTime>,
    pub shredded_at: Option<OffsetDateTime>,
    /// Records in a converted delivery.
    pub records: Option<u64>,
    /// Key of the ledger's content commitments for this file (both parties know it).
    pub commitment_key: Option<Vec<u8>>,
    /// Set when the file is an age file sealed to the receiver's recipients: the size and
    /// SHA-256 of what is inside (`size`/`sha256` are the age file's, as downloaded).
    pub sealed_content: Option<crate::SealedContent>,
    /// A converted delivery's format code (`std-csv`, `mhlw-xml`, `fhir`); `None` for
    /// pass-through.
    pub format: Option<String>,
    /// A converted delivery's 保険者番号 (outputs are split by it).
    pub insurer_number: Option<String>,
}

/// What a receiver needs to stream a delivery: the delivery and its object's wrapped key.
#[derive(Clone, Debug)]
pub struct DownloadGrant {
    pub delivery: DeliveryRecord,
    pub object: ObjectRecord,
}

#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    pub state: Option<String>,
    /// Only files of this content (lowercase hex SHA-256 of the plaintext).
    pub sha256: Option<String>,
    pub limit: u32,
    pub offset: u64,
    /// A receiver's search of its inbox (deliveries only).
    pub search: DeliverySearch,
}

/// What a receiver searches its inbox by; every field left `None` matches all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeliverySearch {
    /// The sender's organisation code.
    pub sender: Option<String>,
    /// Delivered at or after.
    pub from: Option<OffsetDateTime>,
    /// Delivered before.
    pub until: Option<OffsetDateTime>,
    /// A converted delivery's 保険者番号.
    pub insurer_number: Option<String>,
    /// `std-csv`, `mhlw-xml`, `fhir`, or `pass-through` for files delivered as sent.
    pub format: Option<String>,
}

const SUBMISSION_SELECT: &str = "SELECT sub.id, sub.sender_org_id, o.code AS sender_code, \
     o.name AS sender_name, sub.filename, sub.size, sub.sha256, sub.state, sub.object_id, \
     sub.received_at, sub.withdrawn_at, sub.records_in, sub.records_out, sub.records_rejected, \
     sub.records_unrouted, sub.map_label, sub.profile_label, sub.converter, sub.commitment_key \
     FROM submissions sub JOIN orgs o ON o.id = sub.sender_org_id";

const DELIVERY_SELECT: &str = "SELECT d.id, d.submission_id, d.receiver_org_id, \
     r.code AS receiver_code, r.name AS receiver_name, s.code AS sender_code, s.name AS sender_name, \
     d.filename, obj.plaintext_size AS size, obj.plaintext_sha256 AS sha256, d.object_id, d.state, \
     d.created_at, d.expires_at, d.first_downloaded_at, d.download_count, d.confirmed_at, d.shredded_at, \
     d.records, sub.commitment_key, obj.content_size, obj.content_sha256, d.format, d.insurer_number \
     FROM deliveries d \
     JOIN submissions sub ON sub.id = d.submission_id \
     JOIN orgs r ON r.id = d.receiver_org_id \
     JOIN orgs s ON s.id = sub.sender_org_id \
     JOIN objects obj ON obj.id = d.object_id";

/// A row of `SUBMISSION_SELECT`, as stored.
#[derive(sqlx::FromRow)]
struct SubmissionRow {
    id: String,
    sender_org_id: i64,
    sender_code: String,
    sender_name: String,
    filename: String,
    size: i64,
    sha256: String,
    state: String,
    object_id: String,
    received_at: i64,
    withdrawn_at: Option<i64>,
    records_in: Option<i64>,
    records_out: Option<i64>,
    records_rejected: Option<i64>,
    records_unrouted: Option<i64>,
    map_label: Option<String>,
    profile_label: Option<String>,
    converter: Option<String>,
    commitment_key: Option<Vec<u8>>,
}

impl TryFrom<SubmissionRow> for SubmissionRecord {
    type Error = StoreError;

    fn try_from(row: SubmissionRow) -> Result<SubmissionRecord, StoreError> {
        Ok(SubmissionRecord {
            id: parse("submissions", row.id)?,
            sender_org_id: row.sender_org_id,
            sender_code: row.sender_code,
            sender_name: row.sender_name,
            filename: row.filename,
            size: row.size as u64,
            sha256: row.sha256,
            state: parse("submissions", row.state)?,
            object_id: parse("submissions", row.object_id)?,
            received_at: from_ms(row.received_at),
            withdrawn_at: opt_from_ms(row.withdrawn_at),
            conversion: row.records_in.map(|records_in| ConversionRecord {
                records_in: records_in as u64,
                records_out: row.records_out.unwrap_or(0) as u64,
                records_rejected: row.records_rejected.unwrap_or(0) as u64,
                records_unrouted: row.records_unrouted.unwrap_or(0) as u64,
                map_label: row.map_label,
                profile_label: row.profile_label,
                converter: row.converter,
            }),
            commitment_key: row.commitment_key,
        })
    }
}

fn submission_from_row(row: sqlx::any::AnyRow) -> Result<SubmissionRecord, StoreError> {
    SubmissionRow::from_row(&row)?.try_into()
}

/// A row of `DELIVERY_SELECT`, as stored.
#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: String,
    submission_id: String,
    receiver_org_id: i64,
    receiver_code: String,
    receiver_name: String,
    sender_code: String,
    sender_name: String,
    filename: String,
    size: i64,
    sha256: String,
    object_id: String,
    state: String,
    created_at: i64,
    expires_at: i64,
    first_downloaded_at: Option<i64>,
    download_count: i64,
    confirmed_at: Option<i64>,
    shredded_at: Option<i64>,
    records: Option<i64>,
    commitment_key: Option<Vec<u8>>,
    content_size: Option<i64>,
    content_sha256: Option<String>,
    format: Option<String>,
    insurer_number: Option<String>,
}

impl TryFrom<DeliveryRow> for DeliveryRecord {
    type Error = StoreError;

    fn try_from(row: DeliveryRow) -> Result<DeliveryRecord, StoreError> {
        Ok(DeliveryRecord {
            id: parse("deliveries", row.id)?,
            submission_id: parse("deliveries", row.submission_id)?,
            receiver_org_id: row.receiver_org_id,
            receiver_code: row.receiver_code,
            receiver_name: row.receiver_name,
            sender_code: row.sender_code,
            sender_name: row.sender_name,
            filename: row.filename,
            size: row.size as u64,
            sha256: row.sha256,
            object_id: parse("deliveries", row.object_id)?,
            state: parse("deliveries", row.state)?,
            created_at: from_ms(row.created_at),
            expires_at: from_ms(row.expires_at),
            first_downloaded_at: opt_from_ms(row.first_downloaded_at),
            download_count: row.download_count as u32,
            confirmed_at: opt_from_ms(row.confirmed_at),
            shredded_at: opt_from_ms(row.shredded_at),
            records: row.records.map(|n| n as u64),
            commitment_key: row.commitment_key,
            sealed_content: crate::objects::sealed_content(row.content_size, row.content_sha256),
            format: row.format,
            insurer_number: row.insurer_number,
        })
    }
}

fn delivery_from_row(row: sqlx::any::AnyRow) -> Result<DeliveryRecord, StoreError> {
    DeliveryRow::from_row(&row)?.try_into()
}

fn limit_of(filter: &ListFilter) -> i64 {
    i64::from(filter.limit.clamp(1, 1000))
}

impl Database {
    /// Registers a durable, encrypted upload and its deliveries in one transaction. Until this
    /// commits, the blob is an orphan that recovery removes; after, the sender holds a receipt.
    pub async fn record_submission(
        &self,
        new: &NewSubmission,
        now: OffsetDateTime,
    ) -> Result<(SubmissionRecord, Vec<DeliveryRecord>), StoreError> {
        let mut tx = self.write_transaction().await?;
        let object = &new.object;
        crate::objects::insert_object(&mut tx, object, now).await?;
        // What the sender sent: inside the age file when the object is sealed to the receiver.
        let (content_size, content_sha256) = match &object.sealed_content {
            Some(c) => (c.size, c.sha256.as_str()),
            None => (object.plaintext_size, object.plaintext_sha256.as_str()),
        };
        let state = if new.deliver_to.is_empty() {
            SubmissionState::Received
        } else {
            SubmissionState::Delivered
        };
        sqlx::query(
            "INSERT INTO submissions (id, sender_org_id, sender_cert_serial, filename, size, sha256, \
             state, object_id, received_at, commitment_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(new.id.to_string())
        .bind(new.sender_org_id)
        .bind(&new.sender_cert_serial)
        .bind(&new.filename)
        .bind(content_size as i64)
        .bind(content_sha256)
        .bind(state.as_str())
        .bind(object.id.to_string())
        .bind(to_ms(now))
        .bind(&new.commitment_key)
        .execute(&mut *tx)
        .await?;
        let sender_code = org_code(&mut tx, new.sender_org_id).await?;
        let mut received = NewEvent::new(EventKind::Received, &new.actor);
        received.actor_org = Some(sender_code.clone());
        received.sender_org = Some(sender_code.clone());
        received.submission_id = Some(new.id);
        received.object_id = Some(object.id);
        received.size = Some(content_size);
        received.ciphertext_size = Some(object.ciphertext_size);
        append(&mut tx, &received, now).await?;

        if let Some(job) = &new.enqueue {
            crate::jobs::enqueue_in_tx(&mut tx, job, now).await?;
        }
        let mut delivery_ids = Vec::with_capacity(new.deliver_to.len());
        for &(receiver_org_id, expires_at) in &new.deliver_to {
            let delivery_id = DeliveryId::new();
            sqlx::query(
                "INSERT INTO deliveries (id, submission_id, receiver_org_id, object_id, filename, \
                 state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $8, $6, $7)",
            )
            .bind(delivery_id.to_string())
            .bind(new.id.to_string())
            .bind(receiver_org_id)
            .bind(object.id.to_string())
            .bind(match object.sealed_content {
                // An age file sealed to the receiver says so in its name.
                Some(_) => format!("{}.age", new.filename),
                None => new.filename.clone(),
            })
            .bind(to_ms(now))
            .bind(to_ms(expires_at))
            .bind(DeliveryState::Ready.as_str())
            .execute(&mut *tx)
            .await?;
            let mut delivered = NewEvent::new(EventKind::Delivered, &new.actor);
            delivered.actor_org = Some(sender_code.clone());
            delivered.sender_org = Some(sender_code.clone());
            delivered.receiver_org = Some(org_code(&mut tx, receiver_org_id).await?);
            delivered.submission_id = Some(new.id);
            delivered.delivery_id = Some(delivery_id);
            delivered.object_id = Some(object.id);
            delivered.size = Some(content_size);
            append(&mut tx, &delivered, now).await?;
            delivery_ids.push(delivery_id);
        }
        tx.commit().await?;
        let submission = self.submission(new.sender_org_id, new.id).await?;
        let deliveries = self.submission_deliveries(new.id).await?;
        Ok((submission, deliveries))
    }

    /// One of the sender's submissions. Another organisation's id answers `NotFound`.
    pub async fn submission(
        &self,
        sender_org_id: i64,
        id: SubmissionId,
    ) -> Result<SubmissionRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(sender_org_id)).await?;
        scoped_submission(&mut *rx, sender_org_id, id).await
    }

    pub async fn list_submissions(
        &self,
        sender_org_id: i64,
        filter: &ListFilter,
    ) -> Result<(Vec<SubmissionRecord>, u64), StoreError> {
        self.page(
            &format!(
                "{SUBMISSION_SELECT} WHERE sub.sender_org_id = $1 AND ($2 IS NULL OR sub.state = $2) \
                 AND ($3 IS NULL OR sub.sha256 = $3) \
                 ORDER BY sub.received_at DESC, sub.id DESC LIMIT $4 OFFSET $5"
            ),
            "SELECT COUNT(*) FROM submissions WHERE sender_org_id = $1 AND ($2 IS NULL OR state = $2) \
             AND ($3 IS NULL OR sha256 = $3)",
            sender_org_id,
            filter,
            submission_from_row,
        )
        .await
    }

    /// One page of an organisation's rows: `rows_sql` and `count_sql` take the organisation as
    /// `$1`, the optional state as `$2` and the optional content hash as `$3`; `rows_sql` also
    /// takes limit `$4` and offset `$5`.
    async fn page<T>(
        &self,
        rows_sql: &str,
        count_sql: &str,
        org_id: i64,
        filter: &ListFilter,
        from_row: fn(AnyRow) -> Result<T, StoreError>,
    ) -> Result<(Vec<T>, u64), StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let rows = sqlx::query(rows_sql)
            .bind(org_id)
            .bind(&filter.state)
            .bind(&filter.sha256)
            .bind(limit_of(filter))
            .bind(filter.offset as i64)
            .fetch_all(&mut *rx)
            .await?;
        let total: i64 = sqlx::query_scalar(count_sql)
            .bind(org_id)
            .bind(&filter.state)
            .bind(&filter.sha256)
            .fetch_one(&mut *rx)
            .await?;
        let items = rows.into_iter().map(from_row).collect::<Result<_, _>>()?;
        Ok((items, total as u64))
    }

    /// The deliveries of a submission (call only after the caller proved it is the sender).
    pub async fn submission_deliveries(
        &self,
        submission: SubmissionId,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(self
            .deliveries_of(&[submission])
            .await?
            .remove(&submission)
            .unwrap_or_default())
    }

    /// The deliveries of several submissions (a page of a sender's list) in one query,
    /// by submission; a submission without deliveries has no entry.
    pub async fn deliveries_of(
        &self,
        submissions: &[SubmissionId],
    ) -> Result<std::collections::HashMap<SubmissionId, Vec<DeliveryRecord>>, StoreError> {
        let mut by_submission: std::collections::HashMap<SubmissionId, Vec<DeliveryRecord>> =
            std::collections::HashMap::new();
        if submissions.is_empty() {
            return Ok(by_submission);
        }
        let placeholders = (1..=submissions.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "{DELIVERY_SELECT} WHERE d.submission_id IN ({placeholders}) ORDER BY r.code, d.id"
        );
        let mut query = sqlx::query(&sql);
        for id in submissions {
            query = query.bind(id.to_string());
        }
        let mut rx = self.read_transaction(Scope::System).await?;
        for row in query.fetch_all(&mut *rx).await? {
            let delivery = delivery_from_row(row)?;
            by_submission
                .entry(delivery.submission_id)
                .or_default()
                .push(delivery);
        }
        Ok(by_submission)
    }

    /// One of the receiver's deliveries. Another organisation's id answers `NotFound`.
    pub async fn delivery(
        &self,
        receiver_org_id: i64,
        id: DeliveryId,
    ) -> Result<DeliveryRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(receiver_org_id)).await?;
        scoped_delivery(&mut *rx, receiver_org_id, id).await
    }

    pub async fn list_deliveries(
        &self,
        receiver_org_id: i64,
        filter: &ListFilter,
    ) -> Result<(Vec<DeliveryRecord>, u64), StoreError> {
        const WHERE: &str = "WHERE d.receiver_org_id = $1 AND ($2 IS NULL OR d.state = $2) \
             AND ($3 IS NULL OR obj.plaintext_sha256 = $3 OR obj.content_sha256 = $3) \
             AND ($4 IS NULL OR s.code = $4) \
             AND ($5 IS NULL OR d.created_at >= $5) AND ($6 IS NULL OR d.created_at < $6) \
             AND ($7 IS NULL OR d.insurer_number = $7) \
             AND ($8 IS NULL OR COALESCE(d.format, 'pass-through') = $8)";
        let search = &filter.search;
        let mut rx = self.read_transaction(Scope::Org(receiver_org_id)).await?;
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT} {WHERE} ORDER BY d.created_at DESC, d.id DESC LIMIT $9 OFFSET $10"
        ))
        .bind(receiver_org_id)
        .bind(&filter.state)
        .bind(&filter.sha256)
        .bind(&search.sender)
        .bind(search.from.map(to_ms))
        .bind(search.until.map(to_ms))
        .bind(&search.insurer_number)
        .bind(&search.format)
        .bind(limit_of(filter))
        .bind(filter.offset as i64)
        .fetch_all(&mut *rx)
        .await?;
        let total: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM deliveries d \
             JOIN submissions sub ON sub.id = d.submission_id \
             JOIN orgs s ON s.id = sub.sender_org_id \
             JOIN objects obj ON obj.id = d.object_id {WHERE}"
        ))
        .bind(receiver_org_id)
        .bind(&filter.state)
        .bind(&filter.sha256)
        .bind(&search.sender)
        .bind(search.from.map(to_ms))
        .bind(search.until.map(to_ms))
        .bind(&search.insurer_number)
        .bind(&search.format)
        .fetch_one(&mut *rx)
        .await?;
        let items = rows
            .into_iter()
            .map(delivery_from_row)
            .collect::<Result<_, _>>()?;
        Ok((items, total as u64))
    }

    /// What the receiver needs to start a download; changes nothing. A delivery whose content
    /// was destroyed answers `Gone`.
    pub async fn download_grant(
        &self,
        receiver_org_id: i64,
        id: DeliveryId,
    ) -> Result<DownloadGrant, StoreError> {
        let delivery = self.delivery(receiver_org_id, id).await?;
        if !delivery.state.has_content() {
            return Err(gone(&delivery));
        }
        let object = self.object(delivery.object_id).await?;
        if object.wrapped_key.is_none() {
            return Err(gone(&delivery));
        }
        Ok(DownloadGrant { delivery, object })
    }

    /// Records that a download started. Fails with `Gone` if the content was destroyed since
    /// the grant (a withdrawal racing the download), so destroyed content is never served.
    pub async fn record_download(
        &self,
        receiver_org_id: i64,
        id: DeliveryId,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<DeliveryRecord, StoreError> {
        let mut tx = self.write_transaction().await?;
        // Every open state downloads to the same state (`DeliveryState::download`); the
        // condition keeps content destroyed meanwhile from being served.
        let [open_a, open_b] = DeliveryState::WITH_CONTENT;
        let after = open_a.download().map_err(lifecycle)?;
        let updated = sqlx::query(
            "UPDATE deliveries SET state = $4, \
             first_downloaded_at = COALESCE(first_downloaded_at, $1), download_count = download_count + 1 \
             WHERE id = $2 AND receiver_org_id = $3 AND state IN ($5, $6)",
        )
        .bind(to_ms(now))
        .bind(id.to_string())
        .bind(receiver_org_id)
        .bind(after.as_str())
        .bind(open_a.as_str())
        .bind(open_b.as_str())
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            drop(tx);
            let delivery = self.delivery(receiver_org_id, id).await?;
            return Err(gone(&delivery));
        }
        let delivery = delivery_in_tx(&mut tx, id).await?;
        let mut event = delivery_event(EventKind::Downloaded, actor, &delivery);
        event.actor_org = Some(delivery.receiver_code.clone());
        event.size = Some(delivery.size);
        append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(delivery)
    }

    /// 受信完了: the receiver confirms; the content is destroyed in the same transaction.
    /// Confirming again is harmless and returns the confirmed delivery.
    pub async fn confirm_delivery(
        &self,
        receiver_org_id: i64,
        id: DeliveryId,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(DeliveryRecord, ShredList), StoreError> {
        let mut tx = self.write_transaction().await?;
        let delivery = scoped_delivery(&mut *tx, receiver_org_id, id).await?;
        let confirmed = match delivery.state.confirm() {
            Ok(Some(next)) => next,
            // Confirmed already: harmless.
            Ok(None) => return Ok((delivery, Vec::new())),
            Err(refused) => return Err(delivery_refused(refused, &delivery)),
        };
        sqlx::query(
            "UPDATE deliveries SET state = $3, confirmed_at = $1, shredded_at = $1 WHERE id = $2",
        )
        .bind(to_ms(now))
        .bind(id.to_string())
        .bind(confirmed.as_str())
        .execute(&mut *tx)
        .await?;
        let mut event = delivery_event(EventKind::Confirmed, actor, &delivery);
        event.actor_org = Some(delivery.receiver_code.clone());
        append(&mut tx, &event, now).await?;
        let shredded = shred_if_unreferenced(
            &mut tx,
            delivery.object_id,
            actor,
            "confirmed",
            &delivery,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok((self.delivery(receiver_org_id, id).await?, shredded))
    }

    /// The sender withdraws a submission. Refused once any receiver has downloaded it.
    pub async fn withdraw_submission(
        &self,
        sender_org_id: i64,
        id: SubmissionId,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(SubmissionRecord, ShredList), StoreError> {
        let mut tx = self.write_transaction().await?;
        let submission = scoped_submission(&mut *tx, sender_org_id, id).await?;
        let withdrawn_state = submission
            .state
            .withdraw()
            .map_err(|refused| match refused {
                LifecycleError::AlreadyWithdrawn => StoreError::Gone(format!(
                    "the submission was already withdrawn at {}",
                    kenshin_core::api::timestamp::format(submission.withdrawn_at.unwrap_or(now))
                )),
                LifecycleError::Rejected => StoreError::InvalidState(
                    "the submission was rejected; there is nothing to withdraw".into(),
                ),
                other => lifecycle(other),
            })?;
        let deliveries: Vec<DeliveryRecord> =
            sqlx::query(&format!("{DELIVERY_SELECT} WHERE d.submission_id = $1"))
                .bind(id.to_string())
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(delivery_from_row)
                .collect::<Result<_, _>>()?;
        // Every delivery must allow it before anything changes.
        let withdrawals = deliveries
            .iter()
            .map(|d| {
                d.state
                    .withdraw(d.first_downloaded_at.is_some())
                    .map(|next| (d, next))
                    .map_err(|refused| delivery_refused(refused, d))
            })
            .collect::<Result<Vec<_>, _>>()?;
        sqlx::query("UPDATE submissions SET state = $3, withdrawn_at = $1 WHERE id = $2")
            .bind(to_ms(now))
            .bind(id.to_string())
            .bind(withdrawn_state.as_str())
            .execute(&mut *tx)
            .await?;
        let mut withdrawn = NewEvent::new(EventKind::Withdrawn, actor);
        withdrawn.actor_org = Some(submission.sender_code.clone());
        withdrawn.sender_org = Some(submission.sender_code.clone());
        withdrawn.submission_id = Some(id);
        withdrawn.reason = Some("withdrawn".into());
        append(&mut tx, &withdrawn, now).await?;
        let mut objects = vec![submission.object_id];
        // The sender's full list of findings holds its values: it goes with the file.
        let findings: Option<Option<String>> =
            sqlx::query_scalar("SELECT findings_object_id FROM submissions WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(Some(findings)) = findings {
            objects.push(
                findings
                    .parse()
                    .map_err(|e| StoreError::corrupt("submissions", e))?,
            );
        }
        for (delivery, next) in withdrawals {
            let Some(next) = next else {
                continue;
            };
            sqlx::query("UPDATE deliveries SET state = $3, shredded_at = $1 WHERE id = $2")
                .bind(to_ms(now))
                .bind(delivery.id.to_string())
                .bind(next.as_str())
                .execute(&mut *tx)
                .await?;
            let mut event = delivery_event(EventKind::Withdrawn, actor, delivery);
            event.actor_org = Some(submission.sender_code.clone());
            event.reason = Some("withdrawn".into());
            append(&mut tx, &event, now).await?;
            objects.push(delivery.object_id);
        }
        // Records still held for the sender go with the file.
        objects.extend(crate::held::withdraw_held_in_tx(&mut tx, id, actor, now).await?);
        objects.sort();
        objects.dedup();
        let mut shredded = Vec::new();
        for object in objects {
            let mut context = NewEvent::new(EventKind::Shredded, actor);
            context.actor_org = Some(submission.sender_code.clone());
            context.sender_org = Some(submission.sender_code.clone());
            context.submission_id = Some(id);
            shredded.extend(shred_in_tx(&mut tx, object, context, "withdrawn", now).await?);
        }
        tx.commit().await?;
        Ok((self.submission(sender_org_id, id).await?, shredded))
    }

    /// Expires every open delivery whose time is up at `now`, destroying its content.
    pub async fn expire_due(
        &self,
        now: OffsetDateTime,
        actor: &str,
    ) -> Result<(Vec<DeliveryRecord>, ShredList), StoreError> {
        let mut tx = self.write_transaction().await?;
        let [open_a, open_b] = DeliveryState::WITH_CONTENT;
        let due: Vec<DeliveryRecord> = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE d.state IN ($2, $3) AND d.expires_at <= $1 \
             ORDER BY d.expires_at LIMIT 500"
        ))
        .bind(to_ms(now))
        .bind(open_a.as_str())
        .bind(open_b.as_str())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(delivery_from_row)
        .collect::<Result<_, _>>()?;
        let mut shredded = Vec::new();
        for delivery in &due {
            let expired = delivery
                .state
                .expire()
                .map_err(|refused| delivery_refused(refused, delivery))?;
            sqlx::query("UPDATE deliveries SET state = $3, shredded_at = $1 WHERE id = $2")
                .bind(to_ms(now))
                .bind(delivery.id.to_string())
                .bind(expired.as_str())
                .execute(&mut *tx)
                .await?;
            let mut event = delivery_event(EventKind::Expired, actor, delivery);
            event.reason = Some("retention_period_elapsed".into());
            append(&mut tx, &event, now).await?;
            shredded.extend(
                shred_if_unreferenced(&mut tx, delivery.object_id, actor, "expired", delivery, now)
                    .await?,
            );
        }
        tx.commit().await?;
        Ok((due, shredded))
    }

    /// Records that a stored object failed authentication when read.
    pub async fn record_integrity_failure(
        &self,
        delivery: &DeliveryRecord,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let mut event = delivery_event(EventKind::IntegrityFailure, actor, delivery);
        event.reason = Some("authentication_failed".into());
        append(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A submission by id *and* sender: the tenant check is part of the query.
async fn scoped_submission<'e, E: sqlx::AnyExecutor<'e>>(
    executor: E,
    sender_org_id: i64,
    id: SubmissionId,
) -> Result<SubmissionRecord, StoreError> {
    sqlx::query(&format!(
        "{SUBMISSION_SELECT} WHERE sub.id = $1 AND sub.sender_org_id = $2"
    ))
    .bind(id.to_string())
    .bind(sender_org_id)
    .fetch_optional(executor)
    .await?
    .map(submission_from_row)
    .transpose()?
    .ok_or(StoreError::NotFound)
}

/// A delivery by id *and* receiver: the tenant check is part of the query.
async fn scoped_delivery<'e, E: sqlx::AnyExecutor<'e>>(
    executor: E,
    receiver_org_id: i64,
    id: DeliveryId,
) -> Result<DeliveryRecord, StoreError> {
    sqlx::query(&format!(
        "{DELIVERY_SELECT} WHERE d.id = $1 AND d.receiver_org_id = $2"
    ))
    .bind(id.to_string())
    .bind(receiver_org_id)
    .fetch_optional(executor)
    .await?
    .map(delivery_from_row)
    .transpose()?
    .ok_or(StoreError::NotFound)
}

fn gone(delivery: &DeliveryRecord) -> StoreError {
    let when = delivery
        .shredded_at
        .map(kenshin_core::api::timestamp::format)
        .unwrap_or_default();
    let why = match delivery.state {
        DeliveryState::Confirmed => "receipt was confirmed (受信完了)",
        DeliveryState::Expired => "it expired unconfirmed",
        DeliveryState::Withdrawn => "the sender withdrew it",
        DeliveryState::Ready | DeliveryState::Downloaded => "it was destroyed",
    };
    StoreError::Gone(format!("the content was destroyed at {when} because {why}"))
}

fn delivery_event(kind: EventKind, actor: &str, delivery: &DeliveryRecord) -> NewEvent {
    let mut event = NewEvent::new(kind, actor);
    event.submission_id = Some(delivery.submission_id);
    event.delivery_id = Some(delivery.id);
    event.object_id = Some(delivery.object_id);
    event.sender_org = Some(delivery.sender_code.clone());
    event.receiver_org = Some(delivery.receiver_code.clone());
    event
}

async fn org_code(conn: &mut AnyConnection, org_id: i64) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT code FROM orgs WHERE id = $1")
        .bind(org_id)
        .fetch_one(conn)
        .await?)
}

async fn delivery_in_tx(
    conn: &mut AnyConnection,
    id: DeliveryId,
) -> Result<DeliveryRecord, StoreError> {
    sqlx::query(&format!("{DELIVERY_SELECT} WHERE d.id = $1"))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?
        .map(delivery_from_row)
        .transpose()?
        .ok_or(StoreError::NotFound)
}

/// Destroys an object's key if no open delivery and no unfinished submission still needs it.
async fn shred_if_unreferenced(
    conn: &mut AnyConnection,
    object: ObjectId,
    actor: &str,
    reason: &str,
    delivery: &DeliveryRecord,
    now: OffsetDateTime,
) -> Result<ShredList, StoreError> {
    let [open_a, open_b] = DeliveryState::WITH_CONTENT;
    let still_needed: i64 = sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM deliveries WHERE object_id = $1 AND state IN ($2, $3)) \
              + (SELECT COUNT(*) FROM submissions WHERE object_id = $1 AND state IN ($4, $5))",
    )
    .bind(object.to_string())
    .bind(open_a.as_str())
    .bind(open_b.as_str())
    // A file not yet converted still needs its input.
    .bind(SubmissionState::Received.as_str())
    .bind(SubmissionState::Converting.as_str())
    .fetch_one(&mut *conn)
    .await?;
    if still_needed > 0 || crate::held::held_needs(conn, object).await? {
        return Ok(Vec::new());
    }
    let context = delivery_event(EventKind::Shredded, actor, delivery);
    shred_in_tx(conn, object, context, reason, now).await
}

impl Database {
    /// What a content commitment is made from: the submission's commitment key and the
    /// object's plaintext SHA-256 (hex). `None` if either is unknown.
    pub async fn commitment_inputs(
        &self,
        submission: &str,
        object: &str,
    ) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let key: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT commitment_key FROM submissions WHERE id = $1")
                .bind(submission)
                .fetch_optional(&mut *rx)
                .await?;
        let sha: Option<String> = sqlx::query_scalar(
            "SELECT COALESCE(content_sha256, plaintext_sha256) FROM objects WHERE id = $1",
        )
        .bind(object)
        .fetch_optional(&mut *rx)
        .await?;
        Ok(match (key.flatten(), sha) {
            (Some(key), Some(sha)) => Some((key, sha)),
            _ => None,
        })
    }
}

/// A lifecycle refusal of a delivery as the store reports it (410 with when and why, 409).
fn delivery_refused(refused: LifecycleError, delivery: &DeliveryRecord) -> StoreError {
    match refused {
        LifecycleError::Destroyed(_) => gone(delivery),
        LifecycleError::NotDownloaded => StoreError::NotDownloaded,
        LifecycleError::AlreadyDownloaded => StoreError::AlreadyDownloaded,
        other => lifecycle(other),
    }
}
