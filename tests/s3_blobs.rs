//! The relay with its blobs in an S3 bucket: the real binary serving over TLS, a real
//! S3-compatible server (s3s-fs) holding the blobs, and only the standard AWS_* variables
//! between them. Each test starts its own s3s-fs; without it the tests skip, except under
//! CI=true.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::s3::{names, set_blob_url, S3Server};
use common::*;
use kenshin_client::RelayClient;
use kenshin_server::DataDir;

const PREFIX: &str = "relay";

/// A relay data directory with organisations and certificates, its blobs in the bucket.
async fn data_on_s3(s3: &S3Server) -> (tempfile::TempDir, DataDir) {
    let (dir, data) = prepared_data_dir(&test_config()).await;
    set_blob_url(&data, &s3.url(PREFIX));
    (dir, data)
}

fn kenshin_relay(s3: &S3Server) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kenshin-relay"));
    command
        .env("KENSHIN_RELAY_LOG", "warn")
        .env_remove("KENSHIN_RELAY_BLOB_URL")
        .envs(s3.env());
    command
}

struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn serve(s3: &S3Server, data: &DataDir, extra_env: &[(&str, &str)]) -> Served {
    let port = free_port();
    let child = kenshin_relay(s3)
        .args(["serve", "--data-dir"])
        .arg(data.root())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .envs(extra_env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start kenshin-relay serve");
    let served = Served {
        child,
        url: format!("https://localhost:{port}"),
    };
    let probe = client_for(data.root(), &served.url, INSTITUTION);
    for _ in 0..300 {
        if probe.health().await.is_ok() {
            return served;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become healthy");
}

/// Runs the binary to its end (at most a minute) and returns its output.
fn run_to_end(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not end within a minute");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

async fn download(client: &RelayClient, id: &str, dir: &Path) -> Vec<u8> {
    let out = dir.join(format!("{id}.download"));
    client.fetch_to_file(id, &out, |_, _| {}).await.unwrap();
    std::fs::read(&out).unwrap()
}

/// Serves `data` and sends `content` from the institution to the insurer; returns the
/// running relay and the delivery, left in flight.
async fn send_in_flight(s3: &S3Server, data: &DataDir, content: &[u8]) -> (Served, String) {
    let served = serve(s3, data, &[]).await;
    let sender = client_for(data.root(), &served.url, INSTITUTION);
    let receipt = sender
        .send_stream(INSURER, "b.csv", None, stream_of(content.to_vec()))
        .await
        .unwrap();
    (served, receipt.deliveries[0].id.to_string())
}

/// Serves the relay restored into `restored` (its blobs under `restored_url`) and downloads
/// the delivery `id` from it as the insurer.
async fn download_from_restored(
    s3: &S3Server,
    data: &DataDir,
    restored: &Path,
    restored_url: &str,
    id: &str,
    scratch: &Path,
) -> Vec<u8> {
    // The restored relay needs the organisations' client certificates to be reached.
    copy_dir(&data.root().join("certs"), &restored.join("certs"));
    let served = serve(
        s3,
        &DataDir::new(restored),
        &[("KENSHIN_RELAY_BLOB_URL", restored_url)],
    )
    .await;
    let receiver = client_for(restored, &served.url, INSURER);
    download(&receiver, id, scratch).await
}

/// The object ids the bucket holds under the relay's prefix.
fn bucket_ids(s3: &S3Server, prefix: &str) -> HashSet<String> {
    names(&s3.object_files(prefix)).into_iter().collect()
}

async fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..100 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_travels_through_the_bucket_and_is_destroyed_after_confirmation() {
    let Some(s3) = S3Server::start("a_file_travels_through_the_bucket", "relay-blobs") else {
        return;
    };
    let (dir, data) = data_on_s3(&s3).await;
    // The converting sender and its routes (database only, before serving).
    let setup = Relay {
        dir,
        data: data.clone(),
        server: None,
        addr: "127.0.0.1:0".parse().unwrap(),
        clock: None,
    };
    conversion::set_up(&setup).await;
    let served = serve(&s3, &data, &[]).await;
    let root = data.root();
    let sender = client_for(root, &served.url, INSTITUTION);
    let receiver = client_for(root, &served.url, INSURER);

    let health = sender.health().await.unwrap();
    assert!(health.storage.ok, "{health:?}");
    assert_eq!(
        health.storage.free_bytes, None,
        "a bucket has no free space to report"
    );

    let marker = "S3-PLAINTEXT-MARKER-つばめ";
    let content = sample_export(2_000, marker);
    let receipt = sender
        .send_stream(INSURER, "results.csv", None, stream_of(content.clone()))
        .await
        .unwrap();
    let delivery = receipt.deliveries[0].id.to_string();

    // The blob is in the bucket, sealed; nothing local.
    let db = setup.db().await;
    let live: HashSet<String> = db
        .live_object_ids()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(live.len(), 1);
    assert_eq!(bucket_ids(&s3, PREFIX), live);
    let mut local = Vec::new();
    walk(&data.blobs_path(), &mut local);
    assert!(local.is_empty(), "blobs written locally: {local:?}");
    assert_eq!(
        s3.any_file_contains(marker.as_bytes()),
        None,
        "plaintext in the bucket"
    );

    assert_eq!(
        download(&receiver, &delivery, setup.dir.path()).await,
        content
    );
    receiver.confirm(&delivery).await.unwrap();
    wait_for(
        || bucket_ids(&s3, PREFIX).is_empty(),
        "the confirmed file's blob is still in the bucket",
    )
    .await;
    let err = receiver
        .fetch_to_file(&delivery, &setup.dir.path().join("again"), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Some(kenshin_core::api::ErrorCode::Gone),
        "{err}"
    );

    // A conversion reads its input from the bucket and writes its outputs and report there.
    let converter = client_for(root, &served.url, conversion::CONVERTER);
    converter
        .upload_map(conversion::MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let export = conversion::export();
    let submitted = converter
        .send_stream(
            "",
            "export.csv",
            None,
            stream_of(export.clone().into_bytes()),
        )
        .await
        .unwrap();
    let done = conversion::wait_converted(&converter, &submitted.id.to_string()).await;
    assert_eq!(
        done.state,
        kenshin_core::SubmissionState::Delivered,
        "{done:?}"
    );
    let inbox = receiver.list_deliveries(None, 10, 0).await.unwrap();
    let converted = inbox
        .items
        .iter()
        .find(|d| d.filename.ends_with(".std.csv"))
        .expect("a converted delivery");
    let standard = download(&receiver, &converted.id.to_string(), setup.dir.path()).await;
    let standard = String::from_utf8(standard).unwrap();
    assert!(standard.contains("06999901"), "{standard}");
    assert!(converter.report(&submitted.id.to_string()).await.is_ok());
    // The input was destroyed once converted: the bucket holds exactly the live objects.
    let live: HashSet<String> = db
        .live_object_ids()
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    wait_for(
        || bucket_ids(&s3, PREFIX) == live,
        "the bucket does not hold exactly the live objects",
    )
    .await;
    assert!(live.len() >= 3, "outputs and report: {live:?}");
    db.close().await;
    assert_eq!(s3.any_file_contains(marker.as_bytes()), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_several_parts_round_trips() {
    let Some(s3) = S3Server::start("a_file_of_several_parts_round_trips", "relay-blobs") else {
        return;
    };
    let (dir, data) = data_on_s3(&s3).await;
    let served = serve(&s3, &data, &[]).await;
    let sender = client_for(data.root(), &served.url, INSTITUTION);
    let receiver = client_for(data.root(), &served.url, INSURER);
    // 26 MiB: three full 8 MiB parts of ciphertext and a last one.
    let content: Vec<u8> = (0..26 * 1024 * 1024 + 777u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let receipt = sender
        .send_stream(
            INSURER,
            "large.bin",
            Some(content.len() as u64),
            stream_of(content.clone()),
        )
        .await
        .unwrap();
    assert_eq!(receipt.size, content.len() as u64);
    assert_eq!(receipt.sha256, sha256_hex(&content));
    let objects = s3.object_files(PREFIX);
    assert_eq!(objects.len(), 1);
    let sealed = std::fs::metadata(&objects[0]).unwrap().len();
    assert!(sealed > content.len() as u64, "sealed size {sealed}");
    let fetched = download(&receiver, &receipt.deliveries[0].id.to_string(), dir.path()).await;
    assert!(fetched == content, "the download differs from the upload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_recovery_removes_an_orphan_from_the_bucket() {
    if skip_on_postgres("on PostgreSQL with a bucket, start-up recovery leaves debris younger than an hour to the other nodes") {
        return;
    }
    let Some(s3) = S3Server::start("start_up_recovery_removes_an_orphan", "relay-blobs") else {
        return;
    };
    let (dir, data) = data_on_s3(&s3).await;
    let content = sample_export(100, "KEPT");
    let kept = {
        let served = serve(&s3, &data, &[]).await;
        let sender = client_for(data.root(), &served.url, INSTITUTION);
        sender
            .send_stream(INSURER, "kept.csv", None, stream_of(content.clone()))
            .await
            .unwrap()
        // Dropped: the server is killed, as by a crash.
    };
    // A blob committed by a process that died before recording it.
    let orphan = kenshin_core::ObjectId::new();
    let store =
        kenshin_store::BlobStore::open_at(&kenshin_store::BlobLocation::S3(s3.settings(PREFIX)))
            .unwrap();
    let store_for_write = store.clone();
    tokio::task::spawn_blocking(move || {
        let mut writer = store_for_write.create(orphan).unwrap();
        writer.write_all(b"sealed bytes nobody names").unwrap();
        writer.commit().unwrap();
    })
    .await
    .unwrap();
    assert_eq!(bucket_ids(&s3, PREFIX).len(), 2);

    let served = serve(&s3, &data, &[]).await;
    let ids = bucket_ids(&s3, PREFIX);
    assert!(!ids.contains(&orphan.to_string()), "orphan left: {ids:?}");
    assert_eq!(ids.len(), 1);
    let receiver = client_for(data.root(), &served.url, INSURER);
    let fetched = download(&receiver, &kept.deliveries[0].id.to_string(), dir.path()).await;
    assert_eq!(fetched, content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_bucket_setting_stops_the_start_with_its_cause() {
    let Some(s3) = S3Server::start("a_wrong_bucket_setting_stops_the_start", "relay-blobs") else {
        return;
    };
    let (dir, data) = data_on_s3(&s3).await;
    let closed = format!("http://127.0.0.1:{}", free_port());
    let cases: [(&str, &str, &str); 3] = [
        (
            "AWS_SECRET_ACCESS_KEY",
            "wrong-secret-key",
            "the credentials were refused",
        ),
        (
            "AWS_ENDPOINT_URL",
            &closed,
            "the endpoint could not be used",
        ),
        (
            "AWS_ACCESS_KEY_ID",
            "AKUNKNOWN",
            "the credentials were refused",
        ),
    ];
    for (name, value, expected) in cases {
        let mut command = kenshin_relay(&s3);
        command
            .args(["serve", "--data-dir"])
            .arg(data.root())
            .args(["--listen", &format!("127.0.0.1:{}", free_port())])
            .env(name, value);
        let output = run_to_end(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value}: served anyway");
        assert!(
            stderr.contains(expected) && stderr.contains("s3://relay-blobs/relay"),
            "{name}={value}: {stderr}"
        );
        assert!(
            !stderr.contains(&s3.secret_key),
            "the secret is printed: {stderr}"
        );
    }

    let mut command = kenshin_relay(&s3);
    command
        .args(["serve", "--data-dir"])
        .arg(data.root())
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .env("KENSHIN_RELAY_BLOB_URL", "s3://no-such-bucket/relay");
    let output = run_to_end(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("the bucket does not exist"), "{stderr}");

    // `init` checks before it writes anything.
    let new = dir.path().join("new-relay");
    let mut command = kenshin_relay(&s3);
    command
        .args(["init", "--data-dir"])
        .arg(&new)
        .args(["--blob-url", &s3.url("other")])
        .env("AWS_SECRET_ACCESS_KEY", "wrong-secret-key");
    let output = run_to_end(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("the credentials were refused"), "{stderr}");
    assert!(!new.exists(), "init left a directory behind");

    // With the right settings init writes the URL, and refuses a prefix already in use.
    let mut command = kenshin_relay(&s3);
    command
        .args(["init", "--data-dir"])
        .arg(&new)
        .args(["--blob-url", &s3.url("other")]);
    let output = run_to_end(command);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = std::fs::read_to_string(new.join("config.toml")).unwrap();
    assert!(
        config.contains("blob_url = \"s3://relay-blobs/other\""),
        "{config}"
    );
    assert!(!config.contains(&s3.secret_key));
    assert!(!new.join("blobs").exists());
    std::fs::create_dir_all(s3.bucket_dir().join("other/objects")).unwrap();
    std::fs::write(
        s3.bucket_dir()
            .join("other/objects")
            .join(kenshin_core::ObjectId::new().to_string()),
        b"x",
    )
    .unwrap();
    let mut command = kenshin_relay(&s3);
    command
        .args(["init", "--data-dir"])
        .arg(dir.path().join("third"))
        .args(["--blob-url", &s3.url("other")]);
    let output = run_to_end(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("already holds 1 blobs"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_a_relay_on_s3_restores_the_same_download() {
    let Some(s3) = S3Server::start("a_backup_of_a_relay_on_s3", "relay-blobs") else {
        return;
    };
    let (dir, data) = data_on_s3(&s3).await;
    let content = sample_export(300, "IN-FLIGHT-S3");
    let backups = dir.path().join("backups");
    let in_flight = {
        let (_served, in_flight) = send_in_flight(&s3, &data, &content).await;
        let mut command = kenshin_relay(&s3);
        command
            .args(["backup", "--json", "--data-dir"])
            .arg(data.root())
            .args(["create", "--to"])
            .arg(&backups);
        let output = run_to_end(command);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let generation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(generation["blobs"], 1, "{generation}");
        in_flight
    };

    let kek = dir.path().join("kek-kept-apart.key");
    std::fs::copy(data.kek_path(), &kek).unwrap();
    let restore = |into: &Path, blob_url: Option<&str>| {
        let mut command = kenshin_relay(&s3);
        command
            .args(["backup", "--json", "--data-dir"])
            .arg(data.root())
            .args(["restore", "--from"])
            .arg(&backups)
            .arg("--kek")
            .arg(&kek)
            .arg("--into")
            .arg(into);
        if let Some(url) = blob_url {
            command.env("KENSHIN_RELAY_BLOB_URL", url);
        }
        if let Some(database) = postgres::fresh_database_url() {
            command.args(["--database-url", &database]);
        }
        run_to_end(command)
    };

    // The restored configuration names the original prefix, which still holds the blob: a
    // relay restored there would take it for its own, so the restore refuses.
    let refused = dir.path().join("refused");
    let output = restore(&refused, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("already holds 1 blobs"), "{stderr}");
    assert!(!refused.exists());
    assert_eq!(
        bucket_ids(&s3, PREFIX).len(),
        1,
        "the original blob was touched"
    );

    // Into a new prefix, named for the restore and the restored relay alike.
    let restored_url = s3.url("restored");
    let restored = dir.path().join("restored");
    let output = restore(&restored, Some(&restored_url));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(bucket_ids(&s3, "restored"), bucket_ids(&s3, PREFIX));

    let fetched =
        download_from_restored(&s3, &data, &restored, &restored_url, &in_flight, dir.path()).await;
    assert_eq!(fetched, content);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_in_a_bucket_are_rotated_verified_and_restored() {
    let Some(s3) = S3Server::start("backups_in_a_bucket", "relay-blobs") else {
        return;
    };
    let (dir, data) = data_on_s3(&s3).await;
    // Larger than one part (8 MiB): the backup of its blob is a multipart upload with
    // checksums.
    let content = sample_export(125_000, "IN-FLIGHT-BUCKET");
    let backups = s3.url("backups");
    let backup = |args: &[&str], extra_env: &[(&str, &str)]| {
        let mut command = kenshin_relay(&s3);
        command
            .args(["backup", "--json", "--data-dir"])
            .arg(data.root())
            .args(args)
            .envs(extra_env.iter().copied());
        run_to_end(command)
    };
    assert!(content.len() > 9 * 1024 * 1024, "{}", content.len());
    let (served, in_flight) = send_in_flight(&s3, &data, &content).await;
    drop(served);

    // Not into the live blob store's prefix.
    let output = backup(&["create", "--to", &s3.url(PREFIX)], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("overlaps the live blob store"), "{stderr}");

    // What an interrupted write left (parts, no generation.json) is not a generation, and
    // the next backup removes it.
    let interrupted = s3.bucket_dir().join("backups/20000101T000000000Z/blobs");
    std::fs::create_dir_all(&interrupted).unwrap();
    std::fs::write(interrupted.join("x.sealed"), b"half a part").unwrap();
    for _ in 0..3 {
        let output = backup(&["create", "--to", &backups, "--keep", "2"], &[]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let generation: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(generation["blobs"], 1, "{generation}");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!interrupted.join("x.sealed").exists());
    let output = backup(&["list", "--to", &backups], &[]);
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    // Nothing of the oldest generation is left, and nothing in the bucket is plaintext.
    let mut kept = Vec::new();
    walk(&s3.bucket_dir().join("backups"), &mut kept);
    assert!(!kept.is_empty());
    for file in &kept {
        let relative = file.strip_prefix(s3.bucket_dir().join("backups")).unwrap();
        let folder = relative.iter().next().unwrap().to_string_lossy();
        assert!(
            ids.contains(&folder.as_ref()),
            "left over: {}",
            file.display()
        );
    }
    assert_eq!(s3.any_file_contains(b"IN-FLIGHT-BUCKET"), None);
    let output = backup(&["verify", "--to", &backups], &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A part changed in the bucket is detected.
    let blob_part = std::fs::read_dir(s3.bucket_dir().join("backups").join(ids[1]).join("blobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let original = std::fs::read(&blob_part).unwrap();
    let mut tampered = original.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    std::fs::write(&blob_part, &tampered).unwrap();
    let output = backup(&["verify", "--to", &backups], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("damaged"),
        "{stderr}"
    );
    std::fs::write(&blob_part, &original).unwrap();

    // Restored from the bucket into a new directory and prefix (and database).
    let kek = dir.path().join("kek-kept-apart.key");
    std::fs::copy(data.kek_path(), &kek).unwrap();
    let restored = dir.path().join("restored");
    let restored_url = s3.url("restored");
    let mut restore = vec![
        "restore",
        "--from",
        &backups,
        "--kek",
        kek.to_str().unwrap(),
    ];
    restore.extend(["--into", restored.to_str().unwrap()]);
    let database = postgres::fresh_database_url();
    if let Some(url) = &database {
        restore.extend(["--database-url", url.as_str()]);
    }
    let output = backup(
        &restore,
        &[("KENSHIN_RELAY_BLOB_URL", restored_url.as_str())],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fetched =
        download_from_restored(&s3, &data, &restored, &restored_url, &in_flight, dir.path()).await;
    assert_eq!(fetched, content);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
