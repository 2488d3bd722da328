//! Sealed objects: an encrypted blob's row — its wrapped data key, sizes and digest — and the
//! one way an object ends, crypto-shredding (the wrapped key destroyed, an event appended).
//! Submissions, deliveries, conversion outputs and reports all point at objects.

use kenshin_core::{EventKind, ObjectId};
use sqlx::{AnyConnection, FromRow};
use time::OffsetDateTime;

use crate::db::Scope;
use crate::events::{append, NewEvent};
use crate::timefmt::{from_ms, opt_from_ms, parse, to_ms};
use crate::{Database, StoreError};

/// An encrypted blob that is durable in the blob store and about to be registered.
#[derive(Clone, Debug)]
pub struct NewObject {
    pub id: ObjectId,
    pub kek_id: String,
    pub wrapped_key: Vec<u8>,
    pub plaintext_size: u64,
    pub plaintext_sha256: String,
    pub ciphertext_size: u64,
    /// Set when the object is an age file sealed to its receiver's recipients: the content
    /// inside it (what the sender sent, or the converted output), which receipts bind.
    pub sealed_content: Option<SealedContent>,
}

/// The size and SHA-256 of the plaintext inside an age-sealed object (the object's own
/// `plaintext_*` describe the age file the server stores and streams).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedContent {
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRecord {
    pub id: ObjectId,
    pub kek_id: String,
    /// `None` once shredded.
    pub wrapped_key: Option<Vec<u8>>,
    pub plaintext_size: u64,
    pub plaintext_sha256: String,
    pub ciphertext_size: u64,
    pub created_at: OffsetDateTime,
    pub shredded_at: Option<OffsetDateTime>,
    pub sealed_content: Option<SealedContent>,
}

impl ObjectRecord {
    /// The size and SHA-256 of the content the parties agree on: inside the age file when
    /// the object is sealed to a receiver, else the object's plaintext.
    pub fn content(&self) -> (u64, &str) {
        match &self.sealed_content {
            Some(c) => (c.size, &c.sha256),
            None => (self.plaintext_size, &self.plaintext_sha256),
        }
    }
}

/// Objects whose data keys a transaction destroyed; the caller deletes their blobs next.
pub type ShredList = Vec<ObjectId>;

/// A row of `objects`, as stored.
#[derive(sqlx::FromRow)]
struct ObjectRow {
    id: String,
    kek_id: String,
    wrapped_key: Option<Vec<u8>>,
    plaintext_size: i64,
    plaintext_sha256: String,
    ciphertext_size: i64,
    created_at: i64,
    shredded_at: Option<i64>,
    content_size: Option<i64>,
    content_sha256: Option<String>,
}

pub(crate) fn sealed_content(size: Option<i64>, sha256: Option<String>) -> Option<SealedContent> {
    match (size, sha256) {
        (Some(size), Some(sha256)) => Some(SealedContent {
            size: size.max(0) as u64,
            sha256,
        }),
        _ => None,
    }
}

fn object_from_row(row: sqlx::any::AnyRow) -> Result<ObjectRecord, StoreError> {
    let row = ObjectRow::from_row(&row)?;
    Ok(ObjectRecord {
        id: parse("objects", row.id)?,
        kek_id: row.kek_id,
        wrapped_key: row.wrapped_key,
        plaintext_size: row.plaintext_size as u64,
        plaintext_sha256: row.plaintext_sha256,
        ciphertext_size: row.ciphertext_size as u64,
        created_at: from_ms(row.created_at),
        shredded_at: opt_from_ms(row.shredded_at),
        sealed_content: sealed_content(row.content_size, row.content_sha256),
    })
}

pub(crate) async fn insert_object(
    conn: &mut sqlx::AnyConnection,
    object: &NewObject,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO objects (id, kek_id, wrapped_key, plaintext_size, plaintext_sha256, \
         ciphertext_size, created_at, content_size, content_sha256) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(object.id.to_string())
    .bind(&object.kek_id)
    .bind(&object.wrapped_key)
    .bind(object.plaintext_size as i64)
    .bind(&object.plaintext_sha256)
    .bind(object.ciphertext_size as i64)
    .bind(to_ms(now))
    .bind(object.sealed_content.as_ref().map(|c| c.size as i64))
    .bind(object.sealed_content.as_ref().map(|c| c.sha256.clone()))
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn shred_in_tx(
    conn: &mut AnyConnection,
    object: ObjectId,
    mut event: NewEvent,
    reason: &str,
    now: OffsetDateTime,
) -> Result<ShredList, StoreError> {
    let ciphertext_size: Option<i64> = sqlx::query_scalar(
        "UPDATE objects SET wrapped_key = NULL, shredded_at = $1 \
         WHERE id = $2 AND wrapped_key IS NOT NULL RETURNING ciphertext_size",
    )
    .bind(to_ms(now))
    .bind(object.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(ciphertext_size) = ciphertext_size else {
        return Ok(Vec::new());
    };
    event.kind = EventKind::Shredded;
    event.object_id = Some(object);
    event.reason = Some(reason.to_owned());
    event.ciphertext_size = Some(ciphertext_size as u64);
    append(conn, &event, now).await?;
    Ok(vec![object])
}

impl Database {
    pub async fn object(&self, id: ObjectId) -> Result<ObjectRecord, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        sqlx::query("SELECT * FROM objects WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(&mut *rx)
            .await?
            .map(object_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// After a restore: an object whose blob was destroyed between the backup's snapshot and
    /// its copy has no content any more; its key goes too, so it answers "gone" like any
    /// destroyed file instead of failing its integrity check.
    pub async fn forget_lost_object(
        &self,
        id: ObjectId,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let changed = self
            .execute_write(
                sqlx::query(
                    "UPDATE objects SET wrapped_key = NULL, shredded_at = $1 \
             WHERE id = $2 AND wrapped_key IS NOT NULL",
                )
                .bind(to_ms(now))
                .bind(id.to_string()),
            )
            .await?
            .rows_affected();
        Ok(changed == 1)
    }

    /// Ids of objects whose keys still exist: every other blob is garbage.
    pub async fn live_object_ids(&self) -> Result<std::collections::HashSet<ObjectId>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM objects WHERE wrapped_key IS NOT NULL")
                .fetch_all(&mut *rx)
                .await?;
        ids.into_iter().map(|id| parse("objects", id)).collect()
    }
}
