//! People over HTTPS: password + TOTP login, first-login enrolment and password change,
//! CSRF on state changes, one answer for every failure, lockout, logout, disabling.

mod common;

use common::*;
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
    let mut relay = Relay::start().await;
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
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;

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
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
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
    let mut relay = Relay::start().await;
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
    assert_eq!(browser.me().await, StatusCode::OK);
    let pool = owner_pool(&relay.data).await;
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    // Idle for 16 minutes (the limit is 15).
    sqlx::query("UPDATE sessions SET last_seen = $1")
        .bind(now_ms - 16 * 60 * 1000)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(browser.me().await, StatusCode::UNAUTHORIZED, "idle timeout");
    // A new session, active all along but begun 8 h 1 min ago (the absolute limit is 8 h).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut second = Browser::new(&relay);
    let (status, _) = second
        .post(
            "/auth/login",
            json!({"login": LOGIN, "password": INITIAL}),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    sqlx::query("UPDATE sessions SET created_at = $1, last_seen = $2 WHERE revoked_at IS NULL")
        .bind(now_ms - (8 * 60 + 1) * 60 * 1000)
        .bind(now_ms)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        second.me().await,
        StatusCode::UNAUTHORIZED,
        "absolute timeout"
    );
    pool.close().await;
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
    let mut relay = Relay::start_with(config).await;
    create_person(&relay).await;
    let mut browser = Browser::new(&relay);
    let blocked_until = |throttle: &str| -> Option<String> {
        let value: serde_json::Value = serde_json::from_str(throttle).ok()?;
        value.get("blocked_until").map(|v| v.to_string())
    };
    let db = relay.db().await;
    for attempt in 1..=2 {
        // Past the short delay after the first failure, so the second one counts.
        tokio::time::sleep(std::time::Duration::from_millis(if attempt == 2 {
            1200
        } else {
            0
        }))
        .await;
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
