//! People for integration tests: set-up accounts (password changed, TOTP enrolled) logged in
//! over HTTPS, with their session cookie and CSRF token.

use kenshin_crypto::KeyProvider;
use kenshin_store::Database;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::*;

pub const PASSWORD: &str = "Kensin-Relay*Ume-8741";

pub struct Person {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

impl Person {
    pub async fn call(&self, method: Method, path: &str) -> (StatusCode, String) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send_json(Method::POST, path, body).await
    }

    pub async fn put_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send_json(Method::PUT, path, body).await
    }

    async fn send_json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A set-up account (password [`PASSWORD`], TOTP enrolled) and its TOTP secret, not logged in.
pub async fn set_up_account(
    relay: &Relay,
    db: &Database,
    org: &str,
    login: &str,
    role: &str,
) -> (kenshin_store::UserRecord, kenshin_auth::TotpSecret) {
    let org = db.org_by_code(org).await.unwrap();
    let user = db
        .create_user(
            &kenshin_store::NewUser {
                org_id: org.id,
                login: login.into(),
                display_name: "テスト 利用者".into(),
                role: role.into(),
                password_hash: kenshin_auth::hash_password(PASSWORD).unwrap(),
                valid_until: None,
            },
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    db.set_password(user.id, &user.password_hash, false)
        .await
        .unwrap();
    let kek = kenshin_crypto::LocalKeyFile::load(&relay.data.kek_path()).unwrap();
    let key = kenshin_crypto::DataKey::generate().unwrap();
    let wrapped = kek
        .wrap(&key, format!("totp:{}", user.id).as_bytes())
        .unwrap();
    db.set_totp(user.id, Some(wrapped.as_bytes()), None)
        .await
        .unwrap();
    let secret =
        kenshin_auth::TotpSecret::from_bytes(&key.expose_secret()[..kenshin_auth::TOTP_SECRET_LEN])
            .unwrap();
    (user, secret)
}

/// The `name=value` of the cookie a login answer sets.
pub fn session_cookie_of(response: &reqwest::Response) -> String {
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A set-up account (password changed, TOTP enrolled), logged in over HTTPS.
pub async fn person(relay: &Relay, db: &Database, org: &str, login: &str, role: &str) -> Person {
    let (user, secret) = set_up_account(relay, db, org, login, role).await;
    let org = db.org_by_code(org).await.unwrap();
    // The operator's people always present their own client certificate as well.
    let identity = if org.kind == kenshin_core::OrgKind::Operator {
        Some(identity_in(
            &issue_person_cert(relay, db, &org.code, &user, login).await,
        ))
    } else {
        None
    };
    let tls = kenshin_client::tls_config(&relay.ca_pem(), identity.as_ref()).unwrap();
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .unwrap();
    let code = kenshin_auth::totp_code(&secret, OffsetDateTime::now_utc());
    let response = http
        .post(format!("{}/auth/login", relay.url()))
        .json(&json!({"login": login, "password": PASSWORD, "code": code.as_str()}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{login} could not log in"
    );
    let cookie = session_cookie_of(&response);
    let me: Value = response.json().await.unwrap();
    Person {
        http,
        base: relay.url(),
        cookie,
        csrf: me["csrf"].as_str().unwrap().to_owned(),
    }
}

impl Person {
    /// Posts an HTML form (with this session's CSRF token unless `_csrf` is given), following
    /// redirects; answers the final status, the final path and the body.
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String, String) {
        let encode = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        if !fields.iter().any(|(k, _)| *k == "_csrf") {
            body.push(format!("_csrf={}", encode(&self.csrf)));
        }
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.join("&"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let path = response.url().path().to_owned();
        (status, path, response.text().await.unwrap())
    }

    /// A page as HTML, in the language `lang`.
    pub async fn page(&self, path: &str, lang: &str) -> (StatusCode, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", format!("{}; kr_lang={lang}", self.cookie))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Posts a multipart form with text fields (and this session's CSRF token) and one file,
    /// following redirects; answers the final status, path and body.
    pub async fn multipart(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> (StatusCode, String, String) {
        let boundary = "kenshin-relay-test-boundary-7d3f";
        let mut body = Vec::new();
        let csrf = [("_csrf", self.csrf.as_str())];
        for (name, value) in csrf.iter().chain(fields) {
            body.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
                )
                .as_bytes(),
            );
        }
        let (name, file_name, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let path = response.url().path().to_owned();
        (status, path, response.text().await.unwrap())
    }
}
