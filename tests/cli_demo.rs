//! The README's path for a new user: `kenshin-relay demo`, then the printed `client`
//! commands, run as real processes.

mod common;

use common::Reaped;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kr() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kenshin-relay"));
    command.env("KENSHIN_RELAY_LOG", "warn");
    command
}

fn run_json(args: &[&str], org_dir: &Path, server: &str, ca: &Path) -> (bool, serde_json::Value) {
    let out = kr()
        .arg("client")
        .arg("--json")
        .args(["--server", server])
        .arg("--ca")
        .arg(ca)
        .arg("--cert")
        .arg(org_dir.join("cert.pem"))
        .arg("--key")
        .arg(org_dir.join("key.pem"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), value)
}

#[test]
fn demo_then_the_printed_client_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo-data");
    let mut demo = Reaped(
        kr().args(["demo", "--port", "0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = demo.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let started = Instant::now();
    let mut server = None;
    let mut printed = String::new();
    while started.elapsed() < Duration::from_secs(120) {
        let Some(Ok(line)) = lines.next() else { break };
        printed.push_str(&line);
        printed.push('\n');
        if let Some(rest) = line.trim().strip_prefix("server: ") {
            server = rest.split_whitespace().next().map(str::to_owned);
        }
        if line.contains("Ctrl-C") {
            break;
        }
    }
    let server = server.unwrap_or_else(|| panic!("demo printed no server line:\n{printed}"));
    assert!(
        printed.contains("client") && printed.contains("curl"),
        "{printed}"
    );
    let demo_dir = data.join("demo");
    let ca = demo_dir.join("ca.pem");
    let institution = demo_dir.join("demo-institution");
    let insurer = demo_dir.join("demo-insurer");
    for org in [&institution, &insurer, &demo_dir.join("demo-clinic")] {
        assert!(org.join("cert.pem").exists() && org.join("key.pem").exists());
    }
    // People for the web UI, with their initial passwords readable by the owner only.
    let passwords = demo_dir.join("initial-passwords.txt");
    let listed = std::fs::read_to_string(&passwords).unwrap();
    assert_eq!(listed.lines().count(), 5, "{listed}");
    assert!(listed.lines().all(|l| l.split(' ').count() == 2));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&passwords).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(printed.contains("demo.receiver") && printed.contains("initial-passwords.txt"));
    // Like every new relay, the demo requires people's own certificates; each person has a
    // PKCS#12 bundle to import into the browser, and the printed text says where and how.
    let config = std::fs::read_to_string(data.join("config.toml")).unwrap();
    assert!(
        config.contains("people_require_certificate = true"),
        "{config}"
    );
    for login in [
        "demo.sender",
        "demo.admin",
        "demo.receiver",
        "demo.converter",
        "demo.ops",
    ] {
        let person = demo_dir.join("people").join(login);
        for file in ["client.p12", "client.p12.password", "cert.pem", "key.pem"] {
            assert!(person.join(file).exists(), "{login}: {file}");
        }
        assert_eq!(
            std::fs::metadata(person.join("client.p12.password"))
                .unwrap()
                .permissions()
                .mode()
                & 0o077,
            0
        );
    }
    assert!(
        printed.contains("client.p12") && printed.contains("証明書の管理"),
        "{printed}"
    );
    let sample = demo_dir.join("sample-results.csv");

    let (ok, receipt) = run_json(
        &["send", sample.to_str().unwrap(), "--to", "demo-insurer"],
        &institution,
        &server,
        &ca,
    );
    assert!(ok, "{receipt}");
    assert_eq!(receipt["state"], "delivered");
    let delivery = receipt["deliveries"][0]["id"].as_str().unwrap().to_owned();

    let (ok, inbox) = run_json(&["list", "inbox"], &insurer, &server, &ca);
    assert!(ok);
    assert_eq!(inbox["total"], 1);
    assert_eq!(inbox["items"][0]["id"], delivery.as_str());

    let out = dir.path().join("received.csv");
    let (ok, fetched) = run_json(
        &["fetch", &delivery, "--out", out.to_str().unwrap()],
        &insurer,
        &server,
        &ca,
    );
    assert!(ok, "{fetched}");
    assert_eq!(fetched["verified"], true);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&sample).unwrap()
    );

    let (ok, confirmed) = run_json(&["confirm", &delivery], &insurer, &server, &ca);
    assert!(ok, "{confirmed}");
    assert_eq!(confirmed["state"], "confirmed");

    let again = dir.path().join("again.csv");
    let (ok, error) = run_json(
        &["fetch", &delivery, "--out", again.to_str().unwrap()],
        &insurer,
        &server,
        &ca,
    );
    assert!(!ok);
    assert_eq!(error["error"]["code"], "gone", "{error}");
    assert!(!again.exists());

    let (ok, sent) = run_json(&["list", "sent"], &institution, &server, &ca);
    assert!(ok);
    assert_eq!(sent["items"][0]["deliveries"][0]["state"], "confirmed");

    // Conversion, as printed: the converting institution sends its export without a
    // receiver; six records reach the insurer, one is held for a 保険者番号 nobody receives
    // yet, one is returned for lack of a birth date.
    let converter = demo_dir.join("demo-converter");
    let export = demo_dir.join("sample-convert.csv");
    assert!(printed.contains("sample-convert.csv") && printed.contains("--mode convert"));
    let (ok, receipt) = run_json(
        &["send", export.to_str().unwrap()],
        &converter,
        &server,
        &ca,
    );
    assert!(ok, "{receipt}");
    let submission = receipt["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let report = loop {
        let (ok, report) = run_json(&["report", &submission], &converter, &server, &ca);
        if ok {
            break report;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{report}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(report["records_in"], 8, "{report}");
    assert_eq!(report["records_out"], 6, "{report}");
    let (ok, held) = run_json(&["held", &submission], &converter, &server, &ca);
    assert!(ok, "{held}");
    // The printed operator commands: an insurer for 06999909 and a converting route; the held
    // record is delivered at once.
    for needle in [
        "org create --code demo-insurer-2",
        "route create --from demo-converter",
    ] {
        let line = printed
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} is not printed:\n{printed}"));
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        let out = kr().args(&words).output().unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if needle.starts_with("route") {
            assert!(String::from_utf8_lossy(&out.stdout).contains("released 1"));
        }
    }
    // The operator console's person has their own certificate (printed with the URL).
    assert!(printed.contains("/ops") && printed.contains("demo.ops"));

    // Notifications: the receiver's arrival e-mails are in the demo's mail sink.
    assert!(printed.contains("demo/mail"), "{printed}");
    let mail = demo_dir.join("mail");
    let started = Instant::now();
    loop {
        let to_receiver = std::fs::read_dir(&mail)
            .unwrap()
            .filter_map(|e| std::fs::read_to_string(e.unwrap().path()).ok())
            .filter(|text| text.contains("demo.receiver@insurer.demo.invalid"))
            .count();
        // The pass-through file and the converted output.
        if to_receiver >= 2 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "arrival e-mails: {to_receiver}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // The operator's view of the same data directory.
    let orgs = kr()
        .args(["admin", "--json", "--data-dir"])
        .arg(&data)
        .args(["org", "list"])
        .output()
        .unwrap();
    assert!(orgs.status.success());
    let orgs: serde_json::Value = serde_json::from_slice(&orgs.stdout).unwrap();
    assert_eq!(orgs.as_array().unwrap().len(), 6);

    unsafe {
        libc::kill(demo.id() as i32, libc::SIGTERM);
    }
    assert!(demo.wait().unwrap().success());
}

#[test]
fn admin_commands_validate_their_input() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let init = kr()
        .args(["init", "--json", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let again = kr()
        .args(["init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialised"));

    let admin = |args: &[&str]| {
        kr().args(["admin", "--data-dir"])
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    let bad_number = admin(&[
        "org",
        "create",
        "--code",
        "ins-1",
        "--kind",
        "insurer",
        "--name",
        "テスト保険組合",
        "--insurer-number",
        "1234",
    ]);
    assert!(!bad_number.status.success());
    assert!(String::from_utf8_lossy(&bad_number.stderr).contains("8 ASCII digits"));
    let ok = admin(&[
        "org",
        "create",
        "--code",
        "ins-1",
        "--kind",
        "insurer",
        "--name",
        "テスト保険組合",
        "--insurer-number",
        "06999903",
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let duplicate = admin(&[
        "org", "create", "--code", "ins-1", "--kind", "insurer", "--name", "x",
    ]);
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    let wrong_way = admin(&["route", "create", "--from", "ins-1", "--to", "ins-1"]);
    assert!(!wrong_way.status.success());
    assert!(String::from_utf8_lossy(&wrong_way.stderr).contains("does not send"));

    let certs = dir.path().join("certs");
    let issued = admin(&[
        "--json",
        "cert",
        "issue",
        "--org",
        "ins-1",
        "--name",
        "バッチ1",
        "--out",
        certs.to_str().unwrap(),
    ]);
    assert!(
        issued.status.success(),
        "{}",
        String::from_utf8_lossy(&issued.stderr)
    );
    let issued: serde_json::Value = serde_json::from_slice(&issued.stdout).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let key_mode = std::fs::metadata(certs.join("key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    assert!(certs.join("client.p12").exists());
    let serial = issued["serial"].as_str().unwrap();
    let revoked = admin(&["cert", "revoke", serial, "--reason", "key-compromise"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let twice = admin(&["cert", "revoke", serial]);
    assert!(!twice.status.success());
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already revoked"));

    // Every admin command is in the access log, failed ones too.
    let log = dir.path().join("access.jsonl");
    let export = admin(&[
        "ledger",
        "export-access",
        "--format",
        "jsonl",
        "--out",
        log.to_str().unwrap(),
    ]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("certificate_revoke"), "{log}");
    assert!(
        log.contains("\"failed\""),
        "the refused second revoke is recorded: {log}"
    );

    // `audit export` filters by action and writes to standard output.
    let filtered = kr()
        .args(["audit", "--data-dir"])
        .arg(&data)
        .args([
            "export",
            "--action",
            "certificate_revoke",
            "--format",
            "csv",
            "--out",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        filtered.status.success(),
        "{}",
        String::from_utf8_lossy(&filtered.stderr)
    );
    let csv = String::from_utf8(filtered.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and the two revokes: {csv}");
    assert!(
        lines[1..].iter().all(|l| l.contains("certificate_revoke")),
        "{csv}"
    );
    let bad = kr()
        .args(["audit", "--data-dir"])
        .arg(&data)
        .args(["export", "--from", "yesterday", "--out", "-"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from"));
}

#[test]
fn the_security_doc_shows_the_permission_matrix_of_the_code() {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/SECURITY.md")).unwrap();
    assert!(
        doc.contains(&kenshin_auth::matrix_markdown()),
        "docs/SECURITY.md is out of date: run `cargo run --example print_matrix` and paste the table"
    );
}
