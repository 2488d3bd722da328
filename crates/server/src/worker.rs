//! The conversion worker: takes queued submissions, converts them with the sender's active
//! map, splits the records by 保険者番号 into one encrypted output per receiver, stores the
//! sender's encrypted report, and destroys the input (DESIGN §3).
//!
//! Plaintext exists only in memory, a chunk at a time: the input is decrypted while it is
//! read, and each output is sealed while it is written. A worker that dies mid-job leaves its
//! job running under its [`Slot`]: the same slot, restarted, takes it back at once; otherwise
//! the job's lease runs out and another worker takes it. Either way the job starts again from
//! the still-encrypted input, and the first attempt's partial blobs are removed by recovery or
//! never registered.

use std::collections::HashMap;

use kenshin_convert::{convert_delimited, MapFile, Report, Routed, StdCsvWriter};
use kenshin_profile::{HeaderField, Profile};
use kenshin_store::{CompletedConversion, ConvertedOutput, Job, NewObject, RecordCounts};
use time::OffsetDateTime;

use crate::state::AppState;
use crate::vault::{SealedObject, SealingObjectWriter, VaultError};

/// Attempts before a job is given up (infrastructure errors only; bad input is a result).
const MAX_ATTEMPTS: u32 = 3;
const ACTOR: &str = "system:converter";

/// The worker task and what it is working on, so that shutting down can hand the job back.
pub struct WorkerHandle {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    current: std::sync::Arc<std::sync::Mutex<Option<kenshin_core::SubmissionId>>>,
}

impl WorkerHandle {
    /// Lets the current job finish within `grace`; otherwise stops it and puts the job back
    /// in the queue (its input is still encrypted and intact; partial outputs were never
    /// registered), so another worker — or this node after a restart — takes it at once
    /// instead of waiting for the lease.
    pub async fn stop(self, state: &AppState, grace: std::time::Duration) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_ok() {
            return;
        }
        task.abort();
        let _ = task.await;
        let current = self.current.lock().ok().and_then(|mut c| c.take());
        if let Some(id) = current {
            match state.db.release_job(id, OffsetDateTime::now_utc()).await {
                Ok(true) => tracing::info!(submission = %id, "conversion handed back to the queue"),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(submission = %id, error = %err, "could not hand the job back; its lease will expire")
                }
            }
        }
    }
}

/// A worker's identity that survives its crash: `HOST:DIR#N`, where `DIR` is a short hash of
/// the data directory and `N` the first worker slot of that directory this process could lock
/// (`worker-slots/N.lock`, `flock`, released by the kernel however the process ends). A worker
/// that restarts after `kill -9` gets its slot back, so it knows which running jobs were its
/// own and takes them back at once; live workers hold other slots.
pub struct Slot {
    holder: String,
    _lock: std::fs::File,
}

impl Slot {
    /// The first free slot of `data`.
    pub fn take(data: &crate::config::DataDir) -> anyhow::Result<Slot> {
        use std::os::unix::fs::DirBuilderExt;
        let dir = data.root().join("worker-slots");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let root = std::fs::canonicalize(data.root()).unwrap_or_else(|_| data.root().to_owned());
        let place = &kenshin_crypto::sha256_hex(root.to_string_lossy().as_bytes())[..8];
        let host = hostname();
        for n in 0..1024u32 {
            if let Some(lock) = crate::config::DataDir::try_lock(&dir.join(format!("{n}.lock")))? {
                return Ok(Slot {
                    holder: format!("{host}:{place}#{n}"),
                    _lock: lock,
                });
            }
        }
        anyhow::bail!("no free worker slot in {}", dir.display())
    }

    /// The identity recorded with the jobs this worker runs.
    pub fn holder(&self) -> &str {
        &self.holder
    }
}

fn hostname() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most `len` bytes into the buffer it is given.
    let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

/// Starts the worker in `slot`: first the jobs this slot was running when its process died
/// are queued again (no lease to wait out), then queued jobs are taken one at a time.
pub fn spawn(state: AppState, slot: Slot) -> WorkerHandle {
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let current = std::sync::Arc::new(std::sync::Mutex::new(None));
    let working = std::sync::Arc::clone(&current);
    let task = tokio::spawn(async move {
        match state
            .db
            .release_jobs_held_by(slot.holder(), OffsetDateTime::now_utc())
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                jobs = n,
                holder = slot.holder(),
                "conversions interrupted by an unclean stop of this worker are queued again"
            ),
            Err(err) => {
                tracing::warn!(error = %err, "could not take back interrupted jobs; their leases will expire")
            }
        }
        loop {
            loop {
                if *stopped.borrow() {
                    return;
                }
                match run_one_tracked(&state, &working, slot.holder()).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(err) => {
                        tracing::warn!(error = %err, "conversion worker error; will retry");
                        break;
                    }
                }
            }
            // Woken by a new job, or every few seconds for expired leases, or told to stop.
            tokio::select! {
                _ = tokio::time::timeout(std::time::Duration::from_secs(5), state.jobs.notified()) => {}
                _ = stopped.changed() => return,
            }
        }
    });
    WorkerHandle {
        task,
        stop,
        current,
    }
}

/// Claims and runs one job, noting it in `current` while it runs; `Ok(false)` when there was none.
async fn run_one_tracked(
    state: &AppState,
    current: &std::sync::Mutex<Option<kenshin_core::SubmissionId>>,
    holder: &str,
) -> anyhow::Result<bool> {
    let Some(job) = state
        .db
        .claim_job(
            OffsetDateTime::now_utc(),
            lease_of(state),
            MAX_ATTEMPTS,
            holder,
        )
        .await?
    else {
        return Ok(false);
    };
    if let Ok(mut slot) = current.lock() {
        *slot = Some(job.submission.id);
    }
    let result = run_claimed(state, job).await;
    if let Ok(mut slot) = current.lock() {
        *slot = None;
    }
    result.map(|()| true)
}

/// How long a worker may hold a job without renewing it before another may take it.
fn lease_of(state: &AppState) -> time::Duration {
    time::Duration::seconds(i64::from(state.config.job_lease_seconds))
}

/// Renews the job's lease at a third of its length while the attempt runs, so a long
/// conversion keeps its job and only a dead worker's job is taken over.
fn keep_lease(
    state: &AppState,
    id: kenshin_core::SubmissionId,
    attempt: u32,
) -> tokio::task::JoinHandle<()> {
    let db = state.db.clone();
    let lease = lease_of(state);
    tokio::spawn(async move {
        let period = (lease / 3_i32).unsigned_abs();
        loop {
            tokio::time::sleep(period).await;
            let now = OffsetDateTime::now_utc();
            match db.renew_job_lease(id, attempt, now + lease, now).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(err) => {
                    tracing::warn!(submission = %id, error = %err, "could not renew the job's lease")
                }
            }
        }
    })
}

/// Runs a claimed job to its end: converted, or failed (retried up to [`MAX_ATTEMPTS`]).
async fn run_claimed(state: &AppState, job: Job) -> anyhow::Result<()> {
    let id = job.submission.id;
    let attempts = job.attempts;
    let started = std::time::Instant::now();
    let renewal = keep_lease(state, id, attempts);
    let outcome = convert_job(state, job).await;
    renewal.abort();
    state.metrics.observe_job(
        if outcome.is_ok() {
            "converted"
        } else {
            "failed"
        },
        started.elapsed().as_secs_f64(),
    );
    match outcome {
        Ok(()) => Ok(()),
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
            Ok(())
        }
    }
}

struct Output {
    writer: StdCsvWriter<'static, SealingObjectWriter>,
    receiver_org_id: i64,
    receiver_code: String,
    records: u64,
}

/// Decrypted MHLW archives are held in memory for conversion; larger ones are refused.
const MAX_ARCHIVE_IN_MEMORY: u64 = 512 * 1024 * 1024;

/// Sends each record to the output of the organisation that receives its 保険者番号.
struct Router<'a> {
    vault: &'a crate::vault::Vault,
    profile: &'static Profile,
    receivers: &'a HashMap<String, kenshin_store::Receiver>,
    outputs: HashMap<i64, Output>,
}

impl Router<'_> {
    fn route(&mut self, record: &kenshin_profile::CheckupRecord) -> Result<Routed, String> {
        let insurer = record
            .header
            .get(HeaderField::InsurerNumber)
            .unwrap_or_default();
        let Some(receiver) = self.receivers.get(insurer) else {
            return Ok(Routed::Unrouted);
        };
        let output = match self.outputs.entry(receiver.org_id) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let sealed = self.vault.create_sealed().map_err(|e| e.to_string())?;
                let writer = StdCsvWriter::new(
                    self.profile,
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
    }
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
        let mut reader = std::io::BufReader::with_capacity(256 * 1024, vault.open_reader(&input)?);
        let head = std::io::BufRead::fill_buf(&mut reader)
            .map_err(|e| VaultError::Integrity(e.to_string()))?;
        let is_archive = head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06");
        let mut router = Router {
            vault: &vault,
            profile,
            receivers: &receivers,
            outputs: HashMap::new(),
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
                    "the archive is larger than {} MiB; split it into several archives",
                    MAX_ARCHIVE_IN_MEMORY / 1024 / 1024
                )))
            } else {
                match kenshin_mhlw::read_archive(
                    std::io::Cursor::new(bytes),
                    profile,
                    &kenshin_mhlw::Limits::default(),
                ) {
                    Ok(archive) => kenshin_convert::convert_records(
                        archive,
                        profile,
                        "MHLW XML archive",
                        |record| router.route(record),
                    ),
                    Err(err) => Err(kenshin_convert::ConvertError::Input(err.to_string())),
                }
            }
        } else {
            match &map {
                Some(map) => {
                    convert_delimited(reader, profile, map, |record| router.route(record), |_| {})
                }
                None => Err(kenshin_convert::ConvertError::Setting(
                    "no active map file (変換テーブル) for this institution".into(),
                )),
            }
        };
        let outputs = router.outputs;
        let mut failure: Option<VaultError> = None;
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
            crate::service::relay::finish_shredding(state, shredded).await;
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
