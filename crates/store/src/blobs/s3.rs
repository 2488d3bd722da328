//! The S3 backend: blobs are objects `<prefix>/objects/<object id>` in one bucket.
//!
//! Writes buffer up to one part; a blob smaller than that is one PUT, a larger one a multipart
//! upload of [`PART_SIZE`] parts with at most [`PARTS_IN_FLIGHT`] uploading while the next
//! fills, so a writer holds at most three parts whatever the blob's size. Either way the
//! object appears only when complete (PUT, CompleteMultipartUpload); a writer dropped before
//! `commit` aborts its upload. Reads stream the GET body chunk by chunk.
//!
//! The requests run on a runtime owned by the store, driven with `block_on` from the caller's
//! blocking thread: the caller's runtime may be single-threaded (tests) or gone, and the
//! HTTP connections must outlive any one request.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::io::{self, Read};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use kenshin_core::ObjectId;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};

use super::location::S3Settings;
use super::Recovery;

/// Size of a multipart upload's parts (S3's minimum is 5 MiB, except for the last).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploading while the writer fills the next one.
const PARTS_IN_FLIGHT: usize = 2;
/// How long a dropped writer waits for its upload to be aborted before leaving the rest to
/// the bucket's lifecycle rule.
const ABORT_WAIT: Duration = Duration::from_secs(10);

/// The store's own runtime. Shut down in the background when the last clone goes, so that
/// dropping a store inside an async task does not block it.
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime lives as long as the store")
            .handle()
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<AmazonS3>,
    /// `<prefix>/` or empty.
    prefix: String,
    url: String,
    endpoint: String,
    runtime: Arc<OwnRuntime>,
}

impl fmt::Debug for S3Blobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Blobs")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl S3Blobs {
    /// Builds the client; sends no request.
    pub fn open(settings: &S3Settings) -> io::Result<S3Blobs> {
        Self::open_with(settings, false)
    }

    /// `checksums`: every PUT and part carries its SHA-256 (`x-amz-checksum-sha256`), which
    /// S3 verifies on arrival — and requires of any upload into a bucket with Object Lock.
    fn open_with(settings: &S3Settings, checksums: bool) -> io::Result<S3Blobs> {
        let mut builder = if settings.from_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        }
        .with_bucket_name(&settings.bucket)
        // A download streams for as long as the receiver reads it: the default 30 s for a
        // whole request would cut large files. Connecting keeps its short timeout.
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "24h")
        // Few, quick retries: an unreachable bucket should be reported in seconds, at start-up
        // and to an uploader alike.
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        });
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(region) = &settings.region {
            builder = builder.with_region(region);
        }
        if let Some(key) = &settings.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(allow) = settings.allow_http {
            builder = builder.with_allow_http(allow);
        }
        if checksums {
            builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
        }
        let endpoint = builder
            .get_config_value(&AmazonS3ConfigKey::Endpoint)
            .unwrap_or_else(|| {
                let region = builder
                    .get_config_value(&AmazonS3ConfigKey::Region)
                    .unwrap_or_else(|| "us-east-1".into());
                format!("AWS S3 in {region}")
            });
        let url = settings.url();
        let store = builder.build().map_err(|err| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the S3 blob store {url} is misconfigured: {err}"),
            )
        })?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kenshin-blobs-s3")
            .enable_all()
            .build()?;
        Ok(S3Blobs {
            store: Arc::new(store),
            prefix: if settings.prefix.is_empty() {
                String::new()
            } else {
                format!("{}/", settings.prefix)
            },
            url,
            endpoint,
            runtime: Arc::new(OwnRuntime(Some(runtime))),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.handle().block_on(future)
    }

    fn objects_prefix(&self) -> ObjectPath {
        ObjectPath::from(format!("{}objects", self.prefix))
    }

    fn probes_prefix(&self) -> ObjectPath {
        ObjectPath::from(format!("{}probes", self.prefix))
    }

    fn path_of(&self, id: ObjectId) -> ObjectPath {
        ObjectPath::from(format!("{}objects/{id}", self.prefix))
    }

    /// An object_store error as an I/O error of the same kind, naming the store.
    fn io_error(&self, err: object_store::Error) -> io::Error {
        io::Error::new(classify(&err), format!("S3 blob store {}: {err}", self.url))
    }

    /// Lists, writes and deletes a probe object, so that a wrong endpoint, bucket or
    /// credential is reported at start-up with its cause rather than at the first upload.
    pub fn check(&self) -> io::Result<()> {
        let probe = ObjectPath::from(format!("{}probes/{}", self.prefix, uuid::Uuid::new_v4()));
        let result = self.block_on(async {
            self.store
                .list_with_delimiter(Some(&self.objects_prefix()))
                .await?;
            self.store
                .put(
                    &probe,
                    PutPayload::from_static(b"kenshin-relay start-up check"),
                )
                .await?;
            self.store.delete(&probe).await
        });
        result.map_err(|err| {
            let kind = classify(&err);
            let cause = match kind {
                io::ErrorKind::PermissionDenied => {
                    "the credentials were refused: check AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY (or the role) and that they may list, put and \
                     delete objects under this prefix"
                }
                io::ErrorKind::NotFound => "the bucket does not exist at this endpoint",
                _ => {
                    "the endpoint could not be used: check AWS_ENDPOINT_URL, AWS_REGION and \
                     the network (plain http needs AWS_ALLOW_HTTP=true)"
                }
            };
            io::Error::new(
                kind,
                format!(
                    "the S3 blob store {} at {} cannot be used: {cause} ({err})",
                    self.url, self.endpoint
                ),
            )
        })
    }

    pub fn create(&self, id: ObjectId) -> S3Writer {
        self.writer_at(self.path_of(id))
    }

    fn writer_at(&self, path: ObjectPath) -> S3Writer {
        S3Writer {
            blobs: self.clone(),
            path,
            buffer: Vec::new(),
            upload: None,
            written: 0,
            done: false,
        }
    }

    pub fn open_blob(&self, id: ObjectId) -> io::Result<S3Reader> {
        self.reader_at(&self.path_of(id))
    }

    fn reader_at(&self, path: &ObjectPath) -> io::Result<S3Reader> {
        let result = self
            .block_on(self.store.get(path))
            .map_err(|err| self.io_error(err))?;
        Ok(S3Reader {
            blobs: self.clone(),
            stream: result.into_stream(),
            current: Bytes::new(),
        })
    }

    pub fn contains(&self, id: ObjectId) -> io::Result<bool> {
        match self.block_on(self.store.head(&self.path_of(id))) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(err) => Err(self.io_error(err)),
        }
    }

    /// S3's DELETE is durable when it answers, and answers success for a missing key.
    pub fn delete(&self, id: ObjectId) -> io::Result<()> {
        match self.block_on(self.store.delete(&self.path_of(id))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.io_error(err)),
        }
    }

    /// Keys under `objects/` that are not object ids are someone else's and left alone.
    pub fn list(&self) -> io::Result<Vec<ObjectId>> {
        Ok(self
            .list_with_age()?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The blobs with the seconds since each was last written.
    fn list_with_age(&self) -> io::Result<Vec<(ObjectId, i64)>> {
        let objects = self.objects_prefix();
        let metas: Vec<_> = self
            .block_on(self.store.list(Some(&objects)).try_collect())
            .map_err(|err| self.io_error(err))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        Ok(metas
            .iter()
            .filter_map(|meta| {
                let mut parts = meta.location.prefix_match(&objects)?;
                let name = parts.next()?;
                if parts.next().is_some() {
                    return None;
                }
                let id = name.as_ref().parse().ok()?;
                Some((id, now - meta.last_modified.timestamp()))
            })
            .collect())
    }

    /// Removes orphans and the probes of checks interrupted by a crash.
    pub fn recover(
        &self,
        live: &HashSet<ObjectId>,
        settle: std::time::Duration,
    ) -> io::Result<Recovery> {
        let probes: Vec<_> = self
            .block_on(self.store.list(Some(&self.probes_prefix())).try_collect())
            .map_err(|err| self.io_error(err))?;
        for probe in probes {
            match self.block_on(self.store.delete(&probe.location)) {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(self.io_error(err)),
            }
        }
        let mut recovery = Recovery::default();
        let settle = i64::try_from(settle.as_secs()).unwrap_or(i64::MAX);
        for (id, age) in self.list_with_age()? {
            if !live.contains(&id) && age >= settle {
                self.delete(id)?;
                recovery.orphans_removed += 1;
            }
        }
        Ok(recovery)
    }
}

/// The kind of an object_store error. Listing wraps the HTTP status in a generic error whose
/// types are private to object_store, so the status and S3 error code are read from its text.
fn classify(err: &object_store::Error) -> io::ErrorKind {
    match err {
        object_store::Error::NotFound { .. } => return io::ErrorKind::NotFound,
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => return io::ErrorKind::PermissionDenied,
        object_store::Error::AlreadyExists { .. } => return io::ErrorKind::AlreadyExists,
        _ => {}
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if let Some(http) = current.downcast_ref::<object_store::client::HttpError>() {
            if matches!(
                http.kind(),
                object_store::client::HttpErrorKind::Connect
                    | object_store::client::HttpErrorKind::Timeout
            ) {
                return io::ErrorKind::NotConnected;
            }
        }
        source = current.source();
    }
    let text = err.to_string();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "status code: 401",
        "status code: 403",
        "AccessDenied",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
    ]) {
        io::ErrorKind::PermissionDenied
    } else if has(&["status code: 404", "NoSuchBucket"]) {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::Other
    }
}

/// A blob being written to S3.
pub struct S3Writer {
    blobs: S3Blobs,
    path: ObjectPath,
    /// The bytes before the first part is full; all of a blob smaller than a part.
    buffer: Vec<u8>,
    upload: Option<WriteMultipart>,
    written: u64,
    done: bool,
}

impl fmt::Debug for S3Writer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Writer")
            .field("path", &self.path.as_ref())
            .field("written", &self.written)
            .field("multipart", &self.upload.is_some())
            .finish()
    }
}

impl S3Writer {
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.upload.is_none() && self.buffer.len() + bytes.len() < PART_SIZE {
            self.buffer.extend_from_slice(bytes);
            self.written += bytes.len() as u64;
            return Ok(());
        }
        let blobs = self.blobs.clone();
        let first = std::mem::take(&mut self.buffer);
        let upload = &mut self.upload;
        let path = &self.path;
        blobs
            .block_on(async {
                if upload.is_none() {
                    let started = blobs.store.put_multipart(path).await?;
                    let mut writer = WriteMultipart::new_with_chunk_size(started, PART_SIZE);
                    // Parts are spawned onto the runtime by `write`: inside this block_on.
                    writer.write(&first);
                    *upload = Some(writer);
                }
                let writer = upload.as_mut().expect("started above");
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(bytes);
                Ok(())
            })
            .map_err(|err| blobs.io_error(err))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Completes the object; it becomes visible only now. Returns its size.
    pub fn commit(mut self) -> io::Result<u64> {
        let blobs = self.blobs.clone();
        let result = match self.upload.take() {
            Some(upload) => blobs.block_on(upload.finish()),
            None => {
                let payload = PutPayload::from(std::mem::take(&mut self.buffer));
                blobs.block_on(blobs.store.put(&self.path, payload))
            }
        };
        // `finish` aborts the upload itself when it fails.
        self.done = true;
        result.map_err(|err| blobs.io_error(err))?;
        Ok(self.written)
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let Some(upload) = self.upload.take() else {
            // Nothing was sent: the bytes were still in the buffer.
            return;
        };
        // Aborted on the store's runtime and waited for with a plain channel, because the
        // writer may be dropped anywhere, an async task included.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = self.path.clone();
        self.blobs.runtime.handle().spawn(async move {
            let mut upload = upload;
            // The parts in flight land first: a part the server is still writing when the
            // abort arrives could outlive the abort (seen with s3s-fs under load). A part that
            // failed changes nothing: the abort follows either way.
            let _ = upload.wait_for_capacity(0).await;
            let result = upload.abort().await;
            let _ = tx.send(result);
        });
        match rx.recv_timeout(ABORT_WAIT) {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(object = %path, error = %err, "could not abort a multipart upload; the bucket's lifecycle rule will")
            }
            Err(_) => {
                tracing::warn!(object = %path, "aborting a multipart upload timed out; the bucket's lifecycle rule will")
            }
        }
    }
}

/// A committed blob streamed from a GET: one chunk of the body in memory at a time.
pub struct S3Reader {
    blobs: S3Blobs,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
}

impl fmt::Debug for S3Reader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Reader")
            .field("store", &self.blobs.url)
            .finish()
    }
}

impl Read for S3Reader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.blobs.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(err)) => return Err(self.blobs.io_error(err)),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Objects by name under a bucket's prefix, for what is not a blob: backup generations.
/// The same client, multipart writer and streaming reader as the blob store.
#[derive(Clone, Debug)]
pub struct S3Objects {
    inner: S3Blobs,
}

impl S3Objects {
    /// Builds the client; sends no request. Uploads carry SHA-256 checksums, so that a
    /// bucket with Object Lock (and a default retention) accepts them.
    pub fn open(settings: &S3Settings) -> io::Result<S3Objects> {
        Ok(S3Objects {
            inner: S3Blobs::open_with(settings, true)?,
        })
    }

    /// `s3://bucket/prefix`.
    pub fn url(&self) -> &str {
        self.inner.url()
    }

    fn path(&self, name: &str) -> ObjectPath {
        ObjectPath::from(format!("{}{name}", self.inner.prefix))
    }

    /// A new object `name` (slash-separated below the prefix), visible once committed.
    pub fn create(&self, name: &str) -> S3Writer {
        self.inner.writer_at(self.path(name))
    }

    /// Streams the object `name`.
    pub fn read(&self, name: &str) -> io::Result<S3Reader> {
        self.inner.reader_at(&self.path(name))
    }

    /// The objects below `under` (a name prefix ending in `/`, or empty for all), as names
    /// relative to the prefix with their sizes.
    pub fn list(&self, under: &str) -> io::Result<Vec<(String, u64)>> {
        let root = self.path("");
        let below = self.path(under.trim_end_matches('/'));
        let metas: Vec<_> = self
            .inner
            .block_on(self.inner.store.list(Some(&below)).try_collect())
            .map_err(|err| self.inner.io_error(err))?;
        Ok(metas
            .into_iter()
            .filter_map(|meta| {
                let parts: Vec<String> = meta
                    .location
                    .prefix_match(&root)?
                    .map(|part| part.as_ref().to_owned())
                    .collect();
                Some((parts.join("/"), meta.size))
            })
            .collect())
    }

    /// The names of the "folders" directly below the prefix (`a` for `a/b`).
    pub fn folders(&self) -> io::Result<Vec<String>> {
        let root = self.path("");
        let listing = self
            .inner
            .block_on(self.inner.store.list_with_delimiter(Some(&root)))
            .map_err(|err| self.inner.io_error(err))?;
        Ok(listing
            .common_prefixes
            .iter()
            .filter_map(|folder| folder.filename().map(str::to_owned))
            .collect())
    }

    /// Deletes `name`; a missing object is not an error. On a bucket with object lock the
    /// locked version stays until its retention ends (S3 adds a delete marker).
    pub fn delete(&self, name: &str) -> io::Result<()> {
        match self
            .inner
            .block_on(self.inner.store.delete(&self.path(name)))
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(self.inner.io_error(err)),
        }
    }
}
