//! Backups of a relay: encrypted, one directory per generation, verified after writing,
//! rotated, and restorable into an empty data directory.
//!
//! A generation holds a consistent snapshot of the database (SQLite: `VACUUM INTO`;
//! PostgreSQL: `pg_dump` of a snapshot the relay exports — both carry only live rows, so the
//! keys of shredded files are in no backup taken after the shredding), the blobs of
//! every object that still has a key in that snapshot (files in flight), and the data
//! directory's files the caller names (configuration, CA, ledger and server keys). Every part
//! is sealed with the generation's own data key (chunked AES-256-GCM, as files at rest), and
//! that key is wrapped by the relay's KEK, bound to the generation id. The KEK itself is never
//! in a backup: restoring needs it, from its file or its HSM, kept apart.
//!
//! Layout of a generation `<target>/<id>/`:
//!
//! ```text
//! generation.json     plaintext: format, id, time, KEK id, wrapped key, counts
//! manifest.sealed     every entry with its plaintext SHA-256 and size
//! database.sealed     the snapshot (a SQLite file or a pg_dump archive)
//! files/<n>.sealed    the named files
//! blobs/<id>.sealed   the blobs of objects in flight
//! ```
//!
//! A generation is written under `.partial-<id>`, verified (every part opened, hashed and
//! compared with the manifest), and only then renamed into place; older generations beyond
//! the number to keep are removed afterwards. `verify` repeats the check at any time.
//! Layout-agnostic: the caller says which files to carry and where the database and blobs go.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use kenshin_core::ObjectId;
use kenshin_crypto::{DataKey, KeyProvider, OpeningReader, SealingWriter, Sha256, WrappedKey};
use kenshin_store::{BlobStore, Database};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod postgres;
mod target;

use target::PartWriter;
pub use target::Target;

const FORMAT: &str = "kenshin-relay-backup v1";
const GENERATION_FILE: &str = "generation.json";
const MANIFEST_FILE: &str = "manifest.sealed";
const DATABASE_FILE: &str = "database.sealed";

/// A generation's id: its UTC start time to the millisecond, e.g. `20261122T013000123Z`.
const GENERATION_ID: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year][month][day]T[hour][minute][second][subsecond digits:3]Z"
);

/// An unfinished generation younger than this may still be being written (a large relay's
/// backup takes hours; another node may run one); older ones are removed.
const ABANDONED_AFTER: time::Duration = time::Duration::days(1);

/// When the generation `id` was started, if `id` is one.
fn started_at(id: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(id, GENERATION_ID)
        .ok()
        .map(time::PrimitiveDateTime::assume_utc)
}

/// Generations kept unless told otherwise (the guideline asks for several; a month of daily
/// backups).
pub const DEFAULT_KEEP: usize = 30;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blobs at {location}: {source}")]
    Blobs {
        location: String,
        #[source]
        source: io::Error,
    },
    #[error("the backup key cannot be unwrapped with this KEK (another relay's backup, or the wrong key file)")]
    Key,
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    #[error(transparent)]
    Store(#[from] kenshin_store::StoreError),
}

fn blobs_at(blobs: &BlobStore) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Blobs {
        location: blobs.location(),
        source,
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file of the data directory to carry, under its path relative to the data directory.
#[derive(Clone, Debug)]
pub struct FileSource {
    pub name: String,
    pub path: PathBuf,
}

/// What to back up.
pub struct Source<'a> {
    pub db: &'a Database,
    /// The URL `db` was opened with when it is PostgreSQL (its owner's, for `pg_dump`);
    /// empty for SQLite.
    pub database_url: String,
    pub blobs: &'a BlobStore,
    /// A private directory (inside the data directory) for the plaintext snapshot while it
    /// is sealed; it never goes near the backup target unsealed.
    pub scratch: PathBuf,
    pub files: Vec<FileSource>,
}

/// The plaintext description of a generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Generation {
    pub format: String,
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub kek_id: String,
    /// What `database.sealed` holds.
    #[serde(default)]
    pub database: DatabaseKind,
    /// The generation's data key, wrapped by the KEK and bound to `backup:<id>` (base64).
    pub wrapped_key: String,
    pub files: usize,
    pub blobs: usize,
    /// Sealed bytes of the whole generation.
    pub bytes: u64,
}

/// The database engine a generation was taken from, and so the form of its database part:
/// a SQLite file, or a `pg_dump` archive (custom format).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    #[default]
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    name: String,
    #[serde(default)]
    mode: u32,
    sha256: String,
    size: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Manifest {
    id: String,
    database: Entry,
    files: Vec<Entry>,
    /// Entry names are the object ids.
    blobs: Vec<Entry>,
    /// Objects live in the snapshot whose blob vanished before it was copied (shredded in
    /// the meantime): restored as they were, their content is gone.
    #[serde(default)]
    missing_blobs: Vec<String>,
}

/// What a verification found.
#[derive(Clone, Debug, Serialize)]
pub struct Verified {
    pub id: String,
    pub files: usize,
    pub blobs: usize,
    pub bytes: u64,
    pub missing_blobs: Vec<String>,
}

fn generation_key(generation: &Generation, keys: &dyn KeyProvider) -> Result<DataKey, BackupError> {
    let wrapped = base64::engine::general_purpose::STANDARD
        .decode(&generation.wrapped_key)
        .map_err(|_| BackupError::Damaged("generation.json: wrapped key".into()))?;
    keys.unwrap(
        &WrappedKey::from_bytes(wrapped),
        format!("backup:{}", generation.id).as_bytes(),
    )
    .map_err(|_| BackupError::Key)
}

/// Seals `reader` into the part `part`; returns the plaintext's SHA-256 and size, and the
/// sealed size.
fn seal_into(
    key: &DataKey,
    reader: &mut dyn Read,
    part: PartWriter,
) -> Result<(String, u64, u64), BackupError> {
    let path = part.path().to_path_buf();
    let mut writer = SealingWriter::new(key, BufWriter::with_capacity(256 * 1024, part))
        .map_err(|e| BackupError::Invalid(e.to_string()))?;
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buffer).map_err(io_at(&path))?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        writer.write_all(&buffer[..n]).map_err(io_at(&path))?;
        size += n as u64;
    }
    let part = writer
        .finish()
        .map_err(io_at(&path))?
        .into_inner()
        .map_err(|e| io_at(&path)(e.into_error()))?;
    let sealed = part.finish()?;
    Ok((hash.finish_hex(), size, sealed))
}

/// Seals one part and describes it for the manifest; returns the sealed size too.
fn seal_entry(
    key: &DataKey,
    reader: &mut dyn Read,
    part: PartWriter,
    name: &str,
    mode: u32,
) -> Result<(Entry, u64), BackupError> {
    let (sha256, size, sealed) = seal_into(key, reader, part)?;
    Ok((
        Entry {
            name: name.to_owned(),
            mode,
            sha256,
            size,
        },
        sealed,
    ))
}

/// Opens a sealed part and streams its plaintext into `sink`; returns SHA-256 and size.
fn open_from(
    key: &DataKey,
    sealed: Box<dyn Read + Send>,
    path: &Path,
    sink: &mut dyn Write,
) -> Result<(String, u64), BackupError> {
    let mut reader = OpeningReader::new(key, sealed);
    let mut hash = Sha256::new();
    let mut size = 0u64;
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buffer).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                BackupError::Damaged(format!("{}: {e}", path.display()))
            } else {
                io_at(path)(e)
            }
        })?;
        if n == 0 {
            break;
        }
        hash.update(&buffer[..n]);
        sink.write_all(&buffer[..n]).map_err(io_at(path))?;
        size += n as u64;
    }
    Ok((hash.finish_hex(), size))
}

/// Opens the part `folder/name` of `target` into `sink`.
fn open_part(
    key: &DataKey,
    target: &Target,
    folder: &str,
    name: &str,
    sink: &mut dyn Write,
) -> Result<(String, u64), BackupError> {
    let reader = target.reader(folder, name)?;
    open_from(
        key,
        reader,
        &target.describe(&format!("{folder}/{name}")),
        sink,
    )
}

/// Runs target work (blocking I/O, S3 requests on the store's own runtime) off the async
/// threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Invalid(e.to_string()))?
}

/// Writes a new generation, verifies it, puts it in place and keeps the newest `keep`.
pub async fn create(
    source: Source<'_>,
    target: &Target,
    keys: Arc<dyn KeyProvider>,
    keep: usize,
) -> Result<Generation, BackupError> {
    if keep == 0 {
        return Err(BackupError::Invalid("keep at least one generation".into()));
    }
    let now = OffsetDateTime::now_utc();
    let id = now
        .format(GENERATION_ID)
        .map_err(|e| BackupError::Invalid(e.to_string()))?;
    let folder = target.staging(&id);
    {
        let (target, folder) = (target.clone(), folder.clone());
        blocking(move || {
            // What an interrupted run left behind goes first — only once it is old enough
            // not to be another node's backup still being written.
            for abandoned in target.abandoned(now - ABANDONED_AFTER)? {
                target.remove(&abandoned)?;
            }
            target.prepare(&folder)
        })
        .await?;
    }
    let written = write_generation(&source, target, &folder, &id, now, &*keys).await;
    let result = {
        let (target, folder, id) = (target.clone(), folder.clone(), id.clone());
        blocking(move || {
            let generation = written?;
            // Verified before it counts as a backup.
            verify_parts(&target, &folder, &generation, &*keys)?;
            let json = serde_json::to_vec_pretty(&generation)
                .map_err(|e| BackupError::Invalid(e.to_string()))?;
            let mut part = target.writer(&folder, GENERATION_FILE)?;
            part.write_all(&json).map_err(io_at(part.path()))?;
            part.finish()?;
            target.publish(&folder, &id)?;
            Ok(generation)
        })
        .await
    };
    let generation = match result {
        Ok(generation) => generation,
        Err(err) => {
            let (target, folder) = (target.clone(), folder.clone());
            let _ = blocking(move || target.remove(&folder)).await;
            return Err(err);
        }
    };
    let target = target.clone();
    blocking(move || {
        let all = target.generations()?;
        if all.len() > keep {
            for old in &all[..all.len() - keep] {
                target.remove(&old.id)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(generation)
}

async fn write_generation(
    source: &Source<'_>,
    target: &Target,
    folder: &str,
    id: &str,
    now: OffsetDateTime,
    keys: &dyn KeyProvider,
) -> Result<Generation, BackupError> {
    let key = Arc::new(DataKey::generate().map_err(|e| BackupError::Invalid(e.to_string()))?);
    let wrapped = keys
        .wrap(&key, format!("backup:{id}").as_bytes())
        .map_err(|e| BackupError::Invalid(e.to_string()))?;

    let (database_kind, (database_entry, database_bytes), live) = match source.db.backend() {
        kenshin_store::Backend::Sqlite => {
            let (entry, live) = sqlite_snapshot(source, target, folder, id, &key).await?;
            (DatabaseKind::Sqlite, entry, live)
        }
        kenshin_store::Backend::Postgres => {
            let snapshot = source.db.export_snapshot().await?;
            let dumped = {
                let key = Arc::clone(&key);
                let url = source.database_url.clone();
                let name = snapshot.id.clone();
                let (target, folder) = (target.clone(), folder.to_owned());
                blocking(move || {
                    let part = target.writer(&folder, DATABASE_FILE)?;
                    postgres::dump(&url, &name, &key, part)
                })
                .await
            };
            let live = snapshot.live.clone();
            snapshot.release().await?;
            (DatabaseKind::Postgres, dumped?, live)
        }
    };

    let files = source.files.clone();
    let blobs = source.blobs.clone();
    let key_for_parts = Arc::clone(&key);
    let (target_owned, folder_owned) = (target.clone(), folder.to_owned());
    let (file_entries, blob_entries, missing, parts_bytes) = blocking(move || {
        let (target, folder) = (target_owned, folder_owned);
        let mut bytes = 0u64;
        let mut file_entries = Vec::new();
        for (n, file) in files.iter().enumerate() {
            let meta = fs::metadata(&file.path).map_err(io_at(&file.path))?;
            let mut reader = File::open(&file.path).map_err(io_at(&file.path))?;
            let (entry, sealed) = seal_entry(
                &key_for_parts,
                &mut reader,
                target.writer(&folder, &format!("files/{n}.sealed"))?,
                &file.name,
                meta.permissions().mode() & 0o777,
            )?;
            bytes += sealed;
            file_entries.push(entry);
        }
        let mut ids: Vec<ObjectId> = live.into_iter().collect();
        ids.sort_by_key(|id| id.to_string());
        let mut blob_entries = Vec::new();
        let mut missing = Vec::new();
        for id in ids {
            match blobs.open_blob(id) {
                Ok(mut reader) => {
                    let (entry, sealed) = seal_entry(
                        &key_for_parts,
                        &mut reader,
                        target.writer(&folder, &format!("blobs/{id}.sealed"))?,
                        &id.to_string(),
                        0o600,
                    )?;
                    bytes += sealed;
                    blob_entries.push(entry);
                }
                Err(err) if err.kind() == io::ErrorKind::NotFound => missing.push(id.to_string()),
                Err(err) => return Err(blobs_at(&blobs)(err)),
            }
        }
        Ok((file_entries, blob_entries, missing, bytes))
    })
    .await?;

    let manifest = Manifest {
        id: id.to_owned(),
        database: database_entry,
        files: file_entries,
        blobs: blob_entries,
        missing_blobs: missing,
    };
    let json = serde_json::to_vec(&manifest).map_err(|e| BackupError::Invalid(e.to_string()))?;
    let manifest_bytes = {
        let key = Arc::clone(&key);
        let (target, folder) = (target.clone(), folder.to_owned());
        blocking(move || {
            let part = target.writer(&folder, MANIFEST_FILE)?;
            Ok(seal_into(&key, &mut &json[..], part)?.2)
        })
        .await?
    };
    Ok(Generation {
        format: FORMAT.into(),
        id: id.to_owned(),
        created_at: now,
        kek_id: keys.kek_id().to_owned(),
        database: database_kind,
        wrapped_key: base64::engine::general_purpose::STANDARD.encode(wrapped.as_bytes()),
        files: manifest.files.len(),
        blobs: manifest.blobs.len(),
        bytes: database_bytes + parts_bytes + manifest_bytes,
    })
}

/// SQLite: a consistent copy (`VACUUM INTO`), plaintext only inside the (private) data
/// directory, sealed, removed; and the objects with a key in that copy.
async fn sqlite_snapshot(
    source: &Source<'_>,
    target: &Target,
    folder: &str,
    id: &str,
    key: &Arc<DataKey>,
) -> Result<((Entry, u64), HashSet<ObjectId>), BackupError> {
    fs::create_dir_all(&source.scratch).map_err(io_at(&source.scratch))?;
    fs::set_permissions(&source.scratch, fs::Permissions::from_mode(0o700))
        .map_err(io_at(&source.scratch))?;
    let snapshot = source.scratch.join(format!("snapshot-{id}.db"));
    let _ = fs::remove_file(&snapshot);
    let live: HashSet<ObjectId> = source.db.snapshot_to(&snapshot).await?;
    let sealed = {
        let key = Arc::clone(key);
        let snapshot = snapshot.clone();
        let (target, folder) = (target.clone(), folder.to_owned());
        blocking(move || {
            let mut file = File::open(&snapshot).map_err(io_at(&snapshot))?;
            let part = target.writer(&folder, DATABASE_FILE)?;
            seal_entry(&key, &mut file, part, "database", 0o600)
        })
        .await
    };
    let _ = fs::remove_file(&snapshot);
    Ok((sealed?, live))
}

fn read_manifest(target: &Target, folder: &str, key: &DataKey) -> Result<Manifest, BackupError> {
    let mut json = Vec::new();
    open_part(key, target, folder, MANIFEST_FILE, &mut json)?;
    serde_json::from_slice(&json).map_err(|e| BackupError::Damaged(format!("manifest: {e}")))
}

fn check(entry: &Entry, found: (String, u64), what: &str) -> Result<(), BackupError> {
    if found.0 != entry.sha256 || found.1 != entry.size {
        return Err(BackupError::Damaged(format!(
            "{what} {} does not match the manifest",
            entry.name
        )));
    }
    Ok(())
}

fn verify_parts(
    target: &Target,
    folder: &str,
    generation: &Generation,
    keys: &dyn KeyProvider,
) -> Result<Verified, BackupError> {
    let key = generation_key(generation, keys)?;
    let manifest = read_manifest(target, folder, &key)?;
    if manifest.id != generation.id {
        return Err(BackupError::Damaged(
            "the manifest names another generation".into(),
        ));
    }
    let sink = &mut io::sink();
    check(
        &manifest.database,
        open_part(&key, target, folder, DATABASE_FILE, sink)?,
        "database",
    )?;
    for (n, entry) in manifest.files.iter().enumerate() {
        let found = open_part(&key, target, folder, &format!("files/{n}.sealed"), sink)?;
        check(entry, found, "file")?;
    }
    for entry in &manifest.blobs {
        let found = open_part(
            &key,
            target,
            folder,
            &format!("blobs/{}.sealed", entry.name),
            sink,
        )?;
        check(entry, found, "blob")?;
    }
    // Nothing more in the generation than the manifest names.
    if target.count(folder, "blobs")? != manifest.blobs.len()
        || target.count(folder, "files")? != manifest.files.len()
    {
        return Err(BackupError::Damaged(
            "the generation holds parts its manifest does not name".into(),
        ));
    }
    Ok(Verified {
        id: manifest.id,
        files: manifest.files.len(),
        blobs: manifest.blobs.len(),
        bytes: generation.bytes,
        missing_blobs: manifest.missing_blobs,
    })
}

/// Opens every part of a generation, checks it against the manifest, and reports.
pub fn verify(
    target: &Target,
    id: Option<&str>,
    keys: &dyn KeyProvider,
) -> Result<Verified, BackupError> {
    let generation = target.generation(id)?;
    verify_parts(target, &generation.id, &generation, keys)
}

/// Opens the blob store a restore writes into, given the new data directory once the named
/// files (its configuration among them) are in place.
pub type OpenBlobs = Box<dyn Fn(&Path) -> Result<BlobStore, BackupError> + Send + Sync>;

/// Where a restore puts the database: a SQLite file inside the new data directory (a
/// relative name as in the live layout), or an empty PostgreSQL database (its URL, prepared
/// with `kenshin_store::prepare_postgres_restore`).
pub enum RestoreDatabase {
    File(String),
    Postgres(String),
}

/// Where a restore writes: the new data directory, the database, and the blob store, which
/// must hold no blobs yet.
pub struct RestoreInto {
    pub root: PathBuf,
    pub database: RestoreDatabase,
    pub blobs: OpenBlobs,
}

/// Restores a generation into an empty (or absent) directory. Every part is checked against
/// the manifest while it is written; on any error the partly restored directory is removed.
pub fn restore(
    target: &Target,
    id: Option<&str>,
    keys: &dyn KeyProvider,
    into: &RestoreInto,
) -> Result<Verified, BackupError> {
    let generation = target.generation(id)?;
    let dir = generation.id.as_str();
    if into.root.exists()
        && fs::read_dir(&into.root)
            .map_err(io_at(&into.root))?
            .next()
            .is_some()
    {
        return Err(BackupError::Invalid(format!(
            "{} is not empty: restore only into an empty directory",
            into.root.display()
        )));
    }
    match (&into.database, generation.database) {
        (RestoreDatabase::File(_), DatabaseKind::Sqlite)
        | (RestoreDatabase::Postgres(_), DatabaseKind::Postgres) => {}
        (RestoreDatabase::File(_), DatabaseKind::Postgres) => {
            return Err(BackupError::Invalid(format!(
                "generation {} holds a PostgreSQL database: name an empty database to restore it into",
                generation.id
            )))
        }
        (RestoreDatabase::Postgres(_), DatabaseKind::Sqlite) => {
            return Err(BackupError::Invalid(format!(
                "generation {} holds a SQLite database: restore it without a database URL",
                generation.id
            )))
        }
    }
    let key = generation_key(&generation, keys)?;
    let manifest = read_manifest(target, dir, &key)?;
    // Blobs written so far, removed again if the restore fails: a bucket is not inside the
    // directory that is removed.
    let mut written: Option<(BlobStore, Vec<ObjectId>)> = None;
    let result = (|| {
        fs::create_dir_all(&into.root).map_err(io_at(&into.root))?;
        fs::set_permissions(&into.root, fs::Permissions::from_mode(0o700))
            .map_err(io_at(&into.root))?;
        let write_file = |name: &str, mode: u32, sealed: &str, entry: &Entry, what: &str| {
            let path = into.root.join(name);
            if Path::new(name)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(BackupError::Damaged(format!("unsafe path {name}")));
            }
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).map_err(io_at(parent))?;
                fs::set_permissions(parent, fs::Permissions::from_mode(0o700))
                    .map_err(io_at(parent))?;
            }
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
                .map_err(io_at(&path))?;
            let mut out = BufWriter::new(file);
            let found = open_part(&key, target, dir, sealed, &mut out)?;
            let file = out.into_inner().map_err(|e| io_at(&path)(e.into_error()))?;
            file.sync_all().map_err(io_at(&path))?;
            check(entry, found, what)
        };
        for (n, entry) in manifest.files.iter().enumerate() {
            // Owner-only whatever the backup recorded (older relays wrote some files 0644).
            let mode = if entry.mode == 0 {
                0o600
            } else {
                entry.mode & 0o700
            };
            write_file(
                &entry.name,
                mode,
                &format!("files/{n}.sealed"),
                entry,
                "file",
            )?;
        }
        let blobs = (into.blobs)(&into.root)?;
        blobs.check().map_err(blobs_at(&blobs))?;
        // A relay started on a store holding other blobs would delete them as orphans.
        let present = blobs.list().map_err(blobs_at(&blobs))?.len();
        if present > 0 {
            return Err(BackupError::Invalid(format!(
                "the blob store {} already holds {present} blobs: restore only into an empty one",
                blobs.location()
            )));
        }
        let (blobs, restored) = written.insert((blobs, Vec::new()));
        for entry in &manifest.blobs {
            let id: ObjectId = entry
                .name
                .parse()
                .map_err(|_| BackupError::Damaged(format!("blob name {}", entry.name)))?;
            let mut writer = blobs.create(id).map_err(blobs_at(blobs))?;
            let sealed = format!("blobs/{}.sealed", entry.name);
            let found = open_part(&key, target, dir, &sealed, &mut BlobSink(&mut writer))?;
            check(entry, found, "blob")?;
            writer.commit().map_err(blobs_at(blobs))?;
            restored.push(id);
        }
        // The database last: a PostgreSQL database is outside the directory removed on
        // failure, and its restore is one transaction that nothing can fail after.
        let sealed = DATABASE_FILE;
        match &into.database {
            RestoreDatabase::File(name) => {
                write_file(name, 0o600, sealed, &manifest.database, "database")
            }
            RestoreDatabase::Postgres(url) => postgres::restore(
                url,
                &key,
                target.reader(dir, sealed)?,
                &target.describe(&format!("{dir}/{sealed}")),
                &manifest.database,
            ),
        }
    })();
    if let Err(err) = result {
        if let Some((blobs, restored)) = written {
            for id in restored {
                let _ = blobs.delete(id);
            }
        }
        let _ = fs::remove_dir_all(&into.root);
        return Err(err);
    }
    Ok(Verified {
        id: manifest.id,
        files: manifest.files.len(),
        blobs: manifest.blobs.len(),
        bytes: generation.bytes,
        missing_blobs: manifest.missing_blobs,
    })
}

/// `io::Write` over a blob being written.
struct BlobSink<'a>(&'a mut kenshin_store::BlobWriter);

impl Write for BlobSink<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
