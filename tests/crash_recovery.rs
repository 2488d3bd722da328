//! Durability: the real binary is killed with SIGKILL in the middle of an upload; after a
//! restart nothing of the upload is visible and no blob or partial file is left.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use kenshin_client::RelayClient;
use kenshin_server::DataDir;

fn spawn_server(data: &DataDir, port: u16) -> Reaped {
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .args(["serve", "--data-dir"])
            .arg(data.root())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("KENSHIN_RELAY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start kenshin-relay serve"),
    )
}

async fn wait_healthy(client: &RelayClient) {
    for _ in 0..300 {
        if client.health().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become healthy");
}

#[tokio::test]
async fn sigkill_during_an_upload_leaves_nothing_after_restart() {
    let (dir, data) = prepared_data_dir(&test_config()).await;
    let root = data.root().to_owned();
    let port = free_port();
    let url = format!("https://localhost:{port}");
    let sender = client_for(&root, &url, INSTITUTION);
    let receiver = client_for(&root, &url, INSURER);

    let mut server = spawn_server(&data, port);
    wait_healthy(&sender).await;

    // A committed upload before the crash must survive it.
    let kept = sender
        .send_stream(
            INSURER,
            "kept.csv",
            None,
            stream_of(sample_export(100, "KEPT")),
        )
        .await
        .unwrap();

    // An upload that sends 2 MiB and then stalls, as a slow link would.
    let first = bytes::Bytes::from(vec![b'a'; 2 * 1024 * 1024]);
    let stalled = futures::StreamExt::chain(
        futures::stream::iter(vec![Ok::<_, std::io::Error>(first)]),
        futures::stream::pending(),
    );
    let upload = tokio::spawn({
        let sender = sender.clone();
        async move {
            sender
                .send_stream(INSURER, "interrupted.csv", Some(10 * 1024 * 1024), stalled)
                .await
        }
    });
    let blobs = kenshin_store::BlobStore::open(&data.blobs_path()).unwrap();
    for _ in 0..200 {
        if blobs.partial_count().unwrap() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        blobs.partial_count().unwrap(),
        1,
        "the upload never reached the server"
    );

    server.kill().unwrap(); // SIGKILL: no clean-up code runs
    server.wait().unwrap();
    assert!(upload.await.unwrap().is_err());
    // A blob that was made durable but never registered (a crash between the two steps).
    let orphan = kenshin_core::ObjectId::new();
    let mut writer = blobs.create(orphan).unwrap();
    writer
        .write_all(b"sealed bytes of a file nobody knows")
        .unwrap();
    writer.commit().unwrap();

    let mut server = spawn_server(&data, port);
    wait_healthy(&sender).await;
    let sent = sender.list_submissions(None, 100, 0).await.unwrap();
    assert_eq!(sent.total, 1);
    assert_eq!(sent.items[0].id, kept.id);
    assert_eq!(
        receiver.list_deliveries(None, 100, 0).await.unwrap().total,
        1
    );
    assert_eq!(
        blobs.partial_count().unwrap(),
        0,
        "partial upload left behind"
    );
    assert!(!blobs.contains(orphan).unwrap(), "orphan blob left behind");
    assert_eq!(blobs.list().unwrap().len(), 1);

    // The survivor is intact and the service works normally.
    let out = dir.path().join("kept.csv");
    receiver
        .fetch_to_file(&kept.deliveries[0].id.to_string(), &out, |_, _| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), sample_export(100, "KEPT"));

    // SIGTERM: a graceful stop.
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    let status = server.wait().unwrap();
    assert!(status.success(), "graceful shutdown failed: {status}");
}

#[tokio::test]
async fn serve_refuses_an_unsafe_or_incomplete_data_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    kenshin_relay::init::initialise(&root, test_config())
        .await
        .unwrap();
    let data = DataDir::new(&root);
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .args(["serve", "--data-dir"])
            .arg(&root)
            .args(["--listen", "127.0.0.1:0"])
            .output()
            .unwrap()
    };
    std::fs::set_permissions(data.kek_path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("kek.key") && stderr.contains("chmod 600"),
        "{stderr}"
    );

    std::fs::set_permissions(data.kek_path(), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(data.kek_path(), root.join("kek.moved")).unwrap();
    let out = run();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("key-encryption key is missing"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["serve", "--data-dir"])
        .arg(dir.path().join("nothing-here"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("kenshin-relay init"));
}
