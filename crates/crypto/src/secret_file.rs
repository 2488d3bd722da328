//! Files that hold secrets (the KEK, the ledger's signing key): created with mode 0600 and
//! `O_EXCL`, made durable with their directory entry, and read only when they are regular
//! files readable by their owner alone. Shared so every key file gets the same care.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use zeroize::Zeroizing;

/// Creates `path` holding `contents`. An existing file (or a symlink planted in its place) is
/// never overwritten; file and directory are fsynced before returning; on failure no partial
/// file is left behind. `what` names the secret in messages ("key-encryption key").
///
/// # Errors
/// A reason, without the path (callers add it), that says what went wrong.
pub fn create_secret_file(path: &Path, contents: &[u8], what: &str) -> Result<(), String> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|err| {
        if err.kind() == io::ErrorKind::AlreadyExists {
            format!("already exists; refusing to overwrite an existing {what}")
        } else {
            format!("cannot create: {err}")
        }
    })?;
    let written = file
        .write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|err| format!("cannot write key: {err}"))
        .and_then(|()| sync_parent_dir(path));
    drop(file);
    if let Err(reason) = written {
        // Nothing has used this secret yet, so removing it loses nothing and lets the
        // operator simply retry.
        return Err(match fs::remove_file(path) {
            Ok(()) => format!("{reason}; the incomplete file was removed"),
            Err(err) => format!("{reason}; removing the incomplete file also failed: {err}"),
        });
    }
    Ok(())
}

/// Reads a secret file of at most `max_len` bytes. Returns up to `max_len + 1` bytes (so the
/// caller can tell an oversized file from one of exactly `max_len`) and the file's size.
///
/// The checks run on the opened file, not the path, so a file swapped in between the checks
/// and the read cannot slip through; the buffer is allocated once at full size and zeroized
/// on drop, so the secret is never left in reallocated heap memory.
///
/// # Errors
/// A reason (`not found`, `not a regular file`, a permission problem naming `chmod 600`, …).
pub fn read_secret_file(
    path: &Path,
    max_len: usize,
    what: &str,
) -> Result<(Zeroizing<Vec<u8>>, u64), String> {
    let mut file = File::open(path).map_err(|err| {
        if err.kind() == io::ErrorKind::NotFound {
            "not found".to_owned()
        } else {
            format!("cannot open: {err}")
        }
    })?;
    let metadata = file
        .metadata()
        .map_err(|err| format!("cannot read metadata: {err}"))?;
    if !metadata.is_file() {
        return Err("not a regular file".to_owned());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "permissions {mode:04o} give group or other users access; the {what} must be \
                 readable by its owner only (chmod 600)"
            ));
        }
    }
    let mut buffer = Zeroizing::new(vec![0u8; max_len + 1]);
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(format!("cannot read: {err}")),
        }
    }
    buffer.truncate(filled);
    Ok((buffer, metadata.len()))
}

/// Makes the new directory entry durable: fsyncing the file alone does not persist its name.
fn sync_parent_dir(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|err| format!("cannot sync directory {}: {err}", parent.display()))
    }
    #[cfg(not(unix))]
    {
        // Directories cannot be opened for syncing portably; NTFS journals the entry itself.
        let _ = path;
        Ok(())
    }
}
