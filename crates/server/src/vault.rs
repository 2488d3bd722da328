//! Encryption at rest: uploads stream into sealed blobs, blobs stream back out as plaintext.
//!
//! Each object gets a fresh data key, wrapped by the key provider and bound to the object id.
//! The plaintext exists only in memory, one chunk at a time, on a blocking thread that hashes,
//! seals and writes; the async side only moves `Bytes` through a bounded channel, so memory use
//! is fixed whatever the file size, and the network and the crypto run on different cores.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use kenshin_core::ObjectId;
use kenshin_crypto::{CryptoError, DataKey, KeyProvider, Opener, Sealer, Sha256, WrappedKey};
use kenshin_store::{BlobReader, BlobStore, BlobWriter, ObjectRecord};
use tokio::sync::mpsc;

/// Blobs are written in batches of about this size: large enough to make system calls rare,
/// small enough to keep memory flat.
const WRITE_BATCH: usize = 1024 * 1024;
/// Ciphertext read per step when opening a blob.
const READ_BATCH: usize = 256 * 1024;
/// Frames in flight between the network and the crypto thread.
const CHANNEL_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload did not complete: {0}")]
    Incomplete(String),
    #[error("integrity check failed: {0}")]
    Integrity(String),
    #[error("the object's key was destroyed")]
    Shredded,
    #[error("key provider: {0}")]
    Key(String),
    #[error("storage: {0}")]
    Io(#[from] std::io::Error),
}

impl From<CryptoError> for VaultError {
    fn from(err: CryptoError) -> VaultError {
        match err {
            CryptoError::Integrity(detail) => VaultError::Integrity(detail.to_string()),
            CryptoError::Io(io) => VaultError::Io(io),
            other => VaultError::Key(other.to_string()),
        }
    }
}

/// A durable, sealed blob, ready to be registered in the database.
#[derive(Clone, Debug)]
pub struct SealedObject {
    pub id: ObjectId,
    pub kek_id: String,
    pub wrapped_key: WrappedKey,
    pub plaintext_size: u64,
    pub plaintext_sha256: String,
    pub ciphertext_size: u64,
    /// Set when the object is an age file sealed to its receiver: the content inside it.
    pub sealed_content: Option<kenshin_seal::Content>,
}

impl SealedObject {
    /// The size and SHA-256 of the content the parties agree on (inside the age file when
    /// the object is sealed to its receiver).
    pub fn content_sha256(&self) -> &str {
        match &self.sealed_content {
            Some(content) => &content.sha256,
            None => &self.plaintext_sha256,
        }
    }

    /// The object's row for the store: its wrapped key, sizes and digest.
    pub fn new_object(&self) -> kenshin_store::NewObject {
        kenshin_store::NewObject {
            id: self.id,
            kek_id: self.kek_id.clone(),
            wrapped_key: self.wrapped_key.as_bytes().to_vec(),
            plaintext_size: self.plaintext_size,
            plaintext_sha256: self.plaintext_sha256.clone(),
            ciphertext_size: self.ciphertext_size,
            sealed_content: self
                .sealed_content
                .as_ref()
                .map(|c| kenshin_store::SealedContent {
                    size: c.size,
                    sha256: c.sha256.clone(),
                }),
        }
    }
}

#[derive(Clone)]
pub struct Vault {
    blobs: BlobStore,
    keys: Arc<dyn KeyProvider>,
}

enum Frame {
    Data(Bytes),
    End,
}

impl Vault {
    pub fn new(blobs: BlobStore, keys: Arc<dyn KeyProvider>) -> Vault {
        Vault { blobs, keys }
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// The key-encryption-key provider (also wraps people's TOTP secrets).
    pub fn keys(&self) -> &Arc<dyn KeyProvider> {
        &self.keys
    }

    /// Seals a stream of plaintext into a new durable blob. On any error — the stream failing
    /// (client gone), the limit exceeded, the disk full — the partial blob is removed and
    /// nothing is left behind.
    pub async fn seal_stream<S, E>(&self, body: S, limit: u64) -> Result<SealedObject, VaultError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.seal_stream_to(body, limit, None).await
    }

    /// As [`Vault::seal_stream`]; with `recipients`, the blob holds an age file to them
    /// (sealed while streaming, the per-object encryption underneath), and the object
    /// records the size and SHA-256 of the content inside it.
    pub async fn seal_stream_to<S, E>(
        &self,
        mut body: S,
        limit: u64,
        recipients: Option<Arc<kenshin_seal::Recipients>>,
    ) -> Result<SealedObject, VaultError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if let Some(recipients) = recipients {
            return self.seal_stream_age(body, limit, recipients).await;
        }
        let id = ObjectId::new();
        let key = DataKey::generate()?;
        let wrapped_key = self.keys.wrap(&key, id.to_string().as_bytes())?;
        let writer = self.blobs.create(id)?;
        let (tx, rx) = mpsc::channel::<Frame>(CHANNEL_DEPTH);
        // Hashing happens here, on the network task, and sealing and writing on the blocking
        // thread: the two heaviest steps run on different cores.
        let mut sha = Sha256::new();
        let worker = tokio::task::spawn_blocking(move || seal_worker(key, writer, rx));

        let outcome = forward(&mut body, &tx, limit, |frame| sha.update(frame)).await;
        drop(tx);
        let sealed = worker
            .await
            .map_err(|e| VaultError::Io(std::io::Error::other(e)))?;
        // A stream error wins over the worker's view (which only saw the channel close).
        outcome?;
        let (plaintext_size, ciphertext_size) = sealed?;
        Ok(SealedObject {
            id,
            kek_id: self.keys.kek_id().to_owned(),
            wrapped_key,
            plaintext_size,
            plaintext_sha256: sha.finish_hex(),
            ciphertext_size,
            sealed_content: None,
        })
    }

    async fn seal_stream_age<S, E>(
        &self,
        mut body: S,
        limit: u64,
        recipients: Arc<kenshin_seal::Recipients>,
    ) -> Result<SealedObject, VaultError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let (tx, mut rx) = mpsc::channel::<Frame>(CHANNEL_DEPTH);
        let vault = self.clone();
        // age and the per-object sealing both run on the blocking thread; the network task
        // only counts and forwards.
        // The content's SHA-256 is taken here, on the network task, and age and the per-object
        // sealing run on the blocking thread: the heavy steps use both cores, as unsealed
        // uploads do.
        let worker = tokio::task::spawn_blocking(move || -> Result<SealedObject, VaultError> {
            let object = vault.create_sealed()?;
            let mut out = DeliveryWriter::Age(Box::new(
                recipients
                    .seal_unhashed(object)
                    .map_err(|e| VaultError::Key(e.to_string()))?,
            ));
            loop {
                match rx.blocking_recv() {
                    Some(Frame::Data(bytes)) => std::io::Write::write_all(&mut out, &bytes)?,
                    Some(Frame::End) => break,
                    None => return Err(VaultError::Incomplete("upload aborted".into())),
                }
            }
            out.finish()
        });
        let mut sha = Sha256::new();
        let outcome = forward(&mut body, &tx, limit, |frame| sha.update(frame)).await;
        drop(tx);
        let sealed = worker
            .await
            .map_err(|e| VaultError::Io(std::io::Error::other(e)))?;
        outcome?;
        let mut sealed = sealed?;
        if let Some(content) = &mut sealed.sealed_content {
            content.sha256 = sha.finish_hex();
        }
        Ok(sealed)
    }

    /// Opens an object for reading. The first authenticated plaintext is awaited before this
    /// returns, so a blob that is missing, unreadable or tampered at its start fails here,
    /// before any response is committed; later failures end the stream with an error and no
    /// unauthenticated byte is ever yielded.
    pub async fn open_stream(
        &self,
        object: &ObjectRecord,
    ) -> Result<impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static, VaultError>
    {
        let wrapped = object.wrapped_key.clone().ok_or(VaultError::Shredded)?;
        let key = self.keys.unwrap(
            &WrappedKey::from_bytes(wrapped),
            object.id.to_string().as_bytes(),
        )?;
        let (tx, mut rx) = mpsc::channel::<Result<Bytes, VaultError>>(4);
        // Opened on the blocking thread too: on S3 opening is a request, and a missing blob
        // still fails before the first byte, as the first message.
        let (blobs, id) = (self.blobs.clone(), object.id);
        tokio::task::spawn_blocking(move || match blobs.open_blob(id) {
            Ok(blob) => open_worker(key, blob, tx),
            Err(err) => {
                let _ = tx.blocking_send(Err(err.into()));
            }
        });
        let first = match rx.recv().await {
            Some(Ok(bytes)) => Some(bytes),
            Some(Err(err)) => return Err(err),
            None => None,
        };
        let rest = futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| {
                (
                    item.map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e)),
                    rx,
                )
            })
        });
        Ok(futures::stream::iter(first.map(Ok)).chain(rest))
    }

    /// Deletes the blobs of objects whose keys were destroyed. Failures are logged, not
    /// returned: the key is already gone, so the content is unreadable either way, and
    /// start-up recovery deletes any blob left behind.
    pub async fn delete_blobs(&self, ids: Vec<ObjectId>) {
        if ids.is_empty() {
            return;
        }
        let blobs = self.blobs.clone();
        let result = tokio::task::spawn_blocking(move || {
            for id in ids {
                if let Err(err) = blobs.delete(id) {
                    tracing::warn!(object = %id, error = %err, "could not delete a shredded blob; recovery will retry");
                }
            }
        })
        .await;
        if let Err(err) = result {
            tracing::warn!(error = %err, "blob deletion task failed");
        }
    }
}

/// Moves an upload's frames to the sealing thread, counting them against `limit` and showing
/// each to `inspect` (hashing) on the way. The worker stopping early is not an error here: its
/// own error explains why.
async fn forward<S, E>(
    body: &mut S,
    tx: &mpsc::Sender<Frame>,
    limit: u64,
    mut inspect: impl FnMut(&Bytes),
) -> Result<(), VaultError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut received: u64 = 0;
    while let Some(frame) = body.next().await {
        let frame = frame.map_err(|e| VaultError::Incomplete(e.to_string()))?;
        received += frame.len() as u64;
        if received > limit {
            return Err(VaultError::TooLarge { limit });
        }
        inspect(&frame);
        if tx.send(Frame::Data(frame)).await.is_err() {
            return Ok(());
        }
    }
    let _ = tx.send(Frame::End).await;
    Ok(())
}

/// A new sealed object written synchronously (by the conversion worker): every byte is
/// hashed and sealed on its way to the blob store.
pub struct SealingObjectWriter {
    id: ObjectId,
    kek_id: String,
    wrapped_key: WrappedKey,
    sealer: Option<Sealer>,
    sha: Sha256,
    out: Vec<u8>,
    writer: Option<BlobWriter>,
}

impl std::io::Write for SealingObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let sealer = self
            .sealer
            .as_mut()
            .ok_or_else(|| std::io::Error::other("object already finished"))?;
        self.sha.update(buf);
        sealer
            .update(buf, &mut self.out)
            .map_err(std::io::Error::from)?;
        if self.out.len() >= WRITE_BATCH {
            let writer = self.writer.as_mut().expect("a live writer has its blob");
            writer.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SealingObjectWriter {
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// Seals the last chunk, makes the blob durable, and describes the object.
    pub fn finish(mut self) -> Result<SealedObject, VaultError> {
        let sealer = self.sealer.take().expect("finish runs once");
        let plaintext_size = sealer.plaintext_len();
        sealer.finish(&mut self.out)?;
        let mut writer = self.writer.take().expect("finish runs once");
        writer.write_all(&self.out)?;
        let ciphertext_size = writer.commit()?;
        Ok(SealedObject {
            id: self.id,
            kek_id: std::mem::take(&mut self.kek_id),
            wrapped_key: self.wrapped_key.clone(),
            plaintext_size,
            plaintext_sha256: std::mem::take(&mut self.sha).finish_hex(),
            ciphertext_size,
            sealed_content: None,
        })
    }
}

/// A delivery's file being written from synchronous code: sealed at rest, and, when its
/// receiver registered age recipients, an age file to them inside (the server keeps no
/// identity that opens it).
// The plain variant stays inline: it is the common case, written byte by byte; one delivery
// writer exists per output, so the size difference costs nothing that matters.
#[allow(clippy::large_enum_variant)]
pub enum DeliveryWriter {
    Plain(SealingObjectWriter),
    Age(Box<kenshin_seal::SealWriter<SealingObjectWriter>>),
}

impl std::io::Write for DeliveryWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            DeliveryWriter::Plain(w) => w.write(buf),
            DeliveryWriter::Age(w) => w.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            DeliveryWriter::Plain(w) => w.write_all(buf),
            DeliveryWriter::Age(w) => w.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl DeliveryWriter {
    /// Completes the age file (when sealed) and the blob; describes the object.
    pub fn finish(self) -> Result<SealedObject, VaultError> {
        match self {
            DeliveryWriter::Plain(w) => w.finish(),
            DeliveryWriter::Age(w) => {
                let (inner, content) = w.finish()?;
                let mut object = inner.finish()?;
                object.sealed_content = Some(content);
                Ok(object)
            }
        }
    }
}

impl Vault {
    /// Starts a new object written from synchronous code. Dropping the writer without
    /// `finish` removes the partial blob.
    pub fn create_sealed(&self) -> Result<SealingObjectWriter, VaultError> {
        let id = ObjectId::new();
        let key = DataKey::generate()?;
        let wrapped_key = self.keys.wrap(&key, id.to_string().as_bytes())?;
        let writer = self.blobs.create(id)?;
        let mut out = Vec::with_capacity(WRITE_BATCH + 128 * 1024);
        let sealer = Sealer::start(&key, &mut out)?;
        Ok(SealingObjectWriter {
            id,
            kek_id: self.keys.kek_id().to_owned(),
            wrapped_key,
            sealer: Some(sealer),
            sha: Sha256::new(),
            out,
            writer: Some(writer),
        })
    }

    /// Starts a delivery's file: sealed to `recipients` when the receiver has any.
    pub fn create_delivery(
        &self,
        recipients: Option<&kenshin_seal::Recipients>,
    ) -> Result<DeliveryWriter, VaultError> {
        let object = self.create_sealed()?;
        Ok(match recipients {
            None => DeliveryWriter::Plain(object),
            Some(recipients) => DeliveryWriter::Age(Box::new(
                recipients
                    .seal(object)
                    .map_err(|e| VaultError::Key(e.to_string()))?,
            )),
        })
    }

    /// Opens an object for synchronous reading; a chunk that fails authentication is an
    /// `InvalidData` error, never unauthenticated bytes.
    pub fn open_reader(
        &self,
        object: &ObjectRecord,
    ) -> Result<kenshin_crypto::OpeningReader<BlobReader>, VaultError> {
        let wrapped = object.wrapped_key.clone().ok_or(VaultError::Shredded)?;
        let key = self.keys.unwrap(
            &WrappedKey::from_bytes(wrapped),
            object.id.to_string().as_bytes(),
        )?;
        let file = self.blobs.open_blob(object.id)?;
        Ok(kenshin_crypto::OpeningReader::new(&key, file))
    }
}

fn seal_worker(
    key: DataKey,
    mut writer: BlobWriter,
    mut rx: mpsc::Receiver<Frame>,
) -> Result<(u64, u64), VaultError> {
    let mut out = Vec::with_capacity(WRITE_BATCH + 128 * 1024);
    let mut sealer = Sealer::start(&key, &mut out)?;
    loop {
        match rx.blocking_recv() {
            Some(Frame::Data(bytes)) => {
                sealer.update(&bytes, &mut out)?;
                if out.len() >= WRITE_BATCH {
                    writer.write_all(&out)?;
                    out.clear();
                }
            }
            Some(Frame::End) => break,
            // The sender went away without End: the upload failed; dropping the writer
            // removes the partial blob.
            None => return Err(VaultError::Incomplete("upload aborted".into())),
        }
    }
    let plaintext_size = sealer.plaintext_len();
    sealer.finish(&mut out)?;
    writer.write_all(&out)?;
    let ciphertext_size = writer.commit()?;
    Ok((plaintext_size, ciphertext_size))
}

fn open_worker(key: DataKey, mut file: BlobReader, tx: mpsc::Sender<Result<Bytes, VaultError>>) {
    let mut opener = Opener::new(&key);
    let mut input = vec![0u8; READ_BATCH];
    let mut out = Vec::with_capacity(READ_BATCH + 64 * 1024);
    let send = |out: &mut Vec<u8>| {
        let chunk = Bytes::from(std::mem::replace(
            out,
            Vec::with_capacity(READ_BATCH + 64 * 1024),
        ));
        tx.blocking_send(Ok(chunk)).is_ok()
    };
    loop {
        let n = match file.read(&mut input) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => {
                let _ = tx.blocking_send(Err(err.into()));
                return;
            }
        };
        if let Err(err) = opener.update(&input[..n], &mut out) {
            let _ = tx.blocking_send(Err(err.into()));
            return;
        }
        // Stop early when the receiver hung up (client gone).
        if !out.is_empty() && !send(&mut out) {
            return;
        }
    }
    // End of the blob: the final chunk must authenticate as final, or the blob was truncated.
    match opener.finish(&mut out) {
        Ok(()) => {
            send(&mut out);
        }
        Err(err) => {
            let _ = tx.blocking_send(Err(err.into()));
        }
    }
}
