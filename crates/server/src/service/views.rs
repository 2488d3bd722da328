//! Store records → API views.

use kenshin_core::api::{
    ConversionSummary, DeliveryView, HeldBatchView, OrgRef, SubmissionDelivery, SubmissionView,
};
use kenshin_store::{DeliveryRecord, HeldRecord, SubmissionRecord};

/// A page of submissions with their deliveries, read in one query (not one per row).
pub async fn submissions_with_deliveries(
    db: &kenshin_store::Database,
    records: Vec<SubmissionRecord>,
) -> Result<Vec<SubmissionView>, kenshin_store::StoreError> {
    let ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let mut deliveries = db.deliveries_of(&ids).await?;
    let mut held = db.held_of(&ids).await?;
    Ok(records
        .into_iter()
        .map(|record| {
            let of_this = deliveries.remove(&record.id).unwrap_or_default();
            let held_here = held.remove(&record.id).unwrap_or_default();
            submission(record, of_this, held_here)
        })
        .collect())
}

pub fn held_batch(record: HeldRecord) -> HeldBatchView {
    HeldBatchView {
        id: record.id,
        reason: record.reason,
        insurer_number: (record.reason == kenshin_core::HeldReason::Unrouted)
            .then_some(record.insurer_number),
        filename: record.filename,
        records: record.records,
        size: record.size,
        state: record.state,
        created_at: record.created_at,
        expires_at: record.expires_at,
        released_at: record.released_at,
        released_to: record.released_to.map(|(code, name)| OrgRef { code, name }),
        download_count: record.download_count,
    }
}

pub fn submission(
    record: SubmissionRecord,
    deliveries: Vec<DeliveryRecord>,
    held: Vec<HeldRecord>,
) -> SubmissionView {
    SubmissionView {
        id: record.id,
        filename: record.filename,
        size: record.size,
        sha256: record.sha256,
        state: record.state,
        received_at: record.received_at,
        withdrawn_at: record.withdrawn_at,
        sender: OrgRef {
            code: record.sender_code,
            name: record.sender_name,
        },
        deliveries: deliveries
            .into_iter()
            .map(|d| SubmissionDelivery {
                id: d.id,
                receiver: OrgRef {
                    code: d.receiver_code,
                    name: d.receiver_name,
                },
                state: d.state,
                created_at: d.created_at,
                expires_at: d.expires_at,
                first_downloaded_at: d.first_downloaded_at,
                confirmed_at: d.confirmed_at,
                shredded_at: d.shredded_at,
                records: d.records,
            })
            .collect(),
        held: held.into_iter().map(held_batch).collect(),
        conversion: record.conversion.map(|c| ConversionSummary {
            records_in: c.records_in,
            records_out: c.records_out,
            records_rejected: c.records_rejected,
            records_unrouted: c.records_unrouted,
            map: c.map_label,
            profile: c.profile_label,
            converter: c.converter,
        }),
        commitment_key: record.commitment_key.map(hex::encode),
        receipt: None,
    }
}

pub fn delivery(record: DeliveryRecord) -> DeliveryView {
    DeliveryView {
        id: record.id,
        submission_id: record.submission_id,
        sender: OrgRef {
            code: record.sender_code,
            name: record.sender_name,
        },
        filename: record.filename,
        size: record.size,
        sha256: record.sha256,
        state: record.state,
        created_at: record.created_at,
        expires_at: record.expires_at,
        first_downloaded_at: record.first_downloaded_at,
        download_count: record.download_count,
        confirmed_at: record.confirmed_at,
        shredded_at: record.shredded_at,
        records: record.records,
        commitment_key: record.commitment_key.map(hex::encode),
        receipt: None,
        format: record.format,
        insurer_number: record.insurer_number,
        sealed: record
            .sealed_content
            .map(|c| kenshin_core::api::SealedContentView {
                format: "age".into(),
                size: c.size,
                sha256: c.sha256,
            }),
    }
}
