//! Where generations are kept: a directory apart from the data directory (another disk, a
//! mounted share), or a prefix of an S3-compatible bucket. A generation is a folder of parts;
//! it counts only once its `generation.json` is there.
//!
//! In a directory the folder is written as `.partial-<id>`, verified, and renamed. In a
//! bucket, where nothing can be renamed, the parts go straight to `<id>/` and
//! `generation.json` is written last, after the verification; a folder without it is an
//! interrupted write, removed by a later `create` once it is a day old (until then it may
//! be another node's backup in progress). Object lock is the bucket's: a bucket
//! created with Object Lock and a default retention locks every part as it is written, and
//! rotation then only adds delete markers — the locked versions stay until their retention
//! ends, whoever holds the relay's credentials.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use kenshin_store::{BlobLocation, S3Objects, S3Writer};

use time::OffsetDateTime;

use crate::{io_at, started_at, BackupError, Generation, FORMAT, GENERATION_FILE};

/// A backup target: a directory (created if missing, 0700) or `s3://BUCKET/PREFIX`.
#[derive(Clone)]
pub struct Target {
    place: Place,
}

#[derive(Clone)]
enum Place {
    Dir(PathBuf),
    Bucket(S3Objects),
}

impl Target {
    /// `s3://BUCKET[/PREFIX]` (endpoint, region and credentials from the `AWS_*` environment,
    /// as for the blob store), or a directory.
    pub fn open(to: &Path) -> Result<Target, BackupError> {
        let text = to.to_string_lossy();
        if text.starts_with("s3://") {
            let location = BlobLocation::from_url(&text, Path::new("."))
                .map_err(|e| BackupError::Invalid(e.replace("blob_url", "the backup target")))?;
            let BlobLocation::S3(settings) = location else {
                unreachable!("an s3:// URL is a bucket")
            };
            let objects = S3Objects::open(&settings).map_err(|source| BackupError::Io {
                path: to.to_path_buf(),
                source,
            })?;
            return Ok(Target {
                place: Place::Bucket(objects),
            });
        }
        fs::create_dir_all(to).map_err(io_at(to))?;
        fs::set_permissions(to, fs::Permissions::from_mode(0o700)).map_err(io_at(to))?;
        Ok(Target {
            place: Place::Dir(to.to_path_buf()),
        })
    }

    /// The directory, or `s3://bucket/prefix`.
    pub fn location(&self) -> String {
        match &self.place {
            Place::Dir(root) => root.display().to_string(),
            Place::Bucket(objects) => objects.url().to_owned(),
        }
    }

    /// The complete generations, oldest first.
    pub fn generations(&self) -> Result<Vec<Generation>, BackupError> {
        let folders = match &self.place {
            Place::Dir(root) => {
                let mut folders = Vec::new();
                for entry in fs::read_dir(root).map_err(io_at(root))? {
                    let entry = entry.map_err(io_at(root))?;
                    if entry.path().is_dir() {
                        folders.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
                folders
            }
            Place::Bucket(objects) => objects.folders().map_err(self.io_error(""))?,
        };
        let mut out = Vec::new();
        for folder in folders {
            if folder.starts_with('.') {
                continue;
            }
            let Some(generation) = self.read_generation(&folder)? else {
                continue;
            };
            if generation.format == FORMAT && generation.id == folder {
                out.push(generation);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    /// The generation `id`, or the latest.
    pub fn generation(&self, id: Option<&str>) -> Result<Generation, BackupError> {
        let all = self.generations()?;
        match id {
            Some(id) => all.into_iter().find(|g| g.id == id),
            None => all.into_iter().last(),
        }
        .ok_or_else(|| {
            BackupError::Invalid(match id {
                Some(id) => format!("no generation {id} in {}", self.location()),
                None => format!("no backup in {}", self.location()),
            })
        })
    }

    fn read_generation(&self, folder: &str) -> Result<Option<Generation>, BackupError> {
        let name = format!("{folder}/{GENERATION_FILE}");
        let mut text = Vec::new();
        let read = self.reader(folder, GENERATION_FILE).and_then(|mut reader| {
            reader
                .by_ref()
                .take(1024 * 1024)
                .read_to_end(&mut text)
                .map_err(self.io_error(&name))
        });
        match read {
            Ok(_) => {}
            Err(BackupError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok(None)
            }
            Err(err) => return Err(err),
        }
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| BackupError::Damaged(format!("{}: {e}", self.describe(&name).display())))
    }

    /// Where a new generation's parts are written before it counts.
    pub(crate) fn staging(&self, id: &str) -> String {
        match &self.place {
            Place::Dir(_) => format!(".partial-{id}"),
            Place::Bucket(_) => id.to_owned(),
        }
    }

    /// Makes a staging folder ready for its parts.
    pub(crate) fn prepare(&self, folder: &str) -> Result<(), BackupError> {
        if let Place::Dir(root) = &self.place {
            for sub in ["files", "blobs"] {
                let dir = root.join(folder).join(sub);
                fs::create_dir_all(&dir).map_err(io_at(&dir))?;
            }
        }
        Ok(())
    }

    /// Turns a verified staging folder (its `generation.json` written) into generation `id`.
    pub(crate) fn publish(&self, folder: &str, id: &str) -> Result<(), BackupError> {
        if let Place::Dir(root) = &self.place {
            let staged = root.join(folder);
            for sub in ["files", "blobs", ""] {
                sync_dir(&staged.join(sub))?;
            }
            let final_dir = root.join(id);
            fs::rename(&staged, &final_dir).map_err(io_at(&final_dir))?;
            sync_dir(root)?;
        }
        Ok(())
    }

    /// Removes a generation or an abandoned staging folder; `generation.json` first, so that
    /// a removal cut short never leaves something that looks complete.
    pub(crate) fn remove(&self, folder: &str) -> Result<(), BackupError> {
        match &self.place {
            Place::Dir(root) => {
                let dir = root.join(folder);
                match fs::remove_dir_all(&dir) {
                    Ok(()) => sync_dir(root),
                    Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(err) => Err(io_at(&dir)(err)),
                }
            }
            Place::Bucket(objects) => {
                let marker = format!("{folder}/{GENERATION_FILE}");
                objects.delete(&marker).map_err(self.io_error(&marker))?;
                let parts = objects
                    .list(&format!("{folder}/"))
                    .map_err(self.io_error(folder))?;
                for (name, _) in parts {
                    objects.delete(&name).map_err(self.io_error(&name))?;
                }
                Ok(())
            }
        }
    }

    /// Interrupted writes started before `before`: staging folders, and bucket folders
    /// without `generation.json`. Folders whose name is not a generation id are not ours.
    pub(crate) fn abandoned(&self, before: OffsetDateTime) -> Result<Vec<String>, BackupError> {
        let old = |id: &str| started_at(id).is_some_and(|at| at < before);
        let mut out = Vec::new();
        match &self.place {
            Place::Dir(root) => {
                for entry in fs::read_dir(root).map_err(io_at(root))? {
                    let name = entry.map_err(io_at(root))?.file_name();
                    let name = name.to_string_lossy();
                    if name.strip_prefix(".partial-").is_some_and(old) {
                        out.push(name.into_owned());
                    }
                }
            }
            Place::Bucket(objects) => {
                for folder in objects.folders().map_err(self.io_error(""))? {
                    if old(&folder) && self.read_generation(&folder)?.is_none() {
                        out.push(folder);
                    }
                }
            }
        }
        Ok(out)
    }

    /// A new part `folder/name` (e.g. `blobs/<id>.sealed`), private to its owner.
    pub(crate) fn writer(&self, folder: &str, name: &str) -> Result<PartWriter, BackupError> {
        let sink = match &self.place {
            Place::Dir(root) => {
                let path = root.join(folder).join(name);
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(io_at(&path))?;
                Sink::File(file)
            }
            Place::Bucket(objects) => {
                Sink::Bucket(Box::new(objects.create(&format!("{folder}/{name}"))))
            }
        };
        Ok(PartWriter {
            sink,
            path: self.describe(&format!("{folder}/{name}")),
            written: 0,
        })
    }

    /// Streams the part `folder/name`.
    pub(crate) fn reader(
        &self,
        folder: &str,
        name: &str,
    ) -> Result<Box<dyn Read + Send>, BackupError> {
        let full = format!("{folder}/{name}");
        match &self.place {
            Place::Dir(root) => {
                let path = root.join(&full);
                let file = File::open(&path).map_err(io_at(&path))?;
                Ok(Box::new(BufReader::with_capacity(256 * 1024, file)))
            }
            Place::Bucket(objects) => {
                Ok(Box::new(objects.read(&full).map_err(self.io_error(&full))?))
            }
        }
    }

    /// How many parts `folder/sub/` holds.
    pub(crate) fn count(&self, folder: &str, sub: &str) -> Result<usize, BackupError> {
        match &self.place {
            Place::Dir(root) => {
                let dir = root.join(folder).join(sub);
                Ok(fs::read_dir(&dir).map_err(io_at(&dir))?.count())
            }
            Place::Bucket(objects) => {
                let under = format!("{folder}/{sub}/");
                Ok(objects.list(&under).map_err(self.io_error(&under))?.len())
            }
        }
    }

    /// A part's place, for messages.
    pub(crate) fn describe(&self, name: &str) -> PathBuf {
        match &self.place {
            Place::Dir(root) => root.join(name),
            Place::Bucket(objects) => PathBuf::from(format!("{}/{name}", objects.url())),
        }
    }

    fn io_error<'a>(&'a self, name: &'a str) -> impl FnOnce(io::Error) -> BackupError + 'a {
        move |source| BackupError::Io {
            path: self.describe(name),
            source,
        }
    }
}

/// A part being written: a file (fsynced when finished) or an object (visible when
/// finished).
pub(crate) struct PartWriter {
    sink: Sink,
    path: PathBuf,
    written: u64,
}

enum Sink {
    File(File),
    Bucket(Box<S3Writer>),
}

impl PartWriter {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the part durable; returns its size.
    pub(crate) fn finish(self) -> Result<u64, BackupError> {
        match self.sink {
            Sink::File(file) => file.sync_all().map_err(io_at(&self.path))?,
            Sink::Bucket(writer) => {
                writer.commit().map_err(io_at(&self.path))?;
            }
        }
        Ok(self.written)
    }
}

impl Write for PartWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let n = match &mut self.sink {
            Sink::File(file) => file.write(bytes)?,
            Sink::Bucket(writer) => {
                writer.write_all(bytes)?;
                bytes.len()
            }
        };
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.sink {
            Sink::File(file) => file.flush(),
            Sink::Bucket(_) => Ok(()),
        }
    }
}

fn sync_dir(path: &Path) -> Result<(), BackupError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(io_at(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_interrupted_writes_of_ours_are_abandoned() {
        let dir = tempfile::tempdir().unwrap();
        let target = Target::open(dir.path()).unwrap();
        let now = OffsetDateTime::now_utc();
        let recent = now.format(crate::GENERATION_ID).unwrap();
        for name in [
            ".partial-20000101T000000000Z".to_owned(),
            format!(".partial-{recent}"),
            ".partial-not-a-generation".to_owned(),
            "20000101T000000000Z".to_owned(),
        ] {
            fs::create_dir_all(dir.path().join(name)).unwrap();
        }
        let found = target.abandoned(now - crate::ABANDONED_AFTER).unwrap();
        assert_eq!(found, vec![".partial-20000101T000000000Z".to_owned()]);
        assert_eq!(
            crate::started_at(&recent).map(|t| t.unix_timestamp()),
            Some(now.unix_timestamp())
        );
        assert!(crate::started_at("20261122T013000123").is_none());
    }
}
