//! Notifications end to end, against a real mail server and a real webhook receiver: aiosmtpd
//! (STARTTLS and AUTH required; the first message refused with 451) and an HTTPS receiver
//! that checks every signature with the Standard Webhooks reference library (the first POST
//! answered 503), both started here (`tests/notify/`). Every event kind reaches the people and
//! endpoint that chose it exactly once, a refused attempt is retried and recorded, reminders
//! come before destruction on a clock the test moves, and no message carries an examinee's
//! data or the export's file name.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use kenshin_server::service::{notifications, relay as relay_service};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::common::conversion::{self, CONVERTER, MAP};
use crate::common::people::person;
use crate::common::*;

const SMTP_USER: &str = "relay-mailer";
const SMTP_PASSWORD: &str = "mail-Pass-Ume-4410";
/// What the exports carry that no notification may: file names a clerk typed a name into,
/// examinees' values.
const NEVER: [&str; 9] = [
    "山田花子",
    "鈴木一郎",
    "受診者一覧",
    "S45.1.1",
    "1980/2/3",
    "令和元年5月1日",
    "19600101",
    "NOTIFY-MARKER",
    "テスト タロウ",
];

/// The Python that has aiosmtpd and standardwebhooks: `KENSHIN_TEST_NOTIFY_PYTHON` (what
/// `.ci/run` installs), else `python3` if it can import both. Under CI its absence fails.
fn sink_python() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KENSHIN_TEST_NOTIFY_PYTHON") {
        Some(path) => vec![PathBuf::from(path)],
        None => vec![PathBuf::from("python3")],
    };
    for python in candidates {
        let ok = Command::new(&python)
            .args(["-c", "import aiosmtpd, standardwebhooks"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    let why = "no Python with aiosmtpd and standardwebhooks (pip install -r tests/notify/requirements.txt, or set KENSHIN_TEST_NOTIFY_PYTHON)";
    if std::env::var_os("CI").is_some() {
        panic!("{why}");
    }
    eprintln!("skipped: {why}");
    None
}

fn sink_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/notify")
        .join(name)
}

/// Starts a sink and waits for its "ready" line.
fn start_sink(python: &Path, script: &str, args: &[String]) -> Reaped {
    let mut child = Reaped(
        Command::new(python)
            .arg(sink_script(script))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready", "{script} did not start");
    child
}

fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs the queue until no notification is waiting: a refused attempt waits for its backoff
/// on the relay's clock, which the test moves on (by seconds, far below any reminder).
async fn settle(relay: &Relay) {
    let db = relay.state().db.clone();
    let orgs = db.list_orgs().await.unwrap();
    for _ in 0..240 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut pending = 0;
        for org in &orgs {
            pending += db
                .notifications_of(org.id, None, 500)
                .await
                .unwrap()
                .iter()
                .filter(|n| n.state == "pending")
                .count();
        }
        let jobs = db
            .open_jobs(1000)
            .await
            .unwrap()
            .into_iter()
            .filter(|j| {
                matches!(j.kind.as_str(), "notify" | "notification_send")
                    && matches!(j.state.as_str(), "queued" | "running")
            })
            .count();
        if pending == 0 && jobs == 0 {
            return;
        }
        relay.advance(time::Duration::seconds(11));
        relay.state().jobs.notify_one();
    }
    let open: Vec<_> = db
        .open_jobs(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|j| (j.kind, j.state, j.attempts, j.last_error))
        .collect();
    panic!("notifications did not settle: {open:?}");
}

#[tokio::test]
async fn every_event_reaches_who_chose_it_once_signed_retried_and_without_personal_data() {
    let Some(python) = sink_python() else { return };
    let work = tempfile::tempdir().unwrap();
    let ca = kenshin_pki::CertificateAuthority::generate("notification test CA").unwrap();
    let server = ca
        .issue_server(&["localhost".into(), "127.0.0.1".into()], 30)
        .unwrap();
    let (ca_file, cert_file, key_file) = (
        work.path().join("ca.pem"),
        work.path().join("sink.pem"),
        work.path().join("sink.key"),
    );
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    std::fs::write(&cert_file, &server.cert_pem).unwrap();
    std::fs::write(&key_file, server.key_pem.as_bytes()).unwrap();
    let mail_dir = work.path().join("mail");
    std::fs::create_dir(&mail_dir).unwrap();
    let (smtp_port, hook_port) = (free_port(), free_port());
    let _smtp = start_sink(
        &python,
        "smtp_sink.py",
        &[
            format!("--port={smtp_port}"),
            format!("--dir={}", mail_dir.display()),
            format!("--cert={}", cert_file.display()),
            format!("--key={}", key_file.display()),
            format!("--user={SMTP_USER}"),
            format!("--password={SMTP_PASSWORD}"),
            "--refuse-first=1".into(),
        ],
    );
    let secret_file = work.path().join("webhook.secret");
    std::fs::write(&secret_file, "").unwrap();
    let hook_log = work.path().join("webhooks.jsonl");
    let _hooks = start_sink(
        &python,
        "webhook_sink.py",
        &[
            format!("--port={hook_port}"),
            format!("--cert={}", cert_file.display()),
            format!("--key={}", key_file.display()),
            format!("--secret-file={}", secret_file.display()),
            format!("--log={}", hook_log.display()),
            "--refuse-first=1".into(),
        ],
    );
    let password_file = work.path().join("smtp.password");
    std::fs::write(&password_file, format!("{SMTP_PASSWORD}\n")).unwrap();
    let config = kenshin_server::Config {
        smtp_host: "127.0.0.1".into(),
        smtp_port,
        smtp_security: "starttls".into(),
        smtp_username: SMTP_USER.into(),
        smtp_password_file: password_file.display().to_string(),
        smtp_from: "健診リレー <noreply@relay.example.jp>".into(),
        smtp_ca_file: ca_file.display().to_string(),
        webhook_ca_file: ca_file.display().to_string(),
        webhook_allow_private: true,
        public_url: "https://relay.example.jp:8443".into(),
        login_max_failures: 3,
        ..test_config()
    };
    let relay = Relay::start_with_manual_clock(config).await;
    conversion::set_up(&relay).await;
    // The start's retention sweep warned of the test's certificates (30 days) before anyone
    // listened; the 7-day warning below is the one people hear.
    settle(&relay).await;
    let db = relay.db().await;

    // People choose: the insurer's receiver in English, the institution's admin by its role's
    // defaults (all topics), the converting sender everything; the insurer's admin adds a
    // webhook endpoint for every topic.
    let receiver = person(&relay, &db, INSURER, "uketori", "receiver").await;
    let (status, mine) = receiver
        .put_json(
            "/api/v1/account/notifications",
            json!({"email": "uketori@insurer.example.jp", "language": "en",
               "topics": ["delivery.arrived", "delivery.expiring", "delivery.expired"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    assert_eq!(mine["email_enabled"], true);
    let admin = person(&relay, &db, INSTITUTION, "kanri", "admin").await;
    let (status, mine) = admin.put_json("/api/v1/account/notifications",
        json!({"email": "kanri@sakura.example.jp", "language": "ja",
               "topics": ["delivery.downloaded", "delivery.confirmed", "delivery.expired", "certificate.expiring"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{mine}");
    let sender = person(&relay, &db, CONVERTER, "soushin", "sender").await;
    let all: Vec<&str> = kenshin_notify::Topic::CHOOSABLE
        .iter()
        .map(|t| t.as_str())
        .collect();
    let (status, _) = sender
        .put_json(
            "/api/v1/account/notifications",
            json!({"email": "soushin@convert.example.jp", "topics": all}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // A bad address is refused with the value and a Japanese reason.
    let (status, refused) = sender
        .put_json(
            "/api/v1/account/notifications",
            json!({"email": "soushin at convert", "topics": []}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(refused.to_string().contains("メールアドレス"), "{refused}");
    let insurer_admin = person(&relay, &db, INSURER, "hoken-kanri", "admin").await;
    let (status, refused) = insurer_admin
        .post_json(
            "/api/v1/org/webhooks",
            json!({"url": "http://127.0.0.1/hook", "topics": ["delivery.arrived"]}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, created) = insurer_admin
        .post_json(
            "/api/v1/org/webhooks",
            json!({"url": format!("https://127.0.0.1:{hook_port}/kenshin"), "topics": all}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    std::fs::write(&secret_file, secret).unwrap();
    let endpoint = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let (status, listed) = insurer_admin
        .call(reqwest::Method::GET, "/api/v1/org/webhooks")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !listed.contains("whsec_"),
        "the secret is shown once: {listed}"
    );
    let (status, _) = insurer_admin
        .post_json(&format!("/api/v1/org/webhooks/{endpoint}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // A pass-through file arrives, is downloaded and confirmed; a second is left alone.
    let institution = relay.client(INSTITUTION);
    let first = institution
        .send_stream(
            INSURER,
            "山田花子_健診結果.csv",
            None,
            stream_of(sample_export(3, "NOTIFY-MARKER")),
        )
        .await
        .unwrap();
    let insurer = relay.client(INSURER);
    let delivery = first.deliveries[0].id.to_string();
    let out = work.path().join("fetched.csv");
    insurer
        .fetch_to_file(&delivery, &out, |_, _| {})
        .await
        .unwrap();
    insurer.confirm(&delivery).await.unwrap();
    let second = institution
        .send_stream(
            INSURER,
            "山田花子_再送.csv",
            None,
            stream_of(sample_export(2, "NOTIFY-MARKER")),
        )
        .await
        .unwrap();
    let unconfirmed = second.deliveries[0].id.to_string();

    // A converted export (records held and returned), and one that cannot be converted.
    let converter = relay.client(CONVERTER);
    converter
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    let converted_view = converter
        .send_stream(
            "",
            "受診者一覧_鈴木一郎.csv",
            None,
            stream_of(conversion::export().into_bytes()),
        )
        .await
        .unwrap();
    let converted_view =
        conversion::wait_converted(&converter, &converted_view.id.to_string()).await;
    assert_eq!(converted_view.deliveries.len(), 2, "{converted_view:?}");
    let failed = converter
        .send_stream(
            "",
            "受診者一覧_鈴木一郎_壊れ.csv",
            None,
            stream_of(b"\x00\x01\x02 not an export".to_vec()),
        )
        .await
        .unwrap();
    conversion::wait_converted(&converter, &failed.id.to_string()).await;
    // The insurer takes the converted output; only the second file is left unconfirmed.
    let inbox = insurer
        .list_deliveries(Some("ready"), 100, 0)
        .await
        .unwrap();
    for d in inbox.items.iter().filter(|d| d.sender.code == CONVERTER) {
        let id = d.id.to_string();
        insurer.fetch_to_file(&id, &out, |_, _| {}).await.unwrap();
        insurer.confirm(&id).await.unwrap();
    }

    // Three wrong passwords lock the receiver's account.
    for _ in 0..3 {
        let response = receiver
            .http
            .post(format!("{}/auth/login", relay.url()))
            .json(&json!({"login": "uketori", "password": "wrong-Pass-1234", "code": "000000"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        relay.advance(time::Duration::seconds(70));
    }
    settle(&relay).await;

    // The reminders, on the relay's clock: 7 days before, then 1 day before, then destroyed;
    // the certificates' 7-day warning comes with the first.
    let state = relay.state();
    notifications::remind_due(state, state.now()).await.unwrap();
    settle(&relay).await;
    relay.advance(time::Duration::days(23) + time::Duration::hours(1));
    assert!(notifications::remind_due(state, state.now()).await.unwrap() >= 1);
    settle(&relay).await;
    // Again the same day: nothing new.
    assert_eq!(
        notifications::remind_due(state, state.now()).await.unwrap(),
        0
    );
    relay.advance(time::Duration::days(6) + time::Duration::hours(1));
    assert!(notifications::remind_due(state, state.now()).await.unwrap() >= 1);
    settle(&relay).await;
    relay.advance(time::Duration::days(1));
    assert!(relay_service::expire_due(state, state.now()).await.unwrap() >= 1);
    settle(&relay).await;

    // What the mail server accepted.
    let mails = json_lines(&mail_dir.join("mail.jsonl"));
    let webhooks = json_lines(&hook_log);
    let mut mail_topics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for mail in &mails {
        assert_eq!(mail["tls"], true, "{mail}");
        assert_eq!(mail["authenticated"], true, "{mail}");
        assert!(
            mail["content_type"].as_str().unwrap().contains("utf-8"),
            "{mail}"
        );
        let to = mail["to"][0].as_str().unwrap().to_owned();
        mail_topics
            .entry(to)
            .or_default()
            .push(mail["subject"].as_str().unwrap().to_owned());
    }
    let subjects = |to: &str| mail_topics.get(to).cloned().unwrap_or_default();
    let count = |to: &str, needle: &str| subjects(to).iter().filter(|s| s.contains(needle)).count();
    // The receiver (English): three arrivals (two files and a converted output), two
    // reminders, one expiry, and their own account's lock.
    assert_eq!(
        count("uketori@insurer.example.jp", "A new delivery has arrived"),
        3,
        "{mail_topics:?}"
    );
    assert_eq!(
        count("uketori@insurer.example.jp", "destroyed in 7 day"),
        1,
        "{mail_topics:?}"
    );
    assert_eq!(
        count("uketori@insurer.example.jp", "destroyed in 1 day"),
        1,
        "{mail_topics:?}"
    );
    assert_eq!(
        count(
            "uketori@insurer.example.jp",
            "An unconfirmed delivery was destroyed"
        ),
        1
    );
    assert_eq!(
        count("uketori@insurer.example.jp", "An account was locked"),
        1
    );
    assert!(subjects("uketori@insurer.example.jp")
        .iter()
        .all(|s| s.starts_with("[Kenshin Relay]")));
    // The institution's admin (Japanese): downloaded, confirmed, expired, its certificate.
    assert_eq!(
        count("kanri@sakura.example.jp", "ダウンロードされました"),
        1,
        "{mail_topics:?}"
    );
    assert_eq!(count("kanri@sakura.example.jp", "受信完了になりました"), 1);
    assert_eq!(
        count(
            "kanri@sakura.example.jp",
            "受信完了にならなかったファイルを消去しました"
        ),
        1
    );
    assert_eq!(count("kanri@sakura.example.jp", "証明書の有効期限"), 1);
    // The converting sender: the conversion's counts, held records, the file that failed.
    assert_eq!(
        count("soushin@convert.example.jp", "ファイルの変換が終わりました"),
        1,
        "{mail_topics:?}"
    );
    assert_eq!(
        count("soushin@convert.example.jp", "レコードを保留しました"),
        1,
        "{mail_topics:?}"
    );
    assert_eq!(
        count("soushin@convert.example.jp", "レコードを差し戻しました"),
        1
    );
    assert_eq!(
        count(
            "soushin@convert.example.jp",
            "ファイルを変換できませんでした"
        ),
        1
    );
    let conversion_mail = mails
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap()
                .contains("変換が終わりました")
        })
        .unwrap();
    let body = conversion_mail["body"].as_str().unwrap();
    assert!(body.contains("8 件を読み"), "{body}");
    assert!(
        body.contains("https://relay.example.jp:8443/submissions/"),
        "{body}"
    );
    assert!(
        body.contains("https://relay.example.jp:8443/account"),
        "{body}"
    );

    // Every webhook POST was signed as Standard Webhooks says (checked by its reference
    // library), the refused one sent again under the same id, each id accepted once.
    assert!(!webhooks.is_empty());
    let mut accepted: BTreeMap<String, Value> = BTreeMap::new();
    let mut refused_ids = Vec::new();
    for hook in &webhooks {
        assert_eq!(hook["verified"], true, "{hook}");
        assert_eq!(hook["path"], "/kenshin");
        let id = hook["headers"]["webhook-id"].as_str().unwrap().to_owned();
        if hook["refused"] == true {
            refused_ids.push(id);
        } else {
            let body: Value = serde_json::from_str(hook["body"].as_str().unwrap()).unwrap();
            assert!(
                accepted.insert(id.clone(), body).is_none(),
                "{id} accepted twice"
            );
        }
    }
    assert_eq!(refused_ids.len(), 1);
    assert!(
        accepted.contains_key(&refused_ids[0]),
        "the refused notice was sent again"
    );
    let types: Vec<&str> = accepted
        .values()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    let of = |t: &str| types.iter().filter(|x| **x == t).count();
    assert_eq!(of("webhook.test"), 1, "{types:?}");
    assert_eq!(of("delivery.arrived"), 3, "{types:?}");
    assert_eq!(of("delivery.expiring"), 2, "{types:?}");
    assert_eq!(of("delivery.expired"), 1, "{types:?}");
    assert_eq!(of("certificate.expiring"), 1, "{types:?}");
    assert_eq!(of("account.locked"), 1, "{types:?}");
    for body in accepted.values() {
        assert_eq!(body["data"]["organisation"]["code"], INSURER, "{body}");
        assert!(body["data"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://relay.example.jp:8443/"));
    }
    let expiring: Vec<&Value> = accepted
        .values()
        .filter(|b| b["type"] == "delivery.expiring")
        .collect();
    assert!(expiring
        .iter()
        .all(|b| b["data"]["delivery_id"] == unconfirmed.as_str()));
    let mut days: Vec<u64> = expiring
        .iter()
        .map(|b| b["data"]["days_left"].as_u64().unwrap())
        .collect();
    days.sort();
    assert_eq!(days, [1, 7]);

    // Nothing personal anywhere: not in a subject, a body or a payload.
    let everything = format!(
        "{}\n{}",
        std::fs::read_to_string(mail_dir.join("mail.jsonl")).unwrap(),
        std::fs::read_to_string(&hook_log).unwrap()
    );
    for never in NEVER {
        assert!(
            !everything.contains(never),
            "{never:?} appeared in a notification"
        );
    }

    // Each attempt is on record: the refused webhook shows its 503, then its success.
    let insurer_org = db.org_by_code(INSURER).await.unwrap();
    let sent = db
        .notifications_of(insurer_org.id, None, 500)
        .await
        .unwrap();
    assert!(sent.iter().all(|n| n.state == "sent"), "{sent:?}");
    let retried = sent.iter().find(|n| n.id == refused_ids[0]).unwrap();
    let attempts = db
        .notification_attempts(insurer_org.id, &retried.id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].outcome, "failed");
    assert!(attempts[0].detail.contains("503"), "{attempts:?}");
    assert_eq!(attempts[1].outcome, "sent");
    // And one e-mail was refused (451) once and then accepted.
    let mut mail_retries = 0;
    for org in db.list_orgs().await.unwrap() {
        for n in db.notifications_of(org.id, None, 500).await.unwrap() {
            assert_eq!(n.state, "sent", "{n:?}");
            if n.channel == "email" && n.attempts == 2 {
                let attempts = db.notification_attempts(org.id, &n.id).await.unwrap();
                assert!(attempts[0].detail.contains("451"), "{attempts:?}");
                mail_retries += 1;
            }
        }
    }
    assert_eq!(mail_retries, 1);
    let emails_sent: usize = {
        let mut total = 0;
        for org in db.list_orgs().await.unwrap() {
            total += db
                .notifications_of(org.id, None, 500)
                .await
                .unwrap()
                .iter()
                .filter(|n| n.channel == "email")
                .count();
        }
        total
    };
    assert_eq!(
        emails_sent,
        mails.len(),
        "each e-mail accepted exactly once"
    );
    // Past the access log's retention, settled notifications and their attempts go.
    let removed = relay
        .state()
        .db
        .expire_notifications(relay.state().now() + time::Duration::days(1))
        .await
        .unwrap();
    assert!(removed as usize >= emails_sent, "{removed}");
    assert!(db
        .notifications_of(insurer_org.id, None, 500)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .notification_attempts(insurer_org.id, &retried.id)
        .await
        .unwrap()
        .is_empty());
    db.close().await;
}
