//! Durability: the real binary is killed with SIGKILL in the middle of an upload; after a
//! restart nothing of the upload is visible and no blob or partial file is left. Killed in the
//! middle of a conversion, it finishes the conversion after a restart without waiting for the
//! job's lease.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use kenshin_client::RelayClient;
use kenshin_server::DataDir;

fn spawn_server(data: &DataDir, port: u16) -> Reaped {
    spawn_server_with(data, port, &[])
}

fn spawn_server_with(data: &DataDir, port: u16, env: &[(&str, &str)]) -> Reaped {
    Reaped(
        Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
            .args(["serve", "--data-dir"])
            .arg(data.root())
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .env("KENSHIN_RELAY_LOG", "warn")
            .envs(env.iter().copied())
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_conversion_is_finished_after_restart_without_waiting_for_the_lease() {
    use common::conversion::{long_export, set_up_on, AGENT, CONVERTER, MAP};
    use kenshin_core::SubmissionState;
    let (_dir, data) = prepared_data_dir(&test_config()).await;
    set_up_on(&data).await;
    let root = data.root().to_owned();
    let port = free_port();
    let url = format!("https://localhost:{port}");
    let sender = client_for(&root, &url, CONVERTER);
    // An hour's lease: only taking the job back at once can finish it within the test.
    let lease = [("KENSHIN_RELAY_JOB_LEASE_SECONDS", "3600")];
    let mut server = spawn_server_with(&data, port, &lease);
    wait_healthy(&sender).await;
    sender
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let receipt = sender
        .send_stream("", "export.csv", None, stream_of(long_export(6000)))
        .await
        .unwrap();
    let id = receipt.id.to_string();
    let pool = owner_pool(&data).await;
    let job = |pool: sqlx::AnyPool| async move {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT state, attempts FROM background_jobs WHERE kind = 'convert'",
        )
        .fetch_optional(&pool)
        .await
        .unwrap()
    };
    let started = std::time::Instant::now();
    while job(pool.clone()).await.map(|j| j.0).as_deref() != Some("running") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker did not take the job"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill().unwrap(); // SIGKILL: no hand-back
    server.wait().unwrap();
    assert_eq!(
        job(pool.clone()).await,
        Some(("running".to_owned(), 1)),
        "killed in the middle of the conversion"
    );
    let restarted_at = std::time::Instant::now();
    let mut server = spawn_server_with(&data, port, &lease);
    wait_healthy(&sender).await;
    let done = loop {
        let view = sender.submission(&id).await.unwrap();
        if !matches!(
            view.state,
            SubmissionState::Received | SubmissionState::Converting
        ) {
            break view;
        }
        assert!(
            restarted_at.elapsed() < Duration::from_secs(120),
            "not converted after the restart (the lease is an hour)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = restarted_at.elapsed();
    assert_eq!(done.state, SubmissionState::Delivered);
    assert!(took < Duration::from_secs(120), "took {took:?}");
    assert_eq!(
        job(pool.clone()).await,
        Some(("done".to_owned(), 2)),
        "finished by the attempt after the restart"
    );
    let mut receivers: Vec<String> = done
        .deliveries
        .iter()
        .map(|d| d.receiver.code.clone())
        .collect();
    receivers.sort();
    assert_eq!(receivers, [AGENT.to_owned(), INSURER.to_owned()]);
    pool.close().await;
    unsafe {
        libc::kill(server.id() as i32, libc::SIGTERM);
    }
    assert!(server.wait().unwrap().success());
}
