//! The key-encryption key in a PKCS#11 HSM, end to end with the real binary and a real
//! SoftHSM2 token: `init` generates the key on the token (no key file anywhere), the relay
//! seals and serves files with it, a backup is restored with the HSM instead of a key file,
//! and a wrong PIN is refused without being printed.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use kenshin_server::{Config, DataDir, RunningServer};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "kr-relay-test";
const PIN: &str = "4711-kenshin";

/// The SoftHSM module, or `None` (with the reason printed) where it is not installed.
fn module() -> Option<PathBuf> {
    let module = PathBuf::from(MODULE);
    if module.exists() {
        return Some(module);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{MODULE} is missing: install softhsm2 (apt-get install -y softhsm2)");
    }
    eprintln!("skipped: {MODULE} is missing (apt-get install -y softhsm2)");
    None
}

fn relay_binary(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kenshin-relay"));
    command.args(args).env_remove("KENSHIN_RELAY_PKCS11_PIN");
    command
}

fn succeeded(output: Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null)
}

fn write_pin(path: &Path) {
    std::fs::write(path, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

async fn serve(data: &DataDir) -> RunningServer {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        crl_reload_seconds: 1,
        shutdown_grace_seconds: 5,
        ..Config::load(data).unwrap()
    };
    RunningServer::start(data, config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_whose_kek_is_in_an_hsm_seals_serves_backs_up_and_restores() {
    let Some(module) = module() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // SoftHSM reads its configuration once, when this process first loads the module (the
    // relay in this process) and in each child (the binary): one token directory for all.
    let tokens = dir.path().join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    // Set before any thread of this test binary loads the module; this file has one test.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let output = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN, "--pin", PIN])
        .args(["--so-pin", "so-4711-kenshin"])
        .output()
        .expect("softhsm2-util (package softhsm2)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pin_file = dir.path().join("pin");
    write_pin(&pin_file);

    // init generates the key on the token; no key file is written.
    let root = dir.path().join("data");
    let module_arg = module.to_str().unwrap();
    let initialised = succeeded(
        relay_binary(&["init", "--json", "--data-dir", root.to_str().unwrap()])
            .args(["--pkcs11-module", module_arg, "--pkcs11-token", TOKEN])
            .args(["--pkcs11-pin-file", pin_file.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    let kek_id = initialised["kek_id"].as_str().unwrap().to_owned();
    assert!(kek_id.starts_with("hsm-"), "{initialised}");
    let data = DataDir::new(&root);
    assert!(!data.kek_path().exists(), "a key file was written");
    let pin_mode = std::fs::metadata(data.pkcs11_pin_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(pin_mode & 0o777, 0o600);
    let config = Config::load(&data).unwrap();
    assert_eq!(config.kek_provider, "pkcs11");
    assert_eq!(config.pkcs11_token, TOKEN);
    // A second relay cannot take the same key label by accident.
    let again = relay_binary(&["init", "--data-dir", dir.path().join("b").to_str().unwrap()])
        .args(["--pkcs11-module", module_arg, "--pkcs11-token", TOKEN])
        .args(["--pkcs11-pin-file", pin_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(
        !dir.path().join("b").exists(),
        "a refused init left a directory"
    );

    // The relay seals with the HSM's key and serves the file back.
    populate(&data).await;
    let server = serve(&data).await;
    let url = format!("https://localhost:{}", server.addr.port());
    let sender = client_for(data.root(), &url, INSTITUTION);
    let receiver = client_for(data.root(), &url, INSURER);
    let content = sample_export(20, "HSM-SEALED");
    let receipt = sender
        .send_stream(INSURER, "hsm.csv", None, stream_of(content.clone()))
        .await
        .unwrap();
    let delivery = receipt.deliveries[0].id.to_string();
    let out = dir.path().join("fetched.csv");
    receiver
        .fetch_to_file(&delivery, &out, |_, _| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), content);
    let pool = owner_pool(&data).await;
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT kek_id, wrapped_key FROM objects WHERE wrapped_key IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert!(!rows.is_empty());
    for (row_kek, wrapped) in &rows {
        assert_eq!(row_kek, &kek_id);
        assert_eq!(wrapped[0], 2, "wrapped by the HSM provider");
    }
    server.state.ledger.sequence().await.unwrap();
    server.shutdown().await.unwrap();

    // A backup is written and verified with the HSM's key; the PIN is in no backup.
    let backups = dir.path().join("backups");
    let generation = succeeded(
        relay_binary(&["backup", "--json", "--data-dir", root.to_str().unwrap()])
            .args(["create", "--to", backups.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(generation["kek_id"], kek_id.as_str());
    let mut files = Vec::new();
    walk(&backups, &mut files);
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !bytes.windows(PIN.len()).any(|w| w == PIN.as_bytes()),
            "{}",
            file.display()
        );
    }

    // A wrong PIN is refused, and not printed.
    let wrong = relay_binary(&["backup", "--data-dir", root.to_str().unwrap()])
        .args(["verify", "--to", backups.to_str().unwrap()])
        .env("KENSHIN_RELAY_PKCS11_PIN", "0000-wrong")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success());
    assert!(stderr.to_lowercase().contains("pin"), "{stderr}");
    assert!(!stderr.contains("0000-wrong"), "{stderr}");

    // Restored with the HSM (no key file anywhere), the relay serves the file again.
    let restored = dir.path().join("restored");
    let report = succeeded(
        relay_binary(&["backup", "--json", "--data-dir", root.to_str().unwrap()])
            .args(["restore", "--from", backups.to_str().unwrap()])
            .args(["--into", restored.to_str().unwrap()])
            .args(["--pkcs11-module", module_arg, "--pkcs11-token", TOKEN])
            .args(["--pkcs11-pin-file", pin_file.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    assert_eq!(report["kek_id"], kek_id.as_str());
    let restored_data = DataDir::new(&restored);
    assert!(!restored_data.kek_path().exists());
    assert!(restored_data.pkcs11_pin_path().exists());
    let server = serve(&restored_data).await;
    let url = format!("https://localhost:{}", server.addr.port());
    // The organisations' client certificates were issued into the first directory.
    let receiver = client_for(data.root(), &url, INSURER);
    let again = dir.path().join("fetched-again.csv");
    receiver
        .fetch_to_file(&delivery, &again, |_, _| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), content);
    assert!(server.state.ledger.audit().await.unwrap().is_intact());
    server.shutdown().await.unwrap();
}
