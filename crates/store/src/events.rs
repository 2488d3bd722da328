use kenshin_core::{DeliveryId, EventKind, ObjectId, SubmissionId};
use sqlx::{AnyConnection, FromRow};
use time::OffsetDateTime;

use crate::db::Scope;
use crate::timefmt::{from_ms, to_ms};
use crate::{Database, StoreError};

/// One event to append. Only identifiers, organisation codes, sizes, reasons and times: the
/// type has no field that could carry personal data.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub kind: EventKind,
    /// Who caused it: `cert:<serial>` for a machine, `system:<task>` for background work,
    /// `admin:cli` for the administrator's command line.
    pub actor: String,
    pub actor_org: Option<String>,
    pub submission_id: Option<SubmissionId>,
    pub delivery_id: Option<DeliveryId>,
    pub object_id: Option<ObjectId>,
    pub sender_org: Option<String>,
    pub receiver_org: Option<String>,
    /// Why, as a stable token (`confirmed`, `expired`, `withdrawn`, …).
    pub reason: Option<String>,
    pub size: Option<u64>,
    pub ciphertext_size: Option<u64>,
    /// For conversion events: records in, out, rejected, unrouted.
    pub counts: Option<RecordCounts>,
}

/// How many records a conversion read, delivered, rejected, and could not route.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordCounts {
    pub records_in: u64,
    pub records_out: u64,
    pub records_rejected: u64,
    pub records_unrouted: u64,
}

impl NewEvent {
    pub fn new(kind: EventKind, actor: &str) -> NewEvent {
        NewEvent {
            kind,
            actor: actor.to_owned(),
            actor_org: None,
            submission_id: None,
            delivery_id: None,
            object_id: None,
            sender_org: None,
            receiver_org: None,
            reason: None,
            size: None,
            ciphertext_size: None,
            counts: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub seq: i64,
    pub at: OffsetDateTime,
    pub kind: EventKind,
    pub actor: String,
    pub actor_org: Option<String>,
    pub submission_id: Option<String>,
    pub delivery_id: Option<String>,
    pub object_id: Option<String>,
    pub sender_org: Option<String>,
    pub receiver_org: Option<String>,
    pub reason: Option<String>,
    pub size: Option<i64>,
    pub ciphertext_size: Option<i64>,
    pub counts: Option<RecordCounts>,
    /// For access-log digests: rows `[first, last]` and the chained digest.
    pub digest: Option<(i64, i64, String)>,
}

pub(crate) async fn append(
    conn: &mut AnyConnection,
    event: &NewEvent,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO events (at, kind, actor, actor_org, submission_id, delivery_id, object_id, \
         sender_org, receiver_org, reason, size, ciphertext_size, records_in, records_out, \
         records_rejected, records_unrouted) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
         RETURNING seq",
    )
    .bind(to_ms(at))
    .bind(event.kind.as_str())
    .bind(&event.actor)
    .bind(&event.actor_org)
    .bind(event.submission_id.map(|id| id.to_string()))
    .bind(event.delivery_id.map(|id| id.to_string()))
    .bind(event.object_id.map(|id| id.to_string()))
    .bind(&event.sender_org)
    .bind(&event.receiver_org)
    .bind(&event.reason)
    .bind(event.size.map(|n| n as i64))
    .bind(event.ciphertext_size.map(|n| n as i64))
    .bind(event.counts.map(|c| c.records_in as i64))
    .bind(event.counts.map(|c| c.records_out as i64))
    .bind(event.counts.map(|c| c.records_rejected as i64))
    .bind(event.counts.map(|c| c.records_unrouted as i64))
    .fetch_one(&mut *conn)
    .await?;
    // Whoever the event concerns is told by a job of the same transaction: the notice
    // exists exactly when the event does.
    if crate::notify::notifiable(event.kind) {
        crate::jobs::enqueue_in_tx(conn, &crate::notify::event_notice_job(seq), at).await?;
    }
    Ok(())
}

impl Database {
    /// Events in order, after sequence number `after` (0 for all), at most `limit`.
    pub async fn list_events(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query("SELECT * FROM events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&mut *rx)
            .await?;
        rows.into_iter().map(event_from_row).collect()
    }

    pub async fn events_for_submission(
        &self,
        submission: SubmissionId,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows = sqlx::query("SELECT * FROM events WHERE submission_id = $1 ORDER BY seq")
            .bind(submission.to_string())
            .fetch_all(&mut *rx)
            .await?;
        rows.into_iter().map(event_from_row).collect()
    }
}

/// A row of `events`, as stored.
#[derive(sqlx::FromRow)]
struct EventRow {
    seq: i64,
    at: i64,
    kind: String,
    actor: String,
    actor_org: Option<String>,
    submission_id: Option<String>,
    delivery_id: Option<String>,
    object_id: Option<String>,
    sender_org: Option<String>,
    receiver_org: Option<String>,
    reason: Option<String>,
    size: Option<i64>,
    ciphertext_size: Option<i64>,
    digest_first: Option<i64>,
    digest_last: Option<i64>,
    digest: Option<String>,
    records_in: Option<i64>,
    records_out: Option<i64>,
    records_rejected: Option<i64>,
    records_unrouted: Option<i64>,
}

fn event_from_row(row: sqlx::any::AnyRow) -> Result<EventRecord, StoreError> {
    let row = EventRow::from_row(&row)?;
    Ok(EventRecord {
        seq: row.seq,
        at: from_ms(row.at),
        kind: crate::timefmt::parse("events", row.kind)?,
        actor: row.actor,
        actor_org: row.actor_org,
        submission_id: row.submission_id,
        delivery_id: row.delivery_id,
        object_id: row.object_id,
        sender_org: row.sender_org,
        receiver_org: row.receiver_org,
        reason: row.reason,
        size: row.size,
        ciphertext_size: row.ciphertext_size,
        digest: match (row.digest_first, row.digest_last, row.digest) {
            (Some(first), Some(last), Some(digest)) => Some((first, last, digest)),
            _ => None,
        },
        counts: row.records_in.map(|records_in| RecordCounts {
            records_in: records_in as u64,
            records_out: row.records_out.unwrap_or(0) as u64,
            records_rejected: row.records_rejected.unwrap_or(0) as u64,
            records_unrouted: row.records_unrouted.unwrap_or(0) as u64,
        }),
    })
}
