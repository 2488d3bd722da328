//! The data directory and the configuration.
//!
//! ```text
//! DATA_DIR/            0700, owned by the service account
//!   config.toml        settings (environment variables KENSHIN_RELAY_* override them)
//!   relay.db           SQLite metadata database (+ -wal, -shm)
//!   keys/kek.key       key-encryption key, 0600
//!   pki/ca.pem         the built-in CA certificate (give it to clients)
//!   pki/ca.key         the CA's private key, 0600 (used by admin commands only)
//!   pki/crl.pem        the current certificate revocation list
//!   pki/server.pem     the server certificate, and pki/server.key (0600)
//!   blobs/             encrypted blobs (unless `blob_url` names an S3 bucket)
//!   serve.lock         held (flock) by the one server serving this directory
//!   worker-slots/N.lock  held (flock) by each conversion worker: its identity across restarts
//! ```

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Names of the settings, which are also the environment overrides' names after the prefix
/// (other `KENSHIN_RELAY_*` variables belong to the CLI).
const SETTINGS: [&str; 47] = [
    "blob_url",
    "ledger_origin",
    "listen",
    "server_names",
    "max_upload_bytes",
    "retention_days",
    "retention_sweep_seconds",
    "access_log_retention_days",
    "session_idle_seconds",
    "session_absolute_seconds",
    "login_max_failures",
    "login_lock_minutes",
    "login_max_lock_minutes",
    "crl_reload_seconds",
    "shutdown_grace_seconds",
    "log_format",
    "database_url",
    "job_lease_seconds",
    "database_max_connections",
    "kek_provider",
    "pkcs11_module",
    "pkcs11_token",
    "pkcs11_key_label",
    "tls_cipher_suites",
    "max_connections",
    "max_connections_per_source",
    "handshake_timeout_seconds",
    "idle_timeout_seconds",
    "http2_keepalive_seconds",
    "login_source_max_failures",
    "login_prefix_max_failures",
    "login_source_window_minutes",
    "login_source_block_minutes",
    "people_require_certificate",
    "file_descriptor_reserve",
    "public_url",
    "smtp_host",
    "smtp_port",
    "smtp_security",
    "smtp_username",
    "smtp_password_file",
    "smtp_from",
    "smtp_ca_file",
    "mail_dir",
    "reminder_days",
    "webhook_ca_file",
    "webhook_allow_private",
];

/// The TLS 1.3 cipher suites this server can offer, as rustls names them.
pub const TLS13_SUITES: [&str; 3] = [
    "TLS13_AES_256_GCM_SHA384",
    "TLS13_AES_128_GCM_SHA256",
    "TLS13_CHACHA20_POLY1305_SHA256",
];

/// A suite's rustls name from either spelling (`TLS13_AES_256_GCM_SHA384` or the IANA
/// registry's `TLS_AES_256_GCM_SHA384`); `None` for a suite this server cannot offer.
pub fn tls13_suite_name(name: &str) -> Option<&'static str> {
    let bare = name.trim_start_matches("TLS13_").trim_start_matches("TLS_");
    TLS13_SUITES
        .iter()
        .copied()
        .find(|known| known.trim_start_matches("TLS13_") == bare)
}

/// The rustls names of the suites `names` lists, in its order: at least one, each known and
/// named once.
pub fn tls13_suites(names: &[String]) -> anyhow::Result<Vec<&'static str>> {
    anyhow::ensure!(
        !names.is_empty(),
        "tls_cipher_suites needs at least one suite"
    );
    let mut suites = Vec::new();
    for name in names {
        let known = tls13_suite_name(name).ok_or_else(|| {
            anyhow::anyhow!(
                "tls_cipher_suites: {name:?} is not a TLS 1.3 cipher suite this server offers ({})",
                TLS13_SUITES.join(", ")
            )
        })?;
        anyhow::ensure!(
            !suites.contains(&known),
            "tls_cipher_suites names {name} twice"
        );
        suites.push(known);
    }
    Ok(suites)
}

/// The TLS 1.3 cipher suites of CRYPTREC's 高セキュリティ型 setting, in the server's order.
pub const CRYPTREC_HIGH_SECURITY_SUITES: [&str; 2] =
    ["TLS13_AES_256_GCM_SHA384", "TLS13_AES_128_GCM_SHA256"];

/// `kek_provider` values.
pub const KEK_FILE: &str = "file";
pub const KEK_PKCS11: &str = "pkcs11";

/// Settings of a relay, from `config.toml` with `KENSHIN_RELAY_<NAME>` environment overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Host names and addresses the server certificate is issued for (used by `init`).
    pub server_names: Vec<String>,
    /// Largest accepted upload, in bytes.
    pub max_upload_bytes: u64,
    /// Days a delivery may stay unconfirmed before it is destroyed.
    pub retention_days: u32,
    /// Seconds between two runs of the retention task.
    pub retention_sweep_seconds: u64,
    /// Days access-log rows are kept (the guideline's 5 years by default); older rows are
    /// removed by the retention task, recorded in the ledger.
    pub access_log_retention_days: u32,
    /// A person's session ends after this many seconds without a request (default 15 min).
    pub session_idle_seconds: u32,
    /// A person's session ends this many seconds after login, however active (default 8 h).
    pub session_absolute_seconds: u32,
    /// Consecutive failed logins that lock an account (default 5).
    pub login_max_failures: u32,
    /// The first lockout, in minutes (default 15); each further one doubles.
    pub login_lock_minutes: u32,
    /// The longest lockout, in minutes (default 240).
    pub login_max_lock_minutes: u32,
    /// Seconds between two checks for a new CRL.
    pub crl_reload_seconds: u64,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_grace_seconds: u64,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// Origin line of the ledger's checkpoints (the log's name), e.g.
    /// `relay.example.jp/ledger`; empty means `<first server name>/kenshin-relay-ledger`.
    pub ledger_origin: String,
    /// Where the metadata lives: empty for the SQLite file in the data directory (one
    /// machine), or `postgres://user@host:5432/db` for a PostgreSQL server shared by several
    /// nodes. A password belongs in `PGPASSWORD` or `~/.pgpass`, not here.
    pub database_url: String,
    /// Connections each node keeps to PostgreSQL.
    pub database_max_connections: u32,
    /// Seconds a conversion worker holds a job between renewals; a worker that died is
    /// replaced after this long.
    pub job_lease_seconds: u32,
    /// Where sealed blobs are kept: empty for the data directory's `blobs/`, or
    /// `s3://BUCKET[/PREFIX]`, reached with the standard `AWS_*` environment variables.
    pub blob_url: String,
    /// Who holds the key-encryption key: `file` (`keys/kek.key`) or `pkcs11` (an HSM).
    pub kek_provider: String,
    /// For `pkcs11`: the vendor's PKCS#11 module (a shared library).
    pub pkcs11_module: String,
    /// For `pkcs11`: the label of the token holding the key.
    pub pkcs11_token: String,
    /// For `pkcs11`: the label of the AES-256 key on that token.
    pub pkcs11_key_label: String,
    /// TLS 1.3 cipher suites, in the server's order of preference (the client's order is
    /// ignored). Default: CRYPTREC 高セキュリティ型 — AES-256-GCM, then AES-128-GCM.
    pub tls_cipher_suites: Vec<String>,
    /// Connections held at once, all sources together; more are closed before the handshake.
    pub max_connections: u32,
    /// Connections held at once from one source address (IPv6: one /64).
    pub max_connections_per_source: u32,
    /// Seconds a client has to complete the TLS handshake.
    pub handshake_timeout_seconds: u32,
    /// A connection (HTTP/1.1 or HTTP/2) with no request in progress for this many seconds
    /// is closed.
    pub idle_timeout_seconds: u32,
    /// Seconds between HTTP/2 keep-alive pings; a peer that does not answer one within this
    /// time is disconnected.
    pub http2_keepalive_seconds: u32,
    /// Failed logins from one source address (IPv6: one /64) within the window before logins
    /// from it are refused for `login_source_block_minutes`, whatever the account.
    pub login_source_max_failures: u32,
    /// The same for a whole network prefix (IPv4 /24, IPv6 /48).
    pub login_prefix_max_failures: u32,
    /// The window in which a source's failed logins are counted, in minutes.
    pub login_source_window_minutes: u32,
    /// How long a source over its limit is refused, in minutes.
    pub login_source_block_minutes: u32,
    /// People must present their own client certificate (besides password and second
    /// factor) on every page and API call, in every organisation. Off: only where an
    /// organisation requires it, and always for the operator's people.
    pub people_require_certificate: bool,
    /// File descriptors kept aside for the database, blobs and logs besides the connections;
    /// start-up refuses a process limit below `max_connections` plus this.
    pub file_descriptor_reserve: u32,
    /// The address people reach the web pages at, for the links in notifications; empty:
    /// `https://` + the first of `server_names` + the port of `listen`.
    pub public_url: String,
    /// The mail server notifications are sent through; empty: no e-mail is sent.
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls` (required, the default), `tls` (implicit, port 465) or `none` (only to a
    /// mail server on this machine).
    pub smtp_security: String,
    /// Empty: no authentication.
    pub smtp_username: String,
    /// A file holding the SMTP password (never the password itself in this file).
    pub smtp_password_file: String,
    /// The sender address, e.g. `健診リレー <noreply@relay.example.jp>`.
    pub smtp_from: String,
    /// Extra trust anchors (PEM) for the mail server's certificate (a private CA).
    pub smtp_ca_file: String,
    /// Instead of a mail server: write each e-mail as an `.eml` file into this directory
    /// (relative to the data directory; a demo's mail sink, or mail another system picks up).
    pub mail_dir: String,
    /// Days before an unconfirmed delivery is destroyed on which its receiver is reminded.
    pub reminder_days: Vec<u32>,
    /// Extra trust anchors (PEM) for webhook endpoints' certificates.
    pub webhook_ca_file: String,
    /// Allow webhook endpoints on loopback and private addresses (a closed network). Off:
    /// only public addresses, checked after resolving.
    pub webhook_allow_private: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            server_names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            max_upload_bytes: 4 * 1024 * 1024 * 1024,
            retention_days: 30,
            retention_sweep_seconds: 300,
            access_log_retention_days: 1826,
            session_idle_seconds: 15 * 60,
            session_absolute_seconds: 8 * 60 * 60,
            login_max_failures: 5,
            login_lock_minutes: 15,
            login_max_lock_minutes: 240,
            crl_reload_seconds: 5,
            shutdown_grace_seconds: 30,
            log_format: "text".into(),
            ledger_origin: String::new(),
            database_url: String::new(),
            database_max_connections: 16,
            job_lease_seconds: 300,
            blob_url: String::new(),
            kek_provider: KEK_FILE.into(),
            pkcs11_module: String::new(),
            pkcs11_token: String::new(),
            pkcs11_key_label: "kenshin-relay-kek".into(),
            tls_cipher_suites: CRYPTREC_HIGH_SECURITY_SUITES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            max_connections: 2048,
            max_connections_per_source: 256,
            handshake_timeout_seconds: 10,
            idle_timeout_seconds: 30,
            http2_keepalive_seconds: 30,
            login_source_max_failures: 10,
            login_prefix_max_failures: 50,
            login_source_window_minutes: 15,
            login_source_block_minutes: 15,
            people_require_certificate: true,
            file_descriptor_reserve: 256,
            public_url: String::new(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_security: "starttls".into(),
            smtp_username: String::new(),
            smtp_password_file: String::new(),
            smtp_from: String::new(),
            smtp_ca_file: String::new(),
            mail_dir: String::new(),
            reminder_days: vec![7, 1],
            webhook_ca_file: String::new(),
            webhook_allow_private: false,
        }
    }
}

/// What a `config.toml` written before a setting existed means by leaving it out, where that
/// differs from [`Config::default`] (what `init` writes for a new installation): an existing
/// relay keeps its behaviour until its operator changes the setting.
fn defaults_of_older_files() -> Config {
    Config {
        people_require_certificate: false,
        ..Config::default()
    }
}

impl Config {
    /// Defaults, then the data directory's `config.toml` if present, then the environment.
    pub fn load(data_dir: &DataDir) -> anyhow::Result<Config> {
        Self::load_with_env(data_dir, Env::prefixed("KENSHIN_RELAY_"))
    }

    /// Defaults and the data directory's `config.toml`, without the environment: what to
    /// start from when the file itself is rewritten.
    pub fn load_file(data_dir: &DataDir) -> anyhow::Result<Config> {
        let path = data_dir.config_path();
        let config: Config = Figment::from(Serialized::defaults(defaults_of_older_files()))
            .merge(Toml::file(&path))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration error ({}): {e}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    fn load_with_env(data_dir: &DataDir, env: Env) -> anyhow::Result<Config> {
        let path = data_dir.config_path();
        let config: Config = Figment::from(Serialized::defaults(defaults_of_older_files()))
            .merge(Toml::file(&path))
            .merge(env.only(&SETTINGS))
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration error ({}): {e}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        match self.kek_provider.as_str() {
            KEK_FILE => {}
            KEK_PKCS11 => anyhow::ensure!(
                !self.pkcs11_module.is_empty()
                    && !self.pkcs11_token.is_empty()
                    && !self.pkcs11_key_label.is_empty(),
                "kek_provider = \"pkcs11\" needs pkcs11_module, pkcs11_token and pkcs11_key_label"
            ),
            other => anyhow::bail!("kek_provider must be \"file\" or \"pkcs11\", not {other:?}"),
        }
        anyhow::ensure!(
            self.max_upload_bytes > 0,
            "max_upload_bytes must be positive"
        );
        anyhow::ensure!(
            (1..=3650).contains(&self.retention_days),
            "retention_days must be between 1 and 3650, not {}",
            self.retention_days
        );
        anyhow::ensure!(
            (365..=36500).contains(&self.access_log_retention_days),
            "access_log_retention_days must be between 365 and 36500, not {}",
            self.access_log_retention_days
        );
        anyhow::ensure!(
            (10..=3600).contains(&self.session_idle_seconds),
            "session_idle_seconds must be between 10 and 3600 (the guideline expects a short idle timeout), not {}",
            self.session_idle_seconds
        );
        anyhow::ensure!(
            (self.session_idle_seconds..=86_400).contains(&self.session_absolute_seconds),
            "session_absolute_seconds must be between session_idle_seconds and 86400, not {}",
            self.session_absolute_seconds
        );
        anyhow::ensure!(
            (1..=100).contains(&self.login_max_failures),
            "login_max_failures must be between 1 and 100, not {}",
            self.login_max_failures
        );
        anyhow::ensure!(
            (1..=self.login_max_lock_minutes.max(1)).contains(&self.login_lock_minutes)
                && self.login_max_lock_minutes <= 10_080,
            "login_lock_minutes must be at least 1 and at most login_max_lock_minutes (at most a week)"
        );
        anyhow::ensure!(
            self.retention_sweep_seconds > 0 && self.crl_reload_seconds > 0,
            "retention_sweep_seconds and crl_reload_seconds must be positive"
        );
        anyhow::ensure!(
            matches!(self.log_format.as_str(), "text" | "json"),
            "log_format must be \"text\" or \"json\", not {:?}",
            self.log_format
        );
        anyhow::ensure!(
            !self.server_names.is_empty(),
            "server_names needs at least one host name"
        );
        anyhow::ensure!(
            self.database_url.is_empty()
                || self.database_url.starts_with("postgres://")
                || self.database_url.starts_with("postgresql://"),
            "database_url must be empty (SQLite in the data directory) or a postgres:// URL"
        );
        anyhow::ensure!(
            (3..=3600).contains(&self.job_lease_seconds),
            "job_lease_seconds must be between 3 and 3600, not {}",
            self.job_lease_seconds
        );
        anyhow::ensure!(
            (2..=1000).contains(&self.database_max_connections),
            "database_max_connections must be between 2 and 1000, not {}",
            self.database_max_connections
        );
        kenshin_store::BlobLocation::from_url(&self.blob_url, Path::new("blobs"))
            .map_err(anyhow::Error::msg)?;
        tls13_suites(&self.tls_cipher_suites)?;
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.max_connections),
            "max_connections must be between 1 and 1000000, not {}",
            self.max_connections
        );
        anyhow::ensure!(
            (1..=self.max_connections).contains(&self.max_connections_per_source),
            "max_connections_per_source must be between 1 and max_connections ({}), not {}",
            self.max_connections,
            self.max_connections_per_source
        );
        anyhow::ensure!(
            (1..=120).contains(&self.handshake_timeout_seconds),
            "handshake_timeout_seconds must be between 1 and 120, not {}",
            self.handshake_timeout_seconds
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.idle_timeout_seconds),
            "idle_timeout_seconds must be between 1 and 3600, not {}",
            self.idle_timeout_seconds
        );
        anyhow::ensure!(
            (1..=3600).contains(&self.http2_keepalive_seconds),
            "http2_keepalive_seconds must be between 1 and 3600, not {}",
            self.http2_keepalive_seconds
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.login_source_max_failures)
                && (self.login_source_max_failures..=100_000)
                    .contains(&self.login_prefix_max_failures),
            "login_source_max_failures must be between 1 and 10000, and login_prefix_max_failures \
             at least as many (at most 100000)"
        );
        anyhow::ensure!(
            (1..=1440).contains(&self.login_source_window_minutes)
                && (1..=1440).contains(&self.login_source_block_minutes),
            "login_source_window_minutes and login_source_block_minutes must be between 1 and 1440"
        );
        anyhow::ensure!(
            (64..=1_000_000).contains(&self.file_descriptor_reserve),
            "file_descriptor_reserve must be between 64 and 1000000, not {}",
            self.file_descriptor_reserve
        );
        anyhow::ensure!(
            self.public_url.is_empty() || self.public_url.starts_with("https://"),
            "public_url must be empty or an https:// address, not {:?}",
            self.public_url
        );
        kenshin_notify::email::Security::parse(&self.smtp_security)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        anyhow::ensure!(
            (self.smtp_host.is_empty() && self.mail_dir.is_empty()) || !self.smtp_from.is_empty(),
            "smtp_from (the sender address) is required when smtp_host or mail_dir is set"
        );
        anyhow::ensure!(
            self.smtp_host.is_empty() || self.mail_dir.is_empty(),
            "set smtp_host (send by SMTP) or mail_dir (write e-mails to files), not both"
        );
        anyhow::ensure!(
            self.reminder_days.len() <= 10
                && self.reminder_days.iter().all(|d| (1..=365).contains(d)),
            "reminder_days must be at most 10 numbers of days between 1 and 365, not {:?}",
            self.reminder_days
        );
        Ok(())
    }

    /// The base of the links in notifications (no trailing slash).
    pub fn public_base_url(&self) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.trim_end_matches('/').to_owned();
        }
        let host = self
            .server_names
            .first()
            .map_or("localhost", String::as_str);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        };
        format!("https://{host}:{}", self.listen.port())
    }

    /// How failed logins are throttled per source address and network prefix.
    pub fn source_throttle_policy(&self) -> kenshin_auth::SourcePolicy {
        kenshin_auth::SourcePolicy {
            per_address: self.login_source_max_failures,
            per_prefix: self.login_prefix_max_failures,
            window: time::Duration::minutes(i64::from(self.login_source_window_minutes)),
            block: time::Duration::minutes(i64::from(self.login_source_block_minutes)),
            ..kenshin_auth::SourcePolicy::default()
        }
    }

    /// How long people's sessions last.
    pub fn session_policy(&self) -> kenshin_auth::SessionPolicy {
        kenshin_auth::SessionPolicy {
            idle: time::Duration::seconds(i64::from(self.session_idle_seconds)),
            absolute: time::Duration::seconds(i64::from(self.session_absolute_seconds)),
        }
    }

    /// How failed logins are throttled.
    pub fn throttle_policy(&self) -> kenshin_auth::ThrottlePolicy {
        kenshin_auth::ThrottlePolicy {
            max_failures: self.login_max_failures,
            lock_duration: time::Duration::minutes(i64::from(self.login_lock_minutes)),
            max_lock_duration: time::Duration::minutes(i64::from(self.login_max_lock_minutes)),
            ..kenshin_auth::ThrottlePolicy::default()
        }
    }

    /// The ledger's origin line.
    pub fn ledger_origin(&self) -> String {
        if self.ledger_origin.is_empty() {
            format!(
                "{}/kenshin-relay-ledger",
                self.server_names
                    .first()
                    .map(String::as_str)
                    .unwrap_or("localhost")
            )
        } else {
            self.ledger_origin.clone()
        }
    }

    /// Where the blob store of `data` is, by `blob_url`.
    pub fn blob_location(&self, data: &DataDir) -> anyhow::Result<kenshin_store::BlobLocation> {
        kenshin_store::BlobLocation::from_url(&self.blob_url, &data.blobs_path())
            .map_err(anyhow::Error::msg)
    }

    /// The TOML written by `init`, documenting each setting.
    pub fn to_commented_toml(&self) -> String {
        let names = self
            .server_names
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "# Kenshin Relay configuration. Environment variables KENSHIN_RELAY_<NAME> override\n\
             # each setting (e.g. KENSHIN_RELAY_LISTEN=0.0.0.0:8443).\n\n\
             # Address and port the HTTPS server listens on.\n\
             listen = \"{}\"\n\n\
             # Names and addresses in the server certificate (used when it is issued).\n\
             server_names = [{names}]\n\n\
             # Largest accepted upload in bytes.\n\
             max_upload_bytes = {}\n\n\
             # Unconfirmed deliveries are destroyed after this many days.\n\
             retention_days = {}\n\n\
             # How often the retention task runs, in seconds.\n\
             retention_sweep_seconds = {}\n\n\
             # Access-log rows are kept this many days (default 5 years), then removed with a\n\
             # ledger entry recording how far.\n\
             access_log_retention_days = {}\n\n\
             # A person's session ends after this many seconds without a request, and this many\n\
             # seconds after login however active.\n\
             session_idle_seconds = {}\n\
             session_absolute_seconds = {}\n\n\
             # Failed logins before an account is locked, the first lockout and the longest\n\
             # (minutes; each lockout doubles). Short growing delays come before the lockout.\n\
             login_max_failures = {}\n\
             login_lock_minutes = {}\n\
             login_max_lock_minutes = {}\n\n\
             # How often the server looks for a new certificate revocation list, in seconds.\n\
             crl_reload_seconds = {}\n\n\
             # Seconds that in-flight requests get to finish on shutdown.\n\
             shutdown_grace_seconds = {}\n\n\
             # Log line format: \"text\" or \"json\".\n\
             log_format = \"{}\"\n\n\
             # Name (origin line) of the transparency ledger's checkpoints; empty: <server name>/kenshin-relay-ledger.\n\
             ledger_origin = \"{}\"\n\n\
             # Metadata database: empty for the SQLite file in this directory, or a PostgreSQL\n\
             # URL (postgres://user@host:5432/kenshin) shared by several nodes; the password goes\n\
             # in PGPASSWORD or ~/.pgpass. Connections per node:\n\
             database_url = \"{}\"\n\
             database_max_connections = {}\n\n\
             # Seconds a conversion worker holds a job between renewals; a job whose worker\n\
             # died is taken over after this long.\n\
             job_lease_seconds = {}\n\n\
             # Where the encrypted blobs are kept. Empty: the data directory's blobs/. For an\n\
             # S3-compatible bucket: \"s3://BUCKET/PREFIX\" (one prefix per relay). The endpoint,\n\
             # region and credentials come from the environment, never from this file:\n\
             # AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or a role);\n\
             # AWS_ALLOW_HTTP=true permits plain http, for a local test endpoint only.\n\
             blob_url = \"{}\"\n\n\
             # Who holds the key-encryption key: \"file\" (keys/kek.key) or \"pkcs11\" (an HSM:\n\
             # the vendor's module, the token's label and the key's label; the PIN comes from\n\
             # KENSHIN_RELAY_PKCS11_PIN or keys/pkcs11.pin, 0600, never from this file).\n\
             kek_provider = \"{}\"\n\
             pkcs11_module = \"{}\"\n\
             pkcs11_token = \"{}\"\n\
             pkcs11_key_label = \"{}\"\n\n\
             # TLS 1.3 cipher suites in the server's order (the client's order is ignored).\n\
             # The default is CRYPTREC's 高セキュリティ型 setting: AES-256-GCM, then AES-128-GCM;\n\
             # TLS13_CHACHA20_POLY1305_SHA256 may be added.\n\
             tls_cipher_suites = [{}]\n\n\
             # Connections held at once (all sources; from one address — IPv6: one /64); more\n\
             # are closed before the TLS handshake, counted in /metrics and logged once a minute\n\
             # per source. The process needs max_connections + file_descriptor_reserve open\n\
             # files (ulimit -n / LimitNOFILE); start-up refuses fewer.\n\
             max_connections = {}\n\
             max_connections_per_source = {}\n\
             file_descriptor_reserve = {}\n\n\
             # Seconds to finish the TLS handshake; seconds a connection may sit without a\n\
             # request before it is closed; seconds between HTTP/2 keep-alive pings.\n\
             handshake_timeout_seconds = {}\n\
             idle_timeout_seconds = {}\n\
             http2_keepalive_seconds = {}\n\n\
             # Failed logins from one address (IPv6: /64), and from one network (IPv4 /24, IPv6\n\
             # /48), within the window (minutes) before logins from there are refused for the\n\
             # block time (minutes), whatever the account: password spraying is slowed too.\n\
             login_source_max_failures = {}\n\
             login_prefix_max_failures = {}\n\
             login_source_window_minutes = {}\n\
             login_source_block_minutes = {}\n\n\
             # People present their own client certificate besides password and second factor,\n\
             # in every organisation (the guideline 6.0 asks for client-certificate\n\
             # authentication on open networks). false: only where an organisation requires it\n\
             # (and always the operator's people).\n\
             people_require_certificate = {}\n",
            self.listen,
            self.max_upload_bytes,
            self.retention_days,
            self.retention_sweep_seconds,
            self.access_log_retention_days,
            self.session_idle_seconds,
            self.session_absolute_seconds,
            self.login_max_failures,
            self.login_lock_minutes,
            self.login_max_lock_minutes,
            self.crl_reload_seconds,
            self.shutdown_grace_seconds,
            self.log_format,
            self.ledger_origin,
            self.database_url,
            self.database_max_connections,
            self.job_lease_seconds,
            self.blob_url,
            self.kek_provider,
            self.pkcs11_module,
            self.pkcs11_token,
            self.pkcs11_key_label,
            self.tls_cipher_suites
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.max_connections,
            self.max_connections_per_source,
            self.file_descriptor_reserve,
            self.handshake_timeout_seconds,
            self.idle_timeout_seconds,
            self.http2_keepalive_seconds,
            self.login_source_max_failures,
            self.login_prefix_max_failures,
            self.login_source_window_minutes,
            self.login_source_block_minutes,
            self.people_require_certificate,
        )
    }
}

/// The paths inside a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    pub fn new(root: impl Into<PathBuf>) -> DataDir {
        DataDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    pub fn database_path(&self) -> PathBuf {
        self.root.join("relay.db")
    }
    pub fn kek_path(&self) -> PathBuf {
        self.root.join("keys").join("kek.key")
    }
    pub fn pkcs11_pin_path(&self) -> PathBuf {
        self.root.join("keys").join("pkcs11.pin")
    }
    pub fn pki_dir(&self) -> PathBuf {
        self.root.join("pki")
    }
    pub fn ca_cert_path(&self) -> PathBuf {
        self.pki_dir().join("ca.pem")
    }
    pub fn ca_key_path(&self) -> PathBuf {
        self.pki_dir().join("ca.key")
    }
    pub fn crl_path(&self) -> PathBuf {
        self.pki_dir().join("crl.pem")
    }
    pub fn server_cert_path(&self) -> PathBuf {
        self.pki_dir().join("server.pem")
    }
    pub fn server_key_path(&self) -> PathBuf {
        self.pki_dir().join("server.key")
    }
    pub fn server_secret_path(&self) -> PathBuf {
        self.root.join("keys").join("server.secret")
    }
    pub fn ledger_key_path(&self) -> PathBuf {
        self.root.join("keys").join("ledger.key")
    }
    pub fn blobs_path(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// Takes an exclusive advisory lock (`flock`) on the lock file `path` (created 0600), or
    /// `Ok(None)` when another process (or another open of it) holds it. The kernel releases
    /// the lock when the returned file is dropped or the process ends, however it ends.
    pub fn try_lock(path: &Path) -> anyhow::Result<Option<std::fs::File>> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        // SAFETY: a valid descriptor owned by `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(file));
        }
        let err = std::io::Error::last_os_error();
        if err.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        anyhow::bail!("cannot lock {}: {err}", path.display())
    }

    /// Refuses to serve from a data directory that is missing pieces or readable by others,
    /// with a message that says what to do. The SQLite file is required only when the
    /// configuration names no other database.
    pub fn check_for_serving(&self, config: &Config) -> anyhow::Result<()> {
        let root = &self.root;
        let meta = std::fs::metadata(root).map_err(|e| {
            anyhow::anyhow!(
                "data directory {} is not usable ({e}); create it with `kenshin-relay init --data-dir {}`",
                root.display(),
                root.display()
            )
        })?;
        anyhow::ensure!(meta.is_dir(), "{} is not a directory", root.display());
        check_private(root, meta.permissions().mode(), 0o700)?;
        let database = config
            .database_url
            .is_empty()
            .then(|| (self.database_path(), "database"));
        let kek =
            (config.kek_provider == KEK_FILE).then(|| (self.kek_path(), "key-encryption key"));
        for (path, what) in database.into_iter().chain(kek).chain([
            (self.ca_cert_path(), "CA certificate"),
            (self.crl_path(), "certificate revocation list"),
            (self.server_cert_path(), "server certificate"),
            (self.server_key_path(), "server private key"),
        ]) {
            anyhow::ensure!(
                path.exists(),
                "the {what} is missing at {}: this data directory was not initialised completely \
                 (run `kenshin-relay init`) or was damaged (restore it from a backup)",
                path.display()
            );
        }
        for secret in [
            self.kek_path(),
            self.pkcs11_pin_path(),
            self.server_key_path(),
            self.ca_key_path(),
            self.ledger_key_path(),
        ] {
            if let Ok(meta) = std::fs::metadata(&secret) {
                check_private(&secret, meta.permissions().mode(), 0o600)?;
            }
        }
        for dir in [self.root.join("keys"), self.pki_dir(), self.blobs_path()] {
            if let Ok(meta) = std::fs::metadata(&dir) {
                check_private(&dir, meta.permissions().mode(), 0o700)?;
            }
        }
        self.check_files_private()
    }

    /// Every file of the data directory itself, `keys/` and `pki/` (configuration, database,
    /// certificates, CRL) must be the owner's only: the directory's 0700 is one barrier, the
    /// files' 0600 a second (a copy, a backup tool or a changed directory mode would otherwise
    /// expose them).
    fn check_files_private(&self) -> anyhow::Result<()> {
        let mut exposed = Vec::new();
        for dir in [self.root.clone(), self.root.join("keys"), self.pki_dir()] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                    exposed.push(format!(
                        "{} ({:o})",
                        entry.path().display(),
                        meta.permissions().mode() & 0o777
                    ));
                }
            }
        }
        exposed.sort();
        anyhow::ensure!(
            exposed.is_empty(),
            "refusing to start: files of the data directory are readable by other users: {}; \
             run `chmod -R go= {}`",
            exposed.join(", "),
            self.root.display()
        );
        Ok(())
    }
}

fn check_private(path: &Path, mode: u32, expected: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        mode & 0o077 == 0,
        "refusing to start: {} has mode {:o}, which lets other users read it; \
         run `chmod {:o} {}`",
        path.display(),
        mode & 0o777,
        expected,
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type
    fn defaults_file_and_environment_layer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::write(
            data.config_path(),
            "retention_days = 7\nmax_upload_bytes = 1000\n",
        )
        .unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("KRTEST_MAX_UPLOAD_BYTES", "2000");
            let config = Config::load_with_env(&data, Env::prefixed("KRTEST_")).unwrap();
            assert_eq!(config.retention_days, 7);
            assert_eq!(config.max_upload_bytes, 2000);
            assert_eq!(config.listen, Config::default().listen);
            Ok(())
        });
    }

    #[test]
    fn blob_url_reads_back_and_a_bad_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let config = Config {
            blob_url: "s3://relay-blobs/prod".into(),
            ..Config::default()
        };
        std::fs::write(data.config_path(), config.to_commented_toml()).unwrap();
        let loaded = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap();
        assert_eq!(loaded.blob_url, "s3://relay-blobs/prod");
        assert!(matches!(
            loaded.blob_location(&data).unwrap(),
            kenshin_store::BlobLocation::S3(s3) if s3.bucket == "relay-blobs" && s3.prefix == "prod"
        ));
        assert!(matches!(
            Config::default().blob_location(&data).unwrap(),
            kenshin_store::BlobLocation::Local(path) if path == data.blobs_path()
        ));
        std::fs::write(data.config_path(), "blob_url = \"ftp://host/x\"\n").unwrap();
        let err = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap_err();
        assert!(err.to_string().contains("blob_url must be"), "{err}");
    }

    #[test]
    fn written_config_reads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        let config = Config {
            retention_days: 10,
            ..Config::default()
        };
        std::fs::write(data.config_path(), config.to_commented_toml()).unwrap();
        let loaded = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap();
        assert_eq!(loaded, config);
    }

    #[test]
    fn new_installations_require_people_certificates_and_older_files_keep_their_behaviour() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        // What `init` writes today says so explicitly.
        std::fs::write(data.config_path(), Config::default().to_commented_toml()).unwrap();
        let loaded = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap();
        assert!(loaded.people_require_certificate);
        assert_eq!(loaded.tls_cipher_suites, CRYPTREC_HIGH_SECURITY_SUITES);
        // A file written before the setting existed keeps the earlier behaviour.
        std::fs::write(data.config_path(), "retention_days = 30\n").unwrap();
        let loaded = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap();
        assert!(!loaded.people_require_certificate);
    }

    #[test]
    fn connection_and_suite_settings_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        for (text, expected) in [
            (
                "tls_cipher_suites = [\"TLS13_AES_128_CCM_SHA256\"]\n",
                "tls_cipher_suites",
            ),
            ("tls_cipher_suites = []\n", "at least one suite"),
            (
                "max_connections = 10\nmax_connections_per_source = 11\n",
                "max_connections_per_source",
            ),
            ("idle_timeout_seconds = 0\n", "idle_timeout_seconds"),
            (
                "login_source_max_failures = 20\nlogin_prefix_max_failures = 5\n",
                "login_prefix_max_failures",
            ),
        ] {
            std::fs::write(data.config_path(), text).unwrap();
            let err = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
        std::fs::write(
            data.config_path(),
            "tls_cipher_suites = [\"TLS_AES_128_GCM_SHA256\", \"TLS13_CHACHA20_POLY1305_SHA256\"]\n",
        )
        .unwrap();
        let loaded = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap();
        assert_eq!(
            loaded
                .tls_cipher_suites
                .iter()
                .filter_map(|n| tls13_suite_name(n))
                .collect::<Vec<_>>(),
            ["TLS13_AES_128_GCM_SHA256", "TLS13_CHACHA20_POLY1305_SHA256"]
        );
    }

    #[test]
    fn unknown_or_invalid_settings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::write(data.config_path(), "retention_dayz = 7\n").unwrap();
        let err = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap_err();
        assert!(err.to_string().contains("retention_dayz"), "{err}");
        std::fs::write(data.config_path(), "retention_days = 0\n").unwrap();
        let err = Config::load_with_env(&data, Env::prefixed("KRTEST_NOTHING_")).unwrap_err();
        assert!(err.to_string().contains("retention_days"), "{err}");
    }

    #[test]
    fn a_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir(data.pki_dir()).unwrap();
        std::fs::set_permissions(data.pki_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(data.crl_path(), "x").unwrap();
        std::fs::set_permissions(data.crl_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = data.check_files_private().unwrap_err().to_string();
        assert!(err.contains("crl.pem (644)"), "{err}");
        assert!(err.contains("chmod -R go="), "{err}");
        std::fs::set_permissions(data.crl_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        data.check_files_private().unwrap();
    }

    #[test]
    fn a_world_readable_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = DataDir::new(dir.path())
            .check_for_serving(&Config::default())
            .unwrap_err();
        assert!(err.to_string().contains("chmod 700"), "{err}");
    }
}
