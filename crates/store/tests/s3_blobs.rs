//! The S3 backend against a real S3-compatible server (s3s-fs, from `KENSHIN_TEST_S3S_FS`):
//! single-request and multipart blobs, aborted uploads, recovery, and the start-up check's
//! messages. Without the binary the tests skip with the reason printed, except under
//! `CI=true`, where they fail. (The workspace's tests/common/s3.rs starts s3s-fs the same
//! way for the relay's tests; a crate's tests cannot share it.)

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kenshin_core::ObjectId;
use kenshin_store::{BlobLocation, BlobStore, S3Settings};

struct S3Server {
    child: Child,
    root: tempfile::TempDir,
    port: u16,
    access_key: String,
    secret_key: String,
}

const BUCKET: &str = "store-tests";

impl S3Server {
    fn start(test: &str) -> Option<S3Server> {
        let binary = match std::env::var_os("KENSHIN_TEST_S3S_FS") {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("{test}: KENSHIN_TEST_S3S_FS is not set under CI=true")
            }
            _ => {
                eprintln!("skipping {test}: set KENSHIN_TEST_S3S_FS to an s3s-fs binary");
                return None;
            }
        };
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let access_key = format!("AK{}", uuid::Uuid::new_v4().simple()).to_uppercase();
        let secret_key = uuid::Uuid::new_v4().simple().to_string();
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", &access_key, "--secret-key", &secret_key])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let server = S3Server {
            child,
            root,
            port,
            access_key,
            secret_key,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    fn settings(&self, bucket: &str, prefix: &str) -> S3Settings {
        let mut settings = S3Settings::new(bucket, prefix);
        settings.endpoint = Some(format!("http://127.0.0.1:{}", self.port));
        settings.region = Some("us-east-1".into());
        settings.access_key_id = Some(self.access_key.clone());
        settings.secret_access_key = Some(self.secret_key.clone());
        settings.allow_http = Some(true);
        settings
    }

    fn store(&self, prefix: &str) -> BlobStore {
        BlobStore::open_at(&BlobLocation::S3(self.settings(BUCKET, prefix))).unwrap()
    }

    /// Whether any file under the server's root holds `needle`.
    fn holds(&self, needle: &[u8]) -> bool {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(self.root.path(), &mut files);
        files.iter().any(|path| {
            std::fs::read(path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Bytes that differ at every offset, so a part written twice or out of order shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[i % 4] ^ seed)
        .collect()
}

fn write(store: &BlobStore, id: ObjectId, bytes: &[u8]) -> u64 {
    let mut writer = store.create(id).unwrap();
    // In 1 MiB writes, as the vault does.
    for chunk in bytes.chunks(1024 * 1024) {
        writer.write_all(chunk).unwrap();
    }
    writer.commit().unwrap()
}

fn read(store: &BlobStore, id: ObjectId) -> Vec<u8> {
    let mut out = Vec::new();
    store.open_blob(id).unwrap().read_to_end(&mut out).unwrap();
    out
}

#[test]
fn small_and_multipart_blobs_round_trip_and_delete() {
    let Some(server) = S3Server::start("small_and_multipart_blobs_round_trip_and_delete") else {
        return;
    };
    let store = server.store("relay/one");
    store.check().unwrap();
    assert!(store.is_s3());
    assert_eq!(store.location(), "s3://store-tests/relay/one");

    let small = ObjectId::new();
    let small_bytes = pattern(100_000, 1);
    assert_eq!(write(&store, small, &small_bytes), 100_000);
    // Three full 8 MiB parts and a short last one.
    let large = ObjectId::new();
    let large_bytes = pattern(26 * 1024 * 1024 + 12_345, 2);
    assert_eq!(write(&store, large, &large_bytes), large_bytes.len() as u64);

    assert_eq!(read(&store, small), small_bytes);
    assert!(read(&store, large) == large_bytes, "the large blob differs");
    let mut listed = store.list().unwrap();
    listed.sort_by_key(|id| id.to_string());
    let mut expected = vec![small, large];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(listed, expected);
    // The objects are where the layout says, under the prefix.
    assert!(server
        .root
        .path()
        .join(BUCKET)
        .join("relay/one/objects")
        .join(large.to_string())
        .is_file());

    // Another prefix in the same bucket is another store.
    assert!(server.store("relay/two").list().unwrap().is_empty());

    assert!(store.contains(large).unwrap());
    store.delete(large).unwrap();
    store.delete(large).unwrap();
    assert!(!store.contains(large).unwrap());
    let err = store.open_blob(large).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert_eq!(store.free_bytes().unwrap(), None);
    assert_eq!(
        store.partial_count().unwrap_err().kind(),
        std::io::ErrorKind::Unsupported
    );
}

#[test]
fn a_dropped_writer_leaves_no_object_and_no_parts() {
    let Some(server) = S3Server::start("a_dropped_writer_leaves_no_object_and_no_parts") else {
        return;
    };
    let store = server.store("relay");
    let marker = b"DROPPED-UPLOAD-MARKER-7f3a";
    let mut bytes = pattern(20 * 1024 * 1024, 3);
    for offset in [0, 9 * 1024 * 1024, 17 * 1024 * 1024] {
        bytes[offset..offset + marker.len()].copy_from_slice(marker);
    }
    let id = ObjectId::new();
    let mut writer = store.create(id).unwrap();
    for chunk in bytes.chunks(1024 * 1024) {
        writer.write_all(chunk).unwrap();
    }
    // Parts have been sent: the upload exists on the server, unfinished.
    assert!(server.holds(marker), "no part reached the server");
    assert!(!store.contains(id).unwrap(), "visible before commit");
    drop(writer);
    assert!(!store.contains(id).unwrap());
    assert!(store.list().unwrap().is_empty());
    assert!(
        !server.holds(marker),
        "the aborted upload's parts are still on the server"
    );

    // A small blob is never sent before commit.
    let small = ObjectId::new();
    let mut writer = store.create(small).unwrap();
    writer.write_all(b"never committed").unwrap();
    drop(writer);
    assert!(!store.contains(small).unwrap());
}

#[test]
fn recovery_removes_orphans_and_leaves_live_blobs_and_foreign_keys() {
    let Some(server) =
        S3Server::start("recovery_removes_orphans_and_leaves_live_blobs_and_foreign_keys")
    else {
        return;
    };
    let store = server.store("relay");
    let live = ObjectId::new();
    let orphan = ObjectId::new();
    write(&store, live, b"live");
    write(&store, orphan, b"orphan");
    // Not an object id: not ours to delete.
    let foreign = server.root.path().join(BUCKET).join("relay/objects/README");
    std::fs::write(&foreign, b"someone else's").unwrap();

    let recovery = store.recover(&HashSet::from([live])).unwrap();
    assert_eq!(recovery.orphans_removed, 1);
    assert_eq!(recovery.partial_removed, 0);
    assert_eq!(store.list().unwrap(), vec![live]);
    assert!(foreign.is_file());
    assert_eq!(read(&store, live), b"live");
}

#[test]
fn the_check_names_the_cause() {
    let Some(server) = S3Server::start("the_check_names_the_cause") else {
        return;
    };
    let mut wrong_secret = server.settings(BUCKET, "relay");
    wrong_secret.secret_access_key = Some("not-the-secret".into());
    let err = BlobStore::open_at(&BlobLocation::S3(wrong_secret))
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::PermissionDenied, "{err}");
    let text = err.to_string();
    assert!(text.contains("credentials were refused"), "{text}");
    assert!(text.contains("s3://store-tests/relay"), "{text}");
    assert!(!text.contains(&server.secret_key), "{text}");

    let err = BlobStore::open_at(&BlobLocation::S3(server.settings("no-such-bucket", "")))
        .unwrap()
        .check()
        .unwrap_err();
    assert!(err.to_string().contains("bucket does not exist"), "{err}");

    let mut closed = server.settings(BUCKET, "relay");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    closed.endpoint = Some(format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let err = BlobStore::open_at(&BlobLocation::S3(closed))
        .unwrap()
        .check()
        .unwrap_err();
    assert!(
        err.to_string().contains("the endpoint could not be used"),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // Plain http is refused unless allowed.
    let mut https_only = server.settings(BUCKET, "relay");
    https_only.allow_http = Some(false);
    assert!(BlobStore::open_at(&BlobLocation::S3(https_only))
        .unwrap()
        .check()
        .is_err());

    server.store("relay").check().unwrap();
    // The check leaves nothing behind.
    assert!(server.store("relay").list().unwrap().is_empty());
    assert!(!server.holds(b"kenshin-relay start-up check"));
}
