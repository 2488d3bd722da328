//! People over HTTPS: password + TOTP login, first-login enrolment and password change,
//! CSRF on state changes, one answer for every failure, lockout, logout, disabling.

use crate::common::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use time::OffsetDateTime;

const LOGIN: &str = "yamada.hanako";
const INITIAL: &str = "Initial-Passw0rd-2026";

struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
    csrf: Option<String>,
}

impl Browser {
    fn new(relay: &Relay) -> Browser {
        let tls = kenshin_client::tls_config(&relay.ca_pem(), None).unwrap();
        Browser {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .build()
                .unwrap(),
            base: relay.url(),
            cookie: None,
            csrf: None,
        }
    }

    async fn post(&mut self, path: &str, body: Value, with_csrf: bool) -> (StatusCode, Value) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if let (true, Some(csrf)) = (with_csrf, &self.csrf) {
            request = request.header("x-csrf-token", csrf);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if let Some(set) = response.headers().get("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("Secure")
                    && set.contains("HttpOnly")
                    && set.contains("SameSite=Strict")
            );
            self.cookie = Some(set.split(';').next().unwrap().to_owned());
        }
        let text = response.text().await.unwrap();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(csrf) = value.get("csrf").and_then(Value::as_str) {
            self.csrf = Some(csrf.to_owned());
        }
        (status, value)
    }

    async fn me(&self) -> StatusCode {
        let mut request = self.http.get(format!("{}/auth/me", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap().status()
    }
}

/// RFC 4648 base32, as in otpauth URIs.
fn base32(text: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let value = alphabet.iter().position(|&a| a == c).unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            out.push((bits >> (count - 8)) as u8);
            count -= 8;
        }
    }
    out
}

async fn create_person(relay: &Relay) {
    let db = relay.db().await;
    let org = db.org_by_code(INSURER).await.unwrap();
    db.create_user(
        &kenshin_store::NewUser {
            org_id: org.id,
            login: LOGIN.into(),
            display_name: "山田 花子".into(),
            role: "receiver".into(),
            password_hash: kenshin_auth::hash_password(INITIAL).unwrap(),
            valid_until: None,
        },
        OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    db.close().await;
}

#[tokio::test]
async fn login_with_password_and_totp_end_to_end() {
    let mut relay = Relay::start_with_manual_clock(test_config()).await;
    create_person(&relay).await;
    let mut browser = Browser::new(&relay);

    // Unknown login and wrong password: the very same answer.
    let (s1, unknown) = browser
        .post(
            "/auth/login",
            json!({"login": "nobody", "password": INITIAL}),
            false,
        )
        .await;
    let (s2, wrong) = browser
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": "wrong"}),
            false,
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(unknown, wrong);
    assert_eq!(unknown["error"]["code"], "invalid_credentials");

    // A failure imposes a short delay before the next attempt is even checked.
    relay.advance(time::Duration::milliseconds(1200));

    // First login: password only, then enrol TOTP and change the initial password.
    let (status, me) = browser
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": INITIAL}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["must_change_password"], true);
    assert_eq!(me["totp_enrolled"], false);
    let (status, _) = browser.post("/auth/totp/enroll", json!({}), false).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "state changes need the CSRF token"
    );
    let (status, enrolment) = browser.post("/auth/totp/enroll", json!({}), true).await;
    assert_eq!(status, StatusCode::OK);
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret_text = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let secret = kenshin_auth::TotpSecret::from_bytes(&base32(secret_text)).unwrap();
    let now = OffsetDateTime::now_utc();
    let code = kenshin_auth::totp_code(&secret, now);
    let (status, recovery) = browser
        .post("/auth/totp/confirm", json!({"code": code.as_str()}), true)
        .await;
    assert_eq!(status, StatusCode::OK, "{recovery}");
    assert_eq!(recovery["recovery_codes"].as_array().unwrap().len(), 10);

    let (status, weak) = browser
        .post(
            "/auth/password",
            json!({"current": INITIAL, "new": "yamada2026"}),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let codes: Vec<&str> = weak["error"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect();
    assert!(!codes.is_empty(), "{weak}");
    let (status, _) = browser
        .post(
            "/auth/password",
            json!({"current": INITIAL, "new": "Kensin-Relay*Ume-8741"}),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _) = browser.post("/auth/logout", json!({}), true).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        browser.me().await,
        StatusCode::UNAUTHORIZED,
        "the session ended"
    );

    // Now the second factor is required; a code can be used only once.
    let mut second = Browser::new(&relay);
    let (status, _) = second
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": "Kensin-Relay*Ume-8741"}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let replayed = kenshin_auth::totp_code(&secret, now);
    let (status, _) = second
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": "Kensin-Relay*Ume-8741", "code": replayed.as_str()}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a used code is refused");
    // Two failures in a row impose a short delay (growing until the lockout) before the next try.
    relay.advance(time::Duration::milliseconds(2500));
    let next = kenshin_auth::totp_code(&secret, now + time::Duration::seconds(30));
    let (status, me) = second
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": "Kensin-Relay*Ume-8741", "code": next.as_str()}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["must_change_password"], false);
    assert_eq!(me["totp_enrolled"], true);
    assert_eq!(second.me().await, StatusCode::OK);

    // A recovery code works once, in place of the TOTP code.
    let code = recovery["recovery_codes"][0].as_str().unwrap().to_owned();
    let mut third = Browser::new(&relay);
    let (status, _) = third
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": "Kensin-Relay*Ume-8741", "code": code}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a recovery code logs in");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, _) = third
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": "Kensin-Relay*Ume-8741", "code": code}),
            false,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a recovery code works only once"
    );

    // Disabling the account ends its session at once.
    let db = relay.db().await;
    let user = db.user_by_login(LOGIN).await.unwrap().unwrap();
    db.set_user_disabled(user.id, true, OffsetDateTime::now_utc())
        .await
        .unwrap();
    assert_eq!(second.me().await, StatusCode::UNAUTHORIZED);

    // Logins and failures are in the access log.
    relay.state().access.flush().await;
    let rows = db
        .search_access(&kenshin_store::AccessFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.action == "login" && r.actor == LOGIN));
    assert!(rows
        .iter()
        .any(|r| r.action == "login_failed" && r.actor == LOGIN));
    assert!(rows.iter().any(|r| r.action == "logout"));
    for row in &rows {
        assert!(
            !String::from_utf8(row.canonical())
                .unwrap()
                .contains("Ume-8741"),
            "no password in logs"
        );
    }
    db.close().await;
    relay.stop().await;
}

/// A throttled account is refused — even with the right password, and with the usual answer.
/// The lockout comes at the first failure here: the growing one-second delays before it
/// depend on how fast password hashing runs, which is not a test's business (the delays and
/// the lockout after five failures, doubling up to four hours, are unit-tested in
/// `kenshin-auth`'s throttle).
#[tokio::test]
async fn a_throttled_account_is_refused_with_the_same_answer() {
    let mut relay = Relay::start_with(kenshin_server::Config {
        login_max_failures: 1,
        ..test_config()
    })
    .await;
    create_person(&relay).await;
    let mut browser = Browser::new(&relay);
    for _ in 0..5 {
        let (status, _) = browser
            .post(
                "/auth/login",
                json!({"login": LOGIN, "password": "guess"}),
                false,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Throttled: even the right password is refused, with the usual answer.
    let (status, body) = browser
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": INITIAL}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_credentials");
    let db = relay.db().await;
    let throttle = db
        .user_by_login(LOGIN)
        .await
        .unwrap()
        .unwrap()
        .throttle
        .unwrap();
    assert!(throttle.contains("blocked_until"), "{throttle}");
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn sessions_end_after_idle_and_absolute_timeouts() {
    // The relay's clock is moved, not waited for: 15 minutes idle, 8 hours in all.
    let mut relay = Relay::start_with_manual_clock(test_config()).await;
    create_person(&relay).await;
    let mut browser = Browser::new(&relay);
    let (status, _) = browser
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": INITIAL}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    relay.advance(time::Duration::minutes(14));
    assert_eq!(
        browser.me().await,
        StatusCode::OK,
        "14 minutes idle is fine"
    );
    relay.advance(time::Duration::minutes(16));
    assert_eq!(browser.me().await, StatusCode::UNAUTHORIZED, "idle timeout");
    // A new session, active every 14 minutes: it still ends 8 hours after it began.
    let mut second = Browser::new(&relay);
    let (status, _) = second
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": INITIAL}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mut active = time::Duration::ZERO;
    while active + time::Duration::minutes(14) < time::Duration::hours(8) {
        relay.advance(time::Duration::minutes(14));
        active += time::Duration::minutes(14);
        assert_eq!(second.me().await, StatusCode::OK, "active after {active}");
    }
    relay.advance(time::Duration::hours(8) - active + time::Duration::minutes(1));
    assert_eq!(
        second.me().await,
        StatusCode::UNAUTHORIZED,
        "absolute timeout"
    );
    relay.stop().await;
}

/// Unknown login and wrong password cost the same argon2 work: compared by median time over
/// a few attempts each, with a generous bound (this is not a benchmark).
#[tokio::test]
async fn unknown_users_and_wrong_passwords_take_similar_time() {
    let mut relay = Relay::start().await;
    create_person(&relay).await;
    let mut browser = Browser::new(&relay);
    let mut unknown = Vec::new();
    let mut wrong = Vec::new();
    for _ in 0..5 {
        for (login, times) in [("nobody-here", &mut unknown), (LOGIN, &mut wrong)] {
            let body = json!({"login": login, "password": "not-the-password"});
            let started = std::time::Instant::now();
            let (status, _) = browser.post("/auth/login", body, false).await;
            times.push(started.elapsed().as_secs_f64());
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (u, w) = (median(&mut unknown), median(&mut wrong));
    let ratio = u / w;
    assert!(
        (0.33..3.0).contains(&ratio),
        "unknown {u:.3}s vs wrong {w:.3}s"
    );
    relay.stop().await;
}

/// The lockout is configurable: with `login_max_failures = 2`, the second failure locks.
#[tokio::test]
async fn the_lockout_follows_the_configuration() {
    let config = kenshin_server::Config {
        login_max_failures: 2,
        login_lock_minutes: 60,
        login_max_lock_minutes: 120,
        ..test_config()
    };
    let mut relay = Relay::start_with_manual_clock(config).await;
    create_person(&relay).await;
    let mut browser = Browser::new(&relay);
    let blocked_until = |throttle: &str| -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(throttle).ok()?;
        value.get("blocked_until").map(|v| v.to_string())
    };
    let db = relay.db().await;
    for attempt in 1..=2 {
        // Past the short delay after the first failure, so the second one counts.
        if attempt == 2 {
            relay.advance(time::Duration::milliseconds(1200));
        }
        let (status, _) = browser
            .post(
                "/auth/login",
                json!({"login": LOGIN, "password": "guess"}),
                false,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let throttle = db
            .user_by_login(LOGIN)
            .await
            .unwrap()
            .unwrap()
            .throttle
            .unwrap();
        let value: serde_json::Value = serde_json::from_str(&throttle).unwrap();
        if attempt == 2 {
            assert_eq!(
                value["lockouts"], 1,
                "locked after two failures: {throttle}"
            );
            assert_eq!(value["blocked_kind"], "lockout", "{throttle}");
            assert!(blocked_until(&throttle).is_some());
        } else {
            assert_eq!(value["lockouts"], 0, "{throttle}");
        }
    }
    db.close().await;
    relay.stop().await;
}

/// A client whose connections come from `source` (an address of 127.0.0.0/8), with or
/// without a client certificate.
fn client_from(
    relay: &Relay,
    source: &str,
    identity: Option<&kenshin_client::ClientIdentity>,
) -> reqwest::Client {
    let tls = kenshin_client::tls_config(&relay.ca_pem(), identity).unwrap();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn try_login(
    http: &reqwest::Client,
    relay: &Relay,
    login: &str,
    password: &str,
    code: &str,
) -> (StatusCode, Value) {
    let response = http
        .post(format!("{}/auth/login", relay.url()))
        .json(&json!({"login": login, "password": password, "code": code}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn password_spraying_from_one_address_or_network_is_slowed() {
    let mut relay = Relay::start().await;
    let db = relay.db().await;
    let (_, secret) =
        people::set_up_account(&relay, &db, INSURER, "spray.target", "receiver").await;
    let now_code = || kenshin_auth::totp_code(&secret, OffsetDateTime::now_utc());

    // 30 logins with 30 different ids from one address: the first 10 are checked, the rest
    // are refused unverified, with the same answer.
    let sprayer = client_from(&relay, "127.0.0.7", None);
    let mut answers = Vec::new();
    for i in 0..30 {
        let (status, body) = try_login(
            &sprayer,
            &relay,
            &format!("victim{i:02}"),
            "Spring2026!",
            "000000",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        answers.push(body);
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "one answer for all"
    );
    // The sprayer's address now gets nowhere, even with a real person's credentials...
    let (status, _) = try_login(
        &sprayer,
        &relay,
        "spray.target",
        people::PASSWORD,
        now_code().as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // ...while the person, from another address, logs in.
    let (status, body) = try_login(
        &client_from(&relay, "127.0.0.8", None),
        &relay,
        "spray.target",
        people::PASSWORD,
        now_code().as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Spraying spread over the addresses of one /24: 10 failures so far; 40 more from
    // five other addresses (8 each, under the per-address limit) reach the network's 50.
    for host in 10..15 {
        let from = client_from(&relay, &format!("127.0.0.{host}"), None);
        for i in 0..8 {
            try_login(&from, &relay, &format!("n{host}-{i}"), "x", "000000").await;
        }
    }
    let fresh = client_from(&relay, "127.0.0.20", None);
    let (status, _) = try_login(
        &fresh,
        &relay,
        "spray.target",
        people::PASSWORD,
        now_code().as_str(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the whole network is throttled"
    );

    // Recorded: refused attempts as login_failed with their reason, and in /metrics.
    relay.state().access.flush().await;
    let rows = db
        .search_access(&kenshin_store::AccessFilter {
            action: Some("login_failed".into()),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let throttled = rows
        .iter()
        .filter(|r| r.detail.as_deref() == Some("source_throttled"))
        .count();
    assert!(throttled >= 21, "{throttled} throttled rows");
    let metrics = relay.metrics_text().await;
    assert!(
        metrics.contains("kenshin_relay_logins_throttled_total{reason=\"address\"}")
            && metrics.contains("kenshin_relay_logins_throttled_total{reason=\"prefix\"}"),
        "{metrics}"
    );
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn a_refused_attempt_spends_no_recovery_code_and_no_totp_step() {
    let mut relay = Relay::start_with_manual_clock(test_config()).await;
    let db = relay.db().await;
    let (user, secret) =
        people::set_up_account(&relay, &db, INSURER, "careful.person", "receiver").await;
    let (codes, set) =
        kenshin_auth::generate_recovery_codes(&relay.state().server_key, &user.login).unwrap();
    let wrapped = db
        .user_by_login(&user.login)
        .await
        .unwrap()
        .unwrap()
        .totp_secret
        .unwrap();
    db.set_totp(
        user.id,
        Some(&wrapped),
        Some(&serde_json::to_string(&set).unwrap()),
    )
    .await
    .unwrap();
    let stored = |db: &kenshin_store::Database| {
        let db = db.clone();
        async move {
            let user = db.user_by_login("careful.person").await.unwrap().unwrap();
            (user.recovery_codes, user.totp_last_step)
        }
    };
    let before = stored(&db).await;
    let http = client_from(&relay, "127.0.0.30", None);
    // One wrong password: the account now refuses attempts for a second.
    let (status, _) = try_login(&http, &relay, &user.login, "wrong-password", "000000").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Inside that delay, the right password with a valid recovery code, then with a valid
    // TOTP code: both refused, and neither is spent.
    let recovery = codes[0].as_str().to_owned();
    let (status, _) = try_login(&http, &relay, &user.login, people::PASSWORD, &recovery).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let totp = kenshin_auth::totp_code(&secret, OffsetDateTime::now_utc());
    let (status, _) = try_login(&http, &relay, &user.login, people::PASSWORD, totp.as_str()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&db).await, before, "nothing was consumed");
    // Once the delay is over the same recovery code still works (once).
    relay.advance(time::Duration::milliseconds(2100));
    let (status, body) = try_login(&http, &relay, &user.login, people::PASSWORD, &recovery).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(stored(&db).await.0, before.0, "now it is spent");
    db.close().await;
    relay.stop().await;
}

#[tokio::test]
async fn by_default_people_need_their_own_certificate_and_are_told_how() {
    let mut relay = Relay::start_with(kenshin_server::Config {
        people_require_certificate: true,
        ..test_config()
    })
    .await;
    let db = relay.db().await;
    let (user, secret) =
        people::set_up_account(&relay, &db, INSTITUTION, "cert.sender", "sender").await;
    // Without a certificate: the login page says what to do before anything is typed.
    let bare = client_from(&relay, "127.0.0.40", None);
    let page = bare
        .get(format!("{}/login", relay.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("data-testid=\"certificate-missing\""),
        "{page}"
    );
    assert!(page.contains("client.p12"), "{page}");
    // Password and TOTP open a session, but it reaches nothing without the certificate.
    let code = kenshin_auth::totp_code(&secret, OffsetDateTime::now_utc());
    let response = bare
        .post(format!("{}/auth/login", relay.url()))
        .json(&json!({"login": user.login, "password": people::PASSWORD, "code": code.as_str()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = people::session_cookie_of(&response);
    let api = bare
        .get(format!("{}/api/v1/submissions", relay.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    let body: Value = api.json().await.unwrap();
    assert_eq!(body["error"]["code"], "client_certificate_required");
    let home = bare
        .get(format!("{}/", relay.url()))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), StatusCode::FORBIDDEN);
    let home = home.text().await.unwrap();
    for expected in [
        "本人のクライアント証明書が必要です",
        "証明書の管理",
        "client.p12",
    ] {
        assert!(home.contains(expected), "{expected}: {home}");
    }
    // With the person's own certificate (and the same session) everything answers.
    let identity = identity_in(
        &issue_person_cert(
            &relay,
            &db,
            &INSTITUTION.parse().unwrap(),
            &user,
            "本人のブラウザ",
        )
        .await,
    );
    let own = client_from(&relay, "127.0.0.40", Some(&identity));
    for path in ["/api/v1/submissions", "/", "/organisation"] {
        let response = own
            .get(format!("{}{path}", relay.url()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        if path == "/organisation" {
            let page = response.text().await.unwrap();
            assert!(page.contains("data-testid=\"relay-policy\""), "{page}");
        }
    }
    let login_page = own
        .get(format!("{}/login", relay.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!login_page.contains("certificate-missing"));
    db.close().await;
    relay.stop().await;
}

/// The operator's command line disables a person through the same use case as the pages and
/// the API: the account stops, its certificates are revoked and a new CRL is published; and
/// enabling it again works from the command line too.
#[tokio::test]
async fn the_command_line_disables_a_person_and_revokes_their_certificates() {
    let mut relay = Relay::start().await;
    let db = relay.db().await;
    let (user, _) = people::set_up_account(&relay, &db, INSURER, "cli.person", "receiver").await;
    issue_person_cert(&relay, &db, &INSURER.parse().unwrap(), &user, "ブラウザ").await;
    let crl_before = std::fs::read(relay.data.crl_path()).unwrap();
    let disabled = admin_user(&relay, &["disable", "cli.person"]).await;
    assert_eq!(disabled["disabled"], "cli.person");
    let revoked = disabled["revoked_certificates"].as_array().unwrap();
    assert_eq!(revoked.len(), 1, "{disabled}");
    let stored = db.user_by_login("cli.person").await.unwrap().unwrap();
    assert!(stored.disabled_at.is_some());
    let cert = db
        .cert_by_serial(revoked[0].as_str().unwrap())
        .await
        .unwrap();
    assert!(cert.revoked_at.is_some());
    assert_ne!(
        std::fs::read(relay.data.crl_path()).unwrap(),
        crl_before,
        "a new CRL"
    );
    let enabled = admin_user(&relay, &["enable", "cli.person"]).await;
    assert_eq!(enabled["enabled"], "cli.person");
    assert!(db
        .user_by_login("cli.person")
        .await
        .unwrap()
        .unwrap()
        .disabled_at
        .is_none());
    db.close().await;
    relay.stop().await;
}

/// `kenshin-relay admin --json --data-dir DATA user …`, its JSON.
async fn admin_user(relay: &Relay, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .env("KENSHIN_RELAY_LOG", "warn")
        .args(["admin", "--json", "--data-dir"])
        .arg(relay.data.root())
        .arg("user")
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A person changes their own password in the web with the current one and a code from
/// their authenticator: a wrong code or two different new passwords are refused with the
/// reason; after the change every other session of theirs has ended, this one goes on, and
/// the account page shows when and from where they logged in before.
#[tokio::test]
async fn a_person_changes_their_own_password_and_sees_their_previous_login() {
    use crate::common::people::{session_cookie_of, set_up_account, PASSWORD};
    let relay = Relay::start_with_manual_clock(test_config()).await;
    let db = relay.db().await;
    let (_, secret) = set_up_account(&relay, &db, INSURER, "midori.self", "receiver").await;
    let tls = kenshin_client::tls_config(&relay.ca_pem(), None).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    // Each code spends a new TOTP step: the relay's clock and the test's move 30 s each time.
    let at = std::cell::Cell::new(OffsetDateTime::now_utc());
    let next_code = || {
        relay.advance(time::Duration::seconds(30));
        at.set(at.get() + time::Duration::seconds(30));
        kenshin_auth::totp_code(&secret, at.get())
            .as_str()
            .to_owned()
    };
    let login = |password: &'static str| {
        let code = next_code();
        let http = http.clone();
        let url = relay.url();
        async move {
            let response = http
                .post(format!("{url}/auth/login"))
                .json(&json!({"login": "midori.self", "password": password, "code": code}))
                .send()
                .await
                .unwrap();
            let status = response.status();
            if status != StatusCode::OK {
                return (status, String::new(), String::new());
            }
            let cookie = session_cookie_of(&response);
            let me: Value = response.json().await.unwrap();
            (status, cookie, me["csrf"].as_str().unwrap().to_owned())
        }
    };
    let (_, first_cookie, _) = login(PASSWORD).await;
    let (_, cookie, csrf) = login(PASSWORD).await;
    let page = |cookie: String| {
        let http = http.clone();
        let url = relay.url();
        async move {
            let response = http
                .get(format!("{url}/account"))
                .header("cookie", format!("{cookie}; kr_lang=ja"))
                .send()
                .await
                .unwrap();
            (
                response.status(),
                response.url().path().to_owned(),
                response.text().await.unwrap(),
            )
        }
    };
    let (status, _, body) = page(cookie.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("前回のログイン"), "{body}");
    assert!(
        body.contains("127.0.0.1 から"),
        "the previous login's address: {body}"
    );
    let home = http
        .get(format!("{}/", relay.url()))
        .header("cookie", format!("{cookie}; kr_lang=ja"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        home.contains("前回のログイン") && home.contains("127.0.0.1 から"),
        "{home}"
    );
    let form = |fields: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = relay.url();
        let cookie = cookie.clone();
        let csrf = csrf.clone();
        async move {
            let mut body: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{k}={}",
                        percent_encoding::utf8_percent_encode(
                            v,
                            percent_encoding::NON_ALPHANUMERIC
                        )
                    )
                })
                .collect();
            body.push(format!("_csrf={csrf}"));
            let response = http
                .post(format!("{url}/account/password"))
                .header("cookie", format!("{cookie}; kr_lang=ja"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.join("&"))
                .send()
                .await
                .unwrap();
            (
                response.status(),
                response.url().path().to_owned(),
                response.text().await.unwrap(),
            )
        }
    };
    const NEW: &str = "Sakura-Kaede*Tsubaki-5309";
    let code = next_code();
    let (status, _, body) = form(vec![
        ("current", PASSWORD.into()),
        ("new", NEW.into()),
        ("again", "something-else".into()),
        ("code", code.clone()),
    ])
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("2 回の入力で一致しません"));
    let (status, _, body) = form(vec![
        ("current", PASSWORD.into()),
        ("new", NEW.into()),
        ("again", NEW.into()),
        ("code", "000000".into()),
    ])
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("現在のパスワードまたは確認コードが正しくありません"));
    let (status, path, body) = form(vec![
        ("current", PASSWORD.into()),
        ("new", NEW.into()),
        ("again", NEW.into()),
        ("code", code),
    ])
    .await;
    assert_eq!((status, path.as_str()), (StatusCode::OK, "/account"));
    assert!(body.contains("パスワードを変更しました"), "{body}");
    assert!(
        body.contains("ほかで開いていたセッション 1 件を終了しました"),
        "{body}"
    );
    // The other session ended; this one goes on; the new password is the one that works.
    let (_, path, _) = page(first_cookie).await;
    assert_eq!(path, "/login", "the other session ended");
    assert_eq!(page(cookie.clone()).await.0, StatusCode::OK);
    assert_eq!(login(PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(login(NEW).await.0, StatusCode::OK);

    // New recovery codes, with a current code; shown once; a wrong code is refused.
    let before = db
        .user_by_login("midori.self")
        .await
        .unwrap()
        .unwrap()
        .recovery_codes;
    let renew = |code: String| {
        let http = http.clone();
        let url = relay.url();
        let cookie = cookie.clone();
        let csrf = csrf.clone();
        async move {
            let response = http
                .post(format!("{url}/account/recovery-codes"))
                .header("cookie", format!("{cookie}; kr_lang=ja"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(format!("code={code}&_csrf={csrf}"))
                .send()
                .await
                .unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let (status, body) = renew("000000".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("確認コードが正しくありません"));
    let (status, body) = renew(next_code()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("data-testid=\"recovery-codes\""), "{body}");
    assert!(body.contains("この画面でだけ表示されます"));
    let after = db
        .user_by_login("midori.self")
        .await
        .unwrap()
        .unwrap()
        .recovery_codes;
    assert!(after.is_some() && after != before, "the old codes are void");
}

/// The operator resets a person's password from the command line: a one-time password,
/// printed once, to be changed at the next login; the person's sessions end.
#[tokio::test]
async fn the_operator_resets_a_password_from_the_command_line() {
    use crate::common::people::person;
    let relay = Relay::start().await;
    let db = relay.db().await;
    let someone = person(&relay, &db, INSURER, "midori.reset", "receiver").await;
    assert_eq!(
        someone
            .call(reqwest::Method::GET, "/api/v1/deliveries")
            .await
            .0,
        StatusCode::OK
    );
    let before = db.user_by_login("midori.reset").await.unwrap().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_kenshin-relay"))
        .args(["admin", "--json", "--data-dir"])
        .arg(relay.data.root())
        .args(["user", "reset-password", "midori.reset"])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        answer["initial_password"].as_str().unwrap().len() >= 12,
        "{answer}"
    );
    assert_eq!(answer["sessions_ended"], 1);
    let after = db.user_by_login("midori.reset").await.unwrap().unwrap();
    assert!(after.must_change_password);
    assert_ne!(before.password_hash, after.password_hash);
    assert_eq!(
        someone
            .call(reqwest::Method::GET, "/api/v1/deliveries")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}
