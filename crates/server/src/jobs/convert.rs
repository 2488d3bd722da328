//! The conversion of a submission, as a background job (`convert`): the sender's export (or
//! MHLW archive) converted with the sender's active map, its records split by 保険者番号 into
//! one encrypted output per receiver — each in the receiver's [`OutputFormat`] — the
//! sender's encrypted report stored, and the input destroyed (DESIGN §3), all recorded in
//! one transaction that also closes the job.
//!
//! Plaintext exists only in memory, a chunk at a time: the input is decrypted while it is
//! read, and each output is sealed while it is written. An attempt that dies leaves the input
//! encrypted and intact; the next attempt starts again from it, and the first attempt's
//! partial blobs are removed by recovery or never registered.

use std::collections::{BTreeMap, HashMap};

use kenshin_convert::delimited::SourceRow;
use kenshin_convert::output::OutputContext;
use kenshin_convert::returned::ReturnedRows;
use kenshin_convert::stdcsv::WriteError;
use kenshin_convert::{
    convert_delimited, Finding, MapFile, OutputFormat, RecordWriter, Report, Routed, Sink,
};
use kenshin_core::{HeldReason, SubmissionId};
use kenshin_profile::{CheckupRecord, HeaderField, Profile};
use kenshin_store::{
    ClaimedJob, CompletedConversion, ConvertedOutput, HeldOutput, Job, RecordCounts,
};
use serde::{Deserialize, Serialize};

use super::{BackgroundJob, JobError};
use crate::state::AppState;
use crate::vault::{DeliveryWriter, SealedObject, SealingObjectWriter, VaultError};

const ACTOR: &str = "system:converter";

/// Converts one submission.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ConvertSubmission {
    pub submission_id: SubmissionId,
}

impl BackgroundJob for ConvertSubmission {
    const KIND: &'static str = "convert";
    /// Infrastructure errors only: an input that cannot be converted is a result (the
    /// submission is rejected with its report), not a failure.
    const MAX_ATTEMPTS: u32 = 3;

    fn subject(&self) -> Option<String> {
        Some(self.submission_id.to_string())
    }

    async fn run(self, state: &AppState, job: &ClaimedJob) -> Result<(), JobError> {
        // Withdrawn (or finished) meanwhile: nothing to convert.
        let Some(work) = state.db.begin_conversion(self.submission_id).await? else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let outcome = convert(state, work, &job.id).await;
        state.metrics.observe_job(
            if outcome.is_ok() {
                "converted"
            } else {
                "failed"
            },
            started.elapsed().as_secs_f64(),
        );
        if let Err(err) = &outcome {
            tracing::error!(submission = %self.submission_id, attempt = job.attempt, error = %err, "conversion attempt failed");
        }
        outcome.map_err(JobError::Retry)
    }
}

/// The formats a receiver chose, those that may refuse a record first: a record one of them
/// cannot hold is returned to the sender before any format delivered it.
fn output_formats(receiver: &kenshin_store::Receiver) -> (Vec<OutputFormat>, OutputFormat) {
    let chosen = crate::receiving::formats(&receiver.settings.formats);
    let first = chosen[0];
    let mut order = chosen;
    order.sort_by_key(|f| !f.may_refuse());
    (order, first)
}

/// One output: a receiver's records of one 保険者番号 in one format, sealed (to the
/// receiver's age recipients too, when it has any) as it is written.
struct Output {
    writer: Box<dyn RecordWriter<DeliveryWriter>>,
    receiver_org_id: i64,
    records: u64,
    /// Its records count towards usage (the receiver's first format only).
    counts_usage: bool,
}

/// Outputs by (receiver, 保険者番号, format).
type OutputKey = (i64, String, OutputFormat);

/// Decrypted MHLW archives are held in memory for conversion; larger ones are refused.
const MAX_ARCHIVE_IN_MEMORY: u64 = 512 * 1024 * 1024;

/// Records no receiver takes yet, of one 保険者番号: held for the sender in the standard CSV.
struct HeldBatch {
    writer: Box<dyn RecordWriter<SealingObjectWriter>>,
    records: u64,
}

/// What cannot become a record, returned to the sender: an export's rows as sent, or an
/// archive's records in the standard CSV.
enum Returned {
    Rows(Box<ReturnedRows<SealingObjectWriter>>),
    Records(Box<dyn RecordWriter<SealingObjectWriter>>),
}

/// Sends each record to the output of the organisation that receives its 保険者番号; holds
/// the others for the sender, and keeps what is rejected to return it — nothing is dropped.
struct Router<'a> {
    vault: &'a crate::vault::Vault,
    profile: &'static Profile,
    receivers: &'a HashMap<String, kenshin_store::Receiver>,
    /// Each receiver's age recipients, when it has any.
    sealing: &'a HashMap<i64, std::sync::Arc<kenshin_seal::Recipients>>,
    /// Who sends, as the XML archive and the FHIR documents name it; when; which run.
    sender_name: &'a str,
    sender_code: &'a str,
    created: time::OffsetDateTime,
    /// MHLW archives the sender already made today, by 保険者番号 (for 同日作成回数).
    archives_today: &'a HashMap<String, u64>,
    batch_id: String,
    outputs: BTreeMap<OutputKey, Output>,
    /// Records delivered in some of their receiver's formats but not all (the reasons).
    partial: Vec<(u64, String)>,
    held: BTreeMap<String, HeldBatch>,
    returned: Option<Returned>,
    /// Every finding, one JSON object per line, sealed as it is written.
    findings: Option<std::io::BufWriter<SealingObjectWriter>>,
}

impl Sink for &mut Router<'_> {
    fn record(&mut self, record: &CheckupRecord) -> Result<Routed, String> {
        self.route(record)
    }

    fn rejected_row(
        &mut self,
        header: Option<&[String]>,
        row: &SourceRow,
        reasons: &[Finding],
    ) -> Result<(), String> {
        if self.returned.is_none() {
            let sealed = self.vault.create_sealed().map_err(|e| e.to_string())?;
            self.returned = Some(Returned::Rows(Box::new(
                ReturnedRows::new(sealed).map_err(|e| e.to_string())?,
            )));
        }
        match self.returned.as_mut() {
            Some(Returned::Rows(rows)) => {
                rows.write(header, row, reasons).map_err(|e| e.to_string())
            }
            _ => Err("rows and records returned from one input".into()),
        }
    }

    fn finding(&mut self, finding: &Finding) -> Result<(), String> {
        if self.findings.is_none() {
            let sealed = self.vault.create_sealed().map_err(|e| e.to_string())?;
            self.findings = Some(std::io::BufWriter::with_capacity(64 * 1024, sealed));
        }
        let out = self.findings.as_mut().expect("created above");
        serde_json::to_writer(&mut *out, finding).map_err(|e| e.to_string())?;
        std::io::Write::write_all(out, b"\n").map_err(|e| e.to_string())
    }

    fn rejected_record(
        &mut self,
        record: &CheckupRecord,
        _reasons: &[Finding],
    ) -> Result<(), String> {
        if self.returned.is_none() {
            let sealed = self.vault.create_sealed().map_err(|e| e.to_string())?;
            self.returned = Some(Returned::Records(
                OutputFormat::std_csv(self.profile, sealed).map_err(|e| e.to_string())?,
            ));
        }
        match self.returned.as_mut() {
            Some(Returned::Records(writer)) => {
                writer.write_record(record).map_err(|e| e.to_string())
            }
            _ => Err("rows and records returned from one input".into()),
        }
    }
}

impl Router<'_> {
    fn route(&mut self, record: &CheckupRecord) -> Result<Routed, String> {
        let insurer = record
            .header
            .get(HeaderField::InsurerNumber)
            .unwrap_or_default();
        let Some(receiver) = self.receivers.get(insurer) else {
            // Held for the sender, one batch per 保険者番号, released once a route takes it.
            let batch = match self.held.entry(insurer.to_owned()) {
                std::collections::btree_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::btree_map::Entry::Vacant(entry) => {
                    let sealed = self.vault.create_sealed().map_err(|e| e.to_string())?;
                    entry.insert(HeldBatch {
                        writer: OutputFormat::std_csv(self.profile, sealed)
                            .map_err(|e| e.to_string())?,
                        records: 0,
                    })
                }
            };
            batch
                .writer
                .write_record(record)
                .map_err(|e| e.to_string())?;
            batch.records += 1;
            return Ok(Routed::Unrouted);
        };
        let (formats, usage_format) = output_formats(receiver);
        let mut written: Vec<OutputFormat> = Vec::new();
        for format in formats {
            let key = (receiver.org_id, insurer.to_owned(), format);
            if !self.outputs.contains_key(&key) {
                let sink = self
                    .vault
                    .create_delivery(self.sealing.get(&receiver.org_id).map(|r| r.as_ref()))
                    .map_err(|e| e.to_string())?;
                let mut ctx = OutputContext::for_record(
                    record,
                    self.sender_name,
                    self.created,
                    &self.batch_id,
                );
                ctx.daily_sequence = next_daily_sequence(self.archives_today, insurer);
                // An export without a 健診機関番号 column: the sender's code when it is one.
                if ctx.institution_number.is_empty()
                    && self.sender_code.len() == 10
                    && self.sender_code.bytes().all(|b| b.is_ascii_digit())
                {
                    ctx.institution_number = self.sender_code.to_owned();
                }
                match format.writer(self.profile, sink, &ctx) {
                    Ok(writer) => {
                        self.outputs.insert(
                            key.clone(),
                            Output {
                                writer,
                                receiver_org_id: receiver.org_id,
                                records: 0,
                                counts_usage: format == usage_format,
                            },
                        );
                    }
                    Err(WriteError::Setting(reason)) | Err(WriteError::Refused(reason)) => {
                        if written.is_empty() {
                            return Ok(Routed::Refused(reason));
                        }
                        self.partial.push((record.source_record, reason));
                        continue;
                    }
                    Err(err) => return Err(err.to_string()),
                }
            }
            let output = self.outputs.get_mut(&key).expect("inserted above");
            match output.writer.write_record(record) {
                Ok(()) => {
                    output.records += 1;
                    written.push(format);
                }
                Err(WriteError::Refused(reason)) => {
                    if written.is_empty() {
                        return Ok(Routed::Refused(reason));
                    }
                    self.partial.push((record.source_record, reason));
                }
                Err(err) => return Err(err.to_string()),
            }
        }
        Ok(Routed::Delivered)
    }
}

struct FinishedOutput {
    receiver_org_id: i64,
    insurer: String,
    format: OutputFormat,
    records: u64,
    counts_usage: bool,
    file_name: Option<String>,
    object: SealedObject,
}

/// The blocking part's result.
struct Converted {
    report: Report,
    /// (receiver, 保険者番号, format, records, counts usage, the format's own file name, object).
    outputs: Vec<FinishedOutput>,
    /// (reason, 保険者番号, records, object) of each batch held for the sender.
    held: Vec<(HeldReason, String, u64, SealedObject)>,
    /// Every finding, when there were any.
    findings: Option<SealedObject>,
}

async fn convert(state: &AppState, job: Job, job_id: &str) -> anyhow::Result<()> {
    let profile: &'static Profile = Profile::default_profile();
    let sender = job.submission.sender_org_id;
    let map_record = state.db.active_map(sender).await?;
    let receivers = state.db.conversion_receivers(sender).await?;
    // Each receiver's recipients, parsed once; one that no longer parses stops the job rather
    // than deliver unsealed.
    let mut sealing = HashMap::new();
    for receiver in receivers.values() {
        if let Some(recipients) = crate::receiving::sealing(&receiver.settings.recipients)
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            sealing.insert(receiver.org_id, recipients);
        }
    }
    let created = state.now();
    // Only needed (one query) when a receiver of this sender takes MHLW XML.
    let takes_xml = receivers.values().any(|r| {
        r.settings
            .formats
            .iter()
            .any(|f| f == OutputFormat::MhlwXml.code())
    });
    let archives_today = if takes_xml {
        state
            .db
            .mhlw_archives_since(sender, start_of_day_jst(created))
            .await?
    } else {
        HashMap::new()
    };
    let sender_name = job.submission.sender_name.clone();
    let sender_code = job.submission.sender_code.clone();
    let batch_id = job.submission.id.to_string();
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
                        "有効な変換表を読み込めません / the active map no longer loads: {err}"
                    ));
                    return Ok(Converted {
                        report: Report::unusable(profile, None, &error),
                        outputs: Vec::new(),
                        held: Vec::new(),
                        findings: None,
                    });
                }
            },
        };
        let mut reader = std::io::BufReader::with_capacity(256 * 1024, vault.open_reader(&input)?);
        let head = std::io::BufRead::fill_buf(&mut reader)
            .map_err(|e| VaultError::Integrity(e.to_string()))?;
        let is_archive = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
        // A file of another kind (an .xls, a PDF, …): said so, with what to send instead.
        let other_binary = (!is_archive)
            .then(|| kenshin_convert::xlsx::other_binary(head))
            .flatten();
        let mut router = Router {
            vault: &vault,
            profile,
            receivers: &receivers,
            sealing: &sealing,
            sender_name: &sender_name,
            sender_code: &sender_code,
            created,
            archives_today: &archives_today,
            batch_id,
            outputs: BTreeMap::new(),
            partial: Vec::new(),
            held: BTreeMap::new(),
            returned: None,
            findings: None,
        };
        let result = if is_archive {
            // A ZIP needs random access; the decrypted archive is held in memory (never on
            // disk), up to a limit.
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut std::io::Read::take(reader, MAX_ARCHIVE_IN_MEMORY + 1),
                &mut bytes,
            )
            .map_err(|e| VaultError::Integrity(e.to_string()))?;
            if bytes.len() as u64 > MAX_ARCHIVE_IN_MEMORY {
                Err(kenshin_convert::ConvertError::Input(format!(
                    "アーカイブが {} MiB を超えています。複数に分けて送ってください / the archive is larger than that; split it into several archives",
                    MAX_ARCHIVE_IN_MEMORY / 1024 / 1024
                )))
            } else if kenshin_convert::xlsx::is_xlsx(&bytes) {
                // An Excel workbook: its worksheet, as CSV, through the sender's map.
                match (&map, &bytes) {
                    (Some(map), bytes) => {
                        let sheet = map.settings.get("sheet").map(String::as_str);
                        match kenshin_convert::xlsx::to_csv(bytes, sheet) {
                            Ok(csv) => convert_delimited(
                                std::io::Cursor::new(csv),
                                profile,
                                map,
                                &mut router,
                                |_| {},
                            ),
                            Err(err) => Err(kenshin_convert::ConvertError::Input(err.to_string())),
                        }
                    }
                    (None, _) => Err(kenshin_convert::ConvertError::Setting(
                        "有効な変換表（変換テーブル）がありません。変換表の画面で登録し、有効にしてください / no active map file for this institution".into(),
                    )),
                }
            } else {
                match kenshin_mhlw::read_archive(
                    std::io::Cursor::new(bytes),
                    profile,
                    &kenshin_mhlw::Limits::default(),
                ) {
                    Ok(archive) => {
                        let results_only = archive.summary().is_none();
                        kenshin_convert::convert_records(
                            archive,
                            profile,
                            "MHLW XML archive",
                            &mut router,
                        )
                        .map(|mut report| {
                            if results_only {
                                report.notes.push(
                                    "集計情報（su08_V08.xml）のない、結果のみのアーカイブとして読みました（請求情報はありません）"
                                        .into(),
                                );
                            }
                            report
                        })
                    }
                    Err(err) => Err(kenshin_convert::ConvertError::Input(format!(
                        "特定健診の XML アーカイブとして読めません。健診システムから出力し直したファイルを送ってください / not a readable MHLW checkup archive: {err}"
                    ))),
                }
            }
        } else if let Some(message) = other_binary {
            Err(kenshin_convert::ConvertError::Input(message))
        } else {
            match &map {
                Some(map) => convert_delimited(reader, profile, map, &mut router, |_| {}),
                None => Err(kenshin_convert::ConvertError::Setting(
                    "有効な変換表（変換テーブル）がありません。変換表の画面で登録し、有効にしてください / no active map file for this institution".into(),
                )),
            }
        };
        let Router {
            outputs,
            partial,
            held,
            returned,
            findings,
            ..
        } = router;
        let mut failure: Option<VaultError> = None;
        let report = match result {
            Ok(mut report) => {
                if let Some((record, reason)) = partial.first() {
                    report.notes.push(format!(
                        "{} 件の記録は、受信者が選んだ形式の一部では作れませんでした（他の形式では配信済み）。最初の例: 記録 {record}: {reason}",
                        partial.len()
                    ));
                }
                report
            }
            // An input that fails authentication or cannot be read from disk is the
            // service's problem, not the sender's: retry, and alert.
            Err(kenshin_convert::ConvertError::Read(err))
                if matches!(err.kind, kenshin_convert::delimited::ReadErrorKind::Io(_)) =>
            {
                failure = Some(VaultError::Integrity(err.to_string()));
                Report::unusable(
                    profile,
                    map.as_ref(),
                    &kenshin_convert::ConvertError::Read(err),
                )
            }
            Err(kenshin_convert::ConvertError::Output(message)) => {
                failure = Some(VaultError::Io(std::io::Error::other(message)));
                Report::unusable(
                    profile,
                    map.as_ref(),
                    &kenshin_convert::ConvertError::Setting(String::new()),
                )
            }
            Err(err) => {
                // Unusable input: nothing delivered; the partial outputs are dropped (and
                // their blobs removed) with `outputs`.
                return Ok(Converted {
                    report: Report::unusable(profile, map.as_ref(), &err),
                    outputs: Vec::new(),
                    held: Vec::new(),
                    findings: None,
                });
            }
        };
        if let Some(failure) = failure {
            return Err(failure);
        }
        let mut sealed = Vec::with_capacity(outputs.len());
        for ((_, insurer, format), output) in outputs {
            // A format that refused every record it was given has nothing to deliver: its
            // partial blob goes with the writer.
            if output.records == 0 {
                continue;
            }
            let file_name = output.writer.file_name();
            let object = output
                .writer
                .finish()
                .map_err(|e| VaultError::Io(std::io::Error::other(e.to_string())))?
                .finish()?;
            sealed.push(FinishedOutput {
                receiver_org_id: output.receiver_org_id,
                insurer,
                format,
                records: output.records,
                counts_usage: output.counts_usage,
                file_name,
                object,
            });
        }
        let mut kept = Vec::with_capacity(held.len() + 1);
        let io = |e: kenshin_convert::stdcsv::WriteError| {
            VaultError::Io(std::io::Error::other(e.to_string()))
        };
        for (insurer, batch) in held {
            let object = batch.writer.finish().map_err(io)?.finish()?;
            kept.push((HeldReason::Unrouted, insurer, batch.records, object));
        }
        // The batch counts what its file holds: an archive's DATA file that could not be read
        // at all is rejected (and listed in the report) but has no row to return.
        match returned {
            Some(Returned::Rows(rows)) => {
                let written = rows.rows();
                let object = rows.finish()?.finish()?;
                kept.push((HeldReason::Rejected, String::new(), written, object));
            }
            Some(Returned::Records(writer)) => {
                let written = writer.records_written();
                let object = writer.finish().map_err(io)?.finish()?;
                kept.push((HeldReason::Rejected, String::new(), written, object));
            }
            None => {}
        }
        let findings = match findings {
            Some(out) => Some(
                out.into_inner()
                    .map_err(|e| VaultError::Io(e.into_error()))?
                    .finish()?,
            ),
            None => None,
        };
        Ok(Converted {
            report,
            outputs: sealed,
            held: kept,
            findings,
        })
    })
    .await??;

    let mut converted = converted;
    converted.report.input_sha256 = Some(job.input.plaintext_sha256.clone());
    // The sender's report, sealed like everything else, on a blocking thread: writing a blob
    // may be a request to an S3 bucket.
    let report_json = serde_json::to_vec_pretty(&converted.report)?;
    let vault = state.vault.clone();
    let report_object = tokio::task::spawn_blocking(move || -> Result<_, VaultError> {
        let mut report_writer = vault.create_sealed()?;
        std::io::Write::write_all(&mut report_writer, &report_json)?;
        report_writer.finish()
    })
    .await??;

    let now = state.now();
    let expires_at = now + time::Duration::days(i64::from(state.config.retention_days));
    let report = &converted.report;
    let rejected = report.unusable.is_some();
    let done = CompletedConversion {
        job_id: job_id.to_owned(),
        submission_id: job.submission.id,
        outputs: converted
            .outputs
            .iter()
            .map(|out| ConvertedOutput {
                receiver_org_id: out.receiver_org_id,
                object: out.object.new_object(),
                filename: {
                    let name = out.file_name.clone().unwrap_or_else(|| {
                        format!("{stem}_{}{}", out.insurer, out.format.file_suffix())
                    });
                    // An age file says so in its name (`age -d` users expect it).
                    match out.object.sealed_content {
                        Some(_) => format!("{name}.age"),
                        None => name,
                    }
                },
                records: out.records,
                expires_at,
                format: out.format.code().to_owned(),
                insurer_number: out.insurer.clone(),
                counts_usage: out.counts_usage,
            })
            .collect(),
        held: converted
            .held
            .iter()
            .map(|(reason, insurer, records, object)| HeldOutput {
                reason: *reason,
                insurer_number: insurer.clone(),
                object: object.new_object(),
                filename: match reason {
                    HeldReason::Unrouted if insurer.is_empty() => {
                        format!("{stem}_no-insurer.std.csv")
                    }
                    HeldReason::Unrouted => format!("{stem}_{insurer}.std.csv"),
                    _ => format!("{stem}_rejected-rows.csv"),
                },
                records: *records,
                expires_at,
            })
            .collect(),
        report: report_object.new_object(),
        findings: converted.findings.as_ref().map(SealedObject::new_object),
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
            state.finish_shredding(shredded).await;
            state
                .access
                .system(
                    "system:converter",
                    "conversion",
                    vec![format!("submission:{}", job.submission.id)],
                    if rejected { "failed" } else { "success" },
                )
                .await;
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
            state.vault.delete_blobs(done.objects()).await;
            Err(err.into())
        }
    }
}

/// The 同日作成回数 of the next MHLW archive for `insurer`: one more than the sender made today
/// (the archive name has one digit for it, so at most 9).
pub(crate) fn next_daily_sequence(archives_today: &HashMap<String, u64>, insurer: &str) -> u8 {
    archives_today
        .get(insurer)
        .map_or(1, |n| u8::try_from(n + 1).unwrap_or(9).min(9))
}

/// Midnight of `at`'s day in JST: where an MHLW archive's creation day starts.
pub(crate) fn start_of_day_jst(at: time::OffsetDateTime) -> time::OffsetDateTime {
    at.to_offset(time::macros::offset!(+9))
        .replace_time(time::Time::MIDNIGHT)
}
