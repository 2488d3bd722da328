//! The web pages over real HTTPS with people's sessions, without a browser: what each page
//! shows, to whom, and what it refuses. (The browser flows are in tests/browser.rs.)

use crate::common::conversion::*;
use crate::common::people::*;
use crate::common::*;
use reqwest::StatusCode;

#[tokio::test]
async fn the_sender_reads_the_conversion_report_and_nobody_else_does() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let client = relay.client(CONVERTER);
    client
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    // One answer is a spreadsheet formula: the report's CSV must not let Excel run it.
    let hostile = export().replace("70,90,陰性", "70,90,=1+2");
    let receipt = client
        .send_stream("", "export.csv", None, stream_of(hostile.into_bytes()))
        .await
        .unwrap();
    let id = receipt.id.to_string();
    wait_converted(&client, &id).await;

    let db = relay.db().await;
    let sender = person(&relay, &db, CONVERTER, "conv.sender", "sender").await;
    let (status, html) = sender
        .page(&format!("/submissions/{id}/report"), "ja")
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("変換レポート"));
    assert!(html.contains("血圧の大小"), "the rule is named in Japanese");
    assert!(html.contains("<svg"), "findings by rule as a chart");
    assert!(html.contains("data-testid=\"rejected\">8<"), "{html}");
    let (_, english) = sender
        .page(&format!("/submissions/{id}/report"), "en")
        .await;
    assert!(
        english.contains("Conversion report") && english.contains("Systolic not above diastolic")
    );
    let csv = sender
        .http
        .get(format!("{}/submissions/{id}/report.csv", sender.base))
        .header("cookie", &sender.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("report-"));
    let bytes = csv.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a BOM for Excel");
    let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
    assert!(
        text.starts_with("レコード,行,列,項目,規則,重大度,内容,値"),
        "{text}"
    );
    assert!(text.contains("血圧の大小"));
    assert!(
        text.contains(",'=1+2"),
        "the formula is neutralised: {text}"
    );
    assert!(!text.contains(",=1+2"), "{text}");

    // A viewer of the same organisation, the insurer's receiver and the operator cannot.
    let viewer = person(&relay, &db, CONVERTER, "conv.viewer", "viewer").await;
    assert_eq!(
        viewer
            .page(&format!("/submissions/{id}/report"), "ja")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let receiver = person(&relay, &db, INSURER, "ins.receiver", "receiver").await;
    assert_eq!(
        receiver
            .page(&format!("/submissions/{id}/report"), "ja")
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Another institution's sender: the same not-found page as for a missing file.
    let stranger = person(&relay, &db, INSTITUTION, "inst.sender", "sender").await;
    let (status, html) = stranger
        .page(&format!("/submissions/{id}/report"), "ja")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("ページが見つかりません"));
    let missing = kenshin_core::SubmissionId::new().to_string();
    let (missing_status, missing_html) = stranger
        .page(&format!("/submissions/{missing}/report"), "ja")
        .await;
    assert_eq!(
        (missing_status, missing_html.replace(&missing, "ID")),
        (status, html.replace(&id, "ID")),
        "a missing file and another organisation's look the same"
    );
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn an_admin_manages_people_and_searches_the_trail_in_the_browser_pages() {
    let mut relay = Relay::start().await;
    let db = relay.db().await;
    let admin = person(&relay, &db, INSURER, "ins.admin", "admin").await;
    let (status, html) = admin.page("/people", "ja").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("ins.admin") && html.contains("利用者を追加"));

    // Invite: the one-time initial password is on the answer page and logs in.
    let (status, _, html) = admin
        .form(
            "/people",
            &[
                ("name", "高橋 さくら"),
                ("login", "takahashi.sakura"),
                ("role", "receiver"),
                ("valid_until", "2027-03-31"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let initial = html
        .split("data-testid=\"initial-password\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    assert!(initial.len() >= 16);
    let created = db.user_by_login("takahashi.sakura").await.unwrap().unwrap();
    assert_eq!(created.role, "receiver");
    assert!(created.must_change_password && created.valid_until.is_some());
    assert!(kenshin_auth::verify_password(&initial, &created.password_hash).is_ok());
    // Refused with the reason, nothing created: a role this organisation does not have, a
    // bad login, a duplicate.
    for (login, role) in [
        ("x.sender", "sender"),
        ("bad login", "receiver"),
        ("takahashi.sakura", "receiver"),
    ] {
        let (status, _, html) = admin
            .form(
                "/people",
                &[("name", "誰か"), ("login", login), ("role", role)],
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{login}");
        assert!(html.contains("people-error"), "{login}");
    }
    assert!(db.user_by_login("x.sender").await.unwrap().is_none());
    // Without the CSRF token: refused.
    let (status, _, _) = admin
        .form(
            "/people",
            &[
                ("_csrf", "forged"),
                ("name", "偽"),
                ("login", "forged.one"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(db.user_by_login("forged.one").await.unwrap().is_none());

    // Disable, enable, reset the second factor.
    let (status, path, html) = admin.form("/people/takahashi.sakura/disable", &[]).await;
    assert_eq!((status, path.as_str()), (StatusCode::OK, "/people"));
    assert!(html.contains("利用者を停止しました"));
    assert!(db
        .user_by_login("takahashi.sakura")
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_some());
    admin.form("/people/takahashi.sakura/enable", &[]).await;
    assert!(db
        .user_by_login("takahashi.sakura")
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_none());
    // Oneself: refused. Another organisation's admin: not found, nothing changes.
    let (status, _, _) = admin.form("/people/ins.admin/disable", &[]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let stranger = person(&relay, &db, OTHER, "other.admin", "admin").await;
    let (status, _, html) = stranger.form("/people/takahashi.sakura/disable", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("ページが見つかりません"));
    assert!(db
        .user_by_login("takahashi.sakura")
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_none());
    let receiver = person(&relay, &db, INSURER, "ins.receiver", "receiver").await;
    assert_eq!(
        receiver.page("/people", "ja").await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(receiver.page("/audit", "ja").await.0, StatusCode::FORBIDDEN);

    // The trail: what the admin did, searchable, exportable with the same filters.
    let (status, html) = admin.page("/audit?action=user_create", "ja").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<td>user_create</td>"), "{html}");
    assert!(
        !html.contains("<td>user_disable</td>"),
        "filtered by action"
    );
    let (_, html) = admin.page("/audit", "en").await;
    assert!(html.contains("<td>user_disable</td>") && html.contains("user:takahashi.sakura"));
    assert!(html.contains("Access log"));
    assert!(!html.contains(&initial), "no initial password in the log");
    let (_, filtered) = admin
        .page("/audit?action=user_disable&from=2020-01-01", "ja")
        .await;
    let link = filtered
        .split("href=\"")
        .map(|rest| {
            rest.split('"')
                .next()
                .unwrap_or_default()
                .replace("&amp;", "&")
        })
        .find(|href| href.contains("format=atna"))
        .expect("an ATNA export link");
    let atna = admin.call(reqwest::Method::GET, &link).await;
    assert_eq!(atna.0, StatusCode::OK, "{link}");
    assert!(
        atna.1.starts_with("<?xml")
            && atna.1.contains("user_disable")
            && !atna.1.contains("user_create\"")
    );
    // A viewer reads and exports the trail too (the issue's admin/viewer).
    let viewer = person(&relay, &db, INSURER, "ins.viewer", "viewer").await;
    assert_eq!(viewer.page("/audit", "ja").await.0, StatusCode::OK);
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn a_sender_uploads_activates_and_checks_maps_in_the_pages() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let db = relay.db().await;
    let sender = person(&relay, &db, CONVERTER, "conv.sender", "sender").await;
    let (status, html) = sender.page("/maps", "ja").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("まだ変換表は登録されていません"));

    // A map naming an item that does not exist: refused with its line, nothing stored.
    let bad = MAP.replace("9N001000000000001", "9N001000000000999");
    let (status, _, html) = sender
        .multipart(
            "/maps",
            &[("activate", "on")],
            ("map", "bad.csv", bad.as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        html.contains("maps-error") && html.contains("line 9"),
        "{html}"
    );
    let org = db.org_by_code(CONVERTER).await.unwrap();
    assert!(db.list_maps(org.id).await.unwrap().is_empty());

    let (status, path, html) = sender
        .multipart(
            "/maps",
            &[("activate", "on")],
            ("map", "map.csv", MAP.as_bytes()),
        )
        .await;
    assert_eq!((status, path.as_str()), (StatusCode::OK, "/maps"));
    assert!(html.contains("data-testid=\"active-map\""), "{html}");
    assert!(db.active_map(org.id).await.unwrap().is_some());

    // The check converts the sample in memory and stores nothing.
    let blobs_before = relay.blob_files().len();
    let (status, _, html) = sender
        .multipart(
            "/maps/check",
            &[("map", "inst-convert-main@1")],
            ("sample", "sample.csv", export().as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"check-result\""), "{html}");
    assert!(html.contains("data-testid=\"check-rejected\">1<"), "{html}");
    assert!(html.contains("血圧の大小"));
    assert_eq!(relay.blob_files().len(), blobs_before);

    // Receivers have no maps; another institution cannot touch this one's.
    let receiver = person(&relay, &db, INSURER, "ins.receiver", "receiver").await;
    assert_eq!(receiver.page("/maps", "ja").await.0, StatusCode::FORBIDDEN);
    let stranger = person(&relay, &db, INSTITUTION, "inst.sender", "sender").await;
    let (status, _, _) = stranger
        .form("/maps/inst-convert-main/1/activate", &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = stranger
        .multipart(
            "/maps/check",
            &[("map", "inst-convert-main@1")],
            ("sample", "s.csv", export().as_bytes()),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    db.close().await;
    relay.stop().await;
}

/// The PEM certificate and key inside a PKCS#12 bundle, read back with the openssl command
/// line (as a person's browser or a device's operator would import it).
fn unpack_p12(
    dir: &std::path::Path,
    p12: &[u8],
    password: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let bundle = dir.join("bundle.p12");
    std::fs::write(&bundle, p12).unwrap();
    let out = |args: &[&str], file: &str| {
        let path = dir.join(file);
        let status = std::process::Command::new("openssl")
            .args(["pkcs12", "-in"])
            .arg(&bundle)
            .args(["-passin", &format!("pass:{password}"), "-nodes", "-out"])
            .arg(&path)
            .args(args)
            .status()
            .expect("openssl runs");
        assert!(status.success(), "openssl pkcs12 {args:?}");
        path
    };
    (
        out(&["-clcerts", "-nokeys"], "cert.pem"),
        out(&["-nocerts"], "key.pem"),
    )
}

/// The text between `start` and `end`, with the page's HTML escapes undone.
fn between(html: &str, start: &str, end: &str) -> String {
    let rest = &html[html
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {html}"))
        + start.len()..];
    rest[..rest.find(end).unwrap()]
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn an_admin_issues_and_revokes_certificates_in_the_pages() {
    let mut relay = Relay::start().await;
    let db = relay.db().await;
    let admin = person(&relay, &db, INSTITUTION, "inst.admin", "admin").await;
    let (status, html) = admin.page("/certificates", "ja").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("テスト端末") && html.contains("送信担当"),
        "{html}"
    );

    // A viewer device: the bundle comes back in the page, works over mTLS, reads but
    // cannot send.
    let (status, _, html) = admin
        .form(
            "/certificates",
            &[
                ("holder", "device"),
                ("name", "監視端末"),
                ("roles", "viewer"),
                ("days", "30"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let password = between(&html, "data-testid=\"p12-password\">", "<");
    let p12 = base64_decode(&between(&html, "data:application/x-pkcs12;base64,", "\""));
    let work = relay.dir.path().join("p12");
    std::fs::create_dir_all(&work).unwrap();
    let (cert, key) = unpack_p12(&work, &p12, &password);
    let identity = kenshin_client::ClientIdentity::from_files(&cert, &key).unwrap();
    let device =
        kenshin_client::RelayClient::new(&relay.url(), &relay.ca_pem(), Some(&identity)).unwrap();
    assert_eq!(device.list_submissions(None, 10, 0).await.unwrap().total, 0);
    assert!(device
        .send_stream(INSURER, "x.csv", None, stream_of(b"a".to_vec()))
        .await
        .is_err());
    let org = db.org_by_code(INSTITUTION).await.unwrap();
    let issued = cert_named(&db, "監視端末").await.unwrap();
    assert_eq!(
        (issued.org_id, issued.roles.as_deref()),
        (org.id, Some("viewer"))
    );
    // Several roles: each checked box arrives.
    let (status, _, _) = admin
        .form(
            "/certificates",
            &[
                ("holder", "device"),
                ("name", "二役端末"),
                ("roles", "viewer"),
                ("roles", "sender"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let both = cert_named(&db, "二役端末").await.unwrap();
    assert_eq!(both.roles.as_deref(), Some("sender,viewer"));
    // Refused: a role institutions do not have; nothing registered.
    let (status, _, html) = admin
        .form(
            "/certificates",
            &[
                ("holder", "device"),
                ("name", "誤り"),
                ("roles", "receiver"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("certs-error"));
    assert!(cert_named(&db, "誤り").await.is_none());

    // Revoke: refused at the next request, and the CRL on disk names it.
    let crl_before = std::fs::read(relay.data.crl_path()).unwrap();
    let (status, path, html) = admin
        .form(
            &format!("/certificates/{}/revoke", issued.serial),
            &[("reason", "key-compromise")],
        )
        .await;
    assert_eq!(
        (status, path.as_str()),
        (StatusCode::OK, "/certificates"),
        "{html}"
    );
    assert!(html.contains("失効させました"));
    let err = device.list_submissions(None, 10, 0).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(kenshin_core::api::ErrorCode::CertificateRevoked)
    );
    assert_ne!(std::fs::read(relay.data.crl_path()).unwrap(), crl_before);
    assert!(crl_serials(&relay.data.crl_path()).contains(&issued.serial.to_uppercase()));

    // Another organisation's admin: not found, nothing revoked.
    let stranger = person(&relay, &db, INSURER, "ins.admin", "admin").await;
    let own = cert_named(&db, "テスト端末").await.unwrap();
    let (status, _, _) = stranger
        .form(
            &format!("/certificates/{}/revoke", own.serial),
            &[("reason", "superseded")],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(db
        .cert_by_serial(&own.serial)
        .await
        .unwrap()
        .revoked_at
        .is_none());

    // A person's certificate, then disabling the person (from the people page) revokes it
    // and publishes the CRL at once — no admin command needed.
    let _sender = person(&relay, &db, INSTITUTION, "inst.sender", "sender").await;
    let (status, _, html) = admin
        .form(
            "/certificates",
            &[
                ("holder", "person"),
                ("name", "田中さんのPC"),
                ("person", "inst.sender"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{html}");
    let personal = cert_named(&db, "田中さんのPC").await.unwrap();
    assert!(personal.user_id.is_some() && personal.roles.is_none());
    admin.form("/people/inst.sender/disable", &[]).await;
    assert!(db
        .cert_by_serial(&personal.serial)
        .await
        .unwrap()
        .revoked_at
        .is_some());
    assert!(crl_serials(&relay.data.crl_path()).contains(&personal.serial.to_uppercase()));
    db.close().await;
    relay.stop().await;
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The serial numbers a CRL lists (openssl's text form, upper-case hex without separators).
fn crl_serials(path: &std::path::Path) -> String {
    let output = std::process::Command::new("openssl")
        .args(["crl", "-noout", "-text", "-in"])
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Serial Number: "))
        .map(|s| s.replace(':', "").to_uppercase())
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn the_ledger_and_organisation_pages() {
    let mut relay = Relay::start().await;
    relay
        .client(INSTITUTION)
        .send_stream(INSURER, "l.csv", None, stream_of(sample_export(2, "L")))
        .await
        .unwrap();
    relay.state().ledger.sequence().await.unwrap();
    let db = relay.db().await;
    let admin = person(&relay, &db, INSTITUTION, "inst.admin", "admin").await;
    let (status, html) = admin.page("/ledger", "ja").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("data-testid=\"checkpoint\""));
    assert!(html.contains(&relay.state().ledger.verifier_text().replace('/', "&#x2f;")));

    let (status, html) = admin.page("/organisation", "ja").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("ins-midori") && html.contains("そのまま中継"),
        "{html}"
    );
    // Requiring certificates is refused while the admin is not presenting their own.
    let (status, _, html) = admin
        .form("/organisation/certificate-policy", &[("require", "on")])
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(html.contains("org-error"));
    assert!(
        !db.org_by_code(INSTITUTION)
            .await
            .unwrap()
            .browser_certificate_required
    );
    // A sender may not change the policy.
    let sender = person(&relay, &db, INSTITUTION, "inst.sender", "sender").await;
    let (status, _, _) = sender.form("/organisation/certificate-policy", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    db.close().await;
    relay.stop().await;
}

/// The institution's certificate with this device name, if any.
async fn cert_named(
    db: &kenshin_store::Database,
    device: &str,
) -> Option<kenshin_store::CertRecord> {
    db.list_certs(Some(INSTITUTION))
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.device == device)
}

/// Findings are never cut without saying so: the page shows the first ones and says how many
/// there are; the CSV holds every one of them.
#[tokio::test]
async fn the_report_csv_holds_every_finding_and_the_page_says_it_shows_the_first() {
    let mut relay = Relay::start().await;
    set_up(&relay).await;
    let client = relay.client(CONVERTER);
    client
        .upload_map(MAP.as_bytes().to_vec(), true)
        .await
        .unwrap();
    // 3,200 rows, 3 findings in every 8: more than the report keeps in full.
    let receipt = client
        .send_stream("", "big.csv", None, stream_of(long_export(400)))
        .await
        .unwrap();
    let id = receipt.id.to_string();
    wait_converted(&client, &id).await;
    let report = client.report(&id).await.unwrap();
    let total = report["errors"].as_u64().unwrap() + report["warnings"].as_u64().unwrap();
    assert_eq!(total, 1200, "{}", report["finding_counts"]);
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        kenshin_convert::run::MAX_FINDINGS_KEPT
    );

    let db = relay.db().await;
    let sender = person(&relay, &db, CONVERTER, "conv.sender", "sender").await;
    let (status, html) = sender
        .page(&format!("/submissions/{id}/report"), "ja")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("data-testid=\"findings-cut\"") && html.contains("全 1200 件"),
        "the page says it shows the first findings"
    );
    let csv = sender
        .http
        .get(format!("{}/submissions/{id}/report.csv", sender.base))
        .header("cookie", &sender.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let bytes = csv.bytes().await.unwrap();
    let mut rows = csv::Reader::from_reader(&bytes[3..]);
    assert_eq!(rows.records().count(), 1200, "every finding is in the CSV");
    db.close().await;
    relay.stop().await;
}
