//! The web UI in a real browser: starts a relay over real TLS with synthetic organisations
//! and fresh accounts, then runs `tests/browser/flows.mjs` (playwright-core driving Debian's
//! Chromium): first login with TOTP enrolment, upload with progress and the receipt, the
//! receiver's download and 受信完了, another organisation's not-found page, the operator's
//! console without content, the language switch and the session timeout.
//!
//! Needs `node`, `/usr/bin/chromium` and `tests/browser/node_modules` (`npm ci` there);
//! `.ci/run` installs them. Without them the test prints why it skipped — and fails under CI.
//! `KR_SAVE_SCREENSHOTS=1` writes the screenshots to `docs/screenshots/`.

mod common;

use std::path::Path;
use std::time::Duration;

use common::conversion;
use common::*;
use serde_json::json;

const MARKER: &str = "BROWSER-MARKER-検診";
const IDLE_SECONDS: u32 = 40;

fn missing_prerequisite(root: &Path) -> Option<String> {
    if std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("node is not installed".into());
    }
    if !Path::new("/usr/bin/chromium").exists() {
        return Some("/usr/bin/chromium is not installed (apt-get install chromium)".into());
    }
    if !root
        .join("tests/browser/node_modules/playwright-core")
        .exists()
    {
        return Some("playwright-core is not installed (npm ci in tests/browser)".into());
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_do_their_whole_job_in_the_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(reason) = missing_prerequisite(root) {
        if std::env::var_os("CI").is_some() {
            panic!("browser test prerequisites missing under CI: {reason}");
        }
        eprintln!("SKIPPED people_do_their_whole_job_in_the_browser: {reason}");
        return;
    }
    let config = kenshin_server::Config {
        session_idle_seconds: IDLE_SECONDS,
        // The relay's default: people present their own certificate besides password + TOTP.
        people_require_certificate: true,
        ..test_config()
    };
    let mut relay = Relay::start_with(config).await;
    // A converting institution has sent an export, so there is a conversion report to read.
    conversion::set_up(&relay).await;
    let converter = relay.client(conversion::CONVERTER);
    converter
        .upload_map(conversion::MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let converted = converter
        .send_stream(
            "",
            "export.csv",
            None,
            stream_of(conversion::export().into_bytes()),
        )
        .await
        .unwrap();
    conversion::wait_converted(&converter, &converted.id.to_string()).await;
    let db = relay.db().await;
    kenshin_relay::admin::create_org(
        &db,
        "operator".parse().unwrap(),
        kenshin_core::OrgKind::Operator,
        "健診リレー運用センター",
        vec![],
    )
    .await
    .unwrap();
    let mut accounts = serde_json::Map::new();
    for (i, (key, org, login, name, role)) in [
        (
            "sender",
            INSTITUTION,
            "sakura.tanaka",
            "田中 美咲",
            "sender",
        ),
        (
            "receiver",
            INSURER,
            "midori.suzuki",
            "鈴木 一郎",
            "receiver",
        ),
        ("other", OTHER, "aozora.sato", "佐藤 健太", "receiver"),
        ("ops", "operator", "ops.yamamoto", "山本 由美", "ops_admin"),
        ("admin", INSTITUTION, "sakura.admin", "伊藤 直子", "admin"),
        (
            "receiverAdmin",
            INSURER,
            "midori.admin",
            "小林 恵子",
            "admin",
        ),
        (
            "converter",
            conversion::CONVERTER,
            "convert.kato",
            "加藤 大輔",
            "sender",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let org_record = db.org_by_code(org).await.unwrap();
        let (_, initial) = kenshin_server::service::accounts::create_account(
            &db,
            &org_record,
            login,
            name,
            role,
            None,
        )
        .await
        .unwrap();
        accounts.insert(
            key.into(),
            json!({
                "org": org,
                "login": login,
                "name": name,
                "password": initial.as_str(),
                "newPassword": format!("Hikari-Tsuki*Ume-874{i}"),
            }),
        );
    }
    // Every person gets their own client certificate, as an admin issues it on
    // /certificates; the browser presents it (playwright's clientCertificates).
    for account in accounts.values_mut() {
        let login = account["login"].as_str().unwrap().to_owned();
        let org = account["org"].as_str().unwrap().to_owned();
        let user = db.user_by_login(&login).await.unwrap().unwrap();
        let dir = issue_person_cert(&relay, &db, &org.parse().unwrap(), &user, "ブラウザ").await;
        account["certPath"] = json!(dir.join("cert.pem"));
        account["keyPath"] = json!(dir.join("key.pem"));
    }
    db.close().await;
    // Two more files for the receiver, handled together from the inbox (bulk ZIP, bulk 受信完了).
    for name in ["bulk-a.csv", "bulk-b.csv"] {
        relay
            .client(INSTITUTION)
            .send_stream(
                INSURER,
                name,
                None,
                stream_of(sample_export(5, &format!("BULK-{name}"))),
            )
            .await
            .unwrap();
    }
    let work = relay.dir.path().join("browser");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("upload.csv"), sample_export(20, MARKER)).unwrap();
    // Not the content sent above through the API (that would be asked about as a duplicate).
    std::fs::write(
        work.join("convert.csv"),
        conversion::export().replace("165.0", "165.5"),
    )
    .unwrap();
    let screenshots = if std::env::var_os("KR_SAVE_SCREENSHOTS").is_some() {
        root.join("docs/screenshots")
    } else {
        work.join("screenshots")
    };

    let mut child = tokio::process::Command::new("node")
        .arg("flows.mjs")
        .current_dir(root.join("tests/browser"))
        .env("KR_URL", relay.url())
        .env(
            "KR_ACCOUNTS",
            serde_json::Value::Object(accounts).to_string(),
        )
        .env("KR_MARKER", MARKER)
        .env("KR_IDLE_SECONDS", IDLE_SECONDS.to_string())
        .env("KR_SCREENSHOTS", &screenshots)
        .env("KR_WORK_DIR", &work)
        .env("KR_REPORT", format!("/submissions/{}/report", converted.id))
        .env("KR_BIN", env!("CARGO_BIN_EXE_kenshin-relay"))
        .env("KR_DATA_DIR", relay.data.root())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let status = tokio::time::timeout(Duration::from_secs(300), child.wait())
        .await
        .expect("the browser flows finish within 5 minutes")
        .unwrap();
    assert!(
        status.success(),
        "the browser flows failed (see the output above)"
    );
    for page in [
        "login.png",
        "receipt.png",
        "inbox.png",
        "ops.png",
        "held.png",
    ] {
        assert!(screenshots.join(page).exists(), "{page} was taken");
    }

    // The record held in the browser flow reached the insurer whose route appeared meanwhile.
    {
        let db = relay.db().await;
        let late = db.org_by_code("ins-late").await.unwrap();
        let (inbox, total) = db
            .list_deliveries(late.id, &kenshin_store::ListFilter::default())
            .await
            .unwrap();
        // Its record of the same export sent through the API before went out with it.
        assert_eq!(
            total, 2,
            "the released batches are the new insurer's deliveries"
        );
        assert!(inbox.iter().all(|d| d.records == Some(1)));
        db.close().await;
    }

    // What the browser did is in the access log, with the people's logins.
    relay.state().access.flush().await;
    let db = relay.db().await;
    let rows = db
        .search_access(&kenshin_store::AccessFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    for (actor, action) in [
        ("sakura.tanaka", "submission_create"),
        ("midori.suzuki", "delivery_download"),
        ("midori.suzuki", "delivery_confirm"),
        ("ops.yamamoto", "ops_console"),
    ] {
        assert!(
            rows.iter()
                .any(|r| r.actor == actor && r.action == action && r.outcome == "success"),
            "{actor} {action} is in the access log"
        );
    }
    assert!(rows.iter().all(|r| !r.objects.join(" ").contains(MARKER)));
    db.close().await;
    relay.stop().await;
}
