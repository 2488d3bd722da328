//! The background worker: takes due jobs from the queue one at a time and runs them
//! (`jobs`: the conversion is one kind), renewing each job's lease while it runs.
//!
//! A worker that dies mid-job leaves its job running under its [`Slot`]: the same slot,
//! restarted, takes it back at once; otherwise the job's lease runs out and another worker
//! takes it. A worker stopped in an orderly way hands its job back to the queue.

use crate::jobs;
use crate::state::AppState;

/// The worker's lanes and what each is working on, so that shutting down can hand the jobs
/// back. Files (conversions, releases) and notices run in lanes of their own, so a slow
/// mail server never holds up a conversion and a long conversion never delays a notice.
pub struct WorkerHandle {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    current: Vec<std::sync::Arc<std::sync::Mutex<Option<String>>>>,
}

impl WorkerHandle {
    /// Lets the current jobs finish within `grace`; otherwise stops them and puts the jobs
    /// back in the queue (a conversion's input is still encrypted and intact; partial outputs
    /// were never registered), so another worker — or this node after a restart — takes them
    /// at once instead of waiting for the lease.
    pub async fn stop(self, state: &AppState, grace: std::time::Duration) {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for (mut task, current) in self.tasks.into_iter().zip(self.current) {
            if tokio::time::timeout_at(deadline, &mut task).await.is_ok() {
                continue;
            }
            task.abort();
            let _ = task.await;
            let id = current.lock().ok().and_then(|mut c| c.take());
            if let Some(id) = id {
                match state.db.release_job(&id, state.now()).await {
                    Ok(true) => tracing::info!(job = %id, "job handed back to the queue"),
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(job = %id, error = %err, "could not hand the job back; its lease will expire")
                    }
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
/// are queued again (no lease to wait out), then queued jobs are taken one at a time in each
/// lane (`jobs::FILE_KINDS`, `jobs::NOTICE_KINDS`).
pub fn spawn(state: AppState, slot: Slot) -> WorkerHandle {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slot = std::sync::Arc::new(slot);
    let ready = std::sync::Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    let mut current = Vec::new();
    for (lane, kinds) in [jobs::FILE_KINDS, jobs::NOTICE_KINDS]
        .into_iter()
        .enumerate()
    {
        let working = std::sync::Arc::new(std::sync::Mutex::new(None));
        current.push(std::sync::Arc::clone(&working));
        let (state, slot, ready, mut stopped) = (
            state.clone(),
            std::sync::Arc::clone(&slot),
            std::sync::Arc::clone(&ready),
            stopped.clone(),
        );
        tasks.push(tokio::spawn(async move {
            if lane == 0 {
                take_back(&state, slot.holder()).await;
                ready.notify_waiters();
                ready.notify_one();
            } else {
                ready.notified().await;
            }
            loop {
                loop {
                    if *stopped.borrow() {
                        return;
                    }
                    match run_one_tracked(&state, &working, slot.holder(), kinds).await {
                        Ok(true) => continue,
                        Ok(false) => break,
                        Err(err) => {
                            tracing::warn!(error = %err, "worker error; will retry");
                            break;
                        }
                    }
                }
                // Woken by a new job, or every few seconds for expired leases and jobs whose
                // retry time came, or told to stop.
                tokio::select! {
                    _ = tokio::time::timeout(std::time::Duration::from_secs(5), state.jobs.lane(lane).notified()) => {}
                    _ = stopped.changed() => return,
                }
            }
        }));
    }
    WorkerHandle {
        tasks,
        stop,
        current,
    }
}

/// Queues again the jobs this slot held when its process died.
async fn take_back(state: &AppState, holder: &str) {
    match state.db.release_jobs_held_by(holder, state.now()).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            jobs = n,
            holder,
            "jobs interrupted by an unclean stop of this worker are queued again"
        ),
        Err(err) => {
            tracing::warn!(error = %err, "could not take back interrupted jobs; their leases will expire")
        }
    }
}

/// Claims and runs one job, noting it in `current` while it runs; `Ok(false)` when there was none.
async fn run_one_tracked(
    state: &AppState,
    current: &std::sync::Mutex<Option<String>>,
    holder: &str,
    kinds: &[&str],
) -> anyhow::Result<bool> {
    let Some(job) = state
        .db
        .claim_job(kinds, state.now(), jobs::lease_of(state), holder)
        .await?
    else {
        return Ok(false);
    };
    if let Ok(mut slot) = current.lock() {
        *slot = Some(job.id.clone());
    }
    let result = jobs::run(state, job).await;
    if let Ok(mut slot) = current.lock() {
        *slot = None;
    }
    result.map(|()| true).map_err(Into::into)
}
