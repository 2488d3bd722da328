//! What a receiving organisation is given: the formats of its converted outputs and the age
//! recipients its deliveries are sealed to. A change of recipients is a ledger event (who could
//! open the organisation's future files is on the record, visible to the organisation).

use kenshin_core::EventKind;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::db::Scope;
use crate::events::{append, NewEvent};
use crate::timefmt::{from_ms, to_ms};
use crate::{Database, StoreError};

/// One age recipient (a public key) of an organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientRecord {
    pub id: i64,
    pub org_id: i64,
    /// The recipient as age writes it (`age1…`, `age1pq1…`).
    pub recipient: String,
    pub label: String,
    pub added_at: OffsetDateTime,
    pub added_by: String,
}

#[derive(FromRow)]
struct RecipientRow {
    id: i64,
    org_id: i64,
    recipient: String,
    label: String,
    added_at: i64,
    added_by: String,
}

impl From<RecipientRow> for RecipientRecord {
    fn from(row: RecipientRow) -> RecipientRecord {
        RecipientRecord {
            id: row.id,
            org_id: row.org_id,
            recipient: row.recipient,
            label: row.label,
            added_at: from_ms(row.added_at),
            added_by: row.added_by,
        }
    }
}

/// What a receiver is given, as the conversion worker and the upload path need it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverSettings {
    /// Format codes, in the order chosen (never empty: `std-csv` when nothing was chosen).
    pub formats: Vec<String>,
    /// The age recipients; empty: deliveries are not sealed to the receiver.
    pub recipients: Vec<String>,
}

pub(crate) fn split_formats(stored: &str) -> Vec<String> {
    let formats: Vec<String> = stored
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if formats.is_empty() {
        vec!["std-csv".to_owned()]
    } else {
        formats
    }
}

const RECIPIENT_SELECT: &str =
    "SELECT id, org_id, recipient, label, added_at, added_by FROM org_recipients";

impl Database {
    /// The formats and recipients of one receiving organisation.
    pub async fn receiver_settings(&self, org_id: i64) -> Result<ReceiverSettings, StoreError> {
        // Read by the upload path and the worker for whoever sends: the system's view.
        let mut rx = self.read_transaction(Scope::System).await?;
        let formats: Vec<String> =
            sqlx::query_scalar("SELECT output_formats FROM orgs WHERE id = $1")
                .bind(org_id)
                .fetch_all(&mut *rx)
                .await?;
        let formats = formats.into_iter().next().ok_or(StoreError::NotFound)?;
        let recipients: Vec<String> = sqlx::query_scalar(
            "SELECT recipient FROM org_recipients WHERE org_id = $1 ORDER BY id",
        )
        .bind(org_id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(ReceiverSettings {
            formats: split_formats(&formats),
            recipients,
        })
    }

    /// Sets the formats of an organisation's converted outputs (codes already checked by the
    /// caller, in the order chosen).
    pub async fn set_output_formats(
        &self,
        org_id: i64,
        formats: &[String],
    ) -> Result<(), StoreError> {
        let changed = self
            .execute_write(
                sqlx::query("UPDATE orgs SET output_formats = $1 WHERE id = $2")
                    .bind(formats.join(","))
                    .bind(org_id),
            )
            .await?;
        if changed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// An organisation's recipients, oldest first.
    pub async fn recipients(&self, org_id: i64) -> Result<Vec<RecipientRecord>, StoreError> {
        let mut rx = self.read_transaction(Scope::Org(org_id)).await?;
        let rows = sqlx::query_as::<_, RecipientRow>(&format!(
            "{RECIPIENT_SELECT} WHERE org_id = $1 ORDER BY id"
        ))
        .bind(org_id)
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows.into_iter().map(RecipientRecord::from).collect())
    }

    /// Adds a recipient (already parsed by the caller); the ledger records the change.
    /// Adding one that is there already answers `Conflict`.
    pub async fn add_recipient(
        &self,
        org_id: i64,
        recipient: &str,
        label: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<RecipientRecord, StoreError> {
        let mut tx = self.write_transaction().await?;
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM org_recipients WHERE org_id = $1 AND recipient = $2",
        )
        .bind(org_id)
        .bind(recipient)
        .fetch_one(&mut *tx)
        .await?;
        if exists > 0 {
            return Err(StoreError::Conflict(
                "この公開鍵は登録済みです / this recipient is registered already".into(),
            ));
        }
        let code: String = sqlx::query_scalar("SELECT code FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO org_recipients (org_id, recipient, label, added_at, added_by) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(org_id)
        .bind(recipient)
        .bind(label)
        .bind(to_ms(now))
        .bind(actor)
        .fetch_one(&mut *tx)
        .await?;
        recipients_changed(&mut tx, &code, "added", actor, now).await?;
        tx.commit().await?;
        Ok(RecipientRecord {
            id,
            org_id,
            recipient: recipient.to_owned(),
            label: label.to_owned(),
            added_at: from_ms(to_ms(now)),
            added_by: actor.to_owned(),
        })
    }

    /// Removes one of an organisation's recipients (by id or by the recipient itself); the
    /// ledger records the change. Files sealed to it before stay sealed to it.
    pub async fn remove_recipient(
        &self,
        org_id: i64,
        which: &str,
        actor: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        let by_id = which.parse::<i64>().ok();
        let removed = sqlx::query(
            "DELETE FROM org_recipients WHERE org_id = $1 AND (recipient = $2 OR id = $3)",
        )
        .bind(org_id)
        .bind(which)
        .bind(by_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Err(StoreError::NotFound);
        }
        let code: String = sqlx::query_scalar("SELECT code FROM orgs WHERE id = $1")
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await?;
        recipients_changed(&mut tx, &code, "removed", actor, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn recipients_changed(
    conn: &mut sqlx::AnyConnection,
    org_code: &str,
    reason: &str,
    actor: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut event = NewEvent::new(EventKind::RecipientsChanged, actor);
    event.receiver_org = Some(org_code.to_owned());
    event.reason = Some(reason.to_owned());
    append(conn, &event, now).await
}
