//! Opaque, immutable blobs, in a local directory (the default) or an S3-compatible bucket.
//!
//! Both backends keep the same promise: a blob becomes visible only once complete (a rename
//! after fsync locally, the completion of the upload on S3), a writer dropped without
//! [`BlobWriter::commit`] leaves nothing visible behind, and [`BlobStore::recover`] removes at
//! start-up the committed blobs that no live database row names.
//!
//! The API is synchronous on purpose: callers run it on a blocking thread next to the
//! encryption work, so one thread streams a file without hopping between executors per chunk.
//! The S3 backend drives its requests on a small runtime of its own, so it must not be called
//! from an async task either.

mod local;
mod location;
mod s3;

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use kenshin_core::ObjectId;

pub use location::{BlobLocation, S3Settings};
pub use s3::{S3Objects, S3Reader, S3Writer};

/// What start-up recovery removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Partial uploads found in the local `tmp/` (S3 leaves incomplete multipart uploads to
    /// the bucket's lifecycle rule: they are never visible as objects).
    pub partial_removed: usize,
    /// Committed blobs that no live object refers to (a crash between commit and database
    /// row, or between key destruction and blob deletion).
    pub orphans_removed: usize,
}

/// Where sealed blobs live. Cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobStore {
    backend: Backend,
}

#[derive(Clone, Debug)]
enum Backend {
    Local(local::LocalBlobs),
    S3(s3::S3Blobs),
}

impl BlobStore {
    /// Opens a local store, creating its directories (mode 0700) if needed.
    pub fn open(root: &Path) -> io::Result<BlobStore> {
        Ok(BlobStore {
            backend: Backend::Local(local::LocalBlobs::open(root)?),
        })
    }

    /// Opens the store at a location. For S3 this sends no request: call [`check`](Self::check)
    /// to find out whether the bucket can be used.
    pub fn open_at(location: &BlobLocation) -> io::Result<BlobStore> {
        match location {
            BlobLocation::Local(root) => Self::open(root),
            BlobLocation::S3(settings) => Ok(BlobStore {
                backend: Backend::S3(s3::S3Blobs::open(settings)?),
            }),
        }
    }

    /// A description for messages: the directory, or `s3://bucket/prefix` (never credentials).
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local(local) => local.root().display().to_string(),
            Backend::S3(s3) => s3.url().to_owned(),
        }
    }

    /// Whether blobs live in an S3 bucket.
    pub fn is_s3(&self) -> bool {
        matches!(self.backend, Backend::S3(_))
    }

    /// Makes sure the store can be used — for S3: the endpoint answers, the bucket exists, and
    /// the credentials may list, write and delete — with a message that names the cause.
    pub fn check(&self) -> io::Result<()> {
        match &self.backend {
            Backend::Local(_) => Ok(()),
            Backend::S3(s3) => s3.check(),
        }
    }

    /// Starts writing a new blob.
    pub fn create(&self, id: ObjectId) -> io::Result<BlobWriter> {
        Ok(BlobWriter {
            inner: match &self.backend {
                Backend::Local(local) => Writer::Local(local.create(id)?),
                Backend::S3(s3) => Writer::S3(id, s3.create(id)),
            },
        })
    }

    /// Opens a committed blob for reading; a missing blob is `NotFound`.
    pub fn open_blob(&self, id: ObjectId) -> io::Result<BlobReader> {
        Ok(BlobReader {
            inner: match &self.backend {
                Backend::Local(local) => Reader::Local(local.open_blob(id)?),
                Backend::S3(s3) => Reader::S3(Box::new(s3.open_blob(id)?)),
            },
        })
    }

    /// Whether a committed blob exists.
    pub fn contains(&self, id: ObjectId) -> io::Result<bool> {
        match &self.backend {
            Backend::Local(local) => Ok(local.contains(id)),
            Backend::S3(s3) => s3.contains(id),
        }
    }

    /// Deletes a committed blob durably. Deleting a missing blob is not an error: deletion is
    /// retried by recovery after a crash.
    pub fn delete(&self, id: ObjectId) -> io::Result<()> {
        match &self.backend {
            Backend::Local(local) => local.delete(id),
            Backend::S3(s3) => s3.delete(id),
        }
    }

    /// Ids of all committed blobs.
    pub fn list(&self) -> io::Result<Vec<ObjectId>> {
        match &self.backend {
            Backend::Local(local) => local.list(),
            Backend::S3(s3) => s3.list(),
        }
    }

    /// Number of uploads in progress (or leftovers before recovery) in the local `tmp/`. S3
    /// does not show incomplete multipart uploads as objects, so it answers `Unsupported`.
    pub fn partial_count(&self) -> io::Result<usize> {
        match &self.backend {
            Backend::Local(local) => local.partial_count(),
            Backend::S3(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "an S3 blob store does not count uploads in progress",
            )),
        }
    }

    /// Removes partial uploads and every committed blob not in `live`. Run at start-up, before
    /// any upload of this process can be in progress.
    pub fn recover(&self, live: &HashSet<ObjectId>) -> io::Result<Recovery> {
        self.recover_settled(live, std::time::Duration::ZERO)
    }

    /// [`recover`](Self::recover) for a store other nodes write to at the same time: only
    /// what was last written at least `settle` ago is removed, so another node's upload in
    /// progress, or its blob committed a moment before its database row, is left alone.
    pub fn recover_settled(
        &self,
        live: &HashSet<ObjectId>,
        settle: std::time::Duration,
    ) -> io::Result<Recovery> {
        match &self.backend {
            Backend::Local(local) => local.recover(live, settle),
            Backend::S3(s3) => s3.recover(live, settle),
        }
    }

    /// Free bytes for the health endpoint and metrics: the file system's for a local store,
    /// `None` for S3, where the bucket has no size to run out of.
    pub fn free_bytes(&self) -> io::Result<Option<u64>> {
        match &self.backend {
            Backend::Local(local) => local.free_bytes().map(Some),
            Backend::S3(_) => Ok(None),
        }
    }
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] removes the partial file
/// or aborts the multipart upload.
#[derive(Debug)]
pub struct BlobWriter {
    inner: Writer,
}

#[derive(Debug)]
enum Writer {
    Local(local::LocalWriter),
    S3(ObjectId, s3::S3Writer),
}

impl BlobWriter {
    pub fn id(&self) -> ObjectId {
        match &self.inner {
            Writer::Local(w) => w.id(),
            Writer::S3(id, _) => *id,
        }
    }

    pub fn written(&self) -> u64 {
        match &self.inner {
            Writer::Local(w) => w.written(),
            Writer::S3(_, w) => w.written(),
        }
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.inner {
            Writer::Local(w) => w.write_all(bytes),
            Writer::S3(_, w) => w.write_all(bytes),
        }
    }

    /// Makes the blob durable and visible. Returns its size.
    pub fn commit(self) -> io::Result<u64> {
        match self.inner {
            Writer::Local(w) => w.commit(),
            Writer::S3(_, w) => w.commit(),
        }
    }
}

/// A committed blob being read, as a stream of bytes (never the whole blob in memory).
#[derive(Debug)]
pub struct BlobReader {
    inner: Reader,
}

#[derive(Debug)]
enum Reader {
    Local(File),
    S3(Box<s3::S3Reader>),
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Reader::Local(file) => file.read(buf),
            Reader::S3(reader) => reader.read(buf),
        }
    }
}
