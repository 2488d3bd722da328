//! Held records released to a receiver that takes other formats than the standard CSV, or
//! that has age recipients (`release_held`): the batch (the sender's standard CSV, kept
//! encrypted while no route took its 保険者番号) is read back and written in each of the
//! receiver's formats, sealed to its recipients as it is written; one transaction then makes
//! the deliveries, releases the batch and destroys its own object, so the server keeps no copy
//! it could read. Receivers of the standard CSV alone, unsealed, get the batch's object as it
//! is, without a job (`store::release_held`).

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use kenshin_convert::output::OutputContext;
use kenshin_convert::stdcsv::WriteError;
use kenshin_convert::{OutputFormat, RecordWriter};
use kenshin_core::HeldState;
use kenshin_profile::Profile;
use kenshin_store::{ClaimedJob, ConvertedOutput, StoreError};
use serde::{Deserialize, Serialize};

use super::{BackgroundJob, JobError};
use crate::state::AppState;
use crate::vault::{DeliveryWriter, SealedObject, VaultError};

const ACTOR: &str = "system:release";

/// Releases one held batch to one receiver in the receiver's formats.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseHeld {
    pub batch_id: String,
    pub receiver_org_id: i64,
}

struct Written {
    format: OutputFormat,
    records: u64,
    file_name: Option<String>,
    object: SealedObject,
}

impl BackgroundJob for ReleaseHeld {
    const KIND: &'static str = "release_held";

    fn subject(&self) -> Option<String> {
        Some(self.batch_id.clone())
    }

    async fn run(self, state: &AppState, _job: &ClaimedJob) -> Result<(), JobError> {
        let batch = match state.db.held_batch_by_id(&self.batch_id).await {
            Ok(batch) => batch,
            Err(StoreError::NotFound) => return Ok(()),
            Err(err) => return Err(err.into()),
        };
        // Released, expired or withdrawn meanwhile: nothing to do.
        if batch.state != HeldState::Held {
            return Ok(());
        }
        let settings = state.db.receiver_settings(self.receiver_org_id).await?;
        let formats = crate::receiving::formats(&settings.formats);
        let sealing = crate::receiving::sealing(&settings.recipients)
            .map_err(|e| JobError::Retry(anyhow::anyhow!("{e}")))?;
        let object = state.db.object(batch.object_id).await?;
        let sender = state.db.org_by_id(batch.sender_org_id).await?;
        let vault = state.vault.clone();
        let created = state.now();
        let archives_today = state
            .db
            .mhlw_archives_since(
                batch.sender_org_id,
                super::convert::start_of_day_jst(created),
            )
            .await?;
        let daily_sequence =
            super::convert::next_daily_sequence(&archives_today, &batch.insurer_number);
        let batch_id = batch.submission_id.to_string();
        let chosen = formats.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<Vec<Written>, VaultError> {
            let formats = chosen;
            let profile: &'static Profile = Profile::default_profile();
            let reader = std::io::BufReader::with_capacity(256 * 1024, vault.open_reader(&object)?);
            let io = |e: String| VaultError::Io(std::io::Error::other(e));
            let records = kenshin_convert::stdcsv::read_std_csv(reader, profile)
                .map_err(|e| io(e.to_string()))?;
            let mut outputs: BTreeMap<OutputFormat, Box<dyn RecordWriter<DeliveryWriter>>> =
                BTreeMap::new();
            for record in records {
                let record = record.map_err(|e| io(e.to_string()))?;
                let mut written_any = false;
                for &format in &formats {
                    let writer = match outputs.entry(format) {
                        Entry::Occupied(entry) => entry.into_mut(),
                        Entry::Vacant(entry) => {
                            let mut ctx = OutputContext::for_record(
                                &record,
                                &sender.name,
                                created,
                                &batch_id,
                            );
                            ctx.daily_sequence = daily_sequence;
                            let sink = vault.create_delivery(sealing.as_deref())?;
                            match format.writer(profile, sink, &ctx) {
                                Ok(writer) => entry.insert(writer),
                                Err(WriteError::Setting(_)) | Err(WriteError::Refused(_)) => {
                                    continue
                                }
                                Err(err) => return Err(io(err.to_string())),
                            }
                        }
                    };
                    match writer.write_record(&record) {
                        Ok(()) => written_any = true,
                        Err(WriteError::Refused(_)) => {}
                        Err(err) => return Err(io(err.to_string())),
                    }
                }
                // A record none of the chosen formats could hold still reaches the receiver,
                // in the standard CSV: nothing is lost.
                if !written_any {
                    let writer = match outputs.entry(OutputFormat::StdCsv) {
                        Entry::Occupied(entry) => entry.into_mut(),
                        Entry::Vacant(entry) => {
                            let sink = vault.create_delivery(sealing.as_deref())?;
                            entry.insert(
                                OutputFormat::std_csv(profile, sink)
                                    .map_err(|e| io(e.to_string()))?,
                            )
                        }
                    };
                    writer
                        .write_record(&record)
                        .map_err(|e| io(e.to_string()))?;
                }
            }
            let mut written = Vec::new();
            for (format, writer) in outputs {
                let records = writer.records_written();
                if records == 0 {
                    continue;
                }
                let file_name = writer.file_name();
                let object = writer.finish().map_err(|e| io(e.to_string()))?.finish()?;
                written.push(Written {
                    format,
                    records,
                    file_name,
                    object,
                });
            }
            Ok(written)
        })
        .await??;
        if written.is_empty() {
            return Err(JobError::Fatal(
                "the held batch holds no record any format could write".into(),
            ));
        }
        let stem = batch
            .filename
            .strip_suffix(".std.csv")
            .unwrap_or(&batch.filename)
            .to_owned();
        let now = state.now();
        let expires_at = now + time::Duration::days(i64::from(state.config.retention_days));
        let usage_format = formats[0];
        let outputs: Vec<ConvertedOutput> = written
            .iter()
            .map(|w| {
                let name = w
                    .file_name
                    .clone()
                    .unwrap_or_else(|| format!("{stem}{}", w.format.file_suffix()));
                ConvertedOutput {
                    receiver_org_id: self.receiver_org_id,
                    object: w.object.new_object(),
                    filename: match w.object.sealed_content {
                        Some(_) => format!("{name}.age"),
                        None => name,
                    },
                    records: w.records,
                    expires_at,
                    format: w.format.code().to_owned(),
                    insurer_number: batch.insurer_number.clone(),
                    counts_usage: w.format == usage_format
                        || (w.format == OutputFormat::StdCsv && !formats.contains(&usage_format)),
                }
            })
            .collect();
        match state
            .db
            .release_held_as(&self.batch_id, self.receiver_org_id, &outputs, ACTOR, now)
            .await
        {
            Ok(shredded) => {
                state.finish_shredding(shredded).await;
                tracing::info!(batch = %self.batch_id, outputs = outputs.len(), "held records released in the receiver's formats");
                Ok(())
            }
            Err(err) => {
                // Not registered: the new blobs go now rather than at the next recovery.
                state
                    .vault
                    .delete_blobs(written.iter().map(|w| w.object.id).collect())
                    .await;
                match err {
                    StoreError::InvalidState(_) => Ok(()),
                    other => Err(other.into()),
                }
            }
        }
    }
}
