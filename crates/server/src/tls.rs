//! TLS 1.3 with client certificates, and the connection loop.
//!
//! The handshake *requests* a client certificate and verifies any that is offered against the
//! built-in CA and its current CRL; a connection without one is allowed only so that `/health`
//! can answer — every `/api` request checks for the certificate itself (see
//! [`crate::api::auth`]). A revoked certificate therefore fails at the handshake once the new
//! CRL is loaded, and at its next request even before that, because each request also looks
//! the certificate up in the database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::DataDir;

const H2_STREAM_WINDOW: u32 = 8 * 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;
const H2_MAX_FRAME: u32 = 1024 * 1024;

/// What the connection knows about its peer, attached to every request on it.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The verified end-entity certificate, if the client presented one.
    pub certificate: Option<CertificateDer<'static>>,
}

/// Builds the server's TLS configuration from the data directory's PKI files.
pub fn server_config(data_dir: &DataDir) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let ca = read_certs(&data_dir.ca_cert_path())?;
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots.add(cert)?;
    }
    let crls = read_crls(&data_dir.crl_path())?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .allow_unauthenticated()
        .build()?;
    let chain = read_certs(&data_dir.server_cert_path())?;
    let key = PrivateKeyDer::from_pem_file(data_dir.server_key_path()).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the server key {}: {e}",
            data_dir.server_key_path().display()
        )
    })?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read certificates from {}: {e}", path.display()))?;
    anyhow::ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

fn read_crls(path: &Path) -> anyhow::Result<Vec<CertificateRevocationListDer<'static>>> {
    CertificateRevocationListDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("cannot read the CRL {}: {e}", path.display()))
}

/// The current TLS configuration; replaced when a new CRL is published.
#[derive(Clone)]
pub struct TlsState {
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl TlsState {
    pub fn new(config: ServerConfig) -> TlsState {
        TlsState {
            current: Arc::new(RwLock::new(Arc::new(config))),
        }
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().expect("tls lock").clone())
    }

    fn replace(&self, config: ServerConfig) {
        *self.current.write().expect("tls lock") = Arc::new(config);
    }

    /// Reloads the configuration whenever the CRL file changes (the admin CLI writes it).
    pub fn watch_crl(&self, data_dir: DataDir, every: Duration) -> tokio::task::JoinHandle<()> {
        let state = self.clone();
        tokio::spawn(async move {
            let path: PathBuf = data_dir.crl_path();
            let mut seen = modified(&path);
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let now = modified(&path);
                if now == seen {
                    continue;
                }
                match server_config(&data_dir) {
                    Ok(config) => {
                        state.replace(config);
                        seen = now;
                        tracing::info!("loaded a new certificate revocation list");
                    }
                    // A CRL being written may be read half-way; the next tick retries.
                    Err(err) => tracing::warn!(error = %err, "new CRL not loaded yet"),
                }
            }
        })
    }
}

fn modified(path: &Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| m.modified().ok().map(|t| (t, m.len())))
}

/// Accepts connections until `shutdown` resolves, then gives in-flight requests `grace` to
/// finish.
pub async fn serve(
    listener: TcpListener,
    tls: TlsState,
    app: Router,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> anyhow::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.acceptor();
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(Duration::from_secs(15), acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(err)) => {
                        tracing::info!(peer = %addr, error = %err, "TLS handshake refused");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(peer = %addr, "TLS handshake timed out");
                        return;
                    }
                };
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| cert.clone().into_owned());
            let peer = PeerInfo { addr, certificate };
            let service =
                app.map_request(move |mut request: http::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(peer.clone());
                    request
                });
            let mut builder = auto::Builder::new(TokioExecutor::new());
            // A client that never finishes its request headers (slowloris) is cut off.
            builder
                .http1()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(Duration::from_secs(30));
            // Large flow-control windows and frames: files are big, and HTTP/2's defaults
            // (64 KiB windows, 16 KiB frames) would throttle one upload to a crawl.
            builder
                .http2()
                .initial_stream_window_size(H2_STREAM_WINDOW)
                .initial_connection_window_size(H2_CONNECTION_WINDOW)
                .max_frame_size(H2_MAX_FRAME);
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(peer = %addr, error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
    Ok(())
}
