//! The conversion worker: takes queued submissions, converts them with the sender's active
//! map, splits the records by 保険者番号 into one encrypted output per receiver, stores the
//! sender's encrypted report, and destroys the input (DESIGN §3).
//!
//! Plaintext exists only in memory, a chunk at a time: the input is decrypted while it is
//! read, and each output is sealed while it is written. A worker that dies mid-job leaves the
//! job's lease to run out; another claim then starts the job again from the still-encrypted
//! input, and the first attempt's partial blobs are removed by recovery or never registered.

use std::collections::HashMap;

use kenshin_convert::{convert_delimited, MapFile, Report, Routed, StdCsvWriter};
use kenshin_profile::{HeaderField, Profile};
use kenshin_store::{CompletedConversion, ConvertedOutput, Job, NewObject, RecordCounts};
use time::OffsetDateTime;

use crate::vault::{SealedObject, SealingObjectWriter, VaultError};
use crate::AppState;

/// How long a worker may hold a job before another may take it.
const LEASE: time::Duration = time::Duration::minutes(15);
/// Attempts before a job is given up (infrastructure errors only; bad input is a result).
const MAX_ATTEMPTS: u32 = 3;
const ACTOR: &str = "system:converter";

pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            loop {
                match run_one(&state).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "conversion worker error; will retry");
                        break;
                    }
                }
            }
            // Woken by a new job, or every few seconds for expired leases.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), state.jobs.notified())
                .await;
        }
    })
}

/// Claims and runs one job; `Ok(false)` when there was none.
pub async fn run_one(state: &AppState) -> anyhow::Result<bool> {
    let Some(job) = state
        .db
        .claim_job(OffsetDateTime::now_utc(), LEASE, MAX_ATTEMPTS)
        .await?
    else {
        return Ok(false);
    };
    let id = job.submission.id;
    let attempts = job.attempts;
    match convert_job(state, job).await {
        Ok(()) => Ok(true),
        Err(err) => {
            tracing::error!(submission = %id, attempt = attempts, error = %err, "conversion attempt failed");
            state
                .db
                .fail_job(
                    id,
                    &err.to_string(),
                    attempts >= MAX_ATTEMPTS,
                    OffsetDateTime::now_utc(),
                )
                .await?;
            Ok(true)
        }
    }
}

struct Output {
    writer: StdCsvWriter<'static, SealingObjectWriter>,
    receiver_org_id: i64,
    receiver_code: String,
    records: u64,
}

/// The blocking part's result.
struct Converted {
    report: Report,
    outputs: Vec<(i64, String, u64, SealedObject)>,
}

async fn convert_job(state: &AppState, job: Job) -> anyhow::Result<()> {
    let profile: &'static Profile = Profile::default_profile();
    let sender = job.submission.sender_org_id;
    let map_record = state.db.active_map(sender).await?;
    let receivers = state.db.conversion_receivers(sender).await?;
    let vault = state.vault.clone();
    let input = job.input.clone();
    let stem = job
        .submission
        .filename
        .rsplit_once('.')
        .map(|(stem, _)| stem.to_owned())
        .unwrap_or_else(|| job.submission.filename.clone());

    let converted = tokio::task::spawn_blocking(move || -> Result<Converted, VaultError> {
        let map = match map_record {
            None => None,
            Some(record) => match MapFile::from_reader(&record.content[..], profile) {
                Ok(map) => Some(map),
                Err(err) => {
                    let error = kenshin_convert::ConvertError::Setting(format!(
                        "the active map no longer loads: {err}"
                    ));
                    return Ok(Converted {
                        report: Report::unusable(profile, None, &error),
                        outputs: Vec::new(),
                    });
                }
            },
        };
        let Some(map) = map else {
            let error = kenshin_convert::ConvertError::Setting("no active map file".into());
            return Ok(Converted {
                report: Report::unusable(profile, None, &error),
                outputs: Vec::new(),
            });
        };
        let reader = std::io::BufReader::with_capacity(256 * 1024, vault.open_reader(&input)?);
        let mut outputs: HashMap<i64, Output> = HashMap::new();
        let mut failure: Option<VaultError> = None;
        let result = convert_delimited(
            reader,
            profile,
            &map,
            |record| {
                let insurer = record
                    .header
                    .get(HeaderField::InsurerNumber)
                    .unwrap_or_default();
                let Some(receiver) = receivers.get(insurer) else {
                    return Ok(Routed::Unrouted);
                };
                let output = match outputs.entry(receiver.org_id) {
                    std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        let sealed = vault.create_sealed().map_err(|e| e.to_string())?;
                        let writer = StdCsvWriter::new(
                            profile,
                            sealed,
                            kenshin_convert::OutputEncoding::Utf8Bom,
                        )
                        .map_err(|e| e.to_string())?;
                        entry.insert(Output {
                            writer,
                            receiver_org_id: receiver.org_id,
                            receiver_code: receiver.code.clone(),
                            records: 0,
                        })
                    }
                };
                output.writer.write(record).map_err(|e| e.to_string())?;
                output.records += 1;
                Ok(Routed::Delivered)
            },
            |_| {},
        );
        let report = match result {
            Ok(report) => report,
            // An input that fails authentication or cannot be read from disk is the
            // service's problem, not the sender's: retry, and alert.
            Err(kenshin_convert::ConvertError::Read(err))
                if matches!(err.kind, kenshin_convert::delimited::ReadErrorKind::Io(_)) =>
            {
                failure = Some(VaultError::Integrity(err.to_string()));
                Report::unusable(
                    profile,
                    Some(&map),
                    &kenshin_convert::ConvertError::Read(err),
                )
            }
            Err(kenshin_convert::ConvertError::Output(message)) => {
                failure = Some(VaultError::Io(std::io::Error::other(message)));
                Report::unusable(
                    profile,
                    Some(&map),
                    &kenshin_convert::ConvertError::Setting(String::new()),
                )
            }
            Err(err) => {
                // Unusable input: nothing delivered; the partial outputs are dropped (and
                // their blobs removed) with `outputs`.
                return Ok(Converted {
                    report: Report::unusable(profile, Some(&map), &err),
                    outputs: Vec::new(),
                });
            }
        };
        if let Some(failure) = failure {
            return Err(failure);
        }
        let mut sealed = Vec::with_capacity(outputs.len());
        for (_, output) in outputs {
            let object = output
                .writer
                .finish()
                .map_err(|e| VaultError::Io(std::io::Error::other(e.to_string())))?
                .finish()?;
            sealed.push((
                output.receiver_org_id,
                output.receiver_code,
                output.records,
                object,
            ));
        }
        Ok(Converted {
            report,
            outputs: sealed,
        })
    })
    .await??;

    // The sender's report, sealed like everything else.
    let mut report_writer = state.vault.create_sealed()?;
    std::io::Write::write_all(
        &mut report_writer,
        &serde_json::to_vec_pretty(&converted.report)?,
    )?;
    let report_object = report_writer.finish()?;

    let now = OffsetDateTime::now_utc();
    let expires_at = now + time::Duration::days(i64::from(state.config.retention_days));
    let report = &converted.report;
    let rejected = report.unusable.is_some();
    let done = CompletedConversion {
        submission_id: job.submission.id,
        outputs: converted
            .outputs
            .iter()
            .map(|(receiver_org_id, code, records, object)| ConvertedOutput {
                receiver_org_id: *receiver_org_id,
                object: new_object(object),
                filename: format!("{stem}_{code}.std.csv"),
                records: *records,
                expires_at,
            })
            .collect(),
        report: new_object(&report_object),
        counts: RecordCounts {
            records_in: report.records_in,
            records_out: report.records_out,
            records_rejected: report.records_rejected,
            records_unrouted: report.records_unrouted,
        },
        map_label: report.map.clone(),
        profile_label: report.profile.clone(),
        converter: report.converter.clone(),
        rejected,
        actor: ACTOR.into(),
    };
    match state.db.complete_conversion(&done, now).await {
        Ok(shredded) => {
            crate::relay::finish_shredding(state, shredded).await;
            tracing::info!(
                submission = %job.submission.id,
                records_in = report.records_in,
                records_out = report.records_out,
                records_rejected = report.records_rejected,
                records_unrouted = report.records_unrouted,
                deliveries = done.outputs.len(),
                "submission converted"
            );
            Ok(())
        }
        Err(err) => {
            let mut orphans: Vec<_> = done.outputs.iter().map(|o| o.object.id).collect();
            orphans.push(done.report.id);
            state.vault.delete_blobs(orphans).await;
            Err(err.into())
        }
    }
}

fn new_object(sealed: &SealedObject) -> NewObject {
    NewObject {
        id: sealed.id,
        kek_id: sealed.kek_id.clone(),
        wrapped_key: sealed.wrapped_key.as_bytes().to_vec(),
        plaintext_size: sealed.plaintext_size,
        plaintext_sha256: sealed.plaintext_sha256.clone(),
        ciphertext_size: sealed.ciphertext_size,
    }
}
