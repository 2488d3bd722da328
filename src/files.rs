//! Writing key material and certificates with the right permissions; a file's SHA-256.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::Context;

/// Creates a directory readable by the owner only (0700), or checks an existing one.
pub fn private_dir(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot set permissions of {}", path.display()))
}

/// Writes a secret (a private key, a password) readable by the owner only; never overwrites.
pub fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_new(path, bytes, 0o600)
}

/// Writes a file inside the data directory, where every file is the owner's only (0600, checked
/// at start-up); never overwrites.
pub fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_new(path, bytes, 0o600)
}

/// Writes a public file (a certificate handed to a client); never overwrites.
pub fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_new(path, bytes, 0o644)
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A file's SHA-256, lowercase hex, read in chunks.
pub fn sha256_of(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hash = kenshin_crypto::Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hash.finish_hex());
        }
        hash.update(&buffer[..n]);
    }
}
