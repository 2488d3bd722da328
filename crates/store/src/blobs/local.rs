//! The local backend: a directory of blob files.
//!
//! Layout under the root: `tmp/` for blobs being written, `objects/<xx>/<object id>` for
//! committed ones (`xx` = the id's last two hex digits, to keep directories small).
//!
//! A blob becomes visible only by a rename after its data and the directory entry are fsynced,
//! so after a crash a blob is either complete or absent from `objects/`; `tmp/` is emptied at
//! start-up. The database refers to a blob only after it is committed, so the only possible
//! leftovers are committed blobs that no row names — [`LocalBlobs::recover`] removes those.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kenshin_core::ObjectId;

use super::Recovery;

#[derive(Clone, Debug)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Opens the store, creating its directories (mode 0700) if needed.
    pub fn open(root: &Path) -> io::Result<LocalBlobs> {
        for dir in [root.to_path_buf(), root.join("tmp"), root.join("objects")] {
            if !dir.exists() {
                fs::create_dir_all(&dir)?;
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))?;
            }
        }
        Ok(LocalBlobs {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn shard_dir(&self, id: ObjectId) -> PathBuf {
        let text = id.as_uuid().simple().to_string();
        self.root.join("objects").join(&text[text.len() - 2..])
    }

    fn path_of(&self, id: ObjectId) -> PathBuf {
        self.shard_dir(id).join(id.to_string())
    }

    fn temp_path_of(&self, id: ObjectId) -> PathBuf {
        self.root.join("tmp").join(format!("{id}.part"))
    }

    /// Starts writing a new blob. Fails if one with this id is being written already.
    pub fn create(&self, id: ObjectId) -> io::Result<LocalWriter> {
        let path = self.temp_path_of(id);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        Ok(LocalWriter {
            store: self.clone(),
            id,
            path,
            file: Some(file),
            written: 0,
            unflushed: 0,
        })
    }

    /// Opens a committed blob for reading.
    pub fn open_blob(&self, id: ObjectId) -> io::Result<File> {
        File::open(self.path_of(id))
    }

    /// Whether a committed blob exists.
    pub fn contains(&self, id: ObjectId) -> bool {
        self.path_of(id).exists()
    }

    /// Deletes a committed blob and makes the deletion durable. Deleting a missing blob is not
    /// an error: deletion is retried by recovery after a crash.
    pub fn delete(&self, id: ObjectId) -> io::Result<()> {
        match fs::remove_file(self.path_of(id)) {
            Ok(()) => sync_dir(&self.shard_dir(id)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Ids of all committed blobs.
    pub fn list(&self) -> io::Result<Vec<ObjectId>> {
        let mut ids = Vec::new();
        for shard in fs::read_dir(self.root.join("objects"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for entry in fs::read_dir(shard.path())? {
                let entry = entry?;
                if let Some(id) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
                    ids.push(id);
                }
            }
        }
        Ok(ids)
    }

    /// Number of files in `tmp/` (uploads in progress, or leftovers before recovery).
    pub fn partial_count(&self) -> io::Result<usize> {
        Ok(fs::read_dir(self.root.join("tmp"))?.count())
    }

    /// Removes partial uploads and every committed blob not in `live`. Run at start-up, before
    /// any upload can be in progress.
    pub fn recover(
        &self,
        live: &HashSet<ObjectId>,
        settle: std::time::Duration,
    ) -> io::Result<Recovery> {
        let settled = |path: &Path| -> io::Result<bool> {
            let modified = fs::metadata(path)?.modified()?;
            Ok(modified.elapsed().is_ok_and(|age| age >= settle))
        };
        let mut recovery = Recovery::default();
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let path = entry?.path();
            if settled(&path)? {
                fs::remove_file(path)?;
                recovery.partial_removed += 1;
            }
        }
        if recovery.partial_removed > 0 {
            sync_dir(&self.root.join("tmp"))?;
        }
        for id in self.list()? {
            if !live.contains(&id) && settled(&self.path_of(id))? {
                self.delete(id)?;
                recovery.orphans_removed += 1;
            }
        }
        Ok(recovery)
    }

    /// Free bytes on the file system that holds the store, for the health endpoint.
    pub fn free_bytes(&self) -> io::Result<u64> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let path = CString::new(self.root.as_os_str().as_bytes())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `path` is a valid NUL-terminated string and `stat` a writable statvfs.
        let rc = unsafe { libc::statvfs(path.as_ptr(), &mut stat) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
    }
}

/// A blob being written. Dropping it without [`LocalWriter::commit`] removes the partial file.
#[derive(Debug)]
pub struct LocalWriter {
    store: LocalBlobs,
    id: ObjectId,
    path: PathBuf,
    file: Option<File>,
    written: u64,
    /// Bytes written since writeback was last started.
    unflushed: u64,
}

/// Writeback is started every this many bytes, so the disk works while the upload streams
/// and the fsync at commit finds little left to do.
const WRITEBACK_EVERY: u64 = 8 * 1024 * 1024;

impl LocalWriter {
    pub fn id(&self) -> ObjectId {
        self.id
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        let file = self.file.as_mut().expect("a live writer has its file");
        file.write_all(bytes)?;
        self.written += bytes.len() as u64;
        self.unflushed += bytes.len() as u64;
        if self.unflushed >= WRITEBACK_EVERY {
            start_writeback(file, self.written - self.unflushed, self.unflushed);
            self.unflushed = 0;
        }
        Ok(())
    }

    /// Makes the blob durable and visible: fsync the data, rename into place, fsync both
    /// directories. Returns the blob's size.
    pub fn commit(mut self) -> io::Result<u64> {
        let file = self.file.take().expect("a live writer has its file");
        file.sync_all()?;
        drop(file);
        let shard = self.store.shard_dir(self.id);
        if !shard.exists() {
            fs::create_dir_all(&shard)?;
            fs::set_permissions(&shard, fs::Permissions::from_mode(0o700))?;
            sync_dir(&self.store.root.join("objects"))?;
        }
        let target = self.store.path_of(self.id);
        fs::rename(&self.path, &target)?;
        sync_dir(&shard)?;
        sync_dir(&self.store.root.join("tmp"))?;
        Ok(self.written)
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Not committed: an aborted or failed upload leaves nothing behind.
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Asks the kernel to start writing a range to disk without waiting for it. Only a hint for
/// speed: durability still comes from the fsync in `commit`, so a failure is ignored.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid open descriptor; SYNC_FILE_RANGE_WRITE only initiates writeback.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_blobs_are_listed_and_partial_ones_vanish() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(dir.path()).unwrap();
        let kept = ObjectId::new();
        let mut writer = store.create(kept).unwrap();
        writer.write_all(b"sealed bytes").unwrap();
        assert_eq!(writer.commit().unwrap(), 12);

        let dropped = ObjectId::new();
        let mut writer = store.create(dropped).unwrap();
        writer.write_all(b"half").unwrap();
        drop(writer);

        assert_eq!(store.list().unwrap(), vec![kept]);
        assert_eq!(store.partial_count().unwrap(), 0);
        let mode = fs::metadata(store.path_of(kept))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn recovery_removes_partials_and_orphans_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(dir.path()).unwrap();
        let live = ObjectId::new();
        let orphan = ObjectId::new();
        for id in [live, orphan] {
            let mut w = store.create(id).unwrap();
            w.write_all(b"x").unwrap();
            w.commit().unwrap();
        }
        // A crash mid-upload leaves a partial file that no writer owns any more.
        fs::write(dir.path().join("tmp").join("crashed.part"), b"partial").unwrap();

        let recovery = store
            .recover(&HashSet::from([live]), std::time::Duration::ZERO)
            .unwrap();
        assert_eq!(
            recovery,
            Recovery {
                partial_removed: 1,
                orphans_removed: 1
            }
        );
        assert_eq!(store.list().unwrap(), vec![live]);
        assert!(store.free_bytes().unwrap() > 0);
    }

    #[test]
    fn deleting_twice_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalBlobs::open(dir.path()).unwrap();
        let id = ObjectId::new();
        let mut w = store.create(id).unwrap();
        w.write_all(b"x").unwrap();
        w.commit().unwrap();
        store.delete(id).unwrap();
        store.delete(id).unwrap();
        assert!(!store.contains(id));
    }
}
