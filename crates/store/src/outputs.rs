//! Converted outputs becoming deliveries: one place for the delivery row, the usage count and
//! the ledger entry of an output, whether a conversion made it or held records were released
//! as it.

use kenshin_core::{DeliveryId, DeliveryState, SubmissionId};
use time::OffsetDateTime;

use crate::db::Scope;
use crate::events::{append, NewEvent, RecordCounts};
use crate::objects::{insert_object, NewObject};
use crate::timefmt::to_ms;
use crate::{Database, StoreError};

/// One converted output for one receiver, durable in the blob store.
#[derive(Clone, Debug)]
pub struct ConvertedOutput {
    pub receiver_org_id: i64,
    pub object: NewObject,
    pub filename: String,
    pub records: u64,
    pub expires_at: OffsetDateTime,
    /// The format code (`std-csv`, `mhlw-xml`, `fhir`).
    pub format: String,
    /// The 保険者番号 of every record in it.
    pub insurer_number: String,
    /// Whether its records count towards the receiver's usage (one format of several does,
    /// so a record is counted once whatever the number of formats).
    pub counts_usage: bool,
}

/// Makes one converted output a delivery, in the caller's transaction: its object, the
/// delivery row, the receiver's usage (when the output counts), and `event` (its kind, actor,
/// sender and submission set by the caller) completed with the receiver, the delivery, the
/// object, the content's size and the record count, appended to the ledger.
pub(crate) async fn deliver_output(
    conn: &mut sqlx::AnyConnection,
    submission_id: SubmissionId,
    output: &ConvertedOutput,
    mut event: NewEvent,
    month: &str,
    now: OffsetDateTime,
) -> Result<DeliveryId, StoreError> {
    insert_object(&mut *conn, &output.object, now).await?;
    let delivery_id = DeliveryId::new();
    sqlx::query(
        "INSERT INTO deliveries (id, submission_id, receiver_org_id, object_id, filename, \
         state, created_at, expires_at, records, format, insurer_number) \
         VALUES ($1, $2, $3, $4, $5, $9, $6, $7, $8, $10, $11)",
    )
    .bind(delivery_id.to_string())
    .bind(submission_id.to_string())
    .bind(output.receiver_org_id)
    .bind(output.object.id.to_string())
    .bind(&output.filename)
    .bind(to_ms(now))
    .bind(to_ms(output.expires_at))
    .bind(output.records as i64)
    .bind(DeliveryState::Ready.as_str())
    .bind(&output.format)
    .bind(&output.insurer_number)
    .execute(&mut *conn)
    .await?;
    if output.counts_usage {
        crate::usage::count_usage(&mut *conn, output.receiver_org_id, month, output.records)
            .await?;
    }
    let receiver_code: String = sqlx::query_scalar("SELECT code FROM orgs WHERE id = $1")
        .bind(output.receiver_org_id)
        .fetch_one(&mut *conn)
        .await?;
    event.receiver_org = Some(receiver_code);
    event.delivery_id = Some(delivery_id);
    event.object_id = Some(output.object.id);
    event.size = Some(
        output
            .object
            .sealed_content
            .as_ref()
            .map_or(output.object.plaintext_size, |c| c.size),
    );
    event.counts = Some(RecordCounts {
        records_out: output.records,
        ..RecordCounts::default()
    });
    append(&mut *conn, &event, now).await?;
    Ok(delivery_id)
}

impl Database {
    /// How many MHLW archives a sender's conversions made for each 保険者番号 since `since`
    /// (the start of the creation day in JST): the next archive's 同日作成回数 is one more.
    pub async fn mhlw_archives_since(
        &self,
        sender_org_id: i64,
        since: OffsetDateTime,
    ) -> Result<std::collections::HashMap<String, u64>, StoreError> {
        let mut rx = self.read_transaction(Scope::System).await?;
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT d.insurer_number, COUNT(*) FROM deliveries d \
             JOIN submissions s ON s.id = d.submission_id \
             WHERE s.sender_org_id = $1 AND d.format = 'mhlw-xml' AND d.created_at >= $2 \
               AND d.insurer_number IS NOT NULL \
             GROUP BY d.insurer_number",
        )
        .bind(sender_org_id)
        .bind(to_ms(since))
        .fetch_all(&mut *rx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(insurer, n)| (insurer, n.max(0) as u64))
            .collect())
    }
}
