//! The transparency ledger end to end: receipts that verify offline, a party's verification
//! with rollback and fork detection, party-only access, and tampering found by the audit.

use crate::common::*;
use kenshin_core::api::ErrorCode;

fn write(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn receipts_verify_offline_and_fail_when_any_byte_changes() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let receiver = relay.client(INSURER);
    let receipt = sender
        .send_stream(
            INSURER,
            "山田太郎_結果.csv",
            None,
            stream_of(sample_export(20, "R")),
        )
        .await
        .unwrap();
    let upload_receipt = receipt
        .receipt
        .clone()
        .expect("the upload response carries a receipt");
    let served_key = relay.anonymous().ledger_key().await.unwrap();
    let dir = relay.dir.path();
    write(&dir.join("upload.receipt"), &upload_receipt);
    write(&dir.join("ledger.pub"), &served_key);
    let verified = kenshin_relay::ledger::verify_receipt_file(
        &dir.join("upload.receipt"),
        dir.join("ledger.pub").to_str().unwrap(),
    )
    .unwrap();
    let entry = String::from_utf8(verified.entry.unwrap()).unwrap();
    assert!(entry.contains(&format!("submission {}", receipt.id)));
    assert!(entry.contains("kind received"), "{entry}");
    // No personal data: not even the file name a clerk typed a name into. No content hash
    // either: a keyed commitment that the two parties (who know the key) can open.
    assert!(!entry.contains("山田"), "{entry}");
    assert!(!entry.contains(&receipt.sha256), "{entry}");
    let key = hex::decode(receipt.commitment_key.as_deref().unwrap()).unwrap();
    let commitment = hex::encode(kenshin_crypto::hmac_sha256(&key, receipt.sha256.as_bytes()));
    assert!(entry.contains(&format!("content {commitment}")), "{entry}");

    // Every single-byte change breaks it (entry, proof or checkpoint).
    let bytes = upload_receipt.as_bytes();
    for at in (0..bytes.len()).step_by(7) {
        let mut changed = bytes.to_vec();
        changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
        let Ok(text) = String::from_utf8(changed) else {
            continue;
        };
        if text == upload_receipt {
            continue;
        }
        write(&dir.join("bad.receipt"), &text);
        assert!(
            kenshin_relay::ledger::verify_receipt_file(&dir.join("bad.receipt"), &served_key)
                .is_err(),
            "a receipt changed at byte {at} still verified"
        );
    }

    // 受信完了 gives the receiver its own receipt.
    let delivery = receipt.deliveries[0].id.to_string();
    let out = dir.join("f.csv");
    receiver
        .fetch_to_file(&delivery, &out, |_, _| {})
        .await
        .unwrap();
    let confirmed = receiver.confirm(&delivery).await.unwrap();
    let confirm_receipt = confirmed
        .receipt
        .expect("the confirmation carries a receipt");
    write(&dir.join("confirm.receipt"), &confirm_receipt);
    let verified =
        kenshin_relay::ledger::verify_receipt_file(&dir.join("confirm.receipt"), &served_key)
            .unwrap();
    let entry = String::from_utf8(verified.entry.unwrap()).unwrap();
    assert!(
        entry.contains("kind confirmed") && entry.contains(&delivery),
        "{entry}"
    );
    relay.stop().await;
}

#[tokio::test]
async fn parties_verify_the_log_and_a_rollback_or_fork_is_refused() {
    let mut relay = Relay::start().await;
    let sender = relay.client(INSTITUTION);
    let state = relay.dir.path().join("state.json");
    for i in 0..3 {
        sender
            .send_stream(
                INSURER,
                &format!("f{i}.csv"),
                None,
                stream_of(sample_export(5, "V")),
            )
            .await
            .unwrap();
    }
    let first = kenshin_relay::ledger::verify(&sender, &state, None)
        .await
        .unwrap();
    assert!(first.entries_verified >= 6, "{first:?}");
    assert!(first.previous_size.is_none());
    // More activity; the next check proves the new tree extends the old one.
    sender
        .send_stream(INSURER, "g.csv", None, stream_of(sample_export(5, "W")))
        .await
        .unwrap();
    relay.state().ledger.sequence().await.unwrap();
    let second = kenshin_relay::ledger::verify(&sender, &state, None)
        .await
        .unwrap();
    assert_eq!(second.previous_size, Some(first.size));
    assert!(second.size > first.size);

    // A client that once saw a bigger tree (signed by the same key) refuses a smaller one.
    let signer = kenshin_ledger::Signer::load_file(&relay.data.ledger_key_path()).unwrap();
    let origin = signer.name().to_owned();
    let forged_later = kenshin_ledger::Checkpoint {
        origin: origin.clone(),
        size: second.size + 10,
        root: [7; 32],
        extensions: vec![],
    };
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let with_checkpoint =
        |note: String| serde_json::json!({"key": saved["key"], "checkpoint": note}).to_string();
    std::fs::write(
        &state,
        with_checkpoint(kenshin_ledger::sign_checkpoint(&forged_later, &signer).unwrap()),
    )
    .unwrap();
    let err = kenshin_relay::ledger::verify(&sender, &state, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ROLLBACK"), "{err}");

    // Same size, different root: a fork.
    let current = relay.state().ledger.checkpoint().await.unwrap().unwrap();
    let forged_same = kenshin_ledger::Checkpoint {
        origin,
        size: current.size,
        root: [9; 32],
        extensions: vec![],
    };
    std::fs::write(
        &state,
        with_checkpoint(kenshin_ledger::sign_checkpoint(&forged_same, &signer).unwrap()),
    )
    .unwrap();
    let err = kenshin_relay::ledger::verify(&sender, &state, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("FORK"), "{err}");

    // A pinned key that is not the server's is refused.
    let other = kenshin_ledger::Signer::generate("other.example/ledger").unwrap();
    let err = kenshin_relay::ledger::verify(
        &sender,
        &relay.dir.path().join("fresh.json"),
        Some(&other.verifier().to_text()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not the pinned key"), "{err}");
    relay.stop().await;
}

#[tokio::test]
async fn only_the_parties_read_a_files_entries() {
    let mut relay = Relay::start().await;
    let receipt = relay
        .client(INSTITUTION)
        .send_stream(INSURER, "a.csv", None, stream_of(sample_export(5, "P")))
        .await
        .unwrap();
    relay.state().ledger.sequence().await.unwrap();
    let id = receipt.id.to_string();
    let sender_view = relay
        .client(INSTITUTION)
        .ledger_entries(Some(&id), None)
        .await
        .unwrap();
    let receiver_view = relay
        .client(INSURER)
        .ledger_entries(Some(&id), None)
        .await
        .unwrap();
    assert!(sender_view.len() >= 2);
    assert!(receiver_view
        .iter()
        .any(|e| e.entry.contains("kind delivered")));
    let other = relay.client(OTHER);
    let err = other.ledger_entries(Some(&id), None).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    let index = sender_view[0].index;
    let size = relay
        .state()
        .ledger
        .checkpoint()
        .await
        .unwrap()
        .unwrap()
        .size;
    let err = other.ledger_inclusion(index, size).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotFound));
    assert!(other.ledger_entries(None, None).await.unwrap().is_empty());
    // The checkpoint and key are public.
    assert!(relay
        .anonymous()
        .ledger_checkpoint()
        .await
        .unwrap()
        .contains("\n\n— "));
    relay.stop().await;
}

#[tokio::test]
async fn the_audit_finds_an_edited_entry_and_the_server_refuses_to_start() {
    let mut relay = Relay::start().await;
    for i in 0..4 {
        relay
            .client(INSTITUTION)
            .send_stream(
                INSURER,
                &format!("a{i}.csv"),
                None,
                stream_of(sample_export(3, "T")),
            )
            .await
            .unwrap();
    }
    relay.state().ledger.sequence().await.unwrap();
    assert!(relay.state().ledger.audit().await.unwrap().is_intact());
    let sender = relay.client(INSTITUTION);
    let state_file = relay.dir.path().join("verifier.json");
    kenshin_relay::ledger::verify(&sender, &state_file, None)
        .await
        .unwrap();

    // Someone with the database file drops the guard and edits an entry while the server runs.
    let pool = owner_pool(&relay.data).await;
    let refused = sqlx::query("UPDATE ledger_entries SET entry = $1 WHERE idx = 2")
        .bind(vec![0u8])
        .execute(&pool)
        .await;
    assert!(
        refused.is_err(),
        "the append-only trigger must refuse the update"
    );
    disable_trigger(&pool, "ledger_entries", "ledger_entries_append_only_update").await;
    sqlx::query("UPDATE ledger_entries SET entry = $1 WHERE idx = 2")
        .bind(b"kenshin-relay ledger entry v1\nseq 3\nkind withdrawn\n".to_vec())
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // A party's client notices: the entry no longer hashes to a leaf of the signed tree.
    let err = kenshin_relay::ledger::verify(&sender, &state_file, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not in the signed tree"), "{err}");
    relay.stop().await;

    let config = kenshin_server::Config::load(&relay.data).unwrap();
    let state = kenshin_server::AppState::open(&relay.data, config.clone())
        .await
        .unwrap();
    let audit = state.ledger.audit().await.unwrap();
    assert!(!audit.is_intact());
    assert!(
        audit.problems.iter().any(|p| p.contains("subtree")),
        "{audit:?}"
    );
    state.db.close().await;
    let err = kenshin_server::RunningServer::start(&relay.data, config)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("audit"), "{err}");
}

/// The commands the README's ledger section and the `/ledger` page print, run as written
/// (their placeholders filled in): the key fetched with curl, the upload receipt cut out with
/// `jq -r` (and its trailing newline), the receipt verified offline, the party's verification
/// with `--verifier-key`, and a file's history. (Several threads: the commands run as child
/// processes that the test waits for while the relay answers them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_commands_of_the_readme_and_the_page_run_as_written() {
    for tool in ["curl", "jq"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "{tool} is required by this test"
            );
            eprintln!("skipped: {tool} is not installed");
            return;
        }
    }
    let relay = Relay::start().await;
    let db = relay.db().await;
    let dir = relay.dir.path();
    let bin = env!("CARGO_BIN_EXE_kenshin-relay");
    let certs = relay.cert_dir(INSTITUTION);
    let ca = relay.data.ca_cert_path();
    let client_args = format!(
        "--server {} --ca {} --cert {} --key {}",
        relay.url(),
        ca.display(),
        certs.join("cert.pem").display(),
        certs.join("key.pem").display()
    );
    let sample = dir.join("file.csv");
    std::fs::write(&sample, sample_export(3, "L")).unwrap();
    let run = |line: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(line)
            .current_dir(dir)
            .env("KENSHIN_RELAY_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    // The README's block, line by line.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("### The transparency ledger").unwrap()..];
    let block = &section[section.find("```sh").unwrap() + 5..];
    let block = &block[..block.find("```").unwrap()];
    let mut submission = String::new();
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("kenshin-relay admin") {
            continue; // the operator's audit: tests/suite/ledger.rs's audit test
        }
        let command = line
            .split("  #")
            .next()
            .unwrap()
            .replace("$KR", bin)
            .replace("client ...", &format!("client {client_args}"))
            .replace("--cacert $D/ca.pem", &format!("--cacert {}", ca.display()))
            .replace("https://localhost:8443", &relay.url())
            .replace("demo-insurer", INSURER)
            .replace("SUBMISSION_ID", &submission);
        if command.contains("ledger show") && submission.is_empty() {
            panic!("no submission id before {line}");
        }
        let printed = run(&command);
        if command.contains("send file.csv") {
            // The receipt went to the file; the same command without jq gives the id.
            let receipt = std::fs::read_to_string(dir.join("upload.receipt")).unwrap();
            assert!(
                receipt.ends_with("\n\n") || receipt.ends_with('\n'),
                "jq -r adds a newline"
            );
            submission = db
                .list_submissions(
                    db.org_by_code(INSTITUTION).await.unwrap().id,
                    &Default::default(),
                )
                .await
                .unwrap()
                .0
                .first()
                .map(|s| s.id.to_string())
                .unwrap();
        }
        if command.contains("verify-receipt") {
            assert!(
                printed.contains("\"verified\": true") || printed.contains("verified"),
                "{printed}"
            );
        }
        if command.contains("ledger show") {
            // Both numbers are named and agree (entry i is event i + 1), whichever the first
            // entry of this file is on the backend.
            let line = printed
                .lines()
                .find(|l| l.contains("/ log entry "))
                .unwrap();
            let number = |after: &str| -> u64 {
                let rest = line.split(after).nth(1).unwrap();
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            };
            assert!(line.contains("台帳の記録 "), "{printed}");
            assert_eq!(
                number("event seq "),
                number("/ log entry ") + 1,
                "{printed}"
            );
        }
    }

    // The /ledger page's three commands, as a person of the party sees them.
    let person = crate::common::people::person(&relay, &db, INSTITUTION, "daicho", "admin").await;
    let (status, page) = person.call(reqwest::Method::GET, "/ledger").await;
    assert_eq!(status, reqwest::StatusCode::OK);
    std::fs::remove_file(dir.join("ledger.pub")).unwrap();
    std::fs::remove_file(dir.join(".kenshin-relay-ledger.json")).ok();
    for id in ["key-command", "verify-command", "show-command"] {
        let start = page
            .find(&format!("data-testid=\"{id}\">"))
            .unwrap_or_else(|| panic!("{id}"));
        let text = &page[start..];
        let text = &text[text.find('>').unwrap() + 1..text.find("</pre>").unwrap()];
        let command = text
            .replace("&gt;", ">")
            .replace("kenshin-relay client", &format!("{bin} client"))
            .replace("--server https://…", &format!("--server {}", relay.url()))
            .replace("https://…", &relay.url())
            .replace("--ca ca.pem", &format!("--ca {}", ca.display()))
            .replace("--cacert ca.pem", &format!("--cacert {}", ca.display()))
            .replace(
                "--cert cert.pem",
                &format!("--cert {}", certs.join("cert.pem").display()),
            )
            .replace(
                "--key key.pem",
                &format!("--key {}", certs.join("key.pem").display()),
            )
            .replace("SUBMISSION_ID", &submission);
        let printed = run(&command);
        if id == "verify-command" {
            assert!(printed.contains("台帳を検証しました"), "{printed}");
            assert!(printed.contains("ledger verified"), "{printed}");
        }
    }
    db.close().await;
}
