//! The relay under abuse by clients without any certificate: bodies larger than a route takes,
//! floods of bodies and of idle connections, more connections than the limits allow, and the
//! data directory's file modes. The flood tests run the real `kenshin-relay serve` binary, so
//! its memory can be read from /proc apart from the test's own.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

/// Every route that takes a body, as an attacker without a certificate would try them.
const BODY_ROUTES: [&str; 22] = [
    "/auth/login",
    "/auth/logout",
    "/auth/totp/enroll",
    "/auth/totp/confirm",
    "/auth/password",
    "/login",
    "/logout",
    "/setup/totp",
    "/setup/password",
    "/people",
    "/people/someone/disable",
    "/certificates",
    "/organisation/certificate-policy",
    "/deliveries/00000000-0000-0000-0000-000000000000/confirm",
    "/maps",
    "/maps/check",
    "/api/v1/submissions",
    "/api/v1/maps",
    "/api/v1/users",
    "/api/v1/users/someone/disable",
    "/api/v1/deliveries/00000000-0000-0000-0000-000000000000/confirm",
    "/api/v1/maps/m/1/activate",
];

/// `len` zero bytes in 64 KiB chunks, made as they are sent.
fn zeros(len: u64) -> reqwest::Body {
    const CHUNK: usize = 64 * 1024;
    let chunk = bytes::Bytes::from(vec![0u8; CHUNK]);
    let chunks = len.div_ceil(CHUNK as u64);
    reqwest::Body::wrap_stream(futures::stream::iter(0..chunks).map(move |i| {
        let rest = len - i * CHUNK as u64;
        Ok::<_, std::io::Error>(chunk.slice(..rest.min(CHUNK as u64) as usize))
    }))
}

fn anonymous_client(relay_ca: &[u8], http1: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .tls_backend_preconfigured(kenshin_client::tls_config(relay_ca, None).unwrap())
        .timeout(Duration::from_secs(60));
    if http1 { builder.http1_only() } else { builder }
        .build()
        .unwrap()
}

#[tokio::test]
async fn bodies_larger_than_a_route_takes_are_refused_in_the_usual_format() {
    let mut relay = Relay::start().await;
    let http = relay.anonymous_http();
    let one_mib = 1024 * 1024u64;
    // Announced too large: 413 at once, JSON for programs, a Japanese page for people.
    for (path, json) in [
        ("/auth/login", true),
        ("/login", false),
        ("/api/v1/users", true),
    ] {
        let response = http
            .post(format!("{}{path}", relay.url()))
            .header("content-type", "application/json")
            .header("content-length", one_mib.to_string())
            .body(vec![b' '; one_mib as usize])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
        let text = response.text().await.unwrap();
        if json {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(body["error"]["code"], "payload_too_large", "{path}");
            assert!(body["error"]["message"].as_str().unwrap().contains("16384"));
        } else {
            assert!(text.contains("大きすぎる"), "{path}: {text}");
        }
    }
    // Without a length (chunked): read only up to the limit, then 413 in the same format.
    let response = http
        .post(format!("{}/auth/login", relay.url()))
        .header("content-type", "application/json")
        .body(zeros(one_mib))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "payload_too_large");
    // A map upload may be larger than a login (up to its documented size).
    let sender = relay.client(INSTITUTION);
    let map = sender.upload_map(vec![b'#'; 100 * 1024], false).await;
    assert!(
        !matches!(&map, Err(kenshin_client::ClientError::Api { status, .. }) if *status == 413),
        "{map:?}"
    );
    // A login of ordinary size still works as before (wrong password: 401, not 413).
    let response = http
        .post(format!("{}/auth/login", relay.url()))
        .json(&serde_json::json!({"login": "nobody", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    relay.stop().await;
}

/// The relay binary serving a prepared data directory, on a free port.
struct Served {
    child: Reaped,
    addr: SocketAddr,
    data: kenshin_server::DataDir,
    _dir: tempfile::TempDir,
    ca: Vec<u8>,
}

impl Served {
    async fn start(config: kenshin_server::Config) -> Served {
        let port = free_port();
        let config = kenshin_server::Config {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            ..config
        };
        let (dir, data) = prepared_data_dir(&config).await;
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .args(["serve", "--data-dir"])
            .arg(data.root())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let served = Served {
            child: Reaped(child),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            ca: std::fs::read(data.ca_cert_path()).unwrap(),
            data,
            _dir: dir,
        };
        let http = anonymous_client(&served.ca, true);
        for _ in 0..200 {
            if http.get(served.url("/health")).send().await.is_ok() {
                return served;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the relay did not start");
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn client(&self, org: &str) -> kenshin_client::RelayClient {
        client_for(self.data.root(), &self.url(""), org)
    }

    async fn metrics(&self) -> String {
        anonymous_client(&self.ca, false)
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// (VmRSS, VmHWM) of the server process, in KiB.
    fn memory(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_huge_bodies_before_authentication_leaves_memory_flat() {
    let served = Served::start(test_config_on(String::new())).await;
    // Warm up: every route answered once, so allocations that stay are made before the
    // baseline is read.
    for http1 in [true, false] {
        let http = anonymous_client(&served.ca, http1);
        for path in BODY_ROUTES {
            let _ = http.post(served.url(path)).body("{}").send().await;
        }
    }
    let (baseline, _) = served.memory();
    let body_len = 256 * 1024 * 1024u64;
    let started = Instant::now();
    let mut answered = 0usize;
    for path in BODY_ROUTES {
        // 20 in parallel, each on its own connection: HTTP/1.1 and HTTP/2, announced length
        // and chunked.
        let requests = (0..20).map(|i| {
            let http = anonymous_client(&served.ca, i % 2 == 0);
            let mut request = http.post(served.url(path));
            if i % 4 < 2 {
                request = request.header("content-length", body_len.to_string());
            }
            let request = request.body(zeros(body_len));
            async move { request.send().await.map(|r| r.status()) }
        });
        for (i, result) in futures::future::join_all(requests)
            .await
            .into_iter()
            .enumerate()
        {
            // The server may close before the client has sent its body: then the client sees
            // a broken connection instead of the status. Either way nothing was buffered.
            if let Ok(status) = result {
                if path == "/api/v1/submissions" {
                    // The upload's limit is max_upload_bytes (4 GiB): refused for want of a
                    // certificate, before a byte of the body is read.
                    assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
                } else if i % 4 < 2 {
                    assert_eq!(
                        status,
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "{path}: an announced 256 MiB body"
                    );
                } else {
                    // A chunked body is read up to the route's limit at most (413), or not at
                    // all by a handler that needs none (e.g. 401, or /logout's redirect).
                    assert!(!status.is_server_error(), "{path}: {status}");
                }
                answered += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let (after, peak) = served.memory();
    eprintln!(
        "body flood: {} routes × 20 × 256 MiB in {elapsed:.1?}, {answered} answered; server RSS {baseline} KiB before, {after} KiB after, peak {peak} KiB",
        BODY_ROUTES.len()
    );
    // 440 requests of 256 MiB each (112 GiB offered) in far less time than reading them would
    // take, and memory within a few MiB of where it was.
    assert!(answered >= BODY_ROUTES.len() * 10, "{answered} answered");
    assert!(
        peak <= baseline + 16 * 1024,
        "peak RSS {peak} KiB vs {baseline} KiB before the flood"
    );
    // Still serving.
    let health = anonymous_client(&served.ca, false)
        .get(served.url("/health"))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success() || health.status() == StatusCode::SERVICE_UNAVAILABLE);
}

/// A TLS connection from `source` without a client certificate, speaking HTTP/2, that made
/// one request and then sits idle. Resolves when the server closes it.
async fn idle_h2_connection(
    server: SocketAddr,
    source: IpAddr,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let tcp = socket.connect(server).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await?;
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .map_err(std::io::Error::other)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    // A cheap page (no database): the connection is proven to speak HTTP/2 to the relay.
    let request = http::Request::get(format!(
        "https://localhost:{}/static/app.css",
        server.port()
    ))
    .body(http_body_util::Empty::<bytes::Bytes>::new())
    .unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(std::io::Error::other)?;
    assert_eq!(response.status(), http::StatusCode::OK);
    // The sender is kept: a client connection whose senders are all gone closes itself, and
    // here only the server may close it. Aborting this task drops it (the client leaves).
    Ok(tokio::spawn(async move {
        let _sender = sender;
        let _ = driver.await;
    }))
}

fn h2_client_config(ca_pem: &[u8]) -> Arc<rustls::ClientConfig> {
    let mut config = kenshin_client::tls_config(ca_pem, None).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// The value of a metric line that starts with `prefix`.
fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_http2_connections_neither_block_others_nor_stay() {
    const CONNECTIONS: usize = 2000;
    const SOURCES: usize = 40;
    let idle = 40;
    let served = Served::start(kenshin_server::Config {
        idle_timeout_seconds: idle,
        max_connections: 2100,
        max_connections_per_source: 60,
        ..test_config_on(String::new())
    })
    .await;
    let (rss_before, _) = served.memory();
    let http = anonymous_client(&served.ca, false);
    let health = |http: reqwest::Client| {
        let url = served.url("/health");
        async move {
            let mut latencies = Vec::new();
            for _ in 0..5 {
                let started = Instant::now();
                let response = http.get(&url).send().await.unwrap();
                assert!(response.status().is_success());
                response.bytes().await.unwrap();
                latencies.push(started.elapsed());
            }
            latencies.sort();
            latencies
        }
    };
    let quiet = health(http.clone()).await;
    let tls = h2_client_config(&served.ca);
    let started = Instant::now();
    // From 40 addresses of 127.0.0.0/8, 50 each (under the per-source limit).
    let opened = futures::stream::iter(0..CONNECTIONS)
        .map(|i| {
            let source = IpAddr::from([127, 0, 1, (i % SOURCES) as u8 + 2]);
            idle_h2_connection(served.addr, source, tls.clone())
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await;
    let opened: Vec<_> = opened.into_iter().map(|c| c.unwrap()).collect();
    let open_time = started.elapsed();
    let (rss_held, _) = served.memory();
    // While they are held: /health answers on a new connection, and an upload with a
    // certificate goes through.
    let flooded = health(anonymous_client(&served.ca, false)).await;
    let export = sample_export(50, "x");
    let receipt = served
        .client(INSTITUTION)
        .send_stream(INSURER, "during-flood.csv", None, stream_of(export.clone()))
        .await
        .unwrap();
    assert_eq!(receipt.size, export.len() as u64);
    let held = metric(&served.metrics().await, "kenshin_relay_connections_open ");
    eprintln!(
        "{CONNECTIONS} idle HTTP/2 connections opened in {open_time:.1?}; {held} open; /health median {:.1?} (max {:.1?}), without them {:.1?} (max {:.1?}); server RSS {rss_before} KiB before, {rss_held} KiB holding them ({} KiB each)",
        flooded[2],
        flooded[4],
        quiet[2],
        quiet[4],
        (rss_held.saturating_sub(rss_before)) / CONNECTIONS as u64
    );
    assert!(held >= CONNECTIONS as f64, "{held} open");
    // Idle ones are closed by the server: every connection ends within the idle timeout
    // (plus slack), without the client doing anything.
    let deadline = Duration::from_secs(u64::from(idle) * 2 + 10);
    let closed = tokio::time::timeout(deadline, futures::future::join_all(opened)).await;
    assert!(
        closed.is_ok(),
        "idle connections were not closed within {deadline:?}"
    );
    let metrics = served.metrics().await;
    assert!(
        metric(&metrics, "kenshin_relay_connections_idle_closed_total") >= CONNECTIONS as f64,
        "{metrics}"
    );
}

#[tokio::test]
async fn connections_over_the_limits_are_closed_before_the_handshake() {
    let mut relay = Relay::start_with(kenshin_server::Config {
        max_connections: 12,
        max_connections_per_source: 4,
        ..test_config()
    })
    .await;
    let tls = h2_client_config(&relay.ca_pem());
    let from = |last: u8| IpAddr::from([127, 0, 2, last]);
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            idle_h2_connection(relay.addr, from(1), tls.clone())
                .await
                .unwrap(),
        );
    }
    // A fifth from the same source: the TCP connection is closed before TLS.
    let refused = idle_h2_connection(relay.addr, from(1), tls.clone()).await;
    assert!(refused.is_err(), "the fifth connection from one source");
    // Other sources are served, up to the total.
    for last in 2..4 {
        for _ in 0..4 {
            held.push(
                idle_h2_connection(relay.addr, from(last), tls.clone())
                    .await
                    .unwrap(),
            );
        }
    }
    assert_eq!(held.len(), 12);
    assert!(idle_h2_connection(relay.addr, from(9), tls.clone())
        .await
        .is_err());
    // Once some go, others come in; the refusals were counted.
    for connection in held.drain(..6) {
        connection.abort();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let metrics = relay.metrics_text().await;
    assert!(
        metric(
            &metrics,
            "kenshin_relay_connections_refused_total{reason=\"source\"}"
        ) >= 1.0,
        "{metrics}"
    );
    assert!(
        metric(
            &metrics,
            "kenshin_relay_connections_refused_total{reason=\"total\"}"
        ) >= 1.0,
        "{metrics}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn every_file_of_the_data_directory_is_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let mut relay = Relay::start().await;
    // Something written, so the database has its WAL.
    relay
        .client(INSTITUTION)
        .send_stream(INSURER, "a.csv", None, stream_of(b"x".to_vec()))
        .await
        .unwrap();
    let mut checked = 0;
    for dir in [
        relay.data.root().to_owned(),
        relay.data.root().join("keys"),
        relay.data.pki_dir(),
    ] {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_file() {
                let mode = meta.permissions().mode() & 0o777;
                assert_eq!(mode & 0o077, 0, "{} is {mode:o}", entry.path().display());
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "{checked} files");
    relay.stop().await;
    // A file opened up afterwards stops the next start, with the fix.
    let config = relay.data.config_path();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = kenshin_server::RunningServer::start(
        &relay.data,
        kenshin_server::Config::load(&relay.data).unwrap(),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("chmod -R go="), "{err}");
}
