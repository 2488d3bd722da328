//! A real relay for integration tests: a fresh data directory initialised by the same code as
//! `kenshin-relay init`, organisations and client certificates issued by the built-in CA, and
//! the server listening on a loopback port over TLS 1.3.

#![allow(dead_code)]

pub mod conversion;
pub mod people;
pub mod postgres;
pub mod s3;

use std::path::{Path, PathBuf};

use kenshin_client::{ClientIdentity, RelayClient};
use kenshin_core::{OrgCode, OrgKind, RouteMode};
use kenshin_server::{Config, DataDir, RunningServer};
use kenshin_store::Database;
use time::OffsetDateTime;

pub const INSTITUTION: &str = "inst-sakura";
pub const INSURER: &str = "ins-midori";
pub const CLINIC: &str = "clinic-himawari";
/// An organisation with a route of its own but no part in the others' files.
pub const OTHER: &str = "ins-other";

pub struct Relay {
    pub dir: tempfile::TempDir,
    pub data: DataDir,
    pub server: Option<RunningServer>,
    pub addr: std::net::SocketAddr,
    /// The relay's clock when it was started with one that tests move ([`Relay::advance`]).
    pub clock: Option<std::sync::Arc<kenshin_server::clock::ManualClock>>,
}

/// The configuration of a test relay. With `KENSHIN_TEST_DATABASE_URL` set (a PostgreSQL
/// server, e.g. `postgres://postgres@127.0.0.1:5432/postgres`) every relay gets a database of
/// its own there, so the same tests run on both backends.
pub fn test_config() -> Config {
    test_config_on(postgres::fresh_database_url().unwrap_or_default())
}

/// [`test_config`] on the database `database_url` names (empty: SQLite in the directory).
pub fn test_config_on(database_url: String) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        crl_reload_seconds: 1,
        shutdown_grace_seconds: 5,
        database_url,
        // The suites exercise people's password and second-factor paths and the
        // organisations' own certificate policy; the relay-wide default (on) has tests of its
        // own (tests/suite/people.rs, tests/cli_demo.rs).
        people_require_certificate: false,
        ..Config::default()
    }
}

/// True when this run puts test relays on PostgreSQL; the test prints `why` it skips.
pub fn skip_on_postgres(why: &str) -> bool {
    if postgres::admin_url().is_some() {
        eprintln!("skipped on PostgreSQL: {why}");
        return true;
    }
    false
}

/// A pool on the data directory's database as its owner (no row-level security, all rights):
/// for tests that reach past the application, e.g. to age a session. `$1`-style parameters
/// work on both backends.
pub async fn owner_pool(data: &DataDir) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let config = Config::load(data).unwrap();
    let url = if config.database_url.is_empty() {
        format!("sqlite://{}", data.database_path().display())
    } else {
        config.database_url
    };
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap()
}

/// Removes one of the database's own guards — what someone with the database's owner rights
/// could do — so a test can show that the ledger still notices what happens next.
pub async fn disable_trigger(pool: &sqlx::AnyPool, table: &str, trigger: &str) {
    let statement = if pool.connect_options().database_url.scheme() == "sqlite" {
        format!("DROP TRIGGER {trigger}")
    } else {
        format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}")
    };
    sqlx::query(&statement).execute(pool).await.unwrap();
}

/// A loopback port free at the moment of asking, for a process the test starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process (a relay, a worker, the demo) killed with SIGKILL and reaped if the test
/// ends without stopping it: a failed assertion must not leave a server running, holding
/// ports, databases and the test run's output open.
pub struct Reaped(pub std::process::Child);

impl std::ops::Deref for Reaped {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Opens the metadata database a data directory's configuration names.
pub async fn open_db(data: &DataDir) -> Database {
    kenshin_server::open_database(data, &Config::load(data).unwrap())
        .await
        .unwrap()
}

impl Relay {
    pub async fn start() -> Relay {
        Self::start_with(test_config()).await
    }

    pub async fn start_with(config: Config) -> Relay {
        Self::start_as(config, kenshin_server::ServerRole::All).await
    }

    /// A relay in one role (e.g. an API node whose conversions are left to workers).
    pub async fn start_as(config: Config, role: kenshin_server::ServerRole) -> Relay {
        let (dir, data) = prepared_data_dir(&config).await;
        let server = RunningServer::start_as(&data, config, role).await.unwrap();
        let addr = server.addr;
        Relay {
            dir,
            data,
            server: Some(server),
            addr,
            clock: None,
        }
    }

    /// A relay whose rules about time read a clock the test moves ([`Relay::advance`]): it
    /// stands at the moment of the start until moved.
    pub async fn start_with_manual_clock(config: Config) -> Relay {
        let (dir, data) = prepared_data_dir(&config).await;
        let clock = std::sync::Arc::new(kenshin_server::clock::ManualClock::new(
            OffsetDateTime::now_utc(),
        ));
        let server = RunningServer::start_with_clock(
            &data,
            config,
            kenshin_server::ServerRole::All,
            clock.clone(),
        )
        .await
        .unwrap();
        let addr = server.addr;
        Relay {
            dir,
            data,
            server: Some(server),
            addr,
            clock: Some(clock),
        }
    }

    /// Moves the relay's clock forward (a relay started with
    /// [`start_with_manual_clock`](Relay::start_with_manual_clock)).
    pub fn advance(&self, by: time::Duration) {
        self.clock
            .as_ref()
            .expect("a relay started with a manual clock")
            .advance(by)
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.data.ca_cert_path()).unwrap()
    }

    pub fn cert_dir(&self, org: &str) -> PathBuf {
        self.data.root().join("certs").join(org)
    }

    pub fn identity(&self, org: &str) -> ClientIdentity {
        let dir = self.cert_dir(org);
        ClientIdentity::from_files(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap()
    }

    pub fn client(&self, org: &str) -> RelayClient {
        RelayClient::new(&self.url(), &self.ca_pem(), Some(&self.identity(org))).unwrap()
    }

    /// An HTTPS client that trusts the relay's CA and presents no certificate.
    pub fn anonymous_http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .tls_backend_preconfigured(kenshin_client::tls_config(&self.ca_pem(), None).unwrap())
            .build()
            .unwrap()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics_text(&self) -> String {
        self.anonymous_http()
            .get(format!("{}/metrics", self.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn anonymous(&self) -> RelayClient {
        RelayClient::new(&self.url(), &self.ca_pem(), None).unwrap()
    }

    pub fn state(&self) -> &kenshin_server::AppState {
        &self.server.as_ref().unwrap().state
    }

    pub async fn db(&self) -> Database {
        open_db(&self.data).await
    }

    pub fn blob_root(&self) -> PathBuf {
        self.data.blobs_path()
    }

    /// Every committed blob file.
    pub fn blob_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        walk(&self.blob_root().join("objects"), &mut files);
        files
    }

    pub fn partial_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        walk(&self.blob_root().join("tmp"), &mut files);
        files
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.unwrap();
        }
    }
}

/// A data directory initialised like `kenshin-relay init` and populated, not yet served.
pub async fn prepared_data_dir(config: &Config) -> (tempfile::TempDir, DataDir) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    kenshin_relay::init::initialise(&root, config.clone())
        .await
        .unwrap();
    let data = DataDir::new(&root);
    populate(&data).await;
    (dir, data)
}

pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Organisations, routes and one certificate per organisation (under DATA/certs/<org>/).
pub async fn populate(data: &DataDir) {
    let db = open_db(data).await;
    let ca = kenshin_relay::init::load_ca(data).unwrap();
    let orgs: [(&str, OrgKind, &str, &[&str]); 4] = [
        (INSTITUTION, OrgKind::Institution, "さくら健診センター", &[]),
        (
            INSURER,
            OrgKind::Insurer,
            "みどり健康保険組合",
            &["06999901"],
        ),
        (CLINIC, OrgKind::Clinic, "ひまわりクリニック", &[]),
        (
            OTHER,
            OrgKind::Insurer,
            "あおぞら健康保険組合",
            &["06999902"],
        ),
    ];
    for (code, kind, name, numbers) in orgs {
        let code: OrgCode = code.parse().unwrap();
        kenshin_relay::admin::create_org(
            &db,
            code.clone(),
            kind,
            name,
            numbers.iter().map(|n| n.parse().unwrap()).collect(),
        )
        .await
        .unwrap();
        let dir = data.root().join("certs").join(code.as_str());
        kenshin_relay::admin::issue_cert(&db, &ca, &code, "テスト端末", &dir, 30, None)
            .await
            .unwrap();
    }
    for (from, to) in [
        (INSTITUTION, INSURER),
        (INSTITUTION, CLINIC),
        (CLINIC, OTHER),
    ] {
        db.create_route(
            &from.parse().unwrap(),
            &to.parse().unwrap(),
            RouteMode::PassThrough,
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    }
    db.close().await;
}

/// Synthetic checkup export with a marker that must never appear on disk in plaintext.
pub fn sample_export(rows: usize, marker: &str) -> Vec<u8> {
    let mut csv = String::from("受診券整理番号,カナ氏名,生年月日,性別,身長,体重,メモ\r\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "{:011},テスト タロウ{i},1970-01-{:02},1,{:.1},{:.1},{marker}\r\n",
            90_000_000_000u64 + i as u64,
            i % 28 + 1,
            150.0 + (i % 40) as f64,
            50.0 + (i % 30) as f64,
        ));
    }
    csv.into_bytes()
}

pub fn stream_of(
    bytes: Vec<u8>,
) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = bytes
        .chunks(100_000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(chunks)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes))
}

/// The kinds of the events recorded about a submission, in order.
pub async fn event_kinds(
    db: &Database,
    submission: kenshin_core::SubmissionId,
) -> Vec<kenshin_core::EventKind> {
    db.events_for_submission(submission)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect()
}

/// A client for `org`, with the certificate `populate` issued under `root/certs/<org>/`.
pub fn client_for(root: &Path, url: &str, org: &str) -> RelayClient {
    let certs = root.join("certs").join(org);
    let identity =
        ClientIdentity::from_files(&certs.join("cert.pem"), &certs.join("key.pem")).unwrap();
    let ca = std::fs::read(root.join("pki").join("ca.pem")).unwrap();
    RelayClient::new(url, &ca, Some(&identity)).unwrap()
}

/// Issues a device certificate with `roles` for `org` into `DATA/certs/<dir_name>/` and
/// returns a client presenting it.
pub async fn device_client(relay: &Relay, org: &str, dir_name: &str, roles: &str) -> RelayClient {
    let db = relay.db().await;
    let ca = kenshin_relay::init::load_ca(&relay.data).unwrap();
    let dir = relay.data.root().join("certs").join(dir_name);
    kenshin_relay::admin::issue_cert_for(
        &db,
        &ca,
        &org.parse().unwrap(),
        dir_name,
        kenshin_relay::admin::CertHolder::Device { roles: Some(roles) },
        &dir,
        30,
        None,
    )
    .await
    .unwrap();
    db.close().await;
    client_for(relay.data.root(), &relay.url(), dir_name)
}

/// Issues `user` (of `org`) a personal client certificate, as an admin does on /certificates,
/// into `DATA/certs/<login>/`; returns that directory (cert.pem, key.pem, client.p12).
pub async fn issue_person_cert(
    relay: &Relay,
    db: &Database,
    org: &OrgCode,
    user: &kenshin_store::UserRecord,
    device: &str,
) -> PathBuf {
    let dir = relay.data.root().join("certs").join(&user.login);
    kenshin_relay::admin::issue_cert_for(
        db,
        &kenshin_relay::init::load_ca(&relay.data).unwrap(),
        org,
        device,
        kenshin_relay::admin::CertHolder::Person(user),
        &dir,
        30,
        None,
    )
    .await
    .unwrap();
    dir
}

/// The identity of the certificate files in `dir`.
pub fn identity_in(dir: &Path) -> ClientIdentity {
    ClientIdentity::from_files(&dir.join("cert.pem"), &dir.join("key.pem")).unwrap()
}
