//! A client for the Kenshin Relay `/api/v1` API: TLS 1.3 only, authenticated by a client
//! certificate, streaming in both directions, verifying the SHA-256 of every download.
//!
//! The CLI's `client` commands and the integration tests use it; batch jobs written in Rust
//! can too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use kenshin_core::api::{
    DeliveryView, ErrorBody, ErrorCode, Health, Page, SubmissionView, CONTENT_SHA256_HEADER,
};
use reqwest::{Method, StatusCode};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error body.
    #[error("{message} ({code}, HTTP {status})", code = code.as_str())]
    Api {
        status: StatusCode,
        code: ErrorCode,
        message: String,
    },
    /// The server answered something that is not this API.
    #[error("unexpected answer from the server (HTTP {status}): {body}")]
    Unexpected { status: StatusCode, body: String },
    #[error("connection to the server failed: {0}")]
    Transport(String),
    /// A download's bytes do not match the SHA-256 the server announced; nothing was kept.
    #[error("integrity error: the downloaded file's SHA-256 is {actual}, the server announced {expected}; the partial file was removed")]
    Integrity { expected: String, actual: String },
    #[error(
        "the download ended after {received} of {expected} bytes; the partial file was removed"
    )]
    Truncated { received: u64, expected: u64 },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Tls(String),
}

impl ClientError {
    /// The API error code, when the server sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(err: reqwest::Error) -> ClientError {
        // reqwest's Display hides the cause (e.g. which TLS alert); the chain says it.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        ClientError::Transport(message)
    }
}

/// Where the server is and who we are.
#[derive(Clone, Debug)]
pub struct ClientIdentity {
    /// PEM certificate chain of this device.
    pub cert_pem: Vec<u8>,
    /// PEM private key of this device.
    pub key_pem: Vec<u8>,
}

impl ClientIdentity {
    pub fn from_files(cert: &Path, key: &Path) -> Result<ClientIdentity, ClientError> {
        Ok(ClientIdentity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|source| ClientError::File {
        path: path.to_owned(),
        source,
    })
}

/// Builds the TLS 1.3-only client configuration: trust only `ca_pem`, present `identity` if
/// given.
pub fn tls_config(
    ca_pem: &[u8],
    identity: Option<&ClientIdentity>,
) -> Result<rustls::ClientConfig, ClientError> {
    let tls = |e: &dyn std::fmt::Display| ClientError::Tls(e.to_string());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(cert.map_err(|e| tls(&e))?).map_err(|e| tls(&e))?;
    }
    if roots.is_empty() {
        return Err(ClientError::Tls("the CA file holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls(&e))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(identity) => {
            let chain = CertificateDer::pem_slice_iter(&identity.cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls(&e))?;
            let key = PrivateKeyDer::from_pem_slice(&identity.key_pem).map_err(|e| tls(&e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls(&e))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Result of a verified download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    pub size: u64,
    pub sha256: String,
}

#[derive(Clone, Debug)]
pub struct RelayClient {
    http: reqwest::Client,
    base: String,
}

impl RelayClient {
    /// `server` is the base URL, e.g. `https://localhost:8443`.
    pub fn new(
        server: &str,
        ca_pem: &[u8],
        identity: Option<&ClientIdentity>,
    ) -> Result<RelayClient, ClientError> {
        let tls = tls_config(ca_pem, identity)?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(std::time::Duration::from_secs(15))
            // Files are large: HTTP/2's default 64 KiB windows would throttle a transfer.
            .http2_initial_stream_window_size(8 * 1024 * 1024)
            .http2_initial_connection_window_size(16 * 1024 * 1024)
            .http2_max_frame_size(1024 * 1024)
            .build()?;
        Ok(RelayClient {
            http,
            base: server.trim_end_matches('/').to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
    ) -> Result<T, ClientError> {
        let response = self.http.request(method, self.url(path)).send().await?;
        decode(response).await
    }

    pub async fn health(&self) -> Result<Health, ClientError> {
        let response = self.http.get(self.url("/health")).send().await?;
        let status = response.status();
        let text = response.text().await?;
        serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, body: text })
    }

    /// Uploads a stream of `length` bytes as `filename` for organisation `to`, or, with `to`
    /// empty, for conversion and routing by 保険者番号.
    pub async fn send_stream<S>(
        &self,
        to: &str,
        filename: &str,
        length: Option<u64>,
        body: S,
    ) -> Result<SubmissionView, ClientError>
    where
        S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    {
        let mut request = self
            .http
            .post(self.url(&if to.is_empty() {
                format!("/api/v1/submissions?filename={}", escape(filename))
            } else {
                format!(
                    "/api/v1/submissions?to={}&filename={}",
                    escape(to),
                    escape(filename)
                )
            }))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body));
        if let Some(length) = length {
            request = request.header(reqwest::header::CONTENT_LENGTH, length);
        }
        decode(request.send().await?).await
    }

    /// Uploads a file; `progress` is called with the number of bytes read so far.
    pub async fn send_file(
        &self,
        path: &Path,
        to: &str,
        filename: Option<&str>,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<SubmissionView, ClientError> {
        let file_error = |source| ClientError::File {
            path: path.to_owned(),
            source,
        };
        let file = tokio::fs::File::open(path).await.map_err(file_error)?;
        let length = file.metadata().await.map_err(file_error)?.len();
        let name = match filename {
            Some(name) => name.to_owned(),
            None => path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| ClientError::File {
                    path: path.to_owned(),
                    source: std::io::Error::other(
                        "the file name is not valid UTF-8; pass --filename",
                    ),
                })?
                .to_owned(),
        };
        let mut sent = 0u64;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024).inspect_ok(
            move |chunk| {
                sent += chunk.len() as u64;
                progress(sent);
            },
        );
        self.send_stream(to, &name, Some(length), stream).await
    }

    pub async fn list_submissions(
        &self,
        state: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<SubmissionView>, ClientError> {
        self.call(
            Method::GET,
            &list_path("/api/v1/submissions", state, limit, offset),
        )
        .await
    }

    /// The files this organisation sent with this content (lowercase hex SHA-256), newest
    /// first.
    pub async fn submissions_with_content(
        &self,
        sha256: &str,
    ) -> Result<Page<SubmissionView>, ClientError> {
        self.call(
            Method::GET,
            &format!(
                "{}&sha256={}",
                list_path("/api/v1/submissions", None, 100, 0),
                escape(sha256)
            ),
        )
        .await
    }

    pub async fn submission(&self, id: &str) -> Result<SubmissionView, ClientError> {
        self.call(Method::GET, &format!("/api/v1/submissions/{}", escape(id)))
            .await
    }

    pub async fn withdraw(&self, id: &str) -> Result<SubmissionView, ClientError> {
        self.call(
            Method::DELETE,
            &format!("/api/v1/submissions/{}", escape(id)),
        )
        .await
    }

    /// Our organisation's access log in an export format (`csv`, `jsonl`, `fhir`, `atna`),
    /// filtered by the given `(name, value)` query parameters (`from`, `to`, `action`, …).
    pub async fn audit_export(
        &self,
        format: &str,
        filters: &[(&str, &str)],
    ) -> Result<Bytes, ClientError> {
        let mut path = format!("/api/v1/audit/access?format={}", escape(format));
        for (name, value) in filters {
            path.push_str(&format!("&{}={}", escape(name), escape(value)));
        }
        let response = self.http.get(self.url(&path)).send().await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        Ok(response.bytes().await?)
    }

    /// The ledger's latest signed checkpoint (a signed note).
    pub async fn ledger_checkpoint(&self) -> Result<String, ClientError> {
        self.text("/ledger/checkpoint").await
    }

    /// The ledger's verifier key text.
    pub async fn ledger_key(&self) -> Result<String, ClientError> {
        Ok(self.text("/ledger/key").await?.trim().to_owned())
    }

    async fn text(&self, path: &str) -> Result<String, ClientError> {
        let response = self.http.get(self.url(path)).send().await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        Ok(response.text().await?)
    }

    /// Ledger entries about one submission (parties only), or, with `None`, all entries in
    /// which our organisation is a party, after index `after`.
    pub async fn ledger_entries(
        &self,
        submission: Option<&str>,
        after: Option<u64>,
    ) -> Result<Vec<kenshin_core::api::LedgerEntryView>, ClientError> {
        let path = match (submission, after) {
            (Some(id), _) => format!("/api/v1/ledger/entries?submission={}", escape(id)),
            (None, Some(after)) => format!("/api/v1/ledger/entries?after={after}&limit=1000"),
            (None, None) => "/api/v1/ledger/entries?limit=1000".to_owned(),
        };
        self.call(Method::GET, &path).await
    }

    pub async fn ledger_inclusion(
        &self,
        index: u64,
        size: u64,
    ) -> Result<kenshin_core::api::ProofView, ClientError> {
        self.call(
            Method::GET,
            &format!("/api/v1/ledger/proof/inclusion?index={index}&size={size}"),
        )
        .await
    }

    pub async fn ledger_consistency(
        &self,
        from: u64,
        to: u64,
    ) -> Result<kenshin_core::api::ProofView, ClientError> {
        self.call(
            Method::GET,
            &format!("/api/v1/ledger/proof/consistency?from={from}&to={to}"),
        )
        .await
    }

    /// The conversion report of one of our submissions (JSON, as the server wrote it).
    pub async fn report(&self, id: &str) -> Result<serde_json::Value, ClientError> {
        self.call(
            Method::GET,
            &format!("/api/v1/submissions/{}/report", escape(id)),
        )
        .await
    }

    /// The file of a batch of records held for the sender (unrouted ones in the standard CSV,
    /// or the rows returned as sent with the reason), whole: batches are small.
    pub async fn held_content(&self, id: &str, batch: &str) -> Result<Vec<u8>, ClientError> {
        let response = self
            .http
            .get(self.url(&format!(
                "/api/v1/submissions/{}/held/{}",
                escape(id),
                escape(batch)
            )))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        Ok(response.bytes().await?.to_vec())
    }

    /// Uploads a map file version; `activate` makes it the one conversions use.
    pub async fn upload_map(
        &self,
        content: Vec<u8>,
        activate: bool,
    ) -> Result<kenshin_core::api::MapView, ClientError> {
        let response = self
            .http
            .post(self.url(&format!("/api/v1/maps?activate={activate}")))
            .header(reqwest::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .body(content)
            .send()
            .await?;
        decode(response).await
    }

    pub async fn list_maps(&self) -> Result<Vec<kenshin_core::api::MapView>, ClientError> {
        self.call(Method::GET, "/api/v1/maps").await
    }

    pub async fn activate_map(
        &self,
        map_id: &str,
        version: &str,
    ) -> Result<kenshin_core::api::MapView, ClientError> {
        self.call(
            Method::POST,
            &format!(
                "/api/v1/maps/{}/{}/activate",
                escape(map_id),
                escape(version)
            ),
        )
        .await
    }

    /// The organisation's receiving settings: output formats and age recipients (JSON as
    /// `GET /api/v1/org/receiving` answers it).
    pub async fn receiving(&self) -> Result<serde_json::Value, ClientError> {
        self.call(Method::GET, "/api/v1/org/receiving").await
    }

    /// Chooses the organisation's output formats (`std-csv`, `mhlw-xml`, `fhir`).
    pub async fn set_output_formats(
        &self,
        formats: &[&str],
    ) -> Result<serde_json::Value, ClientError> {
        let response = self
            .http
            .put(self.url("/api/v1/org/receiving/formats"))
            .json(&serde_json::json!({ "formats": formats }))
            .send()
            .await?;
        decode(response).await
    }

    /// Registers an age recipient: every later delivery is sealed to it.
    pub async fn add_recipient(
        &self,
        recipient: &str,
        label: &str,
    ) -> Result<serde_json::Value, ClientError> {
        let response = self
            .http
            .post(self.url("/api/v1/org/receiving/recipients"))
            .json(&serde_json::json!({ "recipient": recipient, "label": label }))
            .send()
            .await?;
        decode(response).await
    }

    pub async fn list_deliveries(
        &self,
        state: Option<&str>,
        limit: u32,
        offset: u64,
    ) -> Result<Page<DeliveryView>, ClientError> {
        self.call(
            Method::GET,
            &list_path("/api/v1/deliveries", state, limit, offset),
        )
        .await
    }

    pub async fn delivery(&self, id: &str) -> Result<DeliveryView, ClientError> {
        self.call(Method::GET, &format!("/api/v1/deliveries/{}", escape(id)))
            .await
    }

    pub async fn confirm(&self, id: &str) -> Result<DeliveryView, ClientError> {
        self.call(
            Method::POST,
            &format!("/api/v1/deliveries/{}/confirm", escape(id)),
        )
        .await
    }

    /// Starts a download: the announced size and SHA-256, and the byte stream.
    pub async fn open_content(
        &self,
        id: &str,
    ) -> Result<
        (
            Option<u64>,
            String,
            impl Stream<Item = Result<Bytes, ClientError>>,
        ),
        ClientError,
    > {
        let response = self
            .http
            .get(self.url(&format!("/api/v1/deliveries/{}/content", escape(id))))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(error_of(response).await);
        }
        let sha256 = response
            .headers()
            .get(CONTENT_SHA256_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| ClientError::Unexpected {
                status: StatusCode::OK,
                body: format!("the response has no {CONTENT_SHA256_HEADER} header"),
            })?;
        let length = response.content_length();
        Ok((
            length,
            sha256,
            response.bytes_stream().map_err(ClientError::from),
        ))
    }

    /// Downloads a delivery to `out`, verifying length and SHA-256 before the file appears
    /// under its name; on any failure the partial file is removed. `progress(done, total)`.
    ///
    /// The network task hashes while a blocking thread writes, so the two heaviest steps of a
    /// large download run on different cores.
    pub async fn fetch_to_file(
        &self,
        id: &str,
        out: &Path,
        progress: impl Fn(u64, Option<u64>),
    ) -> Result<Fetched, ClientError> {
        let (length, expected, mut stream) = self.open_content(id).await?;
        let partial = partial_path(out);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&partial)
            .map_err(|source| ClientError::File {
                path: partial.clone(),
                source,
            })?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let mut file = std::io::BufWriter::with_capacity(1024 * 1024, file);
            while let Some(chunk) = rx.blocking_recv() {
                file.write_all(&chunk)?;
            }
            file.into_inner().map_err(|e| e.into_error())?.sync_all()
        });
        let received: Result<(u64, String), ClientError> = async {
            let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
            let mut received = 0u64;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    // The server cuts a download short when stored content fails its check.
                    Err(_) if length.is_some_and(|l| received < l) => {
                        return Err(ClientError::Truncated {
                            received,
                            expected: length.unwrap_or(0),
                        })
                    }
                    Err(err) => return Err(err),
                };
                hash.update(&chunk);
                received += chunk.len() as u64;
                if tx.send(chunk).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
                progress(received, length);
            }
            Ok((received, hex::encode(hash.finish())))
        }
        .await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r);
        let result = received.and_then(|(received, actual)| {
            written.map_err(|source| ClientError::File {
                path: partial.clone(),
                source,
            })?;
            if let Some(expected_len) = length {
                if received != expected_len {
                    return Err(ClientError::Truncated {
                        received,
                        expected: expected_len,
                    });
                }
            }
            if actual != expected {
                return Err(ClientError::Integrity {
                    expected: expected.clone(),
                    actual,
                });
            }
            Ok((received, actual))
        });
        match result {
            Ok((size, sha256)) => {
                tokio::fs::rename(&partial, out)
                    .await
                    .map_err(|source| ClientError::File {
                        path: out.to_owned(),
                        source,
                    })?;
                Ok(Fetched {
                    path: out.to_owned(),
                    size,
                    sha256,
                })
            }
            Err(err) => {
                let _ = tokio::fs::remove_file(&partial).await;
                Err(err)
            }
        }
    }
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    out.with_file_name(name)
}

/// RFC 3986 unreserved characters stay as they are (ids keep their hyphens in logs and URLs).
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn escape(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, COMPONENT).to_string()
}

fn list_path(base: &str, state: Option<&str>, limit: u32, offset: u64) -> String {
    let mut path = format!("{base}?limit={limit}&offset={offset}");
    if let Some(state) = state {
        path.push_str("&state=");
        path.push_str(&escape(state));
    }
    path
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    if !response.status().is_success() {
        return Err(error_of(response).await);
    }
    let status = response.status();
    let text = response.text().await?;
    serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, body: text })
}

async fn error_of(response: reqwest::Response) -> ClientError {
    let status = response.status();
    let text = match response.text().await {
        Ok(text) => text,
        Err(err) => return err.into(),
    };
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Api {
            status,
            code: body.error.code,
            message: body.error.message,
        },
        Err(_) => ClientError::Unexpected {
            status,
            body: text.chars().take(500).collect(),
        },
    }
}
