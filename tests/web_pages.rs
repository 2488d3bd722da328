//! The web pages over real HTTPS with people's sessions, without a browser: what each page
//! shows, to whom, and what it refuses. (The browser flows are in tests/browser.rs.)

mod common;

use common::conversion::*;
use common::people::*;
use common::*;
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
    let receipt = client
        .send_stream("", "export.csv", None, stream_of(export().into_bytes()))
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
    assert!(html.contains("data-testid=\"rejected\">4<"), "{html}");
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
    // A viewer reads and exports the trail too (the admin/viewer).
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
