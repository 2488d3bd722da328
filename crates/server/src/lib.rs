//! The Kenshin Relay HTTPS service.
//!
//! - [`config`]: the data directory's layout, the configuration file and its environment
//!   overrides, and the start-up checks that refuse an unsafe data directory.
//! - [`tls`]: TLS 1.3 only, client certificates verified against the built-in CA and its CRL;
//!   the connection loop that hands each request the peer's certificate.
//! - [`vault`]: encryption at rest — streams uploads into sealed blobs and blobs back out,
//!   and destroys them (crypto-shredding).
//! - [`relay`]: the file lifecycle on top of the store and the vault; the place where a route's
//!   mode decides what happens to a received file.
//! - [`api`]: the `/api/v1` JSON handlers and `/health`.
//! - [`retention`]: the background task that expires unconfirmed deliveries.

pub mod access;
pub mod accounts;
pub mod api;
pub mod certificates;
pub mod clock;
pub mod config;
pub mod error;
pub mod fd;
pub mod keys;
pub mod ledger;
pub mod metrics;
pub mod relay;
pub mod retention;
pub mod tls;
pub mod vault;
pub mod web;
pub mod worker;

use std::sync::Arc;

use kenshin_store::{BlobStore, Database};

pub use config::{Config, DataDir};
pub use error::ApiError;

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub vault: vault::Vault,
    pub config: Arc<Config>,
    /// Wakes the conversion worker when a job is queued.
    pub jobs: Arc<tokio::sync::Notify>,
    pub ledger: ledger::Ledger,
    pub access: access::AccessLog,
    /// Keys CSRF tokens and recovery codes (`keys/server.secret`).
    pub server_key: Arc<kenshin_auth::ServerKey>,
    /// TOTP secrets shown for enrolment but not yet confirmed, wrapped, by session.
    pub pending_totp: Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    /// The web UI's templates and texts.
    pub pages: Arc<kenshin_ui::Pages>,
    /// The data directory (the CA for issuing and revoking, the CRL it publishes).
    pub data: DataDir,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// Failed logins by source address and network (in memory, per node).
    pub login_sources: Arc<std::sync::Mutex<kenshin_auth::SourceThrottle>>,
    /// The last security-alert count for `/health`, and when it began (`access::current_alerts`).
    pub alerts: Arc<access::AlertCache>,
}

impl AppState {
    /// Opens the stores of a data directory. Safe while a server runs on it (admin commands).
    pub async fn open(data_dir: &DataDir, config: Config) -> anyhow::Result<AppState> {
        let keys = keys::open_key_provider(data_dir, &config)?;
        let db = open_database(data_dir, &config).await?;
        let blobs = BlobStore::open_at(&config.blob_location(data_dir)?)?;
        let ledger = ledger::Ledger::open(
            db.clone(),
            &data_dir.ledger_key_path(),
            &config.ledger_origin(),
        )?;
        let access = access::AccessLog::start(db.clone());
        let server_key = Arc::new(load_server_key(&data_dir.server_secret_path())?);
        Ok(AppState {
            server_key,
            pending_totp: Arc::default(),
            pages: Arc::new(kenshin_ui::Pages::new()),
            data: data_dir.clone(),
            metrics: Arc::new(metrics::Metrics::new()),
            login_sources: Arc::default(),
            alerts: Arc::default(),
            access,
            ledger,
            db,
            vault: vault::Vault::new(blobs, keys),
            config: Arc::new(config),
            jobs: Arc::new(tokio::sync::Notify::new()),
        })
    }
}

/// How old a blob without a database row, or a partial upload, must be before a node's
/// start-up recovery removes it when several nodes share the stores: far longer than the
/// moment between a blob's commit and its row, and than the gap between two writes of an
/// upload in progress.
pub const SHARED_STORE_SETTLE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The metadata database a configuration names: PostgreSQL when `database_url` is set,
/// otherwise the SQLite file in the data directory.
pub async fn open_database(data_dir: &DataDir, config: &Config) -> anyhow::Result<Database> {
    if config.database_url.is_empty() {
        Ok(Database::open(&data_dir.database_path()).await?)
    } else {
        Database::connect(&config.database_url, config.database_max_connections)
            .await
            .map_err(|e| {
                // The URL is not repeated: it may carry a password.
                anyhow::anyhow!("cannot use the PostgreSQL database named by database_url: {e}")
            })
    }
}

impl AppState {
    /// Makes sure the blob store can be used (an S3 bucket: reachable, existing, the
    /// credentials accepted), so that a wrong setting stops the start with its cause instead
    /// of failing the first upload.
    pub async fn check_blobs(&self) -> anyhow::Result<()> {
        let blobs = self.vault.blobs().clone();
        tokio::task::spawn_blocking(move || blobs.check()).await??;
        Ok(())
    }

    /// Removes partial uploads and blobs no live object refers to. Only at start-up, before
    /// any upload of this process can be in progress: a partial upload in flight looks just
    /// like a crashed one. Several API nodes share the stores only on PostgreSQL with a bucket
    /// (a local directory has one API process, which holds its lock); there other nodes are
    /// uploading meanwhile, so only debris older than [`SHARED_STORE_SETTLE`] goes.
    pub async fn recover(&self) -> anyhow::Result<kenshin_store::Recovery> {
        let shared =
            self.db.backend() == kenshin_store::Backend::Postgres && self.vault.blobs().is_s3();
        let settle = if shared {
            SHARED_STORE_SETTLE
        } else {
            std::time::Duration::ZERO
        };
        let live = self.db.live_object_ids().await?;
        let blobs = self.vault.blobs().clone();
        let recovery =
            tokio::task::spawn_blocking(move || blobs.recover_settled(&live, settle)).await??;
        if recovery.partial_removed > 0 || recovery.orphans_removed > 0 {
            tracing::warn!(
                partial_uploads_removed = recovery.partial_removed,
                orphan_blobs_removed = recovery.orphans_removed,
                "recovered blob store after an unclean stop"
            );
        }
        Ok(recovery)
    }
}

/// A server running in this process (used by `serve`, `demo` and the tests).
pub struct RunningServer {
    pub addr: std::net::SocketAddr,
    pub state: AppState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The conversion worker, stopped apart: it may hand its job back.
    worker: Option<worker::WorkerHandle>,
    grace: std::time::Duration,
    /// Held while serving: a second server on the same data directory would take the first
    /// one's uploads in progress for crash debris and delete them.
    _lock: std::fs::File,
}

/// What a `serve` process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerRole {
    /// The HTTPS interface and its background tasks (CRL, retention, ledger sequencer,
    /// alerts), and the conversion worker: one process does everything.
    All,
    /// The HTTPS interface and its background tasks, without conversion.
    Api,
}

impl RunningServer {
    /// Checks the data directory, opens the stores (recovering after a crash), binds the
    /// listener and starts serving with the background tasks.
    pub async fn start(data_dir: &DataDir, config: Config) -> anyhow::Result<RunningServer> {
        Self::start_as(data_dir, config, ServerRole::All).await
    }

    /// [`start`](Self::start) in a role: with [`ServerRole::Api`], conversions are left to
    /// [`RunningWorker`] processes on the same data.
    pub async fn start_as(
        data_dir: &DataDir,
        config: Config,
        role: ServerRole,
    ) -> anyhow::Result<RunningServer> {
        data_dir.check_for_serving(&config)?;
        let open_files = fd::ensure_budget(&config)?;
        let lock = lock_data_dir(data_dir)?;
        let tls = tls::TlsState::load(data_dir, &config)?;
        let state = AppState::open(data_dir, config.clone()).await?;
        state.check_blobs().await?;
        state.recover().await?;
        // The stored log must still be what was signed; a tampered ledger is not served.
        let audit = state.ledger.audit().await?;
        anyhow::ensure!(
            audit.is_intact(),
            "the ledger failed its audit at start-up: {}",
            audit.problems.join("; ")
        );
        state.ledger.sequence().await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
        let addr = listener.local_addr()?;
        let background = vec![
            tls.watch_crl(
                data_dir.clone(),
                std::time::Duration::from_secs(config.crl_reload_seconds),
            ),
            retention::spawn(
                state.clone(),
                std::time::Duration::from_secs(config.retention_sweep_seconds),
            ),
            state.ledger.clone().spawn(),
            access::spawn_alerts(state.clone()),
        ];
        let worker = match role {
            ServerRole::All => Some(worker::spawn(state.clone(), worker::Slot::take(data_dir)?)),
            ServerRole::Api => None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = api::router(state.clone());
        let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
        let handle = tokio::spawn(tls::serve(
            listener,
            tls,
            app,
            config.connection_limits(),
            state.metrics.clone(),
            async move {
                let _ = rx.await;
            },
            grace,
        ));
        tracing::info!(
            %addr,
            max_connections = config.max_connections,
            max_connections_per_source = config.max_connections_per_source,
            open_files,
            "Kenshin Relay listening (TLS 1.3, client certificates)"
        );
        if !config.people_require_certificate {
            tracing::warn!(
                "people_require_certificate = false: people of organisations that do not require \
                 it reach files with password and second factor only (the guideline 6.0 asks \
                 for client-certificate authentication on open networks)"
            );
        }
        Ok(RunningServer {
            addr,
            state,
            shutdown: Some(tx),
            handle,
            background,
            worker,
            grace,
            _lock: lock,
        })
    }

    /// Stops accepting, lets in-flight requests finish within the grace period, and closes the
    /// stores.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let result = (&mut self.handle).await?;
        if let Some(worker) = self.worker.take() {
            worker.stop(&self.state, self.grace).await;
        }
        for task in &self.background {
            task.abort();
        }
        self.state.access.flush().await;
        self.state.ledger.resign().await;
        self.state.db.close().await;
        result
    }
}

/// A conversion worker process (`serve --role worker`): claims queued conversions from the
/// shared database, leased so that a worker that dies leaves its job to another, and hands
/// its job back when stopped. It serves no requests and never runs start-up recovery (that
/// belongs to the API process, whose uploads it would otherwise mistake for debris). Any
/// number may run beside one API process.
pub struct RunningWorker {
    pub state: AppState,
    worker: Option<worker::WorkerHandle>,
    grace: std::time::Duration,
}

impl RunningWorker {
    pub async fn start(data_dir: &DataDir, config: Config) -> anyhow::Result<RunningWorker> {
        data_dir.check_for_serving(&config)?;
        let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
        let state = AppState::open(data_dir, config).await?;
        state.check_blobs().await?;
        let worker = worker::spawn(state.clone(), worker::Slot::take(data_dir)?);
        tracing::info!("conversion worker started");
        Ok(RunningWorker {
            state,
            worker: Some(worker),
            grace,
        })
    }

    /// Finishes or hands back the current job, then closes the stores.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(worker) = self.worker.take() {
            worker.stop(&self.state, self.grace).await;
        }
        self.state.access.flush().await;
        self.state.db.close().await;
        Ok(())
    }
}

/// SIGINT and SIGTERM, listened for from the moment this is created: install it before
/// announcing readiness, so a signal that follows the announcement is never missed.
pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.int.recv() => {},
            _ = self.term.recv() => {},
        }
        tracing::info!("shutting down");
    }
}

/// Takes an exclusive advisory lock on `DATA_DIR/serve.lock`; the kernel releases it when the
/// process ends, however it ends.
fn lock_data_dir(data_dir: &DataDir) -> anyhow::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.root().join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    // SAFETY: a valid descriptor owned by `file`.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        anyhow::ensure!(
            err.kind() != std::io::ErrorKind::WouldBlock,
            "another kenshin-relay server is already serving {}",
            data_dir.root().display()
        );
        anyhow::bail!("cannot lock {}: {err}", path.display());
    }
    Ok(file)
}

/// The server secret behind CSRF tokens and recovery-code hashes, created on first use.
fn load_server_key(path: &std::path::Path) -> anyhow::Result<kenshin_auth::ServerKey> {
    let (secret, _) = match kenshin_crypto::read_secret_file(path, 64, "server secret") {
        Ok(found) => found,
        Err(reason) if reason == "not found" => {
            let secret = kenshin_auth::ServerKey::generate_secret()
                .map_err(|_| anyhow::anyhow!("the random number generator failed"))?;
            kenshin_crypto::create_secret_file(path, &secret[..], "server secret")
                .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
            kenshin_crypto::read_secret_file(path, 64, "server secret")
                .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?
        }
        Err(reason) => anyhow::bail!("{}: {reason}", path.display()),
    };
    kenshin_auth::ServerKey::from_secret(&secret)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
