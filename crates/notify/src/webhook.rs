//! Webhooks as the Standard Webhooks specification describes them: a POST of the JSON
//! [`Payload`](crate::Payload) with three headers — `webhook-id` (the same on every retry),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature` (`v1,` and the
//! base64 HMAC-SHA256, keyed with the endpoint's secret, of `id.timestamp.body`).
//!
//! The sender only posts to HTTPS URLs, follows no redirects, and refuses loopback, private,
//! link-local and other non-public addresses (checked after resolving, and the connection is
//! pinned to the address checked) unless the relay's operator allows them.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::SendError;

/// The prefix of a secret as Standard Webhooks writes it.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes of a new secret (the specification asks for 24 to 64).
pub const SECRET_LEN: usize = 32;
/// The longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// An endpoint's signing secret. Its `Debug` does not show it.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A new random secret.
    pub fn generate() -> Secret {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_LEN]);
        aws_lc_rs::rand::fill(&mut bytes).expect("the system's random source works");
        Secret(bytes)
    }

    /// The raw key bytes (to store wrapped).
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, SendError> {
        if !(24..=64).contains(&bytes.len()) {
            return Err(SendError::Setting(
                "a webhook secret has 24 to 64 bytes".into(),
            ));
        }
        Ok(Secret(Zeroizing::new(bytes.to_vec())))
    }

    /// `whsec_…`, as the endpoint's owner configures it on their side.
    pub fn parse(text: &str) -> Result<Secret, SendError> {
        let encoded = text.trim().strip_prefix(SECRET_PREFIX).ok_or_else(|| {
            SendError::Setting(format!("a webhook secret starts with {SECRET_PREFIX}"))
        })?;
        let bytes = Zeroizing::new(
            BASE64
                .decode(encoded)
                .map_err(|_| SendError::Setting("a webhook secret is base64".into()))?,
        );
        Secret::from_bytes(&bytes)
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as shown once to the endpoint's owner: `whsec_` and base64.
    pub fn expose_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{SECRET_PREFIX}{}", BASE64.encode(&*self.0)))
    }
}

/// The `webhook-signature` header's value for one attempt: `v1,<base64>`.
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(id.as_bytes());
    context.update(b".");
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1,{}", BASE64.encode(context.sign().as_ref()))
}

/// Whether `header` (space-separated `v1,<sig>` entries) holds a valid signature of the
/// message, compared in constant time.
pub fn verify(secret: &Secret, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.expose_bytes());
    let message = [
        id.as_bytes(),
        b".",
        timestamp.to_string().as_bytes(),
        b".",
        body,
    ]
    .concat();
    header.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|sig| BASE64.decode(sig).ok())
            .is_some_and(|sig| hmac::verify(&key, &message, &sig).is_ok())
    })
}

/// Checks an endpoint URL as entered: HTTPS, a host, no credentials, not too long.
pub fn check_url(text: &str) -> Result<url::Url, SendError> {
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(SendError::NotAllowed(format!(
            "the URL is longer than {MAX_URL_LEN} characters"
        )));
    }
    let url =
        url::Url::parse(text).map_err(|e| SendError::NotAllowed(format!("not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(SendError::NotAllowed(
            "only https:// URLs are allowed".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(SendError::NotAllowed("the URL has no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(SendError::NotAllowed(
            "the URL may not carry a user name or password".into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(SendError::NotAllowed(
            "the URL may not have a #fragment".into(),
        ));
    }
    Ok(url)
}

/// Whether an address is on the public Internet (not loopback, private, link-local, shared,
/// documentation, multicast or unspecified).
pub fn is_public(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

/// Posts signed payloads to endpoints.
#[derive(Clone)]
pub struct WebhookSender {
    tls: Arc<rustls::ClientConfig>,
    allow_private: bool,
    timeout: Duration,
}

impl WebhookSender {
    /// A sender trusting the public web roots and `extra_ca_pem`; `allow_private` lets it post
    /// to loopback and private addresses (a relay inside a closed network, tests).
    pub fn new(
        extra_ca_pem: Option<&[u8]>,
        allow_private: bool,
    ) -> Result<WebhookSender, SendError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in crate::extra_roots(extra_ca_pem)? {
            roots
                .add(root)
                .map_err(|e| SendError::Setting(format!("a CA certificate is not usable: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| SendError::Setting(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(WebhookSender {
            tls: Arc::new(tls),
            allow_private,
            timeout: Duration::from_secs(15),
        })
    }

    /// One attempt: resolves and checks the host, posts `body` signed with `secret` under
    /// message id `id`, and returns the HTTP status of a 2xx answer.
    pub async fn send(
        &self,
        url: &str,
        secret: &Secret,
        id: &str,
        now: OffsetDateTime,
        body: &[u8],
    ) -> Result<u16, SendError> {
        let url = check_url(url)?;
        let host = url
            .host_str()
            .ok_or_else(|| SendError::NotAllowed("the URL has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addr = self.resolve(&host, port).await?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*self.tls).clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(self.timeout)
            .resolve(&host, addr)
            .user_agent(concat!("kenshin-relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SendError::Setting(e.to_string()))?;
        let timestamp = now.unix_timestamp();
        let answer = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign(secret, id, timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| SendError::Unreachable(crate::error_chain(&e)))?;
        let status = answer.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(SendError::Refused(format!("HTTP {}", status.as_u16())))
        }
    }

    async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr, SendError> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| SendError::Unreachable(format!("cannot resolve {host}: {e}")))?
            .collect();
        let first = *addrs
            .first()
            .ok_or_else(|| SendError::Unreachable(format!("{host} has no address")))?;
        if !self.allow_private {
            if let Some(private) = addrs.iter().find(|a| !is_public(a.ip())) {
                return Err(SendError::NotAllowed(format!(
                    "{host} resolves to {}, which is not a public address",
                    private.ip()
                )));
            }
        }
        Ok(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification's reference libraries.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_specification_example() {
        let secret = Secret::parse(SPEC_SECRET).unwrap();
        assert_eq!(sign(&secret, SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
        assert!(verify(&secret, SPEC_ID, SPEC_TS, SPEC_BODY, SPEC_SIG));
        assert!(verify(
            &secret,
            SPEC_ID,
            SPEC_TS,
            SPEC_BODY,
            &format!("v1,bm9wZQ== {SPEC_SIG}")
        ));
        assert!(!verify(&secret, SPEC_ID, SPEC_TS + 1, SPEC_BODY, SPEC_SIG));
        assert!(!verify(&secret, SPEC_ID, SPEC_TS, b"{}", SPEC_SIG));
    }

    #[test]
    fn secrets_round_trip_and_hide() {
        let secret = Secret::generate();
        let text = secret.expose_text();
        assert!(text.starts_with(SECRET_PREFIX));
        assert_eq!(
            Secret::parse(&text).unwrap().expose_bytes(),
            secret.expose_bytes()
        );
        assert_eq!(format!("{secret:?}"), "Secret(…)");
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Secret::parse("whsec_AAAA").is_err());
    }

    #[test]
    fn only_plain_https_urls_pass() {
        assert!(check_url("https://hooks.example.jp/kenshin").is_ok());
        for bad in [
            "http://hooks.example.jp/",
            "ftp://hooks.example.jp/",
            "https://user:pw@hooks.example.jp/",
            "https://",
            "https://hooks.example.jp/#x",
            "not a url",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert!(check_url(&format!("https://a.jp/{}", "x".repeat(MAX_URL_LEN))).is_err());
    }

    #[test]
    fn private_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "133.242.0.1", "2001:4860:4860::8888"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn private_hosts_are_refused_before_any_connection() {
        let sender = WebhookSender::new(None, false).unwrap();
        let err = sender
            .send(
                "https://127.0.0.1:9/hook",
                &Secret::generate(),
                "msg_1",
                OffsetDateTime::now_utc(),
                b"{}",
            )
            .await
            .unwrap_err();
        assert!(matches!(err, SendError::NotAllowed(_)), "{err}");
        assert!(!err.is_transient());
    }
}
