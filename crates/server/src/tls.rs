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

use crate::config::DataDir;

const H2_STREAM_WINDOW: u32 = 8 * 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;
const H2_MAX_FRAME: u32 = 1024 * 1024;
/// Requests in progress at once on one HTTP/2 connection.
const H2_MAX_STREAMS: u32 = 100;

/// What the connection knows about its peer, attached to every request on it.
#[derive(Clone, Debug)]
pub struct PeerInfo {
    pub addr: SocketAddr,
    /// The verified end-entity certificate, if the client presented one.
    pub certificate: Option<CertificateDer<'static>>,
}

/// The cipher suites named by `tls_cipher_suites`, in that order. Names as rustls spells them
/// (`TLS13_AES_256_GCM_SHA384`) or as the IANA registry does (`TLS_AES_256_GCM_SHA384`).
pub fn cipher_suites(names: &[String]) -> anyhow::Result<Vec<rustls::SupportedCipherSuite>> {
    use rustls::crypto::aws_lc_rs::cipher_suite;
    Ok(crate::config::tls13_suites(names)?
        .into_iter()
        .map(|name| match name {
            "TLS13_AES_256_GCM_SHA384" => cipher_suite::TLS13_AES_256_GCM_SHA384,
            "TLS13_AES_128_GCM_SHA256" => cipher_suite::TLS13_AES_128_GCM_SHA256,
            _ => cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        })
        .collect())
}

/// Builds the server's TLS configuration from the data directory's PKI files: TLS 1.3 only,
/// the given suites in the server's order.
pub fn server_config(
    data_dir: &DataDir,
    suites: &[rustls::SupportedCipherSuite],
) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: suites.to_vec(),
        ..rustls::crypto::aws_lc_rs::default_provider()
    });
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
    // The server's order decides (CRYPTREC: AES-256-GCM first), not the client's.
    config.ignore_client_order = true;
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
    suites: Arc<Vec<rustls::SupportedCipherSuite>>,
}

impl TlsState {
    /// The configuration of `data_dir` with the suites `tls_cipher_suites` names.
    pub fn load(data_dir: &DataDir, config: &crate::config::Config) -> anyhow::Result<TlsState> {
        let suites = cipher_suites(&config.tls_cipher_suites)?;
        let current = server_config(data_dir, &suites)?;
        Ok(TlsState {
            current: Arc::new(RwLock::new(Arc::new(current))),
            suites: Arc::new(suites),
        })
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
                match server_config(&data_dir, &state.suites) {
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

/// How connections are limited; from the configuration ([`ConnectionLimits::of`]).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Connections held at once, all sources together.
    pub max_connections: usize,
    /// Connections held at once from one source (an IPv4 address, an IPv6 /64).
    pub max_per_source: usize,
    /// Time to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// A connection without a request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// HTTP/2 keep-alive ping interval (and the time an answer may take).
    pub keepalive: Duration,
}

impl ConnectionLimits {
    /// The limits a configuration sets.
    pub fn of(config: &crate::config::Config) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: config.max_connections as usize,
            max_per_source: config.max_connections_per_source as usize,
            handshake_timeout: Duration::from_secs(u64::from(config.handshake_timeout_seconds)),
            idle_timeout: Duration::from_secs(u64::from(config.idle_timeout_seconds)),
            keepalive: Duration::from_secs(u64::from(config.http2_keepalive_seconds)),
        }
    }
}

/// Why a connection was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` are open.
    Total,
    /// `max_connections_per_source` are open from this source.
    Source,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::Source => "source",
        }
    }
}

/// What a connection counts against: an IPv4 address, or an IPv6 address's /64 (one host
/// commonly holds a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
fn source_key(addr: std::net::IpAddr) -> std::net::IpAddr {
    kenshin_auth::sources_of(addr, &kenshin_auth::SourcePolicy::default())[0].address()
}

/// Open connections, overall and per source; a [`Ticket`] is one of them.
#[derive(Default)]
pub struct Gate {
    inner: std::sync::Mutex<GateInner>,
    /// Wakes the shutdown when the last connection ends.
    emptied: tokio::sync::Notify,
}

#[derive(Default)]
struct GateInner {
    total: usize,
    per_source: std::collections::HashMap<std::net::IpAddr, usize>,
    /// When a refusal was last logged, per source: one line per source and minute.
    logged: std::collections::HashMap<std::net::IpAddr, std::time::Instant>,
}

/// How often a refused source is logged at most.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

impl Gate {
    /// Takes a place for a connection from `addr`, or says why there is none. The second
    /// value is true when the refusal should be logged (the first for this source in
    /// [`REFUSAL_LOG_INTERVAL`]).
    fn admit(
        self: &Arc<Self>,
        limits: &ConnectionLimits,
        addr: std::net::IpAddr,
    ) -> Result<Ticket, (Refusal, bool)> {
        let key = source_key(addr);
        let mut inner = self.inner.lock().expect("gate lock");
        let refusal = if inner.total >= limits.max_connections {
            Some(Refusal::Total)
        } else if inner.per_source.get(&key).copied().unwrap_or(0) >= limits.max_per_source {
            Some(Refusal::Source)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            let now = std::time::Instant::now();
            let log = match inner.logged.get(&key) {
                Some(last) if now.duration_since(*last) < REFUSAL_LOG_INTERVAL => false,
                _ => {
                    if inner.logged.len() >= 10_000 {
                        inner
                            .logged
                            .retain(|_, last| now.duration_since(*last) < REFUSAL_LOG_INTERVAL);
                    }
                    inner.logged.insert(key, now);
                    true
                }
            };
            return Err((refusal, log));
        }
        inner.total += 1;
        *inner.per_source.entry(key).or_insert(0) += 1;
        Ok(Ticket {
            gate: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.inner.lock().expect("gate lock").total
    }

    async fn wait_empty(&self) {
        loop {
            let emptied = self.emptied.notified();
            if self.open() == 0 {
                return;
            }
            emptied.await;
        }
    }
}

/// One open connection's place; given back when dropped.
struct Ticket {
    gate: Arc<Gate>,
    key: std::net::IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.gate.inner.lock().expect("gate lock");
        inner.total -= 1;
        if let std::collections::hash_map::Entry::Occupied(mut entry) =
            inner.per_source.entry(self.key)
        {
            *entry.get_mut() -= 1;
            if *entry.get() == 0 {
                entry.remove();
            }
        }
        if inner.total == 0 {
            self.gate.emptied.notify_waiters();
        }
    }
}

/// Requests in progress on one connection, and when the last one ended: what tells an idle
/// connection. A request is in progress from its head until its response body is done (a
/// download streaming for an hour is not idle).
struct Activity {
    in_flight: std::sync::atomic::AtomicUsize,
    last: std::sync::Mutex<tokio::time::Instant>,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            last: std::sync::Mutex::new(tokio::time::Instant::now()),
        })
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection becomes idle-closable, if no request is in progress.
    fn idle_deadline(&self, idle: Duration) -> Option<tokio::time::Instant> {
        if self.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            return None;
        }
        Some(*self.last.lock().expect("activity lock") + idle)
    }
}

/// A request in progress; ends when dropped (with its response body).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last.lock().expect("activity lock") = tokio::time::Instant::now();
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in progress until it is finished or
/// dropped.
struct TrackedBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Accepts connections until `shutdown` resolves, then gives in-flight requests `grace` to
/// finish.
///
/// Every connection takes a place at the [`Gate`] *before* its TLS handshake: past
/// `max_connections`, or `max_connections_per_source` from one source, the TCP connection is
/// closed at once (counted in `/metrics`, logged once a minute per source), so a flood of
/// idle connections costs one file descriptor each for a moment and cannot starve the
/// others. The handshake has `handshake_timeout`; a connection with no request in progress
/// for `idle_timeout` is closed gracefully (HTTP/2: GOAWAY), and HTTP/2 peers that stop
/// answering keep-alive pings are dropped.
pub async fn serve(
    listener: TcpListener,
    tls: TlsState,
    app: Router,
    limits: ConnectionLimits,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
) -> anyhow::Result<()> {
    let gate = Arc::new(Gate::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(err) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    metrics.connection_refused("accept_failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let ticket = match gate.admit(&limits, addr.ip()) {
            Ok(ticket) => ticket,
            Err((refusal, log)) => {
                metrics.connection_refused(refusal.as_str());
                if log {
                    tracing::warn!(
                        source = %source_key(addr.ip()),
                        limit = refusal.as_str(),
                        open = gate.open(),
                        "connection refused: too many connections (logged once a minute per source)"
                    );
                }
                // Closed before the handshake: nothing is read or allocated for it.
                drop(tcp);
                continue;
            }
        };
        metrics.connections_open.set(gate.open() as i64);
        let _ = tcp.set_nodelay(true);
        let acceptor = tls.acceptor();
        let app = app.clone();
        let metrics = metrics.clone();
        let gate_for_task = gate.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _ticket = ticket;
            serve_connection(tcp, addr, acceptor, app, limits, &metrics, &mut stop).await;
            drop(_ticket);
            metrics.connections_open.set(gate_for_task.open() as i64);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    tokio::select! {
        _ = gate.wait_empty() => tracing::info!("all connections closed"),
        _ = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
    Ok(())
}

/// One connection: the handshake, then HTTP/1.1 or HTTP/2 until the peer leaves, the
/// connection idles out, or the server stops.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    addr: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
    limits: ConnectionLimits,
    metrics: &crate::metrics::Metrics,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) {
    let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(err)) => {
            tracing::info!(peer = %addr, error = %err, "TLS handshake refused");
            metrics.handshake_failed("refused");
            return;
        }
        Err(_) => {
            tracing::info!(peer = %addr, "TLS handshake timed out");
            metrics.handshake_failed("timeout");
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
    let activity = Activity::new();
    let tracker = activity.clone();
    let service = tower::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(peer.clone());
        let in_flight = tracker.begin();
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(axum::body::Body::new)).await?;
            Ok::<_, std::convert::Infallible>(response.map(|inner| {
                axum::body::Body::new(TrackedBody {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A client that never finishes its request headers (slowloris) is cut off.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    // Large flow-control windows and frames: files are big, and HTTP/2's defaults
    // (64 KiB windows, 16 KiB frames) would throttle one upload to a crawl. Keep-alive pings
    // find peers that vanished without closing.
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .initial_stream_window_size(H2_STREAM_WINDOW)
        .initial_connection_window_size(H2_CONNECTION_WINDOW)
        .max_frame_size(H2_MAX_FRAME)
        .max_concurrent_streams(H2_MAX_STREAMS)
        .keep_alive_interval(Some(limits.keepalive))
        .keep_alive_timeout(limits.keepalive);
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(connection);
    // Set once the connection is asked to close; it then has `limits.idle_timeout` (or the
    // server's grace, cut by the caller) to finish what it is doing.
    let mut closing: Option<tokio::time::Instant> = None;
    loop {
        let wake = match closing {
            Some(deadline) => deadline,
            None => activity
                .idle_deadline(limits.idle_timeout)
                .unwrap_or_else(|| tokio::time::Instant::now() + limits.idle_timeout),
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(peer = %addr, error = %err, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if closing.is_none() => {
                if changed.is_err() || *stop.borrow() {
                    connection.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + limits.idle_timeout);
                }
            }
            _ = tokio::time::sleep_until(wake) => {
                if closing.is_some() {
                    // Asked to close and still open: the peer ignored it.
                    return;
                }
                if activity
                    .idle_deadline(limits.idle_timeout)
                    .is_some_and(|deadline| deadline <= tokio::time::Instant::now())
                {
                    metrics.connections_idle_closed.inc();
                    connection.as_mut().graceful_shutdown();
                    closing = Some(tokio::time::Instant::now() + limits.idle_timeout);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_source: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: total,
            max_per_source: per_source,
            handshake_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            keepalive: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_gate_counts_per_source_and_overall_and_logs_a_source_once() {
        let gate = Arc::new(Gate::default());
        let limits = limits(4, 2);
        let a: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let b: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(&limits, a).ok().unwrap();
        let _second = gate.admit(&limits, a).ok().unwrap();
        // The third from A is refused and logged; the fourth is refused silently.
        assert_eq!(gate.admit(&limits, a).err(), Some((Refusal::Source, true)));
        assert_eq!(gate.admit(&limits, a).err(), Some((Refusal::Source, false)));
        let _third = gate.admit(&limits, b).ok().unwrap();
        let _fourth = gate.admit(&limits, b).ok().unwrap();
        assert_eq!(gate.open(), 4);
        // Full overall: another source is refused too (and logged, being another source).
        let c: std::net::IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(gate.admit(&limits, c).err(), Some((Refusal::Total, true)));
        // A place given back is taken again.
        drop(first);
        assert_eq!(gate.open(), 3);
        assert!(gate.admit(&limits, a).is_ok());
    }

    #[test]
    fn an_ipv6_host_counts_as_its_64_and_a_mapped_address_as_ipv4() {
        let gate = Arc::new(Gate::default());
        let limits = limits(10, 1);
        let _one = gate
            .admit(&limits, "2001:db8:1:2::1".parse().unwrap())
            .ok()
            .unwrap();
        assert!(gate
            .admit(&limits, "2001:db8:1:2:ffff::9".parse().unwrap())
            .is_err());
        assert!(gate
            .admit(&limits, "2001:db8:1:3::1".parse().unwrap())
            .is_ok());
        let _v4 = gate
            .admit(&limits, "192.0.2.7".parse().unwrap())
            .ok()
            .unwrap();
        assert!(gate
            .admit(&limits, "::ffff:192.0.2.7".parse().unwrap())
            .is_err());
    }

    #[test]
    fn suites_are_named_either_way_and_unknown_ones_refused() {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let suites = cipher_suites(&names(&[
            "TLS_AES_256_GCM_SHA384",
            "TLS13_AES_128_GCM_SHA256",
        ]))
        .unwrap();
        assert_eq!(
            suites.iter().map(|s| s.suite()).collect::<Vec<_>>(),
            [
                rustls::CipherSuite::TLS13_AES_256_GCM_SHA384,
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
            ]
        );
        assert!(cipher_suites(&names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])).is_err());
        assert!(cipher_suites(&names(&[
            "TLS_AES_128_GCM_SHA256",
            "TLS13_AES_128_GCM_SHA256"
        ]))
        .is_err());
    }
}
