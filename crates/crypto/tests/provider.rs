//! Key wrapping and the local KEK file.

use std::path::Path;
use std::sync::Arc;

use kenshin_crypto::{CryptoError, DataKey, KeyProvider, LocalKeyFile, WrappedKey};

fn key_file_reason(result: Result<LocalKeyFile, CryptoError>, path: &Path) -> String {
    match result {
        Err(err @ CryptoError::KeyFile { .. }) => {
            let message = err.to_string();
            assert!(
                message.contains(&path.display().to_string()),
                "message does not name the path: {message}"
            );
            let CryptoError::KeyFile {
                path: reported,
                reason,
            } = err
            else {
                unreachable!("matched above")
            };
            assert_eq!(reported, path);
            reason
        }
        other => panic!("expected a key file error, got {other:?}"),
    }
}

#[test]
fn wrap_unwrap_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let kek = LocalKeyFile::create(&dir.path().join("kek")).unwrap();
    let key = DataKey::generate().unwrap();
    let wrapped = kek.wrap(&key, b"object-1").unwrap();
    assert_eq!(wrapped.as_bytes().len(), 61);

    let stored = WrappedKey::from_bytes(wrapped.as_bytes().to_vec());
    let unwrapped = kek.unwrap(&stored, b"object-1").unwrap();
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());

    // Empty and long contexts are fine too.
    for context in [&b""[..], &[0xAA; 4096][..]] {
        let wrapped = kek.wrap(&key, context).unwrap();
        let unwrapped = kek.unwrap(&wrapped, context).unwrap();
        assert_eq!(unwrapped.expose_secret(), key.expose_secret());
    }
}

#[test]
fn unwrap_fails_for_another_context() {
    let dir = tempfile::tempdir().unwrap();
    let kek = LocalKeyFile::create(&dir.path().join("kek")).unwrap();
    let key = DataKey::generate().unwrap();
    let wrapped = kek.wrap(&key, b"object-1").unwrap();
    for other in [&b"object-2"[..], b"object-", b"object-10", b""] {
        assert!(matches!(
            kek.unwrap(&wrapped, other),
            Err(CryptoError::KeyUnwrap)
        ));
    }
}

#[test]
fn unwrap_fails_under_another_kek() {
    let dir = tempfile::tempdir().unwrap();
    let kek = LocalKeyFile::create(&dir.path().join("a")).unwrap();
    let other = LocalKeyFile::create(&dir.path().join("b")).unwrap();
    assert_ne!(kek.kek_id(), other.kek_id());
    let wrapped = kek
        .wrap(&DataKey::generate().unwrap(), b"object-1")
        .unwrap();
    assert!(matches!(
        other.unwrap(&wrapped, b"object-1"),
        Err(CryptoError::KeyUnwrap)
    ));
}

#[test]
fn unwrap_fails_for_any_damage() {
    let dir = tempfile::tempdir().unwrap();
    let kek = LocalKeyFile::create(&dir.path().join("kek")).unwrap();
    let wrapped = kek.wrap(&DataKey::generate().unwrap(), b"ctx").unwrap();
    let bytes = wrapped.as_bytes();
    for position in 0..bytes.len() {
        for bit in 0..8 {
            let mut damaged = bytes.to_vec();
            damaged[position] ^= 1 << bit;
            let result = kek.unwrap(&WrappedKey::from_bytes(damaged), b"ctx");
            assert!(
                matches!(result, Err(CryptoError::KeyUnwrap)),
                "flip at byte {position} bit {bit} accepted"
            );
        }
    }
    for len in 0..bytes.len() {
        let result = kek.unwrap(&WrappedKey::from_bytes(bytes[..len].to_vec()), b"ctx");
        assert!(matches!(result, Err(CryptoError::KeyUnwrap)));
    }
    let longer = WrappedKey::from_bytes([bytes, &[0]].concat());
    assert!(matches!(
        kek.unwrap(&longer, b"ctx"),
        Err(CryptoError::KeyUnwrap)
    ));
}

#[test]
fn unwrap_error_message_reveals_nothing_secret() {
    let message = CryptoError::KeyUnwrap.to_string();
    assert!(
        message.starts_with("failed to unwrap data key"),
        "{message}"
    );
}

#[test]
fn a_loaded_kek_matches_the_created_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    let created = LocalKeyFile::create(&path).unwrap();
    let loaded = LocalKeyFile::load(&path).unwrap();
    assert_eq!(created.kek_id(), loaded.kek_id());
    assert_eq!(created.kek_id().len(), 16);
    assert!(created.kek_id().bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(loaded.path(), path);

    let key = DataKey::generate().unwrap();
    let wrapped = created.wrap(&key, b"object-7").unwrap();
    let unwrapped = loaded.unwrap(&wrapped, b"object-7").unwrap();
    assert_eq!(unwrapped.expose_secret(), key.expose_secret());

    let shown = format!("{loaded:?}");
    assert!(shown.contains(loaded.kek_id()), "{shown}");
}

#[test]
fn providers_work_as_shared_trait_objects() {
    let dir = tempfile::tempdir().unwrap();
    let provider: Arc<dyn KeyProvider> =
        Arc::new(LocalKeyFile::create(&dir.path().join("kek")).unwrap());
    let key = DataKey::generate().unwrap();
    let wrapped = provider.wrap(&key, b"object").unwrap();
    let handle = {
        let provider = Arc::clone(&provider);
        std::thread::spawn(move || provider.unwrap(&wrapped, b"object").unwrap())
    };
    assert_eq!(handle.join().unwrap().expose_secret(), key.expose_secret());
}

#[test]
fn create_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek");
    std::fs::write(&path, b"precious").unwrap();
    let reason = key_file_reason(LocalKeyFile::create(&path), &path);
    assert!(reason.contains("already exists"), "{reason}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");

    let path = dir.path().join("kek2");
    LocalKeyFile::create(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let reason = key_file_reason(LocalKeyFile::create(&path), &path);
    assert!(reason.contains("already exists"), "{reason}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn create_reports_a_missing_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("kek");
    let reason = key_file_reason(LocalKeyFile::create(&path), &path);
    assert!(reason.starts_with("cannot create"), "{reason}");
}

#[test]
fn load_reports_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent");
    let reason = key_file_reason(LocalKeyFile::load(&path), &path);
    assert_eq!(reason, "not found");
}

#[test]
fn load_refuses_wrong_lengths() {
    let dir = tempfile::tempdir().unwrap();
    for len in [0usize, 1, 31, 33, 64] {
        let path = dir.path().join(format!("kek-{len}"));
        write_key_file(&path, &vec![0x5A; len]);
        let reason = key_file_reason(LocalKeyFile::load(&path), &path);
        assert_eq!(
            reason,
            format!("expected exactly 32 bytes of key material, found {len} bytes")
        );
    }
}

#[test]
fn load_refuses_an_all_zero_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeros");
    write_key_file(&path, &[0u8; 32]);
    let reason = key_file_reason(LocalKeyFile::load(&path), &path);
    assert!(reason.contains("all zero"), "{reason}");
}

#[test]
fn load_refuses_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let reason = key_file_reason(LocalKeyFile::load(dir.path()), dir.path());
    assert_eq!(reason, "not a regular file");
}

/// Writes a key file with owner-only permissions, as an operator would.
fn write_key_file(path: &Path, contents: &[u8]) {
    std::fs::write(path, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[cfg(unix)]
mod unix {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn create_makes_an_owner_only_file_of_32_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        LocalKeyFile::create(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        let contents = std::fs::read(&path).unwrap();
        assert_eq!(contents.len(), 32);
        assert_ne!(contents, [0u8; 32]);
    }

    #[test]
    fn load_refuses_group_or_other_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        LocalKeyFile::create(&path).unwrap();
        for bad in [0o644, 0o640, 0o604, 0o660, 0o601, 0o610, 0o777] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
            let reason = key_file_reason(LocalKeyFile::load(&path), &path);
            assert!(reason.contains(&format!("{bad:04o}")), "{reason}");
            assert!(reason.contains("chmod 600"), "{reason}");
        }
        for good in [0o600, 0o400] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(good)).unwrap();
            LocalKeyFile::load(&path).unwrap();
        }
    }

    #[test]
    fn the_0644_message_is_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kek");
        LocalKeyFile::create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let message = LocalKeyFile::load(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "key file {}: permissions 0644 give group or other users access; the key must \
                 be readable by its owner only (chmod 600)",
                path.display()
            )
        );
    }

    #[test]
    fn create_does_not_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("kek");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let reason = key_file_reason(LocalKeyFile::create(&link), &link);
        assert!(reason.contains("already exists"), "{reason}");
        assert!(!target.exists(), "key written through a symlink");
    }

    #[test]
    fn load_accepts_a_symlink_to_a_private_file() {
        // Secret mounts (e.g. Kubernetes) present keys through symlinks; the checks apply to
        // the file actually opened.
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        let link = dir.path().join("kek");
        let created = LocalKeyFile::create(&target).unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            LocalKeyFile::load(&link).unwrap().kek_id(),
            created.kek_id()
        );
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        key_file_reason(LocalKeyFile::load(&link), &link);
    }
}
