//! Backups end to end with the real binary: generations written while the relay serves,
//! verified, rotated, a tampered copy detected, restored into an empty directory with the
//! KEK kept apart, and the restored relay serving the file in flight — its ledger intact, the
//! confirmed file still destroyed.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use kenshin_server::{Config, DataDir, RunningServer};

fn backup(args: &[&str], data: &Path) -> (bool, serde_json::Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .arg("backup")
        .arg("--data-dir")
        .arg(data)
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let value = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (output.status.success(), value, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_verify_rotate_restore_and_serve_again() {
    let mut relay = Relay::start().await;
    let data = relay.data.root().to_path_buf();
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    let confirmed = sender
        .send_stream(
            INSURER,
            "a.csv",
            None,
            stream_of(sample_export(5, "CONFIRMED-A")),
        )
        .await
        .unwrap();
    let in_flight_content = sample_export(50, "IN-FLIGHT-B");
    let in_flight = sender
        .send_stream(INSURER, "b.csv", None, stream_of(in_flight_content.clone()))
        .await
        .unwrap();
    let a = confirmed.deliveries[0].id.to_string();
    receiver
        .fetch_to_file(&a, &relay.dir.path().join("a.csv"), |_, _| {})
        .await
        .unwrap();
    receiver.confirm(&a).await.unwrap();
    relay.state().ledger.sequence().await.unwrap();

    // Not inside the data directory.
    let (ok, _, stderr) = backup(
        &["create", "--to", data.join("backups").to_str().unwrap()],
        &data,
    );
    assert!(
        !ok && stderr.contains("inside the data directory"),
        "{stderr}"
    );

    // Three generations while the relay serves; two are kept.
    let target = relay.dir.path().join("backups");
    let target_arg = target.to_str().unwrap();
    for _ in 0..3 {
        let (ok, generation, stderr) =
            backup(&["create", "--to", target_arg, "--keep", "2"], &data);
        assert!(ok, "{stderr}");
        assert_eq!(
            generation["blobs"], 1,
            "only the file in flight: {generation}"
        );
        let engine = match postgres::admin_url() {
            Some(_) => "postgres",
            None => "sqlite",
        };
        assert_eq!(generation["database"], engine, "{generation}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let (ok, list, _) = backup(&["list", "--to", target_arg], &data);
    assert!(ok);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let (ok, verified, stderr) = backup(&["verify", "--to", target_arg], &data);
    assert!(ok && verified["blobs"] == 1, "{stderr}");
    // The KEK is in no backup, and nothing in it is plaintext.
    let mut files = Vec::new();
    walk(&target, &mut files);
    let kek = std::fs::read(relay.data.kek_path()).unwrap();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(!contains(&bytes, b"IN-FLIGHT-B"), "{}", file.display());
        assert!(
            !contains(&bytes, b"BEGIN PRIVATE KEY"),
            "{}",
            file.display()
        );
        assert!(
            !contains(&bytes, &kek[kek.len() - 16..]),
            "{}",
            file.display()
        );
    }

    // A tampered copy is detected.
    let tampered = relay.dir.path().join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let latest = list.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    copy_dir(&target.join(&latest), &tampered.join(&latest));
    let blob = std::fs::read_dir(tampered.join(&latest).join("blobs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let (ok, _, stderr) = backup(&["verify", "--to", tampered.to_str().unwrap()], &data);
    assert!(!ok && stderr.contains("damaged"), "{stderr}");

    // Disaster: the relay is gone, its database too. Restore into an empty directory (and,
    // on PostgreSQL, an empty database) with the KEK kept apart.
    relay.stop().await;
    let live_database = Config::load(&relay.data).unwrap().database_url;
    if !live_database.is_empty() {
        postgres::drop_database(&live_database).await;
    }
    let kek_copy = relay.dir.path().join("kek-offline.key");
    std::fs::copy(relay.data.kek_path(), &kek_copy).unwrap();
    let restored = relay.dir.path().join("restored");
    let restored_database = match postgres::admin_url() {
        Some(admin) => Some(postgres::new_database(&admin).await),
        None => None,
    };
    let mut restore_args = vec![
        "restore",
        "--from",
        target_arg,
        "--kek",
        kek_copy.to_str().unwrap(),
        "--into",
        restored.to_str().unwrap(),
    ];
    if let Some(url) = &restored_database {
        // A PostgreSQL generation needs a database to go into.
        let mut without_database = restore_args.clone();
        let elsewhere = relay.dir.path().join("elsewhere");
        without_database[6] = elsewhere.to_str().unwrap();
        let (ok, _, stderr) = backup(&without_database, &data);
        assert!(!ok && stderr.contains("PostgreSQL database"), "{stderr}");
        assert!(!elsewhere.exists());
        restore_args.extend(["--database-url", url.as_str()]);
    }
    let (ok, report, stderr) = backup(&restore_args, &data);
    assert!(ok, "{stderr}");
    assert!(report["ledger_size"].as_u64().unwrap() > 0);
    // Not twice into the same place.
    let (ok, _, stderr) = backup(&restore_args, &data);
    assert!(!ok && stderr.contains("not empty"), "{stderr}");

    // The restored relay serves: same CA, same certificates, the file in flight downloads
    // intact, the confirmed one stays destroyed.
    let restored_data = DataDir::new(&restored);
    let config = test_config_on(restored_database.clone().unwrap_or_default());
    assert_eq!(
        Config::load(&restored_data).unwrap().database_url,
        config.database_url,
        "the restored configuration names the database restored into"
    );
    let server = RunningServer::start(&restored_data, config).await.unwrap();
    let url = format!("https://localhost:{}", server.addr.port());
    let receiver = client_for(relay.data.root(), &url, INSURER);
    let b = in_flight.deliveries[0].id.to_string();
    let out = relay.dir.path().join("b-restored.csv");
    receiver.fetch_to_file(&b, &out, |_, _| {}).await.unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), in_flight_content);
    let gone = receiver
        .fetch_to_file(&a, &relay.dir.path().join("a-again.csv"), |_, _| {})
        .await;
    assert!(gone.is_err());
    let object = server
        .state
        .db
        .delivery(
            server.state.db.org_by_code(INSURER).await.unwrap().id,
            a.parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(object.state, kenshin_core::DeliveryState::Confirmed);
    assert!(server.state.ledger.audit().await.unwrap().is_intact());
    server.shutdown().await.unwrap();
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
