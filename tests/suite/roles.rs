//! Rights by role, for people: the permission matrix applied to every endpoint, and operator
//! blindness — no operator role obtains file content or a conversion report by any route.

use crate::common::people::*;
use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const MARKER: &str = "ROLE-MARKER-CONTENT";

#[tokio::test]
async fn roles_limit_people_and_operators_never_see_content() {
    let mut relay = Relay::start().await;
    let db = relay.db().await;
    kenshin_relay::admin::create_org(
        &db,
        "operator".parse().unwrap(),
        kenshin_core::OrgKind::Operator,
        "運用者",
        vec![],
    )
    .await
    .unwrap();
    let receipt = relay
        .client(INSTITUTION)
        .send_stream(INSURER, "r.csv", None, stream_of(sample_export(5, MARKER)))
        .await
        .unwrap();
    let submission = receipt.id.to_string();
    let delivery = receipt.deliveries[0].id.to_string();

    let receiver = person(&relay, &db, INSURER, "ins.receiver", "receiver").await;
    let viewer = person(&relay, &db, INSURER, "ins.viewer", "viewer").await;
    let admin = person(&relay, &db, INSURER, "ins.admin", "admin").await;
    let ops_admin = person(&relay, &db, "operator", "ops.admin", "ops_admin").await;
    let auditor = person(&relay, &db, "operator", "ops.auditor", "auditor").await;
    let sender = person(&relay, &db, INSTITUTION, "inst.sender", "sender").await;

    let content = format!("/api/v1/deliveries/{delivery}/content");
    let report = format!("/api/v1/submissions/{submission}/report");
    let every_endpoint = [
        (Method::GET, "/api/v1/submissions".to_owned()),
        (Method::GET, format!("/api/v1/submissions/{submission}")),
        (Method::GET, report.clone()),
        (Method::DELETE, format!("/api/v1/submissions/{submission}")),
        (Method::GET, "/api/v1/deliveries".to_owned()),
        (Method::GET, format!("/api/v1/deliveries/{delivery}")),
        (Method::GET, content.clone()),
        (Method::GET, "/api/v1/maps".to_owned()),
        (Method::GET, "/api/v1/audit/access?format=jsonl".to_owned()),
        (
            Method::GET,
            format!("/api/v1/ledger/entries?submission={submission}"),
        ),
        (Method::GET, "/api/v1/ledger/entries/0".to_owned()),
    ];
    // Without their own certificate, the operator's people get nothing, session or not.
    let bare = reqwest::Client::builder()
        .tls_backend_preconfigured(kenshin_client::tls_config(&relay.ca_pem(), None).unwrap())
        .build()
        .unwrap();
    let refused = bare
        .get(format!("{}/api/v1/deliveries", relay.url()))
        .header("cookie", &ops_admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("client_certificate_required"));

    // Operator blindness: every endpoint, both operator roles — never the content.
    for (who, operator) in [("ops_admin", &ops_admin), ("auditor", &auditor)] {
        for (method, path) in &every_endpoint {
            let (status, body) = operator.call(method.clone(), path).await;
            assert!(
                !body.contains(MARKER),
                "{who} got content from {method} {path}"
            );
            if path == &content || path == &report {
                assert!(
                    !status.is_success(),
                    "{who}: {method} {path} answered {status}"
                );
            }
        }
    }

    // The matrix for an insurer's people.
    assert_eq!(
        viewer.call(Method::GET, "/api/v1/deliveries").await.0,
        StatusCode::OK
    );
    assert_eq!(
        viewer.call(Method::GET, &content).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer
            .call(
                Method::POST,
                &format!("/api/v1/deliveries/{delivery}/confirm")
            )
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        admin.call(Method::GET, &content).await.0,
        StatusCode::FORBIDDEN,
        "separation of duties"
    );
    assert_eq!(
        admin
            .call(Method::GET, "/api/v1/audit/access?format=csv")
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        receiver.call(Method::GET, "/api/v1/audit/access").await.0,
        StatusCode::FORBIDDEN
    );
    // The sender's people see their submission but cannot read the insurer's delivery.
    assert_eq!(
        sender
            .call(Method::GET, &format!("/api/v1/submissions/{submission}"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        sender.call(Method::GET, &content).await.0,
        StatusCode::FORBIDDEN
    );
    // The receiver downloads the content and confirms (with the session's CSRF token).
    let (status, body) = receiver.call(Method::GET, &content).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(MARKER));
    let confirm = format!("/api/v1/deliveries/{delivery}/confirm");
    let without_csrf = receiver
        .http
        .post(format!("{}{confirm}", receiver.base))
        .header("cookie", &receiver.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(
        without_csrf.status(),
        StatusCode::FORBIDDEN,
        "CSRF token required"
    );
    assert_eq!(
        receiver.call(Method::POST, &confirm).await.0,
        StatusCode::OK
    );

    // The access log names the person.
    relay.state().access.flush().await;
    let rows = db
        .search_access(&kenshin_store::AccessFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.action == "delivery_download"
        && r.actor_kind == "user"
        && r.actor == "ins.receiver"));
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn organisation_admins_manage_only_their_own_people() {
    let mut relay = Relay::start().await;
    let db = relay.db().await;
    let admin = person(&relay, &db, INSURER, "ins.admin", "admin").await;
    let receiver = person(&relay, &db, INSURER, "ins.receiver", "receiver").await;
    let other_admin = person(&relay, &db, OTHER, "other.admin", "admin").await;

    // Create: 201, a one-time initial password that must be changed, no second factor yet.
    let (status, created) = admin
        .post_json(
            "/api/v1/users",
            json!({"login": "ins.tanaka", "name": "田中 美咲", "role": "receiver",
                   "valid_until": "2027-03-31"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["login"], "ins.tanaka");
    assert_eq!(created["must_change_password"], true);
    assert_eq!(created["totp_enrolled"], false);
    assert_eq!(created["valid_until"], "2027-04-01T00:00:00Z");
    let initial = created["initial_password"].as_str().unwrap().to_owned();
    assert!(
        initial.len() >= 16,
        "a weak initial password: {} chars",
        initial.len()
    );
    let stored = db.user_by_login("ins.tanaka").await.unwrap().unwrap();
    assert!(kenshin_auth::verify_password(&initial, &stored.password_hash).is_ok());
    assert!(!stored.password_hash.contains(&initial));

    // The new person can begin at /auth/login with the initial password.
    let login = admin
        .http
        .post(format!("{}/auth/login", relay.url()))
        .json(&json!({"login": "ins.tanaka", "password": initial}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);

    // Bad requests are refused with a reason and create nothing.
    for (body, expect) in [
        (
            json!({"login": "ins.tanaka", "name": "重複", "role": "viewer"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"login": "../etc", "name": "x", "role": "viewer"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"login": "ins.ops", "name": "x", "role": "ops_admin"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"login": "ins.x", "name": " ", "role": "viewer"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"login": "ins.y", "name": "y", "role": "viewer", "valid_until": "3/31"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"login": "ins.z", "name": "z", "role": "viewer", "admin": true}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (status, answer) = admin.post_json("/api/v1/users", body.clone()).await;
        assert_eq!(status, expect, "{body} → {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    for login in ["ins.ops", "ins.x", "ins.y", "ins.z"] {
        assert!(
            db.user_by_login(login).await.unwrap().is_none(),
            "{login} was created"
        );
    }

    // Listing shows the organisation's own people only.
    let (status, body) = admin.call(Method::GET, "/api/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    let listed: Vec<Value> = serde_json::from_str(&body).unwrap();
    let logins: Vec<&str> = listed
        .iter()
        .map(|u| u["login"].as_str().unwrap())
        .collect();
    assert_eq!(logins, ["ins.admin", "ins.receiver", "ins.tanaka"]);
    assert!(!body.contains("password_hash") && !body.contains("totp_secret"));

    // A certificate issued to the person works until the account is disabled.
    let ca = kenshin_relay::init::load_ca(&relay.data).unwrap();
    let record = db.user_by_login("ins.receiver").await.unwrap().unwrap();
    let identity = identity_in(
        &issue_person_cert(
            &relay,
            &db,
            &INSURER.parse().unwrap(),
            &record,
            "受付担当PC",
        )
        .await,
    );
    let personal = reqwest::Client::builder()
        .tls_backend_preconfigured(
            kenshin_client::tls_config(&relay.ca_pem(), Some(&identity)).unwrap(),
        )
        .build()
        .unwrap();
    let inbox = format!("{}/api/v1/deliveries", relay.url());
    // A person's certificate is a factor of the person's login, not a credential alone (a
    // browser would present it to cross-site requests too).
    let answer = personal.get(&inbox).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.text().await.unwrap().contains("session_required"));
    let answer = personal
        .get(&inbox)
        .header("cookie", &receiver.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // With another person's session it is refused.
    let answer = personal
        .get(&inbox)
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    // A state change needs the session's CSRF token, certificate or not.
    let answer = personal
        .post(format!(
            "{}/api/v1/deliveries/00000000-0000-7000-8000-000000000000/confirm",
            relay.url()
        ))
        .header("cookie", &receiver.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let other_record = db.user_by_login("other.admin").await.unwrap().unwrap();
    let foreign = kenshin_relay::admin::issue_cert_for(
        &db,
        &ca,
        &INSURER.parse().unwrap(),
        "x",
        kenshin_relay::admin::CertHolder::Person(&other_record),
        &relay.data.root().join("certs").join("x"),
        30,
        None,
    )
    .await;
    assert!(
        foreign.is_err(),
        "a certificate for another organisation's person"
    );

    // Disabling ends the person's sessions and certificates at once; enabling restores the
    // account (not the certificates).
    let (status, _) = receiver.call(Method::GET, "/api/v1/deliveries").await;
    assert_eq!(status, StatusCode::OK);
    let (status, answer) = admin
        .post_json("/api/v1/users/ins.receiver/disable", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["disabled"], true);
    let (status, _) = receiver.call(Method::GET, "/api/v1/deliveries").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let answer = personal.get(&inbox).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(answer.text().await.unwrap().contains("certificate_revoked"));
    let (status, answer) = admin
        .post_json("/api/v1/users/ins.receiver/enable", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["disabled"], false);

    // Resetting a password: a one-time password in the answer only, to be changed at the
    // next login; the person's sessions end at once.
    let second = person(&relay, &db, INSURER, "ins.second", "receiver").await;
    let (status, _) = second.call(Method::GET, "/api/v1/deliveries").await;
    assert_eq!(status, StatusCode::OK);
    let before = db.user_by_login("ins.second").await.unwrap().unwrap();
    let (status, answer) = admin
        .post_json("/api/v1/users/ins.second/reset-password", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["initial_password"].as_str().unwrap().len() >= 12);
    assert_eq!(answer["must_change_password"], true, "{answer}");
    let (status, _) = second.call(Method::GET, "/api/v1/deliveries").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the person's session ended"
    );
    let after = db.user_by_login("ins.second").await.unwrap().unwrap();
    assert_ne!(before.password_hash, after.password_hash);
    assert!(after.totp_secret.is_some(), "the second factor stays");
    let (status, _) = admin
        .post_json("/api/v1/users/ins.admin/reset-password", json!({}))
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "not one's own password this way"
    );
    // The same from the people page: the one-time password is shown once, with what to do.
    let (status, _, page) = admin.form("/people/ins.second/reset-password", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("パスワードを再設定しました"), "{page}");
    assert!(page.contains("data-testid=\"initial-password\""));
    assert!(page.contains("本人に安全な方法で伝えてください"));

    // Resetting the second factor voids it.
    let (status, answer) = admin
        .post_json("/api/v1/users/ins.receiver/reset-totp", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["totp_enrolled"], false);
    let reset = db.user_by_login("ins.receiver").await.unwrap().unwrap();
    assert!(reset.totp_secret.is_none() && reset.recovery_codes.is_none());

    // No one locks themselves out.
    let (status, _) = admin
        .post_json("/api/v1/users/ins.admin/disable", json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Tenant isolation: another organisation's admin cannot see or touch these people, and
    // cannot tell them from logins that do not exist.
    let (status, body) = other_admin.call(Method::GET, "/api/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!body.contains("ins."), "{body}");
    for path in [
        "/api/v1/users/ins.tanaka/disable",
        "/api/v1/users/ins.tanaka/reset-totp",
        "/api/v1/users/ins.tanaka/reset-password",
        "/api/v1/users/nobody.at.all/disable",
    ] {
        let (status, _) = other_admin.post_json(path, json!({})).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    assert!(db
        .user_by_login("ins.tanaka")
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_none());

    // Only admins manage people.
    let (status, _) = admin.call(Method::GET, "/api/v1/users").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = receiver.call(Method::GET, "/api/v1/users").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the receiver's session ended when disabled"
    );
    let viewer = person(&relay, &db, INSURER, "ins.viewer", "viewer").await;
    let (status, _) = viewer.call(Method::GET, "/api/v1/users").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = viewer
        .post_json(
            "/api/v1/users",
            json!({"login": "ins.mine", "name": "x", "role": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A client certificate is not a person and cannot mint logins.
    let tls = kenshin_client::tls_config(&relay.ca_pem(), Some(&relay.identity(INSURER))).unwrap();
    let machine = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let answer = machine
        .post(format!("{}/api/v1/users", relay.url()))
        .json(&json!({"login": "ins.bot", "name": "bot", "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(db.user_by_login("ins.bot").await.unwrap().is_none());

    // Every operation is in the organisation's access log, by action.
    relay.stop().await;
    let rows = db
        .search_access(&kenshin_store::AccessFilter {
            org: Some(INSURER.into()),
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.action.as_str()).collect();
    for action in [
        "user_create",
        "user_list",
        "user_disable",
        "user_enable",
        "totp_reset",
    ] {
        assert!(
            actions.contains(&action),
            "{action} not logged: {actions:?}"
        );
    }
    assert!(
        rows.iter()
            .all(|r| r.detail.as_deref().is_none_or(|d| !d.contains(&initial))),
        "the initial password reached the access log"
    );
}

/// Machines have roles too: a device certificate does what its roles allow and nothing
/// more, whatever its organisation's kind would permit a person.
#[tokio::test]
async fn device_certificates_act_within_their_roles() {
    let mut relay = Relay::start().await;
    // The default device certificate of an institution sends; of an insurer, receives.
    let receipt = relay
        .client(INSTITUTION)
        .send_stream(INSURER, "d.csv", None, stream_of(sample_export(3, MARKER)))
        .await
        .unwrap();
    let delivery = receipt.deliveries[0].id.to_string();

    // A viewer device of the institution reads metadata but cannot send or withdraw.
    let monitor = device_client(&relay, INSTITUTION, "monitor", "viewer").await;
    assert_eq!(
        monitor.list_submissions(None, 10, 0).await.unwrap().total,
        1
    );
    let refused = monitor
        .send_stream(INSURER, "x.csv", None, stream_of(sample_export(1, "X")))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(kenshin_core::api::ErrorCode::Forbidden)
    );
    assert!(monitor.withdraw(&receipt.id.to_string()).await.is_err());
    assert!(monitor.report(&receipt.id.to_string()).await.is_err());

    // A viewer device of the insurer sees the delivery but never its content.
    let insurer_monitor = device_client(&relay, INSURER, "insurer-monitor", "viewer").await;
    insurer_monitor.delivery(&delivery).await.unwrap();
    let denied = insurer_monitor
        .fetch_to_file(&delivery, &relay.dir.path().join("no.csv"), |_, _| {})
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Some(kenshin_core::api::ErrorCode::Forbidden));
    assert!(insurer_monitor.confirm(&delivery).await.is_err());

    // The receiving system downloads; the sender's certificate cannot receive.
    assert!(relay.client(INSTITUTION).confirm(&delivery).await.is_err());
    let received = relay.dir.path().join("ok.csv");
    relay
        .client(INSURER)
        .fetch_to_file(&delivery, &received, |_, _| {})
        .await
        .unwrap();
    assert!(std::fs::read_to_string(&received).unwrap().contains(MARKER));

    // Roles a device may not hold, or its organisation's kind does not have, are refused at
    // issue, and the stored roles are what the listing shows.
    let db = relay.db().await;
    let ca = kenshin_relay::init::load_ca(&relay.data).unwrap();
    for (org, roles) in [
        (INSTITUTION, "admin"),
        (INSTITUTION, "receiver"),
        (INSURER, "sender"),
        (INSURER, "ops_admin"),
        (INSURER, ""),
    ] {
        let err = kenshin_relay::admin::issue_cert_for(
            &db,
            &ca,
            &org.parse().unwrap(),
            "bad",
            kenshin_relay::admin::CertHolder::Device { roles: Some(roles) },
            &relay.dir.path().join(format!("bad-{org}-{roles}")),
            30,
            None,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("role"), "{org} {roles}: {err}");
    }
    let clinic_certs = db.list_certs(Some(CLINIC)).await.unwrap();
    assert_eq!(clinic_certs[0].roles.as_deref(), Some("receiver,sender"));
    db.close().await;
    relay.stop().await;
}
