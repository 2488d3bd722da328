//! What every request handler and background task is given: the stores, the vault, the
//! ledger, the access log, the configuration ([`AppState`]), and how they are opened.

use std::sync::Arc;

use kenshin_store::{BlobStore, Database};

use crate::config::{Config, DataDir};
use crate::{access, keys, ledger, metrics, vault};

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    pub vault: vault::Vault,
    pub config: Arc<Config>,
    /// Wakes the worker's lanes when a job is queued.
    pub jobs: Arc<JobBell>,
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
    /// "Now" for every rule about time (the system's clock; tests may move their own).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// E-mail and webhook senders (`notifier.rs`), used by the notification jobs only.
    pub notifier: Arc<crate::notifier::Notifier>,
    /// The WebAuthn relying party for passkeys (`None`: the relay's address is no domain).
    pub webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// Passkey ceremonies in progress (per node, five minutes each).
    pub ceremonies: Arc<std::sync::Mutex<crate::webauthn::Ceremonies>>,
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
        let notifier = Arc::new(crate::notifier::Notifier::from_config(&config, data_dir)?);
        let webauthn = crate::webauthn::relying_party(&notifier.base_url);
        Ok(AppState {
            notifier,
            webauthn,
            ceremonies: Arc::default(),
            server_key,
            pending_totp: Arc::default(),
            pages: Arc::new(kenshin_ui::Pages::new()),
            data: data_dir.clone(),
            metrics: Arc::new(metrics::Metrics::new()),
            login_sources: Arc::default(),
            alerts: Arc::default(),
            clock: Arc::new(crate::clock::SystemClock),
            access,
            ledger,
            db,
            vault: vault::Vault::new(blobs, keys),
            config: Arc::new(config),
            jobs: Arc::default(),
        })
    }
}

/// Wakes the worker's lanes (files, notices) when a job is queued; a lane asleep takes the
/// wake-up at once, a lane at work when it next looks.
#[derive(Debug, Default)]
pub struct JobBell {
    lanes: [tokio::sync::Notify; 2],
}

impl JobBell {
    /// Wakes every lane (each keeps one wake-up if it is not waiting).
    pub fn notify_one(&self) {
        for lane in &self.lanes {
            lane.notify_one();
        }
    }

    /// Lane `index`'s wake-up (0: files, 1: notices).
    pub fn lane(&self, index: usize) -> &tokio::sync::Notify {
        &self.lanes[index.min(1)]
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
    /// The time now, by the state's clock.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    /// After a transaction destroyed keys: deletes their blobs, and flushes the WAL so that no
    /// copy of a destroyed wrapped key survives in the database files.
    pub async fn finish_shredding(&self, shredded: Vec<kenshin_core::ObjectId>) {
        if shredded.is_empty() {
            return;
        }
        self.vault.delete_blobs(shredded).await;
        if let Err(err) = self.db.checkpoint().await {
            tracing::debug!(error = %err, "WAL checkpoint after shredding deferred");
        }
    }

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
