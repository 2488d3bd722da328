//! The composition root: a server ([`RunningServer`]) or a conversion worker process
//! ([`RunningWorker`]) wired from the state, the TLS listener, the worker and the background
//! tasks. The top of the crate: it imports the rest, and nothing imports it.

use std::sync::Arc;

use crate::config::{Config, DataDir};
use crate::state::AppState;
use crate::{access, fd, retention, tls, worker};

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
        Self::start_with_clock(data_dir, config, role, Arc::new(crate::clock::SystemClock)).await
    }

    /// [`start_as`](Self::start_as) with every rule about time reading `clock` (tests move a
    /// [`ManualClock`](crate::clock::ManualClock) instead of sleeping).
    pub async fn start_with_clock(
        data_dir: &DataDir,
        config: Config,
        role: ServerRole,
        clock: Arc<dyn crate::clock::Clock>,
    ) -> anyhow::Result<RunningServer> {
        data_dir.check_for_serving(&config)?;
        let open_files = fd::ensure_budget(&config)?;
        let lock = lock_data_dir(data_dir)?;
        let tls = tls::TlsState::load(data_dir, &config)?;
        let mut state = AppState::open(data_dir, config.clone()).await?;
        state.clock = clock;
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
            access::spawn_alerts(state.db.clone(), state.access.clone()),
        ];
        let worker = match role {
            ServerRole::All => Some(worker::spawn(state.clone(), worker::Slot::take(data_dir)?)),
            ServerRole::Api => None,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = crate::router::router(state.clone());
        let grace = std::time::Duration::from_secs(config.shutdown_grace_seconds);
        let handle = tokio::spawn(tls::serve(
            listener,
            tls,
            app,
            tls::ConnectionLimits::of(&config),
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
    DataDir::try_lock(&data_dir.root().join("serve.lock"))?.ok_or_else(|| {
        anyhow::anyhow!(
            "another kenshin-relay server is already serving {}",
            data_dir.root().display()
        )
    })
}
